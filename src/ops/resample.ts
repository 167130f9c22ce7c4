/**
 * Resampling and patch ops of torch.nn.functional: interpolate, gridSample, affineGrid, unfold (im2col)
 * and fold (col2im). Index patterns that depend only on shapes are built in JS as constant int32
 * tensors; the data moves through take/takeAlongAxis/scatterAdd, so gradients, vmap and jit follow.
 */
import { isFloat } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { Tensor } from "../tensor.js";
import { fromTypedArray, toTensor, type TensorLike } from "./convert.js";
import { abs, add, clip, floor, greaterEqual, lessEqual, logicalAnd, mul, remainder, sub, where, astype } from "./core.js";
import { zeros } from "./creation.js";
import { matmul } from "./linalg.js";
import { broadcastTo, expandDims, pad, reshape, slice, transpose } from "./shape.js";
import { scatterAdd, take, takeAlongAxis } from "./indexing.js";

function floatT(x: TensorLike): Tensor {
  const t = toTensor(x);
  return isFloat(t.dtype) ? t : astype(t, "float32");
}
const i32 = (v: number[], shape: number[]): Tensor => fromTypedArray(Int32Array.from(v), shape, "int32");
const cst = (v: number[], shape: number[], like: Tensor): Tensor =>
  like.dtype === "float64" ? fromTypedArray(Float64Array.from(v), shape, "float64") : astype(fromTypedArray(Float64Array.from(v), shape, "float64"), like.dtype);

function tuple(op: string, name: string, v: number | readonly number[], n: number): number[] {
  const a = typeof v === "number" ? Array<number>(n).fill(v) : [...v];
  if (a.length !== n) fail(op, `${name} must be a number or ${n} numbers, got ${JSON.stringify(v)}`);
  return a;
}

// ---------------- interpolate ----------------

export type InterpolateMode = "nearest" | "nearest-exact" | "linear" | "bilinear" | "bicubic" | "trilinear";
export interface InterpolateOpts {
  /** Output spatial size (one number for every axis, or one per axis). */
  size?: number | readonly number[];
  /** Multiplier of the spatial size (the output size is floor(in·scale)). */
  scaleFactor?: number | readonly number[];
  /** Default "nearest". */
  mode?: InterpolateMode;
  /** Map the corner pixels' centres onto each other (linear modes only), as PyTorch. */
  alignCorners?: boolean;
}

const RANK: Partial<Record<InterpolateMode, number>> = { linear: 3, bilinear: 4, bicubic: 4, trilinear: 5 };

/**
 * Resize the spatial axes of [N, C, W], [N, C, H, W] or [N, C, D, H, W] (PyTorch F.interpolate).
 * @example tr.interpolate(x, { scaleFactor: 2, mode: "bilinear" })
 */
