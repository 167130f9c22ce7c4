/**
 * Keras-style training of `nn.Module`s: `fit`, `evaluate`, `predict`.
 *
 * The default (jit) path traces one training step per batch shape: the module as a pure function of
 * its parameters (`nn.functionalCallWithState`, so BatchNorm's running statistics come back as outputs),
 * its vjp, the functional form of the given optimizer with the learning rate as a tensor input (so
 * schedules never re-trace), and the metrics' batch statistics. Parameters are written back to the
 * module after every step (`assign` swaps storage, no copy); the optimizer's state lives as a pytree
 * during an epoch and is written back to the stateful optimizer at the end of each epoch. The eager path
 * (`jit: false`) is the PyTorch loop. Both free every intermediate, so memory stays flat across epochs.
 */
import { isFloat, type DType } from "../core/dtype.js";
import { ConcretizationError, TridentError, fail, fmtShape } from "../core/errors.js";
import { treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { full } from "../core/prims/constants.js";
import { keep, scope } from "../memory.js";
import { functionalCall, functionalCallWithState, type Module } from "../nn/module.js";
import { withRng } from "../nn/rng.js";
import { astype, mul } from "../ops/core.js";
import { fromTypedArray, toTensor } from "../ops/convert.js";
import { zerosLike } from "../ops/creation.js";
import { take } from "../ops/indexing.js";
import { concatenate, reshape, slice } from "../ops/shape.js";
import { binaryCrossEntropy, binaryCrossEntropyWithLogits, crossEntropy, huberLoss, l1Loss, mseLoss, nllLoss } from "../ops/nn.js";
import * as F from "../optim/functional.js";
import { Adagrad } from "../optim/adagrad.js";
import { Adam, AdamW } from "../optim/adam.js";
import { Optimizer, type GroupOptions, type OptimizerStateDict } from "../optim/optimizer.js";
import { RMSprop } from "../optim/rmsprop.js";
import { SGD } from "../optim/sgd.js";
import { foldIn, key as makeKey, type Key } from "../random/index.js";
import { nextKey } from "../random/global.js";
import { noGrad } from "../tape.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { jit as jitFn, type Jitted } from "../transforms/api.js";
import { vjpFlat } from "../transforms/partial.js";
import { HostRng, mixSeed } from "../data/rng.js";
import { Callback, History, type Logs, type TrainerState } from "./callbacks.js";
import { Metric, alignTarget, getMetric, type MetricSpec } from "./metrics.js";
import { ProgressBar, type ProgressStream } from "./progress.js";

// ---------------- public types ----------------

/** A loss: a function (pred, y) → scalar, or a name. */
export type LossFn = (pred: never, y: never) => Tensor;
export type LossName =
  | "crossEntropy" | "categoricalCrossentropy" | "sparseCategoricalCrossentropy" | "nll"
  | "mse" | "meanSquaredError" | "mae" | "l1" | "meanAbsoluteError" | "huber"
  | "bce" | "binaryCrossentropy" | "bceWithLogits";
export type LossSpec = LossName | LossFn;

export type OptimizerName = "sgd" | "adam" | "adamw" | "rmsprop" | "adagrad";
/** A stateful optimizer, a name (with `lr`), or a name with options: `{ name: "sgd", lr: 0.1, momentum: 0.9 }`. */
export type OptimizerSpec = Optimizer<GroupOptions> | OptimizerName | ({ name: OptimizerName } & Record<string, number | boolean | number[]>);

/** Batches: a DataLoader or any (async) iterable of `{ x, y }` / `[x, y]`, or whole tensors `[x, y]` / `{ x, y }`. */
export type FitData = AsyncIterable<unknown> | Iterable<unknown> | [Tensor, Tensor] | { x: Tensor; y: Tensor };

export interface EvaluateOptions {
  loss?: LossSpec;
  metrics?: MetricSpec[];
  /** Batch size when the data are whole tensors (default 32). */
  batchSize?: number;
  /** Trace the forward pass (default true). */
  jit?: boolean;
}

export interface FitOptions {
  optimizer: OptimizerSpec;
  /** Learning rate when the optimizer is given by name. */
  lr?: number;
  loss: LossSpec;
  metrics?: MetricSpec[];
  /** Train until this epoch (default 1). */
  epochs?: number;
  /** Epoch to start from (resuming; logs and schedules count from here). */
  initialEpoch?: number;
  /** Evaluated after every `validationFreq` epochs; logged as `val_*`. */
  validationData?: FitData;
  validationFreq?: number;
  validationBatchSize?: number;
  callbacks?: Callback[];
  /** 0: silent; 1 (default): a progress bar on a TTY, one line per epoch elsewhere; 2: one line per epoch. */
  verbose?: 0 | 1 | 2;
  /** Batches per epoch; the data iterator then continues across epochs and restarts when exhausted. */
  stepsPerEpoch?: number;
  /** Trace the training step (default true); false runs the eager PyTorch-style loop. */
  jit?: boolean;
  /** Batch size when the data are whole tensors (default 32). */
  batchSize?: number;
  /** Reshuffle whole-tensor data every epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffling and of dropout keys (default: a draw from the global generator). */
  seed?: number;
  /** Free each batch's tensors after its step (default: for DataLoaders with the default collate and whole tensors). */
  disposeBatches?: boolean;
  /** Where the default progress display writes (default process.stdout). */
  progressStream?: ProgressStream;
}

// ---------------- losses and optimizers ----------------

const LOSS_ALIASES: Record<LossName, string> = {
  crossEntropy: "crossEntropy", categoricalCrossentropy: "crossEntropy", sparseCategoricalCrossentropy: "crossEntropy", nll: "nll",
  mse: "mse", meanSquaredError: "mse", mae: "mae", l1: "mae", meanAbsoluteError: "mae", huber: "huber",
  bce: "bce", binaryCrossentropy: "bce", bceWithLogits: "bceWithLogits",
};

/** Targets for an elementwise loss: the predictions' shape when only size-1 axes differ, and their dtype. */
function elementTarget(pred: Tensor, y: Tensor): Tensor {
  const t = alignTarget(pred, y);
  return t.dtype === pred.dtype ? t : astype(t, pred.dtype);
}
/** Class labels: a trailing axis of 1 ([N, 1] labels for [N, C] scores) is dropped. */
function classTarget(pred: Tensor, y: Tensor): Tensor {
  if (!isFloat(y.dtype) && y.ndim === pred.ndim && y.shape[y.ndim - 1] === 1 && pred.shape[pred.ndim - 1] !== 1) return reshape(y, y.shape.slice(0, -1));
  return y;
}

/** Resolve a loss spec to a function and its canonical name (used to pick metric defaults). */
export function getLoss(spec: LossSpec): { fn: (pred: unknown, y: unknown) => Tensor; name: string } {
  if (typeof spec === "function") return { fn: spec as unknown as (pred: unknown, y: unknown) => Tensor, name: spec.name || "custom" };
  const name = typeof spec === "string" ? LOSS_ALIASES[spec] : undefined;
  if (!name) fail("fit", `unknown loss ${JSON.stringify(spec)}; give a function (pred, y) => scalar or one of ${Object.keys(LOSS_ALIASES).join(", ")}`);
  const t = (v: unknown) => (v instanceof Tensor ? v : toTensor(v as number));
  const fns: Record<string, (p: Tensor, y: Tensor) => Tensor> = {
    crossEntropy: (p, y) => crossEntropy(p, classTarget(p, y)),
    nll: (p, y) => nllLoss(p, classTarget(p, y)),
    mse: (p, y) => mseLoss(p, elementTarget(p, y)),
    mae: (p, y) => l1Loss(p, elementTarget(p, y)),
    huber: (p, y) => huberLoss(p, elementTarget(p, y)),
    bce: (p, y) => binaryCrossEntropy(p, elementTarget(p, y)),
    bceWithLogits: (p, y) => binaryCrossEntropyWithLogits(p, elementTarget(p, y)),
  };
  const f = fns[name]!;
  return { fn: (p, y) => f(t(p), t(y)), name };
}

const OPTIMIZERS: Record<OptimizerName, (params: Tensor[], o: Record<string, unknown>) => Optimizer<GroupOptions>> = {
  sgd: (p, o) => new SGD(p, { lr: 0.01, ...o } as never) as unknown as Optimizer<GroupOptions>,
  adam: (p, o) => new Adam(p, o) as unknown as Optimizer<GroupOptions>,
  adamw: (p, o) => new AdamW(p, o) as unknown as Optimizer<GroupOptions>,
  rmsprop: (p, o) => new RMSprop(p, o) as unknown as Optimizer<GroupOptions>,
  adagrad: (p, o) => new Adagrad(p, o) as unknown as Optimizer<GroupOptions>,
};

function getOptimizer(spec: OptimizerSpec | undefined, model: Module, lr: number | undefined): Optimizer<GroupOptions> {
  if (spec instanceof Optimizer) {
    if (lr !== undefined) fail("fit", "lr applies to an optimizer given by name; set it on the optimizer instead");
    return spec;
  }
  let name: string;
  let opts: Record<string, unknown> = {};
  if (typeof spec === "string") name = spec;
  else if (spec && typeof spec === "object" && typeof (spec as { name?: unknown }).name === "string") {
    const { name: n, ...rest } = spec as { name: string };
    name = n;
    opts = rest;
  } else return fail("fit", `optimizer is required: an optimizer instance, a name (${Object.keys(OPTIMIZERS).join(", ")}) or { name, ...options }`);
  const make = OPTIMIZERS[name.toLowerCase() as OptimizerName];
  if (!make) fail("fit", `unknown optimizer "${name}"; known: ${Object.keys(OPTIMIZERS).join(", ")}`);
  if (lr !== undefined) opts["lr"] = lr;
  const params = model.parameters().filter((p) => p.requiresGrad);
  if (params.length === 0) fail("fit", "the model has no trainable parameters (none requires grad)");
  return make(params, opts);
}

// ---------------- data ----------------

interface Source {
  open(epoch: number): AsyncIterator<unknown> | Iterator<unknown>;
  /** Batches per pass when known. */
  length: number | undefined;
  /** Whether open() can start a new pass (a generator object cannot). */
  reiterable: boolean;
  /** Whether its batches are fresh tensors that the loop may free. */
  fresh: boolean;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;

function leadingDim(op: string, x: unknown): number {
  const leaves = treeFlatten(x)[0];
  const first = leaves.find((l): l is Tensor => l instanceof Tensor);
  if (!first) fail(op, "the inputs hold no tensor");
  if (first.ndim === 0) fail(op, `inputs need a batch axis, got a scalar ${first.aval}`);
  return first.shape[0]!;
}

/** Whole tensors `[x, y]` / `{ x, y }` (or x alone for predict) as a pytree, or null when data are batches. */
function wholeTensors(data: unknown): { x: unknown; y: unknown } | null {
  if (data instanceof Tensor) return { x: data, y: undefined };
  if (Array.isArray(data) && data.length === 2 && data[0] instanceof Tensor && data[1] instanceof Tensor) return { x: data[0], y: data[1] };
  if (isPlainObject(data) && "x" in data && !(Symbol.iterator in data) && !(Symbol.asyncIterator in data)) {
    const ok = (v: unknown) => v === undefined || treeFlatten(v)[0].every((l) => l instanceof Tensor);
    if (ok(data["x"]) && ok(data["y"])) return { x: data["x"], y: data["y"] };
  }
  return null;
}

function toSource(op: string, data: unknown, opts: { batchSize?: number; shuffle?: boolean; seed: number; disposeBatches?: boolean }): Source {
  const whole = wholeTensors(data);
  if (whole) {
    const bs = opts.batchSize ?? 32;
    if (!Number.isInteger(bs) || bs < 1) fail(op, `batchSize must be a positive integer, got ${opts.batchSize}`);
    const n = leadingDim(op, whole.x);
    if (whole.y !== undefined) {
      const ny = leadingDim(op, whole.y);
      if (ny !== n) fail(op, `x has ${n} samples but y has ${ny}`);
    }
    const shuffle = opts.shuffle ?? false;
    return {
      length: Math.ceil(n / bs),
      reiterable: true,
      fresh: opts.disposeBatches ?? true,
      open(epoch) {
        const order = shuffle ? new HostRng(mixSeed(opts.seed, epoch)).permutation(n) : null;
        let s = 0;
        return {
          next(): IteratorResult<unknown> {
            if (s >= n) return { done: true, value: undefined };
            const e = Math.min(s + bs, n);
            const batch = scope(() => {
              const idx = order ? fromTypedArray(Int32Array.from(order.subarray(s, e)), [e - s], "int32") : null;
              const rows = (t: unknown) => {
                const [leaves, def] = treeFlatten(t);
                return treeUnflatten(def, leaves.map((l) => {
                  const r = idx ? take(l as Tensor, idx, 0) : slice(l as Tensor, [[s, e]]);
                  // a full-range slice may return its input: hand out a new handle, never the caller's tensor
                  return r === l ? (l as EagerTensor).detach() : r;
                }));
              };
              return whole.y === undefined ? { x: rows(whole.x) } : { x: rows(whole.x), y: rows(whole.y) };
            });
            s = e;
            return { done: false, value: batch };
          },
        };
      },
    };
  }
  const asyncIt = data !== null && typeof data === "object" && Symbol.asyncIterator in data;
  const syncIt = data !== null && typeof data === "object" && Symbol.iterator in data;
  if (!asyncIt && !syncIt) fail(op, `data must be a DataLoader, an (async) iterable of batches, or tensors [x, y]; got ${data === null ? "null" : typeof data}`);
  const it = data as (AsyncIterable<unknown> & Iterable<unknown>) & { length?: unknown; setEpoch?: (e: number) => void; opts?: { collate?: unknown }; dataset?: unknown };
  const isLoader = typeof it.setEpoch === "function" && it.dataset !== undefined;
  const open = () => (asyncIt ? it[Symbol.asyncIterator]() : it[Symbol.iterator]());
  const probe = open();
  // a generator object is its own iterator: it can be walked once
  const reiterable = (probe as unknown) !== data;
  let first: (AsyncIterator<unknown> | Iterator<unknown>) | null = probe;
  return {
    length: typeof it.length === "number" ? it.length : undefined,
    reiterable,
    fresh: opts.disposeBatches ?? (isLoader && !it.opts?.collate),
    open(epoch) {
      if (isLoader) {
        // the probe iterator has not started, so setting the epoch still applies to it
        it.setEpoch!(epoch);
        first = null;
        return open();
      }
      const r = first ?? open();
      first = null;
      return r;
    },
  };
}

/** Split a batch into inputs and targets. */
function splitBatch(op: string, b: unknown, needY: boolean): [unknown, unknown] {
  let x: unknown, y: unknown;
  if (b instanceof Tensor) x = b;
  else if (Array.isArray(b) && (b.length === 2 || (!needY && b.length === 1))) [x, y] = b;
  else if (isPlainObject(b) && "x" in b) [x, y] = [b["x"], b["y"]];
  else fail(op, `each batch must be { x, y } or [x, y]${needY ? "" : " (or x alone)"}, got ${b === null ? "null" : Array.isArray(b) ? `an array of ${b.length}` : typeof b}`);
  if (needY && y === undefined) fail(op, "the batch has no targets y");
  if (y !== undefined && !(y instanceof Tensor)) y = toTensor(y as number);
  return [x, y];
}

function disposeTree(t: unknown): void {
  for (const l of treeFlatten(t)[0]) if (l instanceof EagerTensor) l.dispose();
}

function checkLoss(l: unknown): Tensor {
  if (!(l instanceof Tensor) || l.ndim !== 0 || !isFloat(l.dtype)) {
    fail("fit", `the loss must return a floating-point scalar, got ${l instanceof Tensor ? `${l.dtype} of shape ${fmtShape(l.shape)}` : typeof l}`);
  }
  return l;
}

function forward(model: Module, x: unknown): unknown {
  return (model.forward as (x: unknown) => unknown).call(model, x);
}

function jitError(op: string, e: unknown): never {
  if (e instanceof ConcretizationError) throw new TridentError(`${op}: the model or loss could not be traced for jit (${e.message}); pass { jit: false } to run eagerly`);
  throw e;
}

/** Modules' training flags, to restore after evaluation. */
function modes(model: Module): () => void {
  const saved = model.modules().map((m) => [m, m.training] as const);
  return () => {
    for (const [m, t] of saved) m.training = t;
  };
}

// ---------------- running means ----------------

/** The running loss: the sum of batch losses weighted by batch size, over the samples seen. */
class LossMean extends Metric {
  batchStats(loss: Tensor, n: Tensor): Tensor[] {
    return [mul(loss, astype(n, loss.dtype)), n];
  }
  compute([s, n]: ArrayLike<number>[]): number {
    return n![0] === 0 ? 0 : s![0]! / n![0]!;
  }
}

async function readLogs(loss: Metric | null, metrics: readonly Metric[], prefix = ""): Promise<Logs> {
  const logs: Logs = {};
  const all = loss ? [loss, ...metrics] : metrics;
  const vals = await Promise.all(all.map((m) => m.resultAsync()));
  all.forEach((m, i) => (logs[prefix + m.name] = vals[i]!));
  return logs;
}

// ---------------- evaluation ----------------

/** Forward passes in eval mode without gradients, traced once per batch shape. */
class Evaluator {
  private fn: Jitted<(state: Record<string, Tensor>, x: unknown, y: unknown) => unknown> | null = null;
  constructor(private model: Module, private loss: ((p: unknown, y: unknown) => Tensor) | null, private metrics: Metric[], private useJit: boolean) {}

  private outputs(pred: unknown, y: unknown, n: number): [Tensor[], Tensor[][]] {
    if (y === undefined) return [[], []];
    const nT = toTensor(n, "int32");
    const lossStats = this.loss ? [mul(checkLoss(this.loss(pred, y)), n), nT] : [];
    return [lossStats, this.metrics.map((m) => m.batchStats(pred as Tensor, y as Tensor))];
  }

  /** One batch: accumulates loss and metrics; returns the predictions when asked. */
  batch(x: unknown, y: unknown, lossMean: Metric | null, keepPred: boolean): unknown {
    const n = leadingDim("evaluate", x);
    return scope(() => {
      let pred: unknown, lossStats: Tensor[], stats: Tensor[][];
      if (this.useJit) {
        this.fn ??= jitFn((state: Record<string, Tensor>, xx: unknown, yy: unknown) => {
          const p = functionalCall(this.model as Module & { forward(...a: never[]): unknown }, state, xx);
          return [p, ...this.outputs(p, yy, leadingDim("evaluate", xx))];
        });
        const state = { ...Object.fromEntries(this.model.namedParameters()), ...Object.fromEntries(this.model.namedBuffers()) };
        try {
          [pred, lossStats, stats] = noGrad(() => this.fn!(state, x, y)) as [unknown, Tensor[], Tensor[][]];
        } catch (e) {
          jitError("evaluate", e);
        }
      } else {
        [pred, lossStats, stats] = noGrad(() => {
          const p = forward(this.model, x);
          return [p, ...this.outputs(p, y, n)] as [unknown, Tensor[], Tensor[][]];
        });
      }
      if (lossMean && lossStats.length) lossMean.accumulate(lossStats);
      this.metrics.forEach((m, i) => m.accumulate(stats[i]!));
      if (!keepPred) return null;
      for (const l of treeFlatten(pred)[0]) if (l instanceof EagerTensor) keep(l);
      return pred;
    });
  }
}

async function runEvaluation(
  op: string, model: Module, source: Source, ev: Evaluator, lossMean: Metric | null, metrics: Metric[], needY: boolean, keepPreds: boolean,
): Promise<unknown[]> {
  const restore = modes(model);
  model.eval();
  lossMean?.reset();
  for (const m of metrics) m.reset();
  const preds: unknown[] = [];
  let batches = 0;
  try {
    const it = source.open(0);
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      batches++;
      const [x, y] = splitBatch(op, r.value, needY);
      try {
        const p = ev.batch(x, y, lossMean, keepPreds);
        if (keepPreds) preds.push(p);
      } finally {
        if (source.fresh) disposeTree(r.value);
      }
    }
    if (batches === 0) fail(op, "the data produced no batches (a generator can be walked only once: pass a DataLoader, a Dataset or an array)");
  } catch (e) {
    for (const p of preds) disposeTree(p);
    throw e;
  } finally {
    restore();
  }
  return preds;
}

function resolveMetrics(specs: readonly MetricSpec[] | undefined, lossName: string | undefined): Metric[] {
  const ms = (specs ?? []).map((s) => getMetric(s, { lossName }));
  const names = new Set<string>(["loss"]);
  for (const m of ms) {
    if (names.has(m.name)) fail("fit", `two metrics are named "${m.name}"; give one a different name`);
    names.add(m.name);
  }
  return ms;
}

/**
 * Loss and metrics of a model over data, in eval mode and without gradients.
 * @example const { loss, accuracy } = await evaluate(model, testLoader, { loss: "crossEntropy", metrics: ["accuracy"] });
 */
export async function evaluate(model: Module, data: FitData, opts: EvaluateOptions = {}): Promise<Logs> {
  const loss = opts.loss === undefined ? null : getLoss(opts.loss);
  const metrics = resolveMetrics(opts.metrics, loss?.name);
  const lossMean = loss ? new LossMean("loss") : null;
  const source = toSource("evaluate", data, { batchSize: opts.batchSize, shuffle: false, seed: 0 });
  try {
    await runEvaluation("evaluate", model, source, new Evaluator(model, loss?.fn ?? null, metrics, opts.jit ?? true), lossMean, metrics, true, false);
    return await readLogs(lossMean, metrics);
  } finally {
    lossMean?.reset();
    for (const m of metrics) m.reset();
  }
}

/**
 * The model's outputs for every sample, batch by batch in eval mode without gradients, concatenated
 * along axis 0 (a tree of outputs is concatenated leaf by leaf).
 * @example const logits = await predict(model, xTest, { batchSize: 256 });
 */
export async function predict(model: Module, data: FitData | Tensor, opts: { batchSize?: number; jit?: boolean } = {}): Promise<Tensor> {
  const source = toSource("predict", data, { batchSize: opts.batchSize, shuffle: false, seed: 0 });
  const preds = await runEvaluation("predict", model, source, new Evaluator(model, null, [], opts.jit ?? true), null, [], false, true);
  if (preds.length === 0) fail("predict", "the data produced no batches");
  try {
    const flat = preds.map((p) => treeFlatten(p));
    const def = flat[0]![1];
    const cols = flat[0]![0].map((_, i) => flat.map(([leaves]) => leaves[i] as Tensor));
    const out = cols.map((c) => (c.length === 1 ? (c[0] as EagerTensor).detach() : concatenate(c, 0)));
    return treeUnflatten(def, out) as Tensor;
  } finally {
    for (const p of preds) disposeTree(p);
  }
}

// ---------------- training steps ----------------

type Kind = "sgd" | "adam" | "adamw" | "rmsprop" | "adagrad";
const KINDS = new Map<unknown, Kind>([[SGD, "sgd"], [Adam, "adam"], [AdamW, "adamw"], [RMSprop, "rmsprop"], [Adagrad, "adagrad"]]);

/** A group's hyperparameters other than the learning rate (what the trace depends on). */
function hyperOf(g: object): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(g)) if (k !== "params" && k !== "lr" && k !== "initialLr") h[k] = v;
  return h;
}

