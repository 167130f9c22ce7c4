/**
 * `nn.functional` (PyTorch's `F`): the stateless forms of the layers. Activations, normalisation,
 * losses, convolution, pooling and attention are the public ops re-exported; linear, bilinear and
 * dropout are defined here.
 * @example import { nn } from "trident"; const F = nn.functional; F.relu(F.linear(x, w, b));
 */
import { isFloat } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import type { Tensor } from "../tensor.js";
import { bernoulli, type Key } from "../random/index.js";
import { toTensor, type TensorLike } from "../ops/convert.js";
import { add, div, where } from "../ops/core.js";
import { einsum, matmul } from "../ops/linalg.js";
import { reshape, swapaxes } from "../ops/shape.js";
import { zerosLike } from "../ops/creation.js";
import { drawKey } from "./rng.js";

export * from "../ops/nn.js";
export * from "../ops/conv.js";
export * from "../ops/linalg.js";
export * from "../ops/nnextra.js";
export { embedding, oneHot } from "../ops/indexing.js";

/**
 * x·Wᵀ + b over the last axis of x (PyTorch's F.linear): weight [out, in], bias [out].
 * @example F.linear(x, w, b) // x [..., in] → [..., out]
 */
export function linear(x: TensorLike, weight: TensorLike, bias?: TensorLike | null): Tensor {
  const xt = toTensor(x), w = toTensor(weight);
  if (w.ndim !== 2) fail("linear", `weight must have shape [out, in], got ${fmtShape(w.shape)}`);
  if (xt.ndim < 1 || xt.shape[xt.ndim - 1] !== w.shape[1]) {
    fail("linear", `input ${fmtShape(xt.shape)} must end in ${w.shape[1]} features to match weight ${fmtShape(w.shape)}`);
  }
  const y = matmul(xt, swapaxes(w, 0, 1));
  if (bias === undefined || bias === null) return y;
  const b = toTensor(bias);
  if (b.ndim !== 1 || b.shape[0] !== w.shape[0]) fail("linear", `bias must have shape [${w.shape[0]}], got ${fmtShape(b.shape)}`);
  return add(y, b);
}

/**
 * y_k = x1ᵀ·W_k·x2 + b_k (PyTorch's F.bilinear): x1 [..., in1], x2 [..., in2], weight [out, in1, in2].
 */
export function bilinear(x1: TensorLike, x2: TensorLike, weight: TensorLike, bias?: TensorLike | null): Tensor {
  const a = toTensor(x1), c = toTensor(x2), w = toTensor(weight);
  if (w.ndim !== 3) fail("bilinear", `weight must have shape [out, in1, in2], got ${fmtShape(w.shape)}`);
  const lead = a.shape.slice(0, -1);
  if (a.ndim < 1 || a.shape[a.ndim - 1] !== w.shape[1] || c.ndim !== a.ndim || c.shape[c.ndim - 1] !== w.shape[2] || c.shape.slice(0, -1).join() !== lead.join()) {
    fail("bilinear", `inputs ${fmtShape(a.shape)} and ${fmtShape(c.shape)} must be [..., ${w.shape[1]}] and [..., ${w.shape[2]}] with the same leading shape (weight ${fmtShape(w.shape)})`);
  }
  const n = lead.reduce((p, d) => p * d, 1);
  const y = einsum("bi,kij,bj->bk", reshape(a, [n, w.shape[1]!]), w, reshape(c, [n, w.shape[2]!]));
  const out = reshape(y, [...lead, w.shape[0]!]);
  if (bias === undefined || bias === null) return out;
  return add(out, bias);
}

/** Options of dropout. */
export interface DropoutOpts {
  /** Apply dropout (default true); false returns the input. */
  training?: boolean;
  /** PRNG key; defaults to the innermost nn.withRng block, else the global generator (refused inside jit). */
  key?: Key | null;
}

/**
 * Zero each element with probability p and scale the rest by 1 / (1 − p), so the expectation is
 * unchanged (PyTorch's F.dropout).
 * @example F.dropout(x, 0.1, { key })
 */
export function dropout(x: TensorLike, p = 0.5, opts: DropoutOpts = {}): Tensor {
  const t = toTensor(x);
  if (!(p >= 0 && p <= 1)) fail("dropout", `probability p must be in [0, 1], got ${p}`);
  if (!isFloat(t.dtype)) fail("dropout", `input must be floating point, got ${t.dtype}`);
  if (opts.training === false || p === 0) return t;
  if (p === 1) return zerosLike(t);
  const keep = bernoulli(drawKey("dropout", opts.key), 1 - p, t.shape);
  return where(keep, div(t, 1 - p), 0);
}
