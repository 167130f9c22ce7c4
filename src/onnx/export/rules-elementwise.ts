/**
 * Elementwise primitives: one ONNX operator where ONNX has it, small compositions otherwise
 * (log1p, expm1, rsqrt, erfinv, atan2, ne). Operands stay lazily broadcast: ONNX's elementwise
 * operators broadcast them, so a scalar constant never becomes a full tensor.
 */
import { TridentError } from "../../core/errors.js";
import { isFloat } from "../../core/dtype.js";
import { broadcastShapes, type Emitter, type OVal } from "./builder.js";
import { elemOf, rule, type EqnCtx } from "./emit.js";

const UNARY: Record<string, string> = {
  neg: "Neg", abs: "Abs", exp: "Exp", log: "Log", sqrt: "Sqrt", sin: "Sin", cos: "Cos", tan: "Tan", tanh: "Tanh",
  asin: "Asin", acos: "Acos", atan: "Atan", sinh: "Sinh", cosh: "Cosh", asinh: "Asinh", acosh: "Acosh", atanh: "Atanh",
  logistic: "Sigmoid", erf: "Erf", reciprocal: "Reciprocal", sign: "Sign", floor: "Floor", ceil: "Ceil", round: "Round",
};

const BINARY: Record<string, string> = {
  sub: "Sub", mul: "Mul", div: "Div", pow: "Pow", max: "Max", min: "Min",
  eq: "Equal", lt: "Less", le: "LessOrEqual", gt: "Greater", ge: "GreaterOrEqual",
};

/** A result with the broadcast shape of the operands. */
const out = (c: EqnCtx, name: string): OVal[] => [{ name, dtype: c.outDtypes[0]!, shape: broadcastShapes(c.ins.map((v) => v.shape)) }];

for (const [prim, op] of Object.entries(UNARY)) {
  rule(prim, (c) => {
    const x = c.ins[0]!;
    const dt = c.inDtypes[0]!;
    // rounding integers and |unsigned| are identities; ONNX defines those operators for floats only
    if (!isFloat(dt) && (op === "Floor" || op === "Ceil" || op === "Round" || (op === "Abs" && dt.startsWith("uint")))) return out(c, x.name);
    return out(c, c.em.op(op, [x.name]));
  });
}

for (const [prim, op] of Object.entries(BINARY)) {
  rule(prim, (c) => out(c, c.em.op(op, c.ins.map((v) => v.name))));
}

rule("ne", (c) => out(c, c.em.op("Not", [c.em.op("Equal", c.ins.map((v) => v.name))])));

rule("rem", (c) => out(c, c.em.op("Mod", c.ins.map((v) => v.name), { fmod: 1 })));

rule(["and", "or", "xor"], (c) => {
  const names = c.ins.map((v) => v.name);
  const base = c.prim === "and" ? "And" : c.prim === "or" ? "Or" : "Xor";
  if (c.inDtypes[0] === "bool") return out(c, c.em.op(base, names));
  needOpset(c, 18, `bitwise ${c.prim} of ${c.inDtypes[0]}`);
  return out(c, c.em.op(`Bitwise${base}`, names));
});

rule("not", (c) => {
  const x = c.ins[0]!.name, dt = c.inDtypes[0]!;
  if (dt === "bool") return out(c, c.em.op("Not", [x]));
  if (c.em.opset >= 18) return out(c, c.em.op("BitwiseNot", [x]));
  // two's complement: ~x = -x - 1 for signed, max - x for unsigned
  if (dt.startsWith("uint")) return out(c, c.em.op("Sub", [c.em.scalar(dt, dt === "uint8" ? 255 : 4294967295), x]));
  return out(c, c.em.op("Sub", [c.em.op("Neg", [x]), c.em.scalar(dt, 1)]));
});

rule(["shift_left", "shift_right"], (c) => {
  const dt = c.inDtypes[0]!;
  if (dt !== "uint8" && dt !== "uint32") {
    throw new TridentError(`onnx.export: ${c.prim}: ONNX BitShift takes unsigned integers only, got ${dt}`);
  }
  return out(c, c.em.op("BitShift", c.ins.map((v) => v.name), { direction: c.prim === "shift_left" ? "LEFT" : "RIGHT" }));
});

rule(["isnan", "isinf"], (c) => {
  const x = c.ins[0]!;
  // integers are never NaN or infinite: a broadcast false
  if (!isFloat(c.inDtypes[0]!)) return [{ name: c.em.scalar("bool", 0), dtype: "bool", shape: [] }];
  return out(c, c.em.op(c.prim === "isnan" ? "IsNaN" : "IsInf", [x.name]));
});

rule("rsqrt", (c) => out(c, c.em.op("Reciprocal", [c.em.op("Sqrt", [c.ins[0]!.name])])));

