import { isFloat, isInt, type DType } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { normAxes, normAxis } from "../core/shape.js";
import * as E from "../core/prims/elementwise.js";
import { stopGradient } from "../core/prims/structural.js";
import { checkIndexRange } from "../core/prims/indexing.js";
import { full as fullPrim } from "../core/prims/constants.js";
import { Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import {
  abs, add, div, erf, exp, expm1, greater, greaterEqual, isfinite, lessEqual, log, log1p, logsumexp, max, maximum,
  mean, mul, neg, notEqual, rsqrt, sigmoid, square, sub, sum, tanh, where,
} from "./core.js";
import { expandDims, reshape, squeeze } from "./shape.js";
import { takeAlongAxis } from "./indexing.js";

/** Integer inputs of transcendental activations compute in float32 (as the elementwise ops do). */
function floatT(x: TensorLike): Tensor {
  const t = toTensor(x);
  return isFloat(t.dtype) ? t : E.convert(t, "float32", t.aval.weakType);
}

/**
 * A JS constant as a weak scalar of t's float dtype. A bare JS float becomes a float32 weak scalar, which
 * would round constants like 0.044715 before they meet a float64 tensor.
 */
const lit = (t: Tensor, v: number): Tensor | number => (isFloat(t.dtype) ? fullPrim([], v, t.dtype, true) : v);

// ---------------- activations ----------------
// Piecewise activations use `where` on a strict comparison so the gradient at a kink is PyTorch's.

/** max(x, 0), with gradient 0 at 0 (PyTorch). */
export function relu(x: TensorLike): Tensor {
  const t = toTensor(x);
  return where(greater(t, 0), t, 0);
}

/** min(max(x, minVal), maxVal); the gradient is 1 strictly inside the interval, 0 elsewhere. */
export function hardTanh(x: TensorLike, minVal = -1, maxVal = 1): Tensor {
  const t = toTensor(x);
  const lo = lit(t, minVal), hi = lit(t, maxVal);
  return where(lessEqual(t, lo), lo, where(greaterEqual(t, hi), hi, t));
}

/** min(max(x, 0), 6). */
export const relu6 = (x: TensorLike): Tensor => hardTanh(x, 0, 6);

/** x for x > 0, negativeSlope·x otherwise. */
export function leakyRelu(x: TensorLike, negativeSlope = 0.01): Tensor {
  const t = toTensor(x);
  return where(greater(t, 0), t, mul(t, lit(t, negativeSlope)));
}

/** x for x > 0, alpha·(exp(x) − 1) otherwise. */
export function elu(x: TensorLike, alpha = 1): Tensor {
  const t = floatT(x);
  const pos = greater(t, 0);
  // exp only sees the non-positive part, so the unused branch cannot overflow into a NaN gradient
  const negPart = where(pos, 0, t);
  return where(pos, t, mul(expm1(negPart), lit(t, alpha)));
}

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;
/** Scaled ELU with the self-normalising constants of Klambauer et al. */
export function selu(x: TensorLike): Tensor {
  const e = elu(x, SELU_ALPHA);
  return mul(e, lit(e, SELU_SCALE));
}

export interface GeluOpts {
  /** "none": the exact erf form (default); "tanh": the tanh approximation. */
  approximate?: "none" | "tanh";
}
/** Gaussian error linear unit: x·Φ(x). */
export function gelu(x: TensorLike, opts: GeluOpts = {}): Tensor {
  const t = floatT(x);
  const approx = opts.approximate ?? "none";
  if (approx === "tanh") {
    const inner = mul(add(t, mul(mul(square(t), t), lit(t, 0.044715))), lit(t, Math.sqrt(2 / Math.PI)));
    return mul(mul(t, lit(t, 0.5)), add(tanh(inner), 1));
  }
  if (approx !== "none") fail("gelu", `approximate must be "none" or "tanh", got ${JSON.stringify(approx)}`);
  return mul(mul(t, lit(t, 0.5)), add(erf(mul(t, lit(t, Math.SQRT1_2))), 1));
}
/** gelu with the tanh approximation. */
export const geluTanh = (x: TensorLike): Tensor => gelu(x, { approximate: "tanh" });

/** x·sigmoid(x) (swish). */
export function silu(x: TensorLike): Tensor {
  const t = floatT(x);
  return mul(t, sigmoid(t));
}

export interface SoftplusOpts {
  /** softplus(βx)/β (default 1). */
  beta?: number;
}
/** log(1 + exp(x)), computed as max(x, 0) + log1p(exp(−|x|)) so it never overflows. */
export function softplus(x: TensorLike, opts: SoftplusOpts = {}): Tensor {
  const beta = opts.beta ?? 1;
  let t = floatT(x);
  if (beta !== 1) t = mul(t, lit(t, beta));
  const r = add(maximum(t, 0), log1p(exp(neg(abs(t)))));
  return beta !== 1 ? div(r, lit(r, beta)) : r;
}

/** x·tanh(softplus(x)). */
export function mish(x: TensorLike): Tensor {
  const t = floatT(x);
  return mul(t, tanh(softplus(t)));
}

/** log(sigmoid(x)) = −softplus(−x), finite for any x. */
export const logSigmoid = (x: TensorLike): Tensor => neg(softplus(neg(floatT(x))));

/** relu6(x + 3) / 6 (PyTorch's piecewise-linear sigmoid). */
export function hardSigmoid(x: TensorLike): Tensor {
  const t = floatT(x);
  return where(lessEqual(t, -3), 0, where(greaterEqual(t, 3), 1, add(div(t, 6), lit(t, 0.5))));
}

export interface AxisOpts {
  axis?: number;
}
const axisArg = (a: AxisOpts | number | undefined): number => (typeof a === "number" ? a : (a?.axis ?? -1));

/** exp(x) / sum(exp(x)) along an axis (default -1), shifted by the maximum so it cannot overflow. */
export function softmax(x: TensorLike, opts: AxisOpts | number = {}): Tensor {
  const t = floatT(x);
  const ax = normAxis("softmax", axisArg(opts), t.ndim);
  if (t.shape[ax] === 0) return t;
  // the shift does not change the value, so it needs no gradient; an infinite max would make inf − inf
  const m = stopGradient(max(t, { axis: ax, keepdims: true }));
  const e = exp(sub(t, where(isfinite(m), m, 0)));
  return div(e, sum(e, { axis: ax, keepdims: true }));
}

/** x − logsumexp(x) along an axis (default -1): exact for logits of any magnitude. */
export function logSoftmax(x: TensorLike, opts: AxisOpts | number = {}): Tensor {
  const t = floatT(x);
  const ax = normAxis("logSoftmax", axisArg(opts), t.ndim);
  if (t.shape[ax] === 0) return t;
  return sub(t, logsumexp(t, { axis: ax, keepdims: true }));
}

// ---------------- normalisation ----------------
/** An affine parameter whose shape is x's shape on `axes`, reshaped to broadcast against x. */
function affine(op: string, arg: string, p: TensorLike, x: Tensor, axes: readonly number[]): Tensor {
  const t = toTensor(p);
  const want = axes.map((a) => x.shape[a]!);
  if (t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
    fail(op, `${arg} must have shape ${fmtShape(want)} (input ${fmtShape(x.shape)} on axes ${fmtShape(axes)}), got ${fmtShape(t.shape)}`);
  }
  return reshape(t, x.shape.map((d, i) => (axes.includes(i) ? d : 1)));
}

/** (x − mean) / sqrt(var + eps) over `axes`, with the biased variance. */
function standardize(t: Tensor, axes: number[], eps: number): Tensor {
  const mu = mean(t, { axis: axes, keepdims: true });
  const d = sub(t, mu);
  const v = mean(square(d), { axis: axes, keepdims: true });
  return mul(d, rsqrt(add(v, lit(v, eps))));
}

function applyAffine(op: string, y: Tensor, x: Tensor, axes: number[], weight?: TensorLike | null, bias?: TensorLike | null): Tensor {
  if (weight !== undefined && weight !== null) y = mul(y, affine(op, "weight", weight, x, axes));
  if (bias !== undefined && bias !== null) y = add(y, affine(op, "bias", bias, x, axes));
  return y;
}

export interface NormOpts {
  /** Axis or axes normalised over (default -1); weight and bias have x's shape on them. */
  axis?: number | number[];
  /** Added to the variance (default 1e-5). */
  eps?: number;
}
/** Layer normalisation over `axis` (PyTorch layer_norm with normalized_shape = those axes). */
export function layerNorm(x: TensorLike, weight?: TensorLike | null, bias?: TensorLike | null, opts: NormOpts = {}): Tensor {
  const t = floatT(x);
  const axes = normAxes("layerNorm", opts.axis ?? -1, t.ndim);
  return applyAffine("layerNorm", standardize(t, axes, opts.eps ?? 1e-5), t, axes, weight, bias);
}

const machineEps = (dt: DType): number => (dt === "float64" ? 2.220446049250313e-16 : dt === "float16" ? 0.0009765625 : dt === "bfloat16" ? 0.0078125 : 1.1920928955078125e-7);
/** x / sqrt(mean(x²) + eps) over `axis` (default -1), times weight; eps defaults to the dtype's epsilon (PyTorch). */
export function rmsNorm(x: TensorLike, weight?: TensorLike | null, opts: NormOpts = {}): Tensor {
  const t = floatT(x);
  const axes = normAxes("rmsNorm", opts.axis ?? -1, t.ndim);
  const y = mul(t, rsqrt(add(mean(square(t), { axis: axes, keepdims: true }), lit(t, opts.eps ?? machineEps(t.dtype)))));
  return applyAffine("rmsNorm", y, t, axes, weight, null);
}

export interface BatchNormOpts {
  /** The channel axis (default 1); statistics are over all the others. */
  axis?: number;
  eps?: number;
}
/** Batch normalisation with the batch's own statistics (biased variance), as in training mode. */
export function batchNormTrain(x: TensorLike, weight?: TensorLike | null, bias?: TensorLike | null, opts: BatchNormOpts = {}): Tensor {
  const t = floatT(x);
  const ax = normAxis("batchNormTrain", opts.axis ?? 1, t.ndim);
  const axes = t.shape.map((_, i) => i).filter((i) => i !== ax);
  return applyAffine("batchNormTrain", standardize(t, axes, opts.eps ?? 1e-5), t, [ax], weight, bias);
}

/** Group normalisation of x [N, C, ...] in numGroups groups of channels; weight and bias are per channel [C]. */
export function groupNorm(x: TensorLike, numGroups: number, weight?: TensorLike | null, bias?: TensorLike | null, opts: { eps?: number } = {}): Tensor {
  const t = floatT(x);
  if (t.ndim < 2) fail("groupNorm", `input must be [N, C, ...], got shape ${fmtShape(t.shape)}`);
  const [n, ch] = t.shape as [number, number];
  if (!Number.isInteger(numGroups) || numGroups < 1 || ch % numGroups !== 0) {
    fail("groupNorm", `numGroups ${numGroups} must be a positive divisor of the channel count ${ch} (input ${fmtShape(t.shape)})`);
  }
  const g = reshape(t, [n, numGroups, -1]);
  const y = reshape(standardize(g, [2], opts.eps ?? 1e-5), t.shape);
  return applyAffine("groupNorm", y, t, [1], weight, bias);
}

// ---------------- losses ----------------
export type Reduction = "mean" | "sum" | "none";
function reduce(op: string, loss: Tensor, reduction: string | undefined): Tensor {
  switch (reduction ?? "mean") {
    case "mean": return mean(loss);
    case "sum": return sum(loss);
    case "none": return loss;
  }
  fail(op, `reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}`);
}

export interface LossOpts {
  reduction?: Reduction;
}
export interface ClassLossOpts extends LossOpts {
  /** The class axis of the input (default -1; PyTorch puts it at 1 for [N, C, d1, ...] inputs). */
  axis?: number;
  /** Targets equal to this class index contribute nothing, and "mean" averages over the others. */
  ignoreIndex?: number;
}
export interface CrossEntropyOpts extends ClassLossOpts {
  /** Mix the target with the uniform distribution: (1 − ε)·target + ε/C. */
  labelSmoothing?: number;
}

/** Integer class labels for an input of shape `shape` with its class axis removed. */
function classLabels(op: string, target: TensorLike, shape: readonly number[], ax: number, ignoreIndex: number | undefined): Tensor {
  const want = shape.filter((_, i) => i !== ax);
  const t = target instanceof Tensor ? target : toTensor(target, "int32");
  if (!isInt(t.dtype)) fail(op, `class labels must be integers, got ${t.dtype}`);
  if (t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
    fail(op, `target shape ${fmtShape(t.shape)} must be the input shape ${fmtShape(shape)} without its class axis ${ax}: ${fmtShape(want)}`);
  }
  checkIndexRange(op, "target", t, 0, shape[ax]!, `${shape[ax]} classes`, ignoreIndex);
  return E.convert(t, "int32");
}

/** −logp[label] per sample, with ignored samples masked out; returns [loss, valid mask or null]. */
function pickNll(logp: Tensor, labels: Tensor, ax: number, ignoreIndex: number | undefined, smoothing: number): [Tensor, Tensor | null] {
  const valid = ignoreIndex === undefined ? null : notEqual(labels, ignoreIndex);
  const safe = valid ? where(valid, labels, 0) : labels;
  const picked = squeeze(takeAlongAxis(logp, expandDims(safe, ax), ax), ax);
  let loss = neg(picked);
  if (smoothing > 0) loss = add(mul(loss, lit(loss, 1 - smoothing)), mul(neg(mean(logp, { axis: ax })), lit(loss, smoothing)));
  if (valid) loss = where(valid, loss, 0);
  return [loss, valid];
}

function reduceClassLoss(op: string, loss: Tensor, valid: Tensor | null, reduction: string | undefined): Tensor {
  // PyTorch's "mean" skips ignored samples (and is NaN when every sample is ignored)
  if (valid && (reduction ?? "mean") === "mean") return div(sum(loss), sum(E.convert(valid, loss.dtype)));
  return reduce(op, loss, reduction);
}

/**
 * Cross-entropy of logits against integer class labels (shape of the logits without the class axis) or
 * class probabilities (the logits' shape), as PyTorch's cross_entropy; computed from logSoftmax.
 */
export function crossEntropy(logits: TensorLike, target: TensorLike, opts: CrossEntropyOpts = {}): Tensor {
  const x = floatT(logits);
  if (x.ndim === 0) fail("crossEntropy", "logits must have a class axis, got a scalar");
  const ax = normAxis("crossEntropy", opts.axis ?? -1, x.ndim);
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) fail("crossEntropy", `labelSmoothing must be in [0, 1], got ${eps}`);
  const logp = logSoftmax(x, { axis: ax });
  // JS arrays are labels unless they have the logits' rank (then they are probabilities)
  let tt = target instanceof Tensor ? target : toTensor(target);
  if (!(target instanceof Tensor) && tt.ndim !== x.ndim) tt = toTensor(target, "int32");
  const probs = isFloat(tt.dtype) && tt.ndim === x.ndim;
  if (!probs) {
    const labels = classLabels("crossEntropy", tt, x.shape, ax, opts.ignoreIndex);
    const [loss, valid] = pickNll(logp, labels, ax, opts.ignoreIndex, eps);
    return reduceClassLoss("crossEntropy", loss, valid, opts.reduction);
  }
  if (tt.shape.some((d, i) => d !== x.shape[i])) fail("crossEntropy", `probability targets must have the logits' shape ${fmtShape(x.shape)}, got ${fmtShape(tt.shape)}`);
  if (opts.ignoreIndex !== undefined) fail("crossEntropy", "ignoreIndex applies to class-index targets, not probabilities");
  const c = x.shape[ax]!;
  const p = eps > 0 ? add(mul(tt, lit(tt, 1 - eps)), lit(tt, eps / c)) : tt;
  return reduce("crossEntropy", neg(sum(mul(p, logp), { axis: ax })), opts.reduction);
}

