/**
 * The Python Array API standard (2023.12) names that Trident had no function for, written as
 * compositions of its primitives (so grad, vmap and jit apply) or as dtype queries. Names follow the
 * standard in camelCase; where the standard and Trident's older name mean the same thing, the standard
 * name points at the one implementation.
 */
import { DTYPES, isFloat, isInt, isDType, promoteTypes, type DType } from "../core/dtype.js";
import { fail } from "../core/errors.js";
import * as E from "../core/prims/elementwise.js";
import { Tensor } from "../tensor.js";
import { toTensor, tensor, type TensorLike } from "./convert.js";
import { abs, add, div, log, log1p, maximum, minimum, mul, neg, promote, sub, variance, exp, broadcastArrays } from "./core.js";
import { full, zeros } from "./creation.js";
import { concatenate, squeeze, split, transpose } from "./shape.js";

/** Euler's number, as the Array API's `e`. */
export const e = Math.E;
/** π, as the Array API's `pi`. */
export const pi = Math.PI;
/** Positive infinity, as the Array API's `inf`. */
export const inf = Number.POSITIVE_INFINITY;
/** Not a number, as the Array API's `nan`. */
export const nan = Number.NaN;
/** The index value that inserts an axis (NumPy's `np.newaxis`): `x.get(tr.newaxis, "...")`. */
export const newaxis = null;

/** `x / y` (Array API `divide`; same as `div`). */
export const divide = div;
/** `x * y` (Array API `multiply`; same as `mul`). */
export const multiply = mul;
/** `x - y` (Array API `subtract`; same as `sub`). */
export const subtract = sub;
/** `-x` (Array API `negative`; same as `neg`). */
export const negative = neg;
/** A new tensor with x's values: in-place writes (`add_`) to one do not reach the other. */
function copyOf(t: Tensor): Tensor {
  // traced values are immutable, so only a concrete tensor needs new storage
  return t.isTracer ? t : E.select(full(t.shape, true), t, t);
}
/** `+x`: a new tensor equal to x (Array API `positive`). */
export const positive = (x: TensorLike): Tensor => copyOf(toTensor(x));
/** Join tensors along an existing axis (Array API `concat`; same as `concatenate`). @example tr.concat([a, b], 1) */
export const concat = (xs: readonly TensorLike[], axis = 0): Tensor => concatenate(xs, axis);
/** Permute the axes (Array API `permute_dims`; same as `transpose` with axes). @example tr.permuteDims(x, [0, 2, 1]) */
export const permuteDims = (x: TensorLike, axes: readonly number[]): Tensor => transpose(x, axes);

/** Split along `axis` into its slices, each without that axis (Array API `unstack`). @example const [a, b] = tr.unstack(x) */
export function unstack(x: TensorLike, axis = 0): Tensor[] {
  const t = toTensor(x);
  if (t.ndim === 0) fail("unstack", "expects at least one axis, got a 0-d tensor");
  const ax = axis < 0 ? axis + t.ndim : axis;
  if (ax < 0 || ax >= t.ndim) fail("unstack", `axis ${axis} is out of range for a ${t.ndim}-d tensor`);
  const n = t.shape[ax]!;
  if (n === 0) return [];
  return split(t, n, ax).map((p) => squeeze(p, ax));
}

/** Variance (Array API `var`; same as `variance`). @example tr.var(x, { axis: 0, correction: 1 }) */
const var_ = variance;
export { var_ as var };

function floatPair(op: string, x: TensorLike, y: TensorLike): [Tensor, Tensor] {
  let [a, b] = promote(op, x, y);
  if (!isFloat(a!.dtype)) [a, b] = [E.convert(a!, "float32"), E.convert(b!, "float32")];
  const [aa, bb] = broadcastArrays(op, a!, b!);
  return [aa!, bb!];
}
function floatOne(x: TensorLike): Tensor {
  const t = toTensor(x);
  return isFloat(t.dtype) ? t : E.convert(t, "float32");
}

/** √(x² + y²) without overflow or underflow on the way (scaled by max(|x|, |y|)). */
export function hypot(x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = floatPair("hypot", x, y);
  const ax = abs(a), by = abs(b);
  const m = maximum(ax, by), n = minimum(ax, by);
  const zero = E.zerosLike(m);
  const isZero = E.eq(m, zero);
  const r = div(n, E.select(isZero, full(m.shape, 1, m.dtype), m));
  const h = mul(m, E.sqrt(add(mul(r, r), 1)));
  // an infinite operand gives inf even when the other is NaN (C's hypot)
  return E.select(E.isinf(m), m, E.select(isZero, zero, h));
}

