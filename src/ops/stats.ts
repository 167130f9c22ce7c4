// Everyday NumPy/PyTorch ops built as compositions of existing public ops (so grad/vmap/jit come free),
// plus the data-dependent-size ones (nonzero/unique/bincount) which run eagerly unless a static size is given.
import { fail, fmtShape } from "../core/errors.js";
import { normAxis } from "../core/shape.js";
import { isFloat } from "../core/dtype.js";
import { Tensor } from "../tensor.js";
import { toTensor, fromTypedArray, type TensorLike } from "./convert.js";
import * as C from "./core.js";
import * as Sh from "./shape.js";
import { sort, argsort, takeAlongAxis } from "./indexing.js";
import { arange, full } from "./creation.js";

const sizeMsg = (op: string) =>
  `${op}: the output size is data-dependent, so it cannot be computed on a traced value (inside jit/vmap/grad); ` +
  `pass a static { size } option (and optionally { fillValue }) to get a fixed-size result`;

/** Options of the dynamic-size ops: a static `size` makes them traceable (padded with `fillValue`). */
export interface SizeOpts { size?: number; fillValue?: number }

function moveLast(t: Tensor, ax: number): Tensor { return ax === t.ndim - 1 ? t : Sh.moveaxis(t, ax, -1); }
function moveBack(t: Tensor, ax: number, ndim: number): Tensor { return ax === ndim - 1 ? t : Sh.moveaxis(t, -1, ax); }
function prepAxis(op: string, x: TensorLike, axis: number | null | undefined): [Tensor, number] {
  let t = toTensor(x);
  if (axis === null || axis === undefined) t = Sh.reshape(t, [t.size]);
  if (t.ndim === 0) t = Sh.reshape(t, [1]);
  return [t, normAxis(op, axis ?? 0, t.ndim)];
}

/** Indices of nonzero entries: [n, ndim] int32 like PyTorch, or one index tensor per dim with `asTuple`. */
export function nonzero(x: TensorLike, opts: SizeOpts & { asTuple: true }): Tensor[];
export function nonzero(x: TensorLike, opts?: SizeOpts & { asTuple?: false }): Tensor;
export function nonzero(x: TensorLike, opts: SizeOpts & { asTuple?: boolean } = {}): Tensor | Tensor[] {
  const t = toTensor(x);
  const shape = t.ndim === 0 ? [1] : t.shape;
  let flat: Tensor;
  if (opts.size === undefined) {
    if (t.isTracer) fail("nonzero", sizeMsg("nonzero").slice("nonzero: ".length));
    const d = t.dataSync();
    const idx: number[] = [];
    for (let i = 0; i < d.length; i++) if (Number(d[i]) !== 0) idx.push(i);
    flat = fromTypedArray(Int32Array.from(idx), [idx.length], "int32");
  } else {
    const size = opts.size;
    if (!Number.isInteger(size) || size < 0) fail("nonzero", `size must be a non-negative integer, got ${size}`);
    const m = C.astype(C.notEqual(Sh.reshape(t, [t.size]), 0), "int32");
    const cs = C.cumsum(m);
    // slot k holds the position where the running count first reaches k+1 = #positions with count <= k
    const k = Sh.reshape(arange(0, size, 1, "int32"), [size, 1]);
    const pos = C.sum(C.lessEqual(Sh.reshape(cs, [1, t.size]), k), { axis: 1 });
    flat = C.where(C.less(pos, t.size), pos, opts.fillValue ?? 0);
    flat = C.astype(flat, "int32");
  }
  const cols: Tensor[] = [];
  let rest = flat;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    cols.unshift(C.astype(C.remainder(rest, d), "int32"));
    rest = C.floorDivide(rest, d);
  }
  if (opts.size !== undefined && opts.fillValue !== undefined) {
    const valid = C.less(flat, t.size === 0 ? 1 : t.size);
    for (let i = 0; i < cols.length; i++) cols[i] = C.astype(C.where(C.logicalAnd(valid, C.notEqual(flat, opts.fillValue)), cols[i]!, opts.fillValue), "int32");
  }
  if (t.ndim === 0) cols.length = 0;
  if (opts.asTuple) return cols;
  return cols.length === 0 ? Sh.reshape(flat, [flat.shape[0]!, 0]) : Sh.stack(cols, 1);
}

