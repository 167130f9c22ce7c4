import { promoteTypes, isFloat, type DType } from "../core/dtype.js";
import { checkOptions, fail, fmtShape, optionKeys } from "../core/errors.js";
import { broadcastShapes, normAxes, normAxis } from "../core/shape.js";
import * as E from "../core/prims/elementwise.js";
import * as R from "../core/prims/reduce.js";
import * as S from "../core/prims/structural.js";
import { full as fullPrim } from "../core/prims/constants.js";
import { Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import { nonzero } from "./stats.js";

/** Promote operands to a common dtype (JAX rules with weak JS numbers). */
export function promote(op: string, ...xs: TensorLike[]): Tensor[] {
  return promoteFilling(op, xs, []);
}

/** promote, with JS numbers materialised directly at `numberShape` (saves a broadcast kernel eagerly). */
function promoteFilling(op: string, xs: readonly TensorLike[], numberShape: readonly number[]): Tensor[] {
  // JS numbers stay numbers until the result dtype is known, so 0.1 meets a float64 tensor as 0.1, not as
  // its float32 rounding
  const ts = xs.map((x) => (typeof x === "number" || typeof x === "boolean" ? x : toTensor(x)));
  const types = ts.map((t) =>
    typeof t === "number"
      ? { dtype: (Number.isInteger(t) && Math.abs(t) < 2 ** 31 && !Object.is(t, -0) ? "int32" : "float32") as DType, weak: true }
      : typeof t === "boolean"
        ? { dtype: "bool" as DType, weak: true }
        : { dtype: t.dtype, weak: t.aval.weakType },
  );
  const { dtype, weak } = promoteTypes(...types);
  void op;
  return ts.map((t) => (typeof t === "number" || typeof t === "boolean" ? fullPrim(numberShape, Number(t), dtype, weak) : E.convert(t, dtype, weak)));
}

/** Broadcast to a shape (NumPy rules). */
export function broadcastTo(x: TensorLike, shape: readonly number[]): Tensor {
  const t = toTensor(x);
  if (t.ndim > shape.length) fail("broadcastTo", `cannot broadcast shape ${fmtShape(t.shape)} to ${fmtShape(shape)}`);
  broadcastShapes("broadcastTo", t.shape, shape);
  const lead = shape.length - t.ndim;
  t.shape.forEach((d, i) => {
    if (d !== 1 && d !== shape[lead + i]) fail("broadcastTo", `cannot broadcast shape ${fmtShape(t.shape)} to ${fmtShape(shape)}`);
  });
  return S.broadcastInDim(t, shape, t.shape.map((_, i) => lead + i));
}

export function broadcastArrays(op: string, ...xs: Tensor[]): Tensor[] {
  const shape = broadcastShapes(op, ...xs.map((x) => x.shape));
  return xs.map((x) => broadcastTo(x, shape));
}

type Bin = (x: Tensor, y: Tensor) => Tensor;
const sameShape = (p: readonly number[], q: readonly number[]) => p.length === q.length && p.every((d, i) => d === q[i]);
function binop(name: string, f: Bin, opts: { float?: boolean } = {}) {
  return (x: TensorLike, y: TensorLike): Tensor => {
    // a JS number next to a tensor is filled at the tensor's shape right away
    const other = typeof x === "number" && y instanceof Tensor ? y : typeof y === "number" && x instanceof Tensor ? x : null;
    let [a, b] = promoteFilling(name, [x, y], other ? other.shape : []);
    if (opts.float && !isFloat(a!.dtype)) [a, b] = [E.convert(a!, "float32", a!.aval.weakType), E.convert(b!, "float32", b!.aval.weakType)];
    // equal shapes (the common case) need no broadcasting work
    if (!sameShape(a!.shape, b!.shape)) [a, b] = broadcastArrays(name, a!, b!);
    return f(a!, b!);
  };
}

/** Elementwise arithmetic with broadcasting and promotion. */
export const add = binop("add", E.add);
export const sub = binop("sub", E.sub);
export const mul = binop("mul", E.mul);
/** True division: integers divide as floats (NumPy's `/`). */
export const div = binop("div", E.div, { float: true });
export const pow = binop("pow", E.pow);
export const maximum = binop("maximum", E.max);
export const minimum = binop("minimum", E.min);
export const atan2 = binop("atan2", E.atan2, { float: true });
export const equal = binop("equal", E.eq);
export const notEqual = binop("notEqual", E.ne);
export const less = binop("less", E.less);
export const lessEqual = binop("lessEqual", E.lessEqual);
export const greater = binop("greater", E.greater);
export const greaterEqual = binop("greaterEqual", E.greaterEqual);
export const logicalAnd = binop("logicalAnd", (a, b) => E.and(E.convert(a, "bool"), E.convert(b, "bool")));
export const logicalOr = binop("logicalOr", (a, b) => E.or(E.convert(a, "bool"), E.convert(b, "bool")));
export const logicalXor = binop("logicalXor", (a, b) => E.xor(E.convert(a, "bool"), E.convert(b, "bool")));
export const bitwiseAnd = binop("bitwiseAnd", E.and);
export const bitwiseOr = binop("bitwiseOr", E.or);
export const bitwiseXor = binop("bitwiseXor", E.xor);
/** NumPy remainder: the result has the sign of the divisor. */
export const remainder = binop("remainder", (a, b) => {
  const r = E.rem(a, b);
  const zero = E.zerosLike(r);
  const fix = E.and(E.ne(r, zero), E.ne(E.less(r, zero), E.less(b, zero)));
  return E.select(fix, E.add(r, b), r);
});
export const mod = remainder;
/** Floor division (NumPy `//`). */
export const floorDivide = binop("floorDivide", (a, b) => (isFloat(a.dtype) ? E.floor(E.div(a, b)) : E.div(E.sub(a, remainder(a, b)), b)));

type Un = (x: Tensor) => Tensor;
function unop(name: string, f: Un, opts: { float?: boolean } = {}) {
  return (x: TensorLike): Tensor => {
    let t = toTensor(x);
    if (opts.float && !isFloat(t.dtype)) t = E.convert(t, "float32", t.aval.weakType);
    void name;
    return f(t);
  };
}
export const neg = unop("neg", E.neg);
export const abs = unop("abs", E.abs);
export const exp = unop("exp", E.exp, { float: true });
export const log = unop("log", E.log, { float: true });
export const log1p = unop("log1p", E.log1p, { float: true });
export const expm1 = unop("expm1", E.expm1, { float: true });
export const sqrt = unop("sqrt", E.sqrt, { float: true });
export const rsqrt = unop("rsqrt", E.rsqrt, { float: true });
export const sin = unop("sin", E.sin, { float: true });
export const cos = unop("cos", E.cos, { float: true });
export const tan = unop("tan", E.tan, { float: true });
export const tanh = unop("tanh", E.tanh, { float: true });
export const asin = unop("asin", E.asin, { float: true });
export const acos = unop("acos", E.acos, { float: true });
export const atan = unop("atan", E.atan, { float: true });
export const sinh = unop("sinh", E.sinh, { float: true });
export const cosh = unop("cosh", E.cosh, { float: true });
export const asinh = unop("asinh", E.asinh, { float: true });
export const acosh = unop("acosh", E.acosh, { float: true });
export const atanh = unop("atanh", E.atanh, { float: true });
export const erf = unop("erf", E.erf, { float: true });
export const erfinv = unop("erfinv", E.erfInv, { float: true });
export const sigmoid = unop("sigmoid", E.logistic, { float: true });
export const reciprocal = unop("reciprocal", E.reciprocal, { float: true });
export const sign = unop("sign", E.sign);
export const floor = unop("floor", (t) => (isFloat(t.dtype) ? E.floor(t) : t));
export const ceil = unop("ceil", (t) => (isFloat(t.dtype) ? E.ceil(t) : t));
export const round = unop("round", (t) => (isFloat(t.dtype) ? E.round(t) : t));
export const trunc = unop("trunc", (t) => (isFloat(t.dtype) ? E.select(E.less(t, E.zerosLike(t)), E.ceil(t), E.floor(t)) : t));
export const square = unop("square", (t) => E.mul(t, t));
export const logicalNot = unop("logicalNot", (t) => E.not(E.convert(t, "bool")));
export const isnan = unop("isnan", (t) => (isFloat(t.dtype) ? E.isnan(t) : fullPrim(t.shape, 0, "bool")));
export const isinf = unop("isinf", (t) => (isFloat(t.dtype) ? E.isinf(t) : fullPrim(t.shape, 0, "bool")));
export const isfinite = unop("isfinite", (t) => (isFloat(t.dtype) ? E.not(E.or(E.isnan(t), E.isinf(t))) : fullPrim(t.shape, 1, "bool")));

/** Cast: `x.astype("int32")`. */
export function astype(x: TensorLike, dtype: DType): Tensor {
  return E.convert(toTensor(x), dtype);
}

/** where(cond, x, y) with broadcasting; cond is converted to bool. With only cond: `nonzero(cond, { asTuple: true })`. */
export function where(cond: TensorLike): Tensor[];
export function where(cond: TensorLike, x: TensorLike, y: TensorLike): Tensor;
export function where(cond: TensorLike, x?: TensorLike, y?: TensorLike): Tensor | Tensor[] {
  if (x === undefined && y === undefined) return nonzero(cond, { asTuple: true });
  if (x === undefined || y === undefined) fail("where", "takes either one argument (cond) or three (cond, x, y)");
  const c = E.convert(toTensor(cond), "bool");
  const [a, b] = promote("where", x, y);
  const [cc, aa, bb] = broadcastArrays("where", c, a!, b!);
  return E.select(cc!, aa!, bb!);
}

/** Clip to [min, max] (either may be null). */
export function clip(x: TensorLike, min: TensorLike | null, max: TensorLike | null): Tensor {
  let t = toTensor(x);
  if (min !== null && min !== undefined) t = maximum(t, min);
  if (max !== null && max !== undefined) t = minimum(t, max);
  return t;
}

// ---------------- reductions ----------------
export interface ReduceOpts {
  axis?: number | number[] | null;
  keepdims?: boolean;
}
const REDUCE_KEYS = optionKeys<ReduceOpts>({ axis: true, keepdims: true });
function keep(t: Tensor, x: Tensor, axes: number[], keepdims: boolean | undefined): Tensor {
  if (!keepdims) return t;
  return S.reshape(t, x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}
function reduction(name: string, f: (x: Tensor, axes: number[]) => Tensor, prep?: (x: Tensor) => Tensor) {
  return (x: TensorLike, opts: ReduceOpts = {}): Tensor => {
    checkOptions(name, opts, REDUCE_KEYS);
    let t = toTensor(x);
    if (prep) t = prep(t);
    const axes = normAxes(name, opts.axis, t.ndim);
    return keep(f(t, axes), t, axes, opts.keepdims);
  };
}
const sumPrep = (t: Tensor) => (t.dtype === "bool" || t.dtype === "uint8" || t.dtype === "int8" ? E.convert(t, "int32") : t);
/** Sum over axes: `x.sum({ axis: -1, keepdims: true })`. */
export const sum = reduction("sum", R.reduceSum, sumPrep);
export const prod = reduction("prod", R.reduceProd, sumPrep);
export const max = reduction("max", (t, axes) => {
  for (const a of axes) if (t.shape[a] === 0) fail("max", `zero-size axis ${a} has no maximum`);
  return R.reduceMax(t, axes);
});
export const min = reduction("min", (t, axes) => {
  for (const a of axes) if (t.shape[a] === 0) fail("min", `zero-size axis ${a} has no minimum`);
  return R.reduceMin(t, axes);
});
export const any = reduction("any", (t, axes) => R.reduceMax(t, axes), (t) => E.convert(t, "bool"));
export const all = reduction("all", (t, axes) => R.reduceMin(t, axes), (t) => E.convert(t, "bool"));

export function mean(x: TensorLike, opts: ReduceOpts = {}): Tensor {
  checkOptions("mean", opts, REDUCE_KEYS);
  let t = toTensor(x);
  if (!isFloat(t.dtype)) t = E.convert(t, "float32");
  const axes = normAxes("mean", opts.axis, t.ndim);
  const n = axes.reduce((a, ax) => a * t.shape[ax]!, 1);
  return div(sum(t, opts), n);
}

/** Options of var/std: `ddof` (NumPy) or `correction` (Array API, PyTorch 2) is the number of degrees of freedom removed. */
export type VarOpts = ReduceOpts & { ddof?: number; correction?: number };
/** Variance over axes. @example tr.variance(x, { axis: 0, correction: 1 }) */
export function variance(x: TensorLike, opts: VarOpts = {}): Tensor {
  checkOptions("var", opts, [...REDUCE_KEYS, "ddof", "correction"]);
  if (opts.ddof !== undefined && opts.correction !== undefined && opts.ddof !== opts.correction)
    fail("var", `ddof (${opts.ddof}) and correction (${opts.correction}) are two names for one option; give one`);
  let t = toTensor(x);
  if (!isFloat(t.dtype)) t = E.convert(t, "float32");
  const axes = normAxes("var", opts.axis, t.ndim);
  const n = axes.reduce((a, ax) => a * t.shape[ax]!, 1);
  const mu = mean(t, { axis: axes, keepdims: true });
  const d = sub(t, mu);
  return div(sum(mul(d, d), { axis: axes, keepdims: opts.keepdims }), n - (opts.ddof ?? opts.correction ?? 0));
}
/** Standard deviation over axes (same options as `variance`). */
export function std(x: TensorLike, opts: VarOpts = {}): Tensor {
  return sqrt(variance(x, opts));
}

/** Numerically stable log(sum(exp(x))). */
export function logsumexp(x: TensorLike, opts: ReduceOpts = {}): Tensor {
  checkOptions("logsumexp", opts, REDUCE_KEYS);
  const t = toTensor(x);
  const axes = normAxes("logsumexp", opts.axis, t.ndim);
  const m = S.stopGradient(R.reduceMax(t, axes));
  const mk = S.reshape(m, t.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
  const finite = where(isfinite(mk), mk, 0);
  const s = log(sum(exp(sub(t, finite)), { axis: axes, keepdims: true }));
  const out = add(s, finite);
  return opts.keepdims ? out : S.reshape(out, t.shape.filter((_, i) => !axes.includes(i)));
}

/** argmax/argmin over one axis, or over the flattened tensor when no axis is given. */
function argReduce(op: "argmax" | "argmin", x: TensorLike, opts: { axis?: number | null; keepdims?: boolean }): Tensor {
  checkOptions(op, opts, REDUCE_KEYS);
  const prim = op === "argmax" ? R.argmax : R.argmin;
  const t = toTensor(x);
  if (opts.axis === null || opts.axis === undefined) return prim(S.reshape(t, [t.size]), 0);
  const ax = normAxis(op, opts.axis, t.ndim);
  const r = prim(t, ax);
  return opts.keepdims ? S.reshape(r, t.shape.map((d, i) => (i === ax ? 1 : d))) : r;
}
/** Index of the largest value along `axis` (of the flattened tensor when omitted); the first on ties. */
export function argmax(x: TensorLike, opts: { axis?: number | null; keepdims?: boolean } = {}): Tensor {
  return argReduce("argmax", x, opts);
}
/** Index of the smallest value along `axis` (of the flattened tensor when omitted); the first on ties. */
export function argmin(x: TensorLike, opts: { axis?: number | null; keepdims?: boolean } = {}): Tensor {
  return argReduce("argmin", x, opts);
}

export function cumsum(x: TensorLike, opts: { axis?: number | null; reverse?: boolean } = {}): Tensor {
  checkOptions("cumsum", opts, ["axis", "reverse"]);
  let t = toTensor(x);
  t = sumPrep(t);
  if (opts.axis === null || opts.axis === undefined) t = S.reshape(t, [t.size]);
  const ax = normAxis("cumsum", opts.axis ?? 0, t.ndim);
  return R.cumsum(t, ax, opts.reverse ?? false);
}

export type { DType };
