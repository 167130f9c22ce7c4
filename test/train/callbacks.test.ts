import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import * as tr from "../../src/index.js";
import { Module, parameter } from "../../src/nn/module.js";
import * as optim from "../../src/optim/index.js";
import { loadCheckpoint, loadModel } from "../../src/io/checkpoint.js";
import {
  CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler, ModelCheckpoint, ProgressBar, ReduceLROnPlateau, TensorBoard, TerminateOnNaN,
  fit, formatPath, readEvents, type Callback, type FitOptions, type Logs,
} from "../../src/train/index.js";
import { withTempDir } from "./temp-dir.js";
import { BACKENDS, values, withBackend } from "../helpers.js";

class Affine extends Module {
  w: tr.Tensor;
  b: tr.Tensor;
  constructor(nIn: number, nOut: number) {
    super();
    this.w = parameter(tr.randn([nIn, nOut]).mul(0.1));
    this.b = parameter(tr.zeros([nOut]));
  }
  forward(x: tr.Tensor): tr.Tensor {
    return x.matmul(this.w).add(this.b);
  }
}

function data(n: number): [tr.Tensor, tr.Tensor] {
  tr.manualSeed(21);
  const X = tr.randn([n, 2]);
  return [X, X.matmul(tr.tensor([[1.5], [-1]])).sub(0.5)];
}

const withDir = <T>(fn: (dir: string) => Promise<T>): Promise<T> => withTempDir("trident-fit-", fn);

/** A callback that overwrites a log with scripted values, so monitors see a known sequence. */
const script = (name: string, seq: number[]) => new LambdaCallback({ onEpochEnd: (e: number, logs: Logs) => void (logs[name] = seq[e]!) });
/** Records the parameters at the end of each epoch. */
function recorder(model: Affine): [Callback, number[][]] {
  const snaps: number[][] = [];
  return [new LambdaCallback({ onEpochEnd: () => void snaps.push([...values(model.w), ...values(model.b)]) }), snaps];
}

const base = (opt: Partial<FitOptions> = {}): FitOptions => ({ optimizer: "sgd", lr: 0.05, loss: "mse", batchSize: 8, verbose: 0, seed: 1, ...opt });

