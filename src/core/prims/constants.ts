import { ShapedArray } from "../aval.js";
import type { DType } from "../dtype.js";
import { c } from "../../ir/expr.js";
import { primitive, type Primitive } from "../primitive.js";
import { bind1 } from "../trace.js";
import type { Tensor } from "../../tensor.js";

/**
 * A filled array as a primitive (no operands): it costs no memory traffic once fused, and it is how
 * rules make zeros and ones without leaving the current trace.
 */
type FullP = { shape: number[]; dtype: DType; value: number; weak: boolean };
export const fullP: Primitive<FullP> = primitive<FullP>("full", {
  shape(_a, { shape, dtype, weak }) {
    return [new ShapedArray(shape, dtype, weak)];
  },
  lower(_ins, _ix, { params: { value, dtype } }) {
    return [c(value, dtype)];
  },
  jvp(_p, _t, p) {
    return [[bind1(fullP, [], p)], [null]];
  },
  batch() {
    throw new Error("full has no operands to batch");
  },
});

export const full = (shape: readonly number[], value: number, dtype: DType = "float32", weak = false): Tensor =>
  bind1(fullP, [], { shape: [...shape], dtype, value, weak });

export const fullLike = (x: Tensor, value: number, dtype?: DType): Tensor =>
  full(x.shape, value, dtype ?? x.dtype, dtype ? false : x.aval.weakType);
