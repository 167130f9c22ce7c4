// nn.init and the layers' default initialisations: bounds, moments, fan rules, reproducibility.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as nn from "../../src/nn/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";

const init = nn.init;

function moments(t: tr.Tensor): { mean: number; std: number; min: number; max: number } {
  const v = values(t);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: v.reduce((a, b) => Math.min(a, b), Infinity), max: v.reduce((a, b) => Math.max(a, b), -Infinity) };
}

/** A sample looks like U(−b, b): inside the bound, reaching near it, with variance b²/3. */
function assertUniform(t: tr.Tensor, b: number, relTol: number, msg: string): void {
  const m = moments(t);
  assert.ok(m.min >= -b && m.max <= b, `${msg}: values in [${m.min}, ${m.max}] exceed ±${b}`);
  assert.ok(m.max > 0.9 * b && m.min < -0.9 * b, `${msg}: values [${m.min}, ${m.max}] do not fill ±${b}`);
  assert.ok(Math.abs(m.std / (b / Math.sqrt(3)) - 1) < relTol, `${msg}: std ${m.std} vs ${b / Math.sqrt(3)}`);
  assert.ok(Math.abs(m.mean) < 4 * (b / Math.sqrt(3)) / Math.sqrt(t.size), `${msg}: mean ${m.mean}`);
}

function assertNormal(t: tr.Tensor, mean: number, std: number, relTol: number, msg: string): void {
  const m = moments(t);
  assert.ok(Math.abs(m.std / std - 1) < relTol, `${msg}: std ${m.std} vs ${std}`);
  assert.ok(Math.abs(m.mean - mean) < (4 * std) / Math.sqrt(t.size), `${msg}: mean ${m.mean} vs ${mean}`);
}

const Phi = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
const phi = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for a variance check; use the series/continued fraction split
  const s = Math.sign(x), a = Math.abs(x);
  if (a < 3) {
    let sum = a, term = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return (s * 2 * sum) / Math.sqrt(Math.PI);
  }
  return s * (1 - Math.exp(-a * a) / (a * Math.sqrt(Math.PI)));
}

