/**
 * Counter-based randomness with explicit keys, following JAX's `jax.random` (threefry2x32, the
 * default non-partitionable scheme), so the same key gives the same numbers on every backend, under
 * jit and under vmap, and the bit streams match JAX's.
 * @example
 * const key = tr.random.key(0);
 * const [k1, k2] = tr.random.splitKeys(key);
 * const x = tr.random.normal(k1, [3, 4]);
 */
import { isFloat, isInt, type DType } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { constant } from "../core/execute.js";
import { full } from "../core/prims/constants.js";
import * as E from "../core/prims/elementwise.js";
import * as R from "../core/prims/reduce.js";
import * as S from "../core/prims/structural.js";
import { bitcastConvertType, seedWords, threefry2x32 } from "../core/prims/random.js";
import { gather } from "../core/prims/indexing.js";
import { sortWithIndices } from "../core/prims/sort.js";
import { broadcastShapes, normAxis, prod } from "../core/shape.js";
import { toTensor, type TensorLike } from "../ops/convert.js";
import type { Tensor } from "../tensor.js";

/** A PRNG key: a uint32 tensor of shape [2] (a batch of keys under vmap). */
export type Key = Tensor;

const U32 = 2 ** 32;
type FloatOpts = { dtype?: DType };

// ---------------- argument checks ----------------
function checkKey(op: string, key: Key): void {
  if (!key || typeof key !== "object" || !("aval" in key)) fail(op, `argument key must be a tensor from tr.random.key(seed), got ${typeof key}`);
  if (key.dtype !== "uint32" || key.ndim !== 1 || key.shape[0] !== 2) {
    fail(op, `argument key must be a uint32 tensor of shape [2] (from tr.random.key(seed); map over batches of keys with vmap), got ${key.aval}`);
  }
}

function checkShape(op: string, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) fail(op, `argument shape must be an array of sizes, got ${JSON.stringify(shape)}`);
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(op, `argument shape ${JSON.stringify(shape)} has an invalid size ${d}`);
  return [...shape];
}

function checkFloat(op: string, dtype: DType): void {
  if (!isFloat(dtype)) fail(op, `dtype must be a floating-point dtype (float32, float64, float16, bfloat16), got ${dtype}`);
}

/** A parameter (JS number or tensor) converted to dtype and broadcast to shape; it may not grow shape. */
function param(op: string, name: string, v: TensorLike, dtype: DType, shape: readonly number[]): Tensor {
  if (typeof v === "number") return full(shape, v, dtype);
  const t = E.convert(toTensor(v), dtype);
  const lead = shape.length - t.ndim;
  if (lead < 0 || t.shape.some((d, i) => d !== 1 && d !== shape[lead + i])) {
    fail(op, `argument ${name} has shape ${fmtShape(t.shape)}, which does not broadcast to the requested shape ${fmtShape(shape)}`);
  }
  return S.broadcastInDim(t, shape, t.shape.map((_, i) => lead + i));
}

const u32 = (shape: readonly number[], v: number): Tensor => full(shape, v >>> 0, "uint32");
const scalarOf = (x: Tensor, i: number): Tensor => S.reshape(S.slice(x, [i], [i + 1]), []);

// ---------------- the counter scheme ----------------
/**
 * JAX's `threefry_2x32(key, count)`: the counts (padded to even length with a zero) are cut into two
 * halves that form the two words of each cipher block, and the outputs are laid end to end again.
 */
function threefryCounts(key: Key, count: Tensor): Tensor {
  const n = count.shape[0]!;
  if (n === 0) return count;
  const odd = n % 2;
  const padded = odd ? S.concatenate([count, u32([1], 0)], 0) : count;
  const h = (n + odd) / 2;
  const k0 = S.broadcastInDim(scalarOf(key, 0), [h], []);
  const k1 = S.broadcastInDim(scalarOf(key, 1), [h], []);
  const [y0, y1] = threefry2x32(k0, k1, S.slice(padded, [0], [h]), S.slice(padded, [h], [2 * h]));
  const out = S.concatenate([y0, y1], 0);
  return odd ? S.slice(out, [0], [n]) : out;
}

