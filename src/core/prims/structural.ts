import { ShapedArray } from "../aval.js";
import { fail, fmtShape } from "../errors.js";
import { c, bin, sel, sub, mul, add, unravel, linear, type Expr } from "../../ir/expr.js";
import { primitive, UndefPrimal, type Dim } from "../primitive.js";
import { prod } from "../shape.js";
import { bind1 } from "../trace.js";
import type { Tensor } from "../../tensor.js";
import { reduceSum } from "./reduce.js";
import { range } from "./util.js";

// ---------------- broadcast_in_dim ----------------
type BcastP = { shape: number[]; dims: number[] };
export const broadcastInDimP = primitive<BcastP>("broadcast_in_dim", {
  shape([x], { shape, dims }) {
    if (dims.length !== x!.ndim) fail("broadcast_in_dim", `dims ${JSON.stringify(dims)} must have one entry per operand axis (rank ${x!.ndim})`);
    dims.forEach((d, i) => {
      const s = x!.shape[i]!;
      if (s !== 1 && s !== shape[d]) fail("broadcast_in_dim", `operand shape ${fmtShape(x!.shape)} cannot broadcast to ${fmtShape(shape)}`);
    });
    return [new ShapedArray(shape, x!.dtype, x!.weakType)];
  },
  lower([x], ix, { params: { dims }, inAvals: [a] }) {
    return [x!(dims.map((d, i) => (a!.shape[i] === 1 ? c(0) : ix[d]!)))];
  },
  jvp([x], [dx], p) {
    return [[broadcastInDim(x!, p.shape, p.dims)], [broadcastInDim(dx!, p.shape, p.dims)]];
  },
  transpose([ct], [x], { shape, dims }) {
    const a = (x as UndefPrimal).aval;
    const summed = range(shape.length).filter((d) => !dims.includes(d));
    const expanded = dims.filter((d, i) => a.shape[i] === 1 && shape[d] !== 1);
    let r = reduceSum(ct!, [...summed, ...expanded].sort((p, q) => p - q));
    r = reshape(r, a.shape);
    return [r];
  },
  batch([x], [d], { shape, dims }) {
    const xx = moveaxis(x!, d!, 0);
    return [[broadcastInDim(xx, [xx.shape[0]!, ...shape], [0, ...dims.map((k) => k + 1)])], [0]];
  },
});
/** Broadcast x to `shape`, operand axis i becoming result axis dims[i]. */
export const broadcastInDim = (x: Tensor, shape: readonly number[], dims: readonly number[]): Tensor => {
  if (dims.length === shape.length && x.shape.every((s, i) => s === shape[i]) && dims.every((d, i) => d === i)) return x;
  return bind1(broadcastInDimP, [x], { shape: [...shape], dims: [...dims] });
};

// ---------------- reshape ----------------
export const reshapeP = primitive<{ shape: number[] }>("reshape", {
  shape([x], { shape }) {
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) fail("reshape", `shape ${fmtShape(shape)} must hold non-negative integers`);
    if (prod(shape) !== x!.size) fail("reshape", `cannot reshape ${fmtShape(x!.shape)} (${x!.size} elements) to ${fmtShape(shape)} (${prod(shape)} elements)`);
    return [new ShapedArray(shape, x!.dtype, x!.weakType)];
  },
  lower([x], ix, { params: { shape }, inAvals: [a] }) {
    return [x!(unravel(linear(ix, shape), a!.shape))];
  },
  jvp([x], [dx], { shape }) {
    return [[reshape(x!, shape)], [reshape(dx!, shape)]];
  },
  transpose([ct], [x]) {
    return [reshape(ct!, (x as UndefPrimal).aval.shape)];
  },
  batch([x], [d], { shape }) {
    const xx = moveaxis(x!, d!, 0);
    return [[reshape(xx, [xx.shape[0]!, ...shape])], [0]];
  },
});
export const reshape = (x: Tensor, shape: readonly number[]): Tensor =>
  x.shape.length === shape.length && x.shape.every((s, i) => s === shape[i]) ? x : bind1(reshapeP, [x], { shape: [...shape] });

