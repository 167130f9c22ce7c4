import { ShapedArray } from "../aval.js";
import { isFloat } from "../dtype.js";
import { fail, fmtShape } from "../errors.js";
import { primitive, type Primitive } from "../primitive.js";
import { bind } from "../trace.js";
import type { Tensor } from "../../tensor.js";
import { moveaxis } from "./structural.js";
import { gather } from "./indexing.js";

type SortP = { axis: number; descending: boolean };

/**
 * Stable sort along one axis with two outputs: the sorted values and the int32 positions they came
 * from. Sorting is not an expression of the kernel IR, so each backend implements it as a routine.
 * NaN sorts as the largest value: last ascending, first descending.
 */
export const sortP: Primitive<SortP> = primitive<SortP>("sort", {
  shape([x], { axis }) {
    if (!Number.isInteger(axis) || axis < 0 || axis >= x!.ndim) fail("sort", `axis ${axis} is out of range for operand shape ${fmtShape(x!.shape)}`);
    return [x!, new ShapedArray(x!.shape, "int32")];
  },
  routine({ axis, descending }, [a]) {
    return { routine: "sort", params: { shape: [...a!.shape], axis, descending } };
  },
  jvp([x], [dx], { axis, descending }) {
    const [v, i] = sortWithIndices(x!, axis, descending);
    // the sort is a permutation, so the tangent follows the values through the same permutation
    return [[v, i], [isFloat(x!.dtype) ? gather(dx!, i, axis) : null, null]];
  },
  batch([x], [d], { axis, descending }) {
    const outs = bind(sortP, [moveaxis(x!, d!, 0)], { axis: axis + 1, descending });
    return [outs, [0, 0]];
  },
}, (p) => `axis=${p.axis} descending=${p.descending}`);

/** Sorted values and their source indices along `axis` (stable). */
export function sortWithIndices(x: Tensor, axis: number, descending = false): [Tensor, Tensor] {
  const [v, i] = bind(sortP, [x], { axis, descending });
  return [v!, i!];
}
