/** Linear quantisation: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, QLinearConv. */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import * as R from "../../core/prims/reduce.js";
import * as S from "../../core/prims/structural.js";
import { matmul } from "../../ops/linalg.js";
import type { Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { dataTypeName } from "../proto.js";
import { def, out, tin, topt, type OpCtx } from "./registry.js";
import { convCore, convPads } from "./nn.js";
import { DataType, axisOf, bcast, bcastTo, broadcastShape, held, lit, range } from "./util.js";

const RANGES: Partial<Record<number, [number, number]>> = {
  [DataType.UINT8]: [0, 255],
  [DataType.INT8]: [-128, 127],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT16]: [-32768, 32767],
  [DataType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
};

/** A scale or zero point laid out against x: scalar, per-axis, or blocked along the axis. */
function layout(ctx: OpCtx, v: Tensor, shape: readonly number[], axis: number, block: number): Tensor {
  if (v.ndim === 0 || v.size === 1) return bcastTo(S.reshape(v, []), shape);
  axis = axisOf(ctx, axis, shape.length);
  if (!block) {
    if (v.ndim !== 1 || v.shape[0] !== shape[axis]) fail(ctx.op, `per-axis parameter ${fmtShape(v.shape)} must have ${shape[axis]} entries (axis ${axis} of ${fmtShape(shape)})`);
    return bcastTo(S.reshape(v, shape.map((d, i) => (i === axis ? d : 1))), shape);
  }
  // blocked: repeat each entry block_size times along the axis, cutting the last block short
  const n = v.shape[axis]!;
  const rep = S.broadcastInDim(v, [...v.shape.slice(0, axis + 1), block, ...v.shape.slice(axis + 1)], range(v.ndim).map((i) => (i <= axis ? i : i + 1)));
  let t = S.reshape(rep, v.shape.map((d, i) => (i === axis ? n * block : d)));
  if (n * block !== shape[axis]) t = S.slice(t, t.shape.map(() => 0), t.shape.map((d, i) => (i === axis ? shape[axis]! : d)));
  if (t.shape.join() !== shape.join()) fail(ctx.op, `blocked parameter ${fmtShape(v.shape)} does not fit input ${fmtShape(shape)} with block_size ${block}`);
  return t;
}

function quantize(ctx: OpCtx, x: Tensor, scale: Tensor, zp: Tensor | null, toElem: number, axis: number, block: number): Tensor {
  const range_ = RANGES[toElem];
  if (!range_) unsupported(ctx.op, `quantizing to ${dataTypeName(toElem)} is not supported`);
  const xf = E.convert(x, "float32");
  const q = E.round(E.div(xf, layout(ctx, E.convert(scale, "float32"), x.shape, axis, block)));
  let qi = E.convert(q, "int32");
  if (zp) qi = E.add(qi, layout(ctx, E.convert(zp, "int32"), x.shape, axis, block));
  const clipped = E.max(E.min(qi, full(qi.shape, range_[1], "int32")), full(qi.shape, range_[0], "int32"));
  return E.convert(clipped, held(toElem));
}

def("QuantizeLinear", {
  check(attrs) {
    const p = attrs.int("precision");
    if (p !== undefined && p !== 0 && p !== DataType.FLOAT && p !== DataType.DOUBLE) unsupported(attrs.op, `precision ${dataTypeName(p)} is not supported`);
  },
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "x"), s = tin(ins, 1, ctx, "y_scale"), z = topt(ins, 2, ctx, "y_zero_point");
    const axis = ctx.attrs.int("axis", 1);
    const block = ctx.attrs.int("block_size", 0);
    const to = z ? z.elem : (ctx.attrs.int("output_dtype", 0) || DataType.UINT8);
    return [out(quantize(ctx, x.t, s.t, z ? z.t : null, to, axis, block), to)];
  },
});

def("DequantizeLinear", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "x"), s = tin(ins, 1, ctx, "x_scale"), z = topt(ins, 2, ctx, "x_zero_point");
  const axis = ctx.attrs.int("axis", 1);
  const block = ctx.attrs.int("block_size", 0);
  let dx = E.convert(x.t, "float32");
  if (z) dx = E.sub(dx, layout(ctx, E.convert(z.t, "float32"), x.shape, axis, block));
  const outElem = ctx.attrs.int("output_dtype", 0) || s.elem;
  const y = E.mul(dx, layout(ctx, E.convert(s.t, "float32"), x.shape, axis, block));
  return [out(E.convert(y, held(outElem)), outElem)];
});

