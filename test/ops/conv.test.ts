import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { conv, type ConvP } from "../../src/core/prims/conv.js";
import { BACKENDS, withBackend, assertClose, values, randomTensors, checkGrads as checkGradsFd } from "../helpers.js";
import { assertCase, opCases } from "../op-fixtures.js";

const FIXTURE_CASES = await opCases(["conv2d", "conv1d", "conv_transpose2d", "max_pool2d", "avg_pool2d"]);

// ---------------- oracles ----------------
/** Vjp and jvp against central differences in float64 along random directions. */
const checkGrads = (f: (...xs: tr.Tensor[]) => tr.Tensor, args: tr.Tensor[]) => checkGradsFd(f, args, 11);

const stridesOf = (shape: number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));

/** General dilated convolution by its definition, element by element. */
function refConv(x: tr.Tensor, w: tr.Tensor, p: ConvP): { shape: number[]; data: number[] } {
  const nsp = p.strides.length;
  const xv = values(x), wv = values(w), xs = stridesOf(x.shape), ws = stridesOf(w.shape);
  const N = x.shape[p.lhsSpec[0]!]!, O = w.shape[p.rhsSpec[0]!]!, I = w.shape[p.rhsSpec[1]!]!;
  const G = p.featureGroupCount, B = p.batchGroupCount;
  const inS = p.lhsSpec.slice(2).map((a) => x.shape[a]!), kS = p.rhsSpec.slice(2).map((a) => w.shape[a]!);
  const outS = inS.map((n, s) => {
    const padded = (n - 1) * p.lhsDilation[s]! + 1 + p.padding[s]![0] + p.padding[s]![1];
    const dk = (kS[s]! - 1) * p.rhsDilation[s]! + 1;
    return padded < dk ? 0 : Math.floor((padded - dk) / p.strides[s]!) + 1;
  });
  const shape = new Array<number>(nsp + 2);
  shape[p.outSpec[0]!] = N / B;
  shape[p.outSpec[1]!] = O;
  outS.forEach((n, s) => (shape[p.outSpec[2 + s]!] = n));
  const os = stridesOf(shape);
  const data = new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0);
  const total = data.length;
  const kTotal = kS.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    const oi = shape.map((_, a) => Math.floor(flat / os[a]!) % shape[a]!);
    const n = oi[p.outSpec[0]!]!, o = oi[p.outSpec[1]!]!;
    const g = Math.floor(o / (O / G)), bg = Math.floor(o / (O / B));
    let acc = 0;
    for (let i = 0; i < I; i++) {
      for (let kf = 0; kf < kTotal; kf++) {
        const k = kS.map((_, s) => Math.floor(kf / kS.slice(s + 1).reduce((a, b) => a * b, 1)) % kS[s]!);
        let ok = true;
        const xi = new Array<number>(nsp + 2);
        xi[p.lhsSpec[0]!] = bg * (N / B) + n;
        xi[p.lhsSpec[1]!] = g * I + i;
        for (let s = 0; s < nsp; s++) {
          const pos = oi[p.outSpec[2 + s]!]! * p.strides[s]! + k[s]! * p.rhsDilation[s]! - p.padding[s]![0];
          if (pos < 0 || pos % p.lhsDilation[s]! !== 0 || pos / p.lhsDilation[s]! >= inS[s]!) ok = false;
          xi[p.lhsSpec[2 + s]!] = pos / p.lhsDilation[s]!;
        }
        if (!ok) continue;
        const wi = new Array<number>(nsp + 2);
        wi[p.rhsSpec[0]!] = o;
        wi[p.rhsSpec[1]!] = i;
        k.forEach((kk, s) => (wi[p.rhsSpec[2 + s]!] = kk));
        acc += xv[xi.reduce((t, v, a) => t + v * xs[a]!, 0)]! * wv[wi.reduce((t, v, a) => t + v * ws[a]!, 0)]!;
      }
    }
    data[flat] = acc;
  }
  return { shape, data };
}

