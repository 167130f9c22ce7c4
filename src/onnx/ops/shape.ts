/** Shape and layout operators: Reshape, Slice, Concat, Split, Pad, Expand, Tile, Shape, Constant, .... */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import * as S from "../../core/prims/structural.js";
import { take } from "../../ops/indexing.js";
import type { Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { TVal, type Value } from "../values.js";
import { def, ints, out, tin, topt, type OpCtx } from "./registry.js";
import { DataType, axisOf, bcastTo, broadcastShape, guardShape, hostOnly, hostTensor, int64Val, prod, range, selectHostVal } from "./util.js";

/** Reshape keeping host values on the host. */
export function reshapeVal(x: TVal, shape: readonly number[]): TVal {
  if (prod(shape) !== x.size) fail("Reshape", `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`);
  if (hostOnly(x)) return new TVal(x.elem, shape, undefined, x.host, "", x.exact);
  return out(S.reshape(x.t, shape), x.elem);
}

/** Select indices per axis, on the host when the value is host-only. */
function selectVal(x: TVal, picks: number[][]): TVal {
  const shape = picks.map((p) => p.length);
  if (hostOnly(x)) return selectHostVal(x, picks, shape);
  let t = x.t;
  picks.forEach((p, ax) => {
    if (p.length === x.shape[ax] && p.every((v, i) => v === i)) return;
    t = sliceIndices(t, ax, p);
  });
  return out(t, x.elem);
}

/** Pick positions along an axis: a strided slice when they form one, a gather otherwise. */
function sliceIndices(t: Tensor, ax: number, p: readonly number[]): Tensor {
  if (p.length === 0) return S.slice(t, t.shape.map(() => 0), t.shape.map((d, i) => (i === ax ? 0 : d)));
  const step = p.length > 1 ? p[1]! - p[0]! : 1;
  const regular = p.every((v, i) => v === p[0]! + i * step);
  if (regular && step > 0) {
    return S.slice(t, t.shape.map((_, i) => (i === ax ? p[0]! : 0)), t.shape.map((d, i) => (i === ax ? p[p.length - 1]! + 1 : d)), t.shape.map((_, i) => (i === ax ? step : 1)));
  }
  if (regular && step < 0) {
    const n = t.shape[ax]!;
    const r = S.rev(t, [ax]);
    return sliceIndices(r, ax, p.map((v) => n - 1 - v));
  }
  return take(t, hostTensor("int32", [p.length], p), { axis: ax });
}

def("Reshape", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "data");
    const req = ctx.opset < 5 ? ctx.attrs.ints("shape", []) : ints(tin(ins, 1, ctx, "shape"), ctx, "shape");
    const allowzero = ctx.attrs.int("allowzero", 0);
    let shape = req.map((d, i) => {
      if (d === 0 && !allowzero) {
        if (i >= x.rank) fail(ctx.op, `shape ${fmtShape(req)} copies dimension ${i} (a 0) but the input has rank ${x.rank}`);
        return x.shape[i]!;
      }
      return d;
    });
    const neg = shape.filter((d) => d === -1).length;
    if (neg > 1 || shape.some((d) => d < -1)) fail(ctx.op, `invalid shape ${fmtShape(req)}`);
    if (neg) {
      const known = prod(shape.filter((d) => d !== -1));
      if (known === 0 || x.size % known) fail(ctx.op, `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(req)}`);
      shape = shape.map((d) => (d === -1 ? x.size / known : d));
    }
    if (prod(shape) !== x.size) fail(ctx.op, `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(req)}`);
    return [reshapeVal(x, shape)];
  },
});

def("Flatten", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input");
  let axis = ctx.attrs.int("axis", 1);
  if (axis < -x.rank || axis > x.rank) fail(ctx.op, `axis ${axis} is out of range for rank ${x.rank}`);
  if (axis < 0) axis += x.rank;
  return [reshapeVal(x, [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))])];
});

function axesArg(ins: readonly (Value | null)[], ctx: OpCtx, idx: number, sinceInput: number): number[] | undefined {
  if (ctx.opset >= sinceInput) {
    const a = topt(ins, idx, ctx, "axes");
    return a ? ints(a, ctx, "axes") : undefined;
  }
  return ctx.attrs.ints("axes");
}

def("Squeeze", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "data");
    const axes = axesArg(ins, ctx, 1, 13);
    const drop = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axes.map((a) => axisOf(ctx, a, x.rank, "axes"));
    for (const a of drop) if (x.shape[a] !== 1) fail(ctx.op, `cannot squeeze axis ${a} of size ${x.shape[a]} (shape ${fmtShape(x.shape)})`);
    return [reshapeVal(x, x.shape.filter((_, i) => !drop.includes(i)))];
  },
});

