import type { DType } from "../core/dtype.js";
import { fail } from "../core/errors.js";
import { full as fullPrim } from "../core/prims/constants.js";
import { iota } from "../core/prims/structural.js";
import * as E from "../core/prims/elementwise.js";
import { constant } from "../core/execute.js";
import type { Tensor } from "../tensor.js";

function checkShape(op: string, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) fail(op, `shape must be an array of sizes, got ${JSON.stringify(shape)}`);
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(op, `shape [${shape}] has an invalid size ${d}`);
  return [...shape];
}

/** A tensor filled with `value`: `tr.full([2, 3], 7)`. */
export function full(shape: readonly number[], value: number | boolean, dtype?: DType): Tensor {
  const dt = dtype ?? (typeof value === "boolean" ? "bool" : "float32");
  return fullPrim(checkShape("full", shape), Number(value), dt);
}
export const zeros = (shape: readonly number[], dtype: DType = "float32"): Tensor => full(shape, 0, dtype);
export const ones = (shape: readonly number[], dtype: DType = "float32"): Tensor => full(shape, 1, dtype);
export const zerosLike = (x: Tensor, dtype?: DType): Tensor => full(x.shape, 0, dtype ?? x.dtype);
export const onesLike = (x: Tensor, dtype?: DType): Tensor => full(x.shape, 1, dtype ?? x.dtype);
export const fullLike = (x: Tensor, value: number, dtype?: DType): Tensor => full(x.shape, value, dtype ?? x.dtype);

/**
 * Evenly spaced values in [start, stop): `arange(5)`, `arange(1, 10, 2)`. Integer arguments give int32.
 */
export function arange(start: number, stop?: number, step = 1, dtype?: DType): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) fail("arange", "step must not be zero");
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dt = dtype ?? ([start, stop, step].every(Number.isInteger) ? "int32" : "float32");
  const i = iota([n], 0, dt === "int32" ? "int32" : "float64" === dt ? "float64" : "float32");
  if (start === 0 && step === 1) return E.convert(i, dt);
  const s = fullPrim([n], step, i.dtype), o = fullPrim([n], start, i.dtype);
  return E.convert(E.add(E.mul(i, s), o), dt);
}

/** `num` evenly spaced values from start to stop (inclusive by default). */
export function linspace(start: number, stop: number, num = 50, opts: { endpoint?: boolean; dtype?: DType } = {}): Tensor {
  if (!Number.isInteger(num) || num < 0) fail("linspace", `num must be a non-negative integer, got ${num}`);
  const endpoint = opts.endpoint ?? true;
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  const vals = Array.from({ length: num }, (_, i) => (endpoint && i === num - 1 && num > 1 ? stop : start + i * step));
  return constant(vals, [num], opts.dtype ?? "float32");
}

/** Identity matrix (n×m) with ones on the k-th diagonal. */
export function eye(n: number, m?: number, opts: { k?: number; dtype?: DType } = {}): Tensor {
  const cols = m ?? n;
  const r = iota([n, cols], 0), c = iota([n, cols], 1);
  const k = fullPrim([n, cols], opts.k ?? 0, "int32");
  return E.convert(E.eq(E.add(r, k), c), opts.dtype ?? "float32");
}