const canon = (n: number) => [...Array(n).keys()];
function convP(nsp: number, over: Partial<ConvP> = {}): ConvP {
  return {
    strides: Array(nsp).fill(1),
    padding: Array(nsp).fill([0, 0]),
    lhsDilation: Array(nsp).fill(1),
    rhsDilation: Array(nsp).fill(1),
    featureGroupCount: 1,
    batchGroupCount: 1,
    lhsSpec: canon(nsp + 2),
    rhsSpec: canon(nsp + 2),
    outSpec: canon(nsp + 2),
    ...over,
  };
}

/** Primitive configurations: [name, lhs shape, rhs shape, params]. */
const CONFIGS: [string, number[], number[], ConvP][] = [
  ["plain 2-D, padding 1", [2, 3, 5, 5], [4, 3, 3, 3], convP(2, { padding: [[1, 1], [1, 1]] })],
  ["stride 2, rhs dilation 2, asymmetric padding", [2, 2, 7, 6], [3, 2, 2, 3], convP(2, { strides: [2, 1], rhsDilation: [2, 2], padding: [[2, 0], [1, 3]] })],
  ["feature groups 2", [2, 4, 5, 4], [6, 2, 3, 2], convP(2, { featureGroupCount: 2, padding: [[1, 0], [0, 1]], strides: [1, 2] })],
  ["depthwise (groups = channels)", [1, 3, 4, 4], [6, 1, 2, 2], convP(2, { featureGroupCount: 3, rhsDilation: [1, 2] })],
  ["lhs dilation 2 (transposed-conv style)", [2, 2, 3, 4], [3, 2, 3, 2], convP(2, { lhsDilation: [2, 3], padding: [[2, 2], [1, 0]] })],
  ["negative padding", [1, 2, 6, 6], [2, 2, 2, 2], convP(2, { padding: [[-1, 0], [1, -2]], strides: [2, 1] })],
  ["batch groups 2", [4, 3, 4, 4], [4, 3, 2, 2], convP(2, { batchGroupCount: 2, strides: [2, 1], padding: [[0, 1], [1, 0]] })],
  ["NHWC / HWIO / NHWC layouts with groups", [2, 5, 4, 4], [2, 3, 2, 6], convP(2, { lhsSpec: [0, 3, 1, 2], rhsSpec: [3, 2, 0, 1], outSpec: [0, 3, 1, 2], featureGroupCount: 2, strides: [2, 1], padding: [[1, 1], [0, 0]] })],
  ["1-D with everything", [2, 4, 9], [4, 2, 3], convP(1, { strides: [2], padding: [[2, 1]], lhsDilation: [2], rhsDilation: [2], featureGroupCount: 2 })],
  ["3-D", [1, 2, 3, 4, 3], [2, 2, 2, 2, 2], convP(3, { padding: [[1, 0], [0, 1], [1, 1]], strides: [1, 2, 1] })],
];

const sliceAxis = (t: tr.Tensor, axis: number, i: number) => tr.squeeze(tr.slice(t, t.shape.map((_, a) => (a === axis ? [i, i + 1] : null))), axis);
const loop = (n: number, g: (i: number) => tr.Tensor) => tr.stack([...Array(n).keys()].map(g), 0);

/** PyTorch's conv_transpose by its scatter definition. */
function refConvTranspose(x: tr.Tensor, w: tr.Tensor, stride: number[], pad: number[], outPad: number[], dil: number[], groups: number): { shape: number[]; data: number[] } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Og, KH, KW] = w.shape as [number, number, number, number];
  const OH = (H - 1) * stride[0]! - 2 * pad[0]! + dil[0]! * (KH - 1) + outPad[0]! + 1;
  const OW = (W - 1) * stride[1]! - 2 * pad[1]! + dil[1]! * (KW - 1) + outPad[1]! + 1;
  const O = Og * groups, Cg = C / groups;
  const xv = values(x), wv = values(w);
  const out = new Array<number>(N * O * OH * OW).fill(0);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let ww = 0; ww < W; ww++)
          for (let co = 0; co < Og; co++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const oh = h * stride[0]! - pad[0]! + kh * dil[0]!, ow = ww * stride[1]! - pad[1]! + kw * dil[1]!;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                const oc = Math.floor(c / Cg) * Og + co;
                out[((n * O + oc) * OH + oh) * OW + ow]! += xv[((n * C + c) * H + h) * W + ww]! * wv[((c * Og + co) * KH + kh) * KW + kw]!;
              }
  return { shape: [N, O, OH, OW], data: out };
}

