/** Neural-network operators: MatMul, Gemm, Conv, ConvTranspose, pooling, normalisations, Einsum. */
import type { DType } from "../../core/dtype.js";
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import { conv } from "../../core/prims/conv.js";
import * as E from "../../core/prims/elementwise.js";
import * as R from "../../core/prims/reduce.js";
import * as S from "../../core/prims/structural.js";
import { einsum, matmul } from "../../ops/linalg.js";
import type { Tensor } from "../../tensor.js";
import { def, out, tin, topt, type OpCtx } from "./registry.js";
import { DataType, axisOf, bcast, bcastTo, guardShape, lit, prod, range } from "./util.js";

/** 16-bit floats compute in float32; returns the widened tensor and a function restoring the dtype. */
export function widen(t: Tensor): [Tensor, (r: Tensor) => Tensor] {
  if (t.dtype === "float16" || t.dtype === "bfloat16") return [E.convert(t, "float32"), (r) => E.convert(r, t.dtype)];
  return [t, (r) => r];
}

def("MatMul", (ins, ctx) => {
  const a = tin(ins, 0, ctx, "A"), b = tin(ins, 1, ctx, "B");
  const [x, back] = widen(a.t);
  return [out(back(matmul(x, E.convert(b.t, x.dtype))), a.elem)];
});

def("Gemm", (ins, ctx) => {
  const a = tin(ins, 0, ctx, "A"), b = tin(ins, 1, ctx, "B"), c = topt(ins, 2, ctx, "C");
  const alpha = ctx.attrs.float("alpha", 1), beta = ctx.attrs.float("beta", 1);
  let [x, back] = widen(a.t);
  let y = E.convert(b.t, x.dtype);
  if (x.ndim !== 2 || y.ndim !== 2) fail(ctx.op, `A and B must be 2-D, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (ctx.attrs.int("transA", 0)) x = S.transpose(x, [1, 0]);
  if (ctx.attrs.int("transB", 0)) y = S.transpose(y, [1, 0]);
  let r = matmul(x, y);
  if (alpha !== 1) r = E.mul(r, lit(r, alpha));
  if (c && beta !== 0) {
    let ct = E.convert(c.t, r.dtype);
    if (beta !== 1) ct = E.mul(ct, lit(ct, beta));
    [r, ct] = bcast(ctx, r, ct) as [Tensor, Tensor];
    r = E.add(r, ct);
  }
  return [out(back(r), a.elem)];
});

def("MatMulInteger", (ins, ctx) => {
  const a = tin(ins, 0, ctx, "A"), b = tin(ins, 1, ctx, "B");
  const az = topt(ins, 2, ctx, "a_zero_point"), bz = topt(ins, 3, ctx, "b_zero_point");
  let x = E.convert(a.t, "int32"), y = E.convert(b.t, "int32");
  if (az) x = E.sub(...(bcast(ctx, x, zeroPointFor(az.t, x, x.ndim - 2)) as [Tensor, Tensor]));
  if (bz) y = E.sub(...(bcast(ctx, y, zeroPointFor(bz.t, y, y.ndim - 1)) as [Tensor, Tensor]));
  return [out(matmul(x, y), DataType.INT32)];
});

/** A per-row (A) or per-column (B) zero point laid out to broadcast against the operand. */
function zeroPointFor(z: Tensor, x: Tensor, axis: number): Tensor {
  const zi = E.convert(z, "int32");
  if (zi.ndim === 0 || zi.size === 1) return S.reshape(zi, []);
  return S.reshape(zi, x.shape.map((d, i) => (i === axis ? d : 1)));
}

// ---------------- convolution ----------------
interface ConvGeom {
  strides: number[];
  dilations: number[];
  pads: [number, number][];
}

export function perAxis(ctx: OpCtx, name: string, n: number, dflt: number): number[] {
  const v = ctx.attrs.ints(name);
  if (!v || v.length === 0) return Array<number>(n).fill(dflt);
  if (v.length !== n) fail(ctx.op, `${name} ${JSON.stringify(v)} needs ${n} entries (one per spatial axis)`);
  return v;
}

/** Padding from auto_pad / pads for a forward convolution or pooling window. */
export function convPads(ctx: OpCtx, inS: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[]): [number, number][] {
  const n = inS.length;
  const auto = ctx.attrs.string("auto_pad", "NOTSET");
  if (auto === "SAME_UPPER" || auto === "SAME_LOWER") {
    return inS.map((d, i) => {
      const o = Math.ceil(d / strides[i]!);
      const total = Math.max(0, (o - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - d);
      const small = Math.floor(total / 2);
      return auto === "SAME_UPPER" ? [small, total - small] : [total - small, small];
    });
  }
  if (auto === "VALID") return inS.map(() => [0, 0]);
  if (auto !== "NOTSET" && auto !== "") fail(ctx.op, `auto_pad "${auto}" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  const p = ctx.attrs.ints("pads");
  if (!p || p.length === 0) return inS.map(() => [0, 0]);
  if (p.length !== 2 * n) fail(ctx.op, `pads ${JSON.stringify(p)} needs ${2 * n} entries`);
  return range(n).map((i) => [p[i]!, p[i + n]!]);
}

function convGeom(ctx: OpCtx, x: Tensor, kernel: readonly number[]): ConvGeom {
  const n = x.ndim - 2;
  const strides = perAxis(ctx, "strides", n, 1), dilations = perAxis(ctx, "dilations", n, 1);
  const pads = convPads(ctx, x.shape.slice(2), kernel, strides, dilations);
  // sizes come from the file: refuse outputs no model needs before allocating them
  const outS = x.shape.slice(2).map((d, i) => Math.max(0, Math.floor((d + pads[i]![0] + pads[i]![1] - (kernel[i]! - 1) * dilations[i]! - 1) / strides[i]!) + 1));
  guardShape(ctx, [x.shape[0]!, x.shape[1]!, ...outS]);
  return { strides, dilations, pads };
}

/** Convolution on float operands (ints go through float64, which is exact for them). */
export function convCore(x: Tensor, w: Tensor, g: ConvGeom, groups: number, lhsDilation?: number[]): Tensor {
  const n = x.ndim - 2;
  const canon = range(n + 2);
  return conv(x, w, {
    strides: g.strides, padding: g.pads, lhsDilation: lhsDilation ?? Array<number>(n).fill(1), rhsDilation: g.dilations,
    featureGroupCount: groups, batchGroupCount: 1, lhsSpec: canon, rhsSpec: canon, outSpec: canon,
  });
}

def("Conv", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), wv = tin(ins, 1, ctx, "W"), bv = topt(ins, 2, ctx, "B");
  const [x, back] = widen(xv.t);
  const w = E.convert(wv.t, x.dtype);
  if (x.ndim < 3 || w.ndim !== x.ndim) fail(ctx.op, `X ${fmtShape(x.shape)} and W ${fmtShape(w.shape)} must have the same rank (at least 3)`);
  const groups = ctx.attrs.int("group", 1);
  const kernel = w.shape.slice(2);
  let y = convCore(x, w, convGeom(ctx, x, kernel), groups);
  if (bv) y = E.add(y, bcastTo(S.reshape(E.convert(bv.t, y.dtype), [1, w.shape[0]!, ...kernel.map(() => 1)]), y.shape));
  return [out(back(y), xv.elem)];
});

