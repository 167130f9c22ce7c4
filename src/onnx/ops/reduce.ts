/** Reductions, arg-reductions, scans, top-k and the softmax family. */
import { isFloat } from "../../core/dtype.js";
import { fail } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import * as R from "../../core/prims/reduce.js";
import * as S from "../../core/prims/structural.js";
import { sortWithIndices } from "../../core/prims/sort.js";
import { stopGradient } from "../../core/prims/structural.js";
import type { Tensor } from "../../tensor.js";
import type { Value } from "../values.js";
import { def, ints, out, tin, topt, type OpCtx } from "./registry.js";
import { DataType, axisOf, bcastTo, lit, prod, range } from "./util.js";

/** Accumulate 16-bit floats in float32, then round back. */
const widen = (t: Tensor): Tensor => (t.dtype === "float16" || t.dtype === "bfloat16" ? E.convert(t, "float32") : t);

function reduceAxes(ins: readonly (Value | null)[], ctx: OpCtx, rank: number, inputSince: number): number[] | null {
  let axes: number[] | undefined;
  if (ctx.opset >= inputSince) {
    const a = topt(ins, 1, ctx, "axes");
    axes = a ? ints(a, ctx, "axes") : undefined;
  } else axes = ctx.attrs.ints("axes");
  if (!axes || axes.length === 0) {
    // noop_with_empty_axes: reduce nothing instead of everything
    return ctx.attrs.int("noop_with_empty_axes", 0) ? null : range(rank);
  }
  const norm = axes.map((a) => axisOf(ctx, a, rank, "axes"));
  return [...new Set(norm)].sort((a, b) => a - b);
}

type Reducer = (x: Tensor, axes: number[]) => Tensor;

function reduction(name: string, inputSince: number, f: Reducer, empty: number | ((t: Tensor) => number)): void {
  def(name, {
    staticInputs: [1],
    run(ins, ctx) {
      const x = tin(ins, 0, ctx, "data");
      const axes = reduceAxes(ins, ctx, x.rank, inputSince);
      if (axes === null) return [x];
      const keep = ctx.attrs.int("keepdims", 1);
      let t = x.t;
      const boolIn = t.dtype === "bool";
      if (boolIn) t = E.convert(t, "uint8");
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const reducedShape = x.shape.filter((_, i) => !axes.includes(i));
      let r: Tensor;
      if (axes.some((a) => x.shape[a] === 0)) {
        const v = typeof empty === "number" ? empty : empty(t);
        r = full(reducedShape, v, t.dtype);
      } else r = E.convert(f(t, axes), t.dtype);
      if (boolIn) r = E.convert(r, "bool");
      return [out(keep ? S.reshape(r, kept) : r, x.elem)];
    },
  });
}

const sumW: Reducer = (x, axes) => R.reduceSum(widen(x), axes);
const lowest = (t: Tensor) => (isFloat(t.dtype) ? -Infinity : t.dtype === "int32" ? -(2 ** 31) : t.dtype === "int8" ? -128 : 0);
const highest = (t: Tensor) =>
  isFloat(t.dtype) ? Infinity : t.dtype === "int32" ? 2 ** 31 - 1 : t.dtype === "int8" ? 127 : t.dtype === "uint8" ? 255 : 2 ** 32 - 1;

reduction("ReduceSum", 13, sumW, 0);
reduction("ReduceMean", 18, (x, axes) => {
  const n = prod(axes.map((a) => x.shape[a]!));
  const s = sumW(x, axes);
  return E.div(s, lit(s, n));
}, NaN);
reduction("ReduceMax", 18, (x, axes) => R.reduceMax(x, axes), lowest);
reduction("ReduceMin", 18, (x, axes) => R.reduceMin(x, axes), highest);
reduction("ReduceProd", 18, (x, axes) => R.reduceProd(widen(x), axes), 1);
reduction("ReduceL1", 18, (x, axes) => sumW(E.abs(x), axes), 0);
reduction("ReduceL2", 18, (x, axes) => {
  const w = widen(x);
  return E.sqrt(R.reduceSum(E.mul(w, w), axes));
}, 0);
reduction("ReduceSumSquare", 18, (x, axes) => {
  const w = widen(x);
  return R.reduceSum(E.mul(w, w), axes);
}, 0);
reduction("ReduceLogSum", 18, (x, axes) => E.log(sumW(x, axes)), -Infinity);
reduction("ReduceLogSumExp", 18, (x, axes) => {
  const w = widen(x);
  // shift by the (gradient-free) maximum so large inputs do not overflow
  const m = stopGradient(R.reduceMax(w, axes));
  const mf = E.select(E.isinf(m), lit(m, 0), m);
  const mb = S.broadcastInDim(mf, w.shape, R.keptDims(w.ndim, axes));
  return E.add(E.log(R.reduceSum(E.exp(E.sub(w, mb)), axes)), mf);
}, -Infinity);

