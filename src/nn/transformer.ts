/** Multi-head attention and the Transformer encoder, with PyTorch's parameter layout and names. */
import { checkOptions, fail, fmtShape, optionKeys } from "../core/errors.js";
import { isFloat } from "../core/dtype.js";
import type { Tensor } from "../tensor.js";
import { add, astype, greater, mean, mul, where } from "../ops/core.js";
import { iota } from "../core/prims/structural.js";
import { zeros } from "../ops/creation.js";
import { reshape, slice, transpose, swapaxes } from "../ops/shape.js";
import { matmul } from "../ops/linalg.js";
import { gelu, relu, softmax } from "../ops/nn.js";
import type { Key } from "../random/index.js";
import { Module, parameter } from "./module.js";
import { Dropout, Linear } from "./basic.js";
import { LayerNorm } from "./norm.js";
import { ModuleList } from "./container.js";
import * as init from "./init.js";
import { dropout as dropoutFn, linear } from "./functional.js";
import { withRng } from "./rng.js";
import { paramDtype, posInt, prob, torchKey, type DtypeOpts } from "./util.js";

/** Options of MultiheadAttention (PyTorch's defaults). */
export interface MultiheadAttentionOpts extends DtypeOpts {
  /** Dropout on the attention weights while training (default 0). */
  dropout?: number;
  /** Biases on the input and output projections (default true). */
  bias?: boolean;
  /** Feature size of the keys (default embedDim); a different size gives separate q/k/v projections. */
  kdim?: number;
  /** Feature size of the values (default embedDim). */
  vdim?: number;
  /** Inputs and output are [N, L, E] instead of [L, N, E] (default false). */
  batchFirst?: boolean;
}
const MHA_KEYS = optionKeys<MultiheadAttentionOpts>({ dropout: true, bias: true, kdim: true, vdim: true, batchFirst: true, dtype: true });

/** Masks and options of one attention call (PyTorch semantics: a true boolean entry means "masked out"). */
export interface MultiheadAttentionCallOpts {
  /** [N, S]: true (or -inf) hides a key position from every query, e.g. padding. Float masks are added. */
  keyPaddingMask?: Tensor | null;
  /** [L, S] or [N·numHeads, L, S]: true hides key s from query l. Float masks are added to the scores. */
  attnMask?: Tensor | null;
  /** Also hide every key after the query position. */
  isCausal?: boolean;
  /** Return the attention weights (default true). */
  needWeights?: boolean;
  /** Average the returned weights over heads, [N, L, S] (default true), or keep them, [N, H, L, S]. */
  averageAttnWeights?: boolean;
  /** PRNG key for the attention dropout. */
  dropoutKey?: Key | null;
}

/**
 * Multi-head attention: softmax(Q Kᵀ / √d + mask) V per head, with the packed input projection
 * `in_proj_weight` [3E, E] (q, k, v rows) and `out_proj` as PyTorch, so its state dicts load as is.
 * @example
 * const mha = new nn.MultiheadAttention(64, 8, { batchFirst: true });
 * const [out, weights] = mha.forward(x, x, x, { keyPaddingMask });
 */
export class MultiheadAttention extends Module {
  inProjWeight: Tensor | null;
  qProjWeight: Tensor | null;
  kProjWeight: Tensor | null;
  vProjWeight: Tensor | null;
  inProjBias: Tensor | null;
  outProj: Linear;
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;

