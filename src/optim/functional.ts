/**
 * Pure optimizers for `jit`/`grad`/`vmap`: parameters, gradients and state are pytrees of tensors, and
 * nothing is updated in place. The step count lives in the state as an int32 tensor, so a jitted
 * training step is traced once. The formulas are the stateful optimizers' own (see rules.ts), so both
 * forms follow the same trajectory.
 * @example
 * const opt = optim.functional.adam({ lr: 1e-3 });
 * let state = opt.init(params);
 * const train = tr.jit((params, state, x, y) => {
 *   const grads = tr.grad(loss)(params, x, y);
 *   return opt.update(grads, state, params);
 * });
 * [params, state] = train(params, state, x, y);
 */
import { fail } from "../core/errors.js";
import { treeDefKey, treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { isFloat, type DType } from "../core/dtype.js";
import { toTensor, type TensorLike } from "../ops/convert.js";
import { add, astype, div, equal, minimum, mul, pow, sqrt, sub } from "../ops/core.js";
import { fullLike, zerosLike } from "../ops/creation.js";
import { Tensor } from "../tensor.js";
import { validateAdagrad, type AdagradOptions } from "./adagrad.js";
import { validateAdam, type AdamOptions } from "./adam.js";
import { globalNorm } from "./clip.js";
import { withDefaults } from "./optimizer.js";
import { validateRmsprop, type RMSpropOptions } from "./rmsprop.js";
import { adagradRule, adamRule, rmspropRule, sc, sgdRule, type Scalar } from "./rules.js";
import { validateSgd, type SGDOptions } from "./sgd.js";

/** A learning rate: a number, or a function of the step count (an int32 scalar tensor, 0 at the first update). */
export type LearningRate = number | ((step: Tensor) => TensorLike);

/** A pure optimizer: `init` builds the state for some parameters, `update` returns new parameters and state. */
export interface FunctionalOptimizer<S> {
  init<P>(params: P): S;
  update<P>(grads: P, state: S, params: P): [P, S];
}

/** Options of the functional forms: the stateful options with a possibly scheduled learning rate. */
export type Functional<O> = Partial<Omit<O, "lr">> & { lr?: LearningRate };

interface Flat {
  leaves: Tensor[];
  def: TreeDef;
}

function flat(op: string, what: string, tree: unknown, like?: Flat): Flat {
  const [leaves, def] = treeFlatten(tree);
  leaves.forEach((l, i) => {
    if (!(l instanceof Tensor)) fail(op, `${what} leaf ${i} must be a tensor, got ${typeof l}`);
    if (like && !isFloat(l.dtype)) fail(op, `${what} leaf ${i} must be floating point, got ${l.dtype}`);
  });
  if (like) {
    if (treeDefKey(def) !== treeDefKey(like.def)) fail(op, `${what} has structure ${treeDefKey(def)} but params have ${treeDefKey(like.def)}`);
    leaves.forEach((l, i) => {
      const p = like.leaves[i] as Tensor;
      if ((l as Tensor).shape.join() !== p.shape.join()) fail(op, `${what} leaf ${i} has shape [${(l as Tensor).shape}] but the parameter has [${p.shape}]`);
    });
  }
  return { leaves: leaves as Tensor[], def };
}

function paramsFlat(op: string, params: unknown): Flat {
  const f = flat(op, "params", params);
  f.leaves.forEach((l, i) => {
    if (!isFloat(l.dtype)) fail(op, `params leaf ${i} must be floating point, got ${l.dtype}`);
  });
  return f;
}

function stepOf(op: string, state: { step?: unknown } | null | undefined): Tensor {
  const s = state?.step;
  if (!(s instanceof Tensor) || s.ndim !== 0) fail(op, "state.step must be a scalar tensor; build the state with init(params)");
  return s;
}

function lrAt(lr: LearningRate, step: Tensor): Scalar {
  if (typeof lr === "number") return lr;
  const v = lr(step);
  return typeof v === "number" ? v : toTensor(v);
}

/** Per-dtype cache, so step-dependent scalars are computed once per update rather than once per leaf. */
function perDtype<T>(make: (dt: DType) => T): (dt: DType) => T {
  const m = new Map<DType, T>();
  return (dt) => {
    let v = m.get(dt);
    if (v === undefined) m.set(dt, (v = make(dt)));
    return v;
  };
}

/** What every update starts from: the parameters and their gradients flattened alike, and the step count. */
function updateInputs(op: string, grads: unknown, state: { step?: unknown } | null | undefined, params: unknown): { pf: Flat; gf: Flat; step: Tensor } {
  const pf = paramsFlat(op, params);
  return { pf, gf: flat(op, "grads", grads, pf), step: stepOf(op, state) };
}

const newStep = (): Tensor => toTensor(0, "int32");
const fill = (tree: Flat, f: (p: Tensor) => Tensor) => treeUnflatten(tree.def, tree.leaves.map((p) => f(p)));

function checkLr(op: string, lr: LearningRate | undefined, fallback: number | undefined): LearningRate {
  const v = lr ?? fallback;
  if (v === undefined) fail(op, "lr is required, e.g. { lr: 0.01 }");
  if (typeof v !== "number" && typeof v !== "function") fail(op, `lr must be a number or a function of the step count, got ${typeof v}`);
  if (typeof v === "number" && !(v >= 0)) fail(op, `invalid learning rate lr: expected a number >= 0, got ${v}`);
  return v;
}

export interface SgdState {
  step: Tensor;
  momentumBuffer?: unknown;
}

/** Functional SGD (same options and trajectory as `optim.SGD`). */
export function sgd(opts: Functional<SGDOptions>): FunctionalOptimizer<SgdState> {
  const op = "optim.functional.sgd";
  const lr = checkLr(op, opts?.lr, undefined);
  const h = hyper(op, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false }, opts);
  validateSgd(op, { ...h, lr: 0 });
  return {
    init(params) {
      const pf = paramsFlat(op, params);
      return h.momentum !== 0 ? { step: newStep(), momentumBuffer: fill(pf, zerosLike) } : { step: newStep() };
    },
    update(grads, state, params) {
      const { pf, gf, step } = updateInputs(op, grads, state, params);
      const bf = h.momentum !== 0 ? flat(op, "state.momentumBuffer", state.momentumBuffer, pf) : null;
      // the first step copies the direction into the buffer; with dampening that differs from 0*m + (1-d)*g
      const isFirst = h.momentum !== 0 && h.dampening !== 0 ? equal(step, 0) : null;
      const hyper = { ...h, lr: lrAt(lr, step) };
      const outs = pf.leaves.map((p, i) => sgdRule(p, gf.leaves[i]!, bf ? bf.leaves[i]! : null, isFirst, hyper));
      const next: SgdState = { step: add(step, 1) };
      if (bf) next.momentumBuffer = treeUnflatten(pf.def, outs.map((o) => o.buf));
      return [treeUnflatten(pf.def, outs.map((o) => o.param)), next];
    },
  };
}