// ---------------- transpose ----------------
export const transposeP = primitive<{ perm: number[] }>("transpose", {
  shape([x], { perm }) {
    if (perm.length !== x!.ndim || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      fail("transpose", `axes ${JSON.stringify(perm)} are not a permutation of the ${x!.ndim} axes of ${fmtShape(x!.shape)}`);
    }
    return [new ShapedArray(perm.map((p) => x!.shape[p]!), x!.dtype, x!.weakType)];
  },
  lower([x], ix, { params: { perm } }) {
    const src: Expr[] = new Array(perm.length);
    perm.forEach((p, i) => (src[p] = ix[i]!));
    return [x!(src)];
  },
  jvp([x], [dx], { perm }) {
    return [[transpose(x!, perm)], [transpose(dx!, perm)]];
  },
  transpose([ct], _x, { perm }) {
    return [transpose(ct!, invPerm(perm))];
  },
  batch([x], [d], { perm }) {
    const xx = moveaxis(x!, d!, 0);
    return [[transpose(xx, [0, ...perm.map((p) => p + 1)])], [0]];
  },
});
export const invPerm = (perm: readonly number[]): number[] => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
};
export const transpose = (x: Tensor, perm: readonly number[]): Tensor =>
  perm.every((p, i) => p === i) ? x : bind1(transposeP, [x], { perm: [...perm] });
export function moveaxis(x: Tensor, src: number, dst: number): Tensor {
  if (src === dst) return x;
  const perm = range(x.ndim).filter((a) => a !== src);
  perm.splice(dst, 0, src);
  return transpose(x, perm);
}

// ---------------- slice (static, positive strides) ----------------
type SliceP = { start: number[]; limit: number[]; strides: number[] };
export const sliceP = primitive<SliceP>("slice", {
  shape([x], { start, limit, strides }) {
    if (start.length !== x!.ndim || limit.length !== x!.ndim || strides.length !== x!.ndim) fail("slice", `needs one start/limit/stride per axis of ${fmtShape(x!.shape)}`);
    const shape = start.map((s, i) => {
      const l = limit[i]!, st = strides[i]!;
      if (s < 0 || l > x!.shape[i]! || s > l || st < 1) fail("slice", `axis ${i}: [${s}:${l}:${st}] is out of range for size ${x!.shape[i]}`);
      return Math.max(0, Math.ceil((l - s) / st));
    });
    return [new ShapedArray(shape, x!.dtype, x!.weakType)];
  },
  lower([x], ix, { params: { start, strides } }) {
    return [x!(ix.map((e, i) => add(mul(e, c(strides[i]!)), c(start[i]!))))];
  },
  jvp([x], [dx], p) {
    return [[slice(x!, p.start, p.limit, p.strides)], [slice(dx!, p.start, p.limit, p.strides)]];
  },
  transpose([ct], [x], { start, limit, strides }) {
    const shape = (x as UndefPrimal).aval.shape;
    const outShape = ct!.shape;
    const lo = start;
    const hi = shape.map((s, i) => s - (start[i]! + (outShape[i]! === 0 ? 0 : (outShape[i]! - 1) * strides[i]! + 1)));
    void limit;
    return [pad(ct!, lo, hi, strides.map((s) => s - 1), 0)];
  },
  batch([x], [d], p) {
    const xx = moveaxis(x!, d!, 0);
    return [[slice(xx, [0, ...p.start], [xx.shape[0]!, ...p.limit], [1, ...p.strides])], [0]];
  },
});
export const slice = (x: Tensor, start: readonly number[], limit: readonly number[], strides?: readonly number[]): Tensor => {
  const st = strides ? [...strides] : start.map(() => 1);
  if (start.every((s, i) => s === 0 && limit[i] === x.shape[i] && st[i] === 1)) return x;
  return bind1(sliceP, [x], { start: [...start], limit: [...limit], strides: st });
};