function functionalFor(kind: Kind, hyper: Record<string, unknown>, lr: F.LearningRate): F.FunctionalOptimizer<Record<string, unknown>> {
  const o = { ...hyper, lr } as never;
  const make = { sgd: F.sgd, adam: F.adam, adamw: F.adamw, rmsprop: F.rmsprop, adagrad: F.adagrad }[kind] as unknown as (o: never) => F.FunctionalOptimizer<Record<string, unknown>>;
  return make(o);
}

/** Why the jit path cannot take this optimizer (the eager loop is used instead), or null. */
function jitObstacle(opt: Optimizer<GroupOptions>): string | null {
  if (!KINDS.has(opt.constructor)) return `${opt.constructor.name} has no functional form`;
  for (const g of opt.paramGroups) {
    const steps = new Set(g.params.filter((p) => p.requiresGrad).map((p) => opt.getState(p)?.step ?? 0));
    if (steps.size > 1) return "the parameters of a group have taken different numbers of steps";
  }
  return null;
}

interface StepContext {
  model: Module;
  optimizer: Optimizer<GroupOptions>;
  loss: (p: unknown, y: unknown) => Tensor;
  metrics: Metric[];
  lossMean: Metric;
  baseKey: Key;
}

interface TrainStep {
  beginEpoch(): void;
  run(x: unknown, y: unknown, step: number): void;
  /** Write the optimizer's state back to the stateful optimizer (and free the epoch's copy). */
  endEpoch(): void;
}

