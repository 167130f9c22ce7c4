/** Attention-family operators: Attention, RotaryEmbedding, LinearAttention, CausalConvWithState. */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import * as R from "../../core/prims/reduce.js";
import * as S from "../../core/prims/structural.js";
import { take } from "../../ops/indexing.js";
import { matmul } from "../../ops/linalg.js";
import type { Tensor } from "../../tensor.js";
import { def, out, tin, topt } from "./registry.js";
import { convCore } from "./nn.js";
import { bcast, bcastTo, held, lit, range } from "./util.js";

/** [B, T, H*D] → [B, H, T, D]. */
function heads(t: Tensor, h: number): Tensor {
  const [b, s, hd] = t.shape as [number, number, number];
  if (!Number.isInteger(h) || h < 1 || hd % h) fail("Attention", `hidden size ${hd} is not divisible by ${h} heads`);
  return S.transpose(S.reshape(t, [b, s, h, hd / h]), [0, 2, 1, 3]);
}
/** [B, H, T, D] → [B, T, H*D]. */
const unheads = (t: Tensor): Tensor => {
  const [b, h, s, d] = t.shape as [number, number, number, number];
  return S.reshape(S.transpose(t, [0, 2, 1, 3]), [b, s, h * d]);
};
/** Repeat each head `r` times in place ([h0, h0, h1, h1, ...]). */
function repeatHeads(t: Tensor, r: number): Tensor {
  if (r === 1) return t;
  const [b, h, s, d] = t.shape as [number, number, number, number];
  return S.reshape(S.broadcastInDim(t, [b, h, r, s, d], [0, 1, 3, 4]), [b, h * r, s, d]);
}

/** Softmax over the last axis that returns NaN for all -inf rows, as the reference does. */
function softmaxLast(x: Tensor): Tensor {
  const ax = x.ndim - 1;
  const kept = range(x.ndim).filter((d) => d !== ax);
  const m = S.broadcastInDim(R.reduceMax(x, [ax]), x.shape, kept);
  const e = E.exp(E.sub(x, m));
  return E.div(e, S.broadcastInDim(R.reduceSum(e, [ax]), x.shape, kept));
}