export interface AdamState {
  step: Tensor;
  expAvg: unknown;
  expAvgSq: unknown;
  maxExpAvgSq?: unknown;
}

function adamLike(op: string, decoupled: boolean, opts: Functional<AdamOptions>): FunctionalOptimizer<AdamState> {
  const lr = checkLr(op, opts?.lr, 1e-3);
  const h = hyper(op, { betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: decoupled ? 1e-2 : 0, amsgrad: false, maximize: false }, opts);
  validateAdam(op, { ...h, lr: 0 });
  const [beta1, beta2] = h.betas;
  return {
    init(params) {
      const pf = paramsFlat(op, params);
      const s: AdamState = { step: newStep(), expAvg: fill(pf, zerosLike), expAvgSq: fill(pf, zerosLike) };
      if (h.amsgrad) s.maxExpAvgSq = fill(pf, zerosLike);
      return s;
    },
    update(grads, state, params) {
      const { pf, gf, step } = updateInputs(op, grads, state, params);
      const m = flat(op, "state.expAvg", state.expAvg, pf);
      const v = flat(op, "state.expAvgSq", state.expAvgSq, pf);
      const vmax = h.amsgrad ? flat(op, "state.maxExpAvgSq", state.maxExpAvgSq, pf) : null;
      const t = add(step, 1);
      const rate = lrAt(lr, step);
      const scalars = perDtype((dt) => {
        const like = toTensor(0, dt);
        const tf = astype(t, dt);
        const bc1 = sub(sc(1, like), pow(sc(beta1, like), tf));
        const bc2 = sub(sc(1, like), pow(sc(beta2, like), tf));
        return { stepSize: div(sc(rate, like), bc1), bc2Sqrt: sqrt(bc2) };
      });
      const hyper = { beta1, beta2, eps: h.eps, weightDecay: h.weightDecay, amsgrad: h.amsgrad, maximize: h.maximize, decoupled, lr: rate };
      const outs = pf.leaves.map((p, i) =>
        adamRule(p, gf.leaves[i]!, { expAvg: m.leaves[i]!, expAvgSq: v.leaves[i]!, maxExpAvgSq: vmax ? vmax.leaves[i]! : null }, scalars(p.dtype), hyper),
      );
      const next: AdamState = {
        step: t,
        expAvg: treeUnflatten(pf.def, outs.map((o) => o.expAvg)),
        expAvgSq: treeUnflatten(pf.def, outs.map((o) => o.expAvgSq)),
      };
      if (vmax) next.maxExpAvgSq = treeUnflatten(pf.def, outs.map((o) => o.maxExpAvgSq));
      return [treeUnflatten(pf.def, outs.map((o) => o.param)), next];
    },
  };
}

/** Functional Adam (same options and trajectory as `optim.Adam`). */
export function adam(opts: Functional<AdamOptions> = {}): FunctionalOptimizer<AdamState> {
  return adamLike("optim.functional.adam", false, opts);
}

/** Functional AdamW (decoupled weight decay, default 1e-2; same trajectory as `optim.AdamW`). */
export function adamw(opts: Functional<AdamOptions> = {}): FunctionalOptimizer<AdamState> {
  return adamLike("optim.functional.adamw", true, opts);
}