/** PyTorch's pooling output size and windows, by definition. */
function refPool(x: tr.Tensor, kind: "max" | "avg", k: number[], s: number[], p: number[], d: number[], ceil: boolean, includePad = true): { shape: number[]; data: number[] } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const size = (n: number, a: number) => {
    let o = Math.floor((n + 2 * p[a]! - d[a]! * (k[a]! - 1) - 1 + (ceil ? s[a]! - 1 : 0)) / s[a]!) + 1;
    if (ceil && (o - 1) * s[a]! >= n + p[a]!) o--;
    return o;
  };
  const OH = size(H, 0), OW = size(W, 1);
  const xv = values(x), out: number[] = [];
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        if (kind === "max") {
          let m = -Infinity;
          for (let i = 0; i < k[0]!; i++)
            for (let j = 0; j < k[1]!; j++) {
              const h = oh * s[0]! - p[0]! + i * d[0]!, w = ow * s[1]! - p[1]! + j * d[1]!;
              if (h >= 0 && h < H && w >= 0 && w < W) m = Math.max(m, xv[(nc * H + h) * W + w]!);
            }
          out.push(m);
        } else {
          let h0 = oh * s[0]! - p[0]!, w0 = ow * s[1]! - p[1]!;
          let h1 = Math.min(h0 + k[0]!, H + p[0]!), w1 = Math.min(w0 + k[1]!, W + p[1]!);
          const poolSize = (h1 - h0) * (w1 - w0);
          h0 = Math.max(h0, 0); w0 = Math.max(w0, 0); h1 = Math.min(h1, H); w1 = Math.min(w1, W);
          let acc = 0;
          for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) acc += xv[(nc * H + h) * W + w]!;
          out.push(acc / (includePad ? poolSize : (h1 - h0) * (w1 - w0)));
        }
      }
  return { shape: [N, C, OH, OW], data: out };
}

/** Distinct float64 values in random order: max pooling has no ties, so its gradient is unambiguous. */
function distinct(shape: number[], seed: number): tr.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = values(randomTensors(seed)([n]));
  const v = [...Array(n).keys()].map((i) => (i - n / 2) * 0.1 + 0.01 * r[i]!);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(((r[i]! + 1) / 2) * (i + 1)) % (i + 1);
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return tr.fromTypedArray(Float64Array.from(v), shape, "float64");
}

