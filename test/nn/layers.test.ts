// Layer forwards (and some backwards) against closed forms computed in plain JS and PyTorch references.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as nn from "../../src/nn/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";
import { assertFix, fixture, stateOf, T, type FixTensor } from "./fixtures.js";
import { opCases } from "../op-fixtures.js";
import { fixtureToTensor } from "../../src/testing/index.js";

type Tensor = tr.Tensor;

interface OpsCase {
  id: string;
  args: FixTensor[];
  params: Record<string, number[] | number[][]>;
  out: FixTensor;
  vjp?: { cotangent: FixTensor; grads: (FixTensor | null)[] };
}
const ops = (await opCases(["conv2d", "conv1d", "conv_transpose2d", "max_pool2d", "avg_pool2d"])) as unknown as OpsCase[];
const opsCase = (id: string) => ops.find((c) => c.id === id)!;
const F32 = { rtol: 1e-4, atol: 1e-5 };

/** Run a module on the fixture input with the fixture weights; compare the output and the vjp of every argument. */
function checkOpsCase(c: OpsCase, m: nn.Module & { forward(x: Tensor): Tensor; weight: Tensor; bias: Tensor | null }): void {
  m.loadStateDict({ weight: fixtureToTensor(c.args[1]!), bias: fixtureToTensor(c.args[2]!) });
  const x = fixtureToTensor(c.args[0]!);
  x.requiresGrad = true;
  const y = m.forward(x);
  assertFix(y, c.out, `${c.id} forward`, F32);
  y.mul(fixtureToTensor(c.vjp!.cotangent)).sum().backward();
  assertFix(x.grad!, c.vjp!.grads[0]!, `${c.id} d/dx`, F32);
  assertFix(m.weight.grad!, c.vjp!.grads[1]!, `${c.id} d/dweight`, F32);
  assertFix(m.bias!.grad!, c.vjp!.grads[2]!, `${c.id} d/dbias`, F32);
}

/** Row-major [n, k] times transposed [m, k] plus b, in plain JS. */
function jsLinear(x: number[], n: number, k: number, w: number[], m: number, b: number[] | null): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = b ? b[j]! : 0;
    for (let t = 0; t < k; t++) s += x[i * k + t]! * w[j * k + t]!;
    out.push(s);
  }
  return out;
}

function jsErf(x: number): number {
  if (Math.abs(x) > 5) return Math.sign(x);
  let sum = x, term = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 * sum) / Math.sqrt(Math.PI);
}