/** NumPy argwhere: [n, ndim] int32 indices of the nonzero entries. */
export function argwhere(x: TensorLike, opts: SizeOpts = {}): Tensor {
  return nonzero(x, { ...opts, asTuple: false });
}

/** Result of `unique` with the optional outputs. */
export interface UniqueResult { values: Tensor; inverse?: Tensor; counts?: Tensor }

/** Sorted unique values of the flattened input, optionally with inverse indices and counts; eager only. */
export function unique(x: TensorLike, opts: { returnInverse?: boolean; returnCounts?: boolean } = {}): UniqueResult {
  const t = toTensor(x);
  if (t.isTracer) fail("unique", sizeMsg("unique").slice("unique: ".length));
  const d = Array.from(t.dataSync(), Number);
  const vals = [...new Set(d.map((v) => (Number.isNaN(v) ? NaN : v)))].sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b));
  const pos = new Map(vals.map((v, i) => [v, i]));
  const inv = d.map((v) => pos.get(v)!);
  const cnt = new Array<number>(vals.length).fill(0);
  for (const i of inv) cnt[i]!++;
  const res: UniqueResult = { values: C.astype(fromTypedArray(Float64Array.from(vals), [vals.length], "float64"), t.dtype) };
  if (opts.returnInverse) res.inverse = fromTypedArray(Int32Array.from(inv), t.shape, "int32");
  if (opts.returnCounts) res.counts = fromTypedArray(Int32Array.from(cnt), [cnt.length], "int32");
  return res;
}
/** Array API unique_values. */
export const uniqueValues = (x: TensorLike): Tensor => unique(x).values;
/** Array API unique_counts. */
export const uniqueCounts = (x: TensorLike): { values: Tensor; counts: Tensor } => {
  const r = unique(x, { returnCounts: true });
  return { values: r.values, counts: r.counts! };
};
/** Array API unique_inverse. */
export const uniqueInverse = (x: TensorLike): { values: Tensor; inverseIndices: Tensor } => {
  const r = unique(x, { returnInverse: true });
  return { values: r.values, inverseIndices: r.inverse! };
};

/** Coordinate grids: indexing "xy" (default, NumPy) swaps the first two output axes relative to "ij". */
export function meshgrid(xs: readonly TensorLike[], opts: { indexing?: "xy" | "ij" } = {}): Tensor[] {
  const ts = xs.map((x) => { const t = toTensor(x); return Sh.reshape(t, [t.size]); });
  const ij = opts.indexing === "ij";
  if (opts.indexing !== undefined && opts.indexing !== "xy" && !ij) fail("meshgrid", `indexing must be "xy" or "ij", got ${String(opts.indexing)}`);
  const shape = ts.map((t) => t.size);
  if (!ij && shape.length >= 2) [shape[0], shape[1]] = [shape[1]!, shape[0]!];
  return ts.map((t, i) => {
    let ax = i;
    if (!ij && ts.length >= 2 && i < 2) ax = 1 - i;
    const s = shape.map((_, j) => (j === ax ? t.size : 1));
    return Sh.broadcastTo(Sh.reshape(t, s), shape);
  });
}

