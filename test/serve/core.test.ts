// The serving core on a real model repository in a temp dir: ONNX and Trident checkpoints, version
// policies, hot reload and unload with requests in flight, and signature checks.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tr from "../../src/index.js";
import { nn, onnx, io } from "../../src/index.js";
import { ModelRepository, InferenceCore, ServeError } from "../../src/serve/index.js";
import { mnistModel } from "../../src/nn/models/mnist.js";
import { assertClose } from "../helpers.js";

const root = mkdtempSync(join(tmpdir(), "trident-serve-"));
const mlp = () => {
  tr.manualSeed(3);
  return new nn.Sequential(new nn.Linear(4, 8), new nn.Tanh(), new nn.Linear(8, 3));
};
let model: nn.Sequential;
let cnn: nn.Sequential;

before(async () => {
  model = mlp();
  mkdirSync(join(root, "mlp", "1"), { recursive: true });
  onnx.exportModule(model, [tr.zeros([1, 4])], join(root, "mlp", "1", "model.onnx"), { inputNames: ["x"], outputNames: ["y"], dynamicAxes: { x: { 0: "batch" } } });
  tr.manualSeed(5);
  cnn = mnistModel("cnn");
  mkdirSync(join(root, "digits", "3"), { recursive: true });
  await io.saveModel(join(root, "digits", "3", "model.safetensors"), cnn);
  writeFileSync(join(root, "digits", "config.json"), JSON.stringify({ model: "mnist-cnn", maxBatchSize: 8 }));
  mkdirSync(join(root, "broken", "1"), { recursive: true });
  writeFileSync(join(root, "broken", "1", "model.onnx"), "not a protobuf");
});
after(() => rmSync(root, { recursive: true, force: true }));

const req = (x: tr.Tensor, name = "x") => ({ inputs: [{ name, datatype: "FP32" as const, shape: [...x.shape], data: x.dataSync() as Float32Array }] });