/** The PyTorch loop: zeroGrad, forward, backward, step, all inside a scope. */
class EagerStep implements TrainStep {
  constructor(private c: StepContext) {}
  beginEpoch(): void {}
  endEpoch(): void {}
  run(x: unknown, y: unknown, step: number): void {
    const { model, optimizer, loss, metrics, lossMean, baseKey } = this.c;
    const n = leadingDim("fit", x);
    scope(() => {
      optimizer.zeroGrad();
      const pred = withRng(foldIn(baseKey, step), () => forward(model, x));
      const l = checkLoss(loss(pred, y));
      l.backward();
      optimizer.step();
      noGrad(() => {
        lossMean.accumulate(lossMean.batchStats(l, toTensor(n, "int32")));
        for (const m of metrics) m.accumulate(m.batchStats(pred as Tensor, y as Tensor));
      });
    });
  }
}

interface Group {
  kind: Kind;
  hyper: Record<string, unknown>;
  params: EagerTensor[];
  names: string[];
  /** Global indices of the params in the optimizer's state dict. */
  indices: number[];
  lr: EagerTensor | null;
  lrValue: number;
  steps: number;
}

type StepFn = (train: Tensor[][], frozen: Record<string, Tensor>, buffers: Record<string, Tensor>, states: unknown[], lrs: Tensor[], key: Tensor, step: Tensor, x: unknown, y: unknown) => unknown;