/** n-th discrete difference along `axis` (default -1), with optional prepend/append. */
export function diff(x: TensorLike, opts: { n?: number; axis?: number; prepend?: TensorLike; append?: TensorLike } = {}): Tensor {
  let t = toTensor(x);
  if (t.ndim === 0) fail("diff", "input must be at least 1-D, got a scalar");
  const ax = normAxis("diff", opts.axis ?? -1, t.ndim);
  const n = opts.n ?? 1;
  if (!Number.isInteger(n) || n < 0) fail("diff", `n must be a non-negative integer, got ${n}`);
  const ext = (v: TensorLike) => {
    const e = toTensor(v);
    return e.ndim === 0 ? Sh.broadcastTo(e, t.shape.map((d, i) => (i === ax ? 1 : d))) : e;
  };
  if (opts.prepend !== undefined || opts.append !== undefined) {
    const parts = [opts.prepend !== undefined ? ext(opts.prepend) : null, t, opts.append !== undefined ? ext(opts.append) : null].filter((p): p is Tensor => p !== null);
    t = Sh.concatenate(C.promote("diff", ...parts), ax);
  }
  for (let k = 0; k < n; k++) {
    const len = t.shape[ax]!;
    const lo = t.shape.map((_, i) => (i === ax ? [0, len - 1] : null)) as Sh.SliceSpec[];
    const hi = t.shape.map((_, i) => (i === ax ? [1, len] : null)) as Sh.SliceSpec[];
    t = t.dtype === "bool" ? C.notEqual(Sh.slice(t, hi), Sh.slice(t, lo)) : C.sub(Sh.slice(t, hi), Sh.slice(t, lo));
  }
  return t;
}

/** Lower-triangular [n, n] mask tri[i, j] = j <= i used by the scan-style compositions. */
function tri(n: number): Tensor {
  return C.lessEqual(Sh.reshape(arange(0, n, 1, "int32"), [1, n]), Sh.reshape(arange(0, n, 1, "int32"), [n, 1]));
}

/** Cumulative product along `axis` (flattened when omitted); exact with zeros and differentiable. */
export function cumprod(x: TensorLike, opts: { axis?: number | null } = {}): Tensor {
  const [t0, ax] = prepAxis("cumprod", x, opts.axis);
  const t = moveLast(t0, ax);
  const n = t.shape[t.ndim - 1]!;
  // Hillis-Steele scan of plain multiplies: exact with zeros, and its gradient is exact there too
  let r = t;
  for (let d = 1; d < n; d *= 2) {
    const ones = full([...r.shape.slice(0, -1), d], 1, r.dtype);
    const head = Sh.slice(r, r.shape.map((_, i) => (i === r.ndim - 1 ? [0, n - d] : null)) as Sh.SliceSpec[]);
    r = C.mul(r, Sh.concatenate([ones, head], -1));
  }
  return moveBack(r, ax, t0.ndim);
}

function cumExt(op: "cummax", x: TensorLike, axis: number): { values: Tensor; indices: Tensor } {
  const t0 = toTensor(x);
  const t1 = t0.ndim === 0 ? Sh.reshape(t0, [1]) : t0;
  const ax = normAxis(op, axis, t1.ndim);
  const t = moveLast(t1, ax);
  const n = t.shape[t.ndim - 1]!;
  const e = Sh.expandDims(t, -2);
  const mask = tri(n);
  const fillv = -Infinity;
  const m = C.where(mask, e, isFloat(t.dtype) ? C.astype(fromTypedArray(Float64Array.of(fillv), [], "float64"), t.dtype) : -2147483648);
  const vals = C.max(m, { axis: -1 });
  // PyTorch reports the last position attaining the running extreme (NaN propagates and is its own index)
  const hit = C.logicalAnd(mask, C.logicalOr(C.equal(e, Sh.expandDims(vals, -1)), C.logicalAnd(C.isnan(e), C.isnan(Sh.expandDims(vals, -1)))));
  const idx = C.max(C.where(hit, Sh.reshape(arange(0, n, 1, "int32"), [n]), -1), { axis: -1 });
  const r = { values: moveBack(vals, ax, t1.ndim), indices: C.astype(moveBack(idx, ax, t1.ndim), "int32") };
  return t0.ndim === 0 ? { values: Sh.reshape(r.values, []), indices: Sh.reshape(r.indices, []) } : r;
}
/** Running maximum along `axis` with the index where it was attained (PyTorch cummax). */
export const cummax = (x: TensorLike, axis: number): { values: Tensor; indices: Tensor } => cumExt("cummax", x, axis);
/** Running minimum along `axis` with the index where it was attained (PyTorch cummin). */
export const cummin = (x: TensorLike, axis: number): { values: Tensor; indices: Tensor } => {
  const r = cumExt("cummax", C.neg(toTensor(x)), axis);
  return { values: C.neg(r.values), indices: r.indices };
};

