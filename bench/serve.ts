/**
 * `npm run bench:serve`: `trident serve` under load over loopback (autocannon), against onnxruntime-node
 * behind node:http serving the same ONNX files in the same run. The MNIST MLP and CNN, one digit per
 * request, at concurrency 1, 8 and 64, with and without dynamic batching, JSON and binary bodies.
 *
 *   npm run bench:serve -- [--quick] [--duration S] [--soak S]
 *
 * --soak S adds a soak of S seconds on the batched MLP at concurrency 64 and reports the server's RSS
 * at the start and the end (the issue asks for 10 minutes: --soak 600).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import * as tr from "../src/index.js";
import { onnx } from "../src/index.js";
import { mnistModel } from "../src/nn/models/mnist.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const argv = process.argv.slice(2);
const flag = (n: string, d: number) => (argv.includes(`--${n}`) ? Number(argv[argv.indexOf(`--${n}`) + 1]) : d);
const quick = argv.includes("--quick");
const duration = flag("duration", quick ? 2 : 6);
const soak = flag("soak", 0);

function buildRepos(): { trident: string; peer: string } {
  const dir = mkdtempSync(join(tmpdir(), "trident-bench-serve-"));
  const trident = join(dir, "trident"), peer = join(dir, "peer");
  for (const kind of ["mlp", "cnn"] as const) {
    tr.manualSeed(0);
    const m = mnistModel(kind).eval();
    const file = join(dir, `${kind}.onnx`);
    onnx.exportModule(m, [tr.zeros([1, 1, 28, 28])], file, { inputNames: ["input"], outputNames: ["logits"], dynamicAxes: { input: { 0: "batch" } } });
    const batching = { maxQueueDelayMicroseconds: 2000, preferredBatchSize: [16, 32, 64] };
    for (const [name, cfg] of [[kind, { maxBatchSize: 64, instanceCount: 2 }], [`${kind}-batched`, { maxBatchSize: 64, instanceCount: 2, dynamicBatching: batching }]] as const) {
      mkdirSync(join(trident, name, "1"), { recursive: true });
      writeFileSync(join(trident, name, "config.json"), JSON.stringify(cfg));
      copyFileSync(file, join(trident, name, "1", "model.onnx"));
    }
    mkdirSync(join(peer, kind, "1"), { recursive: true });
    copyFileSync(file, join(peer, kind, "1", "model.onnx"));
  }
  return { trident, peer };
}


function start(cmd: string[], ready: RegExp): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cmd, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => reject(new Error(`${cmd.join(" ")} exited with ${code}:\n${out}`)));
  });
}

const image = Float32Array.from({ length: 784 }, (_, i) => ((i * 7919) % 255) / 255);
function bodies(): { json: { body: string; headers: Record<string, string> }; binary: { body: Buffer; headers: Record<string, string> } } {
  const json = JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 1, 28, 28], data: Array.from(image) }] });
  const head = Buffer.from(JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 1, 28, 28], parameters: { binary_data_size: image.byteLength } }], parameters: { binary_data_output: true } }));
  return {
    json: { body: json, headers: { "content-type": "application/json" } },
    binary: { body: Buffer.concat([head, Buffer.from(image.buffer)]), headers: { "content-type": "application/octet-stream", "inference-header-content-length": String(head.length) } },
  };
}

interface Row { server: string; model: string; format: string; c: number; rps: number; p50: number; p99: number; errors: number }

async function load(server: string, port: number, model: string, format: "json" | "binary", c: number, seconds: number): Promise<Row> {
  const b = bodies()[format];
  const r = await autocannon({ url: `http://127.0.0.1:${port}/v2/models/${model}/infer`, method: "POST", body: b.body, headers: b.headers, connections: c, duration: seconds });
  return { server, model, format, c, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts };
}

async function rss(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

const { trident, peer } = buildRepos();
const rows: Row[] = [];
const t = await start(["bin/trident.js", "serve", "--model-repository", trident, "--port", "0"], /http:\/\/[\d.]+:(\d+)/);
const o = await start(["--import", "tsx", "bench/peers/ort-serve.ts", peer, "0"], /listening (\d+)/);
try {
  console.log(`serving benchmark on ${cpus()[0]?.model} (${cpus().length} cores), ${duration} s per row`);
  for (const kind of ["mlp", "cnn"]) {
    for (const format of ["json", "binary"] as const) {
      for (const c of [1, 8, 64]) {
        for (const model of [kind, `${kind}-batched`]) rows.push(await load("trident", t.port, model, format, c, duration));
        rows.push(await load("ort-node", o.port, kind, format, c, duration));
      }
    }
  }
  console.log("\n| server | model | body | conc. | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.server} | ${r.model} | ${r.format} | ${r.c} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} |`);
  const get = (s: string, m: string, f: string, c: number) => rows.find((r) => r.server === s && r.model === m && r.format === f && r.c === c)!;
  console.log("\nratios at concurrency 64:");
  for (const kind of ["mlp", "cnn"]) {
    for (const f of ["json", "binary"]) {
      const b = get("trident", `${kind}-batched`, f, 64), u = get("trident", kind, f, 64), p = get("ort-node", kind, f, 64);
      console.log(`  ${kind} ${f}: batched/unbatched ${(b.rps / u.rps).toFixed(2)}x, trident batched / ort-node ${(b.rps / p.rps).toFixed(2)}x`);
    }
  }
  if (soak > 0) {
    const before = await rss(t.child.pid!);
    const r = await load("trident", t.port, "mlp-batched", "binary", 64, soak);
    const after = await rss(t.child.pid!);
    console.log(`\nsoak ${soak} s, mlp-batched binary, concurrency 64: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms, ${r.errors} errors; server RSS ${before.toFixed(0)} → ${after.toFixed(0)} MB`);
  }
} finally {
  t.child.kill("SIGTERM");
  o.child.kill("SIGTERM");
  rmSync(join(trident, ".."), { recursive: true, force: true });
}
