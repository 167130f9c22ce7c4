import { ShapedArray } from "../aval.js";
import { fail, fmtShape } from "../errors.js";
import type { Dim } from "../primitive.js";
import type { Tensor } from "../../tensor.js";
import { shapeEq } from "../shape.js";
import { broadcastInDim, moveaxis } from "./structural.js";

/** Shape rule of an n-ary elementwise primitive: equal shapes and dtypes; weak only if all are weak. */
export function elementwiseShape(name: string, avals: readonly ShapedArray[], outDtype?: ShapedArray["dtype"]): ShapedArray {
  const a0 = avals[0]!;
  for (let i = 1; i < avals.length; i++) {
    const a = avals[i]!;
    if (!shapeEq(a.shape, a0.shape)) fail(name, `operand ${i} has shape ${fmtShape(a.shape)} but operand 0 has ${fmtShape(a0.shape)}`);
    if (a.dtype !== a0.dtype) fail(name, `operand ${i} has dtype ${a.dtype} but operand 0 has ${a0.dtype}`);
  }
  const weak = avals.every((a) => a.weakType);
  return new ShapedArray(a0.shape, outDtype ?? a0.dtype, outDtype && outDtype === "bool" ? false : weak);
}

/** Move every batched operand's batch axis to 0 and materialise it on unbatched ones. */
export function batchToFront(args: Tensor[], dims: Dim[]): Tensor[] {
  let size = -1;
  args.forEach((a, i) => {
    const d = dims[i];
    if (d !== null && d !== undefined) size = a.shape[d]!;
  });
  return args.map((a, i) => {
    const d = dims[i];
    if (d === null || d === undefined) {
      return broadcastInDim(a, [size, ...a.shape], a.shape.map((_, k) => k + 1));
    }
    return moveaxis(a, d, 0);
  });
}

export function axisSize(args: Tensor[], dims: Dim[]): number {
  for (let i = 0; i < args.length; i++) if (dims[i] !== null && dims[i] !== undefined) return args[i]!.shape[dims[i]!]!;
  throw new Error("batch rule called with no batched operand");
}

export const range = (n: number): number[] => [...Array(n).keys()];
