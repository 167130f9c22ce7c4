/** PyTorch names that point at the existing ops (one source of truth per op; nothing reimplemented). */
import type { DType } from "../core/dtype.js";
import { isInt } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { broadcastShapes, normAxis } from "../core/shape.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import * as ops from "./index.js";

/** PyTorch's `gt`: elementwise x > y. */
export const gt = (x: TensorLike, y: TensorLike): Tensor => ops.greater(x, y);
/** PyTorch's `lt`: elementwise x < y. */
export const lt = (x: TensorLike, y: TensorLike): Tensor => ops.less(x, y);
/** PyTorch's `ge`: elementwise x >= y. */
export const ge = (x: TensorLike, y: TensorLike): Tensor => ops.greaterEqual(x, y);
/** PyTorch's `le`: elementwise x <= y. */
export const le = (x: TensorLike, y: TensorLike): Tensor => ops.lessEqual(x, y);
/** PyTorch's `eq`: elementwise x == y. */
export const eq = (x: TensorLike, y: TensorLike): Tensor => ops.equal(x, y);
/** PyTorch's `ne`: elementwise x != y. */
export const ne = (x: TensorLike, y: TensorLike): Tensor => ops.notEqual(x, y);
/**
 * PyTorch's `clamp` (NumPy's `clip`); either bound may be omitted or a tensor.
 * @example tr.clamp(x, { min: 0 })
 */
export const clamp = (x: TensorLike, bounds: { min?: TensorLike | null; max?: TensorLike | null } = {}): Tensor =>
  ops.clip(x, bounds.min ?? null, bounds.max ?? null);
/** PyTorch's `mm`/`bmm`/`mv`: matrix products, all through `matmul`. */
export const mm = (a: TensorLike, b: TensorLike): Tensor => ops.matmul(a, b);
/** Batched matrix product (PyTorch's `bmm`). */
export const bmm = (a: TensorLike, b: TensorLike): Tensor => ops.matmul(a, b);
/** Matrix-vector product (PyTorch's `mv`). */
export const mv = (a: TensorLike, b: TensorLike): Tensor => ops.matmul(a, b);

/**
 * A new tensor with x's values (PyTorch's `clone`); gradients flow through it, and in-place writes to
 * one (`add_`) do not reach the other.
 * @example const y = tr.clone(x)
 */
export const clone = (x: TensorLike): Tensor => ops.positive(x);

/**
 * Split into `chunks` pieces along `dim` as PyTorch's `chunk`: each of ceil(n / chunks) elements, the last
 * smaller, so fewer than `chunks` pieces may come back.
 * @example const [q, k, v] = tr.chunk(qkv, 3, -1)
 */
export function chunk(x: TensorLike, chunks: number, dim = 0): Tensor[] {
  const t = toTensor(x);
  if (!Number.isInteger(chunks) || chunks < 1) fail("chunk", `chunks must be a positive integer, got ${chunks}`);
  const ax = normAxis("chunk", dim, t.ndim);
  const n = t.shape[ax]!;
  const step = Math.max(1, Math.ceil(n / chunks));
  return pieces(t, ax, Array.from({ length: Math.max(1, Math.ceil(n / step)) }, (_, i) => Math.min(step, n - i * step)));
}

function pieces(t: Tensor, ax: number, sizes: number[]): Tensor[] {
  let at = 0;
  return sizes.map((s) => {
    const specs = t.shape.map((_, i): ops.SliceSpec => (i === ax ? [at, at + s] : null));
    at += s;
    return ops.slice(t, specs);
  });
}

/**
 * PyTorch's `split` (the method `x.split`): pieces of `size` elements along `dim` (the last smaller), or of
 * the listed sizes. `tr.split` is NumPy's, which takes a number of sections or cut indices instead.
 * @example const [a, b] = x.split([2, 3], 1)
 */
export function splitSizes(x: TensorLike, size: number | readonly number[], dim = 0): Tensor[] {
  const t = toTensor(x);
  const ax = normAxis("split", dim, t.ndim);
  const n = t.shape[ax]!;
  if (typeof size === "number") {
    if (!Number.isInteger(size) || size < 1) fail("split", `split size must be a positive integer, got ${size}`);
    return pieces(t, ax, Array.from({ length: Math.max(1, Math.ceil(n / size)) }, (_, i) => Math.min(size, n - i * size)));
  }
  const total = size.reduce((a, b) => a + b, 0);
  if (size.some((s) => !Number.isInteger(s) || s < 0) || total !== n) {
    fail("split", `split sizes [${size}] must be non-negative integers summing to axis ${ax}'s size ${n} (sum ${total})`);
  }
  return pieces(t, ax, [...size]);
}

