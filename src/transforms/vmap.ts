import { ShapedArray } from "../core/aval.js";
import { fail } from "../core/errors.js";
import type { AnyPrimitive, Dim, Params } from "../core/primitive.js";
import { Trace, Tracer, bind, fullLower, fullRaise, newMain, type MainTrace } from "../core/trace.js";
import { broadcastInDim, moveaxis } from "../core/prims/structural.js";
import type { Tensor } from "../tensor.js";

/** Batching: each value carries the axis along which it is mapped (null = the same for every example). */
export class BatchTracer extends Tracer {
  readonly aval: ShapedArray;
  constructor(readonly _trace: BatchTrace, readonly val: Tensor, readonly bdim: Dim) {
    super();
    const a = val.aval;
    this.aval = bdim === null ? a : new ShapedArray(a.shape.filter((_, i) => i !== bdim), a.dtype, a.weakType);
  }
  override fullLower(): Tensor {
    return this.bdim === null ? fullLower(this.val) : this;
  }
}

export class BatchTrace extends Trace {
  get axisSize(): number {
    return this.main.globalData as number;
  }
  pure(val: Tensor): Tensor {
    return new BatchTracer(this, val, null);
  }
  lift(val: Tensor): Tensor {
    return new BatchTracer(this, val, null);
  }
  processPrimitive(prim: AnyPrimitive, tracers: Tensor[], params: Params): Tensor[] {
    const ts = tracers as BatchTracer[];
    const vals = ts.map((t) => t.val);
    const dims = ts.map((t) => t.bdim);
    if (dims.every((d) => d === null)) return bind(prim, vals, params).map((v) => new BatchTracer(this, v, null));
    const [outs, outDims] = prim.rules.batch(vals, dims, params);
    return outs.map((o, i) => new BatchTracer(this, o, outDims[i] ?? null));
  }
}

/** Move (or materialise) the mapped axis of a batched result to `outAxis`. */
export function moveBatchAxis(axisSize: number, src: Dim, dst: number | null, x: Tensor): Tensor {
  if (dst === null) {
    if (src !== null) fail("vmap", "outAxes is null for an output that depends on the mapped axis");
    return x;
  }
  // a negative outAxis counts from the end of the result, which has the mapped axis in it
  const rank = src === null ? x.ndim + 1 : x.ndim;
  if (dst < -rank || dst >= rank) fail("vmap", `outAxes ${dst} is out of range for an output of rank ${rank}`);
  if (dst < 0) dst += rank;
  if (src === null) {
    const shape = [...x.shape];
    shape.splice(dst, 0, axisSize);
    return broadcastInDim(x, shape, x.shape.map((_, i) => (i < dst ? i : i + 1)));
  }
  return moveaxis(x, src, dst);
}

export function vmapFlat(f: (...xs: Tensor[]) => Tensor[], inAxes: readonly Dim[], outAxes: readonly (number | null)[] | ((n: number) => (number | null)[]), args: readonly Tensor[]): Tensor[] {
  let axisSize = -1;
  args.forEach((a, i) => {
    const ax = inAxes[i];
    if (ax === null || ax === undefined) return;
    const n = a.shape[ax];
    if (n === undefined) fail("vmap", `inAxes[${i}] = ${ax} but argument ${i} has shape [${a.shape}]`);
    if (axisSize >= 0 && n !== axisSize) fail("vmap", `mapped axes have different sizes: ${axisSize} and ${n} (argument ${i})`);
    axisSize = n;
  });
  if (axisSize < 0) fail("vmap", "at least one argument must be mapped (inAxes all null)");
  return newMain(BatchTrace, axisSize, (main: MainTrace) => {
    const trace = new BatchTrace(main);
    const ins = args.map((a, i) => new BatchTracer(trace, a, inAxes[i] ?? null));
    const outs = f(...ins).map((o) => fullRaise(trace, o) as BatchTracer);
    const oa = typeof outAxes === "function" ? outAxes(outs.length) : outAxes;
    return outs.map((o, i) => moveBatchAxis(axisSize, o.bdim, oa[i] ?? 0, o.val));
  });
}
