// PyTorch's in-place methods (`add_`, `mul_`, `zero_`, `clamp_`, …). Each computes the out-of-place op and
// writes it into the tensor with `assign`, which bumps the version counter, so a backward that saved the old
// value refuses to run (as PyTorch's does). The tape links nodes to tensor objects, not to versions, so a
// tensor inside a recorded graph cannot be rebased onto a new node; those writes are refused with the
// functional spelling to use instead, rather than giving wrong gradients.
import { isFloat, isInt, type DType } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { broadcastShapes } from "../core/shape.js";
import { scope } from "../memory.js";
import { isGradEnabled, noGrad } from "../tape.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import * as ops from "./index.js";
import { maskedFill } from "./aliases.js";
import * as random from "../random/index.js";
import { nextKey } from "../random/global.js";

/** Write `compute()` into t in place, after the checks PyTorch makes (and one it does not need). */
function inplace(op: string, t: Tensor, operands: readonly unknown[], compute: () => Tensor): Tensor {
  if (!(t instanceof EagerTensor)) {
    fail(op, `writes in place and needs a concrete tensor, not a traced value ${t.aval}; inside jit/grad/vmap use the functional form (x.${op.slice(0, -1)}(…) or x.at(…).set(…))`);
  }
  if (isGradEnabled()) {
    if (t.requiresGrad && t._node === null) {
      fail(op, `a leaf tensor that requires grad cannot be modified in place; wrap the update in tr.noGrad(() => …) as optimizers do, or use the out-of-place x.${op.slice(0, -1)}(…)`);
    }
    if (t._node !== null || operands.some((o) => o instanceof EagerTensor && o.tracked)) {
      fail(op, `the tensor ${t.aval} is part of an autograd graph (or the value written depends on one); use the out-of-place x.${op.slice(0, -1)}(…), or tr.noGrad(() => …) if no gradient should flow`);
    }
  }
  scope(() =>
    noGrad(() => {
      let r = compute();
      if (r.shape.join() !== t.shape.join()) {
        const b = broadcastShapes(op, r.shape, t.shape);
        if (b.join() !== t.shape.join()) fail(op, `the result has shape ${fmtShape(b)} but the tensor written in place has ${fmtShape(t.shape)}`);
        r = ops.broadcastTo(r, t.shape);
      }
      if (r.dtype !== t.dtype) {
        if (!castable(r.dtype, t.dtype)) fail(op, `the result type ${r.dtype} cannot be cast to the tensor's dtype ${t.dtype} in place`);
        r = ops.astype(r, t.dtype);
      }
      t.assign(r);
    }),
  );
  return t;
}

// PyTorch's can_cast for in-place results: no float into an integer, no number into bool
function castable(from: DType, to: DType): boolean {
  if (isFloat(from)) return isFloat(to);
  if (isInt(from)) return to !== "bool";
  return true;
}

type Bounds = { min?: TensorLike | null; max?: TensorLike | null };
/** Options of `uniform_` / `normal_`: an explicit PRNG key instead of the global generator. */
export interface FillRandomOpts {
  key?: random.Key;
}

