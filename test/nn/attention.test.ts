// MultiheadAttention and the Transformer encoder: a manual softmax(QKᵀ/√d)V and PyTorch references.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as nn from "../../src/nn/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";
import { assertFix, fixture, stateOf, T, type FixTensor, type NnCase } from "./fixtures.js";

type Tensor = tr.Tensor;

/** softmax(Q Kᵀ/√d + mask) V with the packed projection, all in plain JS, for one batch element. */
function manualMha(p: Record<string, number[]>, E: number, H: number, q: number[], kv: number[], L: number, S: number, masked: (l: number, s: number) => boolean): { out: number[]; weights: number[] } {
  const W = p["in_proj_weight"]!, B = p["in_proj_bias"]!, Wo = p["out_proj.weight"]!, Bo = p["out_proj.bias"]!;
  const proj = (x: number[], n: number, part: number) =>
    Array.from({ length: n }, (_, t) => Array.from({ length: E }, (_, j) => {
      let s = B[part * E + j]!;
      for (let i = 0; i < E; i++) s += W[(part * E + j) * E + i]! * x[t * E + i]!;
      return s;
    }));
  const Q = proj(q, L, 0), K = proj(kv, S, 1), V = proj(kv, S, 2);
  const d = E / H;
  const concat = Array.from({ length: L }, () => new Array<number>(E).fill(0));
  const avg = new Array<number>(L * S).fill(0);
  for (let h = 0; h < H; h++) {
    for (let l = 0; l < L; l++) {
      const sc = Array.from({ length: S }, (_, s) => {
        if (masked(l, s)) return -Infinity;
        let dot = 0;
        for (let j = 0; j < d; j++) dot += Q[l]![h * d + j]! * K[s]![h * d + j]!;
        return dot / Math.sqrt(d);
      });
      const m = Math.max(...sc);
      const e = sc.map((v) => Math.exp(v - m));
      const z = e.reduce((a, b) => a + b, 0);
      const w = e.map((v) => v / z);
      w.forEach((v, s) => (avg[l * S + s]! += v / H));
      for (let j = 0; j < d; j++) concat[l]![h * d + j] = w.reduce((a, v, s) => a + v * V[s]![h * d + j]!, 0);
    }
  }
  const out = concat.flatMap((row) => Array.from({ length: E }, (_, j) => row.reduce((a, v, i) => a + v * Wo[j * E + i]!, Bo[j]!)));
  return { out, weights: avg };
}

/** MHA fixture: outputs, weights, and the gradients of sum(out·ct) for inputs and parameters. */
function checkMhaCase(c: NnCase): void {
  const o = c.opts as { embed_dim: number; num_heads: number; batch_first?: boolean; kdim?: number; vdim?: number };
  const m = new nn.MultiheadAttention(o.embed_dim, o.num_heads, { batchFirst: o.batch_first, kdim: o.kdim, vdim: o.vdim, dtype: "float64" });
  m.loadStateDict(stateOf(c));
  const [q, k, v] = ["query", "key", "value"].map((n) => T(c.inputs[n] as FixTensor));
  for (const t of [q, k, v]) t!.requiresGrad = true;
  const mask = (n: string) => (c.inputs[n] ? T(c.inputs[n] as FixTensor) : null);
  const kpm = mask("keyPaddingMask"), am = mask("attnMask");
  const [out, w] = m.forward(q!, k!, v!, { keyPaddingMask: kpm && kpm.astype("bool"), attnMask: am && (c.inputs.attnMask as FixTensor).dtype === "bool" ? am.astype("bool") : am, averageAttnWeights: c.inputs.averageAttnWeights as boolean });
  assertFix(out, c.outputs[0]!, `${c.id} output`);
  assertFix(w!, c.outputs[1]!, `${c.id} weights`);
  out.mul(T(c.cotangents![0]!)).sum().backward();
  [q, k, v].forEach((t, i) => assertFix(t!.grad!, c.inputGrads![i]!, `${c.id} input grad ${i}`));
  for (const [name, p] of m.namedParameters()) assertFix(p.grad!, c.paramGrads![name]!, `${c.id} d/d${name}`);
}

