/**
 * The serving peer of `npm run bench:serve`: onnxruntime-node behind `node:http`, answering the OIP v2
 * infer endpoint (JSON, and the binary tensor extension for FP32 inputs) for every `<repo>/<m>/1/model.onnx`.
 * It does no batching and runs on the main thread, as a user would write it in a few lines:
 *   node --import tsx bench/peers/ort-serve.ts <repo> <port>   (prints "listening PORT")
 */
import { createServer } from "node:http";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";

const [repo, portArg] = process.argv.slice(2);
const sessions = new Map<string, ort.InferenceSession>();
for (const m of readdirSync(repo!)) {
  sessions.set(m, await ort.InferenceSession.create(join(repo!, m, "1", "model.onnx"), { intraOpNumThreads: availableParallelism(), graphOptimizationLevel: "all" }));
}

interface JsonInput { name: string; datatype: string; shape: number[]; data?: number[]; parameters?: { binary_data_size?: number } }

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    try {
      const m = /^\/v2\/models\/([^/]+)\/infer$/.exec(req.url ?? "")?.[1];
      const s = m ? sessions.get(m) : undefined;
      if (!s) throw new Error("unknown model");
      const body = Buffer.concat(chunks);
      const hlen = Number(req.headers["inference-header-content-length"] ?? body.length);
      const head = JSON.parse(body.subarray(0, hlen).toString("utf8")) as { inputs: JsonInput[]; parameters?: { binary_data_output?: boolean } };
      let off = hlen;
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of head.inputs) {
        const n = i.parameters?.binary_data_size;
        const data = n !== undefined ? new Float32Array(body.buffer.slice(body.byteOffset + off, body.byteOffset + off + n)) : Float32Array.from(i.data!);
        off += n ?? 0;
        feeds[i.name] = new ort.Tensor("float32", data, i.shape);
      }
      const out = await s.run(feeds);
      const binary = head.parameters?.binary_data_output === true;
      const outputs = Object.entries(out).map(([name, t]) => ({ name, datatype: "FP32", shape: t.dims, ...(binary ? { parameters: { binary_data_size: (t.data as Float32Array).byteLength } } : { data: Array.from(t.data as Float32Array) }) }));
      const json = Buffer.from(JSON.stringify({ model_name: m, model_version: "1", outputs }));
      if (!binary) {
        res.writeHead(200, { "content-type": "application/json" }).end(json);
        return;
      }
      const bins = Object.values(out).map((t) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength));
      res.writeHead(200, { "content-type": "application/octet-stream", "inference-header-content-length": String(json.length) }).end(Buffer.concat([json, ...bins]));
    } catch (e) {
      res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: (e as Error).message }));
    }
  });
});
server.listen(Number(portArg ?? 0), "127.0.0.1", () => {
  const a = server.address();
  console.log(`listening ${typeof a === "object" && a ? a.port : portArg}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