def("Attention", (ins, ctx) => {
  const qv = tin(ins, 0, ctx, "Q"), kv = tin(ins, 1, ctx, "K"), vv = tin(ins, 2, ctx, "V");
  const mask = topt(ins, 3, ctx, "attn_mask"), pk = topt(ins, 4, ctx, "past_key"), pv = topt(ins, 5, ctx, "past_value");
  const nonpad = topt(ins, 6, ctx, "nonpad_kv_seqlen");
  const a = ctx.attrs;
  const rank3 = qv.rank === 3;
  let Q = qv.t, K = E.convert(kv.t, Q.dtype), V = E.convert(vv.t, Q.dtype);
  const qh = a.int("q_num_heads"), kh = a.int("kv_num_heads");
  if (rank3) {
    if (!qh || !kh) fail(ctx.op, "3-D inputs need q_num_heads and kv_num_heads");
    Q = heads(Q, qh);
    K = heads(K, kh);
    V = heads(V, kh);
  } else if (qv.rank !== 4) fail(ctx.op, `Q must be 3-D or 4-D, got ${fmtShape(qv.shape)}`);
  const scaleAttr = a.float("scale");
  const scale = Math.sqrt(scaleAttr ?? 1 / Math.sqrt(Q.shape[3]!));
  if (pk) K = S.concatenate([E.convert(pk.t, K.dtype), K], 2);
  if (pv) V = S.concatenate([E.convert(pv.t, V.dtype), V], 2);
  const presentK = K, presentV = V;
  const qLen = Q.shape[2]!, kvLen = K.shape[2]!;
  const dt = Q.dtype;
  const negInf = (shape: number[]) => full(shape, -Infinity, dt);
  let bias: Tensor = full([qLen, kvLen], 0, dt);
  let m: Tensor | null = mask ? mask.t : null;
  if (m && m.shape[m.ndim - 1]! < kvLen) {
    const padW = kvLen - m.shape[m.ndim - 1]!;
    const zeros = m.shape.map(() => 0);
    m = m.dtype === "bool" ? S.pad(m, zeros, zeros.map((_, i) => (i === m!.ndim - 1 ? padW : 0)), undefined, 0) : S.pad(m, zeros, zeros.map((_, i) => (i === m!.ndim - 1 ? padW : 0)), undefined, -Infinity);
  }
  const past = pk ? pk.shape[2]! : 0;
  if (a.int("is_causal", 0)) {
    // -inf above the diagonal of the new keys (upper-left aligned after the past)
    const rows = S.iota([qLen, kvLen], 0, "int32"), cols = S.iota([qLen, kvLen], 1, "int32");
    const masked = E.and(E.greaterEqual(cols, full([qLen, kvLen], past, "int32")), E.greater(E.sub(cols, full([qLen, kvLen], past, "int32")), rows));
    const causal = E.select(masked, negInf([qLen, kvLen]), full([qLen, kvLen], 0, dt));
    if (m) {
      // the reference turns a bool mask into (1 - mask) * -inf, which is NaN where the mask is true
      const mb = m.dtype === "bool" ? E.select(m, full(m.shape, NaN, dt), negInf(m.shape)) : E.convert(m, dt);
      bias = E.add(...(bcast(ctx, mb, causal) as [Tensor, Tensor]));
    } else bias = causal;
  } else if (m) {
    const mb = m.dtype === "bool" ? E.select(m, full(m.shape, 0, dt), negInf(m.shape)) : E.convert(m, dt);
    bias = E.add(...(bcast(ctx, bias, mb) as [Tensor, Tensor]));
  }
  if (nonpad) {
    const B = Q.shape[0]!;
    const lens = S.broadcastInDim(E.convert(nonpad.t, "int32"), [B, 1, 1, kvLen], [0]);
    const padMask = E.select(E.less(S.iota([B, 1, 1, kvLen], 3, "int32"), lens), full([B, 1, 1, kvLen], 0, dt), negInf([B, 1, 1, kvLen]));
    bias = E.add(...(bcast(ctx, bias, padMask) as [Tensor, Tensor]));
  }
  const hq = Q.shape[1]!, hk = K.shape[1]!;
  if (hq !== hk && hq % hk === 0) {
    K = repeatHeads(K, hq / hk);
    V = repeatHeads(V, hq / hk);
  }
  let qk = matmul(E.mul(Q, lit(Q, scale)), S.transpose(E.mul(K, lit(K, scale)), [0, 1, 3, 2]));
  const softcap = a.float("softcap");
  if (softcap !== undefined && softcap > 0) qk = E.mul(E.tanh(E.div(qk, lit(qk, softcap))), lit(qk, softcap));
  const [qkb, bb] = bcast(ctx, qk, bias) as [Tensor, Tensor];
  let withBias = E.add(qkb, bb);
  const mode = a.int("qk_matmul_output_mode", 0);
  let qkOut = mode === 2 ? withBias : qk;
  const prec = a.int("softmax_precision");
  if (prec !== undefined) withBias = E.convert(withBias, held(prec));
  const probs = softmaxLast(withBias);
  if (mode === 3) qkOut = probs;
  let y = matmul(E.convert(probs, dt), V);
  if (rank3) y = unheads(y);
  return [out(y, qv.elem), out(presentK, qv.elem), out(presentV, qv.elem), out(E.convert(qkOut, dt), qv.elem)];
});

def("RotaryEmbedding", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), cv = tin(ins, 1, ctx, "cos_cache"), sv = tin(ins, 2, ctx, "sin_cache");
  const pv = topt(ins, 3, ctx, "position_ids");
  const interleaved = ctx.attrs.int("interleaved", 0) !== 0;
  const nh = ctx.attrs.int("num_heads", 0);
  let x = xv.t;
  // work in [B, T, H, D]
  if (x.ndim === 4) x = S.transpose(x, [0, 2, 1, 3]);
  else if (x.ndim === 3) {
    if (!nh) fail(ctx.op, "3-D input needs num_heads");
    const [b, t, hd] = x.shape as [number, number, number];
    if (!Number.isInteger(nh) || nh < 1 || hd % nh) fail(ctx.op, `hidden size ${hd} is not divisible by num_heads ${nh}`);
    x = S.reshape(x, [b, t, nh, hd / nh]);
  } else fail(ctx.op, `input must be 3-D or 4-D, got ${fmtShape(xv.shape)}`);
  const [B, T, H, D] = x.shape as [number, number, number, number];
  const rd = ctx.attrs.int("rotary_embedding_dim", 0) || D;
  if (rd % 2 || rd > D || rd < 0) fail(ctx.op, `rotary_embedding_dim ${rd} must be even and at most the head size ${D}`);
  let cos = E.convert(cv.t, x.dtype), sin = E.convert(sv.t, x.dtype);
  if (pv) {
    const pos = E.convert(pv.t, "int32");
    const flat = S.reshape(pos, [pos.size]);
    cos = S.reshape(take(cos, flat, { axis: 0 }), [...pos.shape, cos.shape[cos.ndim - 1]!]);
    sin = S.reshape(take(sin, flat, { axis: 0 }), [...pos.shape, sin.shape[sin.ndim - 1]!]);
  }
  const half = rd / 2;
  if (cos.shape[cos.ndim - 1] !== half) fail(ctx.op, `cos_cache last axis ${cos.shape[cos.ndim - 1]} must be rotary_embedding_dim/2 = ${half}`);
  const rot = S.slice(x, [0, 0, 0, 0], [B, T, H, rd]);
  const rest = rd < D ? S.slice(x, [0, 0, 0, rd], [B, T, H, D]) : null;
  let x1: Tensor, x2: Tensor;
  if (interleaved) {
    x1 = S.slice(rot, [0, 0, 0, 0], [B, T, H, rd], [1, 1, 1, 2]);
    x2 = S.slice(rot, [0, 0, 0, 1], [B, T, H, rd], [1, 1, 1, 2]);
  } else {
    x1 = S.slice(rot, [0, 0, 0, 0], [B, T, H, half]);
    x2 = S.slice(rot, [0, 0, 0, half], [B, T, H, rd]);
  }
  const cb = bcastTo(S.reshape(cos, [...cos.shape.slice(0, -1), 1, half]), x1.shape);
  const sb = bcastTo(S.reshape(sin, [...sin.shape.slice(0, -1), 1, half]), x1.shape);
  const real = E.sub(E.mul(cb, x1), E.mul(sb, x2));
  const imag = E.add(E.mul(sb, x1), E.mul(cb, x2));
  let rotated = interleaved
    ? S.reshape(S.concatenate([S.reshape(real, [B, T, H, half, 1]), S.reshape(imag, [B, T, H, half, 1])], 4), [B, T, H, rd])
    : S.concatenate([real, imag], 3);
  if (rest) rotated = S.concatenate([rotated, rest], 3);
  const y = xv.rank === 4 ? S.transpose(rotated, [0, 2, 1, 3]) : S.reshape(rotated, xv.shape);
  return [out(y, xv.elem)];
});

