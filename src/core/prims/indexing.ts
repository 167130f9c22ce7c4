import { ShapedArray } from "../aval.js";
import { isFloat, isInt } from "../dtype.js";
import { fail, fmtShape } from "../errors.js";
import { bin, c, cast, idx as ivar, sel, type Expr } from "../../ir/expr.js";
import { primitive, UndefPrimal, type Primitive } from "../primitive.js";
import { bind1 } from "../trace.js";
import { EagerTensor, type Tensor } from "../../tensor.js";
import { full } from "./constants.js";
import { batchToFront } from "./util.js";

type AxisP = { axis: number };

/**
 * An index read from a tensor, clamped into [0, n). Clamping (JAX's gather semantics) keeps every
 * read in bounds without a data-dependent check, which a traced program cannot make.
 */
function clampIndex(e: Expr, n: number): Expr {
  return bin("max", bin("min", cast(e, "int32"), c(n - 1)), c(0));
}

function checkAxis(op: string, axis: number, a: ShapedArray): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= a.ndim) fail(op, `axis ${axis} is out of range for operand shape ${fmtShape(a.shape)}`);
}

function checkIndices(op: string, i: ShapedArray): void {
  if (!isInt(i.dtype)) fail(op, `indices must have an integer dtype, got ${i.dtype} (shape ${fmtShape(i.shape)})`);
}

/**
 * Raise on out-of-range indices when their values are known now (a concrete tensor on a backend that
 * reads synchronously). Traced indices cannot be checked; there they clamp, as in JAX.
 */
export function checkIndexRange(op: string, arg: string, idx: Tensor, lo: number, hi: number, what: string, skip?: number): void {
  if (!(idx instanceof EagerTensor) || !idx.backend.readSync || idx.size === 0) return;
  const data = idx.dataSync();
  for (let k = 0; k < data.length; k++) {
    const v = data[k]!;
    if ((v < lo || v >= hi) && v !== skip) fail(op, `${arg} holds ${v} at flat position ${k}, outside [${lo}, ${hi}) for ${what}`);
  }
}

// ---------------- gather (take along axis) ----------------
export const gatherP: Primitive<AxisP> = primitive<AxisP>("gather", {
  shape([x, i], { axis }) {
    checkIndices("gather", i!);
    if (i!.ndim !== x!.ndim) {
      fail("gather", `indices have shape ${fmtShape(i!.shape)} (rank ${i!.ndim}) but the operand has shape ${fmtShape(x!.shape)} (rank ${x!.ndim}); ranks must match`);
    }
    checkAxis("gather", axis, x!);
    x!.shape.forEach((s, d) => {
      if (d !== axis && i!.shape[d] !== s) {
        fail("gather", `indices shape ${fmtShape(i!.shape)} must equal operand shape ${fmtShape(x!.shape)} on every axis but ${axis} (axis ${d}: ${i!.shape[d]} vs ${s})`);
      }
    });
    if (x!.shape[axis] === 0 && i!.size > 0) fail("gather", `cannot gather from axis ${axis} of size 0 (operand shape ${fmtShape(x!.shape)})`);
    return [new ShapedArray(i!.shape, x!.dtype, x!.weakType)];
  },
  lower([x, i], ix, { params: { axis }, inAvals: [a] }) {
    const k = clampIndex(i!(ix), a!.shape[axis]!);
    return [x!(ix.map((e, d) => (d === axis ? k : e)))];
  },
  jvp([x, i], [dx], { axis }) {
    return [[gather(x!, i!, axis)], [isFloat(x!.dtype) ? gather(dx!, i!, axis) : null]];
  },
  transpose([ct], [x, i], { axis }) {
    if (i instanceof UndefPrimal) throw new Error("gather transpose: the indices cannot be a linear input");
    if (!(x instanceof UndefPrimal) || ct === null) return [null, null];
    return [scatterAdd(full(x.aval.shape, 0, ct!.dtype), i!, ct!, axis), null];
  },
  batch(args, dims, { axis }) {
    const [x, i] = batchToFront(args, dims);
    return [[gather(x!, i!, axis + 1)], [0]];
  },
}, (p) => `axis=${p.axis}`);

