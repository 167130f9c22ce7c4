import { ShapedArray } from "../aval.js";
import { isFloat, type DType } from "../dtype.js";
import { fail } from "../errors.js";
import { bin, cast, sel, un, type BinOp, type UnOp } from "../../ir/expr.js";
import { primitive, UndefPrimal, type Dim, type Primitive } from "../primitive.js";
import { bind1 } from "../trace.js";
import { Tensor } from "../../tensor.js";
import { batchToFront, elementwiseShape } from "./util.js";
import { fullLike } from "./constants.js";

type NoP = Record<string, never>;

/** Batching for elementwise primitives: if every batched operand shares an axis and none is unbatched, keep it. */
function elementwiseBatch(prim: Primitive<NoP> | Primitive<{ dtype: DType }>) {
  return (args: Tensor[], dims: Dim[], params: Record<string, unknown>): [Tensor[], Dim[]] => {
    const d0 = dims[0];
    if (d0 !== null && d0 !== undefined && dims.every((d) => d === d0)) return [[bind1(prim, args, params)], [d0]];
    return [[bind1(prim, batchToFront(args, dims), params)], [0]];
  };
}

// ---------------- unary ----------------
type JvpFn = (x: Tensor, y: Tensor, dx: Tensor) => Tensor | null;

function unary(op: UnOp, jvp: JvpFn, opts: { outDtype?: DType; floatOnly?: boolean; transpose?: (ct: Tensor) => Tensor } = {}): Primitive<NoP> {
  const { transpose } = opts;
  return primitive<NoP>(op === "recip" ? "reciprocal" : op, (p) => ({
    shape([x]) {
      if (opts.floatOnly && !isFloat(x!.dtype)) fail(p.name, `expects a floating-point operand, got ${x!.dtype}`);
      return [elementwiseShape(p.name, [x!], opts.outDtype)];
    },
    lower([x], ix, { outAvals: [o] }) {
      return [un(op, x!(ix), o!.dtype)];
    },
    jvp([x], [dx]) {
      const y = bind1(p, [x!]);
      const t = jvp(x!, y, dx!);
      return [[y], [t]];
    },
    batch: elementwiseBatch(p),
    ...(transpose ? { transpose: ([ct]: (Tensor | null)[]) => [ct ? transpose(ct) : null] } : {}),
  }));
}

const zeroT: JvpFn = (_x, y) => (isFloat(y.dtype) ? zerosLike(y) : null);
const noT: JvpFn = () => null;
const TWO_OVER_SQRT_PI = 1.1283791670955126;

// neg is linear: its transpose negates the cotangent
export const negP = unary("neg", (_x, _y, dx) => neg(dx), { transpose: (ct) => neg(ct) });
export const absP = unary("abs", (x, _y, dx) => mul(sign(x), dx));
export const expP = unary("exp", (_x, y, dx) => mul(y, dx), { floatOnly: true });
export const logP = unary("log", (x, _y, dx) => div(dx, x), { floatOnly: true });
export const log1pP = unary("log1p", (x, _y, dx) => div(dx, addS(x, 1)), { floatOnly: true });
export const expm1P = unary("expm1", (_x, y, dx) => mul(addS(y, 1), dx), { floatOnly: true });
export const sqrtP = unary("sqrt", (_x, y, dx) => div(dx, mulS(y, 2)), { floatOnly: true });
export const rsqrtP = unary("rsqrt", (x, y, dx) => mul(mulS(div(y, x), -0.5), dx), { floatOnly: true });
export const sinP = unary("sin", (x, _y, dx) => mul(cos(x), dx), { floatOnly: true });
export const cosP = unary("cos", (x, _y, dx) => neg(mul(sin(x), dx)), { floatOnly: true });
export const tanP = unary("tan", (_x, y, dx) => mul(addS(mul(y, y), 1), dx), { floatOnly: true });
export const tanhP = unary("tanh", (_x, y, dx) => mul(rsubS(1, mul(y, y)), dx), { floatOnly: true });
export const asinP = unary("asin", (x, _y, dx) => mul(rsqrt(rsubS(1, mul(x, x))), dx), { floatOnly: true });
export const acosP = unary("acos", (x, _y, dx) => neg(mul(rsqrt(rsubS(1, mul(x, x))), dx)), { floatOnly: true });
export const atanP = unary("atan", (x, _y, dx) => div(dx, addS(mul(x, x), 1)), { floatOnly: true });
export const sinhP = unary("sinh", (x, _y, dx) => mul(cosh(x), dx), { floatOnly: true });
export const coshP = unary("cosh", (x, _y, dx) => mul(sinh(x), dx), { floatOnly: true });
export const asinhP = unary("asinh", (x, _y, dx) => mul(rsqrt(addS(mul(x, x), 1)), dx), { floatOnly: true });
export const acoshP = unary("acosh", (x, _y, dx) => mul(rsqrt(addS(mul(x, x), -1)), dx), { floatOnly: true });
export const atanhP = unary("atanh", (x, _y, dx) => div(dx, rsubS(1, mul(x, x))), { floatOnly: true });
export const logisticP = unary("logistic", (_x, y, dx) => mul(mul(y, rsubS(1, y)), dx), { floatOnly: true });
export const erfP = unary("erf", (x, _y, dx) => mul(mulS(exp(neg(mul(x, x))), TWO_OVER_SQRT_PI), dx), { floatOnly: true });
export const erfInvP = unary("erfinv", (_x, y, dx) => mul(mulS(exp(mul(y, y)), Math.sqrt(Math.PI) / 2), dx), { floatOnly: true });
export const reciprocalP = unary("recip", (_x, y, dx) => neg(mul(mul(y, y), dx)), { floatOnly: true });
export const signP = unary("sign", zeroT);
export const floorP = unary("floor", zeroT);
export const ceilP = unary("ceil", zeroT);
export const roundP = unary("round", zeroT);
export const notP = unary("not", noT);
export const isnanP = unary("isnan", noT, { outDtype: "bool" });
export const isinfP = unary("isinf", noT, { outDtype: "bool" });

