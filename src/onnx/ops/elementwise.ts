/** Elementwise operators: arithmetic, comparisons, logic, math functions, activations, casts. */
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, isFloat, type DType } from "../../core/dtype.js";
import { fail } from "../../core/errors.js";
import * as E from "../../core/prims/elementwise.js";
import { bitcastConvertType } from "../../core/prims/random.js";
import type { Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { dataTypeName } from "../proto.js";
import { TVal, isFloatElem, isSignedElem } from "../values.js";
import { def, out, tin, topt, type OpCtx } from "./registry.js";
import { DataType, bcast, checkElem, held, lit } from "./util.js";

type Bin = (a: Tensor, b: Tensor, elem: number, ctx: OpCtx) => Tensor;

/** Both operands broadcast, the second converted to the first's dtype (ONNX gives them one type T). */
function operands(ins: Parameters<typeof tin>[0], ctx: OpCtx): [Tensor, Tensor, number] {
  const a = tin(ins, 0, ctx, "A"), b = tin(ins, 1, ctx, "B");
  let y = b.t;
  if (y.dtype !== a.t.dtype) y = E.convert(y, a.t.dtype);
  const [p, q] = bcast(ctx, a.t, y);
  return [p!, q!, a.elem];
}

function binary(name: string, f: Bin, outElem?: number): void {
  def(name, (ins, ctx) => {
    const [x, y, elem] = operands(ins, ctx);
    return [out(f(x, y, elem, ctx), outElem ?? elem)];
  });
}

/** Wrap results of 16-bit integer types (held in int32) back into their range. */
function wrap16(t: Tensor, elem: number): Tensor {
  if (elem === DataType.INT16) return E.shiftRight(E.shiftLeft(t, lit(t, 16)), lit(t, 16));
  if (elem === DataType.UINT16) return E.and(t, lit(t, 0xffff));
  return t;
}

binary("Add", (a, b, e) => wrap16(E.add(a, b), e));
binary("Sub", (a, b, e) => wrap16(E.sub(a, b), e));
binary("Mul", (a, b, e) => wrap16(E.mul(a, b), e));
// integer division truncates toward zero (the reference casts NumPy's true quotient back)
binary("Div", (a, b) => E.div(a, b));
binary("Equal", (a, b) => E.eq(a, b), DataType.BOOL);
binary("Less", (a, b) => E.less(a, b), DataType.BOOL);
binary("Greater", (a, b) => E.greater(a, b), DataType.BOOL);
binary("LessOrEqual", (a, b) => E.lessEqual(a, b), DataType.BOOL);
binary("GreaterOrEqual", (a, b) => E.greaterEqual(a, b), DataType.BOOL);
binary("And", (a, b) => E.and(a, b), DataType.BOOL);
binary("Or", (a, b) => E.or(a, b), DataType.BOOL);
binary("Xor", (a, b) => E.xor(a, b), DataType.BOOL);
binary("BitwiseAnd", (a, b) => E.and(a, b));
binary("BitwiseOr", (a, b) => E.or(a, b));
binary("BitwiseXor", (a, b) => E.xor(a, b));

def("Mod", {
  run(ins, ctx) {
    const [a, b, elem] = operands(ins, ctx);
    const fmod = ctx.attrs.int("fmod", 0);
    if (isFloatElem(elem) && !fmod) fail(ctx.op, "fmod must be 1 for floating-point inputs");
    const r = E.rem(a, b);
    if (fmod || !isSignedElem(elem)) return [out(r, elem)];
    // Python's %: the remainder takes the divisor's sign
    const zero = lit(r, 0);
    const fix = E.and(E.ne(r, zero), E.ne(E.less(r, zero), E.less(b, zero)));
    return [out(E.select(fix, E.add(r, b), r), elem)];
  },
});

def("BitShift", (ins, ctx) => {
  const [a, b, elem] = operands(ins, ctx);
  const dir = ctx.attrs.string("direction", "");
  if (dir !== "LEFT" && dir !== "RIGHT") fail(ctx.op, `direction must be "LEFT" or "RIGHT", got "${dir}"`);
  // shifting by the width or more gives 0 for unsigned types (JS shifts take the count mod 32)
  const bits = elem === DataType.UINT8 ? 8 : elem === DataType.UINT16 ? 16 : 32;
  let r = dir === "LEFT" ? E.shiftLeft(a, b) : E.shiftRight(a, b);
  if (elem === DataType.UINT16) r = E.and(r, lit(r, 0xffff));
  r = E.select(E.greaterEqual(b, lit(b, bits)), E.zerosLike(r), r);
  return [out(r, elem)];
});

def("Pow", (ins, ctx) => {
  const a = tin(ins, 0, ctx, "X"), b = tin(ins, 1, ctx, "Y");
  let x = a.t, y = b.t;
  if (!isFloat(x.dtype)) {
    // integer bases: compute in double and cast back, as the reference does
    const r = E.pow(...(bcast(ctx, E.convert(x, "float64"), E.convert(y, "float64")) as [Tensor, Tensor]));
    return [out(E.convert(r, x.dtype), a.elem)];
  }
  if (y.dtype !== x.dtype) y = E.convert(y, x.dtype);
  [x, y] = bcast(ctx, x, y) as [Tensor, Tensor];
  return [out(E.pow(x, y), a.elem)];
});

// ---------------- variadic ----------------
function variadic(name: string, f: (a: Tensor, b: Tensor) => Tensor, finish?: (t: Tensor, n: number) => Tensor): void {
  def(name, (ins, ctx) => {
    const vs = ins.map((_, i) => tin(ins, i, ctx, `input ${i}`));
    if (vs.length === 0) fail(ctx.op, "needs at least one input");
    const ts = bcast(ctx, ...vs.map((v) => (v.t.dtype === vs[0]!.t.dtype ? v.t : E.convert(v.t, vs[0]!.t.dtype))));
    let acc = ts[0]!;
    for (const t of ts.slice(1)) acc = f(acc, t);
    return [out(finish ? finish(acc, ts.length) : acc, vs[0]!.elem)];
  });
}
variadic("Max", E.max);
variadic("Min", E.min);
variadic("Sum", E.add);
variadic("Mean", E.add, (t, n) => E.div(t, lit(t, n)));

// ---------------- unary ----------------
function unary(name: string, f: (x: Tensor, ctx: OpCtx, elem: number) => Tensor, opts: { float?: boolean; outElem?: number } = {}): void {
  def(name, (ins, ctx) => {
    const x = tin(ins, 0, ctx, "X");
    if (opts.float && !isFloatElem(x.elem)) unsupported(ctx.op, `input has type ${dataTypeName(x.elem)}; this operator takes floating-point tensors`);
    return [out(f(x.t, ctx, x.elem), opts.outElem ?? x.elem)];
  });
}
const F = { float: true };
unary("Abs", (x) => (x.dtype === "uint8" || x.dtype === "uint32" ? x : E.abs(x)));
unary("Neg", (x, _c, e) => wrap16(E.neg(x), e));
unary("Sign", (x) => (x.dtype === "uint8" || x.dtype === "uint32" ? E.convert(E.ne(x, lit(x, 0)), x.dtype) : E.sign(x)));
unary("Sqrt", E.sqrt, F);
unary("Exp", E.exp, F);
unary("Log", E.log, F);
unary("Sin", E.sin, F);
unary("Cos", E.cos, F);
unary("Tan", E.tan, F);
unary("Asin", E.asin, F);
unary("Acos", E.acos, F);
unary("Atan", E.atan, F);
unary("Sinh", E.sinh, F);
unary("Cosh", E.cosh, F);
unary("Asinh", E.asinh, F);
unary("Acosh", E.acosh, F);
unary("Atanh", E.atanh, F);
unary("Erf", E.erf, F);
unary("Tanh", E.tanh, F);
unary("Sigmoid", E.logistic, F);
unary("Reciprocal", E.reciprocal, F);
unary("Floor", E.floor, F);
unary("Ceil", E.ceil, F);
unary("Round", E.round, F);
unary("Not", (x) => E.not(x), { outElem: DataType.BOOL });
unary("BitwiseNot", (x) => E.not(x));
unary("IsNaN", (x) => E.isnan(x), { float: true, outElem: DataType.BOOL });
unary("IsInf", (x, ctx) => {
  const pos = ctx.attrs.int("detect_positive", 1), neg = ctx.attrs.int("detect_negative", 1);
  const inf = E.isinf(x);
  if (pos && neg) return inf;
  const zero = lit(x, 0);
  if (pos) return E.and(inf, E.greater(x, zero));
  if (neg) return E.and(inf, E.less(x, zero));
  return E.and(inf, E.ne(x, x));
}, { float: true, outElem: DataType.BOOL });

// ---------------- activations ----------------
const where = (c: Tensor, a: Tensor, b: Tensor) => E.select(c, a, b);
unary("Relu", (x) => E.max(x, lit(x, 0)));
unary("LeakyRelu", (x, ctx) => where(E.less(x, lit(x, 0)), E.mul(x, lit(x, ctx.attrs.float("alpha", 0.01))), x), F);
unary("Elu", (x, ctx) => {
  const a = ctx.attrs.float("alpha", 1);
  return where(E.less(x, lit(x, 0)), E.mul(E.expm1(E.min(x, lit(x, 0))), lit(x, a)), x);
}, F);
unary("Selu", (x, ctx) => {
  const a = ctx.attrs.float("alpha", 1.6732632423543772), g = ctx.attrs.float("gamma", 1.0507010221481323);
  return where(E.lessEqual(x, lit(x, 0)), E.mul(E.expm1(E.min(x, lit(x, 0))), lit(x, a * g)), E.mul(x, lit(x, g)));
}, F);
unary("Celu", (x, ctx) => {
  const a = ctx.attrs.float("alpha", 1);
  const negPart = E.mul(E.expm1(E.div(E.min(x, lit(x, 0)), lit(x, a))), lit(x, a));
  return E.add(E.max(x, lit(x, 0)), E.min(negPart, lit(x, 0)));
}, F);
unary("HardSigmoid", (x, ctx) => {
  const a = ctx.attrs.float("alpha", 0.2), b = ctx.attrs.float("beta", 0.5);
  return E.max(lit(x, 0), E.min(lit(x, 1), E.add(E.mul(x, lit(x, a)), lit(x, b))));
}, F);
unary("HardSwish", (x) => E.mul(x, E.max(lit(x, 0), E.min(lit(x, 1), E.add(E.mul(x, lit(x, 1 / 6)), lit(x, 0.5))))), F);
const softplus = (x: Tensor) => E.add(E.max(x, lit(x, 0)), E.log1p(E.exp(E.neg(E.abs(x)))));
unary("Softplus", softplus, F);
unary("Softsign", (x) => E.div(x, E.add(E.abs(x), lit(x, 1))), F);
unary("ThresholdedRelu", (x, ctx) => where(E.greater(x, lit(x, ctx.attrs.float("alpha", 1))), x, lit(x, 0)), F);
unary("Shrink", (x, ctx) => {
  const bias = ctx.attrs.float("bias", 0), l = ctx.attrs.float("lambd", 0.5);
  return where(E.less(x, lit(x, -l)), E.add(x, lit(x, bias)), where(E.greater(x, lit(x, l)), E.sub(x, lit(x, bias)), lit(x, 0)));
});
unary("Mish", (x) => E.mul(x, E.tanh(softplus(x))), F);
unary("Swish", (x, ctx) => E.mul(x, E.logistic(E.mul(x, lit(x, ctx.attrs.float("alpha", 1))))), F);
unary("Gelu", (x, ctx) => {
  const approx = ctx.attrs.string("approximate", "none");
  if (approx === "tanh") {
    const inner = E.mul(E.add(x, E.mul(E.mul(E.mul(x, x), x), lit(x, 0.044715))), lit(x, Math.sqrt(2 / Math.PI)));
    return E.mul(E.mul(x, lit(x, 0.5)), E.add(E.tanh(inner), lit(x, 1)));
  }
  if (approx !== "none") fail(ctx.op, `approximate must be "none" or "tanh", got "${approx}"`);
  return E.mul(E.mul(x, lit(x, 0.5)), E.add(E.erf(E.mul(x, lit(x, Math.SQRT1_2))), lit(x, 1)));
}, F);

def("PRelu", (ins, ctx) => {
  const [x, s, elem] = operands(ins, ctx);
  return [out(where(E.less(x, lit(x, 0)), E.mul(x, s), x), elem)];
});

def("Clip", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input");
  let t = x.t;
  const bound = (i: number, attr: string, dflt: number): Tensor | null => {
    if (ctx.opset < 11) {
      const v = ctx.attrs.float(attr);
      return lit(t, v ?? dflt);
    }
    const b = topt(ins, i, ctx, attr);
    return b ? (b.t.dtype === t.dtype ? b.t : E.convert(b.t, t.dtype)) : null;
  };
  const lo = bound(1, "min", -Infinity), hi = bound(2, "max", Infinity);
  if (lo) t = E.max(...(bcast(ctx, t, lo) as [Tensor, Tensor]));
  if (hi) t = E.min(...(bcast(ctx, t, hi) as [Tensor, Tensor]));
  return [out(t, x.elem)];
});