/** Negative log-likelihood of log-probabilities at integer class labels (PyTorch nll_loss). */
export function nllLoss(logProbs: TensorLike, target: TensorLike, opts: ClassLossOpts = {}): Tensor {
  const x = floatT(logProbs);
  if (x.ndim === 0) fail("nllLoss", "input must have a class axis, got a scalar");
  const ax = normAxis("nllLoss", opts.axis ?? -1, x.ndim);
  const labels = classLabels("nllLoss", target, x.shape, ax, opts.ignoreIndex);
  const [loss, valid] = pickNll(x, labels, ax, opts.ignoreIndex, 0);
  return reduceClassLoss("nllLoss", loss, valid, opts.reduction);
}

/** Mean squared error (input and target broadcast). */
export const mseLoss = (input: TensorLike, target: TensorLike, opts: LossOpts = {}): Tensor =>
  reduce("mseLoss", square(sub(floatT(input), target)), opts.reduction);

/** Mean absolute error. */
export const l1Loss = (input: TensorLike, target: TensorLike, opts: LossOpts = {}): Tensor =>
  reduce("l1Loss", abs(sub(floatT(input), target)), opts.reduction);

/** Huber loss: ½d² where |d| < delta, delta·(|d| − ½delta) beyond. */
export function huberLoss(input: TensorLike, target: TensorLike, opts: LossOpts & { delta?: number } = {}): Tensor {
  const delta = opts.delta ?? 1;
  if (!(delta > 0)) fail("huberLoss", `delta must be positive, got ${delta}`);
  const d = sub(floatT(input), target);
  const a = abs(d);
  const dl = lit(d, delta);
  const loss = where(greaterEqual(a, dl), mul(sub(a, lit(d, 0.5 * delta)), dl), mul(square(d), lit(d, 0.5)));
  return reduce("huberLoss", loss, opts.reduction);
}

