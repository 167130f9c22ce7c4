import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { Module, parameter } from "../../src/nn/module.js";
import { dropout } from "../../src/nn/functional.js";
import * as optim from "../../src/optim/index.js";
import { DataLoader } from "../../src/data/loader.js";
import { TensorDataset } from "../../src/data/dataset.js";
import { LambdaCallback, evaluate, fit, predict, type Logs } from "../../src/train/index.js";
import { BACKENDS, assertClose, values, withBackend } from "../helpers.js";

// ---- tiny models (independent of the nn layer library) ----
class Affine extends Module {
  w: tr.Tensor;
  b: tr.Tensor;
  /** Training flags seen by forward; under jit forward runs only while tracing, so this also counts traces. */
  seen: boolean[] = [];
  constructor(nIn: number, nOut: number) {
    super();
    this.w = parameter(tr.randn([nIn, nOut]).mul(0.1));
    this.b = parameter(tr.zeros([nOut]));
  }
  forward(x: tr.Tensor): tr.Tensor {
    this.seen.push(this.training);
    return x.matmul(this.w).add(this.b);
  }
}

/** A layer with a buffer updated in training (BatchNorm's pattern): centers by the batch mean, tracks a running mean. */
class RunningCenter extends Module {
  declare runningMean: tr.Tensor;
  constructor(d: number) {
    super();
    this.registerBuffer("runningMean", tr.zeros([d]));
  }
  forward(x: tr.Tensor): tr.Tensor {
    if (!this.training) return x.sub(this.runningMean);
    const m = x.mean({ axis: 0 });
    this.updateBuffers(() => ({ runningMean: this.runningMean.mul(0.9).add(tr.stopGradient(m).mul(0.1)) }));
    return x.sub(m);
  }
}

class Mlp extends Module {
  center = new RunningCenter(3);
  fc1 = new Affine(3, 8);
  fc2 = new Affine(8, 1);
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: tr.Tensor): tr.Tensor {
    const h = this.fc1.forward(this.center.forward(x)).tanh();
    return this.fc2.forward(dropout(h, this.p, { training: this.training }));
  }
}

const W_TRUE = [1, -2, 0.5];
const B_TRUE = 0.3;

/** Noise-free linear data y = x·w + b. */
function regression(n: number): { X: tr.Tensor; Y: tr.Tensor } {
  tr.manualSeed(123);
  const X = tr.randn([n, 3]);
  const Y = X.matmul(tr.tensor(W_TRUE.map((v) => [v]))).add(B_TRUE);
  return { X, Y };
}

/** Two well separated Gaussian clusters, labels 0 / 1. */
function clusters(n: number): { X: tr.Tensor; y: tr.Tensor } {
  tr.manualSeed(7);
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const centers = tr.tensor(labels.map((l) => (l ? [2, 2] : [-2, -2])));
  return { X: centers.add(tr.randn([n, 2]).mul(0.5)), y: tr.tensor(labels, "int32") };
}

const quiet = { verbose: 0 as const };

