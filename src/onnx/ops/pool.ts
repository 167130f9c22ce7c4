/**
 * Pooling. Sum-type pools (average, Lp) are depthwise convolutions with a kernel of ones, and max pooling
 * is separable per axis with log-depth sliding maxima, so kernels of any size cost a handful of
 * primitives rather than one slice per window element. Only MaxPool's Indices output stacks windows.
 */
import { isFloat, type DType } from "../../core/dtype.js";
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import { conv } from "../../core/prims/conv.js";
import * as E from "../../core/prims/elementwise.js";
import { gather } from "../../core/prims/indexing.js";
import * as R from "../../core/prims/reduce.js";
import * as S from "../../core/prims/structural.js";
import type { Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { convPads, perAxis, widen } from "./nn.js";
import { def, out, tin, type OpCtx } from "./registry.js";
import { DataType, bcastTo, guardShape, hostTensor, lit, prod, range } from "./util.js";

interface PoolGeom {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: [number, number][];
  out: number[];
}

function poolGeom(ctx: OpCtx, x: Tensor): PoolGeom {
  const n = x.ndim - 2;
  const kernel = ctx.attrs.ints("kernel_shape");
  if (!kernel || kernel.length !== n) fail(ctx.op, `kernel_shape ${JSON.stringify(kernel)} needs ${n} entries`);
  if (kernel.some((k) => !Number.isInteger(k) || k < 1)) fail(ctx.op, `kernel_shape ${JSON.stringify(kernel)} must be positive`);
  const strides = perAxis(ctx, "strides", n, 1), dilations = perAxis(ctx, "dilations", n, 1);
  const inS = x.shape.slice(2);
  const auto = ctx.attrs.string("auto_pad", "NOTSET");
  const ceil = ctx.attrs.int("ceil_mode", 0) !== 0;
  const pads = convPads(ctx, inS, kernel, strides, dilations);
  const outS = inS.map((d, i) => {
    const span = (kernel[i]! - 1) * dilations[i]! + 1;
    if (auto === "SAME_UPPER" || auto === "SAME_LOWER") return Math.ceil(d / strides[i]!);
    const room = d + pads[i]![0] + pads[i]![1] - span;
    if (room < 0) fail(ctx.op, `kernel ${JSON.stringify(kernel)} is larger than the padded input ${fmtShape(x.shape)}`);
    let o = (ceil ? Math.ceil(room / strides[i]!) : Math.floor(room / strides[i]!)) + 1;
    // the last window must start inside the input or its left padding
    if (ceil && (o - 1) * strides[i]! >= d + pads[i]![0]) o--;
    return o;
  });
  guardShape(ctx, [x.shape[0]!, x.shape[1]!, ...outS]);
  guardShape(ctx, [x.shape[0]!, x.shape[1]!, ...inS.map((d, i) => d + pads[i]![0] + pads[i]![1] + kernel[i]! * dilations[i]!)], "padded input");
  return { kernel, strides, dilations, pads, out: outS };
}

/** Pad on the left by the pads and on the right far enough for every window (ceil mode may reach past). */
function padded(x: Tensor, g: PoolGeom, value: number): Tensor {
  const inS = x.shape.slice(2);
  const hi = g.out.map((o, s) => Math.max(0, (o - 1) * g.strides[s]! + (g.kernel[s]! - 1) * g.dilations[s]! + 1 - inS[s]! - g.pads[s]![0]));
  return S.pad(x, [0, 0, ...g.pads.map((p) => p[0])], [0, 0, ...hi], undefined, value);
}

/** Windowed sums: a depthwise convolution with a kernel of ones. */
function windowSum(x: Tensor, g: PoolGeom): Tensor {
  const xp = padded(x, g, 0);
  const C = x.shape[1]!;
  const n = g.kernel.length;
  const ones = full([C, 1, ...g.kernel], 1, x.dtype);
  const canon = range(n + 2);
  const y = conv(xp, ones, {
    strides: g.strides, padding: g.kernel.map(() => [0, 0] as [number, number]), lhsDilation: g.kernel.map(() => 1), rhsDilation: g.dilations,
    featureGroupCount: C, batchGroupCount: 1, lhsSpec: canon, rhsSpec: canon, outSpec: canon,
  });
  return S.slice(y, y.shape.map(() => 0), [y.shape[0]!, C, ...g.out]);
}

/** max over t[i + j·d], j < k, along an axis, by doubling windows (sparse-table style). */
function slidingMax(t: Tensor, ax: number, k: number, d: number): Tensor {
  const cut = (u: Tensor, from: number, len: number) => S.slice(u, u.shape.map((_, i) => (i === ax ? from : 0)), u.shape.map((n, i) => (i === ax ? from + len : n)));
  let w = t, m = 1;
  while (2 * m <= k) {
    const len = w.shape[ax]! - m * d;
    w = E.max(cut(w, 0, len), cut(w, m * d, len));
    m *= 2;
  }
  if (m < k) {
    // two overlapping power-of-two windows cover [i, i + k)
    const r = k - m, len = w.shape[ax]! - r * d;
    w = E.max(cut(w, 0, len), cut(w, r * d, len));
  }
  return w;
}

const lowestOf = (dt: DType) => (isFloat(dt) ? -Infinity : dt === "int32" ? -(2 ** 31) : dt === "int8" ? -128 : 0);

function windowMax(x: Tensor, g: PoolGeom): Tensor {
  let t = padded(x, g, lowestOf(x.dtype));
  g.kernel.forEach((k, s) => {
    const ax = 2 + s;
    t = slidingMax(t, ax, k, g.dilations[s]!);
    const o = g.out[s]!;
    t = S.slice(t, t.shape.map(() => 0), t.shape.map((n, i) => (i === ax ? (o - 1) * g.strides[s]! + 1 : n)), t.shape.map((_, i) => (i === ax ? g.strides[s]! : 1)));
  });
  return t;
}

/** Per-axis counts of window positions inside the input (or inside input + explicit pads), multiplied out. */
function divisor(inS: readonly number[], g: PoolGeom, includePad: boolean, dt: DType, shape: readonly number[]): Tensor {
  const perAxisCounts = inS.map((n, s) =>
    range(g.out[s]!).map((o) => {
      let c = 0;
      for (let j = 0; j < g.kernel[s]!; j++) {
        const p = o * g.strides[s]! + j * g.dilations[s]! - g.pads[s]![0];
        if (includePad ? p >= -g.pads[s]![0] && p < n + g.pads[s]![1] : p >= 0 && p < n) c++;
      }
      return c;
    }),
  );
  const cells = perAxisCounts.reduce<number[]>((acc, cs) => acc.flatMap((a) => cs.map((v) => a * v)), [1]);
  if (cells.every((v) => v === cells[0])) return full(shape, cells[0]!, dt);
  return bcastTo(hostTensor(dt, g.out, cells), shape);
}

/** MaxPool's Indices: argmax over stacked windows mapped to flat input positions. */
function maxIndices(ctx: OpCtx, x: Tensor, g: PoolGeom): Tensor {
  const K = prod(g.kernel);
  if (K > 4096) unsupported(ctx.op, `the Indices output of a ${K}-element pooling window is not supported`);
  const [N, C] = x.shape as [number, number];
  const inS = x.shape.slice(2);
  const xp = padded(x, g, lowestOf(x.dtype));
  const offsets = g.kernel.reduce<number[][]>((acc, k) => acc.flatMap((o) => range(k).map((i) => [...o, i])), [[]]);
  const stacked = S.concatenate(offsets.map((off) => {
    const start = [0, 0, ...off.map((i, s) => i * g.dilations[s]!)];
    const limit = [N, C, ...off.map((i, s) => i * g.dilations[s]! + (g.out[s]! - 1) * g.strides[s]! + 1)];
    return S.reshape(S.slice(xp, start, limit, [1, 1, ...g.strides]), [N, C, 1, ...g.out]);
  }), 2);
  // flat input position of every (window element, output) pair; storage_order 1 counts spatial axes column-major
  const colMajor = ctx.attrs.int("storage_order", 0) === 1;
  const outN = prod(g.out);
  const src = new Array<number>(K * outN).fill(0);
  offsets.forEach((off, k) => {
    for (let o = 0; o < outN; o++) {
      let flat = 0, mul = 1;
      const oi = g.out.map((_, s) => Math.floor(o / prod(g.out.slice(s + 1))) % g.out[s]!);
      const pos = inS.map((_, s) => oi[s]! * g.strides[s]! + off[s]! * g.dilations[s]! - g.pads[s]![0]);
      if (colMajor) pos.forEach((p, s) => ((flat += p * mul), (mul *= inS[s]!)));
      else pos.forEach((p, s) => (flat += p * prod(inS.slice(s + 1))));
      src[k * outN + o] = flat;
    }
  });
  const table = hostTensor("int32", [1, 1, K, ...g.out], src);
  const am = E.convert(R.argmax(stacked, 2), "int32");
  const picked = gather(bcastTo(table, [N, C, K, ...g.out]), S.reshape(am, [N, C, 1, ...g.out]), 2);
  const shape = [N, C, 1, ...g.out];
  const base = E.mul(E.add(E.mul(S.iota(shape, 0, "int32"), full(shape, C, "int32")), S.iota(shape, 1, "int32")), full(shape, prod(inS), "int32"));
  return S.reshape(E.add(picked, base), [N, C, ...g.out]);
}

def("MaxPool", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const x = xv.t;
  const g = poolGeom(ctx, x);
  const y = out(windowMax(x, g), xv.elem);
  if (ctx.nOut < 2 || !ctx.node.outputs[1]) return [y];
  return [y, out(maxIndices(ctx, x, g), DataType.INT64)];
});

