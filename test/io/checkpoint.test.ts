import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tr from "../../src/index.js";
import * as io from "../../src/io/index.js";
import { BACKENDS, withBackend, values } from "../helpers.js";

for (const backend of BACKENDS) {
  describe(`checkpoints [${backend}]`, () => {
    test("model, optimizer tree, epoch and extra round-trip through one safetensors file", () =>
      withBackend(backend, async () => {
        const dir = await mkdtemp(join(tmpdir(), "trident-ckpt-"));
        try {
          const model = { "fc.weight": tr.tensor([[1, 2], [3, 4]]), "fc.bias": tr.tensor([0.5, -0.5]), "bn.num_batches": tr.tensor(7, "int32") };
          const optimizer = {
            state: { 0: { step: 3, exp_avg: tr.tensor([[0.1, 0.2], [0.3, 0.4]]), exp_avg_sq: tr.tensor([[1, 1], [1, 1]], "float64") }, 1: { step: 3, exp_avg: tr.tensor([9, 8]) } },
            param_groups: [{ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: false, params: [0, 1], name: null }],
          };
          const extra = { best: NaN, worst: -Infinity, note: "warm restart", history: [1.5, 2.5], rng: tr.tensor([1, 2, 3, 4], "uint32") };
          const path = join(dir, "ckpt.safetensors");
          await io.saveCheckpoint(path, { model, optimizer, epoch: 12, extra });

          // the file is plain safetensors: tensors under their sections, structure in the metadata
          const raw = await io.load(path);
          assert.deepEqual(Object.keys(raw.tensors).sort(), [
            "extra.rng", "model.bn.num_batches", "model.fc.bias", "model.fc.weight",
            "optimizer.state.0.exp_avg", "optimizer.state.0.exp_avg_sq", "optimizer.state.1.exp_avg",
          ]);
          assert.equal(raw.metadata["format"], "trident.checkpoint");
          assert.equal(raw.metadata["epoch"], "12");

          const ck = await io.loadCheckpoint(path);
          assert.equal(ck.epoch, 12);
          assert.deepEqual(Object.keys(ck.model).sort(), Object.keys(model).sort());
          for (const [k, t] of Object.entries(model)) {
            assert.equal(ck.model[k]!.dtype, t.dtype);
            assert.deepEqual(ck.model[k]!.arraySync(), t.arraySync());
          }
          const opt = ck.optimizer as typeof optimizer;
          assert.deepEqual(opt.param_groups, optimizer.param_groups);
          assert.equal(opt.state[0].step, 3);
          assert.deepEqual(values(opt.state[0].exp_avg), values(optimizer.state[0].exp_avg));
          assert.equal(opt.state[0].exp_avg_sq.dtype, "float64");
          assert.deepEqual(values(opt.state[1].exp_avg), [9, 8]);
          const ex = ck.extra as typeof extra;
          assert.ok(Number.isNaN(ex.best));
          assert.equal(ex.worst, -Infinity);
          assert.equal(ex.note, "warm restart");
          assert.deepEqual(ex.history, [1.5, 2.5]);
          assert.equal(ex.rng.dtype, "uint32");
          assert.deepEqual(values(ex.rng), [1, 2, 3, 4]);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }));

    test("bytes API, colliding tree paths, and a model-only checkpoint", () =>
      withBackend(backend, async () => {
        const a = tr.tensor([1]), b = tr.tensor([2]);
        // "a.b" and a: {b} flatten to the same path; both must survive
        const bytes = io.serializeCheckpoint({ model: {}, optimizer: { "a.b": a, a: { b } } });
        assert.deepEqual([...(await io.serializeCheckpointAsync({ model: {}, optimizer: { "a.b": a, a: { b } } }))], [...bytes]);
        const ck = io.deserializeCheckpoint(bytes);
        const o = ck.optimizer as { "a.b": tr.Tensor; a: { b: tr.Tensor } };
        assert.deepEqual(values(o["a.b"]), [1]);
        assert.deepEqual(values(o.a.b), [2]);
        assert.equal(ck.epoch, undefined);
        const only = io.deserializeCheckpoint(io.serializeCheckpoint({ model: { w: a } }));
        assert.deepEqual(Object.keys(only), ["model"]);
        assert.deepEqual(values(only.model["w"]!), [1]);
      }));

    test("bad checkpoints and bad inputs raise TridentError", () =>
      withBackend(backend, () => {
        const isErr = (re: RegExp) => (e: unknown) => e instanceof tr.TridentError && re.test(e.message);
        const w = tr.tensor([1]);
        assert.throws(() => io.deserializeCheckpoint(io.serialize({ w })), isErr(/not a Trident checkpoint/));
        const meta = { format: "trident.checkpoint", format_version: "1" };
        assert.throws(() => io.deserializeCheckpoint(io.serialize({ w }, meta)), isErr(/tensor "w" belongs to no section/));
        assert.throws(() => io.deserializeCheckpoint(io.serialize({}, { ...meta, format_version: "9" })), isErr(/format_version "9" is not supported/));
        assert.throws(() => io.deserializeCheckpoint(io.serialize({}, { ...meta, optimizer: "{" })), isErr(/metadata "optimizer" is not valid JSON/));
        assert.throws(() => io.deserializeCheckpoint(io.serialize({}, { ...meta, optimizer: '{"tree":{"kind":"tree"},"leaves":[]}' })), isErr(/must be \{tree, leaves\}/));
        assert.throws(() => io.deserializeCheckpoint(io.serialize({}, { ...meta, optimizer: '{"tree":{"kind":"leaf"},"leaves":[["t","nope"]]}' })), isErr(/refers to tensor "nope"/));
        assert.throws(() => io.deserializeCheckpoint(io.serialize({}, { ...meta, optimizer: '{"tree":{"kind":"leaf"},"leaves":[]}' })), isErr(/tree structure and its 0 leaves do not match/));
        assert.throws(() => io.deserializeCheckpoint(io.serialize({}, { ...meta, optimizer: '{"tree":{"kind":"leaf"},"leaves":[["x",1]]}' })), isErr(/leaf 0 is malformed/));
        assert.throws(() => io.deserializeCheckpoint(io.serialize({}, { ...meta, epoch: "soon" })), isErr(/"epoch" must be a number/));
        assert.throws(() => io.serializeCheckpoint({ model: { w: 3 as unknown as tr.Tensor } }), isErr(/model\["w"\] must be a Tensor/));
        assert.throws(() => io.serializeCheckpoint({ model: {}, optimizer: { when: new Date() } }), isErr(/optimizer\.when is a Date/));
        assert.throws(() => io.serializeCheckpoint({ model: {}, epoch: NaN }), isErr(/epoch must be a finite number/));
      }));

    test("saveModel / loadModel go through stateDict / loadStateDict", () =>
      withBackend(backend, async () => {
        const dir = await mkdtemp(join(tmpdir(), "trident-model-"));
        try {
          const src = { stateDict: () => ({ w: tr.tensor([[1, 2]]), b: tr.tensor([3]) }) };
          const path = join(dir, "m.safetensors");
          await io.saveModel(path, src, { framework: "trident" });
          const got: Record<string, number[]> = {};
          const r = await io.loadModel(path, {
            loadStateDict(sd: Record<string, tr.Tensor>, opts?: { strict?: boolean }) {
              for (const [k, t] of Object.entries(sd)) got[k] = values(t);
              return { strict: opts?.strict };
            },
          }, { strict: false });
          assert.deepEqual(r, { strict: false });
          assert.deepEqual(got, { w: [1, 2], b: [3] });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }));
  });
}