def("ConvInteger", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "x"), wv = tin(ins, 1, ctx, "w");
  const xz = topt(ins, 2, ctx, "x_zero_point"), wz = topt(ins, 3, ctx, "w_zero_point");
  let x = E.convert(xv.t, "float64"), w = E.convert(wv.t, "float64");
  if (xz) x = E.sub(x, bcastTo(E.convert(xz.t, "float64"), x.shape));
  if (wz) {
    const z = E.convert(wz.t, "float64");
    w = E.sub(w, z.size === 1 ? bcastTo(S.reshape(z, []), w.shape) : bcastTo(S.reshape(z, [w.shape[0]!, ...w.shape.slice(1).map(() => 1)]), w.shape));
  }
  const y = convCore(x, w, convGeom(ctx, x, w.shape.slice(2)), ctx.attrs.int("group", 1));
  return [out(E.convert(E.round(y), "int32"), DataType.INT32)];
});

def("ConvTranspose", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), wv = tin(ins, 1, ctx, "W"), bv = topt(ins, 2, ctx, "B");
  const [x, back] = widen(xv.t);
  const w = E.convert(wv.t, x.dtype);
  const n = x.ndim - 2;
  const groups = ctx.attrs.int("group", 1);
  const C = x.shape[1]!;
  if (w.shape[0] !== C) fail(ctx.op, `W ${fmtShape(w.shape)} expects ${w.shape[0]} input channels but X ${fmtShape(x.shape)} has ${C}`);
  if (!Number.isInteger(groups) || groups < 1 || C % groups) fail(ctx.op, `${C} input channels do not divide into ${groups} groups`);
  const kernel = w.shape.slice(2);
  const strides = perAxis(ctx, "strides", n, 1), dilations = perAxis(ctx, "dilations", n, 1);
  const outPad = perAxis(ctx, "output_padding", n, 0);
  const inS = x.shape.slice(2);
  const full0 = inS.map((d, i) => strides[i]! * (d - 1) + outPad[i]! + (kernel[i]! - 1) * dilations[i]! + 1);
  const auto = ctx.attrs.string("auto_pad", "NOTSET");
  const outShape = ctx.attrs.ints("output_shape");
  let pads: [number, number][];
  if (outShape && outShape.length) {
    const target = outShape.slice(-n);
    pads = target.map((o, i) => {
      const total = full0[i]! - o;
      const half = Math.floor(total / 2);
      return auto === "SAME_UPPER" ? [half, total - half] : [total - half, half];
    });
  } else if (auto === "SAME_UPPER" || auto === "SAME_LOWER") {
    pads = inS.map((d, i) => {
      const total = Math.max(0, full0[i]! - d * strides[i]!);
      const half = Math.floor(total / 2);
      return auto === "SAME_UPPER" ? [half, total - half] : [total - half, half];
    });
  } else if (auto === "VALID") pads = inS.map(() => [0, 0]);
  else {
    const p = ctx.attrs.ints("pads") ?? [];
    pads = range(n).map((i) => [p[i] ?? 0, p[i + n] ?? 0]);
  }
  // a transposed conv is a conv of the stride-dilated input with the flipped, role-swapped kernel
  const Cg = C / groups, Og = w.shape[1]!;
  let wk = S.reshape(w, [groups, Cg, Og, ...kernel]);
  wk = S.transpose(wk, [0, 2, 1, ...range(n).map((s) => 3 + s)]);
  wk = S.rev(S.reshape(wk, [groups * Og, Cg, ...kernel]), range(n).map((s) => 2 + s));
  const cpads = kernel.map((k, i) => {
    const dk = dilations[i]! * (k - 1);
    return [dk - pads[i]![0], dk - pads[i]![1] + outPad[i]!] as [number, number];
  });
  guardShape(ctx, [x.shape[0]!, groups * Og, ...inS.map((d, i) => full0[i]! - pads[i]![0] - pads[i]![1])]);
  let y = convCore(x, wk, { strides: Array<number>(n).fill(1), dilations, pads: cpads }, groups, strides);
  if (bv) y = E.add(y, bcastTo(S.reshape(E.convert(bv.t, y.dtype), [1, groups * Og, ...kernel.map(() => 1)]), y.shape));
  return [out(back(y), xv.elem)];
});