def("Where", (ins, ctx) => {
  const c = tin(ins, 0, ctx, "condition"), a = tin(ins, 1, ctx, "X"), b = tin(ins, 2, ctx, "Y");
  const y = b.t.dtype === a.t.dtype ? b.t : E.convert(b.t, a.t.dtype);
  const [cc, x, yy] = bcast(ctx, E.convert(c.t, "bool"), a.t, y);
  return [out(E.select(cc!, x!, yy!), a.elem)];
});

// ---------------- casts ----------------
/** Cast with ONNX semantics onto a target ONNX type (16-bit ints wrap, bool is "nonzero"). */
export function castTo(ctx: OpCtx, v: TVal, to: number): TVal {
  checkElem(ctx, to, "the target type");
  const dt: DType = held(to);
  let t = E.convert(v.t, dt);
  if (to === DataType.INT16 || to === DataType.UINT16) t = wrap16(t, to);
  return out(t, to);
}

def("Cast", {
  check(attrs) {
    const to = attrs.int("to");
    if (to === undefined) fail(attrs.op, "attribute to is required");
  },
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input");
    const to = ctx.attrs.int("to")!;
    checkElem(ctx, x.elem, "the input");
    if (x.elem === to) return [x];
    return [castTo(ctx, x, to)];
  },
});