// ---------------- pad (lo/hi may be negative; interior padding) ----------------
type PadP = { lo: number[]; hi: number[]; interior: number[]; value: number };
export const padP = primitive<PadP>("pad", {
  shape([x], { lo, hi, interior }) {
    if (lo.length !== x!.ndim || hi.length !== x!.ndim || interior.length !== x!.ndim) fail("pad", `needs one (lo, hi, interior) per axis of ${fmtShape(x!.shape)}`);
    const shape = x!.shape.map((s, i) => lo[i]! + hi[i]! + s + Math.max(0, s - 1) * interior[i]!);
    if (shape.some((s) => s < 0)) fail("pad", `negative padding removes more than the ${fmtShape(x!.shape)} operand holds`);
    return [new ShapedArray(shape, x!.dtype, x!.weakType)];
  },
  lower([x], ix, { params: { lo, interior, value }, inAvals: [a], outAvals: [o] }) {
    let inb: Expr = c(1, "bool");
    const src = ix.map((e, i) => {
      const step = interior[i]! + 1;
      const off = sub(e, c(lo[i]!));
      const q = step === 1 ? off : bin("div", off, c(step));
      let ok = bin("and", bin("ge", off, c(0)), bin("lt", q, c(a!.shape[i]!)));
      if (step !== 1) ok = bin("and", ok, bin("eq", bin("rem", off, c(step)), c(0)));
      if (!(lo[i] === 0 && step === 1 && a!.shape[i]! >= (o!.shape[i] ?? 0))) inb = bin("and", inb, ok);
      return q;
    });
    // clamp the index so an out-of-range read never happens even where it is masked
    const safe = src.map((q, i) => bin("max", bin("min", q, c(a!.shape[i]! - 1)), c(0)));
    return [sel(inb, x!(safe), c(value, a!.dtype))];
  },
  jvp([x], [dx], p) {
    return [[pad(x!, p.lo, p.hi, p.interior, p.value)], [pad(dx!, p.lo, p.hi, p.interior, 0)]];
  },
  transpose([ct], [x], { lo, hi, interior }) {
    const a = (x as UndefPrimal).aval;
    // undo negative padding by zero-padding the cotangent first, then take the strided slice
    const t = pad(ct!, lo.map((l) => Math.max(0, -l)), hi.map((h) => Math.max(0, -h)), lo.map(() => 0), 0);
    const start = lo.map((l) => Math.max(0, l));
    const strides = interior.map((i) => i + 1);
    const limit = a.shape.map((s, i) => start[i]! + (s === 0 ? 0 : (s - 1) * strides[i]! + 1));
    void hi;
    return [slice(t, start, limit, strides)];
  },
  batch([x], [d], p) {
    const xx = moveaxis(x!, d!, 0);
    return [[pad(xx, [0, ...p.lo], [0, ...p.hi], [0, ...p.interior], p.value)], [0]];
  },
});
export const pad = (x: Tensor, lo: readonly number[], hi: readonly number[], interior?: readonly number[], value = 0): Tensor => {
  const it = interior ? [...interior] : lo.map(() => 0);
  if (lo.every((l, i) => l === 0 && hi[i] === 0 && it[i] === 0)) return x;
  return bind1(padP, [x], { lo: [...lo], hi: [...hi], interior: it, value });
};

// ---------------- rev (flip) ----------------
export const revP = primitive<{ axes: number[] }>("rev", {
  shape([x]) {
    return [x!];
  },
  lower([x], ix, { params: { axes }, inAvals: [a] }) {
    return [x!(ix.map((e, i) => (axes.includes(i) ? sub(c(a!.shape[i]! - 1), e) : e)))];
  },
  jvp([x], [dx], { axes }) {
    return [[rev(x!, axes)], [rev(dx!, axes)]];
  },
  transpose([ct], _x, { axes }) {
    return [rev(ct!, axes)];
  },
  batch([x], [d], { axes }) {
    const xx = moveaxis(x!, d!, 0);
    return [[rev(xx, axes.map((a) => a + 1))], [0]];
  },
});
export const rev = (x: Tensor, axes: readonly number[]): Tensor => (axes.length === 0 ? x : bind1(revP, [x], { axes: [...axes] }));