/** One traced step over the module's parameters, optimizer state and buffers as pytrees. */
class JitStep implements TrainStep {
  private groups: Group[] = [];
  private frozen: Record<string, EagerTensor> = {};
  private buffers: [string, EagerTensor][] = [];
  private states: Record<string, unknown>[] | null = null;
  private fn: Jitted<StepFn> | null = null;
  private planKey = "";

  constructor(private c: StepContext) {}

  /** (Re)build the plan when the trainable set or non-lr hyperparameters change. */
  private plan(): void {
    const opt = this.c.optimizer;
    const trainableKey = opt.paramGroups.map((g) => g.params.map((p) => (p.requiresGrad ? 1 : 0)).join("")).join("|");
    const key = JSON.stringify([opt.paramGroups.map(hyperOf), trainableKey]);
    if (key === this.planKey && this.fn) return;
    // the state's layout may change with the hyperparameters: hand it back and re-import it
    const hadState = this.states !== null;
    if (hadState) this.endEpoch();
    this.build(key);
    if (hadState) this.importState();
  }

  private build(key: string): void {
    const opt = this.c.optimizer;
    const kind = KINDS.get(opt.constructor)!;
    const named = this.c.model.namedParameters();
    const nameOf = new Map<Tensor, string>(named.map(([n, t]) => [t, n]));
    const trained = new Set<Tensor>();
    let index = 0;
    const prevLr = this.groups;
    this.groups = opt.paramGroups.map((g, gi) => {
      const grp: Group = { kind, hyper: hyperOf(g), params: [], names: [], indices: [], lr: prevLr[gi]?.lr ?? null, lrValue: prevLr[gi]?.lrValue ?? NaN, steps: 0 };
      for (const p of g.params) {
        const name = nameOf.get(p);
        if (name !== undefined && p.requiresGrad && !trained.has(p)) {
          grp.params.push(p);
          grp.names.push(name);
          grp.indices.push(index);
          trained.add(p);
        }
        index++;
      }
      return grp;
    });
    for (const g of prevLr.slice(this.groups.length)) g.lr?.dispose();
    if (trained.size === 0) fail("fit", "none of the optimizer's parameters belongs to the model and requires grad");
    this.frozen = {};
    for (const [n, t] of named) if (!trained.has(t)) this.frozen[n] = t as EagerTensor;
    this.buffers = this.c.model.namedBuffers() as [string, EagerTensor][];
    this.fn = jitFn(this.body());
    this.planKey = key;
  }