const u = (p: Primitive<NoP>) => (x: Tensor): Tensor => bind1(p, [x]);
export const neg = u(negP), abs = u(absP), exp = u(expP), log = u(logP), log1p = u(log1pP), expm1 = u(expm1P);
export const sqrt = u(sqrtP), rsqrt = u(rsqrtP), sin = u(sinP), cos = u(cosP), tan = u(tanP), tanh = u(tanhP);
export const asin = u(asinP), acos = u(acosP), atan = u(atanP), sinh = u(sinhP), cosh = u(coshP);
export const asinh = u(asinhP), acosh = u(acoshP), atanh = u(atanhP), logistic = u(logisticP), erf = u(erfP);
export const erfInv = u(erfInvP), reciprocal = u(reciprocalP), sign = u(signP), floor = u(floorP), ceil = u(ceilP);
export const round = u(roundP), not = u(notP), isnan = u(isnanP), isinf = u(isinfP);

// ---------------- binary ----------------
type BinJvp = (x: Tensor, y: Tensor, out: Tensor, dx: Tensor, dy: Tensor) => Tensor | null;
type BinT = (ct: Tensor, x: Tensor | UndefPrimal, y: Tensor | UndefPrimal) => (Tensor | null)[];

function binary(name: string, op: BinOp, jvp: BinJvp, transpose?: BinT, outDtype?: DType): Primitive<NoP> {
  return primitive<NoP>(name, (p) => ({
    shape(avals) {
      return [elementwiseShape(name, avals, outDtype)];
    },
    lower([x, y], ix, { outAvals: [o] }) {
      return [bin(op, x!(ix), y!(ix), o!.dtype)];
    },
    jvp([x, y], [dx, dy]) {
      const out = bind1(p, [x!, y!]);
      return [[out], [jvp(x!, y!, out, dx!, dy!)]];
    },
    ...(transpose ? { transpose: ([ct], [x, y]: (Tensor | UndefPrimal)[]) => (ct ? transpose(ct, x!, y!) : [null, null]) } : {}),
    batch: elementwiseBatch(p),
  }));
}

const undef = (a: unknown): a is UndefPrimal => a instanceof UndefPrimal;

export const addP = binary("add", "add", (_x, _y, _o, dx, dy) => add(dx, dy), (ct, x, y) => [undef(x) ? ct : null, undef(y) ? ct : null]);
export const subP = binary("sub", "sub", (_x, _y, _o, dx, dy) => sub(dx, dy), (ct, x, y) => [undef(x) ? ct : null, undef(y) ? neg(ct) : null]);
export const mulP = binary("mul", "mul", (x, y, _o, dx, dy) => add(mul(dx, y), mul(x, dy)), (ct, x, y) => {
  if (undef(x) && undef(y)) throw new Error("mul transpose: both operands are linear (the program is not linear)");
  return [undef(x) ? mul(ct, y as Tensor) : null, undef(y) ? mul(x as Tensor, ct) : null];
});
export const divP = binary("div", "div", (_x, y, out, dx, dy) => div(sub(dx, mul(out, dy)), y), (ct, x, y) => {
  if (undef(y)) throw new Error("div transpose: the divisor is linear (the program is not linear)");
  return [undef(x) ? div(ct, y) : null, null];
});
export const remP = binary("rem", "rem", (x, y, _o, dx, dy) => sub(dx, mul(dy, truncDiv(x, y))));
export const powP = binary("pow", "pow", (x, y, out, dx, dy) => {
  // d/dx x^y = y x^(y-1); d/dy = log(x) x^y, taken as 0 where x == 0 (as PyTorch and JAX do)
  const dxTerm = mul(dx, mul(y, pow(x, addS(y, -1))));
  const zero = zerosLike(x);
  const safeLog = select(eq(x, zero), zero, log(x));
  return add(dxTerm, mul(dy, mul(out, safeLog)));
});
export const maxP = binary("max", "max", (x, y, _o, dx, dy) => {
  const h = halfOnTies(x, y);
  return add(mul(dx, h), mul(dy, rsubS(1, h)));
});
export const minP = binary("min", "min", (x, y, _o, dx, dy) => {
  const h = halfOnTies(y, x);
  return add(mul(dx, h), mul(dy, rsubS(1, h)));
});
export const atan2P = binary("atan2", "atan2", (x, y, _o, dx, dy) => div(sub(mul(y, dx), mul(x, dy)), add(mul(x, x), mul(y, y))));