rule("select", (c) => out(c, c.em.op("Where", c.ins.map((v) => v.name))));

rule("convert_element_type", (c) => {
  const x = c.ins[0]!;
  const to = c.outDtypes[0]!;
  if (to === c.inDtypes[0]) return [{ ...x, dtype: to }];
  return [{ name: c.em.op("Cast", [x.name], { to: elemOf(to) }), dtype: to, shape: x.shape }];
});

rule("stop_gradient", (c) => [c.ins[0]!]);

/**
 * log1p and expm1 without cancellation (Kahan's trick): with u = 1 + x rounded, log(u)·x/(u − 1)
 * is accurate to a few ulps because the rounding error of u cancels between numerator and denominator.
 */
rule("log1p", (c) => {
  const em = c.em, x = c.ins[0]!.name, dt = c.inDtypes[0]!;
  const one = em.scalar(dt, 1);
  const u = em.op("Add", [x, one]);
  const um1 = em.op("Sub", [u, one]);
  const r = em.op("Mul", [x, em.op("Div", [em.op("Log", [u]), um1])]);
  const small = em.op("Where", [em.op("Equal", [u, one]), x, r]);
  return out(c, em.op("Where", [em.op("IsInf", [u]), u, small]));
});

rule("expm1", (c) => {
  const em = c.em, x = c.ins[0]!.name, dt = c.inDtypes[0]!;
  const one = em.scalar(dt, 1);
  const u = em.op("Exp", [x]);
  const um1 = em.op("Sub", [u, one]);
  const r = em.op("Div", [em.op("Mul", [um1, x]), em.op("Log", [u])]);
  let y = em.op("Where", [em.op("Equal", [um1, em.scalar(dt, -1)]), um1, r]);
  y = em.op("Where", [em.op("Equal", [u, one]), x, y]);
  return out(c, em.op("Where", [em.op("IsInf", [u]), u, y]));
});

/** atan2(y, x) from Atan of the quotient, moved into the right quadrant. */
rule("atan2", (c) => {
  const em = c.em, dt = c.inDtypes[0]!;
  const [y, x] = c.ins.map((v) => v.name) as [string, string];
  const zero = em.scalar(dt, 0);
  const q = em.op("Atan", [em.op("Div", [y, x])]);
  const pi = em.op("Where", [em.op("Less", [y, zero]), em.scalar(dt, -Math.PI), em.scalar(dt, Math.PI)]);
  const shifted = em.op("Where", [em.op("Less", [x, zero]), em.op("Add", [q, pi]), q]);
  const bothZero = em.op("And", [em.op("Equal", [y, zero]), em.op("Equal", [x, zero])]);
  // atan2(±0, x) is ±0 for x > 0 and ±π for x < 0; atan2(0, 0) is 0 (as Math.atan2 gives for +0)
  const atZero = em.op("Where", [em.op("Less", [x, zero]), pi, y]);
  return out(c, em.op("Where", [bothZero, atZero, shifted]));
});

/** Giles' single-precision erfinv polynomials (two ranges of w = −log(1 − x²)). */
const ERFINV_CENTRAL = [2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 2.1858087e-4, -1.25372503e-3, -4.17768164e-3, 0.246640727, 1.50140941];
const ERFINV_TAIL = [-2.00214257e-4, 1.00950558e-4, 1.34934322e-3, -3.67342844e-3, 5.73950773e-3, -7.6224613e-3, 9.43887047e-3, 1.00167406, 2.83297682];

rule("erfinv", (c) => {
  const em = c.em, x = c.ins[0]!.name, dt = c.inDtypes[0]!;
  const k = (v: number) => em.scalar(dt, v);
  const w = em.op("Neg", [em.op("Log", [em.op("Mul", [em.op("Sub", [k(1), x]), em.op("Add", [k(1), x])])])]);
  const horner = (t: string, cs: number[]) => cs.slice(1).reduce((p, cf) => em.op("Add", [k(cf), em.op("Mul", [p, t])]), k(cs[0]!));
  const pc = horner(em.op("Sub", [w, k(2.5)]), ERFINV_CENTRAL);
  const pt = horner(em.op("Sub", [em.op("Sqrt", [w]), k(3)]), ERFINV_TAIL);
  const y = em.op("Mul", [em.op("Where", [em.op("Less", [w, k(5)]), pc, pt]), x]);
  // at ±1 the tail polynomial overflows to an infinity of the wrong sign
  const edge = em.op("Equal", [em.op("Abs", [x]), k(1)]);
  return out(c, em.op("Where", [edge, em.op("Mul", [x, k(Infinity)]), y]));
});

export function needOpset(c: { em: Emitter; prim: string }, v: number, what: string): void {
  if (c.em.opset < v) throw new TridentError(`onnx.export: ${c.prim}: ${what} needs opset ${v} or later, exporting at opset ${c.em.opset}`);
}