def("AveragePool", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const [x, back] = widen(xv.t);
  const g = poolGeom(ctx, x);
  const total = windowSum(x, g);
  const include = ctx.attrs.int("count_include_pad", 0) !== 0;
  return [out(back(E.div(total, divisor(x.shape.slice(2), g, include, total.dtype, total.shape))), xv.elem)];
});

def("LpPool", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const [x, back] = widen(xv.t);
  const g = poolGeom(ctx, x);
  const p = ctx.attrs.int("p", 2);
  const s = windowSum(E.pow(E.abs(x), lit(x, p)), g);
  return [out(back(E.pow(s, lit(s, 1 / p))), xv.elem)];
});

function globalPool(name: string, f: (t: Tensor, axes: number[], ctx: OpCtx) => Tensor): void {
  def(name, (ins, ctx) => {
    const xv = tin(ins, 0, ctx, "X");
    const [x, back] = widen(xv.t);
    const axes = range(x.ndim).slice(2);
    return [out(back(S.reshape(f(x, axes, ctx), x.shape.map((d, i) => (i < 2 ? d : 1)))), xv.elem)];
  });
}
globalPool("GlobalAveragePool", (t, axes) => {
  const s = R.reduceSum(t, axes);
  return E.div(s, lit(s, prod(axes.map((a) => t.shape[a]!))));
});
globalPool("GlobalMaxPool", (t, axes) => R.reduceMax(t, axes));
globalPool("GlobalLpPool", (t, axes, ctx) => {
  const p = ctx.attrs.int("p", 2);
  const s = R.reduceSum(E.pow(E.abs(t), lit(t, p)), axes);
  return E.pow(s, lit(s, 1 / p));
});