/** 1 where x > y, 0.5 on ties, 0 elsewhere: how max splits its gradient. */
function halfOnTies(x: Tensor, y: Tensor): Tensor {
  const gt = convert(greater(x, y), x.dtype);
  const tie = convert(eq(x, y), x.dtype);
  return add(gt, mulS(tie, 0.5));
}

const cmp = (name: string, op: BinOp) => binary(name, op, () => null, undefined, "bool");
export const eqP = cmp("eq", "eq"), neP = cmp("ne", "ne"), ltP = cmp("lt", "lt"), leP = cmp("le", "le");
export const gtP = cmp("gt", "gt"), geP = cmp("ge", "ge");
export const andP = binary("and", "and", () => null), orP = binary("or", "or", () => null), xorP = binary("xor", "xor", () => null);
export const shlP = binary("shift_left", "shl", () => null), shrP = binary("shift_right", "shr", () => null);

const b = (p: Primitive<NoP>) => (x: Tensor, y: Tensor): Tensor => bind1(p, [x, y]);
export const add = b(addP), sub = b(subP), mul = b(mulP), div = b(divP), rem = b(remP), pow = b(powP);
export const max = b(maxP), min = b(minP), atan2 = b(atan2P), eq = b(eqP), ne = b(neP), less = b(ltP);
export const lessEqual = b(leP), greater = b(gtP), greaterEqual = b(geP), and = b(andP), or = b(orP), xor = b(xorP);
export const shiftLeft = b(shlP), shiftRight = b(shrP);

// scalar helpers used by rules: a JS number combined with a tensor takes the tensor's dtype
export const addS = (x: Tensor, s: number) => add(x, fullLike(x, s));
export const mulS = (x: Tensor, s: number) => mul(x, fullLike(x, s));
export const rsubS = (s: number, x: Tensor) => sub(fullLike(x, s), x);
export const zerosLike = (x: Tensor) => fullLike(x, 0);
function truncDiv(x: Tensor, y: Tensor): Tensor {
  const q = div(x, y);
  return select(less(q, zerosLike(q)), ceil(q), floor(q));
}

// ---------------- select (where) ----------------
export const selectP: Primitive<NoP> = primitive<NoP>("select", {
  shape([cnd, x, y]) {
    if (cnd!.dtype !== "bool") fail("where", `condition must be bool, got ${cnd!.dtype}`);
    const o = elementwiseShape("where", [x!, y!]);
    elementwiseShape("where", [new ShapedArray(cnd!.shape, x!.dtype), x!]);
    return [o];
  },
  lower([cnd, x, y], ix) {
    return [sel(cnd!(ix), x!(ix), y!(ix))];
  },
  jvp([cnd, x, y], [, dx, dy]) {
    return [[select(cnd!, x!, y!)], [select(cnd!, dx!, dy!)]];
  },
  transpose([ct], [cnd, x, y]) {
    if (undef(cnd)) throw new Error("select transpose: the condition cannot be linear");
    const z = zerosLike(ct!);
    return [null, undef(x) ? select(cnd as Tensor, ct!, z) : null, undef(y) ? select(cnd as Tensor, z, ct!) : null];
  },
  batch(args, dims) {
    return [[bind1(selectP, batchToFront(args, dims))], [0]];
  },
});
export const select = (cnd: Tensor, x: Tensor, y: Tensor): Tensor => bind1(selectP, [cnd, x, y]);

// ---------------- convert_element_type ----------------
export const convertP: Primitive<{ dtype: DType; weak: boolean }> = primitive<{ dtype: DType; weak: boolean }>("convert_element_type", {
  shape([x], { dtype, weak }) {
    return [new ShapedArray(x!.shape, dtype, weak)];
  },
  lower([x], ix, { params: { dtype } }) {
    return [cast(x!(ix), dtype)];
  },
  jvp([x], [dx], p) {
    const y = bind1(convertP, [x!], p);
    return [[y], [isFloat(p.dtype) && isFloat(x!.dtype) ? bind1(convertP, [dx!], p) : isFloat(p.dtype) ? zerosLike(y) : null]];
  },
  transpose([ct], [x]) {
    const a = (x as UndefPrimal).aval;
    return [bind1(convertP, [ct!], { dtype: a.dtype, weak: a.weakType })];
  },
  batch([x], [d], p) {
    return [[bind1(convertP, [x!], p)], [d!]];
  },
});
/** Cast to a dtype (a no-op when it already has it). */
export function convert(x: Tensor, dtype: DType, weak = false): Tensor {
  if (x.dtype === dtype && x.aval.weakType === weak) return x;
  return bind1(convertP, [x], { dtype, weak });
}

