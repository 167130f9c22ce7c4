/** Small helpers shared by the operator implementations. */
import { ShapedArray } from "../../core/aval.js";
import { storageArray, type DType } from "../../core/dtype.js";
import { fail, fmtShape } from "../../core/errors.js";
import { constant, fromStorage } from "../../core/execute.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import * as S from "../../core/prims/structural.js";
import { EagerTensor, Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { DataType } from "../proto.js";
import { TVal, dtypeOf } from "../values.js";
import type { OpCtx } from "./registry.js";

export { DataType };

/** v filled to t's shape and dtype (weakly typed), to combine with t in an elementwise primitive. */
export const lit = (t: Tensor, v: number): Tensor => full(t.shape, v, t.dtype, true);

/** A scalar or array of t's shape filled with v, strongly typed as t. */
export const fillLike = (t: Tensor, v: number): Tensor => full(t.shape, v, t.dtype);

/** Normalise an axis against a rank, naming the op. */
export function axisOf(ctx: OpCtx, axis: number, rank: number, what = "axis"): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) fail(ctx.op, `${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** NumPy broadcasting of shapes, naming the op on failure. */
export function broadcastShape(ctx: OpCtx, ...shapes: (readonly number[])[]): number[] {
  const n = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(n).fill(1);
  for (const s of shapes) {
    s.forEach((d, i) => {
      const j = n - s.length + i;
      if (d === out[j] || d === 1) return;
      if (out[j] === 1) out[j] = d;
      else fail(ctx.op, `shapes ${shapes.map(fmtShape).join(", ")} cannot be broadcast together (axis ${j}: ${out[j]} vs ${d})`);
    });
  }
  return out;
}

/** Broadcast a tensor to a shape (NumPy rules). */
export function bcastTo(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  const lead = shape.length - t.ndim;
  const squeezed = t.shape.map((d, i) => (d === 1 && shape[lead + i] !== 1 ? -1 : i)).filter((i) => i >= 0);
  const base = squeezed.length === t.ndim ? t : S.reshape(t, squeezed.map((i) => t.shape[i]!));
  return S.broadcastInDim(base, shape, squeezed.map((i) => lead + i));
}

/** Broadcast tensors against each other. */
export function bcast(ctx: OpCtx, ...ts: Tensor[]): Tensor[] {
  const shape = broadcastShape(ctx, ...ts.map((t) => t.shape));
  return ts.map((t) => bcastTo(t, shape));
}

/** A concrete int64 value from host numbers (shapes, indices). */
export function int64Val(values: readonly number[], shape: readonly number[] = [values.length]): TVal {
  return new TVal(DataType.INT64, shape, undefined, Float64Array.from(values));
}

/** A concrete tensor value of an ONNX type from JS numbers. */
export function hostVal(elem: number, shape: readonly number[], values: ArrayLike<number>): TVal {
  return new TVal(elem, shape, undefined, values instanceof Float64Array ? values : Float64Array.from(values));
}

/** A concrete tensor of a Trident dtype from JS numbers. */
export function hostTensor(dt: DType, shape: readonly number[], values: ArrayLike<number>): Tensor {
  return constant(values, shape, dt);
}

/** Row-major strides. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
export const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
export const range = (n: number): number[] => [...Array(n).keys()];

/** Concrete values of a tensor input for ops that only exist on the host (NonZero, Unique, ...). */
export function hostValues(ctx: OpCtx, v: TVal, what: string): number[] {
  if (!v.concrete) fail(ctx.op, `${what} is traced, but this operator computes a data-dependent shape and needs concrete values; run the model eagerly (model.run)`);
  return v.values(ctx.op, what);
}

/** Build a tensor of an ONNX type from host numbers (values are coerced by the dtype). */
export function fromHost(elem: number, shape: readonly number[], values: ArrayLike<number>): TVal {
  return hostVal(elem, shape, values);
}

/** Materialise a typed storage array as a tensor. */
export function storageTensor(dt: DType, shape: readonly number[], fill: (st: ReturnType<typeof storageArray>) => void): Tensor {
  const st = storageArray(dt, prod(shape));
  fill(st);
  return fromStorage(new ShapedArray(shape, dt), st);
}

/** Whether a tensor is concrete. */
export const isEager = (t: Tensor): t is EagerTensor => t instanceof EagerTensor;

/** Convert to a Trident dtype (no-op when equal). */
export const cvt = (t: Tensor, dt: DType): Tensor => E.convert(t, dt);

/** The dtype an ONNX type is held in. */
export const held = (elem: number): DType => dtypeOf(elem);

/** Reject float8/int4/... targets with a clear message. */
export function checkElem(ctx: OpCtx, elem: number, what: string): void {
  try {
    dtypeOf(elem, what);
  } catch (e) {
    if (e instanceof Error) unsupported(ctx.op, e.message.replace(/^onnx: /, ""));
    throw e;
  }
}

/**
 * Host-side selection: for each axis, the list of source indices to keep (in order). Used to keep exact
 * host values (int64 shapes, sentinels) exact through Slice/Gather/Concat on constants.
 */
export function hostSelect(data: ArrayLike<number>, shape: readonly number[], picks: readonly (readonly number[])[]): Float64Array {
  const outShape = picks.map((p) => p.length);
  const n = prod(outShape);
  const res = new Float64Array(n);
  const st = strides(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += picks[d]![idx[d]!]! * st[d]!;
    res[k] = data[src]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return res;
}

/** hostSelect for exact 64-bit integers. */
function selectExact<T extends BigInt64Array | BigUint64Array>(data: T, shape: readonly number[], picks: readonly (readonly number[])[]): T {
  const idx = hostSelect(Float64Array.from({ length: data.length }, (_, i) => i), shape, picks);
  const out = new (data.constructor as { new (n: number): T })(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = data[idx[i]!]!;
  return out;
}

/** Select on a host-only value, keeping its exact 64-bit copy. */
export function selectHostVal(x: TVal, picks: readonly (readonly number[])[], shape: readonly number[] = picks.map((p) => p.length)): TVal {
  return new TVal(x.elem, shape, undefined, hostSelect(x.host!, x.shape, picks), "", x.exact ? selectExact(x.exact, x.shape, picks) : undefined);
}

/** Whether a value is host-only (exact numbers, no tensor yet): shape arithmetic can stay on the host. */
export const hostOnly = (v: TVal): boolean => v.host !== undefined && !v.materialised;

/** Largest tensor an op may create from sizes read out of the model (a hostile file cannot exhaust memory). */
export const MAX_ELEMENTS = 2 ** 30;

/** Refuse output shapes that are negative, non-integer, or absurdly large. */
export function guardShape(ctx: OpCtx, shape: readonly number[], what = "output"): number[] {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail(ctx.op, `${what} shape [${shape.join(",")}] has an invalid size ${d}`);
    n *= d;
  }
  if (n > MAX_ELEMENTS) fail(ctx.op, `${what} shape [${shape.join(",")}] has ${n} elements, more than the ${MAX_ELEMENTS} an imported model may create`);
  return [...shape];
}
