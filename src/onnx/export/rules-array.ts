/**
 * Shape, creation, reduction, indexing and sorting primitives. Integer operands that ONNX wants as
 * int64 tensors (shapes, axes, slice bounds, pads, k) are int64 initializers, or, where they depend
 * on a dynamic axis, int64 values computed from the inputs' runtime shapes.
 */
import { TridentError } from "../../core/errors.js";
import { range } from "../../core/prims/util.js";
import type { OVal } from "./builder.js";
import { elemOf, rule, type EqnCtx } from "./emit.js";
import { needOpset } from "./rules-elementwise.js";
import { dimEq, isStatic, staticOnly, type SymDim } from "./poly.js";

const INT64_MIN = -(2n ** 63n);
const INT64 = 7;

const full = (c: EqnCtx, name: string, i = 0): OVal[] => [{ name, dtype: c.outDtypes[i]!, shape: c.outShapes[i]! }];
const nums = (c: EqnCtx, xs: unknown, what: string): number[] => (xs as SymDim[]).map((d) => staticOnly(c.prim, what, d));

// ---------------------------------------------------------------- shape

rule("broadcast_in_dim", (c) => {
  const x = c.ins[0]!;
  const dims = nums(c, c.p["dims"], "dims");
  const target = c.outShapes[0]!;
  // a scalar broadcasts by itself; otherwise put x's axes in place and leave 1 on the new ones
  if (x.shape.length === 0) return [{ ...x, dtype: c.outDtypes[0]! }];
  let name = x.name, actual = x.shape;
  const order = range(dims.length).sort((a, b) => dims[a]! - dims[b]!);
  if (order.some((o, i) => o !== i)) {
    name = c.em.op("Transpose", [name], { perm: order });
    actual = order.map((o) => actual[o]!);
  }
  const sorted = order.map((o) => dims[o]!);
  const newAxes = range(target.length).filter((d) => !sorted.includes(d));
  if (newAxes.length) name = c.em.op("Unsqueeze", [name, c.em.i64(newAxes)]);
  const shape: SymDim[] = target.map(() => 1);
  sorted.forEach((d, i) => (shape[d] = actual[i]!));
  return [{ name, dtype: c.outDtypes[0]!, shape }];
});

rule("reshape", (c) => {
  const target = c.outShapes[0]!;
  // a literal 0 in Reshape's shape means "copy"; allowzero (opset 14) makes it a size
  const zero = target.some((d) => d === 0) && c.em.opset >= 14;
  return full(c, c.em.op("Reshape", [c.mat(0), reshapeVec(c, target)], zero ? { allowzero: 1 } : {}));
});

/** The shape operand of a Reshape: one symbolic entry can be left to Reshape as −1. */
export function reshapeVec(c: EqnCtx, target: readonly SymDim[]): string {
  const dyn = target.filter((d) => !isStatic(d));
  if (dyn.length === 1 && !target.some((d) => d === 0)) return c.em.i64(target.map((d) => (isStatic(d) ? d : -1)));
  return c.em.intVec(target);
}