  constructor(embedDim: number, numHeads: number, opts: MultiheadAttentionOpts = {}) {
    super();
    checkOptions("MultiheadAttention", opts, MHA_KEYS);
    const op = "MultiheadAttention";
    this.embedDim = posInt(op, "embedDim", embedDim);
    this.numHeads = posInt(op, "numHeads", numHeads);
    if (embedDim % numHeads !== 0) fail(op, `embedDim ${embedDim} must be divisible by numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.kdim = posInt(op, "kdim", opts.kdim ?? embedDim);
    this.vdim = posInt(op, "vdim", opts.vdim ?? embedDim);
    this.dropout = prob(op, "dropout", opts.dropout ?? 0);
    this.batchFirst = opts.batchFirst ?? false;
    const dt = paramDtype(op, opts.dtype);
    const packed = this.kdim === embedDim && this.vdim === embedDim;
    this.inProjWeight = packed ? parameter(zeros([3 * embedDim, embedDim], dt)) : null;
    this.qProjWeight = packed ? null : parameter(zeros([embedDim, embedDim], dt));
    this.kProjWeight = packed ? null : parameter(zeros([embedDim, this.kdim], dt));
    this.vProjWeight = packed ? null : parameter(zeros([embedDim, this.vdim], dt));
    this.inProjBias = opts.bias === false ? null : parameter(zeros([3 * embedDim], dt));
    this.outProj = new Linear(embedDim, embedDim, { bias: opts.bias !== false, dtype: dt });
    this.resetParameters();
  }
  protected override stateKey(field: string): string {
    return torchKey(field);
  }
  /** PyTorch's _reset_parameters: xavier-uniform projections, zero biases (out_proj's weight keeps Linear's init). */
  resetParameters(): void {
    if (this.inProjWeight) init.xavierUniform_(this.inProjWeight);
    else for (const w of [this.qProjWeight, this.kProjWeight, this.vProjWeight]) init.xavierUniform_(w!);
    if (this.inProjBias) init.zeros_(this.inProjBias);
    if (this.outProj.bias) init.zeros_(this.outProj.bias);
  }

  /** The q, k and v projection weights and biases (views of the packed parameters). */
  private projections(): [Tensor, Tensor | null][] {
    const E = this.embedDim;
    const rows = (t: Tensor, i: number) => slice(t, [[i * E, (i + 1) * E]]);
    const ws = this.inProjWeight ? [0, 1, 2].map((i) => rows(this.inProjWeight!, i)) : [this.qProjWeight!, this.kProjWeight!, this.vProjWeight!];
    return ws.map((w, i) => [w, this.inProjBias ? rows(this.inProjBias, i) : null]);
  }

  /** Returns [output, weights]: output like query; weights [N, L, S] (or per head), null without needWeights. */
  forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiheadAttentionCallOpts = {}): [Tensor, Tensor | null] {
    const op = "MultiheadAttention";
    const E = this.embedDim, H = this.numHeads, hd = this.headDim;
    const batched = query.ndim === 3;
    if (query.ndim !== 3 && query.ndim !== 2) fail(op, `query must be [L, N, E], [N, L, E] (batchFirst) or [L, E], got ${fmtShape(query.shape)}`);
    for (const [name, t, d] of [["query", query, E], ["key", key, this.kdim], ["value", value, this.vdim]] as const) {
      if (t.ndim !== query.ndim || t.shape[t.ndim - 1] !== d) fail(op, `${name} must have rank ${query.ndim} and ${d} features, got ${fmtShape(t.shape)}`);
    }
    // internally [N, L, E]
    const toNLE = (t: Tensor) => (!batched ? reshape(t, [1, ...t.shape]) : this.batchFirst ? t : swapaxes(t, 0, 1));
    const q0 = toNLE(query), k0 = toNLE(key), v0 = toNLE(value);
    const N = q0.shape[0]!, L = q0.shape[1]!, S = k0.shape[1]!;
    if (k0.shape[0] !== N || v0.shape[0] !== N || v0.shape[1] !== S) {
      fail(op, `query ${fmtShape(query.shape)}, key ${fmtShape(key.shape)} and value ${fmtShape(value.shape)} disagree on batch or source length`);
    }
    const [[wq, bq], [wk, bk], [wv, bv]] = this.projections() as [[Tensor, Tensor | null], [Tensor, Tensor | null], [Tensor, Tensor | null]];
    const heads = (t: Tensor, len: number) => transpose(reshape(t, [N, len, H, hd]), [0, 2, 1, 3]);
    const q = heads(linear(q0, wq, bq), L), k = heads(linear(k0, wk, bk), S), v = heads(linear(v0, wv, bv), S);
    let scores = matmul(mul(q, 1 / Math.sqrt(hd)), swapaxes(k, -1, -2));
    const mask = this.combinedMask(opts, batched, N, L, S, scores);
    if (mask) scores = add(scores, mask);
    let w = softmax(scores, -1);
    if (this.training && this.dropout > 0) w = dropoutFn(w, this.dropout, { key: opts.dropoutKey });
    const o = reshape(transpose(matmul(w, v), [0, 2, 1, 3]), [N, L, E]);
    let out = this.outProj.forward(o);
    out = !batched ? reshape(out, [L, E]) : this.batchFirst ? out : swapaxes(out, 0, 1);
    if (opts.needWeights === false) return [out, null];
    let weights = opts.averageAttnWeights === false ? w : mean(w, { axis: 1 });
    if (!batched) weights = reshape(weights, weights.shape.slice(1));
    return [out, weights];
  }

  /** One additive float mask broadcastable to the scores [N, H, L, S], or null. */
  private combinedMask(opts: MultiheadAttentionCallOpts, batched: boolean, N: number, L: number, S: number, scores: Tensor): Tensor | null {
    const op = "MultiheadAttention";
    const H = this.numHeads;
    const additive = (name: string, m: Tensor) => {
      if (m.dtype === "bool") return where(m, -Infinity, 0);
      if (!isFloat(m.dtype)) fail(op, `${name} must be bool or floating point, got ${m.dtype}`);
      return m;
    };
    let total: Tensor | null = null;
    const acc = (m: Tensor) => (total = total ? add(total, m) : m);
    if (opts.attnMask) {
      const m = opts.attnMask;
      if (m.ndim === 2 && m.shape[0] === L && m.shape[1] === S) acc(reshape(additive("attnMask", m), [1, 1, L, S]));
      else if (m.ndim === 3 && m.shape[0] === N * H && m.shape[1] === L && m.shape[2] === S) acc(reshape(additive("attnMask", m), [N, H, L, S]));
      else fail(op, `attnMask must be [${L}, ${S}] or [${N * H}, ${L}, ${S}] (N·numHeads, L, S), got ${fmtShape(m.shape)}`);
    }
    if (opts.keyPaddingMask) {
      const m = opts.keyPaddingMask;
      const want = batched ? [N, S] : [S];
      if (m.shape.join() !== want.join()) fail(op, `keyPaddingMask must be ${fmtShape(want)}, got ${fmtShape(m.shape)}`);
      acc(reshape(additive("keyPaddingMask", m), [N, 1, 1, S]));
    }
    if (opts.isCausal) acc(causalMask(L, S, scores.dtype));
    const t = total as Tensor | null;
    return t && t.dtype !== scores.dtype ? astype(t, scores.dtype) : t;
  }
}

/** 0 where key s ≤ query l, −inf after: an additive causal mask [L, S]. */
function causalMask(L: number, S: number, dtype: Tensor["dtype"]): Tensor {
  return where(greater(iota([L, S], 1), iota([L, S], 0)), -Infinity, zeros([L, S], dtype));
}

/** The square causal mask PyTorch's Transformer.generate_square_subsequent_mask builds: 0 on and below the diagonal, −inf above. */
export function generateSquareSubsequentMask(size: number, dtype: Tensor["dtype"] = "float32"): Tensor {
  return causalMask(posInt("generateSquareSubsequentMask", "size", size), size, dtype);
}

/** An activation by name or as a function. */
export type Activation = "relu" | "gelu" | ((x: Tensor) => Tensor);

/** Options of TransformerEncoderLayer (PyTorch's defaults). */
export interface TransformerEncoderLayerOpts extends DtypeOpts {
  dimFeedforward?: number;
  dropout?: number;
  activation?: Activation;
  layerNormEps?: number;
  batchFirst?: boolean;
  /** Pre-norm (LayerNorm before attention and feed-forward) instead of post-norm (default false). */
  normFirst?: boolean;
  bias?: boolean;
}
const ENCODER_LAYER_KEYS = optionKeys<TransformerEncoderLayerOpts>({ dimFeedforward: true, dropout: true, activation: true, layerNormEps: true, batchFirst: true, normFirst: true, bias: true, dtype: true });

/** Masks and randomness of one encoder call. */
export interface EncoderCallOpts {
  /** Attention mask [L, L] or [N·nhead, L, L] (true = masked, or additive floats). */
  srcMask?: Tensor | null;
  /** [N, L]: true marks padding positions. */
  srcKeyPaddingMask?: Tensor | null;
  isCausal?: boolean;
  /** PRNG key for every dropout in the call (default: the enclosing nn.withRng block or the global generator). */
  key?: Key | null;
}

/**
 * One Transformer encoder block: self-attention and a feed-forward network, each with dropout, a
 * residual connection and LayerNorm (after, or before with normFirst).
 * @example new nn.TransformerEncoderLayer(64, 4, { dimFeedforward: 128, batchFirst: true })
 */
export class TransformerEncoderLayer extends Module {
  selfAttn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  readonly normFirst: boolean;
  readonly activation: Activation;

  constructor(dModel: number, nhead: number, opts: TransformerEncoderLayerOpts = {}) {
    super();
    checkOptions("TransformerEncoderLayer", opts, ENCODER_LAYER_KEYS);
    const p = opts.dropout ?? 0.1;
    const dt = opts.dtype;
    const ff = opts.dimFeedforward ?? 2048;
    const bias = opts.bias !== false;
    this.selfAttn = new MultiheadAttention(dModel, nhead, { dropout: p, batchFirst: opts.batchFirst, bias, dtype: dt });
    this.linear1 = new Linear(dModel, ff, { bias, dtype: dt });
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(ff, dModel, { bias, dtype: dt });
    this.norm1 = new LayerNorm(dModel, { eps: opts.layerNormEps ?? 1e-5, bias, dtype: dt });
    this.norm2 = new LayerNorm(dModel, { eps: opts.layerNormEps ?? 1e-5, bias, dtype: dt });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
    this.normFirst = opts.normFirst ?? false;
    const act = opts.activation ?? "relu";
    if (act !== "relu" && act !== "gelu" && typeof act !== "function") fail("TransformerEncoderLayer", `activation must be "relu", "gelu" or a function, got ${JSON.stringify(act)}`);
    this.activation = act;
  }
  protected override stateKey(field: string): string {
    return torchKey(field);
  }
  private act(x: Tensor): Tensor {
    const a = this.activation;
    return a === "relu" ? relu(x) : a === "gelu" ? gelu(x) : a(x);
  }
  forward(src: Tensor, opts: EncoderCallOpts = {}): Tensor {
    const run = () => {
      const sa = (x: Tensor) =>
        this.dropout1.forward(this.selfAttn.forward(x, x, x, { attnMask: opts.srcMask, keyPaddingMask: opts.srcKeyPaddingMask, isCausal: opts.isCausal, needWeights: false })[0]);
      const ffn = (x: Tensor) => this.dropout2.forward(this.linear2.forward(this.dropout.forward(this.act(this.linear1.forward(x)))));
      let x = src;
      if (this.normFirst) {
        x = add(x, sa(this.norm1.forward(x)));
        x = add(x, ffn(this.norm2.forward(x)));
      } else {
        x = this.norm1.forward(add(x, sa(x)));
        x = this.norm2.forward(add(x, ffn(x)));
      }
      return x;
    };
    return opts.key ? withRng(opts.key, run) : run();
  }
}

/**
 * A stack of numLayers copies of an encoder layer (deep copies with the same initial weights, as
 * PyTorch), optionally followed by a final norm.
 * @example new nn.TransformerEncoder(new nn.TransformerEncoderLayer(64, 4), 6)
 */
export class TransformerEncoder extends Module {
  layers: ModuleList<TransformerEncoderLayer>;
  norm: Module | null;
  readonly numLayers: number;
  constructor(encoderLayer: TransformerEncoderLayer, numLayers: number, opts: { norm?: Module | null } = {}) {
    super();
    checkOptions("TransformerEncoder", opts, ["norm"]);
    if (!(encoderLayer instanceof TransformerEncoderLayer)) fail("TransformerEncoder", "encoderLayer must be a TransformerEncoderLayer");
    this.numLayers = posInt("TransformerEncoder", "numLayers", numLayers);
    this.layers = new ModuleList(Array.from({ length: numLayers }, () => encoderLayer.clone()));
    this.norm = opts.norm ?? null;
  }
  forward(src: Tensor, opts: { mask?: Tensor | null; srcKeyPaddingMask?: Tensor | null; isCausal?: boolean; key?: Key | null } = {}): Tensor {
    const run = () => {
      let x = src;
      for (const layer of this.layers) x = layer.forward(x, { srcMask: opts.mask, srcKeyPaddingMask: opts.srcKeyPaddingMask, isCausal: opts.isCausal });
      return this.norm ? (this.norm.forward as (t: Tensor) => Tensor).call(this.norm, x) : x;
    };
    return opts.key ? withRng(opts.key, run) : run();
  }
}