def("Unsqueeze", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "data");
    const axes = axesArg(ins, ctx, 1, 13);
    if (!axes) fail(ctx.op, "axes are required");
    const r = x.rank + axes.length;
    const norm = axes.map((a) => axisOf(ctx, a, r, "axes")).sort((a, b) => a - b);
    if (new Set(norm).size !== norm.length) fail(ctx.op, `axes ${JSON.stringify(axes)} repeat an axis`);
    const shape = [...x.shape];
    for (const a of norm) shape.splice(a, 0, 1);
    return [reshapeVal(x, shape)];
  },
});

def("Transpose", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "data");
  const perm = ctx.attrs.ints("perm") ?? range(x.rank).reverse();
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) fail(ctx.op, `perm ${JSON.stringify(perm)} is not a permutation of ${x.rank} axes`);
  return [out(S.transpose(x.t, perm), x.elem)];
});

def("Concat", (ins, ctx) => {
  const vs = ins.map((_, i) => tin(ins, i, ctx, `input ${i}`));
  if (!vs.length) fail(ctx.op, "needs at least one input");
  const axisAttr = ctx.attrs.int("axis");
  if (axisAttr === undefined) fail(ctx.op, "attribute axis is required");
  const ax = axisOf(ctx, axisAttr, vs[0]!.rank);
  for (const v of vs) {
    if (v.rank !== vs[0]!.rank || v.shape.some((d, i) => i !== ax && d !== vs[0]!.shape[i])) {
      fail(ctx.op, `inputs of shapes ${vs.map((u) => fmtShape(u.shape)).join(", ")} cannot be concatenated on axis ${ax}`);
    }
  }
  const shape = [...vs[0]!.shape];
  shape[ax] = vs.reduce((a, v) => a + v.shape[ax]!, 0);
  if (vs.every(hostOnly)) {
    // on the host: interleave blocks of each input along the axis
    const outer = prod(shape.slice(0, ax)), data = new Float64Array(prod(shape));
    const allExact = vs.every((v) => v.exact);
    const exact = allExact ? new (vs[0]!.exact!.constructor as typeof BigInt64Array)(data.length) : undefined;
    let k = 0;
    for (let o = 0; o < outer; o++) {
      for (const v of vs) {
        const blk = prod(v.shape.slice(ax));
        for (let j = 0; j < blk; j++) {
          if (exact) exact[k] = v.exact![o * blk + j]! as bigint;
          data[k++] = v.host![o * blk + j]!;
        }
      }
    }
    return [new TVal(vs[0]!.elem, shape, undefined, data, "", exact)];
  }
  const dt = vs[0]!.t.dtype;
  const ts = vs.map((v) => (v.t.dtype === dt ? v.t : E.convert(v.t, dt))).filter((t) => t.shape[ax]! > 0);
  if (!ts.length) return [out(full(shape, 0, dt), vs[0]!.elem)];
  return [out(S.concatenate(ts, ax), vs[0]!.elem)];
});

def("Split", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input");
    const ax = axisOf(ctx, ctx.attrs.int("axis", 0), x.rank);
    const n = x.shape[ax]!;
    let sizes: number[] | undefined = ctx.opset >= 13 ? (topt(ins, 1, ctx, "split") ? ints(topt(ins, 1, ctx)!, ctx, "split") : undefined) : ctx.attrs.ints("split");
    if (!sizes) {
      const k = ctx.attrs.int("num_outputs") ?? ctx.nOut;
      if (k <= 0) fail(ctx.op, "needs split sizes or num_outputs");
      if (k !== ctx.nOut) fail(ctx.op, `num_outputs ${k} differs from the node's ${ctx.nOut} outputs`);
      const chunk = Math.ceil(n / k);
      if (ctx.attrs.has("num_outputs")) sizes = range(k).map((i) => Math.max(0, Math.min(chunk, n - i * chunk)));
      else {
        if (n % k) fail(ctx.op, `axis ${ax} of size ${n} does not split into ${k} equal parts`);
        sizes = range(k).map(() => n / k);
      }
    }
    if (sizes.reduce((a, b) => a + b, 0) !== n || sizes.some((s) => s < 0)) fail(ctx.op, `split sizes ${JSON.stringify(sizes)} do not add up to ${n} (axis ${ax})`);
    let off = 0;
    return sizes.map((s) => {
      const picks = x.shape.map((d, i) => (i === ax ? range(s).map((j) => off + j) : range(d)));
      off += s;
      return selectVal(x, picks);
    });
  },
});