export function interpolate(x: TensorLike, opts: InterpolateOpts = {}): Tensor {
  const op = "interpolate";
  const mode = opts.mode ?? "nearest";
  // nearest modes only copy values, so integer inputs keep their dtype (as PyTorch)
  let t = mode === "nearest" || mode === "nearest-exact" ? toTensor(x) : floatT(x);
  if (!["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"].includes(mode)) fail(op, `unknown mode ${JSON.stringify(mode)}`);
  if (t.ndim < 3 || t.ndim > 5) fail(op, `input must be [N, C, ...spatial] with 1 to 3 spatial axes, got ${fmtShape(t.shape)}`);
  const want = RANK[mode];
  if (want !== undefined && t.ndim !== want) fail(op, `mode "${mode}" needs a ${want}-D input, got ${fmtShape(t.shape)}`);
  const nsp = t.ndim - 2;
  if ((opts.size === undefined) === (opts.scaleFactor === undefined)) fail(op, "give exactly one of size and scaleFactor");
  if (opts.alignCorners !== undefined && (mode === "nearest" || mode === "nearest-exact")) fail(op, `alignCorners applies to the linear and cubic modes, not "${mode}"`);
  const ins = t.shape.slice(2);
  const scales = opts.scaleFactor === undefined ? null : tuple(op, "scaleFactor", opts.scaleFactor, nsp);
  const outs = opts.size !== undefined ? tuple(op, "size", opts.size, nsp) : ins.map((n, i) => Math.floor(n * scales![i]!));
  if (outs.some((o) => !Number.isInteger(o) || o < 1)) fail(op, `output size must be positive integers, got ${JSON.stringify(outs)}`);
  const ac = opts.alignCorners ?? false;
  for (let i = 0; i < nsp; i++) {
    const ax = i + 2, n = ins[i]!, o = outs[i]!;
    // PyTorch's source-index scale: the given scale factor's reciprocal when there is one
    const sc = scales ? 1 / scales[i]! : n / o;
    if (mode === "nearest" || mode === "nearest-exact") {
      const off = mode === "nearest" ? 0 : 0.5;
      const idx = Array.from({ length: o }, (_, j) => Math.min(Math.floor((j + off) * sc), n - 1));
      t = take(t, i32(idx, [o]), ax);
      continue;
    }
    const lin = ac ? (o > 1 ? (n - 1) / (o - 1) : 0) : sc;
    const src = (j: number) => (ac ? j * lin : (j + 0.5) * lin - 0.5);
    const bshape = Array<number>(t.ndim).fill(1);
    bshape[ax] = o;
    if (mode === "bicubic") {
      const A = -0.75;
      const c1 = (u: number) => ((A + 2) * u - (A + 3)) * u * u + 1;
      const c2 = (u: number) => ((A * u - 5 * A) * u + 8 * A) * u - 4 * A;
      let acc: Tensor | null = null;
      for (let k = 0; k < 4; k++) {
        const idx: number[] = [], w: number[] = [];
        for (let j = 0; j < o; j++) {
          const s = src(j), f = Math.floor(s), u = s - f;
          idx.push(Math.min(Math.max(f - 1 + k, 0), n - 1));
          w.push([c2(u + 1), c1(u), c1(1 - u), c2(2 - u)][k]!);
        }
        const term = mul(take(t, i32(idx, [o]), ax), cst(w, bshape, t));
        acc = acc ? add(acc, term) : term;
      }
      t = acc!;
      continue;
    }
    const i0: number[] = [], i1: number[] = [], w1: number[] = [];
    for (let j = 0; j < o; j++) {
      const s = Math.max(src(j), 0);
      const f = Math.min(Math.floor(s), n - 1);
      i0.push(f);
      i1.push(Math.min(f + 1, n - 1));
      w1.push(s - f);
    }
    const a = take(t, i32(i0, [o]), ax), b = take(t, i32(i1, [o]), ax);
    const wt = cst(w1, bshape, t);
    t = add(a, mul(sub(b, a), wt));
  }
  return t;
}

// ---------------- unfold / fold ----------------

export interface UnfoldOpts {
  dilation?: number | readonly number[];
  padding?: number | readonly number[];
  stride?: number | readonly number[];
}

function patchIndex(op: string, hw: [number, number], kernelSize: number | readonly number[], opts: UnfoldOpts) {
  const k = tuple(op, "kernelSize", kernelSize, 2), d = tuple(op, "dilation", opts.dilation ?? 1, 2);
  const p = tuple(op, "padding", opts.padding ?? 0, 2), s = tuple(op, "stride", opts.stride ?? 1, 2);
  if ([...k, ...d, ...s].some((v) => !Number.isInteger(v) || v < 1) || p.some((v) => !Number.isInteger(v) || v < 0)) {
    fail(op, `kernelSize, dilation and stride must be positive integers and padding non-negative, got ${JSON.stringify({ kernelSize, ...opts })}`);
  }
  const hp = hw[0] + 2 * p[0]!, wp = hw[1] + 2 * p[1]!;
  const oh = Math.floor((hp - d[0]! * (k[0]! - 1) - 1) / s[0]!) + 1, ow = Math.floor((wp - d[1]! * (k[1]! - 1) - 1) / s[1]!) + 1;
  if (oh < 1 || ow < 1) fail(op, `the ${k[0]}x${k[1]} kernel (dilation ${d}) does not fit the padded ${hp}x${wp} input`);
  const idx: number[] = [];
  for (let a = 0; a < k[0]!; a++) for (let b = 0; b < k[1]!; b++) {
    for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) idx.push((i * s[0]! + a * d[0]!) * wp + j * s[1]! + b * d[1]!);
  }
  return { idx, kk: k[0]! * k[1]!, L: oh * ow, hp, wp, p };
}

/**
 * im2col (PyTorch F.unfold): sliding kernelSize patches of [N, C, H, W] as [N, C·kh·kw, L].
 * @example tr.unfold(x, 3, { padding: 1 }) // [N, C*9, H*W]
 */