  private body(): StepFn {
    const { model, loss, metrics } = this.c;
    const groups = this.groups.map((g) => ({ kind: g.kind, hyper: g.hyper, names: g.names }));
    const names = groups.flatMap((g) => g.names);
    return (train, frozen, buffers, states, lrs, key, step, x, y) => {
      const flat = train.flat();
      let predDef: TreeDef | null = null;
      let nPred = 0;
      let bufKeys: string[] = [];
      const fwd = (...leaves: Tensor[]): Tensor[] => {
        const p: Record<string, Tensor> = { ...frozen };
        names.forEach((n, i) => (p[n] = leaves[i]!));
        const [pred, nb] = withRng(foldIn(key, step), () => functionalCallWithState(model as Module & { forward(...a: never[]): unknown }, p, buffers, x));
        const l = checkLoss(loss(pred, y));
        const [pl, pd] = treeFlatten(pred);
        predDef = pd;
        nPred = pl.length;
        bufKeys = Object.keys(nb);
        return [l, ...(pl as Tensor[]), ...bufKeys.map((k) => nb[k]!)];
      };
      const { primalsOut, fVjp } = vjpFlat(fwd, flat);
      const l = primalsOut[0]!;
      const grads = fVjp(primalsOut.map((_, i) => (i === 0 ? full([], 1, l.dtype) : null))).map((g, i) => g ?? zerosLike(flat[i]!));
      let off = 0;
      const newTrain: unknown[] = [];
      const newStates: unknown[] = [];
      groups.forEach((g, gi) => {
        const k = train[gi]!.length;
        const fo = functionalFor(g.kind, g.hyper, () => lrs[gi]!);
        const [np, ns] = fo.update(grads.slice(off, off + k), states[gi] as Record<string, unknown>, train[gi]!);
        off += k;
        newTrain.push(np);
        newStates.push(ns);
      });
      const pred = treeUnflatten(predDef!, primalsOut.slice(1, 1 + nPred));
      const bufVals = primalsOut.slice(1 + nPred);
      const nT = toTensor(leadingDim("fit", x), "int32");
      const lossStats = [mul(l, astype(nT, l.dtype)), nT];
      const stats = metrics.map((m) => m.batchStats(pred as Tensor, y as Tensor));
      return [newTrain, newStates, Object.fromEntries(bufKeys.map((k, i) => [k, bufVals[i]!])), lossStats, stats];
    };
  }

