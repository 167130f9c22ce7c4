// Properties of the torch.nn.functional ops beyond the PyTorch fixtures: float64 finite differences
// (vjp and jvp), vmap against a loop, closed forms in plain JS, adjointness of fold and unfold, inverse
// pixel shuffles, attention dropout, and the errors bad input gets.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values, randomTensors, checkGrads } from "../helpers.js";

type T = tr.Tensor;
const dot = (a: T, b: T) => tr.sum(tr.mul(a, b)).item();

for (const backend of BACKENDS) {
  describe(`nn ops: finite differences in float64 [${backend}]`, () => {
    const rand = randomTensors(11);
    const cases: [string, (...xs: T[]) => T, () => T[]][] = [
      ["interpolate bicubic", (x) => tr.interpolate(x, { size: [5, 4], mode: "bicubic" }), () => [rand([1, 2, 3, 3])]],
      ["interpolate bilinear alignCorners", (x) => tr.interpolate(x, { scaleFactor: 1.7, mode: "bilinear", alignCorners: true }), () => [rand([1, 1, 3, 4])]],
      ["gridSample bilinear reflection (input and grid)", (x, g) => tr.gridSample(x, g, { paddingMode: "reflection" }), () => [rand([1, 2, 3, 4]), tr.mul(rand([1, 2, 3, 2]), 1.4)]],
      ["gridSample bilinear zeros", (x, g) => tr.gridSample(x, g, { alignCorners: true }), () => [rand([2, 1, 3, 3]), tr.mul(rand([2, 2, 2, 2]), 1.2)]],
      ["affineGrid", (t) => tr.affineGrid(t, [1, 1, 3, 4]), () => [rand([1, 2, 3])]],
      ["unfold", (x) => tr.unfold(x, [2, 2], { padding: 1, stride: 2 }), () => [rand([1, 2, 4, 3])]],
      ["fold", (x) => tr.fold(x, [3, 3], 2), () => [rand([1, 8, 4])]],
      ["scaledDotProductAttention causal", (q, k, v) => tr.scaledDotProductAttention(q, k, v, { isCausal: true }), () => [rand([2, 3, 4]), rand([2, 5, 4]), rand([2, 5, 3])]],
      ["cosineSimilarity", (a, b) => tr.cosineSimilarity(a, b), () => [rand([3, 4]), rand([3, 4])]],
      ["normalize p=3", (x) => tr.normalize(x, { p: 3 }), () => [rand([3, 4])]],
      ["glu", (x) => tr.glu(x, 0), () => [rand([4, 3])]],
      ["prelu (input and weight)", (x, w) => tr.prelu(x, w), () => [rand([2, 3, 2]), rand([3])]],
      ["gaussianNllLoss", (x, t, v) => tr.gaussianNllLoss(x, t, tr.add(tr.abs(v), 0.5)), () => [rand([3, 2]), rand([3, 2]), rand([3, 2])]],
      ["tripletMarginLoss", (a, p, n) => tr.tripletMarginLoss(a, p, n, { reduction: "none", margin: 3 }), () => [rand([3, 4]), rand([3, 4]), rand([3, 4])]],
    ];
    for (const [name, f, xs] of cases) test(name, () => withBackend(backend, () => checkGrads(f, xs(), 3)));
  });

  describe(`nn ops: vmap against a loop [${backend}]`, () => {
    const rand = randomTensors(12);
    const loop = (f: (...xs: T[]) => T, xs: T[]) => tr.stack(Array.from({ length: xs[0]!.shape[0]! }, (_, i) => f(...xs.map((x) => tr.slice(x, [i]).reshape(x.shape.slice(1))))));
    const cases: [string, (...xs: T[]) => T, () => T[]][] = [
      ["interpolate bilinear", (x) => tr.interpolate(x, { size: [5, 3], mode: "bilinear" }), () => [rand([3, 1, 2, 3, 4])]],
      ["gridSample", (x, g) => tr.gridSample(x, g), () => [rand([2, 1, 2, 3, 3]), rand([2, 1, 2, 2, 2])]],
      ["unfold", (x) => tr.unfold(x, 2), () => [rand([2, 1, 2, 3, 3])]],
      ["fold", (x) => tr.fold(x, [3, 3], 2), () => [rand([2, 1, 4, 4])]],
      ["pixelShuffle", (x) => tr.pixelShuffle(x, 2), () => [rand([2, 1, 4, 2, 2])]],
      ["scaledDotProductAttention", (q, k, v) => tr.scaledDotProductAttention(q, k, v), () => [rand([3, 2, 4]), rand([3, 5, 4]), rand([3, 5, 2])]],
      ["cosineEmbeddingLoss", (a, b) => tr.cosineEmbeddingLoss(a, b, tr.tensor([1, -1, 1])), () => [rand([2, 3, 4]), rand([2, 3, 4])]],
    ];
    for (const [name, f, xs] of cases) {
      test(name, () => withBackend(backend, () => {
        const a = xs();
        assertClose(values(tr.vmap(f)(...a)), values(loop(f, a)), { rtol: 1e-12, atol: 1e-12 });
      }));
    }
  });

  describe(`nn ops: structure and closed forms [${backend}]`, () => {
    test("fold is the adjoint of unfold: <unfold(x), y> = <x, fold(y)>", () =>
      withBackend(backend, () => {
        const rand = randomTensors(4);
        const opts = { dilation: [1, 2], padding: [1, 0], stride: [2, 1] };
        const x = rand([2, 3, 5, 6]);
        const u = tr.unfold(x, [3, 2], opts);
        const y = rand(u.shape);
        assertClose([dot(u, y)], [dot(x, tr.fold(y, [5, 6], [3, 2], opts))], { rtol: 1e-12 });
      }));
    test("pixelUnshuffle inverts pixelShuffle, with extra batch axes", () =>
      withBackend(backend, () => {
        const x = randomTensors(5)([2, 2, 9, 2, 3]);
        assertClose(values(tr.pixelUnshuffle(tr.pixelShuffle(x, 3), 3)), values(x), { rtol: 0, atol: 0 });
        assert.deepEqual(tr.pixelShuffle(x, 3).shape, [2, 2, 1, 6, 9]);
      }));
    test("interpolate nearest by 2 repeats each pixel (plain JS)", () =>
      withBackend(backend, () => {
        const v = [1, 2, 3, 4, 5, 6];
        const out = values(tr.interpolate(tr.tensor(v).reshape([1, 1, 2, 3]), { scaleFactor: 2 }));
        const want: number[] = [];
        for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) want.push(v[Math.floor(i / 2) * 3 + Math.floor(j / 2)]!);
        assert.deepEqual(out, want);
        const ints = tr.interpolate(tr.tensor(v, "int32").reshape([1, 1, 2, 3]), { scaleFactor: 2 });
        assert.equal(ints.dtype, "int32");
        assert.deepEqual(values(ints), want);
      }));
    test("scaledDotProductAttention with dropout: causal zeros stay zero, jit with the key as an argument matches eager, gradients flow", () =>
      withBackend(backend, () => {
        const rand = randomTensors(8);
        const q = rand([4, 3]), k = rand([4, 3]), eye = tr.eye(4, 4, { dtype: "float64" });
        const f = (qq: T, key: T) => tr.scaledDotProductAttention(qq, k, eye, { isCausal: true, dropoutP: 0.5, key });
        const key = tr.random.key(9);
        const w = values(f(q, key));
        for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) assert.equal(w[i * 4 + j], 0);
        assertClose(values(tr.jit(f)(q, key)), w, { rtol: 1e-12, atol: 1e-14 });
        const g = tr.grad((qq: T) => tr.sum(tr.mul(f(qq, key), rand([4, 4]))))(q) as T;
        assert.ok(values(g).every(Number.isFinite));
      }));
    test("gridSample with the identity affineGrid reproduces the input (alignCorners both ways)", () =>
      withBackend(backend, () => {
        const x = randomTensors(6)([2, 3, 4, 5]);
        const theta = tr.tensor([[[1, 0, 0], [0, 1, 0]], [[1, 0, 0], [0, 1, 0]]], "float64");
        for (const alignCorners of [false, true]) {
          const g = tr.affineGrid(theta, [2, 3, 4, 5], { alignCorners });
          assertClose(values(tr.gridSample(x, g, { alignCorners })), values(x), { rtol: 1e-12, atol: 1e-12 });
          assertClose(values(tr.gridSample(x, g, { alignCorners, mode: "nearest" })), values(x), { rtol: 1e-12, atol: 1e-12 });
        }
      }));
    test("scaledDotProductAttention: a fully masked-in bool mask equals no mask; dropout keeps E[out] and zeroes weights", () =>
      withBackend(backend, () => {
        const rand = randomTensors(7);
        const q = rand([2, 3, 4]), k = rand([2, 5, 4]), v = rand([2, 5, 3]);
        const plain = tr.scaledDotProductAttention(q, k, v);
        assertClose(values(tr.scaledDotProductAttention(q, k, v, { attnMask: tr.full([3, 5], true) })), values(plain), { rtol: 1e-12, atol: 1e-14 });
        // with v = identity rows, the output is the (dropped-out, rescaled) weight matrix itself
        const eye = tr.eye(5, 5, { dtype: "float64" });
        const w = values(tr.scaledDotProductAttention(q.slice([0]).reshape([3, 4]), k.slice([0]).reshape([5, 4]), eye));
        const wd = values(tr.scaledDotProductAttention(q.slice([0]).reshape([3, 4]), k.slice([0]).reshape([5, 4]), eye, { dropoutP: 0.4, key: tr.random.key(3) }));
        let zeros = 0;
        wd.forEach((d, i) => (d === 0 ? zeros++ : assertClose([d], [w[i]! / 0.6], { rtol: 1e-12 })));
        assert.ok(zeros > 0 && zeros < wd.length, `dropout zeroed ${zeros} of ${wd.length}`);
      }));
    test("activations against closed forms (plain JS)", () =>
      withBackend(backend, () => {
        const xs = [-5, -2.5, -0.6, -0.1, 0.2, 0.9, 3.5, 7];
        const x = tr.tensor(xs, "float64");
        const cases: [T, (v: number) => number][] = [
          [tr.hardswish(x), (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6],
          [tr.softsign(x), (v) => v / (1 + Math.abs(v))],
          [tr.softshrink(x, 0.5), (v) => (v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0)],
          [tr.celu(x, 2), (v) => Math.max(0, v) + Math.min(0, 2 * Math.expm1(v / 2))],
          [tr.threshold(x, 0.5, 9), (v) => (v > 0.5 ? v : 9)],
        ];
        for (const [t, f] of cases) assertClose(values(t), xs.map(f), { rtol: 1e-14, atol: 1e-15 });
        // the Tensor methods are the same functions
        assert.deepEqual(values(x.hardswish()), values(tr.hardswish(x)));
        assert.deepEqual(values(x.softshrink(0.3)), values(tr.softshrink(x, 0.3)));
        assert.deepEqual(values(x.reshape([2, 4]).glu(1)), values(tr.glu(x.reshape([2, 4]), 1)));
        assert.deepEqual(values(x.logsigmoid()), values(tr.logSigmoid(x)));
      }));
  });

  describe(`nn ops: errors [${backend}]`, () => {
    const x4 = () => tr.zeros([1, 2, 3, 4]);
    test("interpolate", () =>
      withBackend(backend, () => {
        assert.throws(() => tr.interpolate(x4(), { size: 2, mode: "cubic" as never }), /interpolate: unknown mode "cubic"/);
        assert.throws(() => tr.interpolate(tr.zeros([2, 3]), { size: 2 }), /interpolate: input must be \[N, C, \.\.\.spatial\].*got \[2,3\]/);
        assert.throws(() => tr.interpolate(x4(), { size: 2, mode: "linear" }), /interpolate: mode "linear" needs a 3-D input, got \[1,2,3,4\]/);
        assert.throws(() => tr.interpolate(x4()), /interpolate: give exactly one of size and scaleFactor/);
        assert.throws(() => tr.interpolate(x4(), { size: [2, 2, 2] }), /interpolate: size must be a number or 2 numbers/);
        assert.throws(() => tr.interpolate(x4(), { size: 2, alignCorners: true }), /interpolate: alignCorners applies to the linear and cubic modes/);
      }));
    test("gridSample / affineGrid", () =>
      withBackend(backend, () => {
        assert.throws(() => tr.gridSample(tr.zeros([2, 3, 4]), tr.zeros([2, 1, 1, 2])), /gridSample: input must be \[N, C, H, W\], got \[2,3,4\]/);
        assert.throws(() => tr.gridSample(x4(), tr.zeros([1, 2, 2, 3])), /gridSample: grid must be \[N, Ho, Wo, 2\] with N = 1, got \[1,2,2,3\]/);
        assert.throws(() => tr.gridSample(x4(), tr.zeros([1, 2, 2, 2]), { mode: "bicubic" as never }), /gridSample: mode must be "bilinear" or "nearest"/);
        assert.throws(() => tr.gridSample(x4(), tr.zeros([1, 2, 2, 2]), { paddingMode: "wrap" as never }), /gridSample: paddingMode must be/);
        assert.throws(() => tr.affineGrid(tr.zeros([1, 3, 3]), [1, 1, 2, 2]), /affineGrid: theta must be \[1, 2, 3\], got \[1,3,3\]/);
      }));
    test("unfold / fold", () =>
      withBackend(backend, () => {
        assert.throws(() => tr.unfold(tr.zeros([3, 4]), 2), /unfold: input must be \[N, C, H, W\] or \[C, H, W\], got \[3,4\]/);
        assert.throws(() => tr.unfold(x4(), 5), /unfold: the 5x5 kernel .* does not fit the padded 3x4 input/);
        assert.throws(() => tr.unfold(x4(), 2, { stride: 0 }), /unfold: kernelSize, dilation and stride must be positive integers/);
        assert.throws(() => tr.fold(tr.zeros([1, 7, 6]), [3, 4], 2), /fold: axis 1 of input \[1,7,6\] must be divisible by the kernel size product 4/);
        assert.throws(() => tr.fold(tr.zeros([1, 8, 5]), [3, 4], 2), /fold: input \[1,8,5\] has 5 blocks but outputSize 3x4 with this kernel gives 6/);
      }));
    test("scaledDotProductAttention", () =>
      withBackend(backend, () => {
        const q = tr.zeros([2, 3, 4]), k = tr.zeros([2, 5, 4]), v = tr.zeros([2, 5, 2]);
        assert.throws(() => tr.scaledDotProductAttention(q, k, v, { attnMask: tr.zeros([3, 4]) }), /scaledDotProductAttention: attnMask of shape \[3,4\] must broadcast to \[\.\.\., L, S\] = \[2,3,5\]/);
        assert.throws(() => tr.scaledDotProductAttention(q, k, v, { attnMask: tr.zeros([3, 5], "int32") }), /attnMask must be bool or float, got int32/);
        assert.throws(() => tr.scaledDotProductAttention(q, k, v, { attnMask: tr.zeros([3, 5]), isCausal: true }), /attnMask and isCausal cannot both be set/);
        assert.throws(() => tr.scaledDotProductAttention(q, k, v, { dropoutP: 0.1 }), /dropoutP > 0 needs a PRNG key/);
        assert.throws(() => tr.scaledDotProductAttention(tr.zeros([4]), k, v), /q and k must have shape \[\.\.\., L, E\]/);
      }));
    test("pixel shuffles, glu, prelu, losses", () =>
      withBackend(backend, () => {
        assert.throws(() => tr.pixelShuffle(tr.zeros([1, 6, 2, 2]), 2), /pixelShuffle: channels 6 of input \[1,6,2,2\] must be divisible by upscaleFactor² = 4/);
        assert.throws(() => tr.pixelUnshuffle(tr.zeros([1, 1, 3, 4]), 2), /pixelUnshuffle: height 3 and width 4 .* divisible by downscaleFactor 2/);
        assert.throws(() => tr.glu(tr.zeros([2, 3]), -1), /glu: axis -1 of input shape \[2,3\] must have even size, got 3/);
        assert.throws(() => tr.prelu(tr.zeros([2, 3, 4]), tr.zeros([4])), /prelu: weight has 4 elements but the input \[2,3,4\] has 3 channels/);
        assert.throws(() => tr.smoothL1Loss(tr.zeros([2]), tr.zeros([2]), { reduction: "avg" as never }), /smoothL1Loss: reduction must be "mean", "sum" or "none", got "avg"/);
        assert.throws(() => tr.multiMarginLoss(tr.zeros([2, 3]), tr.tensor([0, 1, 2])), /multiMarginLoss: target must have shape \[2\], got \[3\]/);
        assert.throws(() => tr.multiMarginLoss(tr.zeros([2, 3]), tr.tensor([0, -1])), /multiMarginLoss: target holds -1/);
        assert.throws(() => tr.pairwiseDistance(tr.zeros([2, 3]), tr.zeros([3, 3])), /pairwiseDistance: shapes \[2,3\] and \[3,3\] cannot be broadcast/);
        assert.throws(() => tr.gaussianNllLoss(tr.zeros([2, 3]), tr.zeros([2, 3]), tr.zeros([4])), /gaussianNllLoss: variance \[4\] must have the input's shape \[2,3\]/);
      }));
  });
}