/** `words` fresh uint32 words from a key: the cipher applied to the counters 0..words-1. */
const words = (key: Key, n: number): Tensor => threefryCounts(key, S.iota([n], 0, "uint32"));

/**
 * `size` random values of `width` bits (8, 16 or 32) as uint32, packed as JAX packs them: narrow values
 * are the little-end-first slices of each 32-bit word.
 */
function bitsOfWidth(key: Key, width: 8 | 16 | 32, size: number): Tensor {
  if (width === 32) return words(key, size);
  const per = 32 / width;
  const nw = Math.ceil((size * width) / 32);
  const w = S.broadcastInDim(words(key, nw), [nw, per], [0]);
  const shifts = E.mul(S.iota([nw, per], 1, "uint32"), u32([nw, per], width));
  const parts = E.and(E.shiftRight(w, shifts), u32([nw, per], 2 ** width - 1));
  return S.slice(S.reshape(parts, [nw * per]), [0], [size]);
}

/** A key from an integer seed: [0, seed] for 32-bit seeds, as `jax.random.PRNGKey`. */
export function key(seed: number | Tensor): Key {
  if (typeof seed === "number") {
    const [hi, lo] = seedWords(seed);
    return constant([hi, lo], [2], "uint32");
  }
  if (!isInt(seed.dtype) && seed.dtype !== "bool") fail("random.key", `argument seed must be an integer, got a ${seed.dtype} tensor`);
  if (seed.ndim !== 0) fail("random.key", `argument seed must be a scalar, got shape ${fmtShape(seed.shape)}`);
  return S.concatenate([u32([1], 0), S.reshape(E.convert(seed, "uint32"), [1])], 0);
}

/** `num` new keys from one, as a [num, 2] tensor (JAX's `split`). */
export function split(k: Key, num = 2): Tensor {
  checkKey("random.split", k);
  if (!Number.isInteger(num) || num < 0) fail("random.split", `argument num must be a non-negative integer, got ${num}`);
  return S.reshape(words(k, 2 * num), [num, 2]);
}

/** `split` as a JS array of keys, for destructuring: `const [k1, k2] = splitKeys(key)`. */
export function splitKeys(k: Key, num = 2): Key[] {
  const ks = split(k, num);
  return Array.from({ length: num }, (_, i) => S.reshape(S.slice(ks, [i, 0], [i + 1, 2]), [2]));
}

/** A key derived from `key` and an integer (a step number, a layer index): JAX's `fold_in`. */
export function foldIn(k: Key, data: number | Tensor): Key {
  checkKey("random.foldIn", k);
  let d: Tensor;
  if (typeof data === "number") {
    if (!Number.isInteger(data) || data < -(2 ** 31) || data >= U32) fail("random.foldIn", `argument data must be an integer in [-2^31, 2^32), got ${data}`);
    d = u32([1], data);
  } else {
    if (!isInt(data.dtype)) fail("random.foldIn", `argument data must be an integer tensor, got ${data.dtype}`);
    if (data.ndim !== 0) fail("random.foldIn", `argument data must be a scalar, got shape ${fmtShape(data.shape)}`);
    d = S.reshape(E.convert(data, "uint32"), [1]);
  }
  return threefryCounts(k, S.concatenate([u32([1], 0), d], 0));
}

/** Uniformly random uint32 bits of the given shape. */
export function bits(k: Key, shape: readonly number[] = []): Tensor {
  checkKey("random.bits", k);
  const s = checkShape("random.bits", shape);
  return S.reshape(words(k, prod(s)), s);
}

// ---------------- floats ----------------
const MANTISSA: Partial<Record<DType, number>> = { float32: 23, float64: 52, float16: 10, bfloat16: 7 };
const TINY: Partial<Record<DType, number>> = { float32: 2 ** -126, float64: 2 ** -1022, float16: 2 ** -14, bfloat16: 2 ** -126 };