export interface BceOpts extends LossOpts {
  /** Rescales each element's loss (broadcast against the input). */
  weight?: TensorLike;
}
/** Binary cross-entropy of probabilities; each log is clamped at −100 as in PyTorch. */
export function binaryCrossEntropy(input: TensorLike, target: TensorLike, opts: BceOpts = {}): Tensor {
  const p = floatT(input);
  // log of a clamped argument so that p = 0 or 1 gives −100 with a finite gradient
  const lo = Math.exp(-100);
  const clampedLog = (q: Tensor) => {
    const ok = greater(q, lo);
    return where(ok, log(where(ok, q, 1)), -100);
  };
  let loss = neg(add(mul(target, clampedLog(p)), mul(sub(1, target), clampedLog(sub(1, p)))));
  if (opts.weight !== undefined) loss = mul(loss, opts.weight);
  return reduce("binaryCrossEntropy", loss, opts.reduction);
}

export interface BceLogitsOpts extends BceOpts {
  /** Weight of the positive term, broadcast along the last axis (PyTorch pos_weight). */
  posWeight?: TensorLike;
}
/**
 * Binary cross-entropy on logits: (1 − t)·x + (1 + (w − 1)·t)·softplus(−x), which never evaluates
 * exp of a large positive number.
 */
export function binaryCrossEntropyWithLogits(logits: TensorLike, target: TensorLike, opts: BceLogitsOpts = {}): Tensor {
  const x = floatT(logits);
  const spNeg = softplus(neg(x));
  const pw = typeof opts.posWeight === "number" ? lit(x, opts.posWeight) : opts.posWeight;
  const coef = pw === undefined ? 1 : add(mul(sub(pw, 1), target), 1);
  let loss = add(mul(sub(1, target), x), mul(coef, spNeg));
  if (opts.weight !== undefined) loss = mul(loss, opts.weight);
  return reduce("binaryCrossEntropyWithLogits", loss, opts.reduction);
}