/**
 * PyTorch's `tensor_split` (NumPy's `array_split`): `n` nearly equal pieces (the first n mod size one
 * larger), or cuts at the listed indices.
 * @example tr.tensorSplit(tr.arange(7), 3) // sizes 3, 2, 2
 */
export function tensorSplit(x: TensorLike, sections: number | readonly number[], dim = 0): Tensor[] {
  const t = toTensor(x);
  const ax = normAxis("tensorSplit", dim, t.ndim);
  const n = t.shape[ax]!;
  if (typeof sections === "number") {
    if (!Number.isInteger(sections) || sections < 1) fail("tensorSplit", `sections must be a positive integer, got ${sections}`);
    const q = Math.floor(n / sections), r = n % sections;
    return pieces(t, ax, Array.from({ length: sections }, (_, i) => q + (i < r ? 1 : 0)));
  }
  // each piece is x[cut_i : cut_i+1] as Python slices it, so decreasing cuts give empty pieces, not overlaps
  const cuts = [0, ...sections.map((c) => Math.min(Math.max(c < 0 ? c + n : c, 0), n)), n];
  return cuts.slice(1).map((c, i) => ops.slice(t, t.shape.map((_, j): ops.SliceSpec => (j === ax ? [cuts[i]!, Math.max(c, cuts[i]!)] : null))));
}

/**
 * The slices along `dim`, with that axis removed (PyTorch's `unbind`).
 * @example const [x0, x1] = tr.unbind(pairs, 1)
 */
export function unbind(x: TensorLike, dim = 0): Tensor[] {
  const t = toTensor(x);
  const ax = normAxis("unbind", dim, t.ndim);
  return Array.from({ length: t.shape[ax]! }, (_, i) => ops.slice(t, t.shape.map((_, j): ops.SliceSpec => (j === ax ? i : null))));
}

/**
 * `length` elements of axis `dim` from `start` (negative counts from the end), as PyTorch's `narrow`.
 * @example tr.narrow(x, 1, 2, 3) // x[:, 2:5]
 */
export function narrow(x: TensorLike, dim: number, start: number, length: number): Tensor {
  const t = toTensor(x);
  const ax = normAxis("narrow", dim, t.ndim);
  const n = t.shape[ax]!;
  const s = start < 0 ? start + n : start;
  if (!Number.isInteger(s) || s < 0 || s > n) fail("narrow", `start ${start} is out of range for axis ${ax} of size ${n}`);
  if (!Number.isInteger(length) || length < 0 || s + length > n) fail("narrow", `start ${start} + length ${length} exceeds axis ${ax} of size ${n}`);
  return ops.slice(t, t.shape.map((_, i): ops.SliceSpec => (i === ax ? [s, s + length] : null)));
}

/**
 * Transpose of a matrix; 0-D and 1-D tensors come back as they are (PyTorch's `t`).
 * @example tr.t(w) // w.T for a 2-D w
 */
export function t(x: TensorLike): Tensor {
  const a = toTensor(x);
  if (a.ndim > 2) fail("t", `expects a tensor with at most 2 axes, got shape ${fmtShape(a.shape)}; use transpose or mT`);
  return a.ndim < 2 ? a : ops.transpose(a);
}

/**
 * x with `value` where `mask` is true (PyTorch's `masked_fill`); the mask broadcasts to x's shape and the
 * result keeps x's dtype.
 * @example tr.maskedFill(scores, causal, -Infinity)
 */
export function maskedFill(x: TensorLike, mask: TensorLike, value: TensorLike): Tensor {
  const a = toTensor(x), m = toTensor(mask);
  if (m.dtype !== "bool") fail("maskedFill", `mask must be bool, got ${m.dtype}`);
  const shape = broadcastShapes("maskedFill", a.shape, m.shape);
  if (shape.join() !== a.shape.join()) fail("maskedFill", `mask ${fmtShape(m.shape)} does not broadcast to the input's shape ${fmtShape(a.shape)}`);
  const v = toTensor(value);
  if (v.ndim !== 0) fail("maskedFill", `value must be a number or a 0-d tensor, got shape ${fmtShape(v.shape)}`);
  return ops.where(m, ops.astype(v, a.dtype), a);
}

/** Options of {@link addmm}: the result is `beta·input + alpha·(m1 @ m2)`. */
export interface AddmmOpts {
  beta?: number;
  alpha?: number;
}
/**
 * `beta·input + alpha·(m1 @ m2)` (PyTorch's `addmm`); input broadcasts to the product's shape.
 * @example tr.addmm(bias, x, w, { alpha: 0.5 })
 */