function argReduce(name: string, f: (t: Tensor, axis: number) => Tensor): void {
  def(name, (ins, ctx) => {
    const x = tin(ins, 0, ctx, "data");
    const ax = axisOf(ctx, ctx.attrs.int("axis", 0), x.rank);
    const keep = ctx.attrs.int("keepdims", 1);
    const last = ctx.attrs.int("select_last_index", 0);
    const n = x.shape[ax]!;
    if (n === 0) fail(ctx.op, `cannot reduce axis ${ax} of size 0`);
    let t = x.t;
    if (t.dtype === "bool") t = E.convert(t, "uint8");
    let r: Tensor;
    if (last) {
      // the last extreme is the first one of the reversed axis
      const i = f(S.rev(t, [ax]), ax);
      r = E.sub(full(i.shape, n - 1, i.dtype), i);
    } else r = f(t, ax);
    r = E.convert(r, "int32");
    return [out(keep ? S.reshape(r, x.shape.map((d, i) => (i === ax ? 1 : d))) : r, DataType.INT64)];
  });
}
argReduce("ArgMax", R.argmax);
argReduce("ArgMin", R.argmin);

function scanAxis(ins: readonly (Value | null)[], ctx: OpCtx, rank: number): number {
  const a = tin(ins, 1, ctx, "axis");
  return axisOf(ctx, ints(a, ctx, "axis")[0]!, rank);
}

/** Shift by one along an axis (towards higher indices, or lower when reverse), filling with `fill`. */
function shiftOne(t: Tensor, ax: number, reverse: boolean, fill: number): Tensor {
  const n = t.shape[ax]!;
  const lo = t.shape.map(() => 0), hi = t.shape.map(() => 0);
  if (reverse) hi[ax] = 1;
  else lo[ax] = 1;
  const p = S.pad(t, lo, hi, undefined, fill);
  const start = t.shape.map((_, i) => (i === ax && reverse ? 1 : 0));
  const limit = t.shape.map((d, i) => (i === ax ? (reverse ? n + 1 : n) : d));
  return S.slice(p, start, limit);
}

def("CumSum", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "x");
    const ax = scanAxis(ins, ctx, x.rank);
    const reverse = !!ctx.attrs.int("reverse", 0), exclusive = !!ctx.attrs.int("exclusive", 0);
    if (x.shape[ax] === 0) return [x];
    let t = widen(x.t);
    if (exclusive) t = shiftOne(t, ax, reverse, 0);
    return [out(E.convert(R.cumsum(t, ax, reverse), x.t.dtype), x.elem)];
  },
});

def("CumProd", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "x");
    const ax = scanAxis(ins, ctx, x.rank);
    const reverse = !!ctx.attrs.int("reverse", 0), exclusive = !!ctx.attrs.int("exclusive", 0);
    const n = x.shape[ax]!;
    if (n === 0) return [x];
    let t = widen(x.t);
    if (exclusive) t = shiftOne(t, ax, reverse, 1);
    // Hillis–Steele prefix products: log2(n) shifted multiplies
    for (let s = 1; s < n; s *= 2) {
      const lo = t.shape.map(() => 0), hi = t.shape.map(() => 0);
      if (reverse) hi[ax] = s;
      else lo[ax] = s;
      const p = S.pad(t, lo, hi, undefined, 1);
      const start = t.shape.map((_, i) => (i === ax && reverse ? s : 0));
      const limit = t.shape.map((d, i) => (i === ax ? (reverse ? n + s : n) : d));
      t = E.mul(t, S.slice(p, start, limit));
    }
    return [out(E.convert(t, x.t.dtype), x.elem)];
  },
});

