/**
 * The per-tensor update formulas (PyTorch 1.13's single-tensor code paths), written once as pure
 * functions of tensors. The stateful optimizers call them with step-dependent scalars computed in JS
 * float64 (as PyTorch does in Python); the functional forms call them with scalars computed from a
 * step-count tensor, so a jitted update is traced once.
 */
import { toTensor } from "../ops/convert.js";
import { add, astype, maximum, mul, neg, sqrt, sub, div, where } from "../ops/core.js";
import type { Tensor } from "../tensor.js";
import type { RMSpropOptions } from "./rmsprop.js";
import type { SGDOptions } from "./sgd.js";

/** A hyperparameter that is either a JS number or a scalar tensor (a traced schedule value). */
export type Scalar = number | Tensor;

/**
 * A strong scalar of `like`'s dtype. JS numbers must not enter float64 math as weak float32 scalars
 * (they would be rounded to float32 first), so every constant is materialised at the parameter's dtype.
 */
export function sc(v: Scalar, like: Tensor): Tensor {
  if (typeof v === "number") return toTensor(v, like.dtype);
  return v.dtype === like.dtype ? v : astype(v, like.dtype);
}

/** PyTorch's "d_p = -grad if maximize; d_p += weight_decay * param". */
function direction(p: Tensor, g: Tensor, weightDecay: number, maximize: boolean): Tensor {
  let d = maximize ? neg(g) : g;
  if (weightDecay !== 0) d = add(d, mul(p, sc(weightDecay, p)));
  return d;
}

/** An optimizer's options as its rule takes them: the learning rate may be a traced scalar. */
type WithScalarLr<O> = Omit<O, "lr"> & { lr: Scalar };

export type SgdHyper = WithScalarLr<SGDOptions>;

/**
 * SGD. `buf` is null when no momentum buffer exists yet (stateful first step: the buffer becomes a copy
 * of the direction); `isFirst` lets a functional update pick that branch with a traced condition.
 */
export function sgdRule(p: Tensor, g: Tensor, buf: Tensor | null, isFirst: Tensor | null, h: SgdHyper): { param: Tensor; buf: Tensor | null } {
  let d = direction(p, g, h.weightDecay, h.maximize);
  let nb: Tensor | null = null;
  if (h.momentum !== 0) {
    if (buf === null) nb = d;
    else {
      const upd = add(mul(buf, sc(h.momentum, p)), mul(d, sc(1 - h.dampening, p)));
      nb = isFirst ? where(isFirst, d, upd) : upd;
    }
    d = h.nesterov ? add(d, mul(nb, sc(h.momentum, p))) : nb;
  }
  return { param: add(p, mul(d, neg(sc(h.lr, p)))), buf: nb };
}

export interface AdamHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  /** AdamW: weight decay multiplies the parameter by (1 - lr * wd) instead of entering the gradient. */
  decoupled: boolean;
  lr: Scalar;
}

/** Step-dependent Adam scalars: lr / (1 - beta1^t) and sqrt(1 - beta2^t). */
export interface AdamScalars {
  stepSize: Scalar;
  bc2Sqrt: Scalar;
}

export interface AdamBuffers {
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq: Tensor | null;
}

/** Adam/AdamW for one tensor: new parameter and moments. */
export function adamRule(p: Tensor, g: Tensor, s: AdamBuffers, k: AdamScalars, h: AdamHyper): { param: Tensor } & AdamBuffers {
  let d: Tensor;
  let q = p;
  if (h.decoupled) {
    d = h.maximize ? neg(g) : g;
    if (h.weightDecay !== 0) {
      const keepFrac = typeof h.lr === "number" ? sc(1 - h.lr * h.weightDecay, p) : sub(sc(1, p), mul(sc(h.lr, p), sc(h.weightDecay, p)));
      q = mul(p, keepFrac);
    }
  } else d = direction(p, g, h.weightDecay, h.maximize);
  const m = add(mul(s.expAvg, sc(h.beta1, p)), mul(d, sc(1 - h.beta1, p)));
  const v = add(mul(s.expAvgSq, sc(h.beta2, p)), mul(mul(d, d), sc(1 - h.beta2, p)));
  const vmax = h.amsgrad ? maximum(s.maxExpAvgSq!, v) : null;
  const denom = add(div(sqrt(vmax ?? v), sc(k.bc2Sqrt, p)), sc(h.eps, p));
  const param = add(q, mul(div(m, denom), neg(sc(k.stepSize, p))));
  return { param, expAvg: m, expAvgSq: v, maxExpAvgSq: vmax };
}

export type RmspropHyper = WithScalarLr<RMSpropOptions>;

export interface RmspropBuffers {
  squareAvg: Tensor;
  gradAvg: Tensor | null;
  momentumBuffer: Tensor | null;
}

/** RMSprop for one tensor: new parameter and buffers. */
export function rmspropRule(p: Tensor, g: Tensor, s: RmspropBuffers, h: RmspropHyper): { param: Tensor } & RmspropBuffers {
  const d = direction(p, g, h.weightDecay, h.maximize);
  const a = sc(h.alpha, p), oneMinusA = sc(1 - h.alpha, p);
  const sq = add(mul(s.squareAvg, a), mul(mul(d, d), oneMinusA));
  let ga: Tensor | null = null;
  let avg: Tensor;
  if (h.centered) {
    ga = add(mul(s.gradAvg!, a), mul(d, oneMinusA));
    avg = sqrt(sub(sq, mul(ga, ga)));
  } else avg = sqrt(sq);
  avg = add(avg, sc(h.eps, p));
  let buf: Tensor | null = null;
  let param: Tensor;
  if (h.momentum > 0) {
    buf = add(mul(s.momentumBuffer!, sc(h.momentum, p)), div(d, avg));
    param = add(p, mul(buf, neg(sc(h.lr, p))));
  } else param = add(p, mul(div(d, avg), neg(sc(h.lr, p))));
  return { param, squareAvg: sq, gradAvg: ga, momentumBuffer: buf };
}

export interface AdagradHyper {
  eps: number;
  weightDecay: number;
  maximize: boolean;
}

/** Adagrad; `clr` is lr / (1 + (step - 1) * lrDecay). */
export function adagradRule(p: Tensor, g: Tensor, sum: Tensor, clr: Scalar, h: AdagradHyper): { param: Tensor; sum: Tensor } {
  const d = direction(p, g, h.weightDecay, h.maximize);
  const s = add(sum, mul(d, d));
  const std = add(sqrt(s), sc(h.eps, p));
  return { param: add(p, mul(div(d, std), neg(sc(clr, p)))), sum: s };
}
