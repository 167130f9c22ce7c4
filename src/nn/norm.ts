/** Normalisation layers: BatchNorm (with running statistics), LayerNorm, GroupNorm, RMSNorm. */
import { checkOptions, fail, fmtShape, optionKeys } from "../core/errors.js";
import type { Tensor } from "../tensor.js";
import { add, astype, div, mean, mul, rsqrt, square, sub } from "../ops/core.js";
import { full, ones, zeros } from "../ops/creation.js";
import { reshape } from "../ops/shape.js";
import { groupNorm, layerNorm, rmsNorm } from "../ops/nn.js";
import { Module, parameter } from "./module.js";
import * as init from "./init.js";
import { paramDtype, posInt, torchKey, type DtypeOpts } from "./util.js";

/** Options of BatchNorm1d / BatchNorm2d (PyTorch's defaults). */
export interface BatchNormOpts extends DtypeOpts {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Weight of the new batch in the running averages (default 0.1); null for a cumulative average. */
  momentum?: number | null;
  /** Learn a per-channel scale and shift (default true). */
  affine?: boolean;
  /** Keep running mean/variance for eval mode (default true); without them eval uses batch statistics. */
  trackRunningStats?: boolean;
}
const BATCHNORM_KEYS = optionKeys<BatchNormOpts>({ eps: true, momentum: true, affine: true, trackRunningStats: true, dtype: true });

/**
 * Batch normalisation over the channel axis 1. In training the batch statistics normalise and the
 * running averages are updated (mean, and the unbiased variance, as PyTorch); in eval the running
 * averages normalise. Updates are in place eagerly and returned by `nn.functionalCallWithState` under
 * transformations.
 */