declare module "../tensor.js" {
  interface Tensor {
    /** In place `x += alpha·y` (PyTorch's add_). @example w.add_(g, { alpha: -0.1 }) */
    add_(y: TensorLike, opts?: { alpha?: number }): this;
    /** In place `x -= alpha·y` (PyTorch's sub_). */
    sub_(y: TensorLike, opts?: { alpha?: number }): this;
    /** In place `x *= y`. */
    mul_(y: TensorLike): this;
    /** In place `x /= y` (true division). */
    div_(y: TensorLike): this;
    /** In place `x **= y`. */
    pow_(y: TensorLike): this;
    neg_(): this; abs_(): this; exp_(): this; log_(): this; sqrt_(): this; sin_(): this; cos_(): this;
    tanh_(): this; sigmoid_(): this; relu_(): this; floor_(): this; ceil_(): this; round_(): this; square_(): this;
    /** In place clamp: `x.clamp_({ min: 0 })`. */
    clamp_(bounds: Bounds): this;
    /** Fill with zeros in place (PyTorch's zero_). */
    zero_(): this;
    /** Fill with one value in place. */
    fill_(value: TensorLike): this;
    /** Copy src's values in (broadcast, cast to this dtype), as PyTorch's copy_. */
    copy_(src: TensorLike): this;
    /** In place masked_fill. */
    maskedFill_(mask: TensorLike, value: TensorLike): this;
    /** Fill with U(a, b) in place (global generator unless a key is given). */
    uniform_(a?: number, b?: number, opts?: FillRandomOpts): this;
    /** Fill with N(mean, std²) in place. */
    normal_(mean?: number, std?: number, opts?: FillRandomOpts): this;
  }
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
const scaled = (y: TensorLike, alpha: number | undefined) => (alpha === undefined || alpha === 1 ? y : ops.mul(y, alpha));
proto["add_"] = function (this: Tensor, y: TensorLike, o: { alpha?: number } = {}) {
  return inplace("add_", this, [y], () => ops.add(this, scaled(y, o.alpha)));
};
proto["sub_"] = function (this: Tensor, y: TensorLike, o: { alpha?: number } = {}) {
  return inplace("sub_", this, [y], () => ops.sub(this, scaled(y, o.alpha)));
};
const binary = { mul_: ops.mul, div_: ops.div, pow_: ops.pow } as const;
for (const [n, f] of Object.entries(binary)) {
  proto[n] = function (this: Tensor, y: TensorLike) {
    return inplace(n, this, [y], () => f(this, y));
  };
}
const unary = {
  neg_: ops.neg, abs_: ops.abs, exp_: ops.exp, log_: ops.log, sqrt_: ops.sqrt, sin_: ops.sin, cos_: ops.cos, tanh_: ops.tanh,
  sigmoid_: ops.sigmoid, relu_: ops.relu, floor_: ops.floor, ceil_: ops.ceil, round_: ops.round, square_: ops.square,
} as const;
for (const [n, f] of Object.entries(unary)) {
  proto[n] = function (this: Tensor) {
    return inplace(n, this, [], () => f(this));
  };
}
proto["clamp_"] = function (this: Tensor, b: Bounds = {}) {
  return inplace("clamp_", this, [b.min, b.max], () => ops.clip(this, b.min ?? null, b.max ?? null));
};
proto["zero_"] = function (this: Tensor) {
  return inplace("zero_", this, [], () => ops.zeros(this.shape, this.dtype));
};
proto["fill_"] = function (this: Tensor, v: TensorLike) {
  const value = toTensor(v);
  if (value.ndim !== 0) fail("fill_", `value must be a number or a 0-d tensor, got shape ${fmtShape(value.shape)}`);
  return inplace("fill_", this, [value], () => ops.broadcastTo(ops.astype(value, this.dtype), this.shape));
};
proto["copy_"] = function (this: Tensor, src: TensorLike) {
  // copy_ casts whatever comes in, as PyTorch does (float into int truncates)
  const s = toTensor(src);
  return inplace("copy_", this, [s], () => ops.astype(s, this.dtype));
};
proto["maskedFill_"] = function (this: Tensor, mask: TensorLike, v: TensorLike) {
  return inplace("maskedFill_", this, [v], () => maskedFill(this, mask, v));
};
proto["uniform_"] = function (this: Tensor, a = 0, b = 1, o: FillRandomOpts = {}) {
  if (!isFloat(this.dtype)) fail("uniform_", `needs a floating-point tensor, got ${this.dtype}`);
  if (!(b >= a)) fail("uniform_", `needs a <= b, got a = ${a}, b = ${b}`);
  return inplace("uniform_", this, [], () => random.uniform(o.key ?? nextKey(), this.shape, { dtype: this.dtype, minval: a, maxval: b }));
};
proto["normal_"] = function (this: Tensor, mean = 0, std = 1, o: FillRandomOpts = {}) {
  if (!isFloat(this.dtype)) fail("normal_", `needs a floating-point tensor, got ${this.dtype}`);
  if (!(std >= 0)) fail("normal_", `std must be non-negative, got ${std}`);
  return inplace("normal_", this, [], () => ops.add(ops.mul(random.normal(o.key ?? nextKey(), this.shape, { dtype: this.dtype }), std), mean));
};
