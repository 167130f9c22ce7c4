// Neural-network functional ops: PyTorch fixtures, closed forms computed in plain JS (float64), finite
// differences, numerical stability at extreme inputs, PyTorch's gradient conventions at kinks, errors.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, mulberry32, fdCheck } from "../helpers.js";
import { describeOpCases, opCases } from "../op-fixtures.js";

type T = tr.Tensor;
const OPS = [
  "relu", "gelu", "gelu_tanh", "silu", "softplus", "elu", "leaky_relu", "log_sigmoid", "softmax", "log_softmax",
  "layer_norm", "batch_norm_train", "cross_entropy", "mse_loss", "binary_cross_entropy_with_logits",
];
const mine = await opCases(OPS);

const read = async (t: T): Promise<number[]> => Array.from(await t.data());
const f64 = (data: number[], shape: number[]): T => tr.fromTypedArray(Float64Array.from(data), shape, "float64");
const i32 = (data: number[], shape: number[]): T => tr.fromTypedArray(Int32Array.from(data), shape, "int32");
const tight = { rtol: 1e-12, atol: 1e-13 };
/** Exact equality that treats -0 and 0 alike. */
const exact = (a: number[], e: number[]) => assertClose(a, e, { rtol: 0, atol: 0 });

function rng(seed: number) {
  const next = mulberry32(seed);
  const n = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  return {
    vals: (shape: number[], lo = -2, hi = 2) => Array.from({ length: n(shape) }, () => lo + (hi - lo) * next()),
    normal: (shape: number[], lo = -2, hi = 2) => f64(Array.from({ length: n(shape) }, () => lo + (hi - lo) * next()), shape),
    ints: (shape: number[], lo: number, hi: number) => Array.from({ length: n(shape) }, () => lo + Math.floor((hi - lo) * next())),
  };
}

const grad1 = (f: (x: T) => T) => async (x: T) => read(tr.grad(f)(x) as T);
const sigmoidJs = (v: number) => 1 / (1 + Math.exp(-v));
const softplusJs = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

/** log-softmax of each row of a [rows, cols] array. */
function logSoftmaxRows(x: number[], cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / cols; r++) {
    const row = x.slice(r * cols, (r + 1) * cols);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    out.push(...row.map((v) => v - lse));
  }
  return out;
}