for (const backend of BACKENDS) {
  describe(`conv and pooling ops [${backend}]`, () => {
    for (const c of FIXTURE_CASES) test(`fixture ${c.id} forward and vjp`, () => assertCase(c, { backend }));

    for (const [name, xs, ws, p] of CONFIGS) {
      test(`conv primitive (${name}): forward by definition, gradients by finite differences`, () =>
        withBackend(backend, () => {
          const rand = randomTensors(xs.length * 31 + ws[0]!);
          const x = rand(xs), w = rand(ws);
          const out = conv(x, w, p);
          const ref = refConv(x, w, p);
          assert.deepEqual(out.shape, ref.shape);
          assertClose(values(out), ref.data, { rtol: 1e-12, atol: 1e-12 });
          checkGrads((a, b) => conv(a!, b!, p), [x, w]);
        }));

      test(`conv primitive (${name}): vmap over lhs, rhs and both equals a loop`, () =>
        withBackend(backend, () => {
          const rand = randomTensors(5 + ws[0]!);
          const f = (a: tr.Tensor, b: tr.Tensor) => conv(a, b, p);
          const n = 3;
          // map over an inner axis of the lhs and the last axis of the rhs
          const xb = rand([xs[0]!, n, ...xs.slice(1)]), wb = rand([...ws, n]);
          const x = sliceAxis(xb, 1, 0), w = sliceAxis(wb, ws.length, 0);
          const tol = { rtol: 1e-12, atol: 1e-12 };
          assertClose(values(tr.vmap(f, { inAxes: [1, null] })(xb, w) as tr.Tensor), values(loop(n, (i) => f(sliceAxis(xb, 1, i), w))), tol);
          assertClose(values(tr.vmap(f, { inAxes: [null, ws.length] })(x, wb) as tr.Tensor), values(loop(n, (i) => f(x, sliceAxis(wb, ws.length, i)))), tol);
          assertClose(values(tr.vmap(f, { inAxes: [1, ws.length] })(xb, wb) as tr.Tensor), values(loop(n, (i) => f(sliceAxis(xb, 1, i), sliceAxis(wb, ws.length, i)))), tol);
        }));
    }

    test("per-example gradients: vmap of grad through both transpose rules equals a loop", () =>
      withBackend(backend, () => {
        const rand = randomTensors(21);
        const xb = rand([3, 2, 4, 6, 6]), w = rand([4, 2, 3, 3]);
        const loss = (x: tr.Tensor, k: tr.Tensor) => tr.sum(tr.tanh(tr.conv2d(x, k, null, { stride: 2, padding: 1, groups: 2 })));
        const gw = tr.vmap(tr.grad(loss, { argnums: [0, 1] }), { inAxes: [0, null] })(xb, w) as tr.Tensor[];
        const per = [0, 1, 2].map((i) => tr.grad(loss, { argnums: [0, 1] })(sliceAxis(xb, 0, i), w) as tr.Tensor[]);
        assertClose(values(gw[0]!), values(tr.stack(per.map((g) => g[0]!), 0)), { rtol: 1e-10, atol: 1e-12 });
        assertClose(values(gw[1]!), values(tr.stack(per.map((g) => g[1]!), 0)), { rtol: 1e-10, atol: 1e-12 });
      }));

    test("conv1d/conv2d/conv3d ops: padding forms, bias, unbatched input", () =>
      withBackend(backend, () => {
        const rand = randomTensors(31);
        const x = rand([2, 4, 6, 5]), w = rand([6, 2, 3, 2]), b = rand([6]);
        const p = convP(2, { padding: [[1, 1], [0, 1]], strides: [2, 1], rhsDilation: [1, 2], featureGroupCount: 2 });
        const ref = refConv(x, w, p);
        const bv = values(b), hw = ref.shape[2]! * ref.shape[3]!;
        const withBias = ref.data.map((v, i) => v + bv[Math.floor(i / hw) % 6]!);
        const out = tr.conv2d(x, w, b, { stride: [2, 1], padding: [[1, 1], [0, 1]], dilation: [1, 2], groups: 2 });
        assert.deepEqual(out.shape, ref.shape);
        assertClose(values(out), withBias, { rtol: 1e-12 });
        // per-axis symmetric numbers, a single number, "valid" and "same"
        assertClose(values(tr.conv2d(x, w, null, { padding: [1, 0], groups: 2 })), refConv(x, w, convP(2, { padding: [[1, 1], [0, 0]], featureGroupCount: 2 })).data, { rtol: 1e-12 });
        assertClose(values(tr.conv2d(x, w, null, { padding: 2, groups: 2 })), refConv(x, w, convP(2, { padding: [[2, 2], [2, 2]], featureGroupCount: 2 })).data, { rtol: 1e-12 });
        assertClose(values(tr.conv2d(x, w, null, { padding: "valid", groups: 2 })), refConv(x, w, convP(2, { featureGroupCount: 2 })).data, { rtol: 1e-12 });
        const same = tr.conv2d(x, w, null, { padding: "same", dilation: [1, 3], groups: 2 });
        assert.deepEqual(same.shape, [2, 6, 6, 5]);
        // kh = 3 pads 1 + 1; kw = 2 with dilation 3 spans 4: PyTorch pads 1 before and 2 after
        assertClose(values(same), refConv(x, w, convP(2, { padding: [[1, 1], [1, 2]], rhsDilation: [1, 3], featureGroupCount: 2 })).data, { rtol: 1e-12 });
        // unbatched [C, H, W]
        const x0 = sliceAxis(x, 0, 0);
        const u = tr.conv2d(x0, w, b, { groups: 2 });
        assert.deepEqual(u.shape, [6, 4, 4]);
        assertClose(values(u), values(sliceAxis(tr.conv2d(x, w, b, { groups: 2 }), 0, 0)), { rtol: 1e-12 });
        // conv1d and conv3d go through the same path
        const x1 = rand([2, 3, 8]), w1 = rand([4, 3, 3]);
        assertClose(values(tr.conv1d(x1, w1, null, { stride: 2, padding: 1, dilation: 2 })), refConv(x1, w1, convP(1, { strides: [2], padding: [[1, 1]], rhsDilation: [2] })).data, { rtol: 1e-12 });
        const x3 = rand([1, 2, 3, 3, 3]), w3 = rand([2, 2, 2, 2, 2]);
        assertClose(values(tr.conv3d(x3, w3, null, { padding: 1 })), refConv(x3, w3, convP(3, { padding: [[1, 1], [1, 1], [1, 1]] })).data, { rtol: 1e-12 });
        checkGrads((a, k, c) => tr.conv2d(a!, k!, c!, { stride: [2, 1], padding: "valid", dilation: [1, 2], groups: 2 }), [x, w, b]);
      }));

    test("convTranspose2d: PyTorch's definition with stride, padding, output padding, dilation and groups", () =>
      withBackend(backend, () => {
        const rand = randomTensors(41);
        const cases: [number[], number[], number[], number[], number[], number[], number][] = [
          [[2, 4, 3, 4], [4, 3, 3, 3], [2, 2], [1, 1], [1, 1], [1, 1], 1],
          [[1, 4, 3, 3], [4, 2, 2, 3], [3, 2], [0, 1], [2, 0], [1, 2], 2],
          [[2, 6, 4, 2], [6, 1, 3, 2], [1, 2], [2, 0], [0, 1], [2, 1], 3],
        ];
        for (const [xs, ws, stride, pad, outPad, dil, groups] of cases) {
          const x = rand(xs), w = rand(ws), b = rand([ws[1]! * groups]);
          const ref = refConvTranspose(x, w, stride, pad, outPad, dil, groups);
          const f = (a: tr.Tensor, k: tr.Tensor) => tr.convTranspose2d(a, k, null, { stride, padding: pad, outputPadding: outPad, dilation: dil, groups });
          const out = f(x, w);
          assert.deepEqual(out.shape, ref.shape);
          assertClose(values(out), ref.data, { rtol: 1e-12, atol: 1e-12 });
          checkGrads((a, k, c) => tr.convTranspose2d(a!, k!, c!, { stride, padding: pad, outputPadding: outPad, dilation: dil, groups }), [x, w, b]);
        }
        // a transposed conv is the adjoint of the conv with the same settings (PyTorch's conv_transpose
        // is the gradient of conv2d w.r.t. its input)
        const x = rand([2, 3, 7, 7]), w = rand([4, 3, 3, 3]);
        const y = rand([2, 4, 4, 4]);
        const lhs = tr.sum(tr.mul(tr.conv2d(x, w, null, { stride: 2, padding: 1 }), y)).item();
        const rhs = tr.sum(tr.mul(x, tr.convTranspose2d(y, w, null, { stride: 2, padding: 1, outputPadding: 0 }))).item();
        assert.ok(Math.abs(lhs - rhs) < 1e-10, `<conv x, y> = ${lhs} but <x, convT y> = ${rhs}`);
      }));

    test("max/avg pooling: ceil mode, dilation, countIncludePad, unbatched, against the definition", () =>
      withBackend(backend, () => {
        const x = distinct([2, 3, 7, 6], 51);
        const mcases: [number[], number[], number[], number[], boolean][] = [
          [[2, 2], [2, 2], [0, 0], [1, 1], false],
          [[3, 3], [2, 2], [1, 1], [1, 1], true],
          [[3, 2], [2, 3], [1, 1], [2, 1], true],
          [[2, 3], [1, 2], [0, 1], [1, 2], false],
        ];
        for (const [k, s, p, d, ceil] of mcases) {
          const ref = refPool(x, "max", k, s, p, d, ceil);
          const out = tr.maxPool2d(x, { kernelSize: k, stride: s, padding: p, dilation: d, ceilMode: ceil });
          assert.deepEqual(out.shape, ref.shape, `max pool ${JSON.stringify([k, s, p, d, ceil])}`);
          assertClose(values(out), ref.data, { rtol: 1e-12 });
          checkGrads((a) => tr.maxPool2d(a!, { kernelSize: k, stride: s, padding: p, dilation: d, ceilMode: ceil }), [x]);
        }
        const acases: [number[], number[], number[], boolean, boolean][] = [
          [[2, 2], [2, 2], [0, 0], false, true],
          [[3, 3], [2, 2], [1, 1], true, true],
          [[3, 3], [2, 2], [1, 1], true, false],
          [[2, 3], [3, 2], [1, 0], false, false],
        ];
        for (const [k, s, p, ceil, inc] of acases) {
          const ref = refPool(x, "avg", k, s, p, [1, 1], ceil, inc);
          const out = tr.avgPool2d(x, { kernelSize: k, stride: s, padding: p, ceilMode: ceil, countIncludePad: inc });
          assert.deepEqual(out.shape, ref.shape, `avg pool ${JSON.stringify([k, s, p, ceil, inc])}`);
          assertClose(values(out), ref.data, { rtol: 1e-12 });
          checkGrads((a) => tr.avgPool2d(a!, { kernelSize: k, stride: s, padding: p, ceilMode: ceil, countIncludePad: inc }), [x]);
        }
        // stride defaults to the kernel; divisorOverride; unbatched input; 1-D pools; int max pool keeps its dtype
        assertClose(values(tr.maxPool2d(x, { kernelSize: 2 })), refPool(x, "max", [2, 2], [2, 2], [0, 0], [1, 1], false).data, { rtol: 1e-12 });
        assertClose(values(tr.avgPool2d(x, { kernelSize: 2, divisorOverride: 3 })), refPool(x, "avg", [2, 2], [2, 2], [0, 0], [1, 1], false).data.map((v) => (v * 4) / 3), { rtol: 1e-12 });
        const x0 = sliceAxis(x, 0, 0);
        assertClose(values(tr.maxPool2d(x0, { kernelSize: 3, stride: 2, padding: 1 })), values(sliceAxis(tr.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), 0, 0)), { rtol: 1e-12 });
        const x1 = tr.reshape(x, [2, 3, 42]);
        assertClose(values(tr.maxPool1d(x1, { kernelSize: 3, stride: 2, padding: 1 })), values(tr.squeeze(tr.maxPool2d(tr.reshape(x1, [2, 3, 1, 42]), { kernelSize: [1, 3], stride: [1, 2], padding: [0, 1] }), 2)), { rtol: 1e-12 });
        assertClose(values(tr.avgPool1d(x1, { kernelSize: 4 })), values(tr.squeeze(tr.avgPool2d(tr.reshape(x1, [2, 3, 1, 42]), { kernelSize: [1, 4] }), 2)), { rtol: 1e-12 });
        const xi = tr.tensor([[[[1, -5], [3, -2]]]], "int32");
        const mi = tr.maxPool2d(xi, { kernelSize: 2, padding: 1, stride: 1 });
        assert.equal(mi.dtype, "int32");
        assert.deepEqual(values(mi), [1, 1, -5, 3, 3, -2, 3, 3, -2]);
      }));

    test("adaptiveAvgPool2d against PyTorch's window rule", () =>
      withBackend(backend, () => {
        const x = randomTensors(61)([2, 3, 7, 5]);
        const xv = values(x);
        for (const [oh, ow] of [[3, 2], [1, 1], [7, 5], [4, 4]] as const) {
          const ref: number[] = [];
          for (let nc = 0; nc < 6; nc++)
            for (let i = 0; i < oh; i++)
              for (let j = 0; j < ow; j++) {
                const h0 = Math.floor((i * 7) / oh), h1 = Math.ceil(((i + 1) * 7) / oh), w0 = Math.floor((j * 5) / ow), w1 = Math.ceil(((j + 1) * 5) / ow);
                let s = 0;
                for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += xv[(nc * 7 + h) * 5 + w]!;
                ref.push(s / ((h1 - h0) * (w1 - w0)));
              }
          const out = tr.adaptiveAvgPool2d(x, [oh, ow]);
          assert.deepEqual(out.shape, [2, 3, oh, ow]);
          assertClose(values(out), ref, { rtol: 1e-12 });
        }
        assert.deepEqual(tr.adaptiveAvgPool2d(x, [null, 2]).shape, [2, 3, 7, 2]);
        assert.deepEqual(tr.adaptiveAvgPool2d(sliceAxis(x, 0, 0), 2).shape, [3, 2, 2]);
        checkGrads((a) => tr.adaptiveAvgPool2d(a!, [3, 2]), [x]);
      }));

    test("vmap of conv2d and pooling equals a loop; jit equals eager", () =>
      withBackend(backend, () => {
        const rand = randomTensors(71);
        const xb = rand([3, 2, 4, 6, 6]), w = rand([6, 2, 3, 3]), wb = rand([3, 6, 2, 3, 3]), b = rand([6]);
        const net = (x: tr.Tensor, k: tr.Tensor) => {
          const h = tr.maximum(tr.conv2d(x, k, b, { padding: 1, groups: 2 }), 0);
          return tr.adaptiveAvgPool2d(tr.avgPool2d(tr.maxPool2d(h, { kernelSize: 3, stride: 2, padding: 1 }), { kernelSize: 2, stride: 1 }), 1);
        };
        const tol = { rtol: 1e-12, atol: 1e-12 };
        assertClose(values(tr.vmap(net, { inAxes: [0, null] })(xb, w) as tr.Tensor), values(loop(3, (i) => net(sliceAxis(xb, 0, i), w))), tol);
        assertClose(values(tr.vmap(net, { inAxes: [0, 0] })(xb, wb) as tr.Tensor), values(loop(3, (i) => net(sliceAxis(xb, 0, i), sliceAxis(wb, 0, i)))), tol);
        const ct = (x: tr.Tensor, k: tr.Tensor) => tr.convTranspose2d(x, k, null, { stride: 2, padding: 1, outputPadding: 1, groups: 2 });
        const kt = rand([4, 3, 3, 3]);
        assertClose(values(tr.vmap(ct, { inAxes: [0, null] })(xb, kt) as tr.Tensor), values(loop(3, (i) => ct(sliceAxis(xb, 0, i), kt))), tol);
        const x = sliceAxis(xb, 0, 0);
        assertClose(values(tr.jit(net)(x, w) as tr.Tensor), values(net(x, w)), tol);
        const g = (a: tr.Tensor, k: tr.Tensor) => tr.sum(tr.mul(net(a, k), net(a, k)));
        const gj = tr.jit(tr.grad(g, { argnums: [0, 1] }))(x, w) as tr.Tensor[];
        const ge = tr.grad(g, { argnums: [0, 1] })(x, w) as tr.Tensor[];
        assertClose(values(gj[0]!), values(ge[0]!), tol);
        assertClose(values(gj[1]!), values(ge[1]!), tol);
        // PyTorch-style autograd through conv
        const leaf = tr.fromTypedArray(Float64Array.from(values(w)), w.shape, "float64").requiresGrad_();
        tr.sum(tr.conv2d(x, leaf, null, { padding: 1, groups: 2 })).backward();
        assertClose(values(leaf.grad!), values(tr.grad((k: tr.Tensor) => tr.sum(tr.conv2d(x, k, null, { padding: 1, groups: 2 })))(w) as tr.Tensor), tol);
      }));

    test("errors name the op, the argument and the shapes", () =>
      withBackend(backend, () => {
        const x = tr.zeros([1, 4, 5, 5]);
        assert.throws(() => tr.conv2d(x, tr.zeros([2, 3, 3, 3])), /conv2d: weight \[2,3,3,3\] expects 3 input channels \(3 per group x 1 groups\) but input \[1,4,5,5\] has 4/);
        assert.throws(() => tr.conv2d(x, tr.zeros([3, 2, 3, 3]), null, { groups: 2 }), /conv2d: weight \[3,2,3,3\] has 3 output channels, not divisible by groups = 2/);
        assert.throws(() => tr.conv2d(tr.zeros([4, 5]), tr.zeros([2, 4, 3, 3])), /conv2d: input must have shape \[N, C, H, W\] or \[C, H, W\], got \[4,5\]/);
        assert.throws(() => tr.conv2d(x, tr.zeros([2, 4, 3])), /conv2d: weight must have shape \[out, in\/groups, H, W\], got \[2,4,3\]/);
        assert.throws(() => tr.conv2d(x, tr.zeros([2, 4, 7, 7])), /conv2d: kernel \[7,7\] \(dilation \[1,1\]\) is larger than the padded input \[1,4,5,5\]/);
        assert.throws(() => tr.conv2d(x, tr.zeros([2, 4, 3, 3]), tr.zeros([3])), /conv2d: bias must have shape \[2\] \(one per output channel\), got \[3\]/);
        assert.throws(() => tr.conv2d(x, tr.zeros([2, 4, 3, 3]), null, { padding: "same", stride: 2 }), /conv2d: padding "same" needs stride 1/);
        assert.throws(() => tr.conv2d(x, tr.zeros([2, 4, 3, 3]), null, { stride: [1, 2, 3] }), /conv2d: stride needs 2 values \(one per spatial axis\)/);
        assert.throws(() => tr.conv1d(tr.zeros([1, 2, 5]), tr.zeros([2, 2, 3]), null, { padding: -1 }), /conv1d: padding must be non-negative integers/);
        assert.throws(() => tr.convTranspose2d(x, tr.zeros([3, 2, 3, 3])), /convTranspose2d: weight \[3,2,3,3\] expects 3 input channels but input \[1,4,5,5\] has 4/);
        assert.throws(() => tr.convTranspose2d(x, tr.zeros([4, 2, 3, 3]), null, { stride: 2, outputPadding: 2 }), /convTranspose2d: outputPadding \[2,2\] must be smaller than either stride \[2,2\] or dilation \[1,1\]/);
        assert.throws(() => tr.maxPool2d(x, { kernelSize: 2, padding: 2 }), /maxPool2d: padding 2 must be at most half the kernel size \[2,2\]/);
        assert.throws(() => tr.avgPool2d(x, { kernelSize: 6 }), /avgPool2d: kernel \[6,6\] is larger than the padded input \[1,4,5,5\]/);
        assert.throws(() => conv(x, tr.zeros([2, 4, 3, 3], "int32"), convP(2)), /conv: lhs has dtype float32 but rhs has int32/);
        assert.throws(() => conv(x, tr.zeros([2, 3, 3, 3]), convP(2, { featureGroupCount: 2 })), /conv: lhs has 4 features but rhs expects 3 per group × 2 groups = 6/);
        assert.throws(() => conv(x, tr.zeros([2, 4, 3, 3]), convP(2, { featureGroupCount: 2, batchGroupCount: 2 })), /conv: featureGroupCount 2 and batchGroupCount 2 cannot both exceed 1/);
        assert.throws(() => conv(x, tr.zeros([2, 4, 3, 3]), convP(2, { lhsSpec: [0, 1, 2, 2] })), /conv: lhsSpec \[0,1,2,2\] is not a permutation of 4 axes/);
      }));
  });
}
