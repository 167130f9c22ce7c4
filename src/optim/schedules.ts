/**
 * Learning-rate schedules with PyTorch 1.13 semantics. Constructing a scheduler applies its epoch-0
 * learning rate; each `step()` advances one epoch and writes the new rates into the optimizer's groups.
 * Like PyTorch's, most are "chainable": the new rate is computed from the group's current rate, so
 * several schedulers may act on one optimizer.
 */
import { fail } from "../core/errors.js";
import { Tensor } from "../tensor.js";

/** What a scheduler drives: an optimizer's parameter groups (any of this module's optimizers). */
export interface LrTarget {
  readonly paramGroups: { lr: number; initialLr?: number }[];
}

/** A JSON value (what scheduler state dicts hold). */
export type JsonValue = number | string | boolean | null | JsonValue[] | { [k: string]: JsonValue };

const isNum = (v: unknown): v is number => typeof v === "number" && !Number.isNaN(v);

function perGroup(op: string, name: string, v: number | readonly number[], n: number): number[] {
  if (Array.isArray(v)) {
    if (v.length !== n) fail(op, `${name} has ${v.length} values but the optimizer has ${n} parameter groups`);
    return [...v];
  }
  if (!isNum(v)) fail(op, `${name} must be a number or one number per parameter group, got ${JSON.stringify(v)}`);
  return Array.from({ length: n }, () => v as number);
}

/** Base of the epoch-driven schedulers (PyTorch's `_LRScheduler`). */
export abstract class LRScheduler {
  /** The epoch whose rate is in effect (0 right after construction). */
  lastEpoch = -1;
  /** Each group's starting rate (its `initialLr`). */
  baseLrs: number[];
  protected lastLr: number[] = [];
  protected stepCount = 0;

  protected constructor(readonly optimizer: LrTarget, protected readonly name: string) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups) || optimizer.paramGroups.length === 0) {
      fail(name, "expected an optimizer with parameter groups");
    }
    for (const g of optimizer.paramGroups) if (g.initialLr === undefined) g.initialLr = g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
  }

  /** The rates for `lastEpoch` (PyTorch's chainable `get_lr`). */
  protected abstract computeLr(): number[];

  /** Subclasses call this at the end of their constructor: it applies the epoch-0 rates. */
  protected initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** Advance one epoch and set every group's learning rate. */
  step(): void {
    this.stepCount++;
    this.lastEpoch++;
    const lrs = this.computeLr();
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = lrs[i]!));
    this.lastLr = lrs;
  }

  /** The learning rates set by the last `step()` (one per group). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Everything but the optimizer and user functions, as JSON (the optimizer saves its own state). */
  stateDict(): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(this)) {
      if (k === "optimizer" || k === "name" || typeof v === "function" || (Array.isArray(v) && v.some((e) => typeof e === "function"))) continue;
      out[k] = JSON.parse(JSON.stringify(v)) as JsonValue;
    }
    return out;
  }

  /** Restore a `stateDict()` of a scheduler of the same kind. */
  loadStateDict(sd: Record<string, JsonValue>): void {
    const op = `${this.name}.loadStateDict`;
    if (!sd || typeof sd !== "object") fail(op, "expected an object returned by stateDict()");
    const mine = this.stateDict();
    for (const [k, v] of Object.entries(sd)) {
      if (!(k in mine)) fail(op, `unknown entry "${k}" (this ${this.name} has ${Object.keys(mine).join(", ")})`);
      const cur = mine[k];
      if (cur !== null && v !== null && typeof cur !== typeof v) fail(op, `entry "${k}": expected a ${typeof cur}, got ${JSON.stringify(v)}`);
      if (Array.isArray(cur) && Array.isArray(v) && cur.length !== v.length && k !== "milestones") {
        fail(op, `entry "${k}" has ${v.length} values but this scheduler has ${cur.length}`);
      }
    }
    for (const [k, v] of Object.entries(sd)) (this as unknown as Record<string, unknown>)[k] = JSON.parse(JSON.stringify(v));
  }

  protected get groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

