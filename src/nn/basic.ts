/** Linear maps, reshaping layers, dropout and embeddings. */
import { checkOptions, fail, fmtShape, optionKeys } from "../core/errors.js";
import { isInt } from "../core/dtype.js";
import { noGrad } from "../tape.js";
import { scope } from "../memory.js";
import { EagerTensor, type Tensor } from "../tensor.js";
import { stopGradient } from "../core/prims/structural.js";
import { equal, where } from "../ops/core.js";
import { arange, zeros } from "../ops/creation.js";
import { expandDims, flatten, reshape } from "../ops/shape.js";
import { toTensor, type TensorLike } from "../ops/convert.js";
import { embedding } from "../ops/indexing.js";
import type { Key } from "../random/index.js";
import { Module, parameter } from "./module.js";
import * as init from "./init.js";
import { bilinear, dropout, linear } from "./functional.js";
import { natInt, paramDtype, posInt, prob, type DtypeOpts } from "./util.js";
import { normAxis } from "../core/shape.js";

/** Returns its input (a placeholder layer). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Options of Linear. */
export interface LinearOpts extends DtypeOpts {
  /** Learn an additive bias (default true). */
  bias?: boolean;
}
const LINEAR_KEYS = optionKeys<LinearOpts>({ bias: true, dtype: true });

/**
 * y = x·Wᵀ + b with weight [out, in] and bias [out], initialised as PyTorch: W ~ kaiming_uniform(a=√5),
 * i.e. U(−1/√in, 1/√in), and b ~ U(−1/√in, 1/√in).
 * @example const fc = new nn.Linear(784, 10); fc.forward(x) // [N, 784] → [N, 10]
 */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  constructor(inFeatures: number, outFeatures: number, opts: LinearOpts = {}) {
    super();
    checkOptions("Linear", opts, LINEAR_KEYS);
    this.inFeatures = natInt("Linear", "inFeatures", inFeatures);
    this.outFeatures = natInt("Linear", "outFeatures", outFeatures);
    const dt = paramDtype("Linear", opts.dtype);
    this.weight = parameter(zeros([outFeatures, inFeatures], dt));
    this.bias = opts.bias === false ? null : parameter(zeros([outFeatures], dt));
    this.resetParameters();
  }
  /** Draw fresh initial values (PyTorch's reset_parameters). */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      fail("Linear", `input must have shape [..., ${this.inFeatures}], got ${fmtShape(x.shape)}`);
    }
    return linear(x, this.weight, this.bias);
  }
}

/**
 * y_k = x1ᵀ·W_k·x2 + b_k with weight [out, in1, in2]; weight and bias ~ U(−1/√in1, 1/√in1) as PyTorch.
 */
export class Bilinear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly in1Features: number;
  readonly in2Features: number;
  readonly outFeatures: number;
  constructor(in1Features: number, in2Features: number, outFeatures: number, opts: LinearOpts = {}) {
    super();
    checkOptions("Bilinear", opts, LINEAR_KEYS);
    this.in1Features = posInt("Bilinear", "in1Features", in1Features);
    this.in2Features = posInt("Bilinear", "in2Features", in2Features);
    this.outFeatures = posInt("Bilinear", "outFeatures", outFeatures);
    const dt = paramDtype("Bilinear", opts.dtype);
    this.weight = parameter(zeros([outFeatures, in1Features, in2Features], dt));
    this.bias = opts.bias === false ? null : parameter(zeros([outFeatures], dt));
    this.resetParameters();
  }
  resetParameters(): void {
    const bound = 1 / Math.sqrt(this.in1Features);
    init.uniform_(this.weight, -bound, bound);
    if (this.bias) init.uniform_(this.bias, -bound, bound);
  }
  forward(x1: Tensor, x2: Tensor): Tensor {
    return bilinear(x1, x2, this.weight, this.bias);
  }
}

/** Flatten axes startDim..endDim into one (defaults keep the batch axis: 1..-1). */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

