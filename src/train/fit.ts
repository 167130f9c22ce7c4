/**
 * Keras-style training of `nn.Module`s: `fit`, `evaluate`, `predict`. The default path traces the
 * training step with jit (see steps.ts); `jit: false` runs the eager PyTorch loop. Both free every
 * intermediate, so memory stays flat across epochs.
 */
import { checkOptions, fail, optionKeys } from "../core/errors.js";
import { treeFlatten, treeUnflatten } from "../core/pytree.js";
import { keep, scope } from "../memory.js";
import { functionalCall, type Module } from "../nn/module.js";
import { isFloat } from "../core/dtype.js";
import { astype, mul } from "../ops/core.js";
import { toTensor } from "../ops/convert.js";
import { concatenate, reshape } from "../ops/shape.js";
import { binaryCrossEntropy, binaryCrossEntropyWithLogits, crossEntropy, huberLoss, l1Loss, mseLoss, nllLoss } from "../ops/nn.js";
import { Adagrad } from "../optim/adagrad.js";
import { Adam, AdamW } from "../optim/adam.js";
import { Optimizer, type GroupOptions } from "../optim/optimizer.js";
import { RMSprop } from "../optim/rmsprop.js";
import { SGD } from "../optim/sgd.js";
import { key as makeKey } from "../random/index.js";
import { nextKey } from "../random/global.js";
import { noGrad } from "../tape.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { jit as jitFn, type Jitted } from "../transforms/api.js";
import { Callback, History, type Logs, type TrainerState } from "./callbacks.js";
import { disposeTree, leadingDim, splitBatch, toSource, type Source } from "./data.js";
import { Metric, alignTarget, getMetric, type MetricSpec } from "./metrics.js";
import { ProgressBar, type ProgressStream } from "./progress.js";
import { EagerStep, JitStep, LossMean, checkLoss, forward, jitError, jitObstacle, modes, type StepContext, type TrainStep } from "./steps.js";

// ---------------- public types ----------------

/** A loss: a function (pred, y) → scalar, or a name. */
export type LossFn = (pred: never, y: never) => Tensor;
export type LossName =
  | "crossEntropy" | "categoricalCrossentropy" | "sparseCategoricalCrossentropy" | "nll"
  | "mse" | "meanSquaredError" | "mae" | "l1" | "meanAbsoluteError" | "huber"
  | "bce" | "binaryCrossentropy" | "bceWithLogits";
export type LossSpec = LossName | LossFn;

export type OptimizerName = "sgd" | "adam" | "adamw" | "rmsprop" | "adagrad";
/** An optimizer by name with its options (camelCase, as the optimizer's constructor takes them). */
export interface OptimizerConfig {
  name: OptimizerName;
  lr?: number;
  [option: string]: string | number | boolean | number[] | undefined;
}
/** A stateful optimizer, a name (with `lr`), or a name with options: `{ name: "sgd", lr: 0.1, momentum: 0.9 }`. */
export type OptimizerSpec = Optimizer<GroupOptions> | OptimizerName | OptimizerConfig;

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

const FIT_KEYS = optionKeys<FitOptions>({
  optimizer: true, lr: true, loss: true, metrics: true, epochs: true, initialEpoch: true, validationData: true, validationFreq: true,
  validationBatchSize: true, callbacks: true, verbose: true, stepsPerEpoch: true, jit: true, batchSize: true, shuffle: true, seed: true,
  disposeBatches: true, progressStream: true,
});

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
  checkOptions("evaluate", opts, optionKeys<EvaluateOptions>({ loss: true, metrics: true, batchSize: true, jit: true }));
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
  checkOptions("predict", opts, ["batchSize", "jit"]);
  const source = toSource("predict", data, { batchSize: opts.batchSize, shuffle: false, seed: 0, pairs: false });
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
  checkOptions(op, opts, FIT_KEYS);
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
  for (const cb of opts.callbacks ?? []) if (!(cb instanceof Callback)) fail(op, "callbacks must be Callback instances (use LambdaCallback for plain functions)");
  const valMetrics = metrics.map((m) => m.clone());
  const lossMean = new LossMean("loss");
  const valLoss = new LossMean("loss");
  // without a seed, one draw from the global generator (tr.manualSeed) seeds shuffling and dropout
  let seed = opts.seed;
  if (seed === undefined) {
    const k = nextKey();
    seed = (await k.data())[1]!;
    k.dispose();
  }
  const source = toSource(op, data, { batchSize: opts.batchSize, shuffle: opts.shuffle ?? true, seed, disposeBatches: opts.disposeBatches });
  const valSource = opts.validationData === undefined ? null : toSource(op, opts.validationData, { batchSize: opts.validationBatchSize ?? opts.batchSize, shuffle: false, seed: 0 });

  const baseKey = keep(makeKey(seed) as EagerTensor);
  const obstacle = (opts.jit ?? true) ? jitObstacle(optimizer) : "jit: false";
  const ctx: StepContext = { model, optimizer, loss: loss.fn, metrics, lossMean, baseKey };
  const stepper: TrainStep = obstacle === null ? new JitStep(ctx) : new EagerStep(ctx);
  const evaluator = valSource ? new Evaluator(model, loss.fn, valMetrics, opts.jit ?? true) : null;

  const history = new History();
  const callbacks: Callback[] = [...(opts.callbacks ?? [])];
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

  // a model already in training mode keeps the modes its submodules were given (a frozen BatchNorm in eval)
  const restoreModes = modes(model);
  if (!model.training) model.train();
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