/** log(exp(x) + exp(y)), stable for large arguments. */
export function logaddexp(x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = floatPair("logaddexp", x, y);
  const m = maximum(a, b);
  const d = neg(abs(sub(a, b)));
  // equal infinities make d NaN; the answer is then the infinity itself
  const same = E.eq(a, b);
  return E.select(same, add(a, Math.LN2), add(m, log1p(exp(d))));
}

/** Base-2 logarithm. */
export const log2 = (x: TensorLike): Tensor => div(log(floatOne(x)), Math.LN2);
/** Base-10 logarithm. */
export const log10 = (x: TensorLike): Tensor => div(log(floatOne(x)), Math.LN10);

/** True where the sign bit is set, including -0 and NaNs with the sign bit (Array API `signbit`). */
export function signbit(x: TensorLike): Tensor {
  const t = toTensor(x);
  if (!isFloat(t.dtype)) return isInt(t.dtype) && !t.dtype.startsWith("u") ? E.less(t, E.zerosLike(t)) : E.convert(E.zerosLike(t), "bool");
  // 1/x separates -0 from +0; NaN's sign bit is not observable through arithmetic, so NaNs read as positive
  const zero = E.zerosLike(t);
  return E.or(E.less(t, zero), E.and(E.eq(t, zero), E.less(E.reciprocal(t), zero)));
}

/** |x| with the sign of y (Array API `copysign`). */
export function copysign(x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = floatPair("copysign", x, y);
  const m = abs(a);
  return E.select(signbit(b), neg(m), m);
}

function intOperands(op: string, x: TensorLike, y: TensorLike): [Tensor, Tensor] {
  const [a, b] = promote(op, x, y);
  if (!isInt(a!.dtype)) fail(op, `expects integer operands, got ${a!.dtype}`);
  const [aa, bb] = broadcastArrays(op, a!, b!);
  return [aa!, bb!];
}
/** x << y on integers (Array API `bitwise_left_shift`). */
export function bitwiseLeftShift(x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = intOperands("bitwiseLeftShift", x, y);
  return E.shiftLeft(a, b);
}
/** x >> y on integers, arithmetic for signed types (Array API `bitwise_right_shift`). */
export function bitwiseRightShift(x: TensorLike, y: TensorLike): Tensor {
  const [a, b] = intOperands("bitwiseRightShift", x, y);
  return E.shiftRight(a, b);
}
/** ~x on integers and booleans (Array API `bitwise_invert`). */
export function bitwiseInvert(x: TensorLike): Tensor {
  const t = toTensor(x);
  if (t.dtype === "bool") return E.not(t);
  if (!isInt(t.dtype)) fail("bitwiseInvert", `expects an integer or bool operand, got ${t.dtype}`);
  const ones = t.dtype.startsWith("u") ? (t.dtype === "uint8" ? 0xff : 0xffffffff) : -1;
  return E.xor(t, E.convert(full(t.shape, ones, t.dtype), t.dtype));
}

// ---------------- creation ----------------
/** Convert to a tensor (Array API `asarray`): tensors pass through unless a dtype or `copy: true` asks otherwise. */
export function asarray(obj: TensorLike | readonly unknown[], opts: { dtype?: DType; copy?: boolean } = {}): Tensor {
  if (obj instanceof Tensor) {
    if (opts.dtype && opts.dtype !== obj.dtype) {
      if (opts.copy === false) fail("asarray", `copy: false but converting ${obj.dtype} to ${opts.dtype} needs a copy`);
      return E.convert(obj, opts.dtype);
    }
    return opts.copy ? copyOf(obj) : obj;
  }
  return tensor(obj as Parameters<typeof tensor>[0], opts.dtype ? { dtype: opts.dtype } : undefined);
}
/** A new tensor of the shape (zero-filled: JavaScript has no uninitialised memory to hand out). */
export const empty = (shape: readonly number[], dtype: DType = "float32"): Tensor => zeros(shape, dtype);
/** A new tensor shaped like x (zero-filled). */
export const emptyLike = (x: Tensor, dtype?: DType): Tensor => zeros(x.shape, dtype ?? x.dtype);

