import { isFloat } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { conv, convOutSize, type ConvP } from "../core/prims/conv.js";
import { dotGeneral } from "../core/prims/linalg.js";
import * as E from "../core/prims/elementwise.js";
import * as R from "../core/prims/reduce.js";
import * as S from "../core/prims/structural.js";
import { range } from "../core/prims/util.js";
import { lowest, windowArgmax, windowGather } from "../core/prims/window.js";
import type { Tensor } from "../tensor.js";
import { tensor, toTensor, type TensorLike } from "./convert.js";
import { add, div, promote } from "./core.js";

/** Padding of the spatial axes: one size for all, one per axis, a [before, after] pair per axis, or a mode. */
export type ConvPadding = number | readonly number[] | readonly (readonly [number, number])[] | "same" | "valid";

export interface ConvOpts {
  stride?: number | readonly number[];
  padding?: ConvPadding;
  dilation?: number | readonly number[];
  groups?: number;
}

export interface ConvTransposeOpts {
  stride?: number | readonly number[];
  /** Implicit padding removed from each spatial axis (PyTorch semantics): one size, one per axis, or [before, after] pairs. */
  padding?: number | readonly number[] | readonly (readonly [number, number])[];
  /** Extra size added to one side of the output to pick among the sizes a strided conv maps to one input size. */
  outputPadding?: number | readonly number[];
  dilation?: number | readonly number[];
  groups?: number;
}

const SPATIAL = ["W", "H, W", "D, H, W"];

function perAxis(op: string, name: string, v: number | readonly number[] | undefined, n: number, dflt: number, min = 1): number[] {
  const list = v === undefined ? Array<number>(n).fill(dflt) : typeof v === "number" ? Array<number>(n).fill(v) : [...v];
  if (list.length !== n) fail(op, `${name} needs ${n} values (one per spatial axis), got ${JSON.stringify(v)}`);
  for (const x of list) if (!Number.isInteger(x) || x < min) fail(op, `${name} must be integers >= ${min}, got ${JSON.stringify(v)}`);
  return list;
}