for (const backend of BACKENDS) {
  describe(`attention and transformer [${backend}]`, () => {
    test("MultiheadAttention equals softmax(QKᵀ/√d)V with the packed in_proj layout, masks included", () =>
      withBackend(backend, () => {
        tr.manualSeed(20);
        const E = 4, H = 2, L = 2, S = 3;
        const m = new nn.MultiheadAttention(E, H, { batchFirst: true, dtype: "float64" });
        nn.init.normal_(m.inProjBias!, 0, 0.1);
        nn.init.normal_(m.outProj.bias!, 0, 0.1);
        const p = Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [k, values(v)]));
        const q = tr.randn([1, L, E], { dtype: "float64" }), kv = tr.randn([1, S, E], { dtype: "float64" });
        const plain = manualMha(p, E, H, values(q), values(kv), L, S, () => false);
        const [out, w] = m.forward(q, kv, kv);
        assertClose(values(out), plain.out, { rtol: 1e-10, atol: 1e-12 });
        assertClose(values(w!), plain.weights, { rtol: 1e-10, atol: 1e-12 });
        // bool attn mask (true = masked) and key padding mask (true = padding) combine
        const am = tr.tensor([[false, true, false], [false, false, true]]);
        const kpm = tr.tensor([[false, false, true]]);
        const masked = manualMha(p, E, H, values(q), values(kv), L, S, (l, s) => (l === 0 && s === 1) || (l === 1 && s === 2) || s === 2);
        const [out2, w2] = m.forward(q, kv, kv, { attnMask: am, keyPaddingMask: kpm });
        assertClose(values(out2), masked.out, { rtol: 1e-10, atol: 1e-12 });
        assertClose(values(w2!), masked.weights, { rtol: 1e-10, atol: 1e-12 });
        // the same masks as additive floats
        const [out3] = m.forward(q, kv, kv, { attnMask: tr.where(am, -Infinity, 0).astype("float64"), keyPaddingMask: tr.where(kpm, -Infinity, 0).astype("float64") });
        assertClose(values(out3), masked.out, { rtol: 1e-10, atol: 1e-12 });
        // isCausal is the upper-triangular mask; unbatched inputs drop the batch axis
        const xs = tr.randn([3, E], { dtype: "float64" });
        const [c1, cw] = m.forward(xs, xs, xs, { isCausal: true, averageAttnWeights: false });
        const [c2] = m.forward(xs, xs, xs, { attnMask: nn.generateSquareSubsequentMask(3, "float64") });
        assert.deepEqual(c1.shape, [3, E]);
        assert.deepEqual(cw!.shape, [H, 3, 3]);
        assertClose(values(c1), values(c2), { rtol: 1e-12 });
        assert.equal(values(cw!)[1], 0);
        assert.equal(m.forward(xs, xs, xs, { needWeights: false })[1], null);
        assert.throws(() => m.forward(q, kv, kv, { attnMask: tr.zeros([3, 3]) }), /MultiheadAttention: attnMask must be \[2, 3\] or \[2, 2, 3\]/);
        assert.throws(() => m.forward(q, kv, kv, { keyPaddingMask: tr.zeros([1, 2]) }), /keyPaddingMask must be \[1,3\], got \[1,2\]/);
        assert.throws(() => m.forward(q, tr.zeros([1, S, 5]), kv), /key must have rank 3 and 4 features/);
        assert.throws(() => new nn.MultiheadAttention(6, 4), /embedDim 6 must be divisible by numHeads 4/);
      }));

    test("MultiheadAttention matches PyTorch: masks, sequence-first, separate k/v projections, gradients", () =>
      withBackend(backend, () => {
        checkMhaCase(fixture("mha/batch_first_masks"));
        checkMhaCase(fixture("mha/seq_first_plain"));
        const c = fixture("mha/kdim_vdim_float_mask_per_head");
        assert.deepEqual(Object.keys(c.state).sort(), ["in_proj_bias", "k_proj_weight", "out_proj.bias", "out_proj.weight", "q_proj_weight", "v_proj_weight"]);
        checkMhaCase(c);
      }));

    test("TransformerEncoderLayer (post-norm relu, pre-norm gelu) and TransformerEncoder match PyTorch", () =>
      withBackend(backend, () => {
        for (const id of ["encoder_layer/post_norm_relu", "encoder_layer/pre_norm_gelu"]) {
          const c = fixture(id);
          const o = c.opts as { d_model: number; nhead: number; dim_feedforward: number; batch_first?: boolean; norm_first?: boolean; activation?: "gelu" };
          const layer = new nn.TransformerEncoderLayer(o.d_model, o.nhead, { dimFeedforward: o.dim_feedforward, batchFirst: o.batch_first, normFirst: o.norm_first, activation: o.activation, dropout: 0, dtype: "float64" });
          layer.loadStateDict(stateOf(c));
          const x = T(c.inputs.x as FixTensor);
          const kpm = c.inputs.srcKeyPaddingMask ? T(c.inputs.srcKeyPaddingMask as FixTensor).astype("bool") : null;
          // gradients through the functional form (vjp of functionalCall)
          const f = (p: Record<string, Tensor>, xb: Tensor) => nn.functionalCall(layer, p, xb, { srcKeyPaddingMask: kpm });
          const [y, back] = tr.vjp(f, layer.stateDict(), x);
          assertFix(y as Tensor, c.outputs[0]!, `${id} output`);
          const [gp, gx] = back(T(c.cotangents![0]!)) as [Record<string, Tensor>, Tensor];
          assertFix(gx, c.inputGrads![0]!, `${id} d/dx`);
          for (const k of Object.keys(c.paramGrads!)) assertFix(gp[k]!, c.paramGrads![k]!, `${id} d/d${k}`);
        }
        const c = fixture("encoder/2layer_norm_causal");
        const enc = new nn.TransformerEncoder(new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, batchFirst: true, dropout: 0, dtype: "float64" }), 2, { norm: new nn.LayerNorm(8, { dtype: "float64" }) });
        assert.deepEqual(Object.keys(enc.stateDict()).sort(), Object.keys(c.state).sort());
        enc.loadStateDict(stateOf(c));
        assertFix(enc.forward(T(c.inputs.x as FixTensor), { isCausal: true }), c.outputs[0]!, "encoder");
      }));

    test("TransformerEncoder copies its layer; dropout draws from the call's key; jit matches eager", () =>
      withBackend(backend, () => {
        tr.manualSeed(21);
        const layer = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0.2 });
        const enc = new nn.TransformerEncoder(layer, 2);
        const sd = enc.stateDict();
        for (const [k, v] of Object.entries(layer.stateDict())) {
          assert.deepEqual(values(sd[`layers.0.${k}`]!), values(v));
          assert.deepEqual(values(sd[`layers.1.${k}`]!), values(v));
          assert.notEqual(sd[`layers.1.${k}`], v);
        }
        const x = tr.randn([3, 2, 8]);
        const k = tr.random.key(5);
        const a = enc.forward(x, { key: k }), b = enc.forward(x, { key: k });
        assert.deepEqual(values(a), values(b));
        assert.notDeepEqual(values(enc.forward(x, { key: tr.random.key(6) })), values(a));
        const f = tr.jit((p: Record<string, Tensor>, xb: Tensor, key: Tensor) => nn.withRng(key, () => nn.functionalCall(enc, p, xb)));
        assertClose(values(f(sd, x, k) as Tensor), values(a), { rtol: 1e-5, atol: 1e-6 });
        enc.eval();
        const e1 = enc.forward(x);
        assertClose(values(tr.jit((p: Record<string, Tensor>, xb: Tensor) => nn.functionalCall(enc, p, xb))(sd, x) as Tensor), values(e1), { rtol: 1e-5, atol: 1e-6 });
        assert.throws(() => new nn.TransformerEncoderLayer(8, 2, { activation: "tanh" as "relu" }), /activation must be "relu", "gelu" or a function/);
      }));
  });
}