/** Array API cumulative_sum with `includeInitial` (a leading zero). */
export function cumulativeSum(x: TensorLike, opts: { axis?: number; includeInitial?: boolean } = {}): Tensor {
  const t = toTensor(x);
  if (opts.axis === undefined && t.ndim > 1) fail("cumulativeSum", `axis is required for a ${t.ndim}-D input of shape ${fmtShape(t.shape)}`);
  const ax = normAxis("cumulativeSum", opts.axis ?? 0, Math.max(t.ndim, 1));
  const r = C.cumsum(t, { axis: ax });
  if (!opts.includeInitial) return r;
  return Sh.concatenate([C.mul(Sh.slice(r, r.shape.map((_, i) => (i === ax ? [0, 1] : null)) as Sh.SliceSpec[]), 0), r], ax);
}
/** Array API cumulative_prod with `includeInitial` (a leading one). */
export function cumulativeProd(x: TensorLike, opts: { axis?: number; includeInitial?: boolean } = {}): Tensor {
  const t = toTensor(x);
  if (opts.axis === undefined && t.ndim > 1) fail("cumulativeProd", `axis is required for a ${t.ndim}-D input of shape ${fmtShape(t.shape)}`);
  const ax = normAxis("cumulativeProd", opts.axis ?? 0, Math.max(t.ndim, 1));
  const r = cumprod(t, { axis: ax });
  if (!opts.includeInitial) return r;
  const one = C.add(C.mul(Sh.slice(r, r.shape.map((_, i) => (i === ax ? [0, 1] : null)) as Sh.SliceSpec[]), 0), 1);
  return Sh.concatenate([one, r], ax);
}

/** Quantile interpolation methods (NumPy names). */
export type QuantileMethod = "linear" | "lower" | "higher" | "nearest" | "midpoint";

function checkQ(op: string, q: number[]): void {
  for (const v of q) if (!(v >= 0 && v <= 1)) fail(op, `q must lie in [0, 1], got ${v}`);
}

/** q-th quantile along `axis` (flattened when omitted); q a number or 1-D list (a leading output axis). */
export function quantile(x: TensorLike, q: number | readonly number[], opts: { axis?: number | null; keepdims?: boolean; method?: QuantileMethod } = {}): Tensor {
  const qs = typeof q === "number" ? [q] : [...q];
  checkQ("quantile", qs);
  const method = opts.method ?? "linear";
  if (!["linear", "lower", "higher", "nearest", "midpoint"].includes(method)) fail("quantile", `unknown method "${method}"`);
  let [t, ax] = prepAxis("quantile", x, opts.axis);
  if (!isFloat(t.dtype)) t = C.astype(t, "float32");
  const n = t.shape[ax]!;
  if (n === 0) fail("quantile", "cannot take a quantile of an empty axis");
  const s = moveLast(sort(t, { axis: ax }), ax);
  const outs = qs.map((qq) => {
    const p = qq * (n - 1);
    const lo = Math.floor(p), hi = Math.min(lo + 1, n - 1), g = p - lo;
    const at = (i: number) => Sh.squeeze(Sh.slice(s, s.shape.map((_, j) => (j === s.ndim - 1 ? [i, i + 1] : null)) as Sh.SliceSpec[]), -1);
    let r: Tensor;
    if (method === "lower") r = at(lo);
    else if (method === "higher") r = at(g > 0 ? hi : lo);
    else if (method === "nearest") r = at(g > 0.5 || (g === 0.5 && lo % 2 === 1) ? hi : lo);
    else if (method === "midpoint") r = g > 0 ? C.mul(C.add(at(lo), at(hi)), 0.5) : at(lo);
    else r = g > 0 ? C.add(at(lo), C.mul(C.sub(at(hi), at(lo)), g)) : at(lo);
    if (opts.keepdims) r = Sh.expandDims(r, opts.axis === null || opts.axis === undefined ? 0 : ax);
    if (opts.keepdims && (opts.axis === null || opts.axis === undefined)) r = Sh.reshape(r, toTensor(x).shape.map(() => 1));
    return r;
  });
  return typeof q === "number" ? outs[0]! : Sh.stack(outs, 0);
}