/** Floats uniform in [0, 1) from random mantissa bits (exponent of 1.0, minus 1): JAX's construction. */
function unitFloats(k: Key, dtype: DType, size: number): Tensor {
  if (dtype === "float32") {
    const b = words(k, size);
    const m = E.or(E.shiftRight(b, u32([size], 9)), u32([size], 0x3f800000));
    return E.sub(bitcastConvertType(m, "float32"), full([size], 1, "float32"));
  }
  if (dtype === "float64") {
    // 64 bits per value: the first half of the stream gives the high words, the second the low
    const w = words(k, 2 * size);
    const hi = E.convert(S.slice(w, [0], [size]), "float64");
    const lo = E.convert(E.shiftRight(S.slice(w, [size], [2 * size]), u32([size], 12)), "float64");
    return E.add(E.mul(hi, full([size], 2 ** -32, "float64")), E.mul(lo, full([size], 2 ** -52, "float64")));
  }
  // 16-bit floats: float16 takes 16 bits per value, bfloat16 (7-bit mantissa) takes 8, as JAX does
  const nmant = MANTISSA[dtype]!;
  const width = nmant < 8 ? 8 : 16;
  const b = E.shiftRight(bitsOfWidth(k, width, size), u32([size], width - nmant));
  return E.convert(E.mul(E.convert(b, "float32"), full([size], 2 ** -nmant, "float32")), dtype);
}

/**
 * Uniform floats in [minval, maxval) of the given shape. As in JAX, scaling can round up to maxval
 * when the span is coarse for the dtype (float16 values near 3 in [2, 3)); the default [0, 1) cannot.
 */
export function uniform(k: Key, shape: readonly number[] = [], opts: FloatOpts & { minval?: TensorLike; maxval?: TensorLike } = {}): Tensor {
  checkKey("random.uniform", k);
  const s = checkShape("random.uniform", shape);
  const dtype = opts.dtype ?? "float32";
  checkFloat("random.uniform", dtype);
  return scaleUnit(unitFloats(k, dtype, prod(s)), s, dtype, opts.minval ?? 0, opts.maxval ?? 1, "random.uniform");
}

function scaleUnit(f: Tensor, shape: readonly number[], dtype: DType, minval: TensorLike, maxval: TensorLike, op: string): Tensor {
  const lo = param(op, "minval", minval, dtype, shape);
  const hi = param(op, "maxval", maxval, dtype, shape);
  // the max guards against rounding below minval when the span is huge
  return E.max(lo, E.add(E.mul(S.reshape(f, shape), E.sub(hi, lo)), lo));
}

/** Standard normal floats by the inverse CDF: sqrt(2) * erfinv(u) with u uniform in (-1, 1). */
export function normal(k: Key, shape: readonly number[] = [], opts: FloatOpts = {}): Tensor {
  checkKey("random.normal", k);
  const s = checkShape("random.normal", shape);
  const dtype = opts.dtype ?? "float32";
  checkFloat("random.normal", dtype);
  // the float just above -1 keeps erfinv finite
  const lo = -(1 - 2 ** -(MANTISSA[dtype]! + 1));
  const u = scaleUnit(unitFloats(k, dtype, prod(s)), s, dtype, lo, 1, "random.normal");
  return E.mul(full(s, Math.SQRT2, dtype), E.erfInv(u));
}

/** The next representable float after x towards +inf (dir 1) or -inf (dir -1). */
function nextAfter(x: Tensor, dir: 1 | -1): Tensor {
  const sh = x.shape;
  const zero = full(sh, 0, x.dtype);
  const towardZero = dir > 0 ? E.less(x, zero) : E.greater(x, zero);
  const isZero = E.eq(x, zero);
  const stuck = E.or(E.isnan(x), E.eq(x, full(sh, dir * Infinity, x.dtype)));
  let moved: Tensor;
  if (x.dtype === "float32") {
    // adjacent floats of one sign have adjacent bit patterns
    const b = bitcastConvertType(x, "uint32");
    const one = u32(sh, 1);
    const step = E.select(towardZero, E.sub(b, one), E.add(b, one));
    moved = E.select(isZero, full(sh, dir * 2 ** -149, "float32"), bitcastConvertType(step, "float32"));
  } else {
    // without a 64/16-bit bitcast: a relative step of one unit in the last place, at least `tiny`
    const ulp = E.max(E.mul(E.abs(x), full(sh, 2 ** -MANTISSA[x.dtype]!, x.dtype)), full(sh, TINY[x.dtype]!, x.dtype));
    moved = dir > 0 ? E.add(x, ulp) : E.sub(x, ulp);
  }
  return E.select(stuck, x, moved);
}