describe("serving core", () => {
  test("loads ONNX and checkpoint models, reports the broken one, and answers like the model itself", async () => {
    const errors: string[] = [];
    const repo = new ModelRepository(root, { onError: (m, v, e) => errors.push(`${m}/${v}: ${e.message}`) });
    await repo.start();
    const core = new InferenceCore(repo);
    try {
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, /^broken\/1: /);
      assert.deepEqual(repo.index().map((e) => [e.name, e.version, e.state]), [["broken", "1", "UNAVAILABLE"], ["digits", "3", "READY"], ["mlp", "1", "READY"]]);
      assert.equal(core.isReady(), false, "a model that failed to load keeps the server unready");
      const meta = core.modelMetadata("mlp");
      assert.deepEqual(meta.inputs, [{ name: "x", datatype: "FP32", shape: [-1, 4] }]);
      assert.deepEqual(meta.versions, ["1"]);
      const x = tr.randn([5, 4]);
      const res = await core.infer("mlp", undefined, { id: "r1", ...req(x) });
      assert.equal(res.id, "r1");
      assert.equal(res.modelVersion, "1");
      assert.deepEqual(res.outputs[0]!.shape, [5, 3]);
      assertClose(res.outputs[0]!.data as Float32Array, tr.noGrad(() => model.forward(x)).dataSync(), { rtol: 1e-5, atol: 1e-6 });
      const img = tr.rand([2, 1, 28, 28]);
      const r2 = await core.infer("digits", "3", req(img, "input"));
      assertClose(r2.outputs[0]!.data as Float32Array, tr.noGrad(() => cnn.eval().forward(img)).dataSync(), { rtol: 1e-5, atol: 1e-5 });
      const bad = async (p: Promise<unknown>, status: number, re: RegExp) => {
        await assert.rejects(p, (e: unknown) => e instanceof ServeError && e.status === status && re.test(e.message));
      };
      await bad(core.infer("nope", undefined, req(x)), 404, /unknown model "nope"/);
      await bad(core.infer("mlp", "7", req(x)), 404, /unknown version "7" of model "mlp"/);
      await bad(core.infer("mlp", undefined, req(tr.zeros([2, 5]))), 400, /input "x": expected shape \[-1,4\] \(-1: any size\), got \[2,5\]/);
      await bad(core.infer("mlp", undefined, { inputs: [{ name: "x", datatype: "FP64", shape: [1, 4], data: [1, 2, 3, 4] }] }), 400, /expected datatype FP32, got FP64/);
      await bad(core.infer("mlp", undefined, { inputs: [{ name: "x", datatype: "FP32", shape: [1, 4], data: [1, 2, 3] }] }), 400, /data has 3 elements but shape \[1,4\] needs 4/);
      await bad(core.infer("mlp", undefined, { inputs: [] }), 400, /missing input "x" \(FP32 \[-1,4\]\)/);
      await bad(core.infer("mlp", undefined, { inputs: [...req(x).inputs, ...req(x).inputs] }), 400, /input "x" is given twice/);
      await bad(core.infer("mlp", undefined, { ...req(x), outputs: [{ name: "z" }] }), 400, /unknown output "z"/);
      await bad(core.infer("digits", undefined, req(tr.zeros([9, 1, 28, 28]), "input")), 400, /batch 9 exceeds the model's maxBatchSize 8/);
      await bad(core.infer("broken", undefined, req(x)), 404, /model "broken" has no ready version/);
    } finally {
      await repo.stop();
    }
  });

  test("hot reload: a new version becomes the default, the old one finishes its requests, then unloads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trident-serve-hot-"));
    try {
      mkdirSync(join(dir, "m"));
      cpSync(join(root, "mlp", "1"), join(dir, "m", "1"), { recursive: true });
      const repo = new ModelRepository(dir, { pollIntervalMs: 0 });
      await repo.start();
      const core = new InferenceCore(repo);
      const lease = repo.acquire("m", "1"); // a request in flight on version 1
      cpSync(join(root, "mlp", "1"), join(dir, "m", "2"), { recursive: true });
      const scanned = repo.scan();
      // the new version loads while version 1 waits for its request; routing moves to 2 at once
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await core.infer("m", undefined, req(tr.ones([1, 4])))).modelVersion, "2");
      assert.deepEqual(repo.index().map((e) => [e.version, e.state]), [["2", "READY"], ["1", "UNLOADING"]]);
      lease.release();
      await scanned;
      assert.deepEqual(repo.index().map((e) => [e.version, e.state]), [["2", "READY"]]);
      // repository extension: unload and load back
      await repo.unload("m");
      assert.equal(core.isReady(), true, "an explicitly unloaded model does not make the server unready");
      assert.equal(core.modelReady("m"), false);
      await repo.load("m");
      assert.equal(core.modelReady("m", "2"), true);
      await repo.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a single ONNX file is served as model default, version 1; config errors name the file and field", async () => {
    const repo = new ModelRepository(join(root, "mlp", "1", "model.onnx"));
    await repo.start();
    assert.deepEqual(repo.index(), [{ name: "default", version: "1", state: "READY", reason: "" }]);
    await repo.stop();
    const dir = mkdtempSync(join(tmpdir(), "trident-serve-cfg-"));
    mkdirSync(join(dir, "m", "1"), { recursive: true });
    writeFileSync(join(dir, "m", "config.json"), JSON.stringify({ inputs: [{ name: "x", datatype: "FLOAT", shape: [1] }] }));
    const errs: string[] = [];
    const r2 = new ModelRepository(dir, { onError: (_m, _v, e) => errs.push(e.message) });
    await r2.start();
    assert.match(errs[0]!, /config\.json: inputs\[0\] must be \{ name: string, datatype: an OIP datatype/);
    await r2.stop();
    rmSync(dir, { recursive: true, force: true });
  });
});
