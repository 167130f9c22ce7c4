// LSTM / GRU / RNN: one step against the gate equations in plain JS, and PyTorch references with gradients.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as nn from "../../src/nn/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";
import { assertFix, fixture, stateOf, T, type FixTensor, type NnCase } from "./fixtures.js";

type Tensor = tr.Tensor;
const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** W [rows, cols] (row-major) times v, plus b, for rows r0..r0+n. */
function affineRows(W: number[], cols: number, v: number[], b: number[] | null, r0: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    let s = b ? b[r0 + i]! : 0;
    for (let j = 0; j < cols; j++) s += W[(r0 + i) * cols + j]! * v[j]!;
    return s;
  });
}

/** One LSTM step for one example (PyTorch gate order i, f, g, o). */
function lstmStep(p: Record<string, number[]>, I: number, H: number, x: number[], h: number[], c: number[]): [number[], number[]] {
  const gate = (k: number) => {
    const a = affineRows(p["weight_ih_l0"]!, I, x, p["bias_ih_l0"]!, k * H, H);
    const b = affineRows(p["weight_hh_l0"]!, H, h, p["bias_hh_l0"]!, k * H, H);
    return a.map((v, i) => v + b[i]!);
  };
  const i = gate(0).map(sig), f = gate(1).map(sig), g = gate(2).map(Math.tanh), o = gate(3).map(sig);
  const c2 = c.map((cv, k) => f[k]! * cv + i[k]! * g[k]!);
  return [c2.map((cv, k) => o[k]! * Math.tanh(cv)), c2];
}

/** One GRU step for one example (gates r, z, n; b_hn inside the reset product). */
function gruStep(p: Record<string, number[]>, I: number, H: number, x: number[], h: number[]): number[] {
  const gi = (k: number) => affineRows(p["weight_ih_l0"]!, I, x, p["bias_ih_l0"]!, k * H, H);
  const gh = (k: number) => affineRows(p["weight_hh_l0"]!, H, h, p["bias_hh_l0"]!, k * H, H);
  const r = gi(0).map((v, k) => sig(v + gh(0)[k]!));
  const z = gi(1).map((v, k) => sig(v + gh(1)[k]!));
  const n = gi(2).map((v, k) => Math.tanh(v + r[k]! * gh(2)[k]!));
  return n.map((nv, k) => (1 - z[k]!) * nv + z[k]! * h[k]!);
}

const numbers = (m: nn.Module) => Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [k, values(v)]));

/** Module output(s) for a fixture case, then the backward of sum(out·ct) against PyTorch's gradients. */
function checkRnnCase(c: NnCase, m: nn.LSTM | nn.GRU): void {
  m.loadStateDict(stateOf(c));
  const x = T(c.inputs.x as FixTensor);
  x.requiresGrad = true;
  const h0 = c.inputs.h0 ? T(c.inputs.h0 as FixTensor) : null;
  const c0 = c.inputs.c0 ? T(c.inputs.c0 as FixTensor) : null;
  const outs: Tensor[] = m instanceof nn.LSTM ? (([o, [h, cc]]) => [o, h, cc])(m.forward(x, h0 && c0 ? [h0, c0] : null)) : m.forward(x, h0);
  outs.forEach((o, i) => assertFix(o, c.outputs[i]!, `${c.id} output ${i}`));
  outs.map((o, i) => o.mul(T(c.cotangents![i]!)).sum()).reduce((a, b) => a.add(b)).backward();
  assertFix(x.grad!, c.inputGrads![0]!, `${c.id} d/dx`);
  for (const [k, p] of m.namedParameters()) assertFix(p.grad!, c.paramGrads![k]!, `${c.id} d/d${k}`);
}