for (const backend of BACKENDS) {
  describe(`nn.init [${backend}]`, () => {
    test("calculateGain and fan computation follow PyTorch", () =>
      withBackend(backend, () => {
        assert.equal(init.calculateGain("linear"), 1);
        assert.equal(init.calculateGain("conv2d"), 1);
        assert.equal(init.calculateGain("sigmoid"), 1);
        assert.equal(init.calculateGain("tanh"), 5 / 3);
        assert.equal(init.calculateGain("relu"), Math.SQRT2);
        assert.equal(init.calculateGain("selu"), 0.75);
        assertClose([init.calculateGain("leakyRelu")], [Math.sqrt(2 / (1 + 0.01 ** 2))], { rtol: 1e-15 });
        assertClose([init.calculateGain("leaky_relu", Math.sqrt(5))], [Math.sqrt(1 / 3)], { rtol: 1e-15 });
        assert.throws(() => init.calculateGain("swish" as nn.init.Nonlinearity), /calculateGain: unsupported nonlinearity "swish"/);
        assert.deepEqual(init.calculateFanInAndFanOut([32, 16, 3, 5]), [16 * 15, 32 * 15]);
        assert.deepEqual(init.calculateFanInAndFanOut([7, 4]), [4, 7]);
        assert.throws(() => init.calculateFanInAndFanOut([5]), /at least 2 dimensions, got shape \[5\]/);
      }));

    test("kaiming uniform/normal: bound gain·√(3/fan), std gain/√fan, fan modes", () =>
      withBackend(backend, () => {
        tr.manualSeed(0);
        const w = tr.zeros([256, 128, 2, 2]);
        init.kaimingUniform_(w);
        assertUniform(w, Math.SQRT2 * Math.sqrt(3 / 512), 0.03, "kaimingUniform fanIn relu-gain");
        init.kaimingUniform_(w, { mode: "fanOut", nonlinearity: "relu" });
        assertUniform(w, Math.SQRT2 * Math.sqrt(3 / 1024), 0.03, "kaimingUniform fanOut");
        init.kaimingUniform_(w, { a: Math.sqrt(5) });
        assertUniform(w, 1 / Math.sqrt(512), 0.03, "kaimingUniform a=√5");
        init.kaimingNormal_(w, { mode: "fan_out", nonlinearity: "tanh" });
        assertNormal(w, 0, (5 / 3) / Math.sqrt(1024), 0.03, "kaimingNormal");
        assert.throws(() => init.kaimingNormal_(w, { mode: "fanAvg" as nn.init.FanMode }), /mode must be "fanIn" or "fanOut"/);
      }));

    test("xavier, normal, uniform, truncated normal", () =>
      withBackend(backend, () => {
        tr.manualSeed(1);
        const w = tr.zeros([300, 200]);
        init.xavierUniform_(w, 2);
        assertUniform(w, 2 * Math.sqrt(6 / 500), 0.03, "xavierUniform");
        init.xavierNormal_(w);
        assertNormal(w, 0, Math.sqrt(2 / 500), 0.03, "xavierNormal");
        init.normal_(w, 3, 0.5);
        assertNormal(w, 3, 0.5, 0.03, "normal");
        init.uniform_(w, 2, 4);
        const m = moments(w);
        assert.ok(m.min >= 2 && m.max <= 4 && Math.abs(m.mean - 3) < 0.01, `uniform(2, 4): ${JSON.stringify(m)}`);
        // N(1, 0.5²) truncated to [0, 2] = ±2 standard deviations: closed-form moments
        init.truncNormal_(w, 1, 0.5, 0, 2);
        const t = moments(w);
        const Z = Phi(2) - Phi(-2);
        const sd = 0.5 * Math.sqrt(1 - (2 * 2 * phi(2)) / Z);
        assert.ok(t.min >= 0 && t.max <= 2, `truncNormal bounds: ${t.min}, ${t.max}`);
        assertNormal(w, 1, sd, 0.03, "truncNormal");
        assert.throws(() => init.uniform_(w, 1, 0), /init.uniform_: needs a <= b/);
        assert.throws(() => init.normal_(tr.zeros([2], "int32")), /needs a floating-point tensor, got int32/);
      }));

    test("orthogonal (tall and wide), eye, constants", () =>
      withBackend(backend, () => {
        tr.manualSeed(2);
        for (const shape of [[6, 4], [3, 2, 4]]) {
          const w = init.orthogonal_(tr.zeros(shape, "float64"), 1.5);
          const m = w.reshape([shape[0]!, -1]);
          const small = m.shape[0]! >= m.shape[1]! ? tr.matmul(m.T, m) : tr.matmul(m, m.T);
          const n = small.shape[0]!;
          assertClose(values(small), values(tr.eye(n, n, { dtype: "float64" }).mul(2.25)), { atol: 1e-12, msg: `orthogonal ${shape}` });
        }
        assert.deepEqual(values(init.eye_(tr.ones([2, 3]))), [1, 0, 0, 0, 1, 0]);
        assert.throws(() => init.eye_(tr.ones([2, 2, 2])), /init.eye_: needs a 2-D tensor/);
        assert.deepEqual(values(init.constant_(tr.ones([3]), 0.25)), [0.25, 0.25, 0.25]);
        assert.deepEqual(values(init.zeros_(tr.ones([2]))), [0, 0]);
        assert.deepEqual(values(init.ones_(tr.zeros([2], "int32"))), [1, 1]);
        assert.throws(() => tr.grad((x: tr.Tensor) => init.zeros_(x).sum())(tr.ones([2])), /initialisers write in place and need a concrete tensor/);
      }));

    test("reproducible from manualSeed, or from an explicit key", () =>
      withBackend(backend, () => {
        tr.manualSeed(42);
        const a = new nn.Linear(5, 4);
        const la = new nn.LSTM(3, 2);
        tr.manualSeed(42);
        const b = new nn.Linear(5, 4);
        const lb = new nn.LSTM(3, 2);
        assert.deepEqual(values(a.weight), values(b.weight));
        assert.deepEqual(values(a.bias!), values(b.bias!));
        for (const [k, p] of la.namedParameters()) assert.deepEqual(values(p), values(lb.stateDict()[k]!), k);
        tr.manualSeed(43);
        assert.notDeepEqual(values(new nn.Linear(5, 4).weight), values(a.weight));
        const k = tr.random.key(9);
        const u1 = values(init.uniform_(tr.zeros([8]), 0, 1, { key: k }));
        tr.randn([3]);
        assert.deepEqual(values(init.uniform_(tr.zeros([8]), 0, 1, { key: k })), u1);
        assert.deepEqual(u1, values(tr.random.uniform(k, [8])));
      }));

    test("layers' default initialisations match PyTorch's rules", () =>
      withBackend(backend, () => {
        tr.manualSeed(3);
        const lin = new nn.Linear(400, 300);
        assertUniform(lin.weight, 1 / Math.sqrt(400), 0.03, "Linear.weight");
        assertUniform(lin.bias!, 1 / Math.sqrt(400), 0.15, "Linear.bias");
        const conv = new nn.Conv2d(16, 64, 3, { groups: 2 });
        assertUniform(conv.weight, 1 / Math.sqrt(8 * 9), 0.05, "Conv2d.weight (fanIn = in/groups·k²)");
        assert.ok(moments(conv.bias!).max <= 1 / Math.sqrt(72));
        const convT = new nn.ConvTranspose2d(32, 16, 3);
        assert.deepEqual(convT.weight.shape, [32, 16, 3, 3]);
        assertUniform(convT.weight, 1 / Math.sqrt(16 * 9), 0.05, "ConvTranspose2d.weight (fanIn from weight dim 1)");
        const lstm = new nn.LSTM(30, 25, { numLayers: 2 });
        for (const [k, p] of lstm.namedParameters()) assert.ok(moments(p).max <= 1 / 5 && moments(p).min >= -1 / 5, k);
        assertUniform(lstm.stateDict()["weight_hh_l1"]!, 1 / 5, 0.1, "LSTM.weight_hh_l1");
        const gru = new nn.GRU(10, 16);
        assertUniform(gru.stateDict()["weight_ih_l0"]!, 1 / 4, 0.1, "GRU.weight_ih_l0");
        const emb = new nn.Embedding(500, 64, { paddingIdx: -1 });
        assert.equal(emb.paddingIdx, 499);
        const rows = emb.weight.slice([[0, 499]]);
        assertNormal(rows, 0, 1, 0.03, "Embedding.weight");
        assert.ok(values(emb.weight.slice([499])).every((v) => v === 0));
        const mha = new nn.MultiheadAttention(32, 4);
        assertUniform(mha.inProjWeight!, Math.sqrt(6 / (32 + 96)), 0.05, "MultiheadAttention.in_proj_weight");
        assert.ok(values(mha.inProjBias!).every((v) => v === 0) && values(mha.outProj.bias!).every((v) => v === 0));
        assertUniform(mha.outProj.weight, 1 / Math.sqrt(32), 0.06, "out_proj.weight");
        const bn = new nn.BatchNorm2d(4);
        assert.deepEqual([values(bn.weight!), values(bn.bias!), values(bn.runningMean!), values(bn.runningVar!)], [[1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]);
        const bil = new nn.Bilinear(9, 5, 300);
        assertUniform(bil.weight, 1 / 3, 0.05, "Bilinear.weight");
      }));
  });
}