  beginEpoch(): void {
    this.plan();
    if (!this.states) this.importState();
  }

  /** The functional optimizer state, continuing from the stateful optimizer's (sharing storage). */
  private importState(): void {
    const opt = this.c.optimizer;
    this.states = this.groups.map((g) => {
      const steps = g.params.map((p) => opt.getState(p)?.step ?? 0);
      g.steps = steps[0] ?? 0;
      const fo = functionalFor(g.kind, g.hyper, 0);
      const st = scope(() => fo.init(g.params)) as Record<string, unknown>;
      (st["step"] as Tensor).dispose();
      st["step"] = toTensor(g.steps, "int32");
      // continue from the stateful optimizer's buffers where it has them (views of the same storage)
      for (const [field, v] of Object.entries(st)) {
        if (!Array.isArray(v)) continue;
        v.forEach((zero: Tensor, i: number) => {
          const b = opt.getState(g.params[i]!)?.buffers[field];
          if (b && b.shape.join() === zero.shape.join()) {
            zero.dispose();
            v[i] = b.dtype === zero.dtype ? new EagerTensor(b.aval, b.ref.retain()) : noGrad(() => astype(b, zero.dtype));
          }
        });
      }
      for (const l of treeFlatten(st)[0]) keep(l as EagerTensor);
      return st;
    });
  }