// ---------------- normalisation ----------------
/** Mean and (biased) variance over axes, kept as size-1 axes. */
function moments(t: Tensor, axes: number[]): [Tensor, Tensor] {
  const n = prod(axes.map((a) => t.shape[a]!));
  const kept = t.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const s = R.reduceSum(t, axes);
  const mean = S.reshape(E.div(s, lit(s, n)), kept);
  const d = E.sub(t, bcastTo(mean, t.shape));
  const v = R.reduceSum(E.mul(d, d), axes);
  return [mean, S.reshape(E.div(v, lit(v, n)), kept)];
}

/** A per-channel parameter [C] laid out on axis 1 of an operand of rank r. */
const chan = (p: Tensor, r: number, dt: DType) => S.reshape(E.convert(p, dt), [p.shape[0]!, ...range(r - 2).map(() => 1)]);

def("BatchNormalization", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const [x, back] = widen(xv.t);
  const [scale, bias, mean, vari] = [1, 2, 3, 4].map((i) => tin(ins, i, ctx, ["", "scale", "B", "input_mean", "input_var"][i]).t);
  const eps = ctx.attrs.float("epsilon", 1e-5), momentum = ctx.attrs.float("momentum", 0.9);
  const training = ctx.opset >= 14 ? ctx.attrs.int("training_mode", 0) !== 0 : ctx.opset < 9 ? ctx.attrs.int("is_test", 0) === 0 && ctx.nOut > 1 : false;
  const r = x.ndim;
  const C = x.shape[1] ?? 1;
  const cshape = [1, C, ...range(Math.max(0, r - 2)).map(() => 1)];
  const norm = (m: Tensor, v: Tensor) => {
    const inv = E.rsqrt(E.add(v, lit(v, eps)));
    const k = E.mul(S.reshape(E.convert(scale!, x.dtype), cshape), inv);
    return E.add(E.mul(E.sub(x, bcastTo(m, x.shape)), bcastTo(k, x.shape)), bcastTo(S.reshape(E.convert(bias!, x.dtype), cshape), x.shape));
  };
  if (!training) return [out(back(norm(S.reshape(E.convert(mean!, x.dtype), cshape), S.reshape(E.convert(vari!, x.dtype), cshape))), xv.elem)];
  const axes = range(r).filter((a) => a !== 1);
  const [bm, bv] = moments(x, axes);
  const y = back(norm(bm, bv));
  const mix = (run: Tensor, cur: Tensor) => {
    const c = S.reshape(cur, [C]);
    const rr = E.convert(run, x.dtype);
    return E.convert(E.add(E.mul(rr, lit(rr, momentum)), E.mul(c, lit(c, 1 - momentum))), run.dtype);
  };
  return [out(y, xv.elem), out(mix(mean!, bm), xv.elem), out(mix(vari!, bv), xv.elem)];
});

