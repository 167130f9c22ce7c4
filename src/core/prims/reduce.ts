import { ShapedArray } from "../aval.js";
import { isFloat } from "../dtype.js";
import { fail, fmtShape } from "../errors.js";
import { bin, c, idx, sel, type Expr, type ReduceOp } from "../../ir/expr.js";
import { primitive, type Primitive } from "../primitive.js";
import { bind1 } from "../trace.js";
import type { Tensor } from "../../tensor.js";
import { broadcastInDim, moveaxis } from "./structural.js";
import { convert, div, eq, mul } from "./elementwise.js";
import { range } from "./util.js";

type AxesP = { axes: number[] };

function reducedShape(name: string, x: ShapedArray, axes: readonly number[]): number[] {
  for (const a of axes) if (a < 0 || a >= x.ndim) fail(name, `axis ${a} is out of range for shape ${fmtShape(x.shape)}`);
  return x.shape.filter((_, i) => !axes.includes(i));
}

/** Lowering of a reduction over `axes`: output index fills the kept axes, fresh variables the reduced ones. */
function lowerReduce(op: ReduceOp, x: (ix: readonly Expr[]) => Expr, ix: readonly Expr[], a: ShapedArray, axes: readonly number[], vars: { fresh(n: number): number[] }, dt: ShapedArray["dtype"]): Expr {
  const ids = vars.fresh(axes.length);
  let k = 0, r = 0;
  const src = a.shape.map((_, i) => (axes.includes(i) ? idx(ids[r++]!) : ix[k++]!));
  return { k: "reduce", op, vars: ids, ext: axes.map((ax) => a.shape[ax]!), body: x(src), dt };
}

/** The kept axes of x after reducing `axes`, as broadcast dims back into x's shape. */
export const keptDims = (ndim: number, axes: readonly number[]) => range(ndim).filter((d) => !axes.includes(d));

function batchAxes(axes: readonly number[]): number[] {
  // operand axes after the batch axis moved to the front
  return axes.map((a) => a + 1);
}

function reducePrim(name: string, op: ReduceOp, jvp: (x: Tensor, out: Tensor, dx: Tensor, axes: number[]) => Tensor, transposable: boolean): Primitive<AxesP> {
  const p: Primitive<AxesP> = primitive<AxesP>(name, {
    shape([x], { axes }) {
      const dt = op === "sum" && x!.dtype === "bool" ? "int32" : x!.dtype;
      return [new ShapedArray(reducedShape(name, x!, axes), dt, x!.weakType)];
    },
    lower([x], ix, { params: { axes }, inAvals: [a], outAvals: [o], vars }) {
      const body = (j: readonly Expr[]) => {
        const v = x!(j);
        return v.dt === o!.dtype ? v : ({ k: "cast", x: v, dt: o!.dtype } as Expr);
      };
      return [lowerReduce(op, body, ix, a!, axes, vars, o!.dtype)];
    },
    jvp([x], [dx], { axes }) {
      const out = bind1(p, [x!], { axes });
      return [[out], [isFloat(out.dtype) ? jvp(x!, out, dx!, axes) : null]];
    },
    ...(transposable
      ? {
          transpose([ct]: (Tensor | null)[], [x]: unknown[], { axes }: AxesP) {
            const a = (x as { aval: ShapedArray }).aval;
            return [broadcastInDim(ct!, a.shape, keptDims(a.ndim, axes))];
          },
        }
      : {}),
    batch([x], [d], { axes }) {
      const xx = moveaxis(x!, d!, 0);
      return [[bind1(p, [xx], { axes: batchAxes(axes) })], [0]];
    },
  });
  return p;
}

/** Gradient of max/min: split the tangent evenly among the positions that attain the extreme. */
function locationJvp(x: Tensor, out: Tensor, dx: Tensor, axes: number[]): Tensor {
  const b = broadcastInDim(out, x.shape, keptDims(x.ndim, axes));
  const mask = convert(eq(x, b), x.dtype);
  return div(reduceSum(mul(dx, mask), axes), reduceSum(mask, axes));
}

export const reduceSumP = reducePrim("reduce_sum", "sum", (_x, _o, dx, axes) => reduceSum(dx, axes), true);
export const reduceMaxP = reducePrim("reduce_max", "max", locationJvp, false);
export const reduceMinP = reducePrim("reduce_min", "min", locationJvp, false);
export const reduceProdP = reducePrim(
  "reduce_prod",
  "prod",
  (x, out, dx, axes) => mul(out, reduceSum(div(dx, x), axes)),
  false,
);

const r = (p: Primitive<AxesP>) => (x: Tensor, axes: readonly number[]): Tensor => (axes.length === 0 && p !== reduceSumP ? x : bind1(p, [x], { axes: [...axes] }));
export const reduceSum = r(reduceSumP), reduceMax = r(reduceMaxP), reduceMin = r(reduceMinP), reduceProd = r(reduceProdP);

// ---------------- argmax / argmin ----------------
type ArgP = { axis: number };
function argPrim(name: string, op: "argmax" | "argmin"): Primitive<ArgP> {
  const p: Primitive<ArgP> = primitive<ArgP>(name, {
    shape([x], { axis }) {
      return [new ShapedArray(reducedShape(name, x!, [axis]), "int32")];
    },
    lower([x], ix, { params: { axis }, inAvals: [a], vars }) {
      return [lowerReduce(op, x!, ix, a!, [axis], vars, "int32")];
    },
    jvp([x], _t, params) {
      return [[bind1(p, [x!], params)], [null]];
    },
    batch([x], [d], { axis }) {
      return [[bind1(p, [moveaxis(x!, d!, 0)], { axis: axis + 1 })], [0]];
    },
  });
  return p;
}
export const argmaxP = argPrim("argmax", "argmax");
export const argminP = argPrim("argmin", "argmin");
export const argmax = (x: Tensor, axis: number) => bind1(argmaxP, [x], { axis });
export const argmin = (x: Tensor, axis: number) => bind1(argminP, [x], { axis });

// ---------------- cumsum ----------------
type CumP = { axis: number; reverse: boolean };
export const cumsumP: Primitive<CumP> = primitive<CumP>("cumsum", {
  shape([x], { axis }) {
    if (axis < 0 || axis >= x!.ndim) fail("cumsum", `axis ${axis} is out of range for shape ${fmtShape(x!.shape)}`);
    return [x!];
  },
  lower([x], ix, { params: { axis, reverse }, inAvals: [a], vars }) {
    const [v] = vars.fresh(1);
    const j = idx(v!);
    const inRange = reverse ? bin("ge", j, ix[axis]!) : bin("le", j, ix[axis]!);
    const body = sel(inRange, x!(ix.map((e, i) => (i === axis ? j : e))), c(0, a!.dtype));
    return [{ k: "reduce", op: "sum", vars: [v!], ext: [a!.shape[axis]!], body, dt: a!.dtype }];
  },
  jvp([x], [dx], p) {
    return [[cumsum(x!, p.axis, p.reverse)], [cumsum(dx!, p.axis, p.reverse)]];
  },
  transpose([ct], _x, { axis, reverse }) {
    return [cumsum(ct!, axis, !reverse)];
  },
  batch([x], [d], { axis, reverse }) {
    return [[cumsum(moveaxis(x!, d!, 0), axis + 1, reverse)], [0]];
  },
});
export const cumsum = (x: Tensor, axis: number, reverse = false) => bind1(cumsumP, [x], { axis, reverse });