  private lrTensor(g: Group, value: number): Tensor {
    if (g.lr === null || g.lrValue !== value) {
      g.lr?.dispose();
      g.lr = keep(toTensor(value, (g.params[0]?.dtype ?? "float32") as DType) as EagerTensor);
      g.lrValue = value;
    }
    return g.lr;
  }

  run(x: unknown, y: unknown, step: number): void {
    this.beginEpoch();
    const { optimizer, metrics, lossMean, baseKey } = this.c;
    const old = this.states!;
    scope(() => {
      const lrs = this.groups.map((g, gi) => this.lrTensor(g, optimizer.paramGroups[gi]!.lr));
      let out: [Tensor[][], Record<string, unknown>[], Record<string, Tensor>, Tensor[], Tensor[][]];
      try {
        // the parameters require grad: without noGrad the eager tape would record the call and hold its residuals
        const args = [this.groups.map((g) => g.params), this.frozen, Object.fromEntries(this.buffers), old, lrs, baseKey, toTensor(step, "int32"), x, y] as const;
        out = noGrad(() => this.fn!(...args)) as typeof out;
      } catch (e) {
        jitError("fit", e);
      }
      const [newTrain, newStates, newBuf, lossStats, stats] = out;
      this.groups.forEach((g, gi) => {
        g.params.forEach((p, i) => p.assign(newTrain[gi]![i]!));
        g.steps++;
      });
      for (const [k, b] of this.buffers) {
        const v = newBuf[k];
        if (v) b.assign(v.dtype === b.dtype ? v : noGrad(() => astype(v, b.dtype)));
      }
      for (const l of treeFlatten(newStates)[0]) keep(l as EagerTensor);
      this.states = newStates;
      lossMean.accumulate(lossStats);
      metrics.forEach((m, i) => m.accumulate(stats[i]!));
    });
    const fresh = new Set(treeFlatten(this.states)[0]);
    for (const l of treeFlatten(old)[0]) if (!fresh.has(l)) (l as Tensor).dispose();
  }

  endEpoch(): void {
    const states = this.states;
    if (!states) return;
    this.states = null;
    const opt = this.c.optimizer;
    const sd: OptimizerStateDict = opt.stateDict();
    const snapshots = Object.values(sd.state).flatMap((s) => Object.values(s).filter((v): v is Tensor => v instanceof Tensor));
    try {
      this.groups.forEach((g, gi) => {
        const st = states[gi]!;
        g.indices.forEach((idx, i) => {
          const entry: OptimizerStateDict["state"][string] = { step: g.steps };
          for (const [field, v] of Object.entries(st)) if (Array.isArray(v)) entry[field] = v[i] as Tensor;
          sd.state[String(idx)] = entry;
        });
      });
      if (this.groups.some((g) => g.steps > 0)) opt.loadStateDict(sd);
    } finally {
      for (const t of snapshots) t.dispose();
      for (const l of treeFlatten(states)[0]) (l as Tensor).dispose();
    }
  }

  dispose(): void {
    for (const g of this.groups) g.lr?.dispose();
  }
}

// ---------------- fit ----------------

/**
 * Train a module on batches for some epochs (Keras's fit). Returns the History: per-epoch `loss`,
 * metrics and `val_*` in `history.history`, epoch indices in `history.epoch`.
 * @example
 * const h = await fit(model, loader, { optimizer: "adam", lr: 1e-3, loss: "crossEntropy", metrics: ["accuracy"], epochs: 5, validationData: valLoader });
 * h.history.val_accuracy
 */