def("LinearAttention", (ins, ctx) => {
  const qv = tin(ins, 0, ctx, "query"), kv = tin(ins, 1, ctx, "key"), vv = tin(ins, 2, ctx, "value");
  const ps = topt(ins, 3, ctx, "past_state"), dv = topt(ins, 4, ctx, "decay"), bv = topt(ins, 5, ctx, "beta");
  const a = ctx.attrs;
  const rule = a.string("update_rule", "gated_delta");
  if (!["linear", "gated", "delta", "gated_delta"].includes(rule)) fail(ctx.op, `update_rule "${rule}" is not supported`);
  const hq = a.int("q_num_heads"), hk = a.int("kv_num_heads");
  if (!hq || !hk || hq % hk) fail(ctx.op, "q_num_heads must be a positive multiple of kv_num_heads");
  const gating = rule === "gated" || rule === "gated_delta", delta = rule === "delta" || rule === "gated_delta";
  if (gating && !dv) fail(ctx.op, `update_rule ${rule} needs the decay input`);
  if (delta && !bv) fail(ctx.op, `update_rule ${rule} needs the beta input`);
  const f = (t: Tensor) => E.convert(t, "float32");
  const q4 = heads(f(qv.t), hq), k4 = heads(f(kv.t), hk), v4 = heads(f(vv.t), hk);
  const [B, , T, dk] = q4.shape as [number, number, number, number];
  const dvSize = v4.shape[3]!;
  const group = hq / hk;
  let decay4: Tensor | null = null, beta4: Tensor | null = null;
  if (dv) {
    const d = f(dv.t);
    const last = d.shape[2]!;
    decay4 = last === hk ? S.transpose(S.reshape(d, [B, T, hk, 1]), [0, 2, 1, 3]) : heads(d, hk);
  }
  if (bv) {
    const b = f(bv.t);
    beta4 = S.transpose(S.reshape(b, [B, T, b.shape[2]!, 1]), [0, 2, 1, 3]);
  }
  let state = ps ? f(ps.t) : full([B, hk, dk, dvSize], 0, "float32");
  const scaleAttr = a.float("scale", 0);
  const scale = scaleAttr === 0 ? 1 / Math.sqrt(dk) : scaleAttr;
  const step = (t: Tensor, i: number) => S.reshape(S.slice(t, [0, 0, i, 0], [t.shape[0]!, t.shape[1]!, i + 1, t.shape[3]!]), [t.shape[0]!, t.shape[1]!, t.shape[3]!]);
  const outs: Tensor[] = [];
  for (let i = 0; i < T; i++) {
    const qt = step(q4, i), kt = step(k4, i);
    let vt = step(v4, i);
    if (gating) {
      const g = E.exp(step(decay4!, i));
      state = E.mul(state, bcastTo(S.reshape(g, [B, hk, g.shape[2]!, 1]), state.shape));
    }
    if (delta) {
      // retrieved[b,h,m] = sum_d state[b,h,d,m] k[b,h,d]
      const retrieved = R.reduceSum(E.mul(state, bcastTo(S.reshape(kt, [B, hk, dk, 1]), state.shape)), [2]);
      const bt = step(beta4!, i);
      vt = E.mul(bcastTo(bt, vt.shape), E.sub(vt, retrieved));
    }
    state = E.add(state, E.mul(bcastTo(S.reshape(kt, [B, hk, dk, 1]), state.shape), bcastTo(S.reshape(vt, [B, hk, 1, dvSize]), state.shape)));
    const read = group === 1 ? state : S.reshape(S.broadcastInDim(state, [B, hk, group, dk, dvSize], [0, 1, 3, 4]), [B, hq, dk, dvSize]);
    const o = R.reduceSum(E.mul(bcastTo(S.reshape(qt, [B, hq, dk, 1]), read.shape), read), [2]);
    outs.push(S.reshape(E.mul(o, lit(o, scale)), [B, hq, 1, dvSize]));
  }
  const y = unheads(S.concatenate(outs, 2));
  const stateDt = ps ? ps.t.dtype : qv.t.dtype;
  return [out(E.convert(y, qv.t.dtype), qv.elem), out(E.convert(state, stateDt), ps ? ps.elem : qv.elem)];
});