function padPairs(op: string, pad: ConvPadding | undefined, n: number, kernel: readonly number[], dilation: readonly number[], stride: readonly number[]): [number, number][] {
  if (pad === undefined || pad === "valid") return kernel.map(() => [0, 0]);
  if (pad === "same") {
    if (stride.some((s) => s !== 1)) fail(op, `padding "same" needs stride 1, got stride ${JSON.stringify(stride)}`);
    return kernel.map((k, i) => {
      const total = dilation[i]! * (k - 1);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }
  if (typeof pad === "number") pad = Array<number>(n).fill(pad);
  if (!Array.isArray(pad) || pad.length !== n) fail(op, `padding needs ${n} entries (one per spatial axis), got ${JSON.stringify(pad)}`);
  return (pad as readonly (number | readonly [number, number])[]).map((p) => {
    const pair: [number, number] = typeof p === "number" ? [p, p] : [p[0], p[1]];
    if (!pair.every((v) => Number.isInteger(v) && v >= 0)) fail(op, `padding must be non-negative integers, got ${JSON.stringify(pad)}`);
    return pair;
  });
}

/** Accept unbatched input [C, ...spatial] like PyTorch: add the batch axis and remember to drop it. */
function batched(op: string, x: Tensor, nsp: number): [Tensor, boolean] {
  if (x.ndim === nsp + 1) return [S.reshape(x, [1, ...x.shape]), true];
  if (x.ndim !== nsp + 2) fail(op, `input must have shape [N, C, ${SPATIAL[nsp - 1]}] or [C, ${SPATIAL[nsp - 1]}], got ${fmtShape(x.shape)}`);
  return [x, false];
}
const unbatch = (t: Tensor, was: boolean) => (was ? S.reshape(t, t.shape.slice(1)) : t);

function addBias(op: string, out: Tensor, bias: TensorLike | null | undefined): Tensor {
  if (bias === null || bias === undefined) return out;
  const b = toTensor(bias);
  const O = out.shape[1]!;
  if (b.ndim !== 1 || b.shape[0] !== O) fail(op, `bias must have shape [${O}] (one per output channel), got ${fmtShape(b.shape)}`);
  return add(out, S.reshape(b, [1, O, ...out.shape.slice(2).map(() => 1)]));
}

/**
 * The operands of a convolution, promoted and with the batch axis added where missing, after the checks
 * every convolution makes: the weight's rank (`weightAxes` names its leading axes) and the group count.
 */
function convOperands(op: string, nsp: number, input: TensorLike, weight: TensorLike, weightAxes: string, groupsOpt: number | undefined): { x: Tensor; w: Tensor; wasUnbatched: boolean; groups: number } {
  const [xi, w] = promote(op, input, weight) as [Tensor, Tensor];
  const [x, wasUnbatched] = batched(op, xi, nsp);
  if (w.ndim !== nsp + 2) fail(op, `weight must have shape [${weightAxes}, ${SPATIAL[nsp - 1]}], got ${fmtShape(w.shape)}`);
  const groups = groupsOpt ?? 1;
  if (!Number.isInteger(groups) || groups < 1) fail(op, `groups must be a positive integer, got ${groups}`);
  return { x, w, wasUnbatched, groups };
}

/** The conv primitive on channels-first operands in one batch group, then the bias, then `unbatch`. */
function convChannelsFirst(op: string, x: Tensor, w: Tensor, g: Omit<ConvP, "batchGroupCount" | "lhsSpec" | "rhsSpec" | "outSpec">, bias: TensorLike | null | undefined, wasUnbatched: boolean): Tensor {
  const canon = range(x.ndim);
  const out = conv(x, w, { ...g, batchGroupCount: 1, lhsSpec: canon, rhsSpec: canon, outSpec: canon });
  return unbatch(addBias(op, out, bias), wasUnbatched);
}

function convNd(op: string, nsp: number, input: TensorLike, weight: TensorLike, bias: TensorLike | null | undefined, opts: ConvOpts): Tensor {
  const { x, w, wasUnbatched, groups } = convOperands(op, nsp, input, weight, "out, in/groups", opts.groups);
  const C = x.shape[1]!, O = w.shape[0]!;
  if (w.shape[1]! * groups !== C) {
    fail(op, `weight ${fmtShape(w.shape)} expects ${w.shape[1]! * groups} input channels (${w.shape[1]} per group x ${groups} groups) but input ${fmtShape(x.shape)} has ${C}`);
  }
  if (O % groups !== 0) fail(op, `weight ${fmtShape(w.shape)} has ${O} output channels, not divisible by groups = ${groups}`);
  const stride = perAxis(op, "stride", opts.stride, nsp, 1);
  const dilation = perAxis(op, "dilation", opts.dilation, nsp, 1);
  const kernel = w.shape.slice(2);
  const padding = padPairs(op, opts.padding, nsp, kernel, dilation, stride);
  kernel.forEach((k, s) => {
    const n = x.shape[2 + s]!;
    if (n + padding[s]![0] + padding[s]![1] < dilation[s]! * (k - 1) + 1) {
      fail(op, `kernel ${fmtShape(kernel)} (dilation ${JSON.stringify(dilation)}) is larger than the padded input ${fmtShape(x.shape)} on spatial axis ${s}`);
    }
  });
  const g = { strides: stride, padding, lhsDilation: Array<number>(nsp).fill(1), rhsDilation: dilation, featureGroupCount: groups };
  return convChannelsFirst(op, x, w, g, bias, wasUnbatched);
}

/**
 * 1-D convolution (cross-correlation, as in PyTorch): input [N, C, W], weight [out, C/groups, kw].
 * @example tr.conv1d(x, w, b, { stride: 2, padding: 1 })
 */
export function conv1d(input: TensorLike, weight: TensorLike, bias?: TensorLike | null, opts: ConvOpts = {}): Tensor {
  return convNd("conv1d", 1, input, weight, bias, opts);
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch): input [N, C, H, W], weight [out, C/groups, kh, kw].
 * @example tr.conv2d(x, w, b, { stride: 1, padding: "same", groups: 1 })
 */
export function conv2d(input: TensorLike, weight: TensorLike, bias?: TensorLike | null, opts: ConvOpts = {}): Tensor {
  return convNd("conv2d", 2, input, weight, bias, opts);
}

/** 3-D convolution: input [N, C, D, H, W], weight [out, C/groups, kd, kh, kw]. */
export function conv3d(input: TensorLike, weight: TensorLike, bias?: TensorLike | null, opts: ConvOpts = {}): Tensor {
  return convNd("conv3d", 3, input, weight, bias, opts);
}

/**
 * Transposed convolution as a convolution of the input dilated by the stride with the flipped kernel,
 * whose in/out channel roles are swapped per group. Output size per axis:
 * (in − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1.
 */
function convTransposeNd(op: string, nsp: number, input: TensorLike, weight: TensorLike, bias: TensorLike | null | undefined, opts: ConvTransposeOpts): Tensor {
  const { x, w, wasUnbatched, groups } = convOperands(op, nsp, input, weight, "in, out/groups", opts.groups);
  const C = x.shape[1]!;
  if (w.shape[0] !== C) fail(op, `weight ${fmtShape(w.shape)} expects ${w.shape[0]} input channels but input ${fmtShape(x.shape)} has ${C}`);
  if (C % groups !== 0) fail(op, `input has ${C} channels, not divisible by groups = ${groups}`);
  const stride = perAxis(op, "stride", opts.stride, nsp, 1);
  const dilation = perAxis(op, "dilation", opts.dilation, nsp, 1);
  const outPad = perAxis(op, "outputPadding", opts.outputPadding, nsp, 0, 0);
  outPad.forEach((p, s) => {
    if (p >= stride[s]! && p >= dilation[s]!) fail(op, `outputPadding ${JSON.stringify(outPad)} must be smaller than either stride ${JSON.stringify(stride)} or dilation ${JSON.stringify(dilation)}`);
  });
  const kernel = w.shape.slice(2);
  const pad = padPairs(op, opts.padding ?? 0, nsp, kernel, dilation, stride);
  const Cg = C / groups, Og = w.shape[1]!;
  // [in, out/g, k] -> [g, out/g, in/g, k] -> [out, in/g, k], flipped in space
  let wk = S.reshape(w, [groups, Cg, Og, ...kernel]);
  wk = S.transpose(wk, [0, 2, 1, ...range(nsp).map((s) => 3 + s)]);
  wk = S.rev(S.reshape(wk, [groups * Og, Cg, ...kernel]), range(nsp).map((s) => 2 + s));
  const padding = kernel.map((k, s) => {
    const dk = dilation[s]! * (k - 1);
    return [dk - pad[s]![0], dk - pad[s]![1] + outPad[s]!] as [number, number];
  });
  kernel.forEach((k, s) => {
    const n = convOutSize(x.shape[2 + s]!, k, 1, padding[s]!, stride[s]!, dilation[s]!);
    if (n <= 0) fail(op, `padding ${JSON.stringify(pad)} leaves no output for input ${fmtShape(x.shape)} and kernel ${fmtShape(kernel)}`);
  });
  const g = { strides: Array<number>(nsp).fill(1), padding, lhsDilation: stride, rhsDilation: dilation, featureGroupCount: groups };
  return convChannelsFirst(op, x, wk, g, bias, wasUnbatched);
}

/** 1-D transposed convolution (PyTorch semantics): input [N, C, W], weight [C, out/groups, kw]. */
export function convTranspose1d(input: TensorLike, weight: TensorLike, bias?: TensorLike | null, opts: ConvTransposeOpts = {}): Tensor {
  return convTransposeNd("convTranspose1d", 1, input, weight, bias, opts);
}

/**
 * 2-D transposed convolution (PyTorch semantics): input [N, C, H, W], weight [C, out/groups, kh, kw].
 * @example tr.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 })
 */
export function convTranspose2d(input: TensorLike, weight: TensorLike, bias?: TensorLike | null, opts: ConvTransposeOpts = {}): Tensor {
  return convTransposeNd("convTranspose2d", 2, input, weight, bias, opts);
}

// ---------------- pooling ----------------

export interface PoolOpts {
  kernelSize: number | readonly number[];
  /** Defaults to the kernel size. */
  stride?: number | readonly number[] | null;
  /** Implicit padding: one size, one per axis, or a [before, after] pair per axis. */
  padding?: number | readonly number[] | readonly (readonly [number, number])[];
  /** Use ceil instead of floor for the output size (windows must still start inside the input or left padding). */
  ceilMode?: boolean;
}
export interface MaxPoolOpts extends PoolOpts {
  dilation?: number | readonly number[];
}
export interface AvgPoolOpts extends PoolOpts {
  /** Count padded positions in the divisor (PyTorch's default, true). */
  countIncludePad?: boolean;
  /** Divide every window by this instead. */
  divisorOverride?: number;
}

interface Windows {
  /** [..., kernel positions, ...out spatial]: every window element stacked on one axis. */
  stacked: Tensor;
  axis: number;
  out: number[];
  pads: [number, number][];
  kernel: number[];
  stride: number[];
  wasUnbatched: boolean;
}

interface Geometry {
  x: Tensor;
  wasUnbatched: boolean;
  kernel: number[];
  stride: number[];
  dilation: number[];
  pads: [number, number][];
  out: number[];
  lead: number;
}

/** Pooling windows: kernel, stride, dilation, padding and output size, checked (PyTorch's rules). */
function geometry(op: string, nsp: number, x0: Tensor, opts: PoolOpts & { dilation?: number | readonly number[] }): Geometry {
  const [x, wasUnbatched] = batched(op, x0, nsp);
  const kernel = perAxis(op, "kernelSize", opts.kernelSize, nsp, 1);
  const stride = opts.stride === null || opts.stride === undefined ? kernel : perAxis(op, "stride", opts.stride, nsp, 1);
  const dilation = perAxis(op, "dilation", opts.dilation, nsp, 1);
  const pads = padPairs(op, opts.padding ?? 0, nsp, kernel, dilation, stride);
  const lead = x.ndim - nsp;
  const inS = x.shape.slice(lead);
  const out = inS.map((n, s) => {
    const [lo, hi] = pads[s]!;
    const span = dilation[s]! * (kernel[s]! - 1) + 1;
    if (lo > span / 2 || hi > span / 2) fail(op, `padding ${JSON.stringify(opts.padding)} must be at most half the kernel size ${JSON.stringify(kernel)}`);
    const room = n + lo + hi - span;
    if (room < 0) fail(op, `kernel ${JSON.stringify(kernel)} is larger than the padded input ${fmtShape(x.shape)}`);
    let o = (opts.ceilMode ? Math.ceil(room / stride[s]!) : Math.floor(room / stride[s]!)) + 1;
    if (opts.ceilMode && (o - 1) * stride[s]! >= n + lo) o--;
    return o;
  });
  return { x, wasUnbatched, kernel, stride, dilation, pads, out, lead };
}

/**
 * Gather pooling windows with strided slices of the padded input, so pooling is a plain reduction of
 * existing primitives (and gets gradients and batching from them).
 */
function windows(op: string, nsp: number, x0: Tensor, opts: PoolOpts & { dilation?: number | readonly number[] }, padValue: number): Windows {
  const { x, wasUnbatched, kernel, stride, dilation, pads, out, lead } = geometry(op, nsp, x0, opts);
  const inS = x.shape.slice(lead);
  // pad far enough on the right for every window (ceil mode may reach past the requested padding)
  const need = out.map((o, s) => (o - 1) * stride[s]! + dilation[s]! * (kernel[s]! - 1) + 1);
  const zeros = range(lead).map(() => 0);
  const hiPad = need.map((m, s) => Math.max(0, m - inS[s]! - pads[s]![0]));
  const xp = S.pad(x, [...zeros, ...pads.map((p) => p[0])], [...zeros, ...hiPad], undefined, padValue);
  const parts: Tensor[] = [];
  const offsets = kernel.reduce<number[][]>((acc, k) => acc.flatMap((o) => range(k).map((i) => [...o, i])), [[]]);
  for (const off of offsets) {
    const start = [...zeros, ...off.map((i, s) => i * dilation[s]!)];
    const limit = [...x.shape.slice(0, lead), ...off.map((i, s) => i * dilation[s]! + (out[s]! - 1) * stride[s]! + 1)];
    const sl = S.slice(xp, start, limit, [...zeros.map(() => 1), ...stride]);
    parts.push(S.reshape(sl, [...sl.shape.slice(0, lead), 1, ...out]));
  }
  return { stacked: S.concatenate(parts, lead), axis: lead, out, pads, kernel, stride, wasUnbatched };
}

// one arg-max kernel and one gather forward; the gradient is one gather-form scatter (core/prims/window.ts)
function maxPoolNd(op: string, nsp: number, input: TensorLike, opts: MaxPoolOpts): Tensor {
  const g = geometry(op, nsp, toTensor(input), opts);
  const p = { kernel: g.kernel, stride: g.stride, dilation: g.dilation, padLo: g.pads.map((q) => q[0]), inShape: g.x.shape.slice(g.lead), outShape: g.out };
  const at = S.stopGradient(windowArgmax(g.x, p));
  return unbatch(windowGather(g.x, at, p, lowest(g.x.dtype)), g.wasUnbatched);
}

function avgPoolNd(op: string, nsp: number, input: TensorLike, opts: AvgPoolOpts): Tensor {
  let x = toTensor(input);
  if (!isFloat(x.dtype)) x = E.convert(x, "float32");
  const w = windows(op, nsp, x, opts, 0);
  const total = R.reduceSum(w.stacked, [w.axis]);
  let divisor: number | Tensor;
  if (opts.divisorOverride !== undefined) divisor = opts.divisorOverride;
  else {
    // per axis, how many window positions count: PyTorch clips windows at the padded edge, and without
    // countIncludePad also at the input edge
    const inS = x.shape.slice(x.ndim - nsp);
    const counts = w.out.map((o, s) =>
      range(o).map((i) => {
        const start = i * w.stride[s]! - w.pads[s]![0], end = Math.min(start + w.kernel[s]!, inS[s]! + w.pads[s]![1]);
        return opts.countIncludePad === false ? Math.min(end, inS[s]!) - Math.max(start, 0) : end - start;
      }),
    );
    const cells = counts.reduce<number[]>((acc, cs) => acc.flatMap((a) => cs.map((v) => a * v)), [1]);
    divisor = cells.every((v) => v === cells[0]) ? cells[0]! : S.reshape(tensor(cells, { dtype: x.dtype }), w.out);
  }
  return unbatch(div(total, divisor), w.wasUnbatched);
}

/** 1-D max pooling over [N, C, W] (PyTorch semantics; padding counts as -inf). */
export function maxPool1d(input: TensorLike, opts: MaxPoolOpts): Tensor {
  return maxPoolNd("maxPool1d", 1, input, opts);
}
/**
 * 2-D max pooling over [N, C, H, W] (PyTorch semantics; padding counts as -inf).
 * @example tr.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 })
 */
export function maxPool2d(input: TensorLike, opts: MaxPoolOpts): Tensor {
  return maxPoolNd("maxPool2d", 2, input, opts);
}
/** 1-D average pooling over [N, C, W] (PyTorch semantics, countIncludePad defaults to true). */
export function avgPool1d(input: TensorLike, opts: AvgPoolOpts): Tensor {
  return avgPoolNd("avgPool1d", 1, input, opts);
}
/**
 * 2-D average pooling over [N, C, H, W] (PyTorch semantics, countIncludePad defaults to true).
 * @example tr.avgPool2d(x, { kernelSize: 2 })
 */
export function avgPool2d(input: TensorLike, opts: AvgPoolOpts): Tensor {
  return avgPoolNd("avgPool2d", 2, input, opts);
}

/**
 * Adaptive average pooling to a fixed output size (PyTorch's window rule: output i averages input
 * [floor(i·n/o), ceil((i+1)·n/o))). Each axis is a contraction with an averaging matrix.
 * @example tr.adaptiveAvgPool2d(x, 1) // global average pooling, [N, C, 1, 1]
 */
export function adaptiveAvgPool2d(input: TensorLike, outputSize: number | readonly (number | null)[]): Tensor {
  let x = toTensor(input);
  if (!isFloat(x.dtype)) x = E.convert(x, "float32");
  const op = "adaptiveAvgPool2d";
  const [xb, wasUnbatched] = batched(op, x, 2);
  const lead = xb.ndim - 2;
  const inS = xb.shape.slice(lead);
  const sizes = typeof outputSize === "number" ? [outputSize, outputSize] : [...outputSize];
  if (sizes.length !== 2) fail(op, `outputSize needs 2 entries, got ${JSON.stringify(outputSize)}`);
  const outS = sizes.map((o, s) => o ?? inS[s]!);
  for (const o of outS) if (!Number.isInteger(o) || o < 1) fail(op, `outputSize must be positive integers, got ${JSON.stringify(outputSize)}`);
  let t = xb;
  outS.forEach((o, s) => {
    const n = inS[s]!;
    const m = new Array<number>(o * n).fill(0);
    for (let i = 0; i < o; i++) {
      const a = Math.floor((i * n) / o), b = Math.ceil(((i + 1) * n) / o);
      for (let j = a; j < b; j++) m[i * n + j] = 1 / (b - a);
    }
    const A = S.reshape(tensor(m, { dtype: x.dtype }), [o, n]);
    // contracting the first remaining spatial axis appends its pooled axis last, so after every axis the order is restored
    t = dotGeneral(t, A, { contract: [[lead], [1]], batch: [[], []] });
  });
  return unbatch(t, wasUnbatched);
}