export function unfold(x: TensorLike, kernelSize: number | readonly number[], opts: UnfoldOpts = {}): Tensor {
  const t = toTensor(x);
  const batched = t.ndim === 4;
  if (t.ndim !== 3 && t.ndim !== 4) fail("unfold", `input must be [N, C, H, W] or [C, H, W], got ${fmtShape(t.shape)}`);
  const x4 = batched ? t : expandDims(t, 0);
  const [n, c, h, w] = x4.shape as [number, number, number, number];
  const { idx, kk, L, hp, wp, p } = patchIndex("unfold", [h, w], kernelSize, opts);
  const padded = pad(x4, [[0, 0], [0, 0], [p[0]!, p[0]!], [p[1]!, p[1]!]]);
  const cols = take(reshape(padded, [n, c, hp * wp]), i32(idx, [kk * L]), 2);
  const out = reshape(cols, [n, c * kk, L]);
  return batched ? out : reshape(out, [c * kk, L]);
}

/**
 * col2im (PyTorch F.fold): sums the [N, C·kh·kw, L] patches back into [N, C, H, W]; the adjoint of unfold.
 */
export function fold(x: TensorLike, outputSize: number | readonly number[], kernelSize: number | readonly number[], opts: UnfoldOpts = {}): Tensor {
  const t = toTensor(x);
  const batched = t.ndim === 3;
  if (t.ndim !== 2 && t.ndim !== 3) fail("fold", `input must be [N, C·kh·kw, L] or [C·kh·kw, L], got ${fmtShape(t.shape)}`);
  const x3 = batched ? t : expandDims(t, 0);
  const [h, w] = tuple("fold", "outputSize", outputSize, 2) as [number, number];
  const { idx, kk, L, hp, wp, p } = patchIndex("fold", [h, w], kernelSize, opts);
  const [n, ckk, l] = x3.shape as [number, number, number];
  if (ckk % kk !== 0) fail("fold", `axis 1 of input ${fmtShape(t.shape)} must be divisible by the kernel size product ${kk}`);
  if (l !== L) fail("fold", `input ${fmtShape(t.shape)} has ${l} blocks but outputSize ${h}x${w} with this kernel gives ${L}`);
  const c = ckk / kk;
  const src = reshape(x3, [n, c, kk * L]);
  const ix = broadcastTo(reshape(i32(idx, [kk * L]), [1, 1, kk * L]), [n, c, kk * L]);
  const img = reshape(scatterAdd(zeros([n, c, hp * wp], src.dtype), ix, src, 2), [n, c, hp, wp]);
  const out = slice(img, [null, null, [p[0]!, p[0]! + h], [p[1]!, p[1]! + w]]);
  return batched ? out : reshape(out, [c, h, w]);
}

// ---------------- gridSample / affineGrid ----------------

export interface GridSampleOpts {
  mode?: "bilinear" | "nearest";
  paddingMode?: "zeros" | "border" | "reflection";
  alignCorners?: boolean;
}

/** Reflect coordinate c into [lo, hi] (given doubled, as integer bounds), then clip. */
function reflect(c: Tensor, twiceLo: number, twiceHi: number): Tensor {
  if (twiceLo === twiceHi) return mul(c, 0);
  const lo = twiceLo / 2, span = (twiceHi - twiceLo) / 2;
  const a = abs(sub(c, lo));
  const extra = remainder(a, span);
  const flips = floor(mul(a, 1 / span));
  const even = remainder(flips, 2);
  return where(lessEqual(even, 0.5), add(extra, lo), add(sub(span, extra), lo));
}

/**
 * Samples [N, C, H, W] at the normalized (x, y) ∈ [−1, 1] points of grid [N, Ho, Wo, 2] (PyTorch
 * F.grid_sample, 2-D); gradients flow to the input and the grid.
 */
