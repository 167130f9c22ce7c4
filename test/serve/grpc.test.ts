// The OIP gRPC front end through a real @grpc/grpc-js client built from the same proto: every RPC, typed and
// raw tensor contents against running the models directly (an ONNX MLP, a two-output ONNX model, the MNIST
// CNN checkpoint), the raw-vs-typed output rule, status codes of malformed requests, message limits, and
// 200 concurrent calls.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as tr from "../../src/index.js";
import { nn, onnx, io } from "../../src/index.js";
import { ModelRepository, InferenceCore, inProcess, startGrpcServer, OIP_PROTO_PATH, wantsRawOutputs, type GrpcServer, type Executor } from "../../src/serve/index.js";
import { fromContents, toContents, toInferRequest } from "../../src/serve/grpc.js";
import { mnistModel } from "../../src/nn/models/mnist.js";
import { assertClose } from "../helpers.js";

const root = mkdtempSync(join(tmpdir(), "trident-grpc-"));
let mlp: nn.Sequential;
let cnn: nn.Sequential;
let repo: ModelRepository;
let core: InferenceCore;
let server: GrpcServer;
let small: GrpcServer;
const clients: grpc.Client[] = [];

type AnyMsg = Record<string, any>;
type Call = (method: string, req: AnyMsg) => Promise<AnyMsg>;

// the client loads the proto on its own, as any OIP client would
const Service = (grpc.loadPackageDefinition(protoLoader.loadSync(OIP_PROTO_PATH, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true })).inference as grpc.GrpcObject)
  .GRPCInferenceService as grpc.ServiceClientConstructor;

function connect(port: number): Call {
  const c = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": 128 * 1024 * 1024 });
  clients.push(c);
  return (method, req) =>
    new Promise((resolve, reject) => {
      (c as any)[method](req, { deadline: Date.now() + 15_000 }, (err: grpc.ServiceError | null, res: AnyMsg) => (err ? reject(err) : resolve(res)));
    });
}
let call: Call;

const f32 = (t: tr.Tensor) => Array.from(t.dataSync() as Float32Array);
const rawOf = (t: tr.Tensor) => {
  const d = t.dataSync() as Float32Array;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
};
const floats = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const typedInput = (name: string, x: tr.Tensor) => ({ name, datatype: "FP32", shape: [...x.shape], contents: { fp32_contents: f32(x) } });
const rawInput = (name: string, x: tr.Tensor) => ({ name, datatype: "FP32", shape: [...x.shape] });
const boolParam = (v: boolean) => ({ bool_param: v });

async function rejectsWith(p: Promise<unknown>, code: grpc.status, re: RegExp) {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `code ${grpc.status[e.code]} (${e.details}), expected ${grpc.status[code]}`);
    assert.match(e.details, re);
    return true;
  });
}

before(async () => {
  tr.manualSeed(3);
  mlp = new nn.Sequential(new nn.Linear(4, 8), new nn.Tanh(), new nn.Linear(8, 3));
  mkdirSync(join(root, "mlp", "1"), { recursive: true });
  onnx.exportModule(mlp, [tr.zeros([1, 4])], join(root, "mlp", "1", "model.onnx"), { inputNames: ["x"], outputNames: ["y"], dynamicAxes: { x: { 0: "batch" } } });
  // two outputs: the logits and their tanh
  mkdirSync(join(root, "heads", "2"), { recursive: true });
  onnx.exportFunction((x: tr.Tensor) => {
    const y = mlp.forward(x) as tr.Tensor;
    return [y, tr.tanh(y)];
  }, [tr.zeros([1, 4])], join(root, "heads", "2", "model.onnx"), { params: mlp.stateDict(), inputNames: ["x"], outputNames: ["logits", "squashed"], dynamicAxes: { x: { 0: "batch" } } });
  tr.manualSeed(5);
  cnn = mnistModel("cnn");
  mkdirSync(join(root, "digits", "3"), { recursive: true });
  await io.saveModel(join(root, "digits", "3", "model.safetensors"), cnn);
  writeFileSync(join(root, "digits", "config.json"), JSON.stringify({ model: "mnist-cnn", maxBatchSize: 8 }));
  repo = new ModelRepository(root);
  await repo.start();
  core = new InferenceCore(repo);
  server = await startGrpcServer({ core, port: 0 });
  small = await startGrpcServer({ core, port: 0, maxMessageBytes: 4096 });
  call = connect(server.port);
});