/** Median: the lower median like PyTorch; with `axis` also the index of that element. */
export function median(x: TensorLike): Tensor;
export function median(x: TensorLike, axis: number, opts?: { keepdims?: boolean }): { values: Tensor; indices: Tensor };
export function median(x: TensorLike, axis?: number, opts: { keepdims?: boolean } = {}): Tensor | { values: Tensor; indices: Tensor } {
  const t0 = toTensor(x);
  const [t, ax] = prepAxis("median", t0, axis);
  const n = t.shape[ax]!;
  if (n === 0) fail("median", "cannot take the median of an empty axis");
  const k = Math.floor((n - 1) / 2);
  const idx = argsort(t, { axis: ax });
  const pick = Sh.slice(idx, idx.shape.map((_, j) => (j === ax ? [k, k + 1] : null)) as Sh.SliceSpec[]);
  let v = takeAlongAxis(t, pick, ax), i = pick;
  if (!(opts.keepdims && axis !== undefined)) { v = Sh.squeeze(v, ax); i = Sh.squeeze(i, ax); }
  if (axis === undefined) return Sh.reshape(v, []);
  if (t0.ndim === 0) return { values: Sh.reshape(v, []), indices: Sh.reshape(i, []) };
  return { values: v, indices: i };
}

// ---------------- NaN-ignoring reductions ----------------
type RO = C.ReduceOpts;
// Non-finite fills go in as data, not weak JS scalars: in one process, where(c, -Infinity, x) followed by
// where(c, Infinity, x) or where(c, NaN, x) reuses the first non-finite constant (a core bug, reported).
const special = (v: number, t: Tensor): Tensor => C.astype(fromTypedArray(Float64Array.of(v), [], "float64"), t.dtype);
const notNan = (t: Tensor) => C.logicalNot(C.isnan(t));
/** Sum treating NaN as zero. */
export const nansum = (x: TensorLike, opts: RO = {}): Tensor => { const t = toTensor(x); return C.sum(isFloat(t.dtype) ? C.where(C.isnan(t), 0, t) : t, opts); };
/** Product treating NaN as one. */
export const nanprod = (x: TensorLike, opts: RO = {}): Tensor => { const t = toTensor(x); return C.prod(isFloat(t.dtype) ? C.where(C.isnan(t), 1, t) : t, opts); };
/** Mean over the non-NaN entries (NaN where all are NaN). */
export function nanmean(x: TensorLike, opts: RO = {}): Tensor {
  let t = toTensor(x);
  if (!isFloat(t.dtype)) t = C.astype(t, "float32");
  return C.div(nansum(t, opts), C.astype(C.sum(notNan(t), opts), t.dtype));
}
/** Variance over the non-NaN entries with `ddof`. */
export function nanvar(x: TensorLike, opts: RO & { ddof?: number } = {}): Tensor {
  let t = toTensor(x);
  if (!isFloat(t.dtype)) t = C.astype(t, "float32");
  const mu = nanmean(t, { axis: opts.axis, keepdims: true });
  const d = C.where(C.isnan(t), 0, C.sub(t, mu));
  const cnt = C.astype(C.sum(notNan(t), { axis: opts.axis, keepdims: opts.keepdims }), t.dtype);
  const dof = C.sub(cnt, opts.ddof ?? 0);
  // NumPy: NaN where no degrees of freedom are left (all-NaN slices included)
  return C.where(C.lessEqual(dof, 0), special(NaN, t), C.div(C.sum(C.mul(d, d), { axis: opts.axis, keepdims: opts.keepdims }), dof));
}
/** Standard deviation over the non-NaN entries. */
export const nanstd = (x: TensorLike, opts: RO & { ddof?: number } = {}): Tensor => C.sqrt(nanvar(x, opts));
/** Maximum ignoring NaN (NaN where all are NaN). */
export function nanmax(x: TensorLike, opts: RO = {}): Tensor {
  const t = toTensor(x);
  if (!isFloat(t.dtype)) return C.max(t, opts);
  const r = C.max(C.where(C.isnan(t), special(-Infinity, t), t), opts);
  return C.where(C.equal(C.sum(C.astype(notNan(t), "int32"), opts), 0), special(NaN, t), r);
}
/** Minimum ignoring NaN (NaN where all are NaN). */
export function nanmin(x: TensorLike, opts: RO = {}): Tensor {
  const t = toTensor(x);
  if (!isFloat(t.dtype)) return C.min(t, opts);
  const r = C.min(C.where(C.isnan(t), special(Infinity, t), t), opts);
  return C.where(C.equal(C.sum(C.astype(notNan(t), "int32"), opts), 0), special(NaN, t), r);
}

