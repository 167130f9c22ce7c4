import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import {
  Accuracy, BinaryAccuracy, CategoricalAccuracy, F1Score, MeanAbsoluteError, MeanMetricWrapper, MeanSquaredError, Metric, Precision, Recall,
  SparseCategoricalAccuracy, TopKAccuracy, getMetric, type Average,
} from "../../src/train/metrics.js";
import { BACKENDS, withBackend } from "../helpers.js";

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `got ${a}, expected ${b}`);

/** Feed batches and return the result. */
function run(m: Metric, batches: [tr.Tensor, tr.Tensor][]): number {
  m.reset();
  for (const [p, y] of batches) m.update(p, y);
  return m.result();
}

// ---- an independent oracle for the confusion-based scores (sklearn's definitions, by loops) ----
function argmaxRows(rows: number[][]): number[] {
  return rows.map((r) => r.reduce((best, v, i) => (v > r[best]! ? i : best), 0));
}
function sklearnScore(which: "precision" | "recall" | "f1", yTrue: number[], yPred: number[], average: Average, pos = 1): number {
  const div = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const counts = (c: number) => {
    let tp = 0, fp = 0, fn = 0;
    yTrue.forEach((t, i) => {
      const p = yPred[i]!;
      if (p === c && t === c) tp++;
      else if (p === c) fp++;
      else if (t === c) fn++;
    });
    return { tp, fp, fn };
  };
  const s = ({ tp, fp, fn }: { tp: number; fp: number; fn: number }) =>
    which === "precision" ? div(tp, tp + fp) : which === "recall" ? div(tp, tp + fn) : div(2 * tp, 2 * tp + fp + fn);
  if (average === "binary") return s(counts(pos));
  const labels = [...new Set([...yTrue, ...yPred])].sort((a, b) => a - b);
  const per = labels.map((c) => counts(c));
  if (average === "micro") return s(per.reduce((a, c) => ({ tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn }), { tp: 0, fp: 0, fn: 0 }));
  if (average === "macro") return per.reduce((a, c) => a + s(c), 0) / labels.length;
  const support = per.map((c) => c.tp + c.fn);
  const tot = support.reduce((a, b) => a + b, 0);
  return div(per.reduce((a, c, i) => a + support[i]! * s(c), 0), tot);
}