export async function fit(model: Module, data: FitData, opts: FitOptions): Promise<History> {
  const op = "fit";
  if (!opts || typeof opts !== "object") fail(op, "options { optimizer, loss, ... } are required");
  const epochs = opts.epochs ?? 1;
  const initialEpoch = opts.initialEpoch ?? 0;
  if (!Number.isInteger(epochs) || epochs < 0) fail(op, `epochs must be an integer >= 0, got ${opts.epochs}`);
  if (!Number.isInteger(initialEpoch) || initialEpoch < 0) fail(op, `initialEpoch must be an integer >= 0, got ${opts.initialEpoch}`);
  const stepsPerEpoch = opts.stepsPerEpoch;
  if (stepsPerEpoch !== undefined && !(Number.isInteger(stepsPerEpoch) && stepsPerEpoch > 0)) fail(op, `stepsPerEpoch must be a positive integer, got ${stepsPerEpoch}`);
  const validationFreq = opts.validationFreq ?? 1;
  if (!Number.isInteger(validationFreq) || validationFreq < 1) fail(op, `validationFreq must be a positive integer, got ${opts.validationFreq}`);
  const verbose = opts.verbose ?? 1;
  if (verbose !== 0 && verbose !== 1 && verbose !== 2) fail(op, `verbose must be 0, 1 or 2, got ${JSON.stringify(opts.verbose)}`);
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) fail(op, `seed must be an integer, got ${opts.seed}`);

  const loss = getLoss(opts.loss);
  const optimizer = getOptimizer(opts.optimizer, model, opts.lr);
  const metrics = resolveMetrics(opts.metrics, loss.name);
  const valMetrics = metrics.map((m) => m.clone());
  const lossMean = new LossMean("loss");
  const valLoss = new LossMean("loss");
  // without a seed, one draw from the global generator (tr.manualSeed) seeds shuffling and dropout
  const baseKey = keep((opts.seed === undefined ? nextKey() : makeKey(opts.seed)) as EagerTensor);
  const seed = opts.seed ?? (await baseKey.data())[1]!;
  const source = toSource(op, data, { batchSize: opts.batchSize, shuffle: opts.shuffle ?? true, seed, disposeBatches: opts.disposeBatches });
  const valSource = opts.validationData === undefined ? null : toSource(op, opts.validationData, { batchSize: opts.validationBatchSize ?? opts.batchSize, shuffle: false, seed: 0 });

  const obstacle = (opts.jit ?? true) ? jitObstacle(optimizer) : "jit: false";
  const ctx: StepContext = { model, optimizer, loss: loss.fn, metrics, lossMean, baseKey };
  const stepper: TrainStep = obstacle === null ? new JitStep(ctx) : new EagerStep(ctx);
  const evaluator = valSource ? new Evaluator(model, loss.fn, valMetrics, opts.jit ?? true) : null;

  const history = new History();
  const callbacks: Callback[] = [...(opts.callbacks ?? [])];
  for (const cb of callbacks) if (!(cb instanceof Callback)) fail(op, "callbacks must be Callback instances (use LambdaCallback for plain functions)");
  callbacks.push(history);
  if (verbose > 0 && !callbacks.some((c) => c instanceof ProgressBar)) callbacks.push(new ProgressBar({ stream: opts.progressStream, verbose: verbose as 1 | 2 }));

  const names = ["loss", ...metrics.map((m) => m.name)];
  const state: TrainerState & { epoch: number; samplesSeen: number; stepsSeen: number; steps: number | undefined } = {
    model, optimizer, epochs, initialEpoch, verbose,
    steps: stepsPerEpoch ?? source.length,
    metricNames: valSource ? [...names, ...names.map((n) => `val_${n}`)] : names,
    epoch: initialEpoch, samplesSeen: 0, stepsSeen: 0, stopTraining: false,
  };
  history.params = { epochs, steps: state.steps, verbose, jit: obstacle === null, ...(obstacle && opts.jit !== false ? { eagerReason: obstacle } : {}) };
  for (const cb of callbacks) cb.trainer = state;
  const batchLogCallbacks = callbacks.filter((c) => typeof c.onBatchEnd === "function");

  const restoreModes = modes(model);
  model.train();
  let globalStep = 0;
  let lastLogs: Logs = {};
  let iter: AsyncIterator<unknown> | Iterator<unknown> | null = null;
  try {
    for (const cb of callbacks) await cb.onTrainBegin?.({});
    for (let epoch = initialEpoch; epoch < epochs && !state.stopTraining; epoch++) {
      state.epoch = epoch;
      state.samplesSeen = 0;
      state.stepsSeen = 0;
      lossMean.reset();
      for (const m of metrics) m.reset();
      for (const cb of callbacks) await cb.onEpochBegin?.(epoch, {});
      stepper.beginEpoch();
      if (stepsPerEpoch === undefined || !iter) iter = source.open(epoch);
      let exhausted = false;
      while (stepsPerEpoch === undefined || state.stepsSeen < stepsPerEpoch) {
        let r = await iter.next();
        if (r.done && stepsPerEpoch !== undefined && source.reiterable && state.stepsSeen > 0) {
          iter = source.open(epoch);
          r = await iter.next();
        }
        if (r.done) {
          exhausted = true;
          break;
        }
        const batch = r.value;
        try {
          for (const cb of callbacks) await cb.onBatchBegin?.(state.stepsSeen, {});
          const [x, y] = splitBatch(op, batch, true);
          const n = leadingDim(op, x);
          stepper.run(x, y, globalStep);
          state.samplesSeen += n;
        } finally {
          if (source.fresh) disposeTree(batch);
        }
        state.stepsSeen++;
        globalStep++;
        if (batchLogCallbacks.length) {
          const b = state.stepsSeen - 1;
          const due = batchLogCallbacks.map((c) => c.wantsBatchLogs(b));
          const logs = due.some(Boolean) ? await readLogs(lossMean, metrics) : {};
          for (let i = 0; i < batchLogCallbacks.length; i++) await batchLogCallbacks[i]!.onBatchEnd!(b, due[i] ? { ...logs } : {});
        }
        if (state.stopTraining) break;
      }
      stepper.endEpoch();
      if (state.stepsSeen === 0) {
        fail(op, `the data produced no batches in epoch ${epoch + 1}${epoch > initialEpoch ? " (a generator can be walked only once: pass a DataLoader, a Dataset, an array, or stepsPerEpoch with an endless source)" : ""}`);
      }
      if (exhausted && stepsPerEpoch === undefined) state.steps = state.stepsSeen;
      if (exhausted && stepsPerEpoch !== undefined) state.stopTraining = true;
      const logs = await readLogs(lossMean, metrics);
      if (evaluator && valSource && (epoch + 1) % validationFreq === 0) {
        await runEvaluation(op, model, valSource, evaluator, valLoss, valMetrics, true, false);
        Object.assign(logs, await readLogs(valLoss, valMetrics, "val_"));
      }
      for (const cb of callbacks) await cb.onEpochEnd?.(epoch, logs);
      lastLogs = logs;
    }
    for (const cb of callbacks) await cb.onTrainEnd?.(lastLogs);
  } finally {
    stepper.endEpoch();
    if (stepper instanceof JitStep) stepper.dispose();
    if (stepper instanceof EagerStep) model.zeroGrad();
    restoreModes();
    for (const cb of callbacks) cb.trainer = null;
    baseKey.dispose();
    for (const m of [lossMean, valLoss, ...metrics, ...valMetrics]) m.reset();
    // a reiterable source's pass can be abandoned; a one-shot generator stays open for the caller
    if (iter && source.reiterable) await iter.return?.();
  }
  return history;
}