// ---------------- comparisons, counting, searching ----------------
/** |a - b| <= atol + rtol |b| elementwise (NumPy isclose), optionally NaN == NaN. */
export function isclose(a: TensorLike, b: TensorLike, opts: { rtol?: number; atol?: number; equalNan?: boolean } = {}): Tensor {
  const [x, y] = C.promote("isclose", a, b);
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-8;
  let r = C.logicalOr(C.equal(x!, y!), C.lessEqual(C.abs(C.sub(x!, y!)), C.add(C.mul(C.abs(y!), rtol), atol)));
  if (opts.equalNan) r = C.logicalOr(r, C.logicalAnd(C.isnan(x!), C.isnan(y!)));
  return r;
}
/** True when every element is close (eager; returns a JS boolean). */
export function allclose(a: TensorLike, b: TensorLike, opts: { rtol?: number; atol?: number; equalNan?: boolean } = {}): boolean {
  const r = C.all(isclose(a, b, opts));
  if (r.isTracer) fail("allclose", "returns a JS boolean, so it cannot run on traced values; use tr.all(tr.isclose(a, b)) instead");
  return r.item() !== 0;
}
/** Number of nonzero entries over `axis` (all when omitted). */
export const countNonzero = (x: TensorLike, opts: RO = {}): Tensor => C.sum(C.astype(C.notEqual(toTensor(x), 0), "int32"), opts);

/** Insertion indices of `v` into the sorted last axis of `a` (side "left" or "right"; optional `sorter`). */
export function searchsorted(a: TensorLike, v: TensorLike, opts: { side?: "left" | "right"; sorter?: TensorLike } = {}): Tensor {
  let s = toTensor(a);
  if (s.ndim !== 1) fail("searchsorted", `sorted sequence must be 1-D, got shape ${fmtShape(s.shape)}`);
  if (opts.sorter !== undefined) s = takeAlongAxis(s, toTensor(opts.sorter), 0);
  const side = opts.side ?? "left";
  if (side !== "left" && side !== "right") fail("searchsorted", `side must be "left" or "right", got ${String(side)}`);
  const [ss, vv] = C.promote("searchsorted", s, v);
  const ve = Sh.expandDims(vv!, -1);
  const cmp = side === "left" ? C.less(ss!, ve) : C.lessEqual(ss!, ve);
  return C.astype(C.sum(cmp, { axis: -1 }), "int32");
}