for (const backend of BACKENDS) {
  describe(`train metrics [${backend}]`, () => {
    test("sparse accuracy: argmax against labels, streamed over batches, reset", () =>
      withBackend(backend, () => {
        const m = new Accuracy();
        assert.equal(m.result(), 0, "no updates yet");
        const p1 = tr.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]);
        const p2 = tr.tensor([[0.6, 0.4], [0.2, 0.8]]);
        // batch 1: predicted 1,0,1 vs 1,1,1 → 2 right; batch 2: predicted 0,1 vs 0,0 → 1 right
        close(run(m, [[p1, tr.tensor([1, 1, 1], "int32")], [p2, tr.tensor([0, 0], "int32")]]), 3 / 5);
        m.reset();
        assert.equal(m.result(), 0);
        // labels with a trailing axis of 1 are the same labels
        close(run(m, [[p1, tr.tensor([[1], [1], [1]], "int32")]]), 2 / 3);
        assert.equal(m.name, "accuracy");
      }));

    test("categorical accuracy against one-hot rows; binary accuracy with thresholds", () =>
      withBackend(backend, () => {
        const p = tr.tensor([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]);
        const oneHot = tr.tensor([[0, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]);
        close(run(new Accuracy(), [[p, oneHot]]), 2 / 4);
        close(run(new CategoricalAccuracy(), [[p, oneHot]]), 2 / 4);
        close(run(new SparseCategoricalAccuracy(), [[p, tr.tensor([1, 1, 2, 0], "int32")]]), 2 / 4);
        // binary: [N, 1] probabilities against [N] 0/1 targets
        const prob = tr.tensor([[0.7], [0.4], [0.51], [0.2], [0.9]]);
        const y = tr.tensor([1, 0, 0, 0, 0]);
        close(run(new Accuracy(), [[prob, y]]), 3 / 5);
        close(run(new BinaryAccuracy({ threshold: 0.6 }), [[prob, y]]), 4 / 5);
        // logits thresholded at 0
        const logits = tr.tensor([2, -1, 0.5, -3]);
        close(run(new BinaryAccuracy({ threshold: 0 }), [[logits, tr.tensor([1, 0, 0, 0])]]), 3 / 4);
      }));

    test("top-k accuracy, ties at the boundary count as hits", () =>
      withBackend(backend, () => {
        const p = tr.tensor([
          [0.1, 0.5, 0.4, 0.0], // label 2: one higher → top2 hit, top1 miss
          [0.4, 0.3, 0.2, 0.1], // label 3: three higher → miss for k<=3
          [0.3, 0.3, 0.3, 0.1], // label 0: none strictly higher → hit for every k
          [0.7, 0.1, 0.1, 0.1], // label 0: hit
        ]);
        const y = tr.tensor([2, 3, 0, 0], "int32");
        close(run(new TopKAccuracy(1), [[p, y]]), 2 / 4);
        close(run(new TopKAccuracy(2), [[p, y]]), 3 / 4);
        close(run(new TopKAccuracy(3), [[p, y]]), 3 / 4);
        close(run(new TopKAccuracy(4), [[p, y]]), 4 / 4);
        assert.equal(new TopKAccuracy(3).name, "top3");
        // one-hot targets
        close(run(new TopKAccuracy(2), [[p, tr.oneHot(y, 4, "float32")]]), 3 / 4);
      }));

    test("binary precision / recall / F1 with hand-counted confusion", () =>
      withBackend(backend, () => {
        // predictions > 0.5: 1 1 0 1 0 0; truth: 1 0 0 1 1 0 → tp 2, fp 1, fn 1
        const p = tr.tensor([0.9, 0.6, 0.2, 0.7, 0.4, 0.1]);
        const y = tr.tensor([1, 0, 0, 1, 1, 0]);
        close(run(new Precision(), [[p, y]]), 2 / 3);
        close(run(new Recall(), [[p, y]]), 2 / 3);
        close(run(new F1Score(), [[p, y]]), (2 * 2) / (2 * 2 + 1 + 1));
        // streamed in two uneven batches gives the same
        const a: [tr.Tensor, tr.Tensor] = [tr.tensor([0.9, 0.6]), tr.tensor([1, 0])];
        const b: [tr.Tensor, tr.Tensor] = [tr.tensor([0.2, 0.7, 0.4, 0.1]), tr.tensor([0, 1, 1, 0])];
        close(run(new Precision(), [a, b]), 2 / 3);
      }));

    test("zero_division = 0: no predicted positives, no true positives", () =>
      withBackend(backend, () => {
        const none = tr.tensor([0.1, 0.2, 0.3]);
        assert.equal(run(new Precision(), [[none, tr.tensor([1, 0, 1])]]), 0, "nothing predicted positive");
        close(run(new Recall(), [[none, tr.tensor([1, 0, 1])]]), 0);
        assert.equal(run(new Recall(), [[tr.tensor([0.9, 0.1]), tr.tensor([0, 0])]]), 0, "no positives in the targets");
        assert.equal(run(new F1Score(), [[none, tr.tensor([0, 0, 0])]]), 0, "F1 undefined");
      }));

    test("multi-class macro / micro / weighted against an sklearn-style oracle", () =>
      withBackend(backend, () => {
        const rows = [
          [2.0, 0.1, 0.3, 0.0], [0.2, 1.5, 0.1, 0.0], [0.1, 0.3, 0.2, 0.0], [0.9, 0.8, 0.7, 0.0],
          [0.0, 0.2, 3.0, 0.0], [0.5, 0.6, 0.7, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0],
        ];
        // class 3 never occurs in truth or predictions: sklearn leaves it out of the macro mean
        const labels = [0, 1, 2, 0, 2, 1, 1, 2];
        const guess = argmaxRows(rows);
        const p = tr.tensor(rows);
        const y = tr.tensor(labels, "int32");
        for (const average of ["macro", "micro", "weighted", "binary"] as Average[]) {
          const opts = { average };
          close(run(new Precision(opts), [[p, y]]), sklearnScore("precision", labels, guess, average), 1e-6);
          close(run(new Recall(opts), [[p, y]]), sklearnScore("recall", labels, guess, average), 1e-6);
          close(run(new F1Score(opts), [[p, y]]), sklearnScore("f1", labels, guess, average), 1e-6);
        }
        // hand check of one macro value: guesses 0,1,1,0,2,2,0,2 → class 0: tp2 fp1; class 1: tp1 fp1; class 2: tp2 fp1
        assert.deepEqual(guess, [0, 1, 1, 0, 2, 2, 0, 2]);
        close(run(new Precision({ average: "macro" }), [[p, y]]), (2 / 3 + 1 / 2 + 2 / 3) / 3);
        // micro precision of single-label multi-class equals accuracy
        close(run(new Precision({ average: "micro" }), [[p, y]]), run(new Accuracy(), [[p, y]]));
      }));

    test("MSE and MAE over all elements, across uneven batches", () =>
      withBackend(backend, () => {
        const b1: [tr.Tensor, tr.Tensor] = [tr.tensor([[1, 2], [3, 4]]), tr.tensor([[1, 1], [1, 1]])];
        const b2: [tr.Tensor, tr.Tensor] = [tr.tensor([[0, -2]]), tr.tensor([[1, 0]])];
        // errors: 0 1 2 3 | -1 -2
        close(run(new MeanSquaredError(), [b1, b2]), (0 + 1 + 4 + 9 + 1 + 4) / 6, 1e-6);
        close(run(new MeanAbsoluteError(), [b1, b2]), (0 + 1 + 2 + 3 + 1 + 2) / 6, 1e-6);
        // [N, 1] predictions against [N] targets are aligned, not broadcast to [N, N]
        close(run(new MeanSquaredError(), [[tr.tensor([[1], [2]]), tr.tensor([0, 0])]]), (1 + 4) / 2);
      }));

    test("a metric function is averaged over batches weighted by batch size", () =>
      withBackend(backend, () => {
        const meanPred = (p: tr.Tensor) => p.mean();
        const m = new MeanMetricWrapper(meanPred);
        assert.equal(m.name, "meanPred");
        close(run(m, [[tr.tensor([1, 1, 1]), tr.tensor([0, 0, 0])], [tr.tensor([5]), tr.tensor([0])]]), (3 * 1 + 1 * 5) / 4);
      }));

    test("shorthand names", () =>
      withBackend(backend, () => {
        assert.ok(getMetric("accuracy") instanceof Accuracy);
        assert.equal(getMetric("acc").name, "acc");
        const top = getMetric("top5");
        assert.ok(top instanceof TopKAccuracy && top.k === 5 && top.name === "top5");
        assert.ok(getMetric("mse") instanceof MeanSquaredError);
        assert.ok(getMetric("mae") instanceof MeanAbsoluteError);
        assert.ok(getMetric("precision") instanceof Precision);
        assert.ok(getMetric("f1") instanceof F1Score);
        // with a logits loss, binary accuracy thresholds at 0
        const acc = getMetric("accuracy", { lossName: "bceWithLogits" }) as Accuracy;
        assert.equal(acc.threshold, 0);
        close(run(acc, [[tr.tensor([0.3, -0.2]), tr.tensor([1, 0])]]), 1);
        assert.throws(() => getMetric("nope"), (e: Error) => e instanceof tr.TridentError && /unknown metric "nope"/.test(e.message));
      }));

    test("batch statistics trace under jit to the same values", () =>
      withBackend(backend, () => {
        const p = tr.tensor([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]);
        const y = tr.tensor([2, 0, 2], "int32");
        for (const m of [new Accuracy(), new TopKAccuracy(2), new F1Score({ average: "macro" }), new MeanAbsoluteError()]) {
          const stats = tr.jit((a: tr.Tensor, b: tr.Tensor) => m.batchStats(a, b))(p, y) as tr.Tensor[];
          m.reset();
          m.accumulate(stats);
          const viaJit = m.result();
          close(viaJit, run(m.clone(), [[p, y]]));
        }
      }));

    test("bad shapes raise TridentError naming the metric and the shapes", () =>
      withBackend(backend, () => {
        assert.throws(
          () => new Accuracy().update(tr.tensor([[0.1, 0.9], [0.5, 0.5]]), tr.tensor([1, 0, 1], "int32")),
          (e: Error) => e instanceof tr.TridentError && /accuracy/.test(e.message) && /\[2,2\]/.test(e.message) && /\[3\]/.test(e.message),
        );
        assert.throws(() => new TopKAccuracy(0), tr.TridentError);
        assert.throws(() => new Precision({ average: "macro" }).update(tr.tensor([0.2, 0.8]), tr.tensor([0, 1])), /average "macro" needs class scores/);
      }));

    test("updates free their intermediates", () =>
      withBackend(backend, () => {
        const m = new Accuracy();
        const p = tr.tensor([[0.1, 0.9], [0.8, 0.2]]);
        const y = tr.tensor([1, 1], "int32");
        m.update(p, y);
        const before = tr.memory();
        for (let i = 0; i < 5; i++) m.update(p, y);
        const after = tr.memory();
        assert.equal(after.bytes, before.bytes);
        assert.equal(after.numTensors, before.numTensors);
        m.reset();
        assert.equal(tr.memory().numTensors, before.numTensors - 2);
      }));
  });
}