export interface KlDivOpts {
  /** "mean" (over elements, default), "batchmean" (sum / batch size), "sum" or "none". */
  reduction?: Reduction | "batchmean";
  /** The target is given as log-probabilities. */
  logTarget?: boolean;
}
/** PyTorch kl_div: the input holds log-probabilities; pointwise target·(log target − input), 0 where target is 0. */
export function klDiv(input: TensorLike, target: TensorLike, opts: KlDivOpts = {}): Tensor {
  const x = floatT(input);
  const t = floatT(target);
  let loss: Tensor;
  if (opts.logTarget) loss = mul(exp(t), sub(t, x));
  else {
    const zero = E.eq(t, E.zerosLike(t));
    loss = where(zero, 0, mul(t, sub(log(where(zero, 1, t)), x)));
  }
  if (opts.reduction === "batchmean") {
    const n = loss.ndim > 0 ? loss.shape[0]! : 1;
    return div(sum(loss), n);
  }
  return reduce("klDiv", loss, opts.reduction);
}

// ---------------- Tensor methods ----------------
declare module "../tensor.js" {
  interface Tensor {
    relu(): Tensor; relu6(): Tensor; selu(): Tensor; silu(): Tensor; mish(): Tensor; logSigmoid(): Tensor;
    hardSigmoid(): Tensor; geluTanh(): Tensor;
    leakyRelu(negativeSlope?: number): Tensor;
    elu(alpha?: number): Tensor;
    gelu(opts?: GeluOpts): Tensor;
    softplus(opts?: SoftplusOpts): Tensor;
    hardTanh(minVal?: number, maxVal?: number): Tensor;
    /** Softmax along an axis (default -1): `x.softmax(-1)` or `x.softmax({ axis: 1 })`. */
    softmax(opts?: AxisOpts | number): Tensor;
    logSoftmax(opts?: AxisOpts | number): Tensor;
  }
}

const methods: Record<string, (x: Tensor, ...a: never[]) => Tensor> = {
  relu, relu6, selu, silu, mish, logSigmoid, hardSigmoid, geluTanh, leakyRelu, elu, gelu, softplus, hardTanh, softmax, logSoftmax,
};
const proto = Tensor.prototype as unknown as Record<string, unknown>;
for (const [name, f] of Object.entries(methods)) {
  proto[name] = function (this: Tensor, ...a: never[]) {
    return f(this, ...a);
  };
}