/**
 * Multiply the rate by `gamma` every `stepSize` epochs.
 * @example const sched = new optim.StepLR(opt, { stepSize: 30, gamma: 0.1 });
 */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: LrTarget, opts: { stepSize: number; gamma?: number }) {
    super(optimizer, "StepLR");
    if (!Number.isInteger(opts?.stepSize) || opts.stepSize < 1) fail("StepLR", `stepSize must be a positive integer, got ${opts?.stepSize}`);
    this.stepSize = opts.stepSize;
    this.gamma = opts.gamma ?? 0.1;
    this.initialStep();
  }
  protected computeLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.groupLrs;
    return this.groupLrs.map((lr) => lr * this.gamma);
  }
}

/** Multiply the rate by `gamma` at each milestone epoch (a milestone listed twice applies twice). */
export class MultiStepLR extends LRScheduler {
  milestones: number[];
  readonly gamma: number;
  constructor(optimizer: LrTarget, opts: { milestones: readonly number[]; gamma?: number }) {
    super(optimizer, "MultiStepLR");
    if (!Array.isArray(opts?.milestones) || opts.milestones.some((m) => !Number.isInteger(m))) {
      fail("MultiStepLR", `milestones must be an array of integer epochs, got ${JSON.stringify(opts?.milestones)}`);
    }
    this.milestones = [...opts.milestones].sort((a, b) => a - b);
    this.gamma = opts.gamma ?? 0.1;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const count = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (count === 0) return this.groupLrs;
    return this.groupLrs.map((lr) => lr * this.gamma ** count);
  }
}

/** Multiply the rate by `gamma` every epoch. */
export class ExponentialLR extends LRScheduler {
  readonly gamma: number;
  constructor(optimizer: LrTarget, opts: { gamma: number }) {
    super(optimizer, "ExponentialLR");
    if (!isNum(opts?.gamma)) fail("ExponentialLR", `gamma must be a number, got ${opts?.gamma}`);
    this.gamma = opts.gamma;
    this.initialStep();
  }
  protected computeLr(): number[] {
    if (this.lastEpoch === 0) return this.groupLrs;
    return this.groupLrs.map((lr) => lr * this.gamma);
  }
}

/**
 * Cosine annealing from the base rate to `etaMin` over `tMax` epochs (and back up after, as PyTorch's
 * recursive form does).
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  constructor(optimizer: LrTarget, opts: { tMax: number; etaMin?: number }) {
    super(optimizer, "CosineAnnealingLR");
    if (!isNum(opts?.tMax) || opts.tMax <= 0) fail("CosineAnnealingLR", `tMax must be a positive number of epochs, got ${opts?.tMax}`);
    this.tMax = opts.tMax;
    this.etaMin = opts.etaMin ?? 0;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const e = this.lastEpoch, T = this.tMax, m = this.etaMin;
    if (e === 0) return this.groupLrs;
    if ((e - 1 - T) % (2 * T) === 0) {
      return this.groupLrs.map((lr, i) => lr + ((this.baseLrs[i]! - m) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    return this.groupLrs.map((lr) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - m) + m);
  }
}

/** Scale the rate linearly from `startFactor` to `endFactor` of the base over `totalIters` epochs (warmup). */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
  constructor(optimizer: LrTarget, opts: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    super(optimizer, "LinearLR");
    this.startFactor = opts.startFactor ?? 1 / 3;
    this.endFactor = opts.endFactor ?? 1;
    this.totalIters = opts.totalIters ?? 5;
    if (!(this.startFactor > 0 && this.startFactor <= 1)) fail("LinearLR", `startFactor must be in (0, 1], got ${this.startFactor}`);
    if (!(this.endFactor >= 0 && this.endFactor <= 1)) fail("LinearLR", `endFactor must be in [0, 1], got ${this.endFactor}`);
    if (!Number.isInteger(this.totalIters) || this.totalIters < 1) fail("LinearLR", `totalIters must be a positive integer, got ${this.totalIters}`);
    this.initialStep();
  }
  protected computeLr(): number[] {
    const e = this.lastEpoch, s = this.startFactor, f = this.endFactor;
    if (e === 0) return this.groupLrs.map((lr) => lr * s);
    if (e > this.totalIters) return this.groupLrs;
    return this.groupLrs.map((lr) => lr * (1 + (f - s) / (this.totalIters * s + (e - 1) * (f - s))));
  }
}

type LrLambda = (epoch: number) => number;