export function addmm(input: TensorLike, m1: TensorLike, m2: TensorLike, opts: AddmmOpts = {}): Tensor {
  const a = toTensor(m1), b = toTensor(m2);
  if (a.ndim !== 2 || b.ndim !== 2) fail("addmm", `m1 and m2 must be matrices, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const { beta = 1, alpha = 1 } = opts;
  const prod = ops.matmul(a, b);
  const scaled = alpha === 1 ? prod : ops.mul(prod, alpha);
  // PyTorch ignores input (even NaN in it) when beta is 0
  if (beta === 0) return scaled;
  return ops.add(beta === 1 ? input : ops.mul(input, beta), scaled);
}

/**
 * Repeat each element `repeats` times along `dim` (flattened when dim is null), as PyTorch's
 * `repeat_interleave` and NumPy's `repeat`; `repeats` may give one count per element (concrete).
 * @example tr.repeatInterleave(tr.tensor([1, 2]), [1, 3]) // [1, 2, 2, 2]
 */
export function repeatInterleave(x: TensorLike, repeats: number | readonly number[] | Tensor, dim: number | null = null): Tensor {
  let a = toTensor(x);
  if (dim === null) {
    a = ops.reshape(a, [a.size]);
    dim = 0;
  }
  const ax = normAxis("repeatInterleave", dim, a.ndim);
  if (typeof repeats === "number") {
    if (!Number.isInteger(repeats) || repeats < 0) fail("repeatInterleave", `repeats must be a non-negative integer, got ${repeats}`);
    return ops.repeat(a, repeats, ax);
  }
  let counts: number[];
  if (repeats instanceof Tensor) {
    if (!(repeats instanceof EagerTensor)) fail("repeatInterleave", "per-element repeats decide the output's size, so they must be concrete (not a traced value); pass a JS array or a number under jit");
    if (!isInt(repeats.dtype)) fail("repeatInterleave", `repeats must be an integer tensor, got ${repeats.dtype}`);
    counts = Array.from(repeats.dataSync());
  } else counts = [...repeats];
  const n = a.shape[ax]!;
  if (counts.length === 1) counts = Array(n).fill(counts[0]);
  if (counts.length !== n) fail("repeatInterleave", `repeats has ${counts.length} counts but axis ${ax} has size ${n}`);
  if (counts.some((c) => !Number.isInteger(c) || c < 0)) fail("repeatInterleave", `repeats must be non-negative integers, got [${counts}]`);
  const idx = counts.flatMap((c, i) => Array<number>(c).fill(i));
  return ops.take(a, ops.tensor(idx, "int32"), ax);
}

declare module "../tensor.js" {
  interface Tensor {
    gt(y: TensorLike): Tensor; lt(y: TensorLike): Tensor; ge(y: TensorLike): Tensor;
    le(y: TensorLike): Tensor; eq(y: TensorLike): Tensor; ne(y: TensorLike): Tensor;
    /** PyTorch's clamp: `x.clamp({ min: 0, max: 1 })`. */
    clamp(bounds: { min?: TensorLike | null; max?: TensorLike | null }): Tensor;
    mm(b: TensorLike): Tensor; bmm(b: TensorLike): Tensor; mv(b: TensorLike): Tensor;
    /** Number of elements (PyTorch's numel). */
    numel(): number;
    /** Number of axes (PyTorch's dim()). */
    dim(): number;
    /** PyTorch's view: reshape, with -1 for one inferred axis. */
    view(...shape: number[]): Tensor;
    /** Cast (PyTorch's `to(dtype)`). */
    to(dtype: DType): Tensor;
    float(): Tensor; double(): Tensor; bool(): Tensor; half(): Tensor;
    /** Cast to int32 (JS has no int64 tensors here; PyTorch's `long()` is int64). */
    int(): Tensor; long(): Tensor;
    /** A new tensor with the same values (PyTorch's clone). */
    clone(): Tensor;
    /** Broadcast to `sizes`, -1 keeping an axis (PyTorch's expand): `x.expand(4, -1)`. */
    expand(...sizes: (number | readonly number[])[]): Tensor;
    /** expand to another tensor's shape. */
    expandAs(other: Tensor): Tensor;
    /** reshape to another tensor's shape (PyTorch's view_as / reshape_as). */
    viewAs(other: Tensor): Tensor; reshapeAs(other: Tensor): Tensor;
    /** Cast to another tensor's dtype (PyTorch's type_as). */
    typeAs(other: Tensor): Tensor;
    /** PyTorch's Tensor.repeat: tile the tensor `sizes` times per axis (NumPy's tile; not tr.repeat, which is NumPy's repeat). */
    repeat(...sizes: (number | readonly number[])[]): Tensor;
    /** NumPy tile. */
    tile(reps: number | readonly number[]): Tensor;
    /** PyTorch's Tensor.split: pieces of `size` elements, or of the listed sizes, along dim. */
    split(size: number | readonly number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    tensorSplit(sections: number | readonly number[], dim?: number): Tensor[];
    unbind(dim?: number): Tensor[];
    narrow(dim: number, start: number, length: number): Tensor;
    /** Matrix transpose for at most 2 axes (PyTorch's t()). */
    t(): Tensor;
    maskedFill(mask: TensorLike, value: TensorLike): Tensor;
    repeatInterleave(repeats: number | readonly number[] | Tensor, dim?: number | null): Tensor;
    /** PyTorch's x.where(cond, y): x where cond holds, else y. */
    where(cond: TensorLike, y: TensorLike): Tensor;
    /** Values as nested JS arrays (PyTorch's tolist; same as arraySync). */
    tolist(): ReturnType<Tensor["arraySync"]>;
    /** Tensors here have no strides, so this is the tensor itself (kept for PyTorch code). */
    contiguous(): Tensor;
  }
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
const binary = { gt, lt, ge, le, eq, ne, mm, bmm, mv } as const;
for (const [n, f] of Object.entries(binary)) {
  proto[n] = function (this: Tensor, y: TensorLike) {
    return f(this, y);
  };
}
proto["clamp"] = function (this: Tensor, b: { min?: TensorLike | null; max?: TensorLike | null }) {
  return clamp(this, b);
};
proto["numel"] = function (this: Tensor) {
  return this.size;
};
proto["dim"] = function (this: Tensor) {
  return this.ndim;
};
proto["view"] = function (this: Tensor, ...shape: (number | number[])[]) {
  return ops.reshape(this, shape.flat());
};
proto["to"] = function (this: Tensor, dtype: DType) {
  return ops.astype(this, dtype);
};
const casts: Record<string, DType> = { float: "float32", double: "float64", bool: "bool", half: "float16", int: "int32", long: "int32" };
for (const [n, dt] of Object.entries(casts)) {
  proto[n] = function (this: Tensor) {
    return ops.astype(this, dt);
  };
}

function sizesOf(sizes: (number | readonly number[])[]): number[] {
  return sizes.flatMap((s) => (typeof s === "number" ? [s] : [...s]));
}
proto["clone"] = function (this: Tensor) {
  return clone(this);
};
proto["expand"] = function (this: Tensor, ...sizes: (number | readonly number[])[]) {
  const want = sizesOf(sizes);
  const lead = want.length - this.ndim;
  if (lead < 0) fail("expand", `the number of sizes (${want.length}) must be at least the number of axes (${this.ndim}) of ${fmtShape(this.shape)}`);
  const shape = want.map((d, i) => {
    if (d !== -1) return d;
    if (i < lead) fail("expand", `-1 is not allowed for the new leading axis ${i} of [${want}]`);
    return this.shape[i - lead]!;
  });
  return ops.broadcastTo(this, shape);
};
proto["expandAs"] = function (this: Tensor, o: Tensor) {
  return ops.broadcastTo(this, o.shape);
};
proto["viewAs"] = proto["reshapeAs"] = function (this: Tensor, o: Tensor) {
  return ops.reshape(this, o.shape);
};
proto["typeAs"] = function (this: Tensor, o: Tensor) {
  return ops.astype(this, o.dtype);
};
proto["repeat"] = function (this: Tensor, ...sizes: (number | readonly number[])[]) {
  const r = sizesOf(sizes);
  if (r.length < this.ndim) fail("repeat", `the number of repeats (${r.length}) must be at least the number of axes (${this.ndim}) of ${fmtShape(this.shape)}`);
  return ops.tile(this, r);
};
proto["tile"] = function (this: Tensor, reps: number | readonly number[]) {
  return ops.tile(this, reps);
};
proto["split"] = function (this: Tensor, size: number | readonly number[], dim = 0) {
  return splitSizes(this, size, dim);
};
proto["chunk"] = function (this: Tensor, n: number, dim = 0) {
  return chunk(this, n, dim);
};
proto["tensorSplit"] = function (this: Tensor, s: number | readonly number[], dim = 0) {
  return tensorSplit(this, s, dim);
};
proto["unbind"] = function (this: Tensor, dim = 0) {
  return unbind(this, dim);
};
proto["narrow"] = function (this: Tensor, dim: number, start: number, length: number) {
  return narrow(this, dim, start, length);
};
proto["t"] = function (this: Tensor) {
  return t(this);
};
proto["maskedFill"] = function (this: Tensor, mask: TensorLike, value: TensorLike) {
  return maskedFill(this, mask, value);
};
proto["repeatInterleave"] = function (this: Tensor, r: number | readonly number[] | Tensor, dim: number | null = null) {
  return repeatInterleave(this, r, dim);
};
proto["where"] = function (this: Tensor, cond: TensorLike, y: TensorLike) {
  return ops.where(cond, this, y);
};
proto["tolist"] = function (this: Tensor) {
  return this.arraySync();
};
proto["contiguous"] = function (this: Tensor) {
  return this;
};