for (const backend of BACKENDS) {
  describe(`train.fit [${backend}]`, () => {
    test("linear regression with mse converges to the true weights, jit and eager alike", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(64);
        const losses: number[][] = [];
        for (const jit of [true, false]) {
          tr.manualSeed(0);
          const model = new Affine(3, 1);
          const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
          const h = await fit(model, [X, Y], { optimizer: opt, loss: "mse", epochs: 20, batchSize: 16, seed: 3, jit, ...quiet });
          assert.equal(h.params["jit"], jit);
          assertClose(values(model.w), W_TRUE, { atol: 1e-3, rtol: 0, msg: `w (jit ${jit})` });
          assertClose(values(model.b), [B_TRUE], { atol: 1e-3, rtol: 0, msg: `b (jit ${jit})` });
          losses.push(h.history["loss"]!);
        }
        assert.ok(losses[0]![19]! < 1e-5);
        assertClose(losses[0]!, losses[1]!, { rtol: 1e-4, atol: 1e-7, msg: "jit vs eager loss" });
      }));

    test("Adam with two parameter groups: jit and eager follow the same trajectory", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(48);
        const out: { loss: number[]; w: number[]; b: number[] }[] = [];
        for (const jit of [true, false]) {
          tr.manualSeed(1);
          const model = new Affine(3, 1);
          const opt = new optim.Adam([{ params: [model.w], lr: 0.05 }, { params: [model.b], lr: 0.01, weightDecay: 0.1 }]);
          const h = await fit(model, [X, Y], { optimizer: opt, loss: "mse", epochs: 4, batchSize: 16, seed: 5, jit, ...quiet });
          out.push({ loss: h.history["loss"]!, w: values(model.w), b: values(model.b) });
          // the optimizer's state was written back: one step per batch
          assert.equal(opt.getState(model.w)!.step, 12);
        }
        assertClose(out[0]!.loss, out[1]!.loss, { rtol: 1e-4, atol: 1e-6 });
        assertClose(out[0]!.w, out[1]!.w, { rtol: 1e-4, atol: 1e-6 });
        assertClose(out[0]!.b, out[1]!.b, { rtol: 1e-4, atol: 1e-6 });
      }));

    test("the same seed gives the identical loss sequence; training continues from the written-back optimizer state", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(40);
        const loader = () => new DataLoader(new TensorDataset({ x: X, y: Y }), { batchSize: 8, shuffle: true, seed: 11 });
        const runOnce = async (parts: { epochs: number; jit: boolean }[]) => {
          tr.manualSeed(2);
          const model = new Affine(3, 1);
          const opt = new optim.Adam(model.parameters(), { lr: 0.05 });
          const seq: number[] = [];
          let done = 0;
          for (const { epochs, jit } of parts) {
            const h = await fit(model, loader(), { optimizer: opt, loss: "mse", epochs: done + epochs, initialEpoch: done, jit, seed: 9, ...quiet });
            seq.push(...h.history["loss"]!);
            done += epochs;
          }
          return { seq, w: values(model.w) };
        };
        const a = await runOnce([{ epochs: 3, jit: true }]);
        const b = await runOnce([{ epochs: 3, jit: true }]);
        assert.deepEqual(a.seq, b.seq, "identical runs");
        assert.deepEqual(a.w, b.w);
        // two jitted epochs then one eager epoch continue the same Adam trajectory
        const c = await runOnce([{ epochs: 2, jit: true }, { epochs: 1, jit: false }]);
        assertClose(c.seq, a.seq, { rtol: 1e-4, atol: 1e-6 });
        assertClose(c.w, a.w, { rtol: 1e-4, atol: 1e-6 });
      }));

    test("a separable 2-class problem reaches accuracy 1; History holds loss, metrics and val_*", () =>
      withBackend(backend, async () => {
        const { X, y } = clusters(64);
        const val = clusters(32);
        for (const jit of [true, false]) {
          tr.manualSeed(4);
          const model = new Affine(2, 2);
          const h = await fit(model, { x: X, y }, {
            optimizer: "adam", lr: 0.1, loss: "crossEntropy", metrics: ["accuracy"], epochs: 6, batchSize: 16,
            validationData: [val.X, val.y], jit, seed: 1, ...quiet,
          });
          assert.deepEqual(h.epoch, [0, 1, 2, 3, 4, 5]);
          assert.deepEqual(Object.keys(h.history).sort(), ["accuracy", "loss", "val_accuracy", "val_loss"]);
          for (const k of Object.keys(h.history)) assert.equal(h.history[k]!.length, 6);
          assert.equal(h.history["accuracy"]![5], 1);
          assert.equal(h.history["val_accuracy"]![5], 1);
          // the last val_loss is the loss of the final model on the validation data
          const ev = await evaluate(model, [val.X, val.y], { loss: "crossEntropy", metrics: ["accuracy"] });
          assertClose([ev["loss"]!], [h.history["val_loss"]![5]!], { rtol: 1e-5 });
          assert.equal(ev["accuracy"], 1);
          // decreasing training loss
          const l = h.history["loss"]!;
          assert.ok(l[5]! < l[0]!);
        }
      }));

    test("evaluate and predict: values against closed forms, eval mode, no grad, batching", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(10);
        tr.manualSeed(5);
        const model = new Affine(3, 1);
        const w = values(model.w), b = values(model.b)[0]!;
        const xs = tr.tensor(X.arraySync() as number[][]).arraySync() as number[][];
        const ys = (Y.arraySync() as number[][]).map((r) => r[0]!);
        const expected = xs.map((r) => r[0]! * w[0]! + r[1]! * w[1]! + r[2]! * w[2]! + b);
        for (const jit of [true, false]) {
          model.seen = [];
          const p = await predict(model, X, { batchSize: 4, jit });
          assert.deepEqual(p.shape, [10, 1]);
          assertClose(values(p), expected, { rtol: 1e-5, atol: 1e-6 });
          assert.ok(model.seen.length > 0 && model.seen.every((t) => t === false), "forward ran in eval mode");
          assert.equal(model.training, true, "mode restored");
          const ev = await evaluate(model, [X, Y], { loss: "mse", metrics: ["mae"], batchSize: 3, jit });
          const mse = expected.reduce((a, v, i) => a + (v - ys[i]!) ** 2, 0) / 10;
          const mae = expected.reduce((a, v, i) => a + Math.abs(v - ys[i]!), 0) / 10;
          assertClose([ev["loss"]!, ev["mae"]!], [mse, mae], { rtol: 1e-5 });
          assert.equal(model.w.grad, null, "no gradients");
        }
        // batches from an iterable: [x, y] pairs and x alone
        const p2 = await predict(model, [{ x: X }, [X, Y]]);
        assert.deepEqual(p2.shape, [20, 1]);
        // for predict, an array of two tensors is two batches
        const p3 = await predict(model, [X, X]);
        assertClose(values(p3), [...expected, ...expected], { rtol: 1e-5, atol: 1e-6 });
      }));

    test("a module with buffers and dropout: jit (functionalCallWithState) matches eager", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(32);
        const res: { loss: number[]; rm: number[]; w: number[] }[] = [];
        for (const jit of [true, false]) {
          tr.manualSeed(6);
          const model = new Mlp(0.25);
          const h = await fit(model, [X, Y], { optimizer: "sgd", lr: 0.05, loss: "mse", epochs: 3, batchSize: 8, seed: 2, jit, ...quiet });
          res.push({ loss: h.history["loss"]!, rm: values(model.center.runningMean), w: values(model.fc1.w) });
        }
        assert.ok(res[0]!.rm.some((v) => Math.abs(v) > 1e-3), "the running mean moved");
        assertClose(res[0]!.rm, res[1]!.rm, { rtol: 1e-5, atol: 1e-6 });
        assertClose(res[0]!.loss, res[1]!.loss, { rtol: 1e-4, atol: 1e-6 });
        assertClose(res[0]!.w, res[1]!.w, { rtol: 1e-4, atol: 1e-6 });
      }));

    test("memory stays flat across epochs (jit and eager, with metrics and validation)", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(36);
        for (const jit of [true, false]) {
          tr.manualSeed(8);
          const model = new Mlp(0.5);
          const mem: { bytes: number; n: number }[] = [];
          const probe = new LambdaCallback({ onEpochEnd: () => void mem.push({ bytes: tr.memory().bytes, n: tr.memory().numTensors }) });
          const loader = new DataLoader(new TensorDataset([X, Y]), { batchSize: 8, shuffle: true, seed: 1 });
          await fit(model, loader, {
            optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }), loss: "mse", metrics: ["mae", "mse"], epochs: 5,
            validationData: [X, Y], validationBatchSize: 10, jit, callbacks: [probe], ...quiet,
          });
          for (let e = 2; e < 5; e++) {
            assert.equal(mem[e]!.bytes, mem[1]!.bytes, `bytes at epoch ${e} (jit ${jit})`);
            assert.equal(mem[e]!.n, mem[1]!.n, `tensors at epoch ${e} (jit ${jit})`);
          }
        }
      }));

    test("the learning rate changes between epochs without re-tracing", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(32);
        tr.manualSeed(9);
        const model = new Affine(3, 1);
        const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
        const snaps: number[][] = [];
        const cb = new LambdaCallback({
          onEpochBegin: (e) => {
            opt.lr = e === 1 ? 0 : 0.1;
            snaps.push(values(model.w));
          },
          onEpochEnd: () => void snaps.push(values(model.w)),
        });
        await fit(model, [X, Y], { optimizer: opt, loss: "mse", epochs: 3, batchSize: 16, callbacks: [cb], ...quiet });
        assert.notDeepEqual(snaps[0], snaps[1], "epoch 0 trains");
        assert.deepEqual(snaps[2], snaps[3], "epoch 1 has lr 0");
        assert.notDeepEqual(snaps[4], snaps[5], "epoch 2 trains again");
        assert.equal(model.seen.filter((t) => t).length, 1, "one trace of the training step");
      }));

    test("stepsPerEpoch continues an endless generator across epochs; a spent generator is an error", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(8);
        tr.manualSeed(10);
        const model = new Affine(3, 1);
        const opt = new optim.SGD(model.parameters(), { lr: 0.01 });
        let made = 0;
        function* endless() {
          for (;;) {
            made++;
            yield [X, Y];
          }
        }
        const h = await fit(model, endless(), { optimizer: opt, loss: "mse", epochs: 2, stepsPerEpoch: 3, ...quiet });
        assert.equal(h.history["loss"]!.length, 2);
        assert.equal(opt.getState(model.w)!.step, 6);
        assert.equal(made, 6);
        function* once() {
          yield [X, Y];
        }
        await assert.rejects(fit(model, once(), { optimizer: opt, loss: "mse", epochs: 2, ...quiet }), (e: Error) => e instanceof tr.TridentError && /no batches in epoch 2/.test(e.message));
      }));

    test("optimizers by name and options; bad inputs raise TridentError", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(8);
        tr.manualSeed(11);
        const model = new Affine(3, 1);
        const h = await fit(model, [X, Y], { optimizer: { name: "sgd", lr: 0.05, momentum: 0.9 }, loss: "mse", epochs: 2, ...quiet });
        assert.equal(h.history["loss"]!.length, 2);
        const reject = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: Error) => e instanceof tr.TridentError && re.test(e.message));
        await reject(fit(model, [X, Y], { optimizer: "adam", loss: "nope" as never, ...quiet }), /unknown loss "nope"/);
        await reject(fit(model, [X, Y], { optimizer: "nadam" as never, loss: "mse", ...quiet }), /unknown optimizer "nadam"/);
        await reject(fit(model, [X, Y], { optimizer: "sgd", loss: (p: tr.Tensor, y: tr.Tensor) => p.sub(y), ...quiet }), /loss must return a floating-point scalar, got float32 of shape \[8,1\]/);
        await reject(fit(model, [[X]], { optimizer: "sgd", loss: "mse", ...quiet }), /batch/);
        await reject(fit(model, [X, Y], { optimizer: "sgd", loss: "mse", epochs: -1, ...quiet }), /epochs must be an integer/);
        await reject(fit(model, [X, Y.slice([[0, 4]])], { optimizer: "sgd", loss: "mse", ...quiet }), /x has 8 samples but y has 4/);
      }));

    test("a model that cannot be traced says to pass jit: false", () =>
      withBackend(backend, async () => {
        const { X, Y } = regression(8);
        class Peeking extends Affine {
          override forward(x: tr.Tensor): tr.Tensor {
            return x.sum().item() > 1e9 ? x : super.forward(x);
          }
        }
        tr.manualSeed(12);
        const model = new Peeking(3, 1);
        await assert.rejects(fit(model, [X, Y], { optimizer: "sgd", loss: "mse", ...quiet }), /pass \{ jit: false \}/);
        const h = await fit(model, [X, Y], { optimizer: "sgd", loss: "mse", jit: false, ...quiet });
        assert.equal(h.history["loss"]!.length, 1);
        const logs: Logs[] = [];
        await fit(model, [X, Y], { optimizer: "sgd", loss: "mse", jit: false, callbacks: [new LambdaCallback({ onBatchEnd: (_b, l) => void logs.push(l) })], ...quiet });
        assert.equal(logs.length, 1);
        assert.ok(typeof logs[0]!["loss"] === "number");
      }));
  });
}