/** Normal floats truncated to (lower, upper); the shape defaults to the broadcast of the bounds. */
export function truncatedNormal(k: Key, lower: TensorLike, upper: TensorLike, shape?: readonly number[] | null, opts: FloatOpts = {}): Tensor {
  const op = "random.truncatedNormal";
  checkKey(op, k);
  const dtype = opts.dtype ?? "float32";
  checkFloat(op, dtype);
  const lt = E.convert(toTensor(lower), dtype), ut = E.convert(toTensor(upper), dtype);
  const s = shape ? checkShape(op, shape) : broadcastShapes(op, lt.shape, ut.shape);
  const lo = param(op, "lower", lt, dtype, s), hi = param(op, "upper", ut, dtype, s);
  const sqrt2 = full(s, Math.SQRT2, dtype);
  const a = E.erf(E.div(lo, sqrt2)), b = E.erf(E.div(hi, sqrt2));
  const u = scaleUnit(unitFloats(k, dtype, prod(s)), s, dtype, a, b, op);
  const out = E.mul(sqrt2, E.erfInv(u));
  // rounding (or u landing on a bound) could reach the bounds; clamp into the open interval
  const l = nextAfter(S.stopGradient(lo), 1), h = nextAfter(S.stopGradient(hi), -1);
  return E.min(E.max(out, l), h);
}

/** Booleans that are true with probability p (broadcast to shape, which defaults to p's shape). */
export function bernoulli(k: Key, p: TensorLike = 0.5, shape?: readonly number[] | null): Tensor {
  checkKey("random.bernoulli", k);
  const pt = toTensor(p);
  const dtype = isFloat(pt.dtype) ? pt.dtype : "float32";
  const s = shape ? checkShape("random.bernoulli", shape) : pt.shape;
  return E.less(uniform(k, s, { dtype }), param("random.bernoulli", "p", pt, dtype, s));
}

/** Standard Gumbel samples: -log(-log(u)). */
export function gumbel(k: Key, shape: readonly number[] = [], opts: FloatOpts = {}): Tensor {
  checkKey("random.gumbel", k);
  const dtype = opts.dtype ?? "float32";
  checkFloat("random.gumbel", dtype);
  const u = uniform(k, shape, { dtype, minval: TINY[dtype]!, maxval: 1 });
  return E.neg(E.log(E.neg(E.log(u))));
}

/** Exponential samples with rate 1: -log1p(-u). */
export function exponential(k: Key, shape: readonly number[] = [], opts: FloatOpts = {}): Tensor {
  checkKey("random.exponential", k);
  checkFloat("random.exponential", opts.dtype ?? "float32");
  const u = uniform(k, shape, opts);
  return E.neg(E.log1p(E.neg(u)));
}

/**
 * Samples from categorical distributions given by unnormalised log-probabilities along `axis`
 * (Gumbel-max). The result has the batch shape of `logits`, or `shape` (which may add leading axes).
 */
export function categorical(k: Key, logits: TensorLike, opts: { axis?: number; shape?: readonly number[] } = {}): Tensor {
  const op = "random.categorical";
  checkKey(op, k);
  let lg = toTensor(logits);
  if (!isFloat(lg.dtype)) lg = E.convert(lg, "float32");
  if (lg.ndim === 0) fail(op, `argument logits must have at least one axis, got a scalar`);
  const ax = normAxis(op, opts.axis ?? -1, lg.ndim);
  const batch = lg.shape.filter((_, i) => i !== ax);
  const s = opts.shape ? checkShape(op, opts.shape) : batch;
  const b = broadcastShapes(op, s, batch);
  if (s.length < batch.length || b.some((d, i) => d !== s[i])) {
    fail(op, `argument shape ${fmtShape(s)} must end with (a broadcast of) the batch shape ${fmtShape(batch)} of logits ${fmtShape(lg.shape)}`);
  }
  const prefix = s.slice(0, s.length - batch.length);
  const tail = s.slice(s.length - batch.length);
  tail.splice(ax, 0, lg.shape[ax]!);
  const gshape = [...prefix, ...tail];
  const g = gumbel(k, gshape, { dtype: lg.dtype });
  const lead = prefix.length;
  const lgB = S.broadcastInDim(lg, gshape, lg.shape.map((_, i) => lead + i));
  return R.argmax(E.add(g, lgB), lead + ax);
}

