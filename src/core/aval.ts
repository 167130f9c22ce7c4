import type { DType } from "./dtype.js";
import { prod } from "./shape.js";

/** Abstract value: what tracing knows about an array (shape, dtype, and whether it came from a JS number). */
export class ShapedArray {
  readonly shape: readonly number[];
  constructor(shape: readonly number[], readonly dtype: DType, readonly weakType = false) {
    this.shape = Object.freeze([...shape]);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return prod(this.shape);
  }
  strong(): ShapedArray {
    return this.weakType ? new ShapedArray(this.shape, this.dtype, false) : this;
  }
  equals(o: ShapedArray): boolean {
    return this.dtype === o.dtype && this.weakType === o.weakType && this.shape.length === o.shape.length && this.shape.every((d, i) => d === o.shape[i]);
  }
  toString(): string {
    return `${SHORT[this.dtype]}[${this.shape.join(",")}]`;
  }
  key(): string {
    return `${this.dtype}${this.weakType ? "~" : ""}[${this.shape.join(",")}]`;
  }
}

const SHORT: Record<DType, string> = {
  bool: "bool", int8: "i8", uint8: "u8", int32: "i32", uint32: "u32", float16: "f16", bfloat16: "bf16", float32: "f32", float64: "f64",
};
