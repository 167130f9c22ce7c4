/** Loss layers with PyTorch's names and constructor options (reduction "mean" by default). */
import type { Tensor } from "../tensor.js";
import type { TensorLike } from "../ops/convert.js";
import {
  binaryCrossEntropy, binaryCrossEntropyWithLogits, crossEntropy, huberLoss, klDiv, l1Loss, mseLoss, nllLoss, type Reduction,
} from "../ops/nn.js";
import {
  cosineEmbeddingLoss, gaussianNllLoss, hingeEmbeddingLoss, marginRankingLoss, multiMarginLoss, multilabelSoftMarginLoss,
  poissonNllLoss, smoothL1Loss, softMarginLoss, tripletMarginLoss,
} from "../ops/nnextra.js";
import { Module } from "./module.js";

type R = { reduction?: Reduction };

/** Mean squared error. */
export class MSELoss extends Module {
  constructor(readonly opts: R = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return mseLoss(input, target, this.opts); }
}
/** Mean absolute error. */
export class L1Loss extends Module {
  constructor(readonly opts: R = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return l1Loss(input, target, this.opts); }
}
/** Huber loss with threshold delta (default 1). */
export class HuberLoss extends Module {
  constructor(readonly opts: R & { delta?: number } = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return huberLoss(input, target, this.opts); }
}
/** Smooth L1 loss with threshold beta (default 1). */
export class SmoothL1Loss extends Module {
  constructor(readonly opts: R & { beta?: number } = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return smoothL1Loss(input, target, this.opts); }
}
/** KL divergence of log-probability inputs (PyTorch nn.KLDivLoss; reduction may be "batchmean"). */
export class KLDivLoss extends Module {
  constructor(readonly opts: { reduction?: Reduction | "batchmean"; logTarget?: boolean } = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return klDiv(input, target, this.opts); }
}
/** Cross-entropy of logits (class axis 1 as in PyTorch unless `axis` is given). */
export class CrossEntropyLoss extends Module {
  constructor(readonly opts: Parameters<typeof crossEntropy>[2] = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor {
    return crossEntropy(input, target, { axis: input.ndim >= 2 ? 1 : -1, ...this.opts });
  }
}
/** Negative log-likelihood of log-probabilities (class axis 1 as in PyTorch unless `axis` is given). */
export class NLLLoss extends Module {
  constructor(readonly opts: Parameters<typeof nllLoss>[2] = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor {
    return nllLoss(input, target, { axis: input.ndim >= 2 ? 1 : -1, ...this.opts });
  }
}
/** Binary cross-entropy of probabilities. */
export class BCELoss extends Module {
  constructor(readonly opts: Parameters<typeof binaryCrossEntropy>[2] = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return binaryCrossEntropy(input, target, this.opts); }
}
/** Binary cross-entropy of logits. */
export class BCEWithLogitsLoss extends Module {
  constructor(readonly opts: Parameters<typeof binaryCrossEntropyWithLogits>[2] = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return binaryCrossEntropyWithLogits(input, target, this.opts); }
}
/** max(0, −y·(x1 − x2) + margin). */
export class MarginRankingLoss extends Module {
  constructor(readonly opts: R & { margin?: number } = {}) { super(); }
  forward(x1: Tensor, x2: Tensor, y: TensorLike): Tensor { return marginRankingLoss(x1, x2, y, this.opts); }
}
/** x where y = 1, max(0, margin − x) where y = −1. */
export class HingeEmbeddingLoss extends Module {
  constructor(readonly opts: R & { margin?: number } = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return hingeEmbeddingLoss(input, target, this.opts); }
}
/** 1 − cos where y = 1, max(0, cos − margin) where y = −1. */
export class CosineEmbeddingLoss extends Module {
  constructor(readonly opts: R & { margin?: number } = {}) { super(); }
  forward(x1: Tensor, x2: Tensor, y: TensorLike): Tensor { return cosineEmbeddingLoss(x1, x2, y, this.opts); }
}
/** max(d(a, p) − d(a, n) + margin, 0). */
export class TripletMarginLoss extends Module {
  constructor(readonly opts: Parameters<typeof tripletMarginLoss>[3] = {}) { super(); }
  forward(a: Tensor, p: Tensor, n: Tensor): Tensor { return tripletMarginLoss(a, p, n, this.opts); }
}
/** Poisson negative log-likelihood. */
export class PoissonNLLLoss extends Module {
  constructor(readonly opts: Parameters<typeof poissonNllLoss>[2] = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return poissonNllLoss(input, target, this.opts); }
}
/** Gaussian negative log-likelihood with a predicted variance. */
export class GaussianNLLLoss extends Module {
  constructor(readonly opts: Parameters<typeof gaussianNllLoss>[3] = {}) { super(); }
  forward(input: Tensor, target: TensorLike, variance: TensorLike): Tensor { return gaussianNllLoss(input, target, variance, this.opts); }
}
/** Multi-class hinge loss. */
export class MultiMarginLoss extends Module {
  constructor(readonly opts: Parameters<typeof multiMarginLoss>[2] = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return multiMarginLoss(input, target, this.opts); }
}
/** log(1 + exp(−y·x)). */
export class SoftMarginLoss extends Module {
  constructor(readonly opts: R = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return softMarginLoss(input, target, this.opts); }
}
/** Multi-label one-versus-all logistic loss. */
export class MultiLabelSoftMarginLoss extends Module {
  constructor(readonly opts: Parameters<typeof multilabelSoftMarginLoss>[2] = {}) { super(); }
  forward(input: Tensor, target: TensorLike): Tensor { return multilabelSoftMarginLoss(input, target, this.opts); }
}