for (const backend of BACKENDS) {
  describeOpCases(`nn fixtures [${backend}]`, backend, OPS, mine, { rtol: 1e-9, atol: 1e-11 });

  describe(`activations against closed forms [${backend}]`, () => {
    const xs = [-30, -3.5, -1, -0.25, 0.3, 1.7, 3, 4.5, 40];
    const cases: [string, (x: T) => T, (v: number) => number][] = [
      ["relu6", tr.relu6, (v) => Math.min(Math.max(v, 0), 6)],
      ["leakyRelu default slope", (x) => tr.leakyRelu(x), (v) => (v > 0 ? v : 0.01 * v)],
      ["elu alpha 0.7", (x) => tr.elu(x, 0.7), (v) => (v > 0 ? v : 0.7 * Math.expm1(v))],
      ["selu", tr.selu, (v) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * Math.expm1(v))],
      ["gelu tanh", tr.geluTanh, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
      ["silu", tr.silu, (v) => v * sigmoidJs(v)],
      ["mish", tr.mish, (v) => v * Math.tanh(softplusJs(v))],
      ["softplus beta 2", (x) => tr.softplus(x, { beta: 2 }), (v) => softplusJs(2 * v) / 2],
      ["logSigmoid", tr.logSigmoid, (v) => -softplusJs(-v)],
      ["hardSigmoid", tr.hardSigmoid, (v) => Math.min(Math.max(v / 6 + 0.5, 0), 1)],
      ["hardTanh(-2, 3)", (x) => tr.hardTanh(x, -2, 3), (v) => Math.min(Math.max(v, -2), 3)],
    ];
    for (const [name, f, js] of cases) {
      test(name, () => withBackend(backend, async () => assertClose(await read(f(f64(xs, [xs.length]))), xs.map(js), tight)));
    }
    test("gradients of every activation match finite differences", () =>
      withBackend(backend, async () => {
        const x = f64([-2.7, -0.9, -0.2, 0.35, 1.1, 2.4], [6]);
        const fs: ((x: T) => T)[] = [
          tr.relu, tr.relu6, (a) => tr.leakyRelu(a, 0.2), (a) => tr.elu(a, 1.3), tr.selu, tr.gelu, tr.geluTanh, tr.silu, tr.mish,
          tr.softplus, tr.logSigmoid, tr.hardSigmoid, tr.hardTanh,
        ];
        for (const f of fs) await fdCheck((a) => tr.sum(tr.mul(f(a), tr.cos(a))), [x], [0]);
      }));
    test("gradients at the kinks follow PyTorch", () =>
      withBackend(backend, async () => {
        const at = (vals: number[]) => f64(vals, [vals.length]);
        assert.deepEqual(await grad1((a) => tr.sum(tr.relu(a)))(at([0, 1, -1])), [0, 1, 0]);
        assert.deepEqual(await grad1((a) => tr.sum(tr.leakyRelu(a, 0.1)))(at([0, 2])), [0.1, 1]);
        assert.deepEqual(await grad1((a) => tr.sum(tr.elu(a, 0.5)))(at([0])), [0.5]);
        assert.deepEqual(await grad1((a) => tr.sum(tr.hardTanh(a)))(at([-1, 1, 0.5])), [0, 0, 1]);
        assert.deepEqual(await grad1((a) => tr.sum(tr.relu6(a)))(at([0, 6, 3])), [0, 0, 1]);
        assert.deepEqual(await grad1((a) => tr.sum(tr.softplus(a)))(at([0])), [0.5]);
        // the unused exp branch of elu must not poison the gradient of large inputs
        assert.deepEqual(await grad1((a) => tr.sum(tr.elu(a)))(tr.tensor([1000, -1000])), [1, 0]);
      }));
    test("methods", () =>
      withBackend(backend, async () => {
        const x = f64([-1.5, 0.5, 2, -0.1, 3, 1], [2, 3]);
        const pairs: [T, T][] = [
          [x.relu(), tr.relu(x)], [x.gelu({ approximate: "tanh" }), tr.geluTanh(x)], [x.leakyRelu(0.3), tr.leakyRelu(x, 0.3)],
          [x.elu(), tr.elu(x)], [x.softplus(), tr.softplus(x)], [x.mish(), tr.mish(x)], [x.hardTanh(0, 1), tr.hardTanh(x, 0, 1)],
          [x.softmax(0), tr.softmax(x, { axis: 0 })], [x.logSoftmax({ axis: -1 }), tr.logSoftmax(x)], [x.silu(), tr.silu(x)],
          [x.selu(), tr.selu(x)], [x.logSigmoid(), tr.logSigmoid(x)], [x.hardSigmoid(), tr.hardSigmoid(x)], [x.relu6(), tr.relu6(x)],
        ];
        for (const [a, b] of pairs) assert.deepEqual(await read(a), await read(b));
      }));
  });

  describe(`numerical stability [${backend}]`, () => {
    test("softplus, logSigmoid and bce with logits at ±1000", () =>
      withBackend(backend, async () => {
        const x = tr.tensor([1000, -1000, 0]);
        exact(await read(tr.softplus(x)), [1000, 0, Math.fround(Math.LN2)]);
        exact(await read(tr.logSigmoid(x)), [0, -1000, Math.fround(-Math.LN2)]);
        const l = tr.binaryCrossEntropyWithLogits(x, tr.tensor([0, 1, 1]), { reduction: "none" });
        exact(await read(l), [1000, 1000, Math.fround(Math.LN2)]);
        const g = await read(tr.grad((a: T) => tr.sum(tr.softplus(a)))(x) as T);
        exact(g, [1, 0, 0.5]);
      }));
    test("logSoftmax and crossEntropy with logits like 1e4 are finite and exact", () =>
      withBackend(backend, async () => {
        const logits = tr.tensor([[1e4, 0, -1e4], [-1e4, -1e4, 1e4]]);
        exact(await read(tr.logSoftmax(logits)), [0, -1e4, -2e4, -2e4, -2e4, 0]);
        exact(await read(tr.softmax(logits)), [1, 0, 0, 0, 0, 1]);
        const labels = i32([1, 2], [2]);
        exact(await read(tr.crossEntropy(logits, labels, { reduction: "none" })), [1e4, 0]);
        exact(await read(tr.crossEntropy(logits, labels)), [5e3]);
        // d/dlogits of mean CE = (softmax − onehot) / N, exactly representable here
        const g = await read(tr.grad((a: T) => tr.crossEntropy(a, labels))(logits) as T);
        exact(g, [0.5, -0.5, 0, 0, 0, 0]);
        // near the float32 limit the gap itself overflows to −inf, as in PyTorch, but nothing becomes NaN
        exact(await read(tr.logSoftmax(tr.tensor([3e38, -3e38]))), [0, -Infinity]);
      }));
    test("binaryCrossEntropy clamps its logs at −100", () =>
      withBackend(backend, async () => {
        const p = tr.tensor([0, 1, 0, 1]), t = tr.tensor([1, 0, 0, 1]);
        exact(await read(tr.binaryCrossEntropy(p, t, { reduction: "none" })), [100, 100, 0, 0]);
        const g = await read(tr.grad((a: T) => tr.binaryCrossEntropy(a, t, { reduction: "sum" }))(tr.tensor([0.5, 0.5, 0.5, 0.5])) as T);
        assertClose(g, [-2, 2, 2, -2]);
      }));
  });

  describe(`normalisation against plain-JS oracles [${backend}]`, () => {
    const r = rng(5);
    /** Standardise groups of `n` consecutive entries of a row-major array (biased variance). */
    const standardize = (v: number[], eps: number) => {
      const mu = v.reduce((a, b) => a + b, 0) / v.length;
      const va = v.reduce((a, b) => a + (b - mu) ** 2, 0) / v.length;
      return v.map((x) => (x - mu) / Math.sqrt(va + eps));
    };
    test("layerNorm over two trailing axes with weight and bias", () =>
      withBackend(backend, async () => {
        const xv = r.vals([2, 3, 4]), wv = r.vals([3, 4]), bv = r.vals([3, 4]);
        const got = tr.layerNorm(f64(xv, [2, 3, 4]), f64(wv, [3, 4]), f64(bv, [3, 4]), { axis: [-2, -1], eps: 1e-3 });
        const want = [0, 1].flatMap((n) => standardize(xv.slice(n * 12, n * 12 + 12), 1e-3).map((v, k) => v * wv[k]! + bv[k]!));
        assertClose(await read(got), want, tight);
      }));
    test("layerNorm over a leading axis; weight has that axis' shape", () =>
      withBackend(backend, async () => {
        const xv = r.vals([3, 2]), wv = r.vals([3]);
        const got = tr.layerNorm(f64(xv, [3, 2]), f64(wv, [3]), null, { axis: 0 });
        const want = new Array<number>(6);
        for (let c = 0; c < 2; c++) standardize([xv[c]!, xv[2 + c]!, xv[4 + c]!], 1e-5).forEach((v, k) => (want[k * 2 + c] = v * wv[k]!));
        assertClose(await read(got), want, tight);
      }));
    test("rmsNorm", () =>
      withBackend(backend, async () => {
        const xv = r.vals([2, 5]), wv = r.vals([5]);
        const got = tr.rmsNorm(f64(xv, [2, 5]), f64(wv, [5]), { eps: 1e-6 });
        const want = [0, 1].flatMap((n) => {
          const row = xv.slice(n * 5, n * 5 + 5);
          const rms = Math.sqrt(row.reduce((a, b) => a + b * b, 0) / 5 + 1e-6);
          return row.map((v, k) => (v / rms) * wv[k]!);
        });
        assertClose(await read(got), want, tight);
      }));
    test("batchNormTrain with a channel-last axis", () =>
      withBackend(backend, async () => {
        const xv = r.vals([4, 3]), wv = r.vals([3]), bv = r.vals([3]);
        const got = tr.batchNormTrain(f64(xv, [4, 3]), f64(wv, [3]), f64(bv, [3]), { axis: -1 });
        const want = new Array<number>(12);
        for (let c = 0; c < 3; c++) standardize([0, 1, 2, 3].map((n) => xv[n * 3 + c]!), 1e-5).forEach((v, n) => (want[n * 3 + c] = v * wv[c]! + bv[c]!));
        assertClose(await read(got), want, tight);
      }));
    test("groupNorm", () =>
      withBackend(backend, async () => {
        const xv = r.vals([2, 4, 3]), wv = r.vals([4]), bv = r.vals([4]);
        const got = tr.groupNorm(f64(xv, [2, 4, 3]), 2, f64(wv, [4]), f64(bv, [4]));
        const want: number[] = [];
        for (let n = 0; n < 2; n++) {
          for (let g = 0; g < 2; g++) {
            const block = xv.slice(n * 12 + g * 6, n * 12 + g * 6 + 6);
            standardize(block, 1e-5).forEach((v, k) => want.push(v * wv[g * 2 + Math.floor(k / 3)]! + bv[g * 2 + Math.floor(k / 3)]!));
          }
        }
        assertClose(await read(got), want, tight);
      }));
    test("gradients of the normalisations match finite differences", () =>
      withBackend(backend, async () => {
        const x = r.normal([2, 4, 3]), w4 = r.normal([4]), b4 = r.normal([4]), w3 = r.normal([3]), c = r.normal([2, 4, 3]);
        const dot = (y: T) => tr.sum(tr.mul(y, c));
        await fdCheck((a, w, b) => dot(tr.layerNorm(a, w, b, { eps: 1e-3 })), [x, w3, r.normal([3])], [0, 1, 2]);
        await fdCheck((a, w, b) => dot(tr.batchNormTrain(a, w, b)), [x, w4, b4], [0, 1, 2]);
        await fdCheck((a, w, b) => dot(tr.groupNorm(a, 2, w, b)), [x, w4, b4], [0, 1, 2]);
        await fdCheck((a, w) => dot(tr.rmsNorm(a, w)), [x, w3], [0, 1]);
        await fdCheck((a) => dot(tr.softmax(a, { axis: 1 })), [x], [0]);
      }));
  });

  describe(`losses against plain-JS oracles [${backend}]`, () => {
    const r = rng(9);
    test("crossEntropy: ignoreIndex, label smoothing, reductions, class axis 1", () =>
      withBackend(backend, async () => {
        const xv = r.vals([4, 5]);
        const labels = [2, -100, 0, 4];
        const lp = logSoftmaxRows(xv, 5);
        const per = labels.map((y, n) => (y === -100 ? 0 : -lp[n * 5 + y]!));
        const x = f64(xv, [4, 5]), lab = i32(labels, [4]);
        assertClose(await read(tr.crossEntropy(x, lab, { ignoreIndex: -100, reduction: "none" })), per, tight);
        assertClose(await read(tr.crossEntropy(x, lab, { ignoreIndex: -100 })), [per.reduce((a, b) => a + b, 0) / 3], tight);
        assertClose(await read(tr.crossEntropy(x, lab, { ignoreIndex: -100, reduction: "sum" })), [per.reduce((a, b) => a + b, 0)], tight);
        // smoothing ε: (1 − ε)·nll + ε·mean_c(−logp_c), ignored rows still excluded
        const eps = 0.2;
        const sm = labels.map((y, n) => (y === -100 ? 0 : (1 - eps) * -lp[n * 5 + y]! + (eps * -lp.slice(n * 5, n * 5 + 5).reduce((a, b) => a + b, 0)) / 5));
        assertClose(await read(tr.crossEntropy(x, lab, { ignoreIndex: -100, labelSmoothing: eps })), [sm.reduce((a, b) => a + b, 0) / 3], tight);
        // probability targets (with smoothing) and the class axis at 1 for [N, C, d]
        const pv = r.vals([4, 5], 0, 1);
        const rows = [0, 1, 2, 3].map((n) => pv.slice(n * 5, n * 5 + 5));
        const probs = rows.flatMap((row) => row.map((v) => v / row.reduce((a, b) => a + b, 0)));
        const soft = [0, 1, 2, 3].map((n) => -probs.slice(n * 5, n * 5 + 5).reduce((a, p, c) => a + (p * (1 - eps) + eps / 5) * lp[n * 5 + c]!, 0));
        assertClose(await read(tr.crossEntropy(x, f64(probs, [4, 5]), { labelSmoothing: eps })), [soft.reduce((a, b) => a + b, 0) / 4], tight);
        const x3 = tr.transpose(tr.reshape(x, [2, 2, 5]), [0, 2, 1]);
        const got3 = tr.crossEntropy(x3, i32([2, 1, 0, 4], [2, 2]), { axis: 1, reduction: "none" });
        assertClose(await read(got3), [-lp[2]!, -lp[5 + 1]!, -lp[10]!, -lp[15 + 4]!], tight);
      }));
    test("nllLoss, mseLoss, l1Loss, huberLoss", () =>
      withBackend(backend, async () => {
        const a = r.vals([6], -3, 3), b = r.vals([6], -3, 3);
        const A = f64(a, [6]), B = f64(b, [6]);
        const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
        assertClose(await read(tr.mseLoss(A, B)), [mean(a.map((v, i) => (v - b[i]!) ** 2))], tight);
        assertClose(await read(tr.l1Loss(A, B, { reduction: "sum" })), [a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0)], tight);
        const hub = a.map((v, i) => {
          const d = Math.abs(v - b[i]!);
          return d < 1.5 ? 0.5 * d * d : 1.5 * (d - 0.75);
        });
        assertClose(await read(tr.huberLoss(A, B, { delta: 1.5, reduction: "none" })), hub, tight);
        const lp = f64(logSoftmaxRows(r.vals([3, 4]), 4), [3, 4]);
        const lpv = await read(lp);
        assertClose(await read(tr.nllLoss(lp, [3, 0, 1])), [-(lpv[3]! + lpv[4]! + lpv[9]!) / 3], tight);
      }));
    test("binaryCrossEntropy, with logits (posWeight, weight), klDiv", () =>
      withBackend(backend, async () => {
        const x = r.vals([5], -4, 4), t = r.vals([5], 0, 1), w = r.vals([5], 0.5, 2);
        const X = f64(x, [5]), Tt = f64(t, [5]), W = f64(w, [5]);
        const p = x.map(sigmoidJs);
        const bce = p.map((q, i) => -(t[i]! * Math.log(q) + (1 - t[i]!) * Math.log(1 - q)));
        assertClose(await read(tr.binaryCrossEntropy(f64(p, [5]), Tt, { reduction: "none" })), bce, { rtol: 1e-10, atol: 1e-12 });
        const pw = 3;
        const bcel = x.map((v, i) => w[i]! * (pw * t[i]! * softplusJs(-v) + (1 - t[i]!) * softplusJs(v)));
        assertClose(await read(tr.binaryCrossEntropyWithLogits(X, Tt, { posWeight: pw, weight: W, reduction: "sum" })), [bcel.reduce((a, b) => a + b, 0)], tight);
        // kl_div takes log-probabilities; zero targets contribute zero
        const tv = [0.5, 0, 0.25, 0.25, 0, 0.6, 0.4, 0, 0, 0], lq = logSoftmaxRows(r.vals([2, 5]), 5);
        const pts = tv.map((q, i) => (q === 0 ? 0 : q * (Math.log(q) - lq[i]!)));
        const LQ = f64(lq, [2, 5]), TV = f64(tv, [2, 5]);
        assertClose(await read(tr.klDiv(LQ, TV, { reduction: "none" })), pts, tight);
        assertClose(await read(tr.klDiv(LQ, TV, { reduction: "batchmean" })), [pts.reduce((a, b) => a + b, 0) / 2], tight);
        assertClose(await read(tr.klDiv(LQ, TV)), [pts.reduce((a, b) => a + b, 0) / 10], tight);
        const lt = tv.map((q) => Math.log(q + 0.1));
        const ptl = lt.map((l, i) => Math.exp(l) * (l - lq[i]!));
        assertClose(await read(tr.klDiv(LQ, f64(lt, [2, 5]), { logTarget: true, reduction: "sum" })), [ptl.reduce((a, b) => a + b, 0)], tight);
      }));
    test("gradients of the losses match finite differences", () =>
      withBackend(backend, async () => {
        const x = r.normal([4, 5]), lab = i32([1, -1, 4, 0], [4]), probs = tr.softmax(r.normal([4, 5]));
        await fdCheck((a) => tr.crossEntropy(a, lab, { ignoreIndex: -1, labelSmoothing: 0.1 }), [x], [0]);
        await fdCheck((a, p) => tr.crossEntropy(a, p, { labelSmoothing: 0.3 }), [x, probs], [0, 1]);
        await fdCheck((a) => tr.nllLoss(tr.logSoftmax(a), lab, { ignoreIndex: -1, reduction: "sum" }), [x], [0]);
        const y = r.normal([6]), t = r.normal([6], 0.05, 0.95);
        await fdCheck((a, b) => tr.huberLoss(a, b, { delta: 0.4 }), [y, r.normal([6])], [0, 1]);
        await fdCheck((a, b) => tr.binaryCrossEntropy(tr.sigmoid(a), b), [y, t], [0, 1]);
        await fdCheck((a, b) => tr.binaryCrossEntropyWithLogits(a, b, { posWeight: 2 }), [y, t], [0, 1]);
        await fdCheck((a, b) => tr.klDiv(tr.logSoftmax(a), b, { reduction: "batchmean" }), [x, probs], [0, 1]);
        await fdCheck((a, b) => tr.mseLoss(a, b), [y, t], [0, 1]);
      }));
    test("losses compose with vmap and jit", () =>
      withBackend(backend, async () => {
        const x = r.normal([3, 4, 5]), lab = i32(r.ints([3, 4], 0, 5), [3, 4]);
        const f = (a: T, l: T) => tr.crossEntropy(a, l, { labelSmoothing: 0.1 });
        const v = tr.vmap(f)(x, lab) as T;
        const loop = [0, 1, 2].map((n) => f(tr.take(x, n, { axis: 0 }), tr.take(lab, n, { axis: 0 })));
        assertClose(await read(v), (await Promise.all(loop.map(read))).flat(), tight);
        const g = tr.grad(f);
        assertClose(await read(tr.jit(g)(x, lab) as T), await read(g(x, lab) as T), tight);
      }));
    test("the tape: loss.backward()", () =>
      withBackend(backend, async () => {
        const w = tr.tensor([[0.5, -1, 2], [1, 0, -0.5]], { dtype: "float64", requiresGrad: true });
        const loss = tr.crossEntropy(w, [2, 0]);
        loss.backward();
        const sm = logSoftmaxRows([0.5, -1, 2, 1, 0, -0.5], 3).map(Math.exp);
        const want = sm.map((p, k) => (p - (k === 2 || k === 3 ? 1 : 0)) / 2);
        assertClose(await read(w.grad!), want, tight);
      }));
  });

  describe(`errors [${backend}]`, () => {
    test("shapes, labels and options", () =>
      withBackend(backend, () => {
        const x = tr.zeros([4, 5]);
        assert.throws(() => tr.layerNorm(x, tr.ones([4])), /layerNorm: weight must have shape \[5\] \(input \[4,5\] on axes \[1\]\), got \[4\]/);
        assert.throws(() => tr.batchNormTrain(x, null, tr.ones([4, 5])), /batchNormTrain: bias must have shape \[5\]/);
        assert.throws(() => tr.groupNorm(tr.zeros([2, 6, 3]), 4), /groupNorm: numGroups 4 must be a positive divisor of the channel count 6/);
        assert.throws(() => tr.crossEntropy(x, [1, 2]), /crossEntropy: target shape \[2\] must be the input shape \[4,5\] without its class axis 1: \[4\]/);
        assert.throws(() => tr.crossEntropy(x, [1, 2, 5, 0]), /crossEntropy: target holds 5 at flat position 2, outside \[0, 5\) for 5 classes/);
        assert.throws(() => tr.crossEntropy(x, [1, 2, 3, 0], { labelSmoothing: 1.5 }), /crossEntropy: labelSmoothing must be in \[0, 1\], got 1.5/);
        assert.throws(() => tr.crossEntropy(x, tr.zeros([4, 4])), /crossEntropy: probability targets must have the logits' shape \[4,5\], got \[4,4\]/);
        assert.throws(() => tr.nllLoss(x, tr.zeros([4])), /nllLoss: class labels must be integers, got float32/);
        assert.throws(() => tr.mseLoss(x, x, { reduction: "avg" as "mean" }), /mseLoss: reduction must be "mean", "sum" or "none", got "avg"/);
        assert.throws(() => tr.gelu(x, { approximate: "erf" as "none" }), /gelu: approximate must be "none" or "tanh", got "erf"/);
        assert.throws(() => tr.softmax(x, { axis: 2 }), /softmax: axis 2 is out of range for an array of rank 2/);
        assert.throws(() => tr.mseLoss(x, tr.zeros([3])), /cannot be broadcast/);
      }));
  });
}