def("CastLike", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input"), like = tin(ins, 1, ctx, "target_type");
  if (x.elem === like.elem) return [x];
  return [castTo(ctx, x, like.elem)];
});

/** Byte size and DataView accessors of the types BitCast reinterprets on the host. */
const BITS: Partial<Record<number, [number, (d: DataView, o: number) => number, (d: DataView, o: number, v: number) => void]>> = {
  [DataType.FLOAT]: [4, (d, o) => d.getFloat32(o, true), (d, o, v) => d.setFloat32(o, v, true)],
  [DataType.DOUBLE]: [8, (d, o) => d.getFloat64(o, true), (d, o, v) => d.setFloat64(o, v, true)],
  [DataType.INT32]: [4, (d, o) => d.getInt32(o, true), (d, o, v) => d.setInt32(o, v, true)],
  [DataType.UINT32]: [4, (d, o) => d.getUint32(o, true), (d, o, v) => d.setUint32(o, v, true)],
  [DataType.INT16]: [2, (d, o) => d.getInt16(o, true), (d, o, v) => d.setInt16(o, v, true)],
  [DataType.UINT16]: [2, (d, o) => d.getUint16(o, true), (d, o, v) => d.setUint16(o, v, true)],
  [DataType.INT8]: [1, (d, o) => d.getInt8(o), (d, o, v) => d.setInt8(o, v)],
  [DataType.UINT8]: [1, (d, o) => d.getUint8(o), (d, o, v) => d.setUint8(o, v)],
  [DataType.BOOL]: [1, (d, o) => (d.getUint8(o) ? 1 : 0), (d, o, v) => d.setUint8(o, v ? 1 : 0)],
  [DataType.FLOAT16]: [2, (d, o) => f16ToF32(d.getUint16(o, true)), (d, o, v) => d.setUint16(o, f32ToF16(v), true)],
  [DataType.BFLOAT16]: [2, (d, o) => bf16ToF32(d.getUint16(o, true)), (d, o, v) => d.setUint16(o, f32ToBf16(v), true)],
  [DataType.INT64]: [8, (d, o) => Number(d.getBigInt64(o, true)), (d, o, v) => d.setBigInt64(o, BigInt(Math.trunc(v)), true)],
  [DataType.UINT64]: [8, (d, o) => Number(d.getBigUint64(o, true)), (d, o, v) => d.setBigUint64(o, BigInt(Math.trunc(v)), true)],
};