rule("transpose", (c) => {
  const x = c.ins[0]!;
  const perm = nums(c, c.p["perm"], "perm");
  if (x.shape.length === 0) return [x];
  // a lazily broadcast operand transposes as it is (its 1s move with it)
  return [{ name: c.em.op("Transpose", [x.name], { perm }), dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
});

rule("slice", (c) => {
  const start = c.p["start"] as SymDim[], limit = c.p["limit"] as SymDim[], strides = nums(c, c.p["strides"], "strides");
  const inShape = c.inShapes[0]!;
  const axes = range(start.length).filter((i) => !(dimEq(start[i]!, 0) && dimEq(limit[i]!, inShape[i]!) && strides[i] === 1));
  if (axes.length === 0) return full(c, c.mat(0));
  const em = c.em;
  const ins = [c.mat(0), em.intVec(axes.map((i) => start[i]!)), em.intVec(axes.map((i) => limit[i]!)), em.i64(axes), em.i64(axes.map((i) => strides[i]!))];
  return full(c, em.op("Slice", ins));
});

rule("rev", (c) => {
  const axes = nums(c, c.p["axes"], "axes");
  const em = c.em;
  const n = axes.length;
  const ins = [c.mat(0), em.i64(Array(n).fill(-1)), em.i64(Array(n).fill(INT64_MIN)), em.i64(axes), em.i64(Array(n).fill(-1))];
  return full(c, em.op("Slice", ins));
});

/**
 * pad: interior padding by interleaving (unsqueeze, pad the new axis, merge, drop the tail), then
 * Pad for the positive edges and Slice for the negative ones.
 */
rule("pad", (c) => {
  const em = c.em;
  const lo = c.p["lo"] as SymDim[], hi = c.p["hi"] as SymDim[], interior = nums(c, c.p["interior"], "interior");
  const value = c.p["value"] as SymDim;
  const dt = c.outDtypes[0]!;
  const pv = isStatic(value) ? em.scalar(dt, value) : em.op("Cast", [em.dimScalar(value)], { to: elemOf(dt) });
  let x = c.mat(0);
  const shape = [...c.inShapes[0]!];
  const r = shape.length;
  interior.forEach((k, ax) => {
    if (k === 0) return;
    const n = staticOnly(c.prim, `axis ${ax} (interior padding)`, shape[ax]!);
    if (n === 0) return;
    const u = em.op("Unsqueeze", [x, em.i64([ax + 1])]);
    const pads = Array<number>(2 * (r + 1)).fill(0);
    pads[r + 1 + ax + 1] = k;
    const p = em.op("Pad", [u, em.i64(pads), pv]);
    const merged = [...shape];
    merged[ax] = n * (k + 1);
    const m = em.op("Reshape", [p, em.intVec(merged)]);
    x = em.op("Slice", [m, em.i64([0]), em.i64([n * (k + 1) - k]), em.i64([ax]), em.i64([1])]);
    shape[ax] = n * (k + 1) - k;
  });
  const neg = (d: SymDim) => (isStatic(d) ? d < 0 : false);
  const posPads = [...lo, ...hi].map((d) => (neg(d) ? 0 : d));
  if (posPads.some((d) => !dimEq(d, 0))) x = em.op("Pad", [x, em.intVec(posPads), pv]);
  const negAxes = range(r).filter((i) => neg(lo[i]!) || neg(hi[i]!));
  if (negAxes.length) {
    const starts = negAxes.map((i) => (neg(lo[i]!) ? -(lo[i] as number) : 0));
    const ends = negAxes.map((i) => (neg(hi[i]!) ? (hi[i] as number) : Number.MAX_SAFE_INTEGER));
    x = em.op("Slice", [x, em.i64(starts), em.i64(ends), em.i64(negAxes)]);
  }
  return full(c, x);
});

rule("concatenate", (c) => {
  const axis = staticOnly(c.prim, "axis", c.p["axis"] as SymDim);
  return full(c, c.em.op("Concat", c.ins.map((_, i) => c.mat(i)), { axis }));
});

// ---------------------------------------------------------------- creation

rule("full", (c) => {
  const value = c.p["value"] as SymDim;
  const dt = c.outDtypes[0]!;
  const name = isStatic(value) ? c.em.scalar(dt, value) : c.em.op("Cast", [c.em.dimScalar(value)], { to: elemOf(dt) });
  return [{ name, dtype: dt, shape: [] }];
});

rule("iota", (c) => {
  const em = c.em;
  const shape = c.outShapes[0]!;
  const dim = staticOnly(c.prim, "dimension", c.p["dimension"] as SymDim);
  const dt = c.outDtypes[0]!;
  const n = shape[dim]!;
  const lazy: SymDim[] = shape.map((_, i) => (i === dim ? n : 1));
  if (isStatic(n)) return [{ name: em.constArray(dt, lazy as number[], range(n)), dtype: dt, shape: lazy }];
  const rng = em.op("Range", [em.i64([0], []), em.dimScalar(n), em.i64([1], [])]);
  const cast = em.op("Cast", [rng], { to: elemOf(dt) });
  const others = range(shape.length).filter((i) => i !== dim);
  return [{ name: others.length ? em.op("Unsqueeze", [cast, em.i64(others)]) : cast, dtype: dt, shape: lazy }];
});

// ---------------------------------------------------------------- reductions

const REDUCE: Record<string, string> = { reduce_sum: "ReduceSum", reduce_max: "ReduceMax", reduce_min: "ReduceMin", reduce_prod: "ReduceProd" };
rule(Object.keys(REDUCE), (c) => {
  const axes = nums(c, c.p["axes"], "axes");
  let x = c.mat(0);
  const outDt = c.outDtypes[0]!;
  // ONNX reductions take no bools (any/all are max/min of bools): reduce them as int32
  const via = outDt === "bool" ? "int32" : outDt;
  if (c.inDtypes[0] !== via) x = c.em.op("Cast", [x], { to: elemOf(via) });
  if (axes.length === 0) return full(c, x);
  const op = REDUCE[c.prim]!;
  // ReduceSum takes its axes as an input from opset 13, the others from opset 18
  const asInput = op === "ReduceSum" || c.em.opset >= 18;
  let name = asInput ? c.em.op(op, [x, c.em.i64(axes)], { keepdims: 0 }) : c.em.op(op, [x], { axes, keepdims: 0 });
  if (via !== outDt) name = c.em.op("Cast", [name], { to: elemOf(outDt) });
  return full(c, name);
});

rule(["argmax", "argmin"], (c) => {
  const axis = staticOnly(c.prim, "axis", c.p["axis"] as SymDim);
  const i = c.em.op(c.prim === "argmax" ? "ArgMax" : "ArgMin", [c.mat(0)], { axis, keepdims: 0 });
  return full(c, c.em.op("Cast", [i], { to: elemOf("int32") }));
});

rule("cumsum", (c) => {
  const axis = staticOnly(c.prim, "axis", c.p["axis"] as SymDim);
  return full(c, c.em.op("CumSum", [c.mat(0), c.em.i64([axis], [])], { reverse: c.p["reverse"] ? 1 : 0 }));
});

// ---------------------------------------------------------------- indexing

/** Indices clamped into [0, n) as int64, which is what gather and scatter_add do in Trident. */
function clampedIndices(c: EqnCtx, idx: string, n: SymDim): string {
  const em = c.em;
  const i64 = em.op("Cast", [idx], { to: INT64 });
  const hiMinus1 = isStatic(n) ? em.i64([Math.max(n - 1, 0)], []) : em.op("Sub", [em.dimScalar(n), em.i64([1], [])]);
  return em.op("Max", [em.op("Min", [i64, hiMinus1]), em.i64([0], [])]);
}

rule("gather", (c) => {
  const axis = staticOnly(c.prim, "axis", c.p["axis"] as SymDim);
  const n = c.inShapes[0]![axis]!;
  const idx = clampedIndices(c, c.mat(1), n);
  return full(c, c.em.op("GatherElements", [c.mat(0), idx], { axis }));
});

rule("scatter_add", (c) => {
  needOpset(c, 16, "ScatterElements with reduction=add");
  const axis = staticOnly(c.prim, "axis", c.p["axis"] as SymDim);
  const n = c.inShapes[0]![axis]!;
  const idx = clampedIndices(c, c.mat(1), n);
  return full(c, c.em.op("ScatterElements", [c.mat(0), idx, c.mat(2)], { axis, reduction: "add" }));
});

rule("sort", (c) => {
  const axis = staticOnly(c.prim, "axis", c.p["axis"] as SymDim);
  const n = c.inShapes[0]![axis]!;
  const dt = c.inDtypes[0]!;
  if (dt === "bool") throw new TridentError("onnx.export: sort: ONNX TopK does not sort bool values; convert them to int32 first");
  const [v, i] = c.em.node("TopK", [c.mat(0), c.em.dimVec(n)], { axis, largest: c.p["descending"] ? 1 : 0, sorted: 1 }, 2);
  return [
    { name: v!, dtype: c.outDtypes[0]!, shape: c.outShapes[0]! },
    { name: c.em.op("Cast", [i!], { to: elemOf("int32") }), dtype: "int32", shape: c.outShapes[1]! },
  ];
});