/** One lrLambda per parameter group: a single function serves every group. */
function lambdasPerGroup(op: string, optimizer: LrTarget, l: LrLambda | LrLambda[] | undefined): LrLambda[] {
  const n = optimizer.paramGroups.length;
  if (Array.isArray(l)) {
    if (l.length !== n) fail(op, `got ${l.length} lrLambda functions but the optimizer has ${n} parameter groups`);
    return [...l];
  }
  if (typeof l === "function") return Array.from({ length: n }, () => l);
  return fail(op, `lrLambda must be a function of the epoch, got ${typeof l}`);
}

/** The rate is the base rate times `lrLambda(epoch)` (one function, or one per group). */
export class LambdaLR extends LRScheduler {
  private readonly lambdas: LrLambda[];
  constructor(optimizer: LrTarget, opts: { lrLambda: LrLambda | LrLambda[] }) {
    super(optimizer, "LambdaLR");
    this.lambdas = lambdasPerGroup("LambdaLR", optimizer, opts?.lrLambda);
    this.initialStep();
  }
  protected computeLr(): number[] {
    return this.baseLrs.map((b, i) => b * this.lambdas[i]!(this.lastEpoch));
  }
}

/** Multiply the current rate by `lrLambda(epoch)` every epoch after the first. */
export class MultiplicativeLR extends LRScheduler {
  private readonly lambdas: LrLambda[];
  constructor(optimizer: LrTarget, opts: { lrLambda: LrLambda | LrLambda[] }) {
    super(optimizer, "MultiplicativeLR");
    this.lambdas = lambdasPerGroup("MultiplicativeLR", optimizer, opts?.lrLambda);
    this.initialStep();
  }
  protected computeLr(): number[] {
    if (this.lastEpoch === 0) return this.groupLrs;
    return this.groupLrs.map((lr, i) => lr * this.lambdas[i]!(this.lastEpoch));
  }
}

export interface OneCycleOptions {
  /** Peak rate (or one per group). */
  maxLr: number | number[];
  /** Total number of steps; or give `epochs` and `stepsPerEpoch`. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  pctStart?: number;
  annealStrategy?: "cos" | "linear";
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
}

interface Phase {
  endStep: number;
  startLr: "initial" | "max" | "min";
  endLr: "initial" | "max" | "min";
  startMomentum: "max" | "base";
  endMomentum: "max" | "base";
}

/**
 * The 1cycle policy (PyTorch defaults: cosine annealing, pctStart 0.3, divFactor 25, finalDivFactor 1e4,
 * two phases; momentum (or Adam's beta1) cycles inversely between maxMomentum and baseMomentum).
 * Call `step()` after every batch; stepping past `totalSteps` throws.
 */
export class OneCycleLR extends LRScheduler {
  readonly totalSteps: number;
  readonly annealStrategy: "cos" | "linear";
  readonly cycleMomentum: boolean;
  private readonly phases: Phase[];
  readonly initialLrs: number[];
  readonly maxLrs: number[];
  readonly minLrs: number[];
  readonly maxMomentums: number[] = [];
  readonly baseMomentums: number[] = [];
  private readonly useBeta1: boolean = false;