/** Counts of each non-negative integer (optionally weighted); eager unless a static `length` is given. */
export function bincount(x: TensorLike, opts: { weights?: TensorLike; minlength?: number; length?: number } = {}): Tensor {
  const t = toTensor(x);
  if (t.ndim !== 1) fail("bincount", `input must be 1-D, got shape ${fmtShape(t.shape)}`);
  if (isFloat(t.dtype) || t.dtype === "bool") fail("bincount", `input must be an integer tensor, got ${t.dtype}`);
  let len = opts.length;
  if (len === undefined) {
    if (t.isTracer) fail("bincount", sizeMsg("bincount").slice(10).replace("{ size }", "{ length }").replace("{ fillValue }", "{ minlength }"));
    const d = t.dataSync();
    let mx = -1;
    for (const v of d) { if (Number(v) < 0) fail("bincount", `input must be non-negative, got ${v}`); mx = Math.max(mx, Number(v)); }
    len = Math.max(mx + 1, opts.minlength ?? 0);
  }
  const oh = C.equal(Sh.expandDims(t, -1), arange(0, len, 1, "int32"));
  if (opts.weights === undefined) return C.sum(C.astype(oh, "int32"), { axis: 0 });
  const w = toTensor(opts.weights);
  if (w.shape.length !== 1 || w.shape[0] !== t.shape[0]) fail("bincount", `weights must have shape ${fmtShape(t.shape)}, got ${fmtShape(w.shape)}`);
  return C.sum(C.where(oh, Sh.expandDims(w, -1), 0), { axis: 0 });
}

/** Histogram with `bins` equal bins over `range` (default [min, max]); eager. Last bin is closed like NumPy. */
export function histogram(x: TensorLike, opts: { bins?: number; range?: [number, number]; weights?: TensorLike } = {}): { hist: Tensor; binEdges: Tensor } {
  const t = Sh.reshape(toTensor(x), [toTensor(x).size]);
  const bins = opts.bins ?? 10;
  if (!Number.isInteger(bins) || bins < 1) fail("histogram", `bins must be a positive integer, got ${bins}`);
  let [lo, hi] = opts.range ?? [NaN, NaN];
  if (opts.range === undefined) {
    if (t.isTracer) fail("histogram", "without an explicit range the bin edges depend on the data; pass { range: [lo, hi] }");
    lo = t.size ? C.min(t).item() : 0; hi = t.size ? C.max(t).item() : 1;
  }
  if (!(hi >= lo)) fail("histogram", `range must satisfy lo <= hi, got [${lo}, ${hi}]`);
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const dt = isFloat(t.dtype) ? t.dtype : "float64";
  const edges = Float64Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const tf = C.astype(t, "float64");
  let b = C.floor(C.mul(C.sub(tf, lo), bins / (hi - lo)));
  b = C.where(C.equal(tf, hi), bins - 1, b);
  const inRange = C.logicalAnd(C.greaterEqual(tf, lo), C.lessEqual(tf, hi));
  const oh = C.logicalAnd(Sh.expandDims(inRange, -1), C.equal(Sh.expandDims(b, -1), arange(0, bins, 1, "float64")));
  const w = opts.weights === undefined ? C.astype(oh, dt) : C.where(oh, Sh.expandDims(Sh.reshape(toTensor(opts.weights), [t.size]), -1), 0);
  return { hist: C.sum(w, { axis: 0 }), binEdges: C.astype(fromTypedArray(edges, [bins + 1], "float64"), dt) };
}