/** Slice bounds with ONNX's clamping; returns the picked indices of one axis. */
function sliceAxis(dim: number, start: number, end: number, step: number): number[] {
  if (step === 0) fail("Slice", "steps must not be 0");
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  const res: number[] = [];
  if (step > 0) {
    start = Math.min(Math.max(start, 0), dim);
    end = Math.min(Math.max(end, 0), dim);
    for (let i = start; i < end; i += step) res.push(i);
  } else {
    start = Math.min(Math.max(start, 0), dim - 1);
    end = Math.min(Math.max(end, -1), dim - 1);
    for (let i = start; i > end; i += step) res.push(i);
  }
  return res;
}

def("Slice", {
  staticInputs: [1, 2, 3, 4],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "data");
    let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
    if (ctx.opset < 10) {
      starts = ctx.attrs.ints("starts", []);
      ends = ctx.attrs.ints("ends", []);
      axes = ctx.attrs.ints("axes");
    } else {
      starts = ints(tin(ins, 1, ctx, "starts"), ctx, "starts");
      ends = ints(tin(ins, 2, ctx, "ends"), ctx, "ends");
      const a = topt(ins, 3, ctx, "axes"), s = topt(ins, 4, ctx, "steps");
      axes = a ? ints(a, ctx, "axes") : undefined;
      steps = s ? ints(s, ctx, "steps") : undefined;
    }
    if (starts.length !== ends.length) fail(ctx.op, `starts has ${starts.length} entries but ends has ${ends.length}`);
    axes ??= range(starts.length);
    steps ??= starts.map(() => 1);
    const picks = x.shape.map((d) => range(d));
    axes.forEach((a, k) => {
      const ax = axisOf(ctx, a, x.rank, "axes");
      picks[ax] = sliceAxis(x.shape[ax]!, starts[k]!, ends[k]!, steps![k]!);
    });
    return [selectVal(x, picks)];
  },
});

def("Expand", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input");
    const shape = ints(tin(ins, 1, ctx, "shape"), ctx, "shape");
    const target = guardShape(ctx, broadcastShape(ctx, x.shape, shape));
    return [out(bcastTo(x.t, target), x.elem)];
  },
});

def("Tile", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input");
    const reps = ints(tin(ins, 1, ctx, "repeats"), ctx, "repeats");
    if (reps.length !== x.rank || reps.some((r) => r < 0)) fail(ctx.op, `repeats ${JSON.stringify(reps)} must give one non-negative count per axis of ${fmtShape(x.shape)}`);
    guardShape(ctx, x.shape.map((d, i) => d * reps[i]!));
    const inter = x.shape.flatMap((d, i) => [reps[i]!, d]);
    const b = S.broadcastInDim(x.t, inter, x.shape.map((_, i) => 2 * i + 1));
    return [out(S.reshape(b, x.shape.map((d, i) => d * reps[i]!)), x.elem)];
  },
});

/** Source index of a padded position for the non-constant modes. */
function padSource(mode: string, i: number, n: number): number {
  if (mode === "edge") return Math.min(Math.max(i, 0), n - 1);
  if (mode === "wrap") return ((i % n) + n) % n;
  // reflect: mirror without repeating the edge
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

def("Pad", {
  staticInputs: [1, 3],
  check(attrs) {
    const mode = attrs.string("mode", "constant");
    if (!["constant", "reflect", "edge", "wrap"].includes(mode)) unsupported(attrs.op, `mode "${mode}" is not supported`);
  },
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "data");
    const mode = ctx.attrs.string("mode", "constant");
    let pads: number[];
    let value: number | Tensor = 0;
    let axes: number[] = range(x.rank);
    if (ctx.opset < 11) {
      pads = ctx.attrs.ints(ctx.opset < 2 ? "paddings" : "pads", []);
      value = ctx.attrs.float("value", 0);
    } else {
      pads = ints(tin(ins, 1, ctx, "pads"), ctx, "pads");
      const cv = topt(ins, 2, ctx, "constant_value");
      if (cv) value = cv.concrete ? cv.values(ctx.op, "constant_value")[0] ?? 0 : cv.t;
      const ax = topt(ins, 3, ctx, "axes");
      if (ax) axes = ints(ax, ctx, "axes").map((a) => axisOf(ctx, a, x.rank, "axes"));
    }
    if (pads.length !== 2 * axes.length) fail(ctx.op, `pads has ${pads.length} entries; ${2 * axes.length} are needed for ${axes.length} axes`);
    const lo = x.shape.map(() => 0), hi = x.shape.map(() => 0);
    axes.forEach((a, k) => {
      lo[a] = pads[k]!;
      hi[a] = pads[k + axes.length]!;
    });
    guardShape(ctx, x.shape.map((d, i) => d + lo[i]! + hi[i]!));
    if (mode === "constant") {
      if (typeof value === "number") return [out(S.pad(x.t, lo, hi, undefined, value), x.elem)];
      // a traced fill value: pad with zeros and blend it in where the padding is
      const mask = S.pad(full(x.shape, 1, "bool"), lo, hi, undefined, 0);
      const v = bcastTo(E.convert(value, x.t.dtype), mask.shape);
      return [out(E.select(mask, S.pad(x.t, lo, hi, undefined, 0), v), x.elem)];
    }
    let t = x.t;
    x.shape.forEach((n, ax) => {
      const l = lo[ax]!, h = hi[ax]!;
      if (l === 0 && h === 0) return;
      if (n === 0) fail(ctx.op, `cannot pad axis ${ax} of size 0 in mode ${mode}`);
      const idx = range(n + l + h).map((j) => padSource(mode, j - l, n));
      t = sliceIndices(t, ax, idx);
    });
    return [out(t, x.elem)];
  },
});

