import { EagerTensor, Tensor } from "../tensor.js";
import { TridentError } from "../core/errors.js";
import * as ops from "./index.js";
import "./stats-methods.js";
import { backward } from "../tape.js";
import type { DType } from "../core/dtype.js";
import "../linalg/methods.js";
import "./iterate.js";
import "./aliases.js";
import "./inplace.js";
import "./index-expr.js";

type TL = ops.TensorLike;
type RO = ops.ReduceOpts;

declare module "../tensor.js" {
  interface Tensor {
    add(y: TL): Tensor; sub(y: TL): Tensor; mul(y: TL): Tensor; div(y: TL): Tensor; pow(y: TL): Tensor;
    maximum(y: TL): Tensor; minimum(y: TL): Tensor; remainder(y: TL): Tensor; floorDivide(y: TL): Tensor; atan2(y: TL): Tensor;
    equal(y: TL): Tensor; notEqual(y: TL): Tensor; less(y: TL): Tensor; lessEqual(y: TL): Tensor;
    greater(y: TL): Tensor; greaterEqual(y: TL): Tensor; logicalAnd(y: TL): Tensor; logicalOr(y: TL): Tensor;
    neg(): Tensor; abs(): Tensor; exp(): Tensor; log(): Tensor; log1p(): Tensor; expm1(): Tensor; sqrt(): Tensor;
    rsqrt(): Tensor; sin(): Tensor; cos(): Tensor; tan(): Tensor; tanh(): Tensor; asin(): Tensor; acos(): Tensor;
    atan(): Tensor; sinh(): Tensor; cosh(): Tensor; erf(): Tensor; sigmoid(): Tensor; reciprocal(): Tensor;
    sign(): Tensor; floor(): Tensor; ceil(): Tensor; round(): Tensor; square(): Tensor; logicalNot(): Tensor;
    isnan(): Tensor; isfinite(): Tensor;
    clip(min: TL | null, max: TL | null): Tensor;
    sum(opts?: RO): Tensor; mean(opts?: RO): Tensor; prod(opts?: RO): Tensor; max(opts?: RO): Tensor; min(opts?: RO): Tensor;
    any(opts?: RO): Tensor; all(opts?: RO): Tensor; logsumexp(opts?: RO): Tensor;
    var(opts?: RO & { ddof?: number }): Tensor; std(opts?: RO & { ddof?: number }): Tensor;
    argmax(opts?: { axis?: number | null; keepdims?: boolean }): Tensor; argmin(opts?: { axis?: number | null; keepdims?: boolean }): Tensor;
    cumsum(opts?: { axis?: number | null; reverse?: boolean }): Tensor;
    reshape(shape: readonly number[]): Tensor; transpose(axes?: readonly number[]): Tensor; permute(axes: readonly number[]): Tensor;
    expandDims(axis: number | number[]): Tensor; unsqueeze(axis: number | number[]): Tensor; squeeze(axis?: number | number[] | null): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor; broadcastTo(shape: readonly number[]): Tensor;
    slice(specs: readonly ops.SliceSpec[]): Tensor; flip(axis?: number | number[] | null): Tensor;
    moveaxis(src: number, dst: number): Tensor; swapaxes(a: number, b: number): Tensor;
    astype(dtype: DType): Tensor;
    /** Matrix transpose of the last two axes. */
    readonly T: Tensor;
    /** Compute gradients of this (scalar) tensor into `.grad` of the leaves that require grad. */
    backward(gradient?: Tensor, opts?: { retainGraph?: boolean }): void;
    /** The same data with no autograd history. */
    detach(): Tensor;
    /** Set requiresGrad in place (PyTorch's requires_grad_). */
    requiresGrad_(flag?: boolean): Tensor;
  }
}

const binaryNames = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "floorDivide", "atan2", "equal", "notEqual", "less", "lessEqual", "greater", "greaterEqual", "logicalAnd", "logicalOr"] as const;
const unaryNames = ["neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "sinh", "cosh", "erf", "sigmoid", "reciprocal", "sign", "floor", "ceil", "round", "square", "logicalNot", "isnan", "isfinite"] as const;
const withOpts = ["sum", "mean", "prod", "max", "min", "any", "all", "logsumexp", "argmax", "argmin", "cumsum", "reshape", "transpose", "permute", "expandDims", "unsqueeze", "squeeze", "broadcastTo", "slice", "flip", "astype", "flatten", "moveaxis", "swapaxes", "clip"] as const;

const proto = Tensor.prototype as unknown as Record<string, unknown>;
const table = ops as unknown as Record<string, (...a: unknown[]) => Tensor>;
for (const n of [...binaryNames, ...unaryNames, ...withOpts]) {
  const f = table[n]!;
  proto[n] = function (this: Tensor, ...a: unknown[]) {
    return f(this, ...a);
  };
}
proto["var"] = function (this: Tensor, o?: RO & { ddof?: number }) {
  return ops.variance(this, o);
};
proto["std"] = function (this: Tensor, o?: RO & { ddof?: number }) {
  return ops.std(this, o);
};
Object.defineProperty(Tensor.prototype, "T", {
  get(this: Tensor) {
    if (this.ndim < 2) return this;
    return ops.swapaxes(this, -1, -2);
  },
});
proto["backward"] = function (this: Tensor, gradient?: Tensor, opts?: { retainGraph?: boolean }) {
  backward(this, gradient, opts);
};
proto["detach"] = function (this: Tensor) {
  if (!(this instanceof EagerTensor)) return ops.stopGradient(this);
  return new EagerTensor(this.aval, this.ref.retain());
};
proto["requiresGrad_"] = function (this: Tensor, flag = true) {
  if (!(this instanceof EagerTensor)) throw new TridentError("requiresGrad_: only concrete tensors can require grad");
  this.requiresGrad = flag;
  return this;
};