def("CausalConvWithState", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "input"), wv = tin(ins, 1, ctx, "weight"), bv = topt(ins, 2, ctx, "bias"), ps = topt(ins, 3, ctx, "past_state");
  const act = ctx.attrs.string("activation", "none");
  if (!["none", "silu", "swish"].includes(act)) fail(ctx.op, `activation "${act}" is not supported`);
  if (xv.rank !== 3 || wv.rank !== 3) fail(ctx.op, `input ${fmtShape(xv.shape)} and weight ${fmtShape(wv.shape)} must be 3-D`);
  const [B, C] = xv.shape as [number, number];
  const k = wv.shape[2]!;
  const x = xv.t;
  const parts = [ps ? E.convert(ps.t, x.dtype) : full([B, C, k - 1], 0, x.dtype), x].filter((t) => t.shape[2]! > 0);
  const padded = parts.length === 1 ? parts[0]! : S.concatenate(parts, 2);
  const wide = x.dtype === "float16" || x.dtype === "bfloat16" ? "float32" : x.dtype;
  let y = convCore(E.convert(padded, wide), E.convert(wv.t, wide), { strides: [1], dilations: [1], pads: [[0, 0]] }, C);
  if (bv) y = E.add(y, bcastTo(S.reshape(E.convert(bv.t, wide), [1, C, 1]), y.shape));
  y = E.convert(y, x.dtype);
  if (act !== "none") {
    const yf = E.convert(y, "float32");
    y = E.convert(E.mul(yf, E.logistic(yf)), x.dtype);
  }
  const L = padded.shape[2]!;
  const present = S.slice(padded, [0, 0, L - (k - 1)], [B, C, L]);
  return [out(y, xv.elem), out(present, xv.elem)];
});


def("ai.onnx.preview:FlexAttention", {
  noFold: true,
  run(ins, ctx) {
    const qv = tin(ins, 0, ctx, "Q"), kv = tin(ins, 1, ctx, "K"), vv = tin(ins, 2, ctx, "V");
    if (qv.rank !== 4 || kv.rank !== 4 || vv.rank !== 4) fail(ctx.op, "Q, K and V must be 4-D");
    const Q = qv.t;
    let K = E.convert(kv.t, Q.dtype), V = E.convert(vv.t, Q.dtype);
    const hq = Q.shape[1]!, hk = K.shape[1]!;
    if (hq !== hk) {
      if (hq % hk) fail(ctx.op, `${hq} query heads are not a multiple of ${hk} key/value heads`);
      K = repeatHeads(K, hq / hk);
      V = repeatHeads(V, hq / hk);
    }
    const scale = ctx.attrs.float("scale") ?? 1 / Math.sqrt(Q.shape[3]!);
    const s = Math.fround(Math.sqrt(Math.fround(scale)));
    let scores = matmul(E.mul(Q, lit(Q, s)), S.transpose(E.mul(K, lit(K, s)), [0, 1, 3, 2]));
    const prec = ctx.attrs.int("softmax_precision");
    const cdt = prec !== undefined ? held(prec) : Q.dtype === "float16" || Q.dtype === "bfloat16" ? "float32" : Q.dtype;
    scores = E.convert(scores, cdt);
    const mod = (name: string, t: Tensor): Tensor => {
      const g = ctx.attrs.graph(name);
      if (!g) return t;
      const [r] = ctx.subgraph(g, [out(t)]);
      if (!r || r.kind !== "tensor") fail(ctx.op, `${name} must return one tensor`);
      return E.convert(r.t, cdt);
    };
    scores = mod("score_mod", scores);
    const probs = mod("prob_mod", softmaxLast(scores));
    return [out(E.convert(matmul(probs, E.convert(V, cdt)), vv.t.dtype), vv.elem)];
  },
});