// ---------------- data types ----------------
/** Limits of a floating dtype (Array API `finfo`). @example tr.finfo("float32").eps */
export function finfo(dtype: DType | Tensor): { bits: number; eps: number; max: number; min: number; smallestNormal: number; dtype: DType } {
  const dt = dtype instanceof Tensor ? dtype.dtype : dtype;
  switch (dt) {
    case "float64": return { bits: 64, eps: Number.EPSILON, max: Number.MAX_VALUE, min: -Number.MAX_VALUE, smallestNormal: 2 ** -1022, dtype: dt };
    case "float32": return { bits: 32, eps: 2 ** -23, max: (2 - 2 ** -23) * 2 ** 127, min: -(2 - 2 ** -23) * 2 ** 127, smallestNormal: 2 ** -126, dtype: dt };
    case "float16": return { bits: 16, eps: 2 ** -10, max: 65504, min: -65504, smallestNormal: 2 ** -14, dtype: dt };
    case "bfloat16": return { bits: 16, eps: 2 ** -7, max: (2 - 2 ** -7) * 2 ** 127, min: -(2 - 2 ** -7) * 2 ** 127, smallestNormal: 2 ** -126, dtype: dt };
    default: return fail("finfo", `expects a floating dtype, got ${String(dt)}`);
  }
}
/** Limits of an integer dtype (Array API `iinfo`). @example tr.iinfo("int32").max */
export function iinfo(dtype: DType | Tensor): { bits: number; max: number; min: number; dtype: DType } {
  const dt = dtype instanceof Tensor ? dtype.dtype : dtype;
  switch (dt) {
    case "int8": return { bits: 8, min: -128, max: 127, dtype: dt };
    case "uint8": return { bits: 8, min: 0, max: 255, dtype: dt };
    case "int32": return { bits: 32, min: -(2 ** 31), max: 2 ** 31 - 1, dtype: dt };
    case "uint32": return { bits: 32, min: 0, max: 2 ** 32 - 1, dtype: dt };
    default: return fail("iinfo", `expects an integer dtype, got ${String(dt)}`);
  }
}

const asDType = (op: string, x: DType | Tensor): DType => {
  if (x instanceof Tensor) return x.dtype;
  if (!isDType(x)) fail(op, `expects a dtype (${DTYPES.join(", ")}) or a tensor, got ${JSON.stringify(x)}`);
  return x;
};
/** The dtype Trident's promotion rules give for these tensors and dtypes (Array API `result_type`). */
export function resultType(...xs: (DType | Tensor | number | boolean)[]): DType {
  if (xs.length === 0) fail("resultType", "needs at least one dtype or tensor");
  return promoteTypes(
    ...xs.map((x) =>
      typeof x === "number"
        ? { dtype: (Number.isInteger(x) ? "int32" : "float32") as DType, weak: true }
        : typeof x === "boolean"
          ? { dtype: "bool" as DType, weak: true }
          : { dtype: asDType("resultType", x), weak: x instanceof Tensor ? x.aval.weakType : false },
    ),
  ).dtype;
}
/** Whether promotion would turn `from` into `to` without a cast (Array API `can_cast`). */
export function canCast(from: DType | Tensor, to: DType): boolean {
  const f = asDType("canCast", from), t = asDType("canCast", to);
  return promoteTypes({ dtype: f, weak: false }, { dtype: t, weak: false }).dtype === t;
}
type DTypeKind = "bool" | "signed integer" | "unsigned integer" | "integral" | "real floating" | "complex floating" | "numeric";
/** Whether a dtype is of a kind (Array API `isdtype`). @example tr.isdtype("int32", "integral") */
export function isdtype(dtype: DType, kind: DTypeKind | DType | readonly (DTypeKind | DType)[]): boolean {
  const dt = asDType("isdtype", dtype);
  if (Array.isArray(kind)) return (kind as readonly (DTypeKind | DType)[]).some((k) => isdtype(dt, k));
  switch (kind) {
    case "bool": return dt === "bool";
    case "signed integer": return dt === "int8" || dt === "int32";
    case "unsigned integer": return dt === "uint8" || dt === "uint32";
    case "integral": return isInt(dt);
    case "real floating": return isFloat(dt);
    case "complex floating": return false;
    case "numeric": return dt !== "bool";
    default:
      if (isDType(kind)) return dt === kind;
      return fail("isdtype", `kind must be a dtype or one of "bool", "signed integer", "unsigned integer", "integral", "real floating", "complex floating", "numeric"; got ${JSON.stringify(kind)}`);
  }
}

/** What this namespace supports (Array API `__array_namespace_info__`). */
export function arrayNamespaceInfo() {
  return {
    capabilities: () => ({ "boolean indexing": true, "data-dependent shapes": true }),
    defaultDevice: () => "cpu",
    devices: () => ["cpu"],
    defaultDtypes: () => ({ "real floating": "float32" as DType, integral: "int32" as DType, indexing: "int32" as DType }),
    dtypes: (opts: { kind?: DTypeKind | readonly DTypeKind[] } = {}) =>
      Object.fromEntries(DTYPES.filter((d) => opts.kind === undefined || isdtype(d, opts.kind)).map((d) => [d, d])) as Record<string, DType>,
  };
}