  constructor(optimizer: LrTarget, opts: OneCycleOptions) {
    super(optimizer, "OneCycleLR");
    const op = "OneCycleLR";
    const o = opts ?? ({} as OneCycleOptions);
    let total: number;
    if (o.totalSteps !== undefined) {
      if (!Number.isInteger(o.totalSteps) || o.totalSteps <= 0) fail(op, `totalSteps must be a positive integer, got ${o.totalSteps}`);
      total = o.totalSteps;
    } else if (o.epochs !== undefined && o.stepsPerEpoch !== undefined) {
      if (!Number.isInteger(o.epochs) || o.epochs <= 0) fail(op, `epochs must be a positive integer, got ${o.epochs}`);
      if (!Number.isInteger(o.stepsPerEpoch) || o.stepsPerEpoch <= 0) fail(op, `stepsPerEpoch must be a positive integer, got ${o.stepsPerEpoch}`);
      total = o.epochs * o.stepsPerEpoch;
    } else fail(op, "give totalSteps, or both epochs and stepsPerEpoch");
    this.totalSteps = total;
    const pct = o.pctStart ?? 0.3;
    if (!(pct >= 0 && pct <= 1)) fail(op, `pctStart must be in [0, 1], got ${pct}`);
    this.annealStrategy = o.annealStrategy ?? "cos";
    if (this.annealStrategy !== "cos" && this.annealStrategy !== "linear") fail(op, `annealStrategy must be "cos" or "linear", got ${JSON.stringify(this.annealStrategy)}`);
    this.phases = o.threePhase
      ? [
          { endStep: pct * total - 1, startLr: "initial", endLr: "max", startMomentum: "max", endMomentum: "base" },
          { endStep: 2 * pct * total - 2, startLr: "max", endLr: "initial", startMomentum: "base", endMomentum: "max" },
          { endStep: total - 1, startLr: "initial", endLr: "min", startMomentum: "max", endMomentum: "max" },
        ]
      : [
          { endStep: pct * total - 1, startLr: "initial", endLr: "max", startMomentum: "max", endMomentum: "base" },
          { endStep: total - 1, startLr: "max", endLr: "min", startMomentum: "base", endMomentum: "max" },
        ];
    const groups = optimizer.paramGroups;
    const n = groups.length;
    const divFactor = o.divFactor ?? 25, finalDiv = o.finalDivFactor ?? 1e4;
    this.maxLrs = perGroup(op, "maxLr", o.maxLr, n);
    this.initialLrs = this.maxLrs.map((m) => m / divFactor);
    this.minLrs = this.initialLrs.map((l) => l / finalDiv);
    groups.forEach((g, i) => (g.initialLr = this.initialLrs[i]));
    this.baseLrs = [...this.initialLrs];
    this.cycleMomentum = o.cycleMomentum ?? true;
    if (this.cycleMomentum) {
      const rec = groups as unknown as Record<string, unknown>[];
      this.useBeta1 = rec.every((g) => Array.isArray(g["betas"]));
      if (!this.useBeta1 && !rec.every((g) => typeof g["momentum"] === "number")) {
        fail(op, "cycleMomentum is on but the optimizer has neither momentum nor betas; pass cycleMomentum: false");
      }
      this.maxMomentums = perGroup(op, "maxMomentum", o.maxMomentum ?? 0.95, n);
      this.baseMomentums = perGroup(op, "baseMomentum", o.baseMomentum ?? 0.85, n);
      this.setMomentum(this.maxMomentums);
    }
    this.initialStep();
  }

  private setMomentum(ms: number[]): void {
    const rec = this.optimizer.paramGroups as unknown as Record<string, unknown>[];
    rec.forEach((g, i) => {
      if (this.useBeta1) g["betas"] = [ms[i]!, ...(g["betas"] as number[]).slice(1)];
      else g["momentum"] = ms[i]!;
    });
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === "linear") return (end - start) * pct + start;
    return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  }

  protected computeLr(): number[] {
    const stepNum = this.lastEpoch;
    if (stepNum > this.totalSteps) {
      fail("OneCycleLR", `tried to step ${stepNum} times; the schedule has totalSteps = ${this.totalSteps}`);
    }
    const lrs: number[] = [];
    const moms: number[] = [];
    const lrOf = (k: Phase["startLr"], i: number) => (k === "initial" ? this.initialLrs[i]! : k === "max" ? this.maxLrs[i]! : this.minLrs[i]!);
    const momOf = (k: Phase["startMomentum"], i: number) => (k === "max" ? this.maxMomentums[i]! : this.baseMomentums[i]!);
    for (let i = 0; i < this.optimizer.paramGroups.length; i++) {
      let startStep = 0;
      for (let j = 0; j < this.phases.length; j++) {
        const ph = this.phases[j]!;
        if (stepNum <= ph.endStep || j === this.phases.length - 1) {
          const pct = (stepNum - startStep) / (ph.endStep - startStep);
          lrs.push(this.anneal(lrOf(ph.startLr, i), lrOf(ph.endLr, i), pct));
          if (this.cycleMomentum) moms.push(this.anneal(momOf(ph.startMomentum, i), momOf(ph.endMomentum, i), pct));
          break;
        }
        startStep = ph.endStep;
      }
    }
    if (this.cycleMomentum) this.setMomentum(moms);
    return lrs;
  }
}