// ---------------- integers ----------------
const IRANGE: Partial<Record<DType, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, U32 - 1], int8: [-128, 127], uint8: [0, 255], bool: [0, 1],
};
const UNSIGNED: Partial<Record<DType, DType>> = { int32: "uint32", uint32: "uint32", int8: "uint8", uint8: "uint8" };

/** An integer bound as (value clipped into dtype, whether it exceeded dtype's maximum). */
function intBound(op: string, name: string, v: TensorLike, dtype: DType, shape: readonly number[]): [Tensor, Tensor] {
  const [dmin, dmax] = IRANGE[dtype]!;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) fail(op, `argument ${name} must be finite, got ${v}`);
    const x = Math.trunc(v);
    return [full(shape, Math.min(Math.max(x, dmin), dmax), dtype), full(shape, x > dmax ? 1 : 0, "bool")];
  }
  let t = toTensor(v);
  if (!isInt(t.dtype)) t = E.convert(t, "int32");
  const [smin, smax] = IRANGE[t.dtype] ?? [dmin, dmax];
  const over = E.greater(t, full(t.shape, Math.min(dmax, smax), t.dtype));
  const clipped = E.min(E.max(t, full(t.shape, Math.max(dmin, smin), t.dtype)), full(t.shape, Math.min(dmax, smax), t.dtype));
  return [param(op, name, E.convert(clipped, dtype), dtype, shape), param(op, name, over, "bool", shape)];
}

/** Integers uniform in [minval, maxval) (JAX's algorithm: two words per value to shrink modulo bias). */
export function randint(k: Key, shape: readonly number[], minval: TensorLike, maxval: TensorLike, opts: { dtype?: DType } = {}): Tensor {
  const op = "random.randint";
  checkKey(op, k);
  const s = checkShape(op, shape);
  const dtype = opts.dtype ?? "int32";
  const udt = UNSIGNED[dtype];
  if (!udt) fail(op, `dtype must be int32, uint32, int8 or uint8, got ${dtype}`);
  const nbits = dtype === "int32" || dtype === "uint32" ? 32 : 8;
  const [lo] = intBound(op, "minval", minval, dtype, s);
  const [hi, hiOver] = intBound(op, "maxval", maxval, dtype, s);
  const [k1, k2] = splitKeys(k);
  const n = prod(s);
  const rb = (kk: Key) => S.reshape(E.convert(bitsOfWidth(kk, nbits, n), udt), s);
  const higher = rb(k1!), lower = rb(k2!);
  const one = full(s, 1, udt);
  let span = E.convert(E.sub(hi, lo), udt);
  // an empty range returns minval (span 1)
  span = E.select(E.lessEqual(hi, lo), one, span);
  // maxval above dtype's max means the range includes the max itself; a full range wraps span to 0
  span = E.select(E.and(hiOver, E.greater(hi, lo)), E.add(span, one), span);
  // (hi * 2^nbits + lo) mod span, with 2^nbits mod span computed without overflowing nbits; a span
  // of 0 (the full range) leaves values unreduced, as XLA's x % 0 == x does
  const zero = full(s, 0, udt);
  const full0 = E.eq(span, zero);
  const mod = (x: Tensor) => E.select(full0, x, E.rem(x, E.select(full0, one, span)));
  let mult = mod(full(s, 2 ** (nbits / 2), udt));
  mult = mod(E.mul(mult, mult));
  let offset = E.add(E.mul(mod(higher), mult), mod(lower));
  offset = mod(offset);
  return E.add(lo, E.convert(offset, dtype));
}

// ---------------- permutations ----------------
/** x shuffled along `axis` by stably sorting random keys, in as many rounds as make ties unlikely. */
function shuffle(k: Key, x: Tensor, axis: number): Tensor {
  const rounds = Math.ceil((3 * Math.log(Math.max(1, x.size))) / Math.log(U32 - 1));
  let cur = k;
  for (let r = 0; r < rounds; r++) {
    const [next, sub] = splitKeys(cur);
    cur = next!;
    const sortKeys = S.reshape(words(sub!, x.size), x.shape);
    const [, order] = sortWithIndices(sortKeys, axis);
    x = gather(x, order, axis);
  }
  return x;
}

