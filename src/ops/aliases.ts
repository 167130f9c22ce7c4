/** PyTorch names that point at the existing ops (one source of truth per op; nothing reimplemented). */
import type { DType } from "../core/dtype.js";
import { Tensor } from "../tensor.js";
import type { TensorLike } from "./convert.js";
import * as ops from "./index.js";

/** PyTorch's `gt`: elementwise x > y. */
export const gt = (x: TensorLike, y: TensorLike): Tensor => ops.greater(x, y);
/** PyTorch's `lt`: elementwise x < y. */
export const lt = (x: TensorLike, y: TensorLike): Tensor => ops.less(x, y);
/** PyTorch's `ge`: elementwise x >= y. */
export const ge = (x: TensorLike, y: TensorLike): Tensor => ops.greaterEqual(x, y);
/** PyTorch's `le`: elementwise x <= y. */
export const le = (x: TensorLike, y: TensorLike): Tensor => ops.lessEqual(x, y);
/** PyTorch's `eq`: elementwise x == y. */
export const eq = (x: TensorLike, y: TensorLike): Tensor => ops.equal(x, y);
/** PyTorch's `ne`: elementwise x != y. */
export const ne = (x: TensorLike, y: TensorLike): Tensor => ops.notEqual(x, y);
/**
 * PyTorch's `clamp` (NumPy's `clip`); either bound may be omitted or a tensor.
 * @example tr.clamp(x, { min: 0 })
 */
export const clamp = (x: TensorLike, bounds: { min?: TensorLike | null; max?: TensorLike | null } = {}): Tensor =>
  ops.clip(x, bounds.min ?? null, bounds.max ?? null);
/** PyTorch's `mm`/`bmm`/`mv`: matrix products, all through `matmul`. */
export const mm = (a: TensorLike, b: TensorLike): Tensor => ops.matmul(a, b);
/** Batched matrix product (PyTorch's `bmm`). */
export const bmm = (a: TensorLike, b: TensorLike): Tensor => ops.matmul(a, b);
/** Matrix-vector product (PyTorch's `mv`). */
export const mv = (a: TensorLike, b: TensorLike): Tensor => ops.matmul(a, b);

declare module "../tensor.js" {
  interface Tensor {
    gt(y: TensorLike): Tensor; lt(y: TensorLike): Tensor; ge(y: TensorLike): Tensor;
    le(y: TensorLike): Tensor; eq(y: TensorLike): Tensor; ne(y: TensorLike): Tensor;
    /** PyTorch's clamp: `x.clamp({ min: 0, max: 1 })`. */
    clamp(bounds: { min?: TensorLike | null; max?: TensorLike | null }): Tensor;
    mm(b: TensorLike): Tensor; bmm(b: TensorLike): Tensor; mv(b: TensorLike): Tensor;
    /** Number of elements (PyTorch's numel). */
    numel(): number;
    /** Number of axes (PyTorch's dim()). */
    dim(): number;
    /** PyTorch's view: reshape, with -1 for one inferred axis. */
    view(...shape: number[]): Tensor;
    /** Cast (PyTorch's `to(dtype)`). */
    to(dtype: DType): Tensor;
    float(): Tensor; double(): Tensor; bool(): Tensor; half(): Tensor;
    /** Cast to int32 (JS has no int64 tensors here; PyTorch's `long()` is int64). */
    int(): Tensor; long(): Tensor;
  }
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
const binary = { gt, lt, ge, le, eq, ne, mm, bmm, mv } as const;
for (const [n, f] of Object.entries(binary)) {
  proto[n] = function (this: Tensor, y: TensorLike) {
    return f(this, y);
  };
}
proto["clamp"] = function (this: Tensor, b: { min?: TensorLike | null; max?: TensorLike | null }) {
  return clamp(this, b);
};
proto["numel"] = function (this: Tensor) {
  return this.size;
};
proto["dim"] = function (this: Tensor) {
  return this.ndim;
};
proto["view"] = function (this: Tensor, ...shape: (number | number[])[]) {
  return ops.reshape(this, shape.flat());
};
proto["to"] = function (this: Tensor, dtype: DType) {
  return ops.astype(this, dtype);
};
const casts: Record<string, DType> = { float: "float32", double: "float64", bool: "bool", half: "float16", int: "int32", long: "int32" };
for (const [n, dt] of Object.entries(casts)) {
  proto[n] = function (this: Tensor) {
    return ops.astype(this, dt);
  };
}
