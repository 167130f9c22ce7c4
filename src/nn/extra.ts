/** Layers for the torch.nn.functional ops of src/ops/nnextra.ts and resample.ts, with PyTorch's constructor arguments. */
import type { Tensor } from "../tensor.js";
import type { DType } from "../core/dtype.js";
import { fail } from "../core/errors.js";
import { full } from "../ops/creation.js";
import { logSigmoid, relu6 } from "../ops/nn.js";
import {
  celu, cosineSimilarity, fold, glu, hardshrink, hardswish, interpolate, pairwiseDistance, pixelShuffle, pixelUnshuffle, prelu,
  rrelu, softshrink, softsign, tanhshrink, threshold, unfold,
  type InterpolateMode, type UnfoldOpts,
} from "../ops/nnextra.js";
import { Module, parameter } from "./module.js";
import { posInt, paramDtype } from "./util.js";

/** x·relu6(x + 3)/6. */
export class Hardswish extends Module {
  forward(x: Tensor): Tensor {
    return hardswish(x);
  }
}
/** log(sigmoid(x)). */
export class LogSigmoid extends Module {
  forward(x: Tensor): Tensor {
    return logSigmoid(x);
  }
}
/** x / (1 + |x|). */
export class Softsign extends Module {
  forward(x: Tensor): Tensor {
    return softsign(x);
  }
}
/** x − tanh(x). */
export class Tanhshrink extends Module {
  forward(x: Tensor): Tensor {
    return tanhshrink(x);
  }
}
/** x where |x| > lambd, else 0. */
export class Hardshrink extends Module {
  constructor(readonly lambd = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return hardshrink(x, this.lambd);
  }
}
/** Shrinks x towards 0 by lambd. */
export class Softshrink extends Module {
  constructor(readonly lambd = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return softshrink(x, this.lambd);
  }
}
/** max(0, x) + min(0, alpha·(exp(x/alpha) − 1)). */
export class CELU extends Module {
  constructor(readonly alpha = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return celu(x, this.alpha);
  }
}
/** min(max(x, 0), 6). */
export class ReLU6 extends Module {
  forward(x: Tensor): Tensor {
    return relu6(x);
  }
}
/** Randomized leaky ReLU; only evaluation mode (slope (lower + upper)/2) is implemented, so training mode raises. */
export class RReLU extends Module {
  constructor(readonly lower = 1 / 8, readonly upper = 1 / 3) {
    super();
  }
  forward(x: Tensor): Tensor {
    if (this.training) fail("RReLU", "training mode (random slopes) is not implemented; call .eval() for the mean slope");
    return rrelu(x, this.lower, this.upper);
  }
}
/** x where x > threshold, else value. */
export class Threshold extends Module {
  constructor(readonly threshold: number, readonly value: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return threshold(x, this.threshold, this.value);
  }
}
/** Gated linear unit along dim (default -1). */
export class GLU extends Module {
  constructor(readonly dim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return glu(x, this.dim);
  }
}
/** Parametric ReLU with a learnable slope: one shared (numParameters 1) or one per channel (axis 1). */
export class PReLU extends Module {
  weight: Tensor;
  constructor(opts: { numParameters?: number; init?: number; dtype?: DType } = {}) {
    super();
    const n = posInt("PReLU", "numParameters", opts.numParameters ?? 1);
    this.weight = parameter(full([n], opts.init ?? 0.25, paramDtype("PReLU", opts.dtype)));
  }
  forward(x: Tensor): Tensor {
    return prelu(x, this.weight);
  }
}

/** Cosine similarity along dim (default 1). */
export class CosineSimilarity extends Module {
  constructor(readonly dim = 1, readonly eps = 1e-8) {
    super();
  }
  forward(x1: Tensor, x2: Tensor): Tensor {
    return cosineSimilarity(x1, x2, { dim: this.dim, eps: this.eps });
  }
}
/** p-norm distance of x1 − x2 along the last axis. */
export class PairwiseDistance extends Module {
  constructor(readonly p = 2, readonly eps = 1e-6, readonly keepdim = false) {
    super();
  }
  forward(x1: Tensor, x2: Tensor): Tensor {
    return pairwiseDistance(x1, x2, { p: this.p, eps: this.eps, keepdim: this.keepdim });
  }
}

/** Resize (F.interpolate) by `size` or `scaleFactor`; default mode "nearest". */
export class Upsample extends Module {
  readonly opts: { size?: number | readonly number[]; scaleFactor?: number | readonly number[]; mode: InterpolateMode; alignCorners?: boolean };
  constructor(opts: { size?: number | readonly number[]; scaleFactor?: number | readonly number[]; mode?: InterpolateMode; alignCorners?: boolean } = {}) {
    super();
    this.opts = { ...opts, mode: opts.mode ?? "nearest" };
  }
  forward(x: Tensor): Tensor {
    return interpolate(x, this.opts);
  }
}
/** Nearest-neighbour 2-D upsampling (PyTorch nn.UpsamplingNearest2d). */
export class UpsamplingNearest2d extends Upsample {
  constructor(opts: { size?: number | readonly number[]; scaleFactor?: number | readonly number[] } = {}) {
    super({ ...opts, mode: "nearest" });
  }
}
/** Bilinear 2-D upsampling with aligned corners (PyTorch nn.UpsamplingBilinear2d). */
export class UpsamplingBilinear2d extends Upsample {
  constructor(opts: { size?: number | readonly number[]; scaleFactor?: number | readonly number[] } = {}) {
    super({ ...opts, mode: "bilinear", alignCorners: true });
  }
}
/** im2col: [N, C, H, W] → [N, C·kh·kw, L]. */
export class Unfold extends Module {
  constructor(readonly kernelSize: number | readonly number[], readonly opts: UnfoldOpts = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return unfold(x, this.kernelSize, this.opts);
  }
}
/** col2im: [N, C·kh·kw, L] → [N, C, H, W], summing overlaps. */
export class Fold extends Module {
  constructor(readonly outputSize: number | readonly number[], readonly kernelSize: number | readonly number[], readonly opts: UnfoldOpts = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return fold(x, this.outputSize, this.kernelSize, this.opts);
  }
}
/** [N, C·r², H, W] → [N, C, H·r, W·r]. */
export class PixelShuffle extends Module {
  constructor(readonly upscaleFactor: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return pixelShuffle(x, this.upscaleFactor);
  }
}
/** [N, C, H·r, W·r] → [N, C·r², H, W]. */
export class PixelUnshuffle extends Module {
  constructor(readonly downscaleFactor: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return pixelUnshuffle(x, this.downscaleFactor);
  }
}
export * from "./loss.js";