for (const backend of BACKENDS) {
  describe(`train callbacks [${backend}]`, () => {
    test("EarlyStopping: Keras's patience rule, and the best epoch's weights are restored", () =>
      withBackend(backend, async () => {
        const [X, Y] = data(16);
        const scores = [5, 4, 4.5, 3.9, 4.0, 4.1, 3.0, 2.0, 1.0, 0.5];
        // patience 2: improvements at 0, 1, 3; epochs 4 and 5 bring none → stop at epoch 5, best epoch 3
        tr.manualSeed(0);
        let model = new Affine(2, 1);
        let [rec, snaps] = recorder(model);
        let es = new EarlyStopping({ monitor: "score", patience: 2, restoreBestWeights: true });
        let h = await fit(model, [X, Y], base({ epochs: 10, callbacks: [script("score", scores), rec, es] }));
        assert.deepEqual(h.epoch, [0, 1, 2, 3, 4, 5]);
        assert.equal(es.stoppedEpoch, 5);
        assert.equal(es.bestEpoch, 3);
        assert.deepEqual([...values(model.w), ...values(model.b)], snaps[3]);
        assert.notDeepEqual(snaps[5], snaps[3]);

        // minDelta 0.15: 3.9 is not enough of an improvement on 4 → stop at epoch 3 (waits 1, 2)
        tr.manualSeed(0);
        model = new Affine(2, 1);
        [rec, snaps] = recorder(model);
        es = new EarlyStopping({ monitor: "score", patience: 2, minDelta: 0.15, restoreBestWeights: true });
        h = await fit(model, [X, Y], base({ epochs: 10, callbacks: [script("score", scores), rec, es] }));
        assert.deepEqual(h.epoch, [0, 1, 2, 3]);
        assert.deepEqual([...values(model.w), ...values(model.b)], snaps[1]);

        // a baseline that is never beaten: waiting is not reset by improvements → stop at epoch 2 with patience 1
        es = new EarlyStopping({ monitor: "score", patience: 1, baseline: 3.5 });
        h = await fit(model, [X, Y], base({ epochs: 10, callbacks: [script("score", scores), es] }));
        assert.deepEqual(h.epoch, [0, 1, 2]);

        // mode auto is max for accuracy-like names
        es = new EarlyStopping({ monitor: "val_accuracy", patience: 0 });
        assert.equal(es.mode, "max");
        h = await fit(model, [X, Y], base({ epochs: 10, callbacks: [script("val_accuracy", [0.5, 0.6, 0.6, 0.7]), es] }));
        assert.deepEqual(h.epoch, [0, 1, 2]);
      }));

    test("ModelCheckpoint: saveBestOnly writes only on improvement, with templated names, and loads back", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          const [X, Y] = data(16);
          tr.manualSeed(1);
          const model = new Affine(2, 1);
          const [rec, snaps] = recorder(model);
          const ck = new ModelCheckpoint(join(dir, "ck", "m-{epoch:02d}-{score:.1f}.safetensors"), { monitor: "score", saveBestOnly: true });
          await fit(model, [X, Y], base({ epochs: 5, callbacks: [script("score", [3, 2, 2.5, 1, 1.5]), rec, ck] }));
          assert.deepEqual((await readdir(join(dir, "ck"))).sort(), ["m-01-3.0.safetensors", "m-02-2.0.safetensors", "m-04-1.0.safetensors"]);
          const fresh = new Affine(2, 1);
          await loadModel(join(dir, "ck", "m-04-1.0.safetensors"), fresh);
          assert.deepEqual([...values(fresh.w), ...values(fresh.b)], snaps[3]);

          // every epoch, with the optimizer's state
          const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
          const all = new ModelCheckpoint(join(dir, "all-{epoch}.safetensors"), { includeOptimizer: true });
          await fit(model, [X, Y], base({ optimizer: opt, lr: undefined, epochs: 2, callbacks: [all] }));
          assert.deepEqual(all.saved.map((p) => p.slice(dir.length + 1)), ["all-1.safetensors", "all-2.safetensors"]);
          const ckpt = await loadCheckpoint(join(dir, "all-2.safetensors"));
          assert.equal(ckpt.epoch, 2);
          const st = (ckpt.optimizer as { state: Record<string, { step: number }> }).state;
          assert.equal(st["0"]!.step, 4, "2 epochs of 2 batches");
          assert.deepEqual(values(ckpt.model["w"]!), values(model.w));
        }),
      ));

    test("formatPath fills Python-style fields", () => {
      assert.equal(formatPath("ck-{epoch:03d}-{val_loss:.4f}.st", { epoch: 7, val_loss: 0.123456 }), "ck-007-0.1235.st");
      assert.equal(formatPath("{a}_{b:.2e}_{c:5d}", { a: 0.5, b: 12345, c: 42 }), "0.5_1.23e+04_   42");
      assert.throws(() => formatPath("{nope}.st", { epoch: 1 }), /uses \{nope\}/);
    });

    test("CSVLogger writes exact rows, and appends without a second header", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          const [X, Y] = data(16);
          tr.manualSeed(2);
          const model = new Affine(2, 1);
          const file = join(dir, "log.csv");
          const h1 = await fit(model, [X, Y], base({ epochs: 2, metrics: ["mae"], validationData: [X, Y], callbacks: [new CSVLogger(file)] }));
          const row = (e: number, h: Record<string, number[]>, i: number) => [e, h["loss"]![i], h["mae"]![i], h["val_loss"]![i], h["val_mae"]![i]].map(String).join(",");
          const header = "epoch,loss,mae,val_loss,val_mae\n";
          const text1 = header + row(0, h1.history, 0) + "\n" + row(1, h1.history, 1) + "\n";
          assert.equal(await readFile(file, "utf8"), text1);
          const h2 = await fit(model, [X, Y], base({ epochs: 3, initialEpoch: 2, metrics: ["mae"], validationData: [X, Y], callbacks: [new CSVLogger(file, { append: true })] }));
          assert.equal(await readFile(file, "utf8"), text1 + row(2, h2.history, 0) + "\n");
          // without append the file starts over; another separator
          await fit(model, [X, Y], base({ epochs: 1, callbacks: [script("note", [0.25]), new CSVLogger(file, { separator: ";" })] }));
          const lines = (await readFile(file, "utf8")).split("\n");
          assert.equal(lines[0], "epoch;loss;note");
          assert.match(lines[1]!, /^0;[0-9.e-]+;0\.25$/);
        }),
      ));

    test("TensorBoard: epoch scalars per run, weight histograms, batch scalars; files parse with readEvents", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          const [X, Y] = data(32);
          tr.manualSeed(3);
          const model = new Affine(2, 1);
          const h = await fit(model, [X, Y], base({ epochs: 3, validationData: [X, Y], callbacks: [new TensorBoard(dir, { histogramFreq: 1, updateFreq: 2 })] }));
          const read = async (sub: string) => {
            const files = await readdir(join(dir, sub));
            assert.equal(files.length, 1);
            assert.match(files[0]!, /^events\.out\.tfevents\./);
            return readEvents(await readFile(join(dir, sub, files[0]!)));
          };
          const scalars = (evs: Awaited<ReturnType<typeof read>>, tag: string) =>
            evs.flatMap((e) => (e.summary?.value ?? []).filter((v) => v.tag === tag).map((v) => [e.step, v.simpleValue!] as const));
          const train = await read("train");
          assert.equal(train[0]!.fileVersion, "brain.Event:2");
          assert.deepEqual(scalars(train, "epoch_loss"), h.history["loss"]!.map((v, e) => [e, Math.fround(v)]));
          const val = await read("validation");
          assert.deepEqual(scalars(val, "epoch_loss"), h.history["val_loss"]!.map((v, e) => [e, Math.fround(v)]));
          // 4 batches per epoch, logged every 2nd batch at the global batch count
          assert.deepEqual(scalars(train, "batch_loss").map(([s]) => s), [2, 4, 6, 8, 10, 12]);
          const hist = train.flatMap((e) => (e.summary?.value ?? []).filter((v) => v.histo).map((v) => [v.tag, e.step, v.histo!.num] as const));
          assert.deepEqual(hist, [["w", 0, 2], ["b", 0, 1], ["w", 1, 2], ["b", 1, 1], ["w", 2, 2], ["b", 2, 1]]);
        }),
      ));

    test("LearningRateScheduler: a function per epoch, an optim scheduler per epoch or per batch", () =>
      withBackend(backend, async () => {
        const [X, Y] = data(16);
        tr.manualSeed(4);
        const model = new Affine(2, 1);
        let opt = new optim.SGD(model.parameters(), { lr: 0.1 });
        let h = await fit(model, [X, Y], base({ optimizer: opt, lr: undefined, epochs: 3, callbacks: [new LearningRateScheduler((e) => 0.1 * 0.5 ** e)] }));
        assert.deepEqual(h.history["learning_rate"], [0.1, 0.05, 0.025]);
        assert.equal(opt.lr, 0.025);

        opt = new optim.SGD(model.parameters(), { lr: 0.1 });
        const step = new optim.StepLR(opt, { stepSize: 1, gamma: 0.5 });
        h = await fit(model, [X, Y], base({ optimizer: opt, lr: undefined, epochs: 3, callbacks: [new LearningRateScheduler(step)] }));
        assert.deepEqual(h.history["learning_rate"], [0.1, 0.05, 0.025]);
        assert.equal(opt.lr, 0.0125);

        opt = new optim.SGD(model.parameters(), { lr: 0.1 });
        const perBatch = new optim.ExponentialLR(opt, { gamma: 0.5 });
        await fit(model, [X, Y], base({ optimizer: opt, lr: undefined, epochs: 2, callbacks: [new LearningRateScheduler(perBatch, { perBatch: true })] }));
        assert.equal(opt.lr, 0.1 * 0.5 ** 4, "2 epochs of 2 batches");

        const other = new optim.StepLR(new optim.SGD(model.parameters(), { lr: 1 }), { stepSize: 1 });
        await assert.rejects(fit(model, [X, Y], base({ optimizer: opt, lr: undefined, callbacks: [new LearningRateScheduler(other)] })), /drives a different optimizer/);
      }));

    test("ReduceLROnPlateau follows Keras's rule with cooldown and minLr", () =>
      withBackend(backend, async () => {
        const [X, Y] = data(8);
        tr.manualSeed(5);
        const model = new Affine(2, 1);
        const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
        const scores = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.98, 0.97, 0.5];
        const cb = new ReduceLROnPlateau({ monitor: "score", patience: 2, factor: 0.5, cooldown: 1, minLr: 0.02 });
        const h = await fit(model, [X, Y], base({ optimizer: opt, lr: undefined, epochs: 9, callbacks: [script("score", scores), cb] }));
        assert.deepEqual(h.history["learning_rate"], [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]);
        assert.equal(opt.lr, 0.02);
        assert.throws(() => new ReduceLROnPlateau({ factor: 1 }), tr.TridentError);
      }));

    test("TerminateOnNaN and stopTraining from a batch hook end training early", () =>
      withBackend(backend, async () => {
        const [X, Y] = data(16);
        tr.manualSeed(6);
        const model = new Affine(2, 1);
        const nanLoss = (p: tr.Tensor, y: tr.Tensor) => tr.mseLoss(p, y).mul(NaN);
        let h = await fit(model, [X, Y], base({ loss: nanLoss, epochs: 3, callbacks: [new TerminateOnNaN()] }));
        assert.equal(h.history["loss"]!.length, 1);
        assert.ok(Number.isNaN(h.history["loss"]![0]));
        let batches = 0;
        const stopper: LambdaCallback = new LambdaCallback({
          onBatchEnd(b: number) {
            batches++;
            if (b === 1) stopper.trainer!.stopTraining = true;
          },
        });
        h = await fit(model, [X, Y], base({ batchSize: 4, epochs: 3, callbacks: [stopper] }));
        assert.equal(batches, 2);
        assert.equal(h.history["loss"]!.length, 1);
      }));

    test("progress: one exact summary line per epoch when not a TTY", () =>
      withBackend(backend, async () => {
        const [X, Y] = data(32);
        tr.manualSeed(7);
        const model = new Affine(2, 1);
        let out = "";
        let t = 0;
        const bar = new ProgressBar({ stream: { write: (s: string) => void (out += s) }, now: () => (t += 0.5) });
        const h = await fit(model, [X, Y], base({ epochs: 2, metrics: ["mae"], callbacks: [bar], verbose: 1 }));
        const f = (v: number) => (Math.abs(v) > 1e-3 ? v.toFixed(4) : v.toExponential(4));
        const line = (e: number) => `Epoch ${e + 1}/2 - 4/4 - 500ms - 125ms/step - 64.0 samples/s - loss: ${f(h.history["loss"]![e]!)} - mae: ${f(h.history["mae"]![e]!)}\n`;
        assert.equal(out, line(0) + line(1));
      }));

    test("progress: a throttled bar redrawn in place on a TTY", () =>
      withBackend(backend, async () => {
        const [X, Y] = data(32);
        tr.manualSeed(8);
        const model = new Affine(2, 1);
        let out = "";
        let t = 0;
        const logs: Logs[] = [];
        const clock = new LambdaCallback({ onEpochBegin: () => void (t = 0), onBatchBegin: () => void (t += 0.25) });
        const record = new LambdaCallback({ onBatchEnd: (_b: number, l: Logs) => void logs.push(l) });
        const bar = new ProgressBar({ stream: { isTTY: true, write: (s: string) => void (out += s) }, now: () => t, interval: 0.3 });
        await fit(model, [X, Y], base({ epochs: 1, callbacks: [clock, record, bar] }));
        const f = (v: number) => v.toFixed(4);
        const expected =
          "Epoch 1/1\n" +
          `\r1/4 [${"=".repeat(6)}>${".".repeat(23)}] - ETA: 750ms - 32.0 samples/s - loss: ${f(logs[0]!["loss"]!)}\x1b[K` +
          `\r3/4 [${"=".repeat(21)}>${".".repeat(8)}] - ETA: 250ms - 32.0 samples/s - loss: ${f(logs[2]!["loss"]!)}\x1b[K` +
          `\r4/4 [${"=".repeat(30)}] - 1s - 250ms/step - 32.0 samples/s - loss: ${f(logs[3]!["loss"]!)}\x1b[K\n`;
        assert.equal(out, expected);
      }));

    test("verbose 0 is silent; verbose 2 writes lines even on a TTY", () =>
      withBackend(backend, async () => {
        const [X, Y] = data(8);
        tr.manualSeed(9);
        const model = new Affine(2, 1);
        let out = "";
        const stream = { isTTY: true, write: (s: string) => void (out += s) };
        await fit(model, [X, Y], base({ epochs: 2, verbose: 0, progressStream: stream }));
        assert.equal(out, "");
        await fit(model, [X, Y], base({ epochs: 2, verbose: 2, progressStream: stream }));
        const lines = out.split("\n");
        assert.equal(lines.length, 3);
        assert.match(lines[0]!, /^Epoch 1\/2 - 1\/1 - \S+ - \S+\/step - [\d.]+ samples\/s - loss: [\d.e+-]+$/);
        assert.ok(!out.includes("\r"));
      }));
  });
}