/** PyTorch histc: counts in `bins` equal bins over [min, max] (elements outside are ignored). */
export function histc(x: TensorLike, opts: { bins?: number; min?: number; max?: number } = {}): Tensor {
  const t = toTensor(x);
  const lo = opts.min ?? 0, hi = opts.max ?? 0;
  const range: [number, number] | undefined = lo === 0 && hi === 0 ? undefined : [lo, hi];
  return C.astype(histogram(t, { bins: opts.bins ?? 100, ...(range ? { range } : {}) }).hist, isFloat(t.dtype) ? t.dtype : "float32");
}


/** Array API unique_all: values, first indices, inverse indices and counts. */
export function uniqueAll(x: TensorLike): { values: Tensor; indices: Tensor; inverseIndices: Tensor; counts: Tensor } {
  const r = unique(x, { returnInverse: true, returnCounts: true });
  const inv = Array.from(r.inverse!.dataSync(), Number);
  const first = new Array<number>(r.values.size).fill(-1);
  inv.forEach((u, i) => { if (first[u] === -1) first[u] = i; });
  return { values: r.values, indices: fromTypedArray(Int32Array.from(first), [first.length], "int32"), inverseIndices: r.inverse!, counts: r.counts! };
}

/** Linear-interpolated quantile ignoring NaN (NaN where a slice is all NaN); traceable, since sort puts NaN last. */
export function nanquantile(x: TensorLike, q: number | readonly number[], opts: { axis?: number | null; keepdims?: boolean } = {}): Tensor {
  const qs = typeof q === "number" ? [q] : [...q];
  checkQ("nanquantile", qs);
  let [t, ax] = prepAxis("nanquantile", x, opts.axis);
  if (!isFloat(t.dtype)) t = C.astype(t, "float32");
  const s = moveLast(sort(t, { axis: ax }), ax);
  const cnt = C.astype(C.sum(C.astype(notNan(s), "int32"), { axis: -1, keepdims: true }), s.dtype);
  const outs = qs.map((qq) => {
    const p = C.mul(C.maximum(C.sub(cnt, 1), 0), qq);
    const lo = C.floor(p);
    const hi = C.minimum(C.add(lo, 1), C.maximum(C.sub(cnt, 1), 0));
    const g = C.sub(p, lo);
    const a = takeAlongAxis(s, C.astype(lo, "int32"), -1), b = takeAlongAxis(s, C.astype(hi, "int32"), -1);
    let r = C.add(a, C.mul(C.sub(b, a), g));
    r = C.where(C.equal(cnt, 0), special(NaN, s), r);
    r = Sh.squeeze(r, -1);
    if (opts.keepdims) r = opts.axis === null || opts.axis === undefined ? Sh.reshape(r, toTensor(x).shape.map(() => 1)) : Sh.expandDims(r, ax);
    return r;
  });
  return typeof q === "number" ? outs[0]! : Sh.stack(outs, 0);
}

/** Lower median ignoring NaN (PyTorch nanmedian), over `axis` or all elements. */
export function nanmedian(x: TensorLike, opts: { axis?: number | null; keepdims?: boolean } = {}): Tensor {
  let [t, ax] = prepAxis("nanmedian", x, opts.axis);
  if (!isFloat(t.dtype)) t = C.astype(t, "float32");
  const s = moveLast(sort(t, { axis: ax }), ax);
  const cnt = C.sum(C.astype(notNan(s), "int32"), { axis: -1, keepdims: true });
  const k = C.astype(C.floorDivide(C.maximum(C.sub(cnt, 1), 0), 2), "int32");
  let r = C.where(C.equal(cnt, 0), special(NaN, s), takeAlongAxis(s, k, -1));
  r = Sh.squeeze(r, -1);
  if (opts.keepdims) r = opts.axis === null || opts.axis === undefined ? Sh.reshape(r, toTensor(x).shape.map(() => 1)) : Sh.expandDims(r, ax);
  return r;
}