def("InstanceNormalization", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "input");
  const [x, back] = widen(xv.t);
  const scale = tin(ins, 1, ctx, "scale").t, bias = tin(ins, 2, ctx, "B").t;
  const eps = ctx.attrs.float("epsilon", 1e-5);
  const [m, v] = moments(x, range(x.ndim).slice(2));
  const y = E.mul(E.sub(x, bcastTo(m, x.shape)), bcastTo(E.rsqrt(E.add(v, lit(v, eps))), x.shape));
  const r = E.add(E.mul(y, bcastTo(chan(scale, x.ndim, x.dtype), x.shape)), bcastTo(chan(bias, x.ndim, x.dtype), x.shape));
  return [out(back(r), xv.elem)];
});

/** The compute dtype of stash_type (1 = float32, 11 = float64). */
function stash(ctx: OpCtx, t: Tensor): DType {
  const s = ctx.attrs.int("stash_type", 1);
  if (s === DataType.DOUBLE) return "float64";
  return t.dtype === "float64" ? "float64" : "float32";
}

def("LayerNormalization", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), sv = tin(ins, 1, ctx, "Scale"), bv = topt(ins, 2, ctx, "B");
  const dt = stash(ctx, xv.t);
  const x = E.convert(xv.t, dt);
  const ax = axisOf(ctx, ctx.attrs.int("axis", -1), x.ndim);
  const eps = ctx.attrs.float("epsilon", 1e-5);
  const axes = range(x.ndim).slice(ax);
  const [m, v] = moments(x, axes);
  const inv = E.rsqrt(E.add(v, lit(v, eps)));
  let y = E.convert(E.mul(E.sub(x, bcastTo(m, x.shape)), bcastTo(inv, x.shape)), xv.t.dtype);
  y = E.mul(...(bcast(ctx, y, E.convert(sv.t, y.dtype)) as [Tensor, Tensor]));
  if (bv) y = E.add(...(bcast(ctx, y, E.convert(bv.t, y.dtype)) as [Tensor, Tensor]));
  return [out(y, xv.elem), out(E.convert(m, "float32"), DataType.FLOAT), out(E.convert(inv, "float32"), DataType.FLOAT)];
});

def("RMSNormalization", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), sv = tin(ins, 1, ctx, "scale");
  const dt = stash(ctx, xv.t);
  const x = E.convert(xv.t, dt);
  const ax = axisOf(ctx, ctx.attrs.int("axis", -1), x.ndim);
  const eps = ctx.attrs.float("epsilon", 1e-5);
  const axes = range(x.ndim).slice(ax);
  const n = prod(axes.map((a) => x.shape[a]!));
  const ms = R.reduceSum(E.mul(x, x), axes);
  const inv = S.reshape(E.rsqrt(E.add(E.div(ms, lit(ms, n)), lit(ms, eps))), x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
  let y = E.convert(E.mul(x, bcastTo(inv, x.shape)), xv.t.dtype);
  y = E.mul(...(bcast(ctx, y, E.convert(sv.t, y.dtype)) as [Tensor, Tensor]));
  return [out(y, xv.elem)];
});

