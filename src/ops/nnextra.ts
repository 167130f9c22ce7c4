/**
 * More of PyTorch's torch.nn.functional: small activations, distances, margin/likelihood losses,
 * pixel shuffles and scaled_dot_product_attention, all compositions of public ops.
 */
import { isFloat } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { broadcastShapes, normAxis } from "../core/shape.js";
import * as E from "../core/prims/elementwise.js";
import { full as fullPrim } from "../core/prims/constants.js";
import { checkIndexRange } from "../core/prims/indexing.js";
import { Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import {
  abs, add, clip, div, equal, notEqual, exp, greater, less, log, lessEqual, maximum, mean, mul, neg, pow, sigmoid, sqrt, square, sub, sum, tanh, where,
} from "./core.js";
import { matmul, attention } from "./linalg.js";
import { expandDims, reshape, split, transpose } from "./shape.js";
import { takeAlongAxis } from "./indexing.js";
import { elu, logSigmoid, softmax, softplus, leakyRelu, type Reduction, type LossOpts } from "./nn.js";
import { bernoulli, type Key } from "../random/index.js";

function floatT(x: TensorLike): Tensor {
  const t = toTensor(x);
  return isFloat(t.dtype) ? t : E.convert(t, "float32", t.aval.weakType);
}
const lit = (t: Tensor, v: number): Tensor | number => (isFloat(t.dtype) ? fullPrim([], v, t.dtype, true) : v);

function reduce(op: string, loss: Tensor, reduction: string | undefined): Tensor {
  switch (reduction ?? "mean") {
    case "mean": return mean(loss);
    case "sum": return sum(loss);
    case "none": return loss;
  }
  fail(op, `reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}`);
}

// ---------------- activations ----------------

/** x·relu6(x + 3)/6 (PyTorch hardswish). */
export function hardswish(x: TensorLike): Tensor {
  const t = floatT(x);
  const r = clip(add(t, lit(t, 3)), 0, 6);
  return div(mul(t, r), lit(t, 6));
}
/** x / (1 + |x|). */
export function softsign(x: TensorLike): Tensor {
  const t = floatT(x);
  return div(t, add(abs(t), lit(t, 1)));
}
/** x − tanh(x). */
export function tanhshrink(x: TensorLike): Tensor {
  const t = floatT(x);
  return sub(t, tanh(t));
}
/** x where |x| > lambd, else 0 (default lambd 0.5). */
export function hardshrink(x: TensorLike, lambd = 0.5): Tensor {
  const t = floatT(x);
  return where(greater(abs(t), lit(t, lambd)), t, 0);
}
/** x − lambd·sign(x) where |x| > lambd, else 0. */
export function softshrink(x: TensorLike, lambd = 0.5): Tensor {
  if (!(lambd >= 0)) fail("softshrink", `lambd must be non-negative, got ${lambd}`);
  const t = floatT(x);
  const l = lit(t, lambd);
  return where(greater(t, l), sub(t, l), where(less(t, neg(toTensor(l))), add(t, l), 0));
}
/** max(0, x) + min(0, alpha·(exp(x/alpha) − 1)). */
export function celu(x: TensorLike, alpha = 1): Tensor {
  if (alpha === 0) fail("celu", "alpha must be non-zero");
  const t = floatT(x);
  return mul(elu(div(t, lit(t, alpha))), lit(t, alpha));
}
/** Randomized leaky ReLU in evaluation mode: the slope is the mean (lower + upper)/2. */
export function rrelu(x: TensorLike, lower = 1 / 8, upper = 1 / 3): Tensor {
  return leakyRelu(x, (lower + upper) / 2);
}
/** x where x > threshold, else value. */
export function threshold(x: TensorLike, thresholdValue: number, value: number): Tensor {
  const t = floatT(x);
  return where(greater(t, lit(t, thresholdValue)), t, lit(t, value));
}
/** Gated linear unit: a·sigmoid(b) where [a, b] are the halves of x along dim (default -1). */
export function glu(x: TensorLike, dim = -1): Tensor {
  const t = floatT(x);
  if (t.ndim === 0) fail("glu", "input must have at least one axis, got a scalar");
  const ax = normAxis("glu", dim, t.ndim);
  if (t.shape[ax]! % 2 !== 0) fail("glu", `axis ${dim} of input shape ${fmtShape(t.shape)} must have even size, got ${t.shape[ax]}`);
  const [a, b] = split(t, 2, ax) as [Tensor, Tensor];
  return mul(a, sigmoid(b));
}
/** Parametric ReLU: x for x > 0, weight·x otherwise; weight has 1 or C (= input axis 1) elements. */
export function prelu(x: TensorLike, weight: TensorLike): Tensor {
  const t = floatT(x);
  const w = toTensor(weight);
  if (w.ndim > 1) fail("prelu", `weight must be 1-D, got shape ${fmtShape(w.shape)}`);
  let wb: Tensor = w;
  if (w.size !== 1) {
    const c = t.ndim >= 2 ? t.shape[1]! : t.ndim === 1 ? t.shape[0]! : 1;
    if (w.size !== c) fail("prelu", `weight has ${w.size} elements but the input ${fmtShape(t.shape)} has ${c} channels (axis 1)`);
    if (t.ndim >= 2) wb = reshape(w, [c, ...Array<number>(t.ndim - 2).fill(1)]);
  } else wb = reshape(w, []);
  return where(greater(t, 0), t, mul(wb, t));
}
/** log(sigmoid(x)) (PyTorch's name logsigmoid; same as logSigmoid). */
export const logsigmoid = logSigmoid;

// ---------------- distances ----------------

export interface CosineSimilarityOpts {
  /** Axis of the vectors (default 1, as PyTorch). */
  dim?: number;
  /** Lower bound of each vector norm (default 1e-8). */
  eps?: number;
}
/** x1·x2 / (max(‖x1‖, eps)·max(‖x2‖, eps)) along dim; inputs broadcast. */
export function cosineSimilarity(x1: TensorLike, x2: TensorLike, opts: CosineSimilarityOpts = {}): Tensor {
  const a = floatT(x1), b = floatT(x2);
  const shape = broadcastShapes("cosineSimilarity", a.shape, b.shape);
  const ax = normAxis("cosineSimilarity", opts.dim ?? 1, shape.length);
  const eps = opts.eps ?? 1e-8;
  const na = maximum(sqrt(sum(square(a), { axis: ax - (shape.length - a.ndim), keepdims: false })), eps);
  const nb = maximum(sqrt(sum(square(b), { axis: ax - (shape.length - b.ndim), keepdims: false })), eps);
  return div(sum(mul(a, b), { axis: ax }), mul(na, nb));
}

export interface PairwiseDistanceOpts {
  /** Norm degree (default 2). */
  p?: number;
  /** Added to the difference before the norm (default 1e-6). */
  eps?: number;
  keepdim?: boolean;
}
/** ‖x1 − x2 + eps‖_p along the last axis (PyTorch pairwise_distance). */
export function pairwiseDistance(x1: TensorLike, x2: TensorLike, opts: PairwiseDistanceOpts = {}): Tensor {
  const p = opts.p ?? 2;
  const a = floatT(x1), b = toTensor(x2);
  broadcastShapes("pairwiseDistance", a.shape, b.shape);
  const d = add(sub(a, b), opts.eps ?? 1e-6);
  if (d.ndim === 0) fail("pairwiseDistance", "inputs must have at least one axis");
  return pNorm(d, p, -1, opts.keepdim ?? false);
}

function pNorm(d: Tensor, p: number, axis: number, keepdims: boolean): Tensor {
  const a = abs(d);
  if (p === Infinity) return E.convert(reduceMax(a, axis, keepdims), a.dtype);
  if (p === 1) return sum(a, { axis, keepdims });
  if (p === 2) return sqrt(sum(square(d), { axis, keepdims }));
  return pow(sum(pow(a, lit(a, p)), { axis, keepdims }), lit(a, 1 / p));
}
function reduceMax(a: Tensor, axis: number, keepdims: boolean): Tensor {
  return neg(neg(a).min({ axis, keepdims }));
}

export interface NormalizeOpts {
  /** Norm degree (default 2). */
  p?: number;
  /** Axis (default 1). */
  dim?: number;
  /** Lower bound of the norm (default 1e-12). */
  eps?: number;
}
/** x / max(‖x‖_p, eps) along dim (PyTorch F.normalize). */
export function normalize(x: TensorLike, opts: NormalizeOpts = {}): Tensor {
  const t = floatT(x);
  if (t.ndim === 0) fail("normalize", "input must have at least one axis");
  const ax = normAxis("normalize", opts.dim ?? 1, t.ndim);
  return div(t, maximum(pNorm(t, opts.p ?? 2, ax, true), lit(t, opts.eps ?? 1e-12)));
}

// ---------------- losses ----------------

/** Smooth L1: 0.5·d²/beta where |d| < beta, |d| − 0.5·beta beyond (beta 0 is L1). */
export function smoothL1Loss(input: TensorLike, target: TensorLike, opts: LossOpts & { beta?: number } = {}): Tensor {
  const beta = opts.beta ?? 1;
  if (!(beta >= 0)) fail("smoothL1Loss", `beta must be non-negative, got ${beta}`);
  const d = sub(floatT(input), target);
  const a = abs(d);
  const loss = beta === 0 ? a : where(less(a, lit(d, beta)), div(mul(square(d), lit(d, 0.5)), lit(d, beta)), sub(a, lit(d, 0.5 * beta)));
  return reduce("smoothL1Loss", loss, opts.reduction);
}

/** max(0, −y·(x1 − x2) + margin). */
export function marginRankingLoss(x1: TensorLike, x2: TensorLike, y: TensorLike, opts: LossOpts & { margin?: number } = {}): Tensor {
  const d = sub(floatT(x1), x2);
  return reduce("marginRankingLoss", maximum(add(mul(neg(d), y), lit(d, opts.margin ?? 0)), 0), opts.reduction);
}
/** x where y = 1, max(0, margin − x) where y = −1 (and their sum for other labels, as PyTorch). */
export function hingeEmbeddingLoss(input: TensorLike, target: TensorLike, opts: LossOpts & { margin?: number } = {}): Tensor {
  const x = floatT(input);
  const y = toTensor(target);
  const m = lit(x, opts.margin ?? 1);
  // PyTorch's rule for labels other than ±1: both terms apply
  const pos = where(notEqual(y, -1), x, 0);
  const negT = where(notEqual(y, 1), maximum(sub(m, x), 0), 0);
  return reduce("hingeEmbeddingLoss", add(pos, negT), opts.reduction);
}
/** 1 − cos(x1, x2) where y = 1, max(0, cos − margin) where y = −1 (vectors along the last axis). */
export function cosineEmbeddingLoss(x1: TensorLike, x2: TensorLike, target: TensorLike, opts: LossOpts & { margin?: number } = {}): Tensor {
  const a = floatT(x1), b = floatT(x2);
  if (a.ndim < 1 || a.ndim > 2) fail("cosineEmbeddingLoss", `inputs must be 1-D or 2-D, got ${fmtShape(a.shape)}`);
  const eps = 1e-12; // PyTorch's EPSILON, added to the squared norms
  const ax = a.ndim - 1;
  const cos = div(sum(mul(a, b), { axis: ax }), sqrt(mul(add(sum(square(a), { axis: ax }), eps), add(sum(square(b), { axis: ax }), eps))));
  const y = toTensor(target);
  const pos = where(equal(y, 1), sub(1, cos), 0);
  const negT = where(equal(y, -1), maximum(sub(cos, lit(cos, opts.margin ?? 0)), 0), 0);
  return reduce("cosineEmbeddingLoss", add(pos, negT), opts.reduction);
}

export interface TripletMarginOpts extends LossOpts {
  margin?: number;
  p?: number;
  eps?: number;
  /** Use min(d(a, n), d(p, n)) as the negative distance. */
  swap?: boolean;
}
/** max(d(a, p) − d(a, n) + margin, 0) with d the pairwise distance. */
export function tripletMarginLoss(anchor: TensorLike, positive: TensorLike, negative: TensorLike, opts: TripletMarginOpts = {}): Tensor {
  const o = { p: opts.p ?? 2, eps: opts.eps ?? 1e-6 };
  const dp = pairwiseDistance(anchor, positive, o);
  let dn = pairwiseDistance(anchor, negative, o);
  if (opts.swap) dn = E.min(dn, pairwiseDistance(positive, negative, o));
  return reduce("tripletMarginLoss", maximum(add(sub(dp, dn), lit(dp, opts.margin ?? 1)), 0), opts.reduction);
}

export interface PoissonNllOpts extends LossOpts {
  /** The input is log(rate) (default true). */
  logInput?: boolean;
  /** Add the Stirling term target·log(target) − target + 0.5·log(2π·target) where target > 1. */
  full?: boolean;
  eps?: number;
}
/** Poisson negative log-likelihood (PyTorch poisson_nll_loss). */
export function poissonNllLoss(input: TensorLike, target: TensorLike, opts: PoissonNllOpts = {}): Tensor {
  const x = floatT(input);
  const t = floatT(target);
  let loss = opts.logInput ?? true ? sub(exp(x), mul(t, x)) : sub(x, mul(t, log(add(x, lit(x, opts.eps ?? 1e-8)))));
  if (opts.full) {
    const big = greater(t, 1);
    const ts = where(big, t, 1);
    const st = add(sub(mul(ts, log(ts)), ts), mul(log(mul(ts, lit(ts, 2 * Math.PI))), lit(ts, 0.5)));
    loss = add(loss, where(big, st, 0));
  }
  return reduce("poissonNllLoss", loss, opts.reduction);
}

export interface GaussianNllOpts extends LossOpts {
  full?: boolean;
  /** Lower clamp of the variance (default 1e-6); no gradient flows through the clamp. */
  eps?: number;
}
/** 0.5·(log max(var, eps) + (input − target)²/max(var, eps)) (+ 0.5·log 2π when full). */
export function gaussianNllLoss(input: TensorLike, target: TensorLike, variance: TensorLike, opts: GaussianNllOpts = {}): Tensor {
  const x = floatT(input);
  let v = floatT(variance);
  if (v.ndim === x.ndim - 1 && v.shape.every((d, i) => d === x.shape[i])) v = expandDims(v, -1);
  const vs = v.shape, xs = x.shape;
  if (vs.length !== xs.length || vs.some((d, i) => d !== xs[i] && !(d === 1 && i === xs.length - 1))) {
    fail("gaussianNllLoss", `variance ${fmtShape(vs)} must have the input's shape ${fmtShape(xs)}, that shape without its last axis, or a last axis of 1`);
  }
  const eps = opts.eps ?? 1e-6;
  if (!(eps > 0)) fail("gaussianNllLoss", `eps must be positive, got ${eps}`);
  // PyTorch clamps var in a no-grad block: the gradient passes where var >= eps and is 0 below
  const vc = where(less(v, lit(v, eps)), lit(v, eps), v);
  let loss = mul(add(log(vc), div(square(sub(x, target)), vc)), lit(x, 0.5));
  if (opts.full) loss = add(loss, lit(loss, 0.5 * Math.log(2 * Math.PI)));
  return reduce("gaussianNllLoss", loss, opts.reduction);
}

/** log(1 + exp(−y·x)) averaged (PyTorch soft_margin_loss). */
export function softMarginLoss(input: TensorLike, target: TensorLike, opts: LossOpts = {}): Tensor {
  const x = floatT(input);
  return reduce("softMarginLoss", softplus(neg(mul(x, target))), opts.reduction);
}

/** −mean over classes of y·logσ(x) + (1 − y)·logσ(−x), per sample [N, C] (PyTorch multilabel_soft_margin_loss). */
export function multilabelSoftMarginLoss(input: TensorLike, target: TensorLike, opts: LossOpts & { weight?: TensorLike } = {}): Tensor {
  const x = floatT(input);
  if (x.ndim < 1) fail("multilabelSoftMarginLoss", "input must have a class axis");
  let l = neg(add(mul(target, logSigmoid(x)), mul(sub(1, target), logSigmoid(neg(x)))));
  if (opts.weight !== undefined) l = mul(l, opts.weight);
  return reduce("multilabelSoftMarginLoss", mean(l, { axis: -1 }), opts.reduction);
}

export interface MultiMarginOpts extends LossOpts {
  p?: 1 | 2;
  margin?: number;
  weight?: TensorLike;
}
/** Σ_{i≠y} max(0, margin − x[y] + x[i])^p / C per sample (PyTorch multi_margin_loss); input [N, C] or [C]. */
export function multiMarginLoss(input: TensorLike, target: TensorLike, opts: MultiMarginOpts = {}): Tensor {
  let x = floatT(input);
  const p = opts.p ?? 1;
  if (p !== 1 && p !== 2) fail("multiMarginLoss", `p must be 1 or 2, got ${p}`);
  const one = x.ndim === 1;
  if (one) x = expandDims(x, 0);
  if (x.ndim !== 2) fail("multiMarginLoss", `input must be [N, C] or [C], got ${fmtShape(x.shape)}`);
  let y = target instanceof Tensor ? target : toTensor(target, "int32");
  if (one && y.ndim === 0) y = reshape(y, [1]);
  if (y.ndim !== 1 || y.shape[0] !== x.shape[0]) fail("multiMarginLoss", `target must have shape [${x.shape[0]}], got ${fmtShape(y.shape)}`);
  const c = x.shape[1]!;
  checkIndexRange("multiMarginLoss", "target", y, 0, c, `${c} classes`);
  const yi = expandDims(E.convert(y, "int32"), 1);
  const xy = takeAlongAxis(x, yi, 1);
  let m = maximum(add(sub(lit(x, opts.margin ?? 1), xy), x), 0);
  if (p === 2) m = square(m);
  if (opts.weight !== undefined) m = mul(m, takeAlongAxis(expandDims(toTensor(opts.weight), 0), yi, 1));
  const isNot = notEqual(range(c), yi);
  let loss = div(sum(where(isNot, m, 0), { axis: 1 }), lit(x, c));
  if (one) loss = reshape(loss, []);
  return reduce("multiMarginLoss", loss, opts.reduction);
}
const range = (n: number): Tensor => toTensor(Int32Array.from({ length: n }, (_, i) => i), "int32");

// ---------------- pixel shuffle ----------------

/** [N, C·r², H, W] → [N, C, H·r, W·r] (leading batch axes allowed). */
export function pixelShuffle(x: TensorLike, upscaleFactor: number): Tensor {
  const t = toTensor(x);
  const r = upscaleFactor;
  if (!Number.isInteger(r) || r < 1) fail("pixelShuffle", `upscaleFactor must be a positive integer, got ${r}`);
  if (t.ndim < 3) fail("pixelShuffle", `input must have shape [..., C·r², H, W], got ${fmtShape(t.shape)}`);
  const b = t.shape.slice(0, -3);
  const [c, h, w] = t.shape.slice(-3) as [number, number, number];
  if (c % (r * r) !== 0) fail("pixelShuffle", `channels ${c} of input ${fmtShape(t.shape)} must be divisible by upscaleFactor² = ${r * r}`);
  const oc = c / (r * r), k = b.length;
  const y = reshape(t, [...b, oc, r, r, h, w]);
  const perm = [...b.keys(), k, k + 3, k + 1, k + 4, k + 2];
  return reshape(transpose(y, perm), [...b, oc, h * r, w * r]);
}
/** [N, C, H·r, W·r] → [N, C·r², H, W], the inverse of pixelShuffle. */
export function pixelUnshuffle(x: TensorLike, downscaleFactor: number): Tensor {
  const t = toTensor(x);
  const r = downscaleFactor;
  if (!Number.isInteger(r) || r < 1) fail("pixelUnshuffle", `downscaleFactor must be a positive integer, got ${r}`);
  if (t.ndim < 3) fail("pixelUnshuffle", `input must have shape [..., C, H·r, W·r], got ${fmtShape(t.shape)}`);
  const b = t.shape.slice(0, -3);
  const [c, h, w] = t.shape.slice(-3) as [number, number, number];
  if (h % r !== 0 || w % r !== 0) fail("pixelUnshuffle", `height ${h} and width ${w} of input ${fmtShape(t.shape)} must be divisible by downscaleFactor ${r}`);
  const k = b.length;
  const y = reshape(t, [...b, c, h / r, r, w / r, r]);
  const perm = [...b.keys(), k, k + 2, k + 4, k + 1, k + 3];
  return reshape(transpose(y, perm), [...b, c * r * r, h / r, w / r]);
}

// ---------------- attention ----------------

export interface SdpaOpts {
  /** Broadcastable to [..., L, S]: bool (true = take part) or float (added to the scores). */
  attnMask?: TensorLike | null;
  /** Query i attends keys 0..i (top-left aligned, as PyTorch); not together with attnMask. */
  isCausal?: boolean;
  /** Dropout on the attention weights; needs `key`. */
  dropoutP?: number;
  /** PRNG key for dropout. */
  key?: Key;
  /** Score scale; default 1/sqrt(E). */
  scale?: number;
}
/**
 * PyTorch's scaled_dot_product_attention: softmax(q kᵀ·scale + mask) v on q [..., L, E], k [..., S, E],
 * v [..., S, Ev]; the same computation as `attention`, with PyTorch's argument names and dropout.
 * @example tr.scaledDotProductAttention(q, k, v, { isCausal: true })
 */
export function scaledDotProductAttention(q: TensorLike, k: TensorLike, v: TensorLike, opts: SdpaOpts = {}): Tensor {
  const Q = toTensor(q), K = toTensor(k);
  const op = "scaledDotProductAttention";
  if (Q.ndim < 2 || K.ndim < 2) fail(op, `q and k must have shape [..., L, E], got ${fmtShape(Q.shape)} and ${fmtShape(K.shape)}`);
  const L = Q.shape[Q.ndim - 2]!, S = K.shape[K.ndim - 2]!;
  const mask = opts.attnMask === undefined || opts.attnMask === null ? undefined : toTensor(opts.attnMask);
  if (mask && opts.isCausal) fail(op, "attnMask and isCausal cannot both be set");
  if (mask) {
    const ok = mask.ndim >= 0 && (() => {
      try {
        const want = [...Q.shape.slice(0, -2), L, S];
        const got = broadcastShapes(op, mask.shape, want);
        return got.length === want.length && got.every((d, i) => d === want[i]);
      } catch { return false; }
    })();
    if (!ok) fail(op, `attnMask of shape ${fmtShape(mask.shape)} must broadcast to [..., L, S] = ${fmtShape([...Q.shape.slice(0, -2), L, S])}`);
    if (mask.dtype !== "bool" && !isFloat(mask.dtype)) fail(op, `attnMask must be bool or float, got ${mask.dtype}`);
  }
  const p = opts.dropoutP ?? 0;
  if (!(p >= 0 && p < 1)) fail(op, `dropoutP must be in [0, 1), got ${p}`);
  const aOpts = { causal: opts.isCausal ?? false, ...(mask ? { mask } : {}), ...(opts.scale !== undefined ? { scale: opts.scale } : {}) };
  if (p === 0) return attention(Q, K, v, aOpts);
  if (opts.key === undefined) fail(op, "dropoutP > 0 needs a PRNG key: pass { key: tr.random.key(...) }");
  // dropout acts on the weights before they meet v, so compute them here
  const d = Q.shape[Q.ndim - 1]!;
  let s = mul(matmul(Q, transpose(K, [...Array(K.ndim - 2).keys(), K.ndim - 1, K.ndim - 2])), opts.scale ?? 1 / Math.sqrt(d));
  if (opts.isCausal) s = where(lessEqual(toTensor(colIdx(L, S)), toTensor(rowIdx(L, S))), s, -Infinity);
  if (mask) s = mask.dtype === "bool" ? where(mask, s, -Infinity) : add(s, mask);
  const w = softmax(s, -1);
  const keep = bernoulli(opts.key, 1 - p, w.shape);
  return matmul(where(keep, div(w, lit(w, 1 - p)), 0), v);
}
const rowIdx = (L: number, S: number) => toTensor(Array.from({ length: L }, (_, i) => Array<number>(S).fill(i)), "int32");
const colIdx = (L: number, S: number) => toTensor(Array.from({ length: L }, () => Array.from({ length: S }, (_, j) => j)), "int32");

export type { Reduction };
export * from "./resample.js";

// ---------------- Tensor methods ----------------
declare module "../tensor.js" {
  interface Tensor {
    hardswish(): Tensor; softsign(): Tensor; tanhshrink(): Tensor; logsigmoid(): Tensor;
    hardshrink(lambd?: number): Tensor;
    softshrink(lambd?: number): Tensor;
    celu(alpha?: number): Tensor;
    /** Gated linear unit along dim (default -1). */
    glu(dim?: number): Tensor;
  }
}
const methods: Record<string, (x: Tensor, ...a: never[]) => Tensor> = {
  hardswish, softsign, tanhshrink, logsigmoid, hardshrink, softshrink, celu, glu,
};
const proto = Tensor.prototype as unknown as Record<string, unknown>;
for (const [name, f] of Object.entries(methods)) {
  proto[name] = function (this: Tensor, ...a: never[]) {
    return f(this, ...a);
  };
}