export interface RmspropState {
  step: Tensor;
  squareAvg: unknown;
  gradAvg?: unknown;
  momentumBuffer?: unknown;
}

/** Functional RMSprop (same options and trajectory as `optim.RMSprop`). */
export function rmsprop(opts: Functional<RMSpropOptions> = {}): FunctionalOptimizer<RmspropState> {
  const op = "optim.functional.rmsprop";
  const lr = checkLr(op, opts?.lr, 1e-2);
  const h = hyper(op, { alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false }, opts);
  validateRmsprop(op, { ...h, lr: 0 });
  return {
    init(params) {
      const pf = paramsFlat(op, params);
      const s: RmspropState = { step: newStep(), squareAvg: fill(pf, zerosLike) };
      if (h.centered) s.gradAvg = fill(pf, zerosLike);
      if (h.momentum > 0) s.momentumBuffer = fill(pf, zerosLike);
      return s;
    },
    update(grads, state, params) {
      const { pf, gf, step } = updateInputs(op, grads, state, params);
      const sq = flat(op, "state.squareAvg", state.squareAvg, pf);
      const ga = h.centered ? flat(op, "state.gradAvg", state.gradAvg, pf) : null;
      const mb = h.momentum > 0 ? flat(op, "state.momentumBuffer", state.momentumBuffer, pf) : null;
      const hyper = { ...h, lr: lrAt(lr, step) };
      const outs = pf.leaves.map((p, i) =>
        rmspropRule(p, gf.leaves[i]!, { squareAvg: sq.leaves[i]!, gradAvg: ga ? ga.leaves[i]! : null, momentumBuffer: mb ? mb.leaves[i]! : null }, hyper),
      );
      const next: RmspropState = { step: add(step, 1), squareAvg: treeUnflatten(pf.def, outs.map((o) => o.squareAvg)) };
      if (ga) next.gradAvg = treeUnflatten(pf.def, outs.map((o) => o.gradAvg));
      if (mb) next.momentumBuffer = treeUnflatten(pf.def, outs.map((o) => o.momentumBuffer));
      return [treeUnflatten(pf.def, outs.map((o) => o.param)), next];
    },
  };
}

export interface AdagradState {
  step: Tensor;
  sum: unknown;
}

/** Functional Adagrad (same options and trajectory as `optim.Adagrad`). */
export function adagrad(opts: Functional<AdagradOptions> = {}): FunctionalOptimizer<AdagradState> {
  const op = "optim.functional.adagrad";
  const lr = checkLr(op, opts?.lr, 1e-2);
  const h = hyper(op, { lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false }, opts);
  validateAdagrad(op, { ...h, lr: 0 });
  return {
    init(params) {
      const pf = paramsFlat(op, params);
      return { step: newStep(), sum: fill(pf, (p) => fullLike(p, h.initialAccumulatorValue)) };
    },
    update(grads, state, params) {
      const { pf, gf, step } = updateInputs(op, grads, state, params);
      const sums = flat(op, "state.sum", state.sum, pf);
      const rate = lrAt(lr, step);
      // clr = lr / (1 + (t - 1) * lrDecay) with t = step + 1
      const clr = perDtype((dt) => {
        const like = toTensor(0, dt);
        return div(sc(rate, like), add(sc(1, like), mul(astype(step, dt), sc(h.lrDecay, like))));
      });
      const outs = pf.leaves.map((p, i) => adagradRule(p, gf.leaves[i]!, sums.leaves[i]!, clr(p.dtype), h));
      return [treeUnflatten(pf.def, outs.map((o) => o.param)), { step: add(step, 1), sum: treeUnflatten(pf.def, outs.map((o) => o.sum)) }];
    },
  };
}

/**
 * Scale a pytree of gradients so its global norm is at most `maxNorm` (clipGradNorm's formula, pure).
 * Returns the clipped tree and the norm before clipping.
 */
export function clipByGlobalNorm<G>(grads: G, maxNorm: number, normType = 2): [G, Tensor] {
  const op = "optim.functional.clipByGlobalNorm";
  if (typeof maxNorm !== "number" || !(maxNorm >= 0)) fail(op, `maxNorm must be a number >= 0, got ${maxNorm}`);
  const gf = flat(op, "grads", grads);
  if (gf.leaves.length === 0) return [grads, toTensor(0, "float32")];
  const total = globalNorm(op, gf.leaves, normType);
  const coef = minimum(div(toTensor(maxNorm, total.dtype), add(total, toTensor(1e-6, total.dtype))), toTensor(1, total.dtype));
  return [treeUnflatten(gf.def, gf.leaves.map((g) => mul(g, g.dtype === coef.dtype ? coef : astype(coef, g.dtype)))), total];
}

/** Defaults merged with the given options (unknown names rejected); lr is handled separately. */
function hyper<D extends object>(op: string, defaults: D, opts: object | undefined): D {
  const { lr: _lr, ...rest } = withDefaults(op, { ...defaults, lr: 0 }, opts ?? {}) as D & { lr: unknown };
  return rest as unknown as D;
}