def("DynamicQuantizeLinear", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "x");
  const x = E.convert(xv.t, "float32");
  const all = range(x.ndim);
  const zero = full([], 0, "float32");
  const maxx = E.max(R.reduceMax(x, all), zero), minx = E.min(R.reduceMin(x, all), zero);
  const span = E.sub(maxx, minx);
  const scale = E.div(E.select(E.eq(maxx, minx), full([], 1, "float32"), span), full([], 255, "float32"));
  const zp0 = E.sub(zero, E.div(minx, scale));
  const zp = E.round(E.max(full([], 0, "float32"), E.min(full([], 255, "float32"), zp0)));
  const y = E.add(E.round(E.div(x, bcastTo(scale, x.shape))), bcastTo(zp, x.shape));
  const yq = E.convert(E.max(E.min(y, lit(y, 255)), lit(y, 0)), "uint8");
  return [out(yq, DataType.UINT8), out(E.convert(scale, xv.t.dtype), xv.elem), out(E.convert(zp, "uint8"), DataType.UINT8)];
});

def("QLinearMatMul", (ins, ctx) => {
  const [a, as, az, b, bs, bz, ys, yz] = range(8).map((i) => tin(ins, i, ctx, ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"][i]));
  const toInt = (t: Tensor) => E.convert(t, "int32");
  // NumPy broadcasting of the zero points, as the reference subtracts them
  const A = E.sub(...(bcast(ctx, toInt(a!.t), toInt(az!.t)) as [Tensor, Tensor]));
  const B = E.sub(...(bcast(ctx, toInt(b!.t), toInt(bz!.t)) as [Tensor, Tensor]));
  const C = E.convert(matmul(A, B), "float64");
  // the scale factor is formed in the scales' precision, then applied in double
  const sdt = as!.t.dtype === "float16" ? "float16" : "float32";
  const f = E.div(E.mul(...(bcast(ctx, E.convert(as!.t, sdt), E.convert(bs!.t, sdt)) as [Tensor, Tensor])), bcastTo(E.convert(ys!.t, sdt), broadcastShape(ctx, as!.shape, bs!.shape)));
  let D = E.mul(...(bcast(ctx, C, E.convert(f, "float64")) as [Tensor, Tensor]));
  D = E.add(...(bcast(ctx, D, E.convert(yz!.t, "float64")) as [Tensor, Tensor]));
  const [lo, hi] = RANGES[yz!.elem] ?? [0, 255];
  const q = E.max(E.min(E.round(D), lit(D, hi)), lit(D, lo));
  return [out(E.convert(q, yz!.t.dtype), yz!.elem)];
});

def("QLinearConv", (ins, ctx) => {
  const [x, xs, xz, w, ws, wz, ys, yz] = range(8).map((i) => topt(ins, i, ctx, `input ${i}`));
  const bv = topt(ins, 8, ctx, "B");
  if (!x || !xs || !w || !ws || !ys) fail(ctx.op, "x, x_scale, w, w_scale and y_scale are required");
  let X = E.convert(x.t, "float64"), W = E.convert(w.t, "float64");
  if (xz) X = E.sub(X, bcastTo(S.reshape(E.convert(xz.t, "float64"), []), X.shape));
  if (wz) {
    const z = E.convert(wz.t, "float64");
    W = E.sub(W, z.size > 1 ? bcastTo(S.reshape(z, [z.size, ...W.shape.slice(1).map(() => 1)]), W.shape) : bcastTo(S.reshape(z, []), W.shape));
  }
  const n = X.ndim - 2;
  const kernel = W.shape.slice(2);
  const strides = ctx.attrs.ints("strides") ?? Array<number>(n).fill(1), dilations = ctx.attrs.ints("dilations") ?? Array<number>(n).fill(1);
  let res = convCore(X, W, { strides, dilations, pads: convPads(ctx, X.shape.slice(2), kernel, strides, dilations) }, ctx.attrs.int("group", 1));
  if (bv) res = E.add(res, bcastTo(S.reshape(E.convert(bv.t, "float64"), [1, W.shape[0]!, ...kernel.map(() => 1)]), res.shape));
  const wsf = E.convert(ws.t, "float64");
  const wsb = ws.t.size > 1 ? bcastTo(S.reshape(wsf, [1, ws.t.size, ...kernel.map(() => 1)]), res.shape) : bcastTo(S.reshape(wsf, []), res.shape);
  const k = E.div(E.mul(bcastTo(S.reshape(E.convert(xs.t, "float64"), []), res.shape), wsb), bcastTo(S.reshape(E.convert(ys.t, "float64"), []), res.shape));
  let R_ = E.mul(res, k);
  const outElem = yz ? yz.elem : x.elem;
  if (yz) R_ = E.add(R_, bcastTo(S.reshape(E.convert(yz.t, "float64"), []), R_.shape));
  const [lo, hi] = RANGES[outElem] ?? [0, 255];
  R_ = E.max(E.min(R_, lit(R_, hi)), lit(R_, lo));
  return [out(E.convert(E.round(R_), held(outElem)), outElem)];
});