/** Split axis `dim` into the given sizes (inverse of Flatten). */
export class Unflatten extends Module {
  readonly unflattenedSize: number[];
  constructor(readonly dim: number, unflattenedSize: readonly number[]) {
    super();
    this.unflattenedSize = [...unflattenedSize];
  }
  forward(x: Tensor): Tensor {
    const d = normAxis("Unflatten", this.dim, x.ndim);
    const sizes = this.unflattenedSize;
    const known = sizes.filter((s) => s !== -1).reduce((a, b) => a * b, 1);
    const n = x.shape[d]!;
    if (sizes.filter((s) => s === -1).length > 1 || (sizes.includes(-1) ? n % known !== 0 : known !== n)) {
      fail("Unflatten", `cannot split axis ${d} of size ${n} (input ${fmtShape(x.shape)}) into ${fmtShape(sizes)}`);
    }
    return reshape(x, [...x.shape.slice(0, d), ...sizes, ...x.shape.slice(d + 1)]);
  }
}

/** Options of a Dropout call. */
export interface DropoutCallOpts {
  /** PRNG key for the mask; defaults to the innermost nn.withRng block, else the global generator. */
  key?: Key | null;
}

/**
 * Zero elements with probability p while training and scale the rest by 1/(1 − p); identity in eval.
 * @example new nn.Dropout(0.1).forward(x, { key })
 */
export class Dropout extends Module {
  readonly p: number;
  constructor(p = 0.5) {
    super();
    this.p = prob("Dropout", "p", p);
  }
  forward(x: Tensor, opts: DropoutCallOpts = {}): Tensor {
    return dropout(x, this.p, { training: this.training, key: opts.key });
  }
}

/** Options of Embedding. */
export interface EmbeddingOpts extends DtypeOpts {
  /** This row is initialised to zeros and gets no gradient (a padding token); negative counts from the end. */
  paddingIdx?: number | null;
}
const EMBEDDING_KEYS = optionKeys<EmbeddingOpts>({ paddingIdx: true, dtype: true });

/**
 * A lookup table of numEmbeddings vectors of size embeddingDim, initialised N(0, 1) as PyTorch.
 * @example new nn.Embedding(1000, 64, { paddingIdx: 0 }).forward(ids) // ids [N, L] int → [N, L, 64]
 */
export class Embedding extends Module {
  weight: Tensor;
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingOpts = {}) {
    super();
    checkOptions("Embedding", opts, EMBEDDING_KEYS);
    this.numEmbeddings = posInt("Embedding", "numEmbeddings", numEmbeddings);
    this.embeddingDim = natInt("Embedding", "embeddingDim", embeddingDim);
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings) {
        fail("Embedding", `paddingIdx must be an integer in [${-numEmbeddings}, ${numEmbeddings}), got ${pad}`);
      }
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = parameter(zeros([numEmbeddings, embeddingDim], paramDtype("Embedding", opts.dtype)));
    this.resetParameters();
  }
  /** A table holding the given rows (frozen unless freeze is false). */
  static fromPretrained(weights: TensorLike, opts: { freeze?: boolean; paddingIdx?: number | null } = {}): Embedding {
    const w = toTensor(weights);
    if (w.ndim !== 2) fail("Embedding.fromPretrained", `weights must be 2-D [numEmbeddings, dim], got ${fmtShape(w.shape)}`);
    const e = new Embedding(w.shape[0]!, w.shape[1]!, { paddingIdx: opts.paddingIdx, dtype: w.dtype });
    e.loadStateDict({ weight: w });
    e.weight.requiresGrad = opts.freeze === false;
    return e;
  }
  resetParameters(): void {
    init.normal_(this.weight);
    const pad = this.paddingIdx;
    const w = this.weight;
    if (pad !== null && w instanceof EagerTensor) {
      scope(() => noGrad(() => w.assign(where(expandDims(equal(arange(this.numEmbeddings), pad), 1), 0, w) as EagerTensor)));
    }
  }
  forward(ids: Tensor): Tensor {
    if (!isInt(ids.dtype)) fail("Embedding", `ids must be integers, got ${ids.dtype} with shape ${fmtShape(ids.shape)}`);
    const out = embedding(ids, this.weight);
    if (this.paddingIdx === null) return out;
    // the padding row's value passes through but its gradient is zero, as PyTorch's padding_idx
    return where(expandDims(equal(ids, this.paddingIdx), -1), stopGradient(out), out);
  }
}