after(async () => {
  for (const c of clients) c.close();
  await server?.close();
  await small?.close();
  await repo?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("OIP gRPC front end", () => {
  test("health and metadata RPCs", async () => {
    assert.equal(server.port > 0, true);
    assert.deepEqual(await call("ServerLive", {}), { live: true });
    assert.deepEqual(await call("ServerReady", {}), { ready: true });
    assert.deepEqual(await call("ModelReady", { name: "mlp" }), { ready: true });
    assert.deepEqual(await call("ModelReady", { name: "digits", version: "3" }), { ready: true });
    assert.deepEqual(await call("ModelReady", { name: "digits", version: "4" }), { ready: false });
    const sm = await call("ServerMetadata", {});
    assert.equal(sm.name, "trident");
    assert.equal(sm.version, "0.1.0");
    assert.ok(sm.extensions.includes("binary_tensor_data"));
    const mm = await call("ModelMetadata", { name: "mlp" });
    assert.deepEqual(
      { ...mm, inputs: mm.inputs.map((t: AnyMsg) => ({ ...t })), outputs: mm.outputs.map((t: AnyMsg) => ({ ...t })) },
      { name: "mlp", versions: ["1"], platform: "onnxruntime_onnx", inputs: [{ name: "x", datatype: "FP32", shape: ["-1", "4"] }], outputs: [{ name: "y", datatype: "FP32", shape: ["-1", "3"] }], properties: {} },
    );
    const dm = await call("ModelMetadata", { name: "digits", version: "3" });
    assert.equal(dm.platform, "trident");
    assert.deepEqual(dm.inputs[0].shape, ["-1", "1", "28", "28"]);
    await rejectsWith(call("ModelReady", { name: "nope" }), grpc.status.NOT_FOUND, /unknown model "nope"/);
    await rejectsWith(call("ModelMetadata", { name: "nope" }), grpc.status.NOT_FOUND, /unknown model "nope"/);
    await rejectsWith(call("ModelMetadata", { name: "mlp", version: "9" }), grpc.status.NOT_FOUND, /unknown version "9" of model "mlp"/);
    await rejectsWith(call("ModelMetadata", {}), grpc.status.INVALID_ARGUMENT, /name is required/);
  });

  test("ModelInfer on the ONNX MLP: typed and raw inputs give the model's own outputs, raw outputs by default", async () => {
    const x = tr.randn([5, 4]);
    const want = tr.noGrad(() => mlp.forward(x)).dataSync();
    const typed = await call("ModelInfer", { model_name: "mlp", id: "req-7", inputs: [typedInput("x", x)] });
    assert.equal(typed.model_name, "mlp");
    assert.equal(typed.model_version, "1");
    assert.equal(typed.id, "req-7");
    assert.equal(typed.outputs.length, 1);
    assert.equal(typed.outputs[0].name, "y");
    assert.equal(typed.outputs[0].datatype, "FP32");
    assert.deepEqual(typed.outputs[0].shape, ["5", "3"]);
    assert.equal(typed.outputs[0].contents, null, "raw outputs carry no typed contents");
    assert.equal(typed.raw_output_contents.length, 1);
    assertClose(floats(typed.raw_output_contents[0]), want, { rtol: 1e-5, atol: 1e-6 });
    const raw = await call("ModelInfer", { model_name: "mlp", model_version: "1", inputs: [rawInput("x", x)], raw_input_contents: [rawOf(x)] });
    assert.equal(raw.id, "");
    assert.deepEqual(Array.from(floats(raw.raw_output_contents[0])), Array.from(floats(typed.raw_output_contents[0])), "raw and typed inputs give the same outputs");
    // typed outputs when asked: request-level binary_data_output false
    const t2 = await call("ModelInfer", { model_name: "mlp", parameters: { binary_data_output: boolParam(false) }, inputs: [rawInput("x", x)], raw_input_contents: [rawOf(x)] });
    assert.deepEqual(t2.raw_output_contents, []);
    assertClose(t2.outputs[0].contents.fp32_contents, want, { rtol: 1e-5, atol: 1e-6 });
  });

  test("ModelInfer on the MNIST CNN checkpoint, typed and raw", async () => {
    const img = tr.rand([2, 1, 28, 28]);
    const want = tr.noGrad(() => cnn.eval().forward(img)).dataSync();
    const typed = await call("ModelInfer", { model_name: "digits", inputs: [typedInput("input", img)], outputs: [{ name: "logits", parameters: { binary_data: boolParam(false) } }] });
    assert.deepEqual(typed.outputs[0].shape, ["2", "10"]);
    assertClose(typed.outputs[0].contents.fp32_contents, want, { rtol: 1e-5, atol: 1e-5 });
    const raw = await call("ModelInfer", { model_name: "digits", model_version: "3", inputs: [rawInput("input", img)], raw_input_contents: [rawOf(img)] });
    assertClose(floats(raw.raw_output_contents[0]), want, { rtol: 1e-5, atol: 1e-5 });
    await rejectsWith(call("ModelInfer", { model_name: "digits", inputs: [rawInput("input", tr.zeros([9, 1, 28, 28]))], raw_input_contents: [rawOf(tr.zeros([9, 1, 28, 28]))] }), grpc.status.INVALID_ARGUMENT, /batch 9 exceeds the model's maxBatchSize 8/);
  });

  test("requested outputs: a subset, in the requested order, raw or typed per the request", async () => {
    const x = tr.randn([3, 4]);
    const y = tr.noGrad(() => mlp.forward(x) as tr.Tensor);
    const both = await call("ModelInfer", { model_name: "heads", inputs: [typedInput("x", x)] });
    assert.deepEqual(both.outputs.map((o: AnyMsg) => o.name), ["logits", "squashed"]);
    assertClose(floats(both.raw_output_contents[1]), tr.tanh(y).dataSync(), { rtol: 1e-5, atol: 1e-6 });
    const one = await call("ModelInfer", { model_name: "heads", inputs: [typedInput("x", x)], outputs: [{ name: "squashed" }] });
    assert.deepEqual(one.outputs.map((o: AnyMsg) => o.name), ["squashed"]);
    assert.equal(one.raw_output_contents.length, 1);
    assertClose(floats(one.raw_output_contents[0]), tr.tanh(y).dataSync(), { rtol: 1e-5, atol: 1e-6 });
    const rev = await call("ModelInfer", {
      model_name: "heads", parameters: { binary_data_output: boolParam(false) }, inputs: [typedInput("x", x)], outputs: [{ name: "squashed" }, { name: "logits" }],
    });
    assert.deepEqual(rev.outputs.map((o: AnyMsg) => o.name), ["squashed", "logits"]);
    assertClose(rev.outputs[1].contents.fp32_contents, y.dataSync(), { rtol: 1e-5, atol: 1e-6 });
    // a per-output binary_data overrides the request's; raw and typed cannot mix in one response
    const over = await call("ModelInfer", {
      model_name: "heads", parameters: { binary_data_output: boolParam(false) }, inputs: [typedInput("x", x)], outputs: [{ name: "logits", parameters: { binary_data: boolParam(true) } }],
    });
    assert.equal(over.raw_output_contents.length, 1);
    await rejectsWith(
      call("ModelInfer", { model_name: "heads", inputs: [typedInput("x", x)], outputs: [{ name: "logits", parameters: { binary_data: boolParam(false) } }, { name: "squashed" }] }),
      grpc.status.INVALID_ARGUMENT, /mix binary_data true and false/,
    );
    await rejectsWith(call("ModelInfer", { model_name: "heads", inputs: [typedInput("x", x)], outputs: [{ name: "nope" }] }), grpc.status.INVALID_ARGUMENT, /unknown output "nope"/);
    await rejectsWith(call("ModelInfer", { model_name: "heads", parameters: { binary_data_output: { string_param: "no" } }, inputs: [typedInput("x", x)] }), grpc.status.INVALID_ARGUMENT, /"binary_data_output" must be a bool_param/);
  });

  test("malformed requests get status codes, and the server keeps serving", async () => {
    const x = tr.randn([2, 4]);
    const I = grpc.status.INVALID_ARGUMENT;
    await rejectsWith(call("ModelInfer", { model_name: "nope", inputs: [typedInput("x", x)] }), grpc.status.NOT_FOUND, /unknown model "nope"/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", model_version: "2", inputs: [typedInput("x", x)] }), grpc.status.NOT_FOUND, /unknown version "2" of model "mlp"/);
    await rejectsWith(call("ModelInfer", { inputs: [typedInput("x", x)] }), I, /model_name is required/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [typedInput("x", tr.zeros([2, 5]))] }), I, /input "x": expected shape \[-1,4\] \(-1: any size\), got \[2,5\]/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [{ ...typedInput("x", x), shape: [2, 3] }] }), I, /contents.fp32_contents has 8 elements but shape \[2,3\] needs 6/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [rawInput("x", x)], raw_input_contents: [rawOf(x).subarray(0, 20)] }), I, /binary data has 20 bytes but shape \[2,4\] of FP32 needs 32/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [rawInput("x", x), rawInput("z", x)], raw_input_contents: [rawOf(x)] }), I, /raw_input_contents has 1 entries but the request has 2 inputs/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [typedInput("x", x)], raw_input_contents: [rawOf(x)] }), I, /contents must not be given when raw_input_contents is used/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [{ ...typedInput("x", x), datatype: "FLOAT32" }] }), I, /unknown datatype "FLOAT32"/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [{ name: "x", datatype: "FP64", shape: [2, 4], contents: { fp64_contents: f32(x) } }] }), I, /expected datatype FP32, got FP64/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [{ name: "x", datatype: "FP32", shape: [2, 4], contents: { fp64_contents: f32(x) } }] }), I, /FP32 data goes in contents.fp32_contents, got contents.fp64_contents/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [{ name: "x", datatype: "FP16", shape: [2, 4], contents: {} }] }), I, /FP16 data must be sent in raw_input_contents/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [{ name: "x", datatype: "FP32", shape: [-2, 4], contents: { fp32_contents: f32(x) } }] }), I, /shape \[-2,4\] must hold non-negative integers/);
    await rejectsWith(call("ModelInfer", { model_name: "mlp", inputs: [] }), I, /missing input "x"/);
    // too large for a server with a 4 KiB limit
    const big = tr.randn([512, 4]);
    await rejectsWith(connect(small.port)("ModelInfer", { model_name: "mlp", inputs: [rawInput("x", big)], raw_input_contents: [rawOf(big)] }), grpc.status.RESOURCE_EXHAUSTED, /./);
    assert.deepEqual(await call("ServerLive", {}), { live: true });
    const ok = await connect(small.port)("ModelInfer", { model_name: "mlp", inputs: [rawInput("x", x)], raw_input_contents: [rawOf(x)] });
    assert.equal(ok.raw_output_contents[0].byteLength, 2 * 3 * 4);
  });

  test("typed contents of every datatype decode to host data; outputs encode back", () => {
    const req = toInferRequest({
      model_name: "m", model_version: "", id: "", parameters: { n: { parameter_choice: "int64_param", int64_param: "9007199254740993" }, s: { parameter_choice: "string_param", string_param: "a" } },
      outputs: [], raw_input_contents: [],
      inputs: [
        { name: "b", datatype: "BOOL", shape: ["2"], parameters: {}, contents: { bool_contents: [true, false] } },
        { name: "i8", datatype: "INT8", shape: ["2"], parameters: {}, contents: { int_contents: [-128, 127] } },
        { name: "i64", datatype: "INT64", shape: ["1", "2"], parameters: {}, contents: { int64_contents: ["-9223372036854775808", "5"] } },
        { name: "u16", datatype: "UINT16", shape: ["1"], parameters: {}, contents: { uint_contents: [65535] } },
        { name: "u64", datatype: "UINT64", shape: ["1"], parameters: {}, contents: { uint64_contents: ["18446744073709551615"] } },
        { name: "f64", datatype: "FP64", shape: ["1"], parameters: {}, contents: { fp64_contents: [0.1] } },
      ],
    });
    assert.deepEqual(req.parameters, { n: 9007199254740993n, s: "a" });
    assert.deepEqual(req.inputs.map((t) => [t.name, t.shape, t.data]), [
      ["b", [2], [true, false]], ["i8", [2], Int8Array.of(-128, 127)], ["i64", [1, 2], BigInt64Array.of(-9223372036854775808n, 5n)],
      ["u16", [1], Uint16Array.of(65535)], ["u64", [1], BigUint64Array.of(18446744073709551615n)], ["f64", [1], Float64Array.of(0.1)],
    ]);
    assert.throws(() => fromContents("input \"q\"", "INT8", [1], { int_contents: [200] }), /value 200 at element 0 is out of INT8's range/);
    assert.throws(() => fromContents("input \"q\"", "BYTES", [1], {}), /BYTES is not supported/);
    assert.deepEqual(toContents({ name: "o", datatype: "INT64", shape: [2], data: BigInt64Array.of(-1n, 2n) }), { int64_contents: ["-1", "2"] });
    assert.deepEqual(toContents({ name: "o", datatype: "BOOL", shape: [2], data: [true, false] }), { bool_contents: [true, false] });
    assert.equal(wantsRawOutputs({ parameters: {}, outputs: [] }), true);
  });

  test("200 concurrent calls all succeed with their own answers", async () => {
    const xs = Array.from({ length: 200 }, (_, i) => tr.full([1 + (i % 4), 4], i / 100));
    const t0 = performance.now();
    const res = await Promise.all(xs.map((x, i) => (i % 2 ? call("ModelInfer", { model_name: "mlp", id: `c${i}`, inputs: [rawInput("x", x)], raw_input_contents: [rawOf(x)] }) : call("ModelInfer", { model_name: "mlp", id: `c${i}`, inputs: [typedInput("x", x)] }))));
    const ms = performance.now() - t0;
    res.forEach((r, i) => {
      assert.equal(r.id, `c${i}`);
      assertClose(floats(r.raw_output_contents[0]), tr.noGrad(() => mlp.forward(xs[i]!)).dataSync(), { rtol: 1e-5, atol: 1e-6 });
    });
    assert.ok(ms < 20_000, `200 calls took ${ms} ms`);
  });

  test("drain lets a call in flight finish, then refuses new ones", async () => {
    // an executor that holds the call until the test has started draining
    let entered!: () => void;
    const started = new Promise<void>((r) => (entered = r));
    const slow: Executor = {
      async execute(m, inputs) {
        entered();
        await new Promise((r) => setTimeout(r, 150));
        return inProcess.execute(m, inputs);
      },
    };
    const s = await startGrpcServer({ core: new InferenceCore(repo, slow), port: 0 });
    const c = connect(s.port);
    const x = tr.randn([1, 4]);
    const inflight = c("ModelInfer", { model_name: "mlp", inputs: [typedInput("x", x)] });
    await started;
    const t0 = performance.now();
    await s.drain(5000);
    assert.ok(performance.now() - t0 < 4000, "drain returned once the call finished, before the grace period");
    assertClose(floats((await inflight).raw_output_contents[0]), tr.noGrad(() => mlp.forward(x)).dataSync(), { rtol: 1e-5, atol: 1e-6 });
    await assert.rejects(c("ServerLive", {}), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });
});
