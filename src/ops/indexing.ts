import { isInt, type DType } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { normAxis, prod } from "../core/shape.js";
import * as E from "../core/prims/elementwise.js";
import * as S from "../core/prims/structural.js";
import { full as fullPrim } from "../core/prims/constants.js";
import { checkIndexRange, gather, scatterAdd as scatterAddPrim } from "../core/prims/indexing.js";
import { sortWithIndices } from "../core/prims/sort.js";
import { Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import { promote } from "./core.js";

/** An index argument: an integer tensor, or JS integers (which become int32). */
function toIndex(op: string, arg: string, x: TensorLike): Tensor {
  const t = x instanceof Tensor ? x : toTensor(x, "int32");
  if (!isInt(t.dtype)) fail(op, `${arg} must have an integer dtype, got ${t.dtype} (shape ${fmtShape(t.shape)})`);
  return t;
}

/** Negative indices count from the end of an axis of size n (NumPy). */
function wrapNegative(idx: Tensor, n: number): Tensor {
  const i = E.convert(idx, "int32");
  const neg = E.less(i, fullPrim(i.shape, 0, "int32"));
  return E.select(neg, E.add(i, fullPrim(i.shape, n, "int32")), i);
}

export interface TakeOpts {
  /** Axis to index; null (the default) takes from the flattened array. */
  axis?: number | null;
}
const axisOf = (o: TakeOpts | number | null | undefined): number | null =>
  typeof o === "number" ? o : o === null || o === undefined ? null : (o.axis ?? null);

/**
 * NumPy take: elements of x at `indices` along an axis; the result has x's shape with that axis replaced
 * by the shape of `indices`. Negative indices count from the end.
 * @example tr.take(x, [2, 0], { axis: 1 })
 */
export function take(x: TensorLike, indices: TensorLike, opts: TakeOpts | number | null = {}): Tensor {
  let t = toTensor(x);
  const idx = toIndex("take", "indices", indices);
  let ax = axisOf(opts);
  if (ax === null) {
    t = S.reshape(t, [t.size]);
    ax = 0;
  }
  ax = normAxis("take", ax, t.ndim);
  const n = t.shape[ax]!;
  if (n === 0 && idx.size > 0) fail("take", `cannot take from axis ${ax} of size 0 (array shape ${fmtShape(t.shape)})`);
  checkIndexRange("take", "indices", idx, -n, n, `axis ${ax} of size ${n}`);
  const pre = t.shape.slice(0, ax), post = t.shape.slice(ax + 1);
  const P = prod(pre), Q = prod(post), m = idx.size;
  // as a gather over [pre, n, post] with the flat indices broadcast over pre and post
  const x3 = S.reshape(t, [P, n, Q]);
  const i3 = S.broadcastInDim(S.reshape(wrapNegative(idx, n), [m]), [P, m, Q], [1]);
  return S.reshape(gather(x3, i3, 1), [...pre, ...idx.shape, ...post]);
}

/**
 * NumPy take_along_axis (PyTorch gather): out[..., j, ...] = x[..., indices[..., j, ...], ...] along
 * `axis`. x and indices have the same rank and broadcast on the other axes; axis null flattens both.
 */
export function takeAlongAxis(x: TensorLike, indices: TensorLike, axis: number | null): Tensor {
  let t = toTensor(x);
  let idx = toIndex("takeAlongAxis", "indices", indices);
  if (axis === null) {
    if (idx.ndim !== 1) fail("takeAlongAxis", `with axis null the indices must be 1-D, got shape ${fmtShape(idx.shape)}`);
    t = S.reshape(t, [t.size]);
    axis = 0;
  }
  if (idx.ndim !== t.ndim) {
    fail("takeAlongAxis", `indices shape ${fmtShape(idx.shape)} (rank ${idx.ndim}) must have the rank of the array shape ${fmtShape(t.shape)} (rank ${t.ndim})`);
  }
  const ax = normAxis("takeAlongAxis", axis, t.ndim);
  const n = t.shape[ax]!;
  const outX: number[] = [], outI: number[] = [];
  t.shape.forEach((d, k) => {
    const e = idx.shape[k]!;
    if (k === ax) {
      outX.push(d);
      outI.push(e);
    } else if (d === e || d === 1 || e === 1) {
      const b = d === 1 ? e : d;
      outX.push(b);
      outI.push(b);
    } else {
      fail("takeAlongAxis", `indices shape ${fmtShape(idx.shape)} does not broadcast against array shape ${fmtShape(t.shape)} on axis ${k} (${e} vs ${d})`);
    }
  });
  if (n === 0 && idx.size > 0) fail("takeAlongAxis", `cannot take from axis ${ax} of size 0 (array shape ${fmtShape(t.shape)})`);
  checkIndexRange("takeAlongAxis", "indices", idx, -n, n, `axis ${ax} of size ${n}`);
  const all = t.shape.map((_, k) => k);
  t = S.broadcastInDim(t, outX, all);
  idx = S.broadcastInDim(wrapNegative(idx, n), outI, all);
  return gather(t, idx, ax);
}

/**
 * PyTorch scatter_add: a copy of z with src[..., j, ...] added at position indices[..., j, ...] along
 * `axis`. indices may be smaller than src on any axis and than z on the other axes; only the part of src
 * it covers is used.
 */
export function scatterAdd(z: TensorLike, indices: TensorLike, src: TensorLike, axis: number): Tensor {
  const [zt, st] = promote("scatterAdd", z, src) as [Tensor, Tensor];
  let idx = toIndex("scatterAdd", "indices", indices);
  if (idx.ndim !== zt.ndim || st.ndim !== zt.ndim) {
    fail("scatterAdd", `self ${fmtShape(zt.shape)}, indices ${fmtShape(idx.shape)} and src ${fmtShape(st.shape)} must have the same rank`);
  }
  const ax = normAxis("scatterAdd", axis, zt.ndim);
  idx.shape.forEach((d, k) => {
    if (d > st.shape[k]!) fail("scatterAdd", `indices shape ${fmtShape(idx.shape)} exceeds src shape ${fmtShape(st.shape)} on axis ${k}`);
    if (k !== ax && d > zt.shape[k]!) fail("scatterAdd", `indices shape ${fmtShape(idx.shape)} exceeds self shape ${fmtShape(zt.shape)} on axis ${k} (not the scatter axis ${ax})`);
  });
  const n = zt.shape[ax]!;
  if (n === 0 && idx.size > 0) fail("scatterAdd", `cannot scatter into axis ${ax} of size 0 (self shape ${fmtShape(zt.shape)})`);
  checkIndexRange("scatterAdd", "indices", idx, -n, n, `axis ${ax} of size ${n}`);
  let s = S.slice(st, idx.shape.map(() => 0), idx.shape);
  idx = wrapNegative(idx, n);
  // pad the uncovered positions with zero updates at index 0: adding zero changes nothing
  const hi = zt.shape.map((d, k) => (k === ax ? 0 : d - idx.shape[k]!));
  if (hi.some((h) => h > 0)) {
    const lo = hi.map(() => 0);
    s = S.pad(s, lo, hi, undefined, 0);
    idx = S.pad(idx, lo, hi, undefined, 0);
  }
  return scatterAddPrim(zt, idx, s, ax);
}

/**
 * One-hot encoding: a new last axis of length numClasses with 1 at each index (int32 by default, as
 * PyTorch's integer result). Concrete out-of-range indices raise; traced ones give an all-zero row.
 */
export function oneHot(indices: TensorLike, numClasses: number, dtype: DType = "int32"): Tensor {
  const idx = toIndex("oneHot", "indices", indices);
  if (!Number.isInteger(numClasses) || numClasses < 0) fail("oneHot", `numClasses must be a non-negative integer, got ${numClasses}`);
  checkIndexRange("oneHot", "indices", idx, 0, numClasses, `${numClasses} classes`);
  return oneHotUnchecked(idx, numClasses, dtype);
}

/** oneHot without the range check: out-of-range indices give all-zero rows. */
function oneHotUnchecked(idx: Tensor, numClasses: number, dtype: DType): Tensor {
  const r = idx.ndim;
  const shape = [...idx.shape, numClasses];
  const b = S.broadcastInDim(E.convert(idx, "int32"), shape, idx.shape.map((_, k) => k));
  return E.convert(E.eq(b, S.iota(shape, r)), dtype);
}

/** Embedding lookup: weight[ids], one row of the 2-D `weight` per id. */
export function embedding(ids: TensorLike, weight: TensorLike): Tensor {
  const w = toTensor(weight);
  const i = toIndex("embedding", "ids", ids);
  if (w.ndim !== 2) fail("embedding", `weight must be 2-D [numEmbeddings, dim], got shape ${fmtShape(w.shape)}`);
  checkIndexRange("embedding", "ids", i, 0, w.shape[0]!, `an embedding table of ${w.shape[0]} rows`);
  return take(w, i, 0);
}

export interface SortOpts {
  /** Axis to sort along (default -1); null sorts the flattened array. */
  axis?: number | null;
  /** Largest first. The sort is stable either way; NaN counts as the largest value. */
  descending?: boolean;
}

function prepSort(op: string, x: TensorLike, opts: SortOpts): [Tensor, number] {
  let t = toTensor(x);
  const a = opts.axis === undefined ? -1 : opts.axis;
  if (a === null || t.ndim === 0) {
    t = S.reshape(t, [t.size]);
    return [t, 0];
  }
  return [t, normAxis(op, a, t.ndim)];
}

/** Sorted copy along an axis (stable): `tr.sort(x, { axis: 0, descending: true })`. */
export function sort(x: TensorLike, opts: SortOpts = {}): Tensor {
  const t0 = toTensor(x);
  if (t0.ndim === 0 && opts.axis !== null) return t0;
  const [t, ax] = prepSort("sort", t0, opts);
  return sortWithIndices(t, ax, opts.descending ?? false)[0];
}

/** Indices (int32) that sort x along an axis, stable: `x.argsort({ descending: true })`. */
export function argsort(x: TensorLike, opts: SortOpts = {}): Tensor {
  const t0 = toTensor(x);
  if (t0.ndim === 0 && opts.axis !== null) return fullPrim([], 0, "int32");
  const [t, ax] = prepSort("argsort", t0, opts);
  return sortWithIndices(t, ax, opts.descending ?? false)[1];
}

export interface TopkOpts {
  /** Axis to search (default -1). */
  axis?: number;
  /** The k largest (default) or the k smallest. */
  largest?: boolean;
}

/**
 * The k largest (or smallest) entries along an axis and their int32 indices, sorted best first.
 * @example const [vals, idx] = tr.topk(logits, 5);
 */
export function topk(x: TensorLike, k: number, opts: TopkOpts = {}): [Tensor, Tensor] {
  let t = toTensor(x);
  if (t.ndim === 0) t = S.reshape(t, [1]);
  const ax = normAxis("topk", opts.axis ?? -1, t.ndim);
  const n = t.shape[ax]!;
  if (!Number.isInteger(k) || k < 0 || k > n) fail("topk", `k must be an integer in [0, ${n}] for axis ${ax} of shape ${fmtShape(t.shape)}, got ${k}`);
  const [v, i] = sortWithIndices(t, ax, opts.largest ?? true);
  const lim = t.shape.map((d, a) => (a === ax ? k : d));
  const start = t.shape.map(() => 0);
  return [S.slice(v, start, lim), S.slice(i, start, lim)];
}

// ---------------- Tensor methods ----------------
declare module "../tensor.js" {
  interface Tensor {
    /** NumPy take along an axis (flattened when axis is null or omitted). */
    take(indices: TensorLike, opts?: TakeOpts | number | null): Tensor;
    /** NumPy take_along_axis / PyTorch gather. */
    takeAlongAxis(indices: TensorLike, axis: number | null): Tensor;
    /** Sorted copy along an axis (default -1). */
    sort(opts?: SortOpts): Tensor;
    /** Indices that sort along an axis (default -1). */
    argsort(opts?: SortOpts): Tensor;
    /** The k largest (or smallest) values and their indices along an axis. */
    topk(k: number, opts?: TopkOpts): [Tensor, Tensor];
  }
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
proto["take"] = function (this: Tensor, indices: TensorLike, opts?: TakeOpts | number | null) {
  return take(this, indices, opts ?? null);
};
proto["takeAlongAxis"] = function (this: Tensor, indices: TensorLike, axis: number | null) {
  return takeAlongAxis(this, indices, axis);
};
proto["sort"] = function (this: Tensor, opts?: SortOpts) {
  return sort(this, opts);
};
proto["argsort"] = function (this: Tensor, opts?: SortOpts) {
  return argsort(this, opts);
};
proto["topk"] = function (this: Tensor, k: number, opts?: TopkOpts) {
  return topk(this, k, opts);
};