// ---------------- concatenate ----------------
export const concatenateP = primitive<{ axis: number }>("concatenate", {
  shape(avals, { axis }) {
    const a0 = avals[0]!;
    let total = 0;
    avals.forEach((a, i) => {
      if (a.ndim !== a0.ndim || a.shape.some((s, k) => k !== axis && s !== a0.shape[k])) {
        fail("concatenate", `operand ${i} has shape ${fmtShape(a.shape)} but operand 0 has ${fmtShape(a0.shape)}; all axes but ${axis} must match`);
      }
      if (a.dtype !== a0.dtype) fail("concatenate", `operand ${i} has dtype ${a.dtype} but operand 0 has ${a0.dtype}`);
      total += a.shape[axis]!;
    });
    const shape = [...a0.shape];
    shape[axis] = total;
    return [new ShapedArray(shape, a0.dtype, avals.every((a) => a.weakType))];
  },
  lower(ins, ix, { params: { axis }, inAvals }) {
    // select among operands by the position along `axis`, last to first
    let off = 0;
    const starts = inAvals.map((a) => {
      const s = off;
      off += a.shape[axis]!;
      return s;
    });
    let e: Expr | null = null;
    for (let i = ins.length - 1; i >= 0; i--) {
      const n = inAvals[i]!.shape[axis]!;
      if (n === 0) continue;
      const local = sub(ix[axis]!, c(starts[i]!));
      const clamped = bin("max", bin("min", local, c(n - 1)), c(0));
      const v = ins[i]!(ix.map((x, k) => (k === axis ? clamped : x)));
      e = e === null ? v : sel(bin("lt", ix[axis]!, c(starts[i]! + n)), v, e);
    }
    return [e!];
  },
  jvp(xs, dxs, { axis }) {
    return [[concatenate(xs, axis)], [concatenate(dxs, axis)]];
  },
  transpose([ct], args, { axis }) {
    let off = 0;
    return args.map((a) => {
      const n = a.aval.shape[axis]!;
      const start = ct!.shape.map((_, k) => (k === axis ? off : 0));
      const limit = ct!.shape.map((s, k) => (k === axis ? off + n : s));
      off += n;
      return a instanceof UndefPrimal ? slice(ct!, start, limit) : null;
    });
  },
  batch(args, dims, { axis }) {
    const size = args.map((a, i) => (dims[i] !== null ? a.shape[dims[i]!]! : -1)).find((s) => s >= 0)!;
    const xs = args.map((a, i) => (dims[i] === null ? broadcastInDim(a, [size, ...a.shape], a.shape.map((_, k) => k + 1)) : moveaxis(a, dims[i]!, 0)));
    return [[concatenate(xs, axis + 1)], [0]];
  },
});
export const concatenate = (xs: readonly Tensor[], axis: number): Tensor => (xs.length === 1 ? xs[0]! : bind1(concatenateP, [...xs], { axis }));

// ---------------- iota ----------------
type IotaP = { shape: number[]; dimension: number; dtype: ShapedArray["dtype"] };
export const iotaP = primitive<IotaP>("iota", {
  shape(_a, { shape, dtype }) {
    return [new ShapedArray(shape, dtype)];
  },
  lower(_ins, ix, { params: { dimension, dtype } }) {
    return [dtype === "int32" ? ix[dimension]! : { k: "cast", x: ix[dimension]!, dt: dtype }];
  },
  jvp(_p, _t, p) {
    return [[iota(p.shape, p.dimension, p.dtype)], [null]];
  },
  batch() {
    throw new Error("iota has no operands to batch");
  },
});
export const iota = (shape: readonly number[], dimension: number, dtype: ShapedArray["dtype"] = "int32"): Tensor =>
  bind1(iotaP, [], { shape: [...shape], dimension, dtype });

export type { Dim };

// ---------------- stop_gradient ----------------
export const stopGradientP = primitive<Record<string, never>>("stop_gradient", {
  shape([x]) {
    return [x!];
  },
  lower([x], ix) {
    return [x!(ix)];
  },
  jvp([x], [dx]) {
    return [[stopGradient(x!)], [zerosOf(dx!)]];
  },
  batch([x], [d]) {
    return [[stopGradient(x!)], [d!]];
  },
});
/** The value of x with no gradient flowing through it. */
export const stopGradient = (x: Tensor): Tensor => bind1(stopGradientP, [x]);
import { fullLike } from "./constants.js";
const zerosOf = (x: Tensor) => fullLike(x, 0);