for (const backend of BACKENDS) {
  describe(`nn layers [${backend}]`, () => {
    test("Linear is x·Wᵀ + b for 1-D, 2-D and 3-D inputs; errors name the shapes", () =>
      withBackend(backend, () => {
        const lin = new nn.Linear(3, 2);
        const w = values(lin.weight), b = values(lin.bias!);
        const xv = [0.5, -1, 2, 1, 0, -0.5, 3, 1, 1, -2, 0.25, 0.75];
        assertClose(values(lin.forward(tr.tensor(xv).reshape([4, 3]))), jsLinear(xv, 4, 3, w, 2, b));
        assertClose(values(lin.forward(tr.tensor(xv).reshape([2, 2, 3]))), jsLinear(xv, 4, 3, w, 2, b));
        assertClose(values(lin.forward(tr.tensor(xv.slice(0, 3)))), jsLinear(xv, 1, 3, w, 2, b));
        const nb = new nn.Linear(3, 2, { bias: false });
        assert.equal(nb.bias, null);
        assertClose(values(nb.forward(tr.tensor(xv).reshape([4, 3]))), jsLinear(xv, 4, 3, values(nb.weight), 2, null));
        assert.throws(() => lin.forward(tr.ones([2, 4])), /Linear: input must have shape \[\.\.\., 3\], got \[2,4\]/);
        assert.deepEqual(nn.functional.linear(tr.ones([1, 3]), lin.weight).shape, [1, 2]);
      }));

    test("Bilinear, GroupNorm, LayerNorm over two axes: PyTorch references", () =>
      withBackend(backend, () => {
        const bc = fixture("bilinear");
        const bl = new nn.Bilinear(3, 4, 2, { dtype: "float64" });
        bl.loadStateDict(stateOf(bc));
        assertFix(bl.forward(T(bc.inputs.x1 as FixTensor), T(bc.inputs.x2 as FixTensor)), bc.outputs[0]!, "bilinear");
        const gc = fixture("groupnorm");
        const gn = new nn.GroupNorm(2, 4, { dtype: "float64" });
        gn.loadStateDict(stateOf(gc));
        assertFix(gn.forward(T(gc.inputs.x as FixTensor)), gc.outputs[0]!, "groupnorm");
        const lc = fixture("layernorm/2d");
        const ln = new nn.LayerNorm([3, 4], { dtype: "float64" });
        ln.loadStateDict(stateOf(lc));
        assertFix(ln.forward(T(lc.inputs.x as FixTensor)), lc.outputs[0]!, "layernorm");
        assert.throws(() => ln.forward(tr.ones([2, 4, 3], "float64")), /LayerNorm: input shape \[2,4,3\] must end in the normalized shape \[3,4\]/);
        assert.throws(() => gn.forward(tr.ones([2, 3, 5], "float64")), /GroupNorm: input must be \[N, 4, \.\.\.\], got \[2,3,5\]/);
        assert.throws(() => new nn.GroupNorm(3, 4), /numChannels 4 must be divisible by numGroups 3/);
      }));

    test("LayerNorm and RMSNorm against closed forms", () =>
      withBackend(backend, () => {
        const xv = [1, 2, 4, -1, 0, 3];
        const ln = new nn.LayerNorm(3, { dtype: "float64" });
        nn.init.normal_(ln.weight!);
        nn.init.normal_(ln.bias!);
        const rms = new nn.RMSNorm(3, { eps: 1e-6, dtype: "float64" });
        nn.init.normal_(rms.weight!);
        const w = values(ln.weight!), b = values(ln.bias!), g = values(rms.weight!);
        const expLn: number[] = [], expRms: number[] = [];
        for (let r = 0; r < 2; r++) {
          const row = xv.slice(3 * r, 3 * r + 3);
          const mu = row.reduce((a, c) => a + c, 0) / 3;
          const v = row.reduce((a, c) => a + (c - mu) ** 2, 0) / 3;
          const ms = row.reduce((a, c) => a + c * c, 0) / 3;
          row.forEach((c, i) => {
            expLn.push(((c - mu) / Math.sqrt(v + 1e-5)) * w[i]! + b[i]!);
            expRms.push((c / Math.sqrt(ms + 1e-6)) * g[i]!);
          });
        }
        const x = tr.tensor(xv, { dtype: "float64" }).reshape([2, 3]);
        assertClose(values(ln.forward(x)), expLn, { rtol: 1e-12 });
        assertClose(values(rms.forward(x)), expRms, { rtol: 1e-12 });
        // default eps: the dtype's machine epsilon
        const plain = new nn.RMSNorm([3], { elementwiseAffine: false });
        assert.equal(plain.weight, null);
        const x32 = tr.tensor([[3, 4, 0]]);
        assertClose(values(plain.forward(x32)), [3, 4, 0].map((c) => c / Math.sqrt(25 / 3 + 2 ** -23)));
      }));

    test("BatchNorm1d: batch statistics, running updates and eval vs a hand computation", () =>
      withBackend(backend, () => {
        const xv = [1, 2, 3, -1, 0.5, 4, 2, 2];
        const x = tr.tensor(xv, { dtype: "float64" }).reshape([4, 2]);
        const bn = new nn.BatchNorm1d(2, { dtype: "float64", momentum: 0.3 });
        nn.init.normal_(bn.weight!);
        nn.init.normal_(bn.bias!);
        const w = values(bn.weight!), b = values(bn.bias!);
        const col = (c: number) => [0, 1, 2, 3].map((r) => xv[r * 2 + c]!);
        const mean = [0, 1].map((c) => col(c).reduce((a, v) => a + v, 0) / 4);
        const vb = [0, 1].map((c) => col(c).reduce((a, v) => a + (v - mean[c]!) ** 2, 0) / 4);
        const y = bn.forward(x);
        const expY = xv.map((v, i) => ((v - mean[i % 2]!) / Math.sqrt(vb[i % 2]! + 1e-5)) * w[i % 2]! + b[i % 2]!);
        assertClose(values(y), expY, { rtol: 1e-12 });
        const rm = mean.map((m) => 0.3 * m), rv = vb.map((v) => 0.7 + 0.3 * v * (4 / 3));
        assertClose(values(bn.runningMean!), rm, { rtol: 1e-12 });
        assertClose(values(bn.runningVar!), rv, { rtol: 1e-12 });
        assert.equal(bn.numBatchesTracked!.item(), 1);
        bn.eval();
        const ye = bn.forward(x);
        assertClose(values(ye), xv.map((v, i) => ((v - rm[i % 2]!) / Math.sqrt(rv[i % 2]! + 1e-5)) * w[i % 2]! + b[i % 2]!), { rtol: 1e-12 });
        assert.equal(bn.numBatchesTracked!.item(), 1, "eval does not count batches");
        // without running statistics, eval normalises with the batch and nothing is stored
        const nt = new nn.BatchNorm1d(2, { trackRunningStats: false, affine: false, dtype: "float64" }).eval();
        assert.deepEqual(Object.keys(nt.stateDict()), []);
        assertClose(values(nt.forward(x)), xv.map((v, i) => (v - mean[i % 2]!) / Math.sqrt(vb[i % 2]! + 1e-5)), { rtol: 1e-12 });
        assert.throws(() => bn.train().forward(tr.ones([1, 2], "float64")), /expected more than 1 value per channel when training/);
        assert.throws(() => bn.forward(tr.ones([4, 3], "float64")), /BatchNorm1d: input has 3 channels on axis 1 but the layer expects 2/);
        assert.throws(() => new nn.BatchNorm2d(2).forward(tr.ones([4, 2])), /BatchNorm2d: input must be \[N, C, H, W\], got shape \[4,2\]/);
      }));

    test("BatchNorm2d over three steps and in eval, momentum 0.1 and cumulative (null): PyTorch references", () =>
      withBackend(backend, () => {
        for (const id of ["batchnorm2d/momentum_0.1", "batchnorm2d/momentum_None"]) {
          const c = fixture(id);
          const bn = new nn.BatchNorm2d(3, { momentum: c.opts["momentum"] as number | null, dtype: "float64" });
          bn.loadStateDict(stateOf(c), { strict: false });
          const xs = c.inputs.train as FixTensor[];
          xs.forEach((x, i) => assertFix(bn.forward(T(x)), c.outputs[i]!, `${id} train step ${i}`));
          for (const [k, v] of Object.entries(c.stateAfter!)) assertFix(bn.stateDict()[k]!, v, `${id} ${k}`);
          bn.eval();
          assertFix(bn.forward(T(c.inputs.eval as FixTensor)), c.outputs[3]!, `${id} eval`);
        }
      }));

    test("Conv2d, Conv1d, ConvTranspose2d modules reproduce the shared conv fixtures, forward and backward", () =>
      withBackend(backend, () => {
        const pad = (c: OpsCase) => (c.params["padding"] as number[][]).map((p) => p[0]!);
        for (const id of ["conv2d/0", "conv2d/1", "conv2d/2"]) {
          const c = opsCase(id);
          const [O, Cg, kh, kw] = c.args[1]!.shape as [number, number, number, number];
          const groups = c.params["groups"] as unknown as number;
          checkOpsCase(c, new nn.Conv2d(Cg * groups, O, [kh, kw], { stride: c.params["stride"] as number[], padding: pad(c), dilation: c.params["dilation"] as number[], groups }));
        }
        const c1 = opsCase("conv1d/0");
        checkOpsCase(c1, new nn.Conv1d(c1.args[1]!.shape[1]!, c1.args[1]!.shape[0]!, c1.args[1]!.shape[2]!, { stride: c1.params["stride"] as number[], padding: pad(c1) }));
        const ct = opsCase("conv_transpose2d/0");
        const [I, Og, k] = ct.args[1]!.shape as [number, number, number];
        checkOpsCase(ct, new nn.ConvTranspose2d(I, Og, k, { stride: ct.params["stride"] as number[], padding: pad(ct), outputPadding: ct.params["output_padding"] as number[] }));
      }));

    test("padding modes, grouped transposed and dilated 1-D convolutions: PyTorch references", () =>
      withBackend(backend, () => {
        for (const mode of ["reflect", "circular", "replicate", "zeros"] as const) {
          const c = fixture(`conv2d/padding_${mode}`);
          const m = new nn.Conv2d(2, 3, [3, 2], { padding: [1, 1], paddingMode: mode, dtype: "float64" });
          m.loadStateDict(stateOf(c));
          assertFix(m.forward(T(c.inputs.x as FixTensor)), c.outputs[0]!, c.id);
        }
        const ct = fixture("conv_transpose2d/groups");
        const m = new nn.ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2, dtype: "float64" });
        m.loadStateDict(stateOf(ct));
        assertFix(m.forward(T(ct.inputs.x as FixTensor)), ct.outputs[0]!, ct.id);
        const c1 = fixture("conv1d/dilated_groups");
        const m1 = new nn.Conv1d(4, 6, 3, { stride: 2, padding: 2, dilation: 2, groups: 2, dtype: "float64" });
        m1.loadStateDict(stateOf(c1));
        assertFix(m1.forward(T(c1.inputs.x as FixTensor)), c1.outputs[0]!, c1.id);
        // "same" keeps the spatial size, with PyTorch's extra element on the right for even kernels
        const same = new nn.Conv2d(2, 2, [2, 3], { padding: "same" });
        assert.deepEqual(same.forward(tr.ones([1, 2, 5, 6])).shape, [1, 2, 5, 6]);
        assert.throws(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), /Conv2d: inChannels 3 must be divisible by groups 2/);
        assert.throws(() => new nn.Conv2d(2, 2, 3).forward(tr.ones([1, 3, 5, 5])), /conv2d: weight \[2,2,3,3\] expects 2 input channels/);
      }));

    test("pooling layers reproduce the shared fixtures; adaptive pooling is the window mean", () =>
      withBackend(backend, () => {
        const mp = opsCase("max_pool2d/1");
        assertFix(new nn.MaxPool2d(3, { stride: 2, padding: 1 }).forward(fixtureToTensor(mp.args[0]!)), mp.out, "MaxPool2d", F32);
        const mp0 = opsCase("max_pool2d/0");
        assertFix(new nn.MaxPool2d(2).forward(fixtureToTensor(mp0.args[0]!)), mp0.out, "MaxPool2d default stride", F32);
        const ap = opsCase("avg_pool2d/0");
        assertFix(new nn.AvgPool2d(2).forward(fixtureToTensor(ap.args[0]!)), ap.out, "AvgPool2d", F32);
        const x = tr.arange(2 * 3 * 4 * 4).reshape([2, 3, 4, 4]).astype("float32");
        const xv = values(x);
        const g = new nn.AdaptiveAvgPool2d(1).forward(x);
        assert.deepEqual(g.shape, [2, 3, 1, 1]);
        assertClose(values(g), [0, 1, 2, 3, 4, 5].map((p) => xv.slice(p * 16, p * 16 + 16).reduce((a, b) => a + b, 0) / 16));
        const h = new nn.AdaptiveAvgPool2d([2, null]).forward(x);
        assert.deepEqual(h.shape, [2, 3, 2, 4]);
        assertClose(values(h).slice(0, 4), [0, 1, 2, 3].map((j) => (xv[j]! + xv[4 + j]!) / 2));
        assert.deepEqual(new nn.MaxPool1d(2).forward(tr.tensor([[[1, 5, 2, 0]]])).arraySync(), [[[5, 2]]]);
        assert.deepEqual(new nn.AvgPool1d(2).forward(tr.tensor([[[1, 5, 2, 0]]])).arraySync(), [[[3, 1]]]);
      }));

    test("Dropout: kept values scaled by 1/(1-p), about 1-p kept, gradient = mask/(1-p), identity in eval", () =>
      withBackend(backend, () => {
        const d = new nn.Dropout(0.25);
        const x = tr.ones([4000]);
        x.requiresGrad = true;
        const y = d.forward(x, { key: tr.random.key(3) });
        const yv = values(y);
        assert.ok(yv.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
        const kept = yv.filter((v) => v !== 0).length / yv.length;
        assert.ok(Math.abs(kept - 0.75) < 4 * Math.sqrt(0.75 * 0.25 / 4000), `kept fraction ${kept}`);
        y.sum().backward();
        assertClose(values(x.grad!), yv);
        tr.manualSeed(5);
        const a = values(d.forward(x));
        tr.manualSeed(5);
        assert.deepEqual(values(d.forward(x)), a, "the global generator is reproducible");
        assert.notDeepEqual(values(d.forward(x)), a);
        d.eval();
        assert.equal(d.forward(x), x);
        assert.equal(new nn.Dropout(0).forward(x), x);
        assert.ok(values(new nn.Dropout(1).forward(x)).every((v) => v === 0));
        assert.throws(() => new nn.Dropout(1.5), /Dropout: p must be a probability in \[0, 1\], got 1.5/);
        assert.throws(() => nn.functional.dropout(tr.ones([2], "int32"), 0.5, { key: tr.random.key(0) }), /dropout: input must be floating point/);
      }));

    test("Embedding looks rows up; the padding row gets no gradient (PyTorch reference)", () =>
      withBackend(backend, () => {
        const c = fixture("embedding/padding_idx");
        const em = new nn.Embedding(5, 3, { paddingIdx: 1, dtype: "float64" });
        em.loadStateDict(stateOf(c));
        const out = em.forward(T(c.inputs.ids as FixTensor));
        assertFix(out, c.outputs[0]!, "embedding");
        out.mul(T(c.cotangents![0]!)).sum().backward();
        assertFix(em.weight.grad!, c.paramGrads!["weight"]!, "embedding grad");
        assert.throws(() => em.forward(tr.tensor([0.5])), /Embedding: ids must be integers, got float32/);
        assert.throws(() => em.forward(tr.tensor([7], { dtype: "int32" })), /embedding/);
        const pre = nn.Embedding.fromPretrained(tr.tensor([[1, 2], [3, 4]]));
        assert.deepEqual(pre.forward(tr.tensor([1, 0], { dtype: "int32" })).arraySync(), [[3, 4], [1, 2]]);
        assert.equal(pre.weight.requiresGrad, false);
      }));

    test("activation layers match their closed forms", () =>
      withBackend(backend, () => {
        const xv = [-3, -1.5, -0.2, 0, 0.3, 1, 2.5, 25];
        const x = tr.tensor(xv, { dtype: "float64" });
        const sig = (v: number) => 1 / (1 + Math.exp(-v));
        const sp = (v: number) => Math.log1p(Math.exp(v));
        const cases: [nn.Module & { forward(x: Tensor): Tensor }, (v: number) => number][] = [
          [new nn.ReLU(), (v) => Math.max(v, 0)],
          [new nn.GELU(), (v) => 0.5 * v * (1 + jsErf(v / Math.SQRT2))],
          [new nn.GELU({ approximate: "tanh" }), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
          [new nn.SiLU(), (v) => v * sig(v)],
          [new nn.Sigmoid(), sig],
          [new nn.Tanh(), Math.tanh],
          [new nn.LeakyReLU(0.2), (v) => (v > 0 ? v : 0.2 * v)],
          [new nn.ELU(0.5), (v) => (v > 0 ? v : 0.5 * Math.expm1(v))],
          [new nn.Softplus({ beta: 2, threshold: 10 }), (v) => (2 * v > 10 ? v : sp(2 * v) / 2)],
          [new nn.Mish(), (v) => v * Math.tanh(sp(v))],
          [new nn.Hardtanh(-1, 2), (v) => Math.min(Math.max(v, -1), 2)],
          [new nn.Identity(), (v) => v],
        ];
        for (const [m, f] of cases) assertClose(values(m.forward(x)), xv.map(f), { rtol: 1e-10, atol: 1e-12, msg: m.constructor.name });
        const m2 = tr.tensor([[1, 2, 3], [0, -1, 4]], { dtype: "float64" });
        const rows = [[1, 2, 3], [0, -1, 4]];
        const sm = rows.flatMap((r) => r.map((v) => Math.exp(v) / r.reduce((a, u) => a + Math.exp(u), 0)));
        assertClose(values(new nn.Softmax().forward(m2)), sm, { rtol: 1e-12 });
        assertClose(values(new nn.LogSoftmax(1).forward(m2)), sm.map(Math.log), { rtol: 1e-12 });
        const cols = [0, 1, 2].map((c) => Math.exp(rows[0]![c]!) + Math.exp(rows[1]![c]!));
        assertClose(values(new nn.Softmax(0).forward(m2)), rows.flatMap((r) => r.map((v, c) => Math.exp(v) / cols[c]!)), { rtol: 1e-12 });
      }));

    test("Flatten and Unflatten", () =>
      withBackend(backend, () => {
        const x = tr.arange(24).reshape([2, 3, 4]);
        assert.deepEqual(new nn.Flatten().forward(x).shape, [2, 12]);
        assert.deepEqual(new nn.Flatten(0, 1).forward(x).shape, [6, 4]);
        const u = new nn.Unflatten(1, [2, -1]).forward(new nn.Flatten().forward(x));
        assert.deepEqual(u.shape, [2, 2, 6]);
        assert.deepEqual(values(u), values(x));
        assert.throws(() => new nn.Unflatten(-1, [5, 2]).forward(x), /Unflatten: cannot split axis 2 of size 4/);
      }));
  });
}