def("Shape", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "data");
  const r = x.rank;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(ctx.attrs.int("start", 0)), end = clamp(ctx.attrs.int("end", r));
  return [int64Val(x.shape.slice(start, Math.max(start, end)))];
});

def("Size", (ins, ctx) => [int64Val([tin(ins, 0, ctx, "data").size], [])]);

def("Identity", (ins, ctx) => {
  const v = ins[0];
  if (!v) fail(ctx.op, "input is required");
  return [v];
});

def("Dropout", {
  staticInputs: [1, 2],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "data");
    const ratio = ctx.opset >= 12 ? (topt(ins, 1, ctx, "ratio")?.values(ctx.op, "ratio")[0] ?? 0.5) : ctx.attrs.float("ratio", 0.5);
    const training = ctx.opset >= 12 ? !!topt(ins, 2, ctx, "training_mode")?.values(ctx.op, "training_mode")[0] : false;
    if (training && ratio > 0) unsupported(ctx.op, "training-mode Dropout with a nonzero ratio draws random numbers; it is not supported by the importer");
    const mask = out(full(x.shape, 1, "bool"), DataType.BOOL);
    return ctx.nOut > 1 ? [x, mask] : [x];
  },
});

def("Constant", {
  check(attrs) {
    for (const k of ["sparse_value", "value_string", "value_strings"]) if (attrs.has(k)) unsupported(attrs.op, `${k} is not supported`);
  },
  run(_ins, ctx) {
    const a = ctx.attrs;
    if (a.has("value")) return [a.tensor("value")!];
    if (a.has("value_float")) return [new TVal(DataType.FLOAT, [], undefined, Float32Array.of(a.float("value_float")!))];
    if (a.has("value_floats")) return [new TVal(DataType.FLOAT, [a.floats("value_floats")!.length], undefined, Float32Array.from(a.floats("value_floats")!))];
    if (a.has("value_int")) return [int64Val([a.int("value_int")!], [])];
    if (a.has("value_ints")) return [int64Val(a.ints("value_ints")!)];
    return fail(ctx.op, "has no value attribute");
  },
});

def("ConstantOfShape", {
  staticInputs: [0],
  run(ins, ctx) {
    const shape = ints(tin(ins, 0, ctx, "input"), ctx, "input");
    guardShape(ctx, shape);
    const v = ctx.attrs.tensor("value");
    const elem = v?.elem ?? DataType.FLOAT;
    const x = v ? v.values(ctx.op, "value")[0] ?? 0 : 0;
    return [new TVal(elem, shape, undefined, new Float64Array(prod(shape)).fill(x))];
  },
});

def("EyeLike", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input");
  if (x.rank !== 2) fail(ctx.op, `input must be 2-D, got ${fmtShape(x.shape)}`);
  const elem = ctx.attrs.int("dtype") ?? x.elem;
  const k = ctx.attrs.int("k", 0);
  const [m, n] = x.shape as [number, number];
  guardShape(ctx, [m, n]);
  const data = new Float64Array(m * n);
  for (let i = 0; i < m; i++) if (i + k >= 0 && i + k < n) data[i * n + i + k] = 1;
  return [new TVal(elem, [m, n], undefined, data)];
});

def("Range", {
  staticInputs: [0, 1, 2],
  run(ins, ctx) {
    const s = tin(ins, 0, ctx, "start"), l = tin(ins, 1, ctx, "limit"), d = tin(ins, 2, ctx, "delta");
    const [start, limit, delta] = [s, l, d].map((v, i) => v.values(ctx.op, ["start", "limit", "delta"][i]!)[0]!) as [number, number, number];
    if (delta === 0) fail(ctx.op, "delta must not be 0");
    const n = Math.max(Math.ceil((limit - start) / delta), 0);
    if (!Number.isSafeInteger(n)) fail(ctx.op, `range(${start}, ${limit}, ${delta}) has too many elements`);
    guardShape(ctx, [n]);
    const vals = new Float64Array(n);
    for (let i = 0; i < n; i++) vals[i] = start + i * delta;
    return [new TVal(s.elem, [n], undefined, vals)];
  },
});