for (const backend of BACKENDS) {
  describe(`recurrent layers [${backend}]`, () => {
    test("LSTM one step equals the gate equations (i, f, g, o) computed in JS", () =>
      withBackend(backend, () => {
        tr.manualSeed(10);
        const I = 3, H = 4, N = 2;
        const lstm = new nn.LSTM(I, H, { dtype: "float64" });
        const p = numbers(lstm);
        const x = tr.randn([1, N, I], { dtype: "float64" }), h0 = tr.randn([1, N, H], { dtype: "float64" }), c0 = tr.randn([1, N, H], { dtype: "float64" });
        const [out, [hn, cn]] = lstm.forward(x, [h0, c0]);
        const xv = values(x), hv = values(h0), cv = values(c0);
        const eh: number[] = [], ec: number[] = [];
        for (let b = 0; b < N; b++) {
          const [h, c] = lstmStep(p, I, H, xv.slice(b * I, b * I + I), hv.slice(b * H, b * H + H), cv.slice(b * H, b * H + H));
          eh.push(...h);
          ec.push(...c);
        }
        assertClose(values(out), eh, { rtol: 1e-12 });
        assertClose(values(hn), eh, { rtol: 1e-12 });
        assertClose(values(cn), ec, { rtol: 1e-12 });
        // the cell with the same weights takes the same step
        const cell = new nn.LSTMCell(I, H, { dtype: "float64" });
        cell.loadStateDict({ weight_ih: lstm.stateDict()["weight_ih_l0"]!, weight_hh: lstm.stateDict()["weight_hh_l0"]!, bias_ih: lstm.stateDict()["bias_ih_l0"]!, bias_hh: lstm.stateDict()["bias_hh_l0"]! });
        const [ch, cc] = cell.forward(x.reshape([N, I]), [h0.reshape([N, H]), c0.reshape([N, H])]);
        assertClose(values(ch), eh, { rtol: 1e-12 });
        assertClose(values(cc), ec, { rtol: 1e-12 });
        // two steps from zero state, unbatched
        const seq = tr.randn([2, I], { dtype: "float64" });
        const [o2] = lstm.forward(seq);
        const s = values(seq);
        const [h1, c1] = lstmStep(p, I, H, s.slice(0, I), [0, 0, 0, 0], [0, 0, 0, 0]);
        const [h2] = lstmStep(p, I, H, s.slice(I), h1, c1);
        assert.deepEqual(o2.shape, [2, H]);
        assertClose(values(o2), [...h1, ...h2], { rtol: 1e-12 });
      }));

    test("GRU one step equals the gate equations (r, z, n with b_hn inside the reset product)", () =>
      withBackend(backend, () => {
        tr.manualSeed(11);
        const I = 2, H = 3, N = 2;
        const gru = new nn.GRU(I, H, { dtype: "float64", batchFirst: true });
        const p = numbers(gru);
        const x = tr.randn([N, 1, I], { dtype: "float64" }), h0 = tr.randn([1, N, H], { dtype: "float64" });
        const [out, hn] = gru.forward(x, h0);
        const xv = values(x), hv = values(h0);
        const e: number[] = [];
        for (let b = 0; b < N; b++) e.push(...gruStep(p, I, H, xv.slice(b * I, b * I + I), hv.slice(b * H, b * H + H)));
        assert.deepEqual(out.shape, [N, 1, H]);
        assertClose(values(out), e, { rtol: 1e-12 });
        assertClose(values(hn), e, { rtol: 1e-12 });
        const cell = new nn.GRUCell(I, H, { dtype: "float64" });
        cell.loadStateDict(Object.fromEntries(Object.entries(gru.stateDict()).map(([k, v]) => [k.replace("_l0", ""), v])));
        assertClose(values(cell.forward(x.reshape([N, I]), h0.reshape([N, H]))), e, { rtol: 1e-12 });
        // Elman RNN, relu
        const rnn = new nn.RNN(I, H, { nonlinearity: "relu", dtype: "float64" });
        const q = numbers(rnn);
        const [ro] = rnn.forward(x.reshape([1, N, I]));
        const er: number[] = [];
        for (let b = 0; b < N; b++) {
          const a = affineRows(q["weight_ih_l0"]!, I, xv.slice(b * I, b * I + I), q["bias_ih_l0"]!, 0, H);
          er.push(...a.map((v, k) => Math.max(0, v + q["bias_hh_l0"]![k]!)));
        }
        assertClose(values(ro), er, { rtol: 1e-12 });
      }));

    test("multi-layer, bidirectional, batch-first LSTM and GRU match PyTorch, forward and backward", () =>
      withBackend(backend, () => {
        checkRnnCase(fixture("lstm/2layer_bidir"), new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true, dtype: "float64" }));
        checkRnnCase(fixture("lstm/batch_first"), new nn.LSTM(3, 5, { batchFirst: true, dtype: "float64" }));
        checkRnnCase(fixture("gru/2layer_bidir_bf"), new nn.GRU(3, 4, { numLayers: 2, bidirectional: true, batchFirst: true, dtype: "float64" }));
        const nb = new nn.GRU(2, 3, { bias: false, dtype: "float64" });
        assert.deepEqual(Object.keys(nb.stateDict()), ["weight_ih_l0", "weight_hh_l0"]);
        checkRnnCase(fixture("gru/nobias"), nb);
      }));

    test("the lax.scan time loop equals the JavaScript loop: outputs, tape gradients, jit(grad)", () =>
      withBackend(backend, () => {
        tr.manualSeed(13);
        const loop = new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true, dtype: "float64" });
        const scanned = new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true, dtype: "float64", scan: true });
        scanned.loadStateDict(loop.stateDict());
        const x = tr.randn([5, 2, 3], { dtype: "float64" });
        const loss = (m: nn.LSTM) => {
          const [o, [h, c]] = m.forward(x);
          return o.square().sum().add(h.sum()).add(c.mul(c).sum());
        };
        assertClose(values(loss(scanned)), values(loss(loop)), { rtol: 1e-12 });
        loss(loop).backward();
        loss(scanned).backward();
        for (const [k, p] of loop.namedParameters()) assertClose(values(scanned.stateDict()[k]!.grad!), values(p.grad!), { rtol: 1e-10, atol: 1e-14, msg: k });
        const gradFn = (m: nn.LSTM) => tr.jit((p: Record<string, Tensor>, xb: Tensor) => tr.grad((q: Record<string, Tensor>) => nn.functionalCall(m, q, xb)[0].square().sum())(p));
        const ga = gradFn(loop)(loop.stateDict(), x) as Record<string, Tensor>, gb = gradFn(scanned)(scanned.stateDict(), x) as Record<string, Tensor>;
        for (const k of Object.keys(ga)) assertClose(values(gb[k]!), values(ga[k]!), { rtol: 1e-10, atol: 1e-14, msg: `jit ${k}` });
        // one traced step instead of one per time step
        const size = (m: nn.LSTM) => tr.makeJaxpr((p: Record<string, Tensor>, xb: Tensor) => nn.functionalCall(m, p, xb)[0])(m.stateDict(), x).toString().length;
        assert.ok(size(scanned) < size(loop) / 2);
        const g1 = new nn.GRU(3, 4, { scan: true, batchFirst: true, bidirectional: true, dtype: "float64" });
        const g2 = new nn.GRU(3, 4, { batchFirst: true, bidirectional: true, dtype: "float64" });
        g2.loadStateDict(g1.stateDict());
        assertClose(values(g1.forward(x)[0]), values(g2.forward(x)[0]), { rtol: 1e-12 });
      }));

    test("jit and functionalCall reproduce the eager LSTM; inter-layer dropout only while training", () =>
      withBackend(backend, () => {
        tr.manualSeed(12);
        const lstm = new nn.LSTM(3, 4, { numLayers: 2, dropout: 0.5 });
        const x = tr.randn([5, 2, 3]);
        lstm.eval();
        const [eager] = lstm.forward(x);
        const f = tr.jit((p: Record<string, Tensor>, xb: Tensor) => nn.functionalCall(lstm, p, xb)[0]);
        assertClose(values(f(lstm.stateDict(), x) as Tensor), values(eager), { rtol: 1e-5, atol: 1e-6 });
        lstm.train();
        const k = tr.random.key(0);
        const [a] = lstm.forward(x, null, { key: k });
        const [b] = lstm.forward(x, null, { key: k });
        assert.deepEqual(values(a), values(b));
        assert.notDeepEqual(values(a), values(eager));
        assert.throws(() => lstm.forward(x, [tr.zeros([2, 2, 4]), tr.zeros([1, 2, 4])]), /LSTM: c0 must have shape \[2,2,4\]/);
        assert.throws(() => lstm.forward(tr.zeros([5, 2, 4])), /LSTM: input has 4 features but inputSize is 3/);
      }));
  });
}