export interface ReduceLROnPlateauOptions {
  /** "min": lower metric is better (a loss); "max": higher is better (an accuracy). */
  mode?: "min" | "max";
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: "rel" | "abs";
  cooldown?: number;
  minLr?: number | number[];
  /** Changes smaller than this are not applied. */
  eps?: number;
}

/**
 * Multiply the rate by `factor` once the metric has not improved for more than `patience` epochs
 * (improvement relative to the best by `threshold`), then wait `cooldown` epochs.
 * @example sched.step(valLoss) // once per epoch
 */
export class ReduceLROnPlateau {
  readonly mode: "min" | "max";
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: "rel" | "abs";
  readonly cooldown: number;
  readonly minLrs: number[];
  readonly eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;
  private lastLr: number[];

  constructor(readonly optimizer: LrTarget, opts: ReduceLROnPlateauOptions = {}) {
    const op = "ReduceLROnPlateau";
    if (!optimizer || !Array.isArray(optimizer.paramGroups) || optimizer.paramGroups.length === 0) fail(op, "expected an optimizer with parameter groups");
    this.mode = opts.mode ?? "min";
    if (this.mode !== "min" && this.mode !== "max") fail(op, `mode must be "min" or "max", got ${JSON.stringify(this.mode)}`);
    this.factor = opts.factor ?? 0.1;
    if (!(this.factor < 1 && this.factor >= 0)) fail(op, `factor must be in [0, 1), got ${this.factor}`);
    this.patience = opts.patience ?? 10;
    this.threshold = opts.threshold ?? 1e-4;
    this.thresholdMode = opts.thresholdMode ?? "rel";
    if (this.thresholdMode !== "rel" && this.thresholdMode !== "abs") fail(op, `thresholdMode must be "rel" or "abs", got ${JSON.stringify(this.thresholdMode)}`);
    this.cooldown = opts.cooldown ?? 0;
    this.minLrs = perGroup(op, "minLr", opts.minLr ?? 0, optimizer.paramGroups.length);
    this.eps = opts.eps ?? 1e-8;
    this.best = this.mode === "min" ? Infinity : -Infinity;
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  private isBetter(a: number, best: number): boolean {
    const t = this.threshold;
    if (this.mode === "min") return this.thresholdMode === "rel" ? a < best * (1 - t) : a < best - t;
    return this.thresholdMode === "rel" ? a > best * (t + 1) : a > best + t;
  }

  /** Report this epoch's metric (a number or a one-element tensor). */
  step(metric: number | Tensor): void {
    const current = metric instanceof Tensor ? metric.item() : metric;
    if (typeof current !== "number") fail("ReduceLROnPlateau.step", `metric must be a number or a one-element tensor, got ${typeof metric}`);
    this.lastEpoch += 1;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else this.numBadEpochs += 1;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const newLr = Math.max(g.lr * this.factor, this.minLrs[i]!);
        if (g.lr - newLr > this.eps) g.lr = newLr;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The groups' learning rates after the last `step()`. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The counters and best value, as JSON (infinities as strings). */
  stateDict(): Record<string, JsonValue> {
    return { best: String(this.best), numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter, lastEpoch: this.lastEpoch, lastLr: [...this.lastLr] };
  }

  /** Restore a `stateDict()`. */
  loadStateDict(sd: Record<string, JsonValue>): void {
    const op = "ReduceLROnPlateau.loadStateDict";
    const best = Number(sd?.["best"]);
    if (Number.isNaN(best)) fail(op, `best must be a number, got ${JSON.stringify(sd?.["best"])}`);
    for (const k of ["numBadEpochs", "cooldownCounter", "lastEpoch"] as const) if (!isNum(sd[k])) fail(op, `${k} must be a number, got ${JSON.stringify(sd[k])}`);
    const lastLr = sd["lastLr"];
    if (!Array.isArray(lastLr) || lastLr.length !== this.optimizer.paramGroups.length || !lastLr.every(isNum)) {
      fail(op, `lastLr must hold one number per parameter group (${this.optimizer.paramGroups.length})`);
    }
    this.best = best;
    this.numBadEpochs = sd["numBadEpochs"] as number;
    this.cooldownCounter = sd["cooldownCounter"] as number;
    this.lastEpoch = sd["lastEpoch"] as number;
    this.lastLr = lastLr as number[];
  }
}