/**
 * A random permutation of `0..n-1`, or of a tensor along `axis` (the same permutation for every
 * slice unless `independent`, which shuffles each slice separately).
 */
export function permutation(k: Key, x: number | Tensor, opts: { axis?: number; independent?: boolean } = {}): Tensor {
  const op = "random.permutation";
  checkKey(op, k);
  if (typeof x === "number") {
    if (!Number.isInteger(x) || x < 0) fail(op, `argument x must be a non-negative integer or a tensor, got ${x}`);
    return shuffle(k, S.iota([x], 0, "int32"), 0);
  }
  if (x.ndim === 0) fail(op, `argument x must have at least one axis (pass a JS number for a permutation of 0..n-1)`);
  const ax = normAxis(op, opts.axis ?? 0, x.ndim);
  if (opts.independent || x.ndim === 1) return shuffle(k, x, ax);
  const n = x.shape[ax]!;
  const ind = shuffle(k, S.iota([n], 0, "int32"), 0);
  return gather(x, S.broadcastInDim(ind, x.shape, [ax]), ax);
}

/**
 * Random elements of `a` (a tensor, or `arange(a)` for a number) along `axis`: with replacement by
 * default, optionally weighted by probabilities `p`.
 */
export function choice(
  k: Key, a: number | Tensor, opts: { shape?: readonly number[]; replace?: boolean; p?: TensorLike; axis?: number } = {},
): Tensor {
  const op = "random.choice";
  checkKey(op, k);
  const arr = typeof a === "number" ? S.iota([a], 0, "int32") : a;
  if (typeof a === "number" && (!Number.isInteger(a) || a < 0)) fail(op, `argument a must be a non-negative integer or a tensor, got ${a}`);
  if (arr.ndim === 0) fail(op, `argument a must have at least one axis, got a scalar`);
  const ax = normAxis(op, opts.axis ?? 0, arr.ndim);
  const n = arr.shape[ax]!;
  const s = checkShape(op, opts.shape ?? []);
  const m = prod(s);
  const replace = opts.replace ?? true;
  if (!replace && m > n) fail(op, `cannot take ${m} samples without replacement from ${n} elements`);
  if (n === 0 && m > 0) fail(op, `cannot take samples from an empty axis (a has shape ${fmtShape(arr.shape)})`);
  let ind: Tensor;
  if (opts.p === undefined) {
    ind = replace ? randint(k, [m], 0, n) : S.slice(permutation(k, n), [0], [m]);
  } else {
    let p = toTensor(opts.p);
    if (!isFloat(p.dtype)) p = E.convert(p, "float32");
    if (p.ndim !== 1 || p.shape[0] !== n) fail(op, `argument p must have shape [${n}] to match axis ${ax} of a, got ${fmtShape(p.shape)}`);
    const logp = E.log(p);
    if (replace) ind = categorical(k, logp, { shape: [m] });
    else {
      // Gumbel top-k: the m largest perturbed log-probabilities are a weighted sample without replacement
      const g = E.add(gumbel(k, [n], { dtype: p.dtype }), logp);
      const [, order] = sortWithIndices(g, 0, true);
      ind = S.slice(order, [0], [m]);
    }
  }
  // gather the chosen slices along axis, then lay the sample shape where that axis was
  const moved = S.moveaxis(arr, ax, 0);
  const rest = moved.shape.slice(1);
  const idx = S.broadcastInDim(ind, [m, ...rest], [0]);
  const picked = gather(moved, idx, 0);
  const out = S.reshape(picked, [...s, ...rest]);
  return moveFront(out, s.length, ax);
}

/** Move the leading `k` axes of x so they start at position `at`. */
function moveFront(x: Tensor, k: number, at: number): Tensor {
  if (at === 0) return x;
  const r = x.ndim;
  const perm: number[] = [];
  for (let i = k; i < k + at; i++) perm.push(i);
  for (let i = 0; i < k; i++) perm.push(i);
  for (let i = k + at; i < r; i++) perm.push(i);
  return S.transpose(x, perm);
}