abstract class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean!: Tensor | null;
  runningVar!: Tensor | null;
  numBatchesTracked!: Tensor | null;
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  protected abstract readonly validRanks: number[];

  constructor(op: string, numFeatures: number, opts: BatchNormOpts) {
    super();
    checkOptions(op, opts, BATCHNORM_KEYS);
    this.numFeatures = posInt(op, "numFeatures", numFeatures);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) fail(op, `momentum must be in [0, 1] or null, got ${this.momentum}`);
    if (!(this.eps >= 0)) fail(op, `eps must be non-negative, got ${this.eps}`);
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const dt = paramDtype(op, opts.dtype);
    this.weight = this.affine ? parameter(ones([numFeatures], dt)) : null;
    this.bias = this.affine ? parameter(zeros([numFeatures], dt)) : null;
    if (this.trackRunningStats) {
      this.registerBuffer("runningMean", zeros([numFeatures], dt));
      this.registerBuffer("runningVar", ones([numFeatures], dt));
      this.registerBuffer("numBatchesTracked", zeros([], "int32"));
    } else {
      this.registerBuffer("runningMean", null);
      this.registerBuffer("runningVar", null);
      this.registerBuffer("numBatchesTracked", null);
    }
  }
  protected override stateKey(field: string): string {
    return torchKey(field);
  }
  /** Running statistics back to mean 0, variance 1, no batches seen. */
  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    init.zeros_(this.runningMean!);
    init.ones_(this.runningVar!);
    init.zeros_(this.numBatchesTracked!);
  }
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) init.ones_(this.weight);
    if (this.bias) init.zeros_(this.bias);
  }

  forward(x: Tensor): Tensor {
    const op = this.constructor.name;
    if (!this.validRanks.includes(x.ndim)) {
      const layouts = this.validRanks.map((r) => (r === 2 ? "[N, C]" : r === 3 ? "[N, C, L]" : "[N, C, H, W]"));
      fail(op, `input must be ${layouts.join(" or ")}, got shape ${fmtShape(x.shape)}`);
    }
    if (x.shape[1] !== this.numFeatures) fail(op, `input has ${x.shape[1]} channels on axis 1 but the layer expects ${this.numFeatures} (input ${fmtShape(x.shape)})`);
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const useBatch = this.training || !this.trackRunningStats;
    let y: Tensor;
    if (useBatch) {
      const n = x.size / this.numFeatures;
      if (this.training && n <= 1) fail(op, `expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
      const mu = mean(x, { axis: axes, keepdims: true });
      const d = sub(x, mu);
      const v = mean(square(d), { axis: axes, keepdims: true });
      y = mul(d, rsqrt(add(v, this.eps)));
      if (this.training && this.trackRunningStats) this.updateRunningStats(reshape(mu, [this.numFeatures]), reshape(v, [this.numFeatures]), n);
    } else {
      y = mul(sub(x, reshape(this.runningMean!, bshape)), rsqrt(add(reshape(this.runningVar!, bshape), this.eps)));
    }
    if (this.weight) y = mul(y, reshape(this.weight, bshape));
    if (this.bias) y = add(y, reshape(this.bias, bshape));
    return y;
  }

  private updateRunningStats(batchMean: Tensor, batchVar: Tensor, n: number): void {
    this.updateBuffers(() => {
      const count = add(this.numBatchesTracked!, 1);
      const rm = this.runningMean!, rv = this.runningVar!;
      // momentum null: the cumulative average, whose weight for the k-th batch is 1/k
      const f: Tensor | number = this.momentum === null ? div(1, astype(count, rm.dtype)) : this.momentum;
      // 1 − f in JS when f is a number: two JS numbers would otherwise meet as a float32 tensor
      const keep = typeof f === "number" ? 1 - f : sub(1, f);
      const blend = (old: Tensor, now: Tensor) => add(mul(old, keep), mul(astype(now, old.dtype), f));
      return {
        runningMean: blend(rm, batchMean),
        runningVar: blend(rv, mul(batchVar, n / (n - 1))),
        numBatchesTracked: count,
      };
    });
  }
}

/**
 * Batch normalisation of [N, C] or [N, C, L] over all axes but C.
 * @example new nn.BatchNorm1d(64)
 */
export class BatchNorm1d extends BatchNormBase {
  protected readonly validRanks = [2, 3];
  constructor(numFeatures: number, opts: BatchNormOpts = {}) {
    super("BatchNorm1d", numFeatures, opts);
  }
}

/**
 * Batch normalisation of [N, C, H, W] over N, H and W.
 * @example new nn.BatchNorm2d(16, { momentum: 0.01 })
 */
export class BatchNorm2d extends BatchNormBase {
  protected readonly validRanks = [4];
  constructor(numFeatures: number, opts: BatchNormOpts = {}) {
    super("BatchNorm2d", numFeatures, opts);
  }
}

function normShape(op: string, s: number | readonly number[]): number[] {
  const list = typeof s === "number" ? [s] : [...s];
  if (list.length === 0) fail(op, "normalizedShape must have at least one size");
  for (const d of list) posInt(op, "normalizedShape entries", d);
  return list;
}

function checkTrailing(op: string, x: Tensor, shape: readonly number[]): number[] {
  const k = shape.length;
  if (x.ndim < k || x.shape.slice(x.ndim - k).join() !== shape.join()) {
    fail(op, `input shape ${fmtShape(x.shape)} must end in the normalized shape ${fmtShape(shape)}`);
  }
  return shape.map((_, i) => x.ndim - k + i);
}

/** Options of LayerNorm. */
export interface LayerNormOpts extends DtypeOpts {
  eps?: number;
  /** Learn a scale (and shift) of the normalized shape (default true). */
  elementwiseAffine?: boolean;
  /** Learn the shift too (default true). */
  bias?: boolean;
}
const LAYERNORM_KEYS = optionKeys<LayerNormOpts>({ eps: true, elementwiseAffine: true, bias: true, dtype: true });

/**
 * Layer normalisation over the trailing axes given by normalizedShape (biased variance, eps 1e-5).
 * @example new nn.LayerNorm(512)
 */
export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly normalizedShape: number[];
  readonly eps: number;
  constructor(normalizedShape: number | readonly number[], opts: LayerNormOpts = {}) {
    super();
    checkOptions("LayerNorm", opts, LAYERNORM_KEYS);
    this.normalizedShape = normShape("LayerNorm", normalizedShape);
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwiseAffine ?? true;
    const dt = paramDtype("LayerNorm", opts.dtype);
    this.weight = affine ? parameter(ones(this.normalizedShape, dt)) : null;
    this.bias = affine && opts.bias !== false ? parameter(zeros(this.normalizedShape, dt)) : null;
  }
  forward(x: Tensor): Tensor {
    const axes = checkTrailing("LayerNorm", x, this.normalizedShape);
    return layerNorm(x, this.weight, this.bias, { axis: axes, eps: this.eps });
  }
}

/** Options of GroupNorm. */
export interface GroupNormOpts extends DtypeOpts {
  eps?: number;
  /** Learn a per-channel scale and shift (default true). */
  affine?: boolean;
}
const GROUPNORM_KEYS = optionKeys<GroupNormOpts>({ eps: true, affine: true, dtype: true });

/**
 * Group normalisation of [N, C, ...]: channels split into numGroups groups, each normalised over its
 * channels and the spatial axes.
 * @example new nn.GroupNorm(4, 32)
 */
export class GroupNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  constructor(numGroups: number, numChannels: number, opts: GroupNormOpts = {}) {
    super();
    checkOptions("GroupNorm", opts, GROUPNORM_KEYS);
    this.numGroups = posInt("GroupNorm", "numGroups", numGroups);
    this.numChannels = posInt("GroupNorm", "numChannels", numChannels);
    if (numChannels % numGroups !== 0) fail("GroupNorm", `numChannels ${numChannels} must be divisible by numGroups ${numGroups}`);
    this.eps = opts.eps ?? 1e-5;
    const dt = paramDtype("GroupNorm", opts.dtype);
    const affine = opts.affine ?? true;
    this.weight = affine ? parameter(ones([numChannels], dt)) : null;
    this.bias = affine ? parameter(zeros([numChannels], dt)) : null;
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) fail("GroupNorm", `input must be [N, ${this.numChannels}, ...], got ${fmtShape(x.shape)}`);
    return groupNorm(x, this.numGroups, this.weight, this.bias, { eps: this.eps });
  }
}

/** Options of RMSNorm. */
export interface RMSNormOpts extends DtypeOpts {
  /** Added to the mean square; defaults to the input dtype's machine epsilon (PyTorch). */
  eps?: number | null;
  /** Learn a scale of the normalized shape (default true). */
  elementwiseAffine?: boolean;
}
const RMSNORM_KEYS = optionKeys<RMSNormOpts>({ eps: true, elementwiseAffine: true, dtype: true });

/**
 * x / √(mean(x²) + eps) over the trailing normalized axes, times a learned scale.
 * @example new nn.RMSNorm(512)
 */
export class RMSNorm extends Module {
  weight: Tensor | null;
  readonly normalizedShape: number[];
  readonly eps: number | null;
  constructor(normalizedShape: number | readonly number[], opts: RMSNormOpts = {}) {
    super();
    checkOptions("RMSNorm", opts, RMSNORM_KEYS);
    this.normalizedShape = normShape("RMSNorm", normalizedShape);
    this.eps = opts.eps ?? null;
    this.weight = opts.elementwiseAffine === false ? null : parameter(full(this.normalizedShape, 1, paramDtype("RMSNorm", opts.dtype)));
  }
  forward(x: Tensor): Tensor {
    const axes = checkTrailing("RMSNorm", x, this.normalizedShape);
    return rmsNorm(x, this.weight, { axis: axes, eps: this.eps ?? undefined });
  }
}