def("TopK", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "X");
    const ax = axisOf(ctx, ctx.attrs.int("axis", -1), x.rank);
    const k = ctx.opset >= 10 ? ints(tin(ins, 1, ctx, "K"), ctx, "K")[0]! : ctx.attrs.int("k", 0);
    const n = x.shape[ax]!;
    if (k < 0 || k > n) fail(ctx.op, `K = ${k} is out of range for axis ${ax} of size ${n}`);
    const largest = ctx.attrs.int("largest", 1) !== 0;
    const [v, i] = sortWithIndices(x.t, ax, largest);
    const start = x.shape.map(() => 0), lim = x.shape.map((d, a) => (a === ax ? k : d));
    return [out(S.slice(v!, start, lim), x.elem), out(S.slice(i!, start, lim), DataType.INT64)];
  },
});

/** Softmax-family operand: opset < 13 flattens to 2-D at `axis` (default 1), later versions use one axis (default -1). */
function softmaxLike(name: string, f: (t: Tensor, ax: number) => Tensor): void {
  def(name, (ins, ctx) => {
    const x = tin(ins, 0, ctx, "input");
    const old = ctx.opset < 13;
    const ax = axisOf(ctx, ctx.attrs.int("axis", old ? 1 : -1), Math.max(x.rank, 1));
    if (x.size === 0) return [x];
    if (old) {
      const t2 = S.reshape(x.t, [prod(x.shape.slice(0, ax)), prod(x.shape.slice(ax))]);
      return [out(S.reshape(f(t2, 1), x.shape), x.elem)];
    }
    return [out(f(x.t, ax), x.elem)];
  });
}

export function softmax(t: Tensor, ax: number): Tensor {
  const w = widen(t);
  const m = stopGradient(R.reduceMax(w, [ax]));
  const mb = S.broadcastInDim(E.select(E.isinf(m), lit(m, 0), m), w.shape, R.keptDims(w.ndim, [ax]));
  const e = E.exp(E.sub(w, mb));
  const s = S.broadcastInDim(R.reduceSum(e, [ax]), w.shape, R.keptDims(w.ndim, [ax]));
  return E.convert(E.div(e, s), t.dtype);
}
export function logSoftmax(t: Tensor, ax: number): Tensor {
  const w = widen(t);
  const m = stopGradient(R.reduceMax(w, [ax]));
  const mb = S.broadcastInDim(E.select(E.isinf(m), lit(m, 0), m), w.shape, R.keptDims(w.ndim, [ax]));
  const d = E.sub(w, mb);
  const lse = S.broadcastInDim(E.log(R.reduceSum(E.exp(d), [ax])), w.shape, R.keptDims(w.ndim, [ax]));
  return E.convert(E.sub(d, lse), t.dtype);
}
function hardmax(t: Tensor, ax: number): Tensor {
  const i = R.argmax(t, ax);
  const ib = S.broadcastInDim(E.convert(i, "int32"), t.shape, R.keptDims(t.ndim, [ax]));
  return E.convert(E.eq(S.iota(t.shape, ax, "int32"), ib), t.dtype);
}
softmaxLike("Softmax", softmax);
softmaxLike("LogSoftmax", logSoftmax);
softmaxLike("Hardmax", hardmax);

def("LpNormalization", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input");
  const ax = axisOf(ctx, ctx.attrs.int("axis", -1), x.rank);
  const p = ctx.attrs.int("p", 2);
  if (p !== 1 && p !== 2) fail(ctx.op, `p must be 1 or 2, got ${p}`);
  const t = x.t;
  const norm = p === 1 ? R.reduceSum(E.abs(t), [ax]) : E.sqrt(R.reduceSum(E.mul(t, t), [ax]));
  const nb = bcastTo(S.reshape(norm, t.shape.map((d, i) => (i === ax ? 1 : d))), t.shape);
  // a zero norm gives zeros, not 0/0
  const zero = E.eq(nb, lit(nb, 0));
  return [out(E.select(zero, lit(t, 0), E.div(t, E.select(zero, lit(nb, 1), nb))), x.elem)];
});