/** out[..., j, ...] = x[..., clamp(idx[..., j, ...]), ...] along `axis`; idx matches x on every other axis. */
export const gather = (x: Tensor, idx: Tensor, axis: number): Tensor => bind1(gatherP, [x, idx], { axis });

// ---------------- scatter_add ----------------
export const scatterAddP: Primitive<AxisP> = primitive<AxisP>("scatter_add", {
  shape([z, i, s], { axis }) {
    checkIndices("scatter_add", i!);
    if (z!.dtype === "bool") fail("scatter_add", "cannot accumulate into a bool operand");
    if (s!.dtype !== z!.dtype) fail("scatter_add", `updates have dtype ${s!.dtype} but the operand has ${z!.dtype}`);
    if (i!.ndim !== z!.ndim || s!.ndim !== z!.ndim) {
      fail("scatter_add", `operand ${fmtShape(z!.shape)}, indices ${fmtShape(i!.shape)} and updates ${fmtShape(s!.shape)} must have the same rank`);
    }
    checkAxis("scatter_add", axis, z!);
    if (i!.shape.some((d, k) => d !== s!.shape[k])) fail("scatter_add", `indices shape ${fmtShape(i!.shape)} must equal updates shape ${fmtShape(s!.shape)}`);
    z!.shape.forEach((d, k) => {
      if (k !== axis && i!.shape[k] !== d) {
        fail("scatter_add", `indices shape ${fmtShape(i!.shape)} must equal operand shape ${fmtShape(z!.shape)} on every axis but ${axis} (axis ${k}: ${i!.shape[k]} vs ${d})`);
      }
    });
    if (z!.shape[axis] === 0 && i!.size > 0) fail("scatter_add", `cannot scatter into axis ${axis} of size 0 (operand shape ${fmtShape(z!.shape)})`);
    return [new ShapedArray(z!.shape, z!.dtype, z!.weakType && s!.weakType)];
  },
  lower([z, i, s], ix, { params: { axis }, inAvals: [a, ai], outAvals: [o], vars }) {
    const m = ai!.shape[axis]!;
    const base = z!(ix);
    if (m === 0) return [base];
    // each output element sums the updates whose (clamped) index lands on it: O(n·m), no atomics needed
    const [v] = vars.fresh(1);
    const at = ix.map((e, d) => (d === axis ? ivar(v!) : e));
    const hit = bin("eq", clampIndex(i!(at), a!.shape[axis]!), ix[axis]!);
    const body = sel(hit, s!(at), c(0, o!.dtype));
    const total: Expr = { k: "reduce", op: "sum", vars: [v!], ext: [m], body, dt: o!.dtype };
    return [bin("add", base, total)];
  },
  jvp([z, i, s], [dz, , ds], { axis }) {
    const out = scatterAdd(z!, i!, s!, axis);
    return [[out], [isFloat(out.dtype) ? scatterAdd(dz!, i!, ds!, axis) : null]];
  },
  transpose([ct], [z, i, s], { axis }) {
    if (i instanceof UndefPrimal) throw new Error("scatter_add transpose: the indices cannot be a linear input");
    if (ct === null) return [null, null, null];
    return [z instanceof UndefPrimal ? ct! : null, null, s instanceof UndefPrimal ? gather(ct!, i!, axis) : null];
  },
  batch(args, dims, { axis }) {
    const [z, i, s] = batchToFront(args, dims);
    return [[scatterAdd(z!, i!, s!, axis + 1)], [0]];
  },
}, (p) => `axis=${p.axis}`);

/** z with src[..., j, ...] added at position clamp(idx[..., j, ...]) along `axis` (PyTorch scatter_add). */
export const scatterAdd = (z: Tensor, idx: Tensor, src: Tensor, axis: number): Tensor => bind1(scatterAddP, [z, idx, src], { axis });