def("GroupNormalization", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), sv = tin(ins, 1, ctx, "scale"), bv = tin(ins, 2, ctx, "bias");
  const dt = stash(ctx, xv.t);
  const x = E.convert(xv.t, dt);
  const G = ctx.attrs.int("num_groups");
  if (!G) fail(ctx.op, "num_groups is required");
  const eps = ctx.attrs.float("epsilon", 1e-5);
  const [N, C] = x.shape as [number, number];
  if (C % G) fail(ctx.op, `${C} channels do not divide into ${G} groups`);
  const grouped = S.reshape(x, [N, G, (C / G) * prod(x.shape.slice(2))]);
  const [m, v] = moments(grouped, [2]);
  const yg = E.mul(E.sub(grouped, bcastTo(m, grouped.shape)), bcastTo(E.rsqrt(E.add(v, lit(v, eps))), grouped.shape));
  let y = E.convert(S.reshape(yg, x.shape), xv.t.dtype);
  // opset 18 gives one scale per group, opset 21 one per channel
  const perChannel = (p: Tensor) => (p.shape[0] === C ? p : S.reshape(bcastTo(S.reshape(p, [G, 1]), [G, C / G]), [C]));
  y = E.mul(y, bcastTo(chan(perChannel(sv.t), x.ndim, y.dtype), y.shape));
  y = E.add(y, bcastTo(chan(perChannel(bv.t), x.ndim, y.dtype), y.shape));
  return [out(y, xv.elem)];
});

def("MeanVarianceNormalization", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const x = xv.t;
  const axes = (ctx.attrs.ints("axes") ?? [0, 2, 3]).map((a) => axisOf(ctx, a, x.ndim, "axes"));
  const n = prod(axes.map((a) => x.shape[a]!));
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const mean = S.reshape(E.div(R.reduceSum(x, axes), full(kept.filter((_, i) => !axes.includes(i)), n, x.dtype)), kept);
  const sq = S.reshape(E.div(R.reduceSum(E.mul(x, x), axes), full(kept.filter((_, i) => !axes.includes(i)), n, x.dtype)), kept);
  const std = E.sqrt(E.sub(sq, E.mul(mean, mean)));
  const y = E.div(E.sub(x, bcastTo(mean, x.shape)), bcastTo(E.add(std, lit(std, 1e-9)), x.shape));
  return [out(y, xv.elem)];
});

def("LRN", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const [x, back] = widen(xv.t);
  const size = ctx.attrs.int("size");
  if (!size) fail(ctx.op, "size is required");
  const alpha = ctx.attrs.float("alpha", 1e-4), beta = ctx.attrs.float("beta", 0.75), bias = ctx.attrs.float("bias", 1);
  const C = x.shape[1]!;
  // window parts beyond the channel range only add zeros: clamp them so a huge size costs nothing
  const lo = Math.min(Math.floor((size - 1) / 2), C), hi = Math.min(Math.ceil((size - 1) / 2), C);
  const sq = E.mul(x, x);
  const zeros = x.shape.map(() => 0);
  const padded = S.pad(sq, zeros.map((z, i) => (i === 1 ? lo : z)), zeros.map((z, i) => (i === 1 ? hi : z)), undefined, 0);
  let sum: Tensor | null = null;
  for (let j = 0; j < lo + hi + 1; j++) {
    const part = S.slice(padded, zeros.map((z, i) => (i === 1 ? j : z)), x.shape.map((d, i) => (i === 1 ? j + C : d)));
    sum = sum ? E.add(sum, part) : part;
  }
  const den = E.pow(E.add(E.mul(sum!, lit(sum!, alpha / size)), lit(sum!, bias)), lit(sum!, beta));
  return [out(back(E.div(x, den)), xv.elem)];
});

def("Einsum", (ins, ctx) => {
  const eq = ctx.attrs.string("equation");
  if (!eq) fail(ctx.op, "equation is required");
  const vs = ins.map((_, i) => tin(ins, i, ctx, `input ${i}`));
  const [t0, back] = widen(vs[0]!.t);
  const r = einsum(eq.replace(/\s+/g, ""), ...vs.map((v) => E.convert(v.t, t0.dtype)));
  return [out(back(r), vs[0]!.elem)];
});