def("BitCast", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input");
  const to = ctx.attrs.int("to")!;
  const ok: number[] = [DataType.FLOAT, DataType.INT32, DataType.UINT32];
  // 32-bit types reinterpret with a primitive (traceable); the rest on the host, exactly
  if (ok.includes(x.elem) && ok.includes(to)) return [out(bitcastConvertType(x.t, held(to)), to)];
  const src = BITS[x.elem], dst = BITS[to];
  if (!src || !dst || src[0] !== dst[0]) unsupported(ctx.op, `bitcasting ${dataTypeName(x.elem)} to ${dataTypeName(to)} is not supported (the types must have one size)`);
  if (!x.concrete) unsupported(ctx.op, `bitcasting ${dataTypeName(x.elem)} to ${dataTypeName(to)} needs a concrete input`);
  if ((x.elem === DataType.INT64 || x.elem === DataType.UINT64) && !x.host) unsupported(ctx.op, "bitcasting a computed int64 tensor loses its upper bits");
  const vals = x.values(ctx.op, "input");
  const n = vals.length, w = src[0];
  const buf = new DataView(new ArrayBuffer(n * w));
  if (x.exact) x.exact.forEach((v, i) => (x.elem === DataType.INT64 ? buf.setBigInt64(i * 8, v, true) : buf.setBigUint64(i * 8, v, true)));
  else vals.forEach((v, i) => src[2](buf, i * w, v));
  const res = Float64Array.from({ length: n }, (_, i) => dst[1](buf, i * w));
  // 64-bit integer results keep every bit
  const exact = to === DataType.INT64 ? BigInt64Array.from({ length: n }, (_, i) => buf.getBigInt64(i * 8, true))
    : to === DataType.UINT64 ? BigUint64Array.from({ length: n }, (_, i) => buf.getBigUint64(i * 8, true)) : undefined;
  return [new TVal(to, x.shape, undefined, res, "", exact)];
});