export function gridSample(input: TensorLike, grid: TensorLike, opts: GridSampleOpts = {}): Tensor {
  const op = "gridSample";
  const x = floatT(input), g = floatT(grid);
  if (x.ndim !== 4) fail(op, `input must be [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (g.ndim !== 4 || g.shape[3] !== 2 || g.shape[0] !== x.shape[0]) fail(op, `grid must be [N, Ho, Wo, 2] with N = ${x.shape[0]}, got ${fmtShape(g.shape)}`);
  const mode = opts.mode ?? "bilinear", pm = opts.paddingMode ?? "zeros", ac = opts.alignCorners ?? false;
  if (mode !== "bilinear" && mode !== "nearest") fail(op, `mode must be "bilinear" or "nearest", got ${JSON.stringify(mode)}`);
  if (!["zeros", "border", "reflection"].includes(pm)) fail(op, `paddingMode must be "zeros", "border" or "reflection", got ${JSON.stringify(pm)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, ho, wo] = g.shape as [number, number, number, number];
  const coord = (axis: 0 | 1, size: number): Tensor => {
    const v = reshape(slice(g, [null, null, null, [axis, axis + 1]]), [n, ho * wo]);
    let u = ac ? mul(add(v, 1), (size - 1) / 2) : mul(sub(mul(add(v, 1), size), 1), 0.5);
    if (pm === "border") u = clip(u, 0, size - 1);
    else if (pm === "reflection") u = clip(ac ? reflect(u, 0, 2 * (size - 1)) : reflect(u, -1, 2 * size - 1), 0, size - 1);
    return u;
  };
  const ix = coord(0, w), iy = coord(1, h);
  const flat = reshape(x, [n, c, h * w]);
  const tap = (xi: Tensor, yi: Tensor): Tensor => {
    // out-of-range taps read a clamped position and are zeroed by the validity mask
    const ok = logicalAnd(logicalAnd(greaterEqual(xi, 0), lessEqual(xi, w - 1)), logicalAnd(greaterEqual(yi, 0), lessEqual(yi, h - 1)));
    const lin = add(mul(clip(yi, 0, h - 1), w), clip(xi, 0, w - 1));
    const id = broadcastTo(expandDims(astype(lin, "int32"), 1), [n, c, ho * wo]);
    return where(expandDims(ok, 1), takeAlongAxis(flat, id, 2), 0);
  };
  let out: Tensor;
  if (mode === "nearest") {
    // round half to even, as PyTorch's nearbyint
    out = tap(roundEven(ix), roundEven(iy));
  } else {
    const x0 = floor(ix), y0 = floor(iy);
    const x1 = add(x0, 1), y1 = add(y0, 1);
    const wx1 = sub(ix, x0), wy1 = sub(iy, y0);
    const wx0 = sub(1, wx1), wy0 = sub(1, wy1);
    const e = (t: Tensor) => expandDims(t, 1);
    out = add(
      add(mul(tap(x0, y0), e(mul(wx0, wy0))), mul(tap(x1, y0), e(mul(wx1, wy0)))),
      add(mul(tap(x0, y1), e(mul(wx0, wy1))), mul(tap(x1, y1), e(mul(wx1, wy1)))),
    );
  }
  return reshape(out, [n, c, ho, wo]);
}
function roundEven(t: Tensor): Tensor {
  const f = floor(t), d = sub(t, f);
  const up = where(greaterEqual(d, 0.5), 1, 0);
  const tie = where(lessEqual(abs(sub(d, 0.5)), 0), 1, 0);
  // at an exact tie go to the even neighbour
  const evenF = lessEqual(remainder(f, 2), 0.5);
  return add(f, where(logicalAnd(greaterEqual(tie, 1), evenF), 0, up));
}

/**
 * The [N, H, W, 2] sampling grid of the affine maps theta [N, 2, 3] for an output of size [N, C, H, W]
 * (PyTorch F.affine_grid, 2-D).
 */
export function affineGrid(theta: TensorLike, size: readonly number[], opts: { alignCorners?: boolean } = {}): Tensor {
  const th = floatT(theta);
  if (size.length !== 4) fail("affineGrid", `size must be [N, C, H, W], got ${JSON.stringify(size)}`);
  const [n, , h, w] = size as [number, number, number, number];
  if (th.ndim !== 3 || th.shape[0] !== n || th.shape[1] !== 2 || th.shape[2] !== 3) fail("affineGrid", `theta must be [${n}, 2, 3], got ${fmtShape(th.shape)}`);
  const ac = opts.alignCorners ?? false;
  const lin = (m: number) => Array.from({ length: m }, (_, i) => (m === 1 ? 0 : ((2 * i) / (m - 1) - 1) * (ac ? 1 : (m - 1) / m)));
  const xs = lin(w), ys = lin(h);
  const base: number[] = [];
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) base.push(xs[j]!, ys[i]!, 1);
  const b = cst(base, [1, h * w, 3], th);
  return reshape(matmul(b, transpose(th, [0, 2, 1])), [n, h, w, 2]);
}
