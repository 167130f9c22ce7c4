/**
 * Keras-style callbacks for `fit`: hooks at the start and end of training, epochs and batches, with
 * the epoch's logs (`loss`, metrics, `val_*`). Hooks may be async; fit awaits them. Parameters are on
 * the module at every hook; the optimizer's state is written back at the end of each epoch.
 */
import { fail } from "../core/errors.js";
import { keep } from "../memory.js";
import type { Module } from "../nn/module.js";
import type { GroupOptions, Optimizer } from "../optim/optimizer.js";
import { saveCheckpoint, saveModel } from "../io/checkpoint.js";
import { EagerTensor, type Tensor } from "../tensor.js";
import { SummaryWriter } from "./tensorboard.js";

/** Epoch or batch logs: metric name → value. */
export type Logs = Record<string, number>;

/** What a running `fit` shares with its callbacks. */
export interface TrainerState {
  readonly model: Module;
  readonly optimizer: Optimizer<GroupOptions>;
  readonly epochs: number;
  readonly initialEpoch: number;
  /** Batches per epoch, when known (from stepsPerEpoch, the data's length, or a finished epoch). */
  readonly steps: number | undefined;
  readonly verbose: number;
  /** Names of the epoch logs: loss and metrics, then their val_ forms when validating. */
  readonly metricNames: readonly string[];
  /** The epoch in progress (0-based). */
  readonly epoch: number;
  /** Samples and batches seen so far in this epoch. */
  readonly samplesSeen: number;
  readonly stepsSeen: number;
  /** Set to true to stop after the current batch (the epoch still ends normally). */
  stopTraining: boolean;
}

/** Base class of callbacks; override any hook. `trainer` is set while fit runs. */
export class Callback {
  trainer: TrainerState | null = null;
  onTrainBegin?(logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs): void | Promise<void>;

  /**
   * Whether `onBatchEnd` needs this batch's running logs. Reading them waits for the device, so a
   * callback that only sometimes looks (a throttled progress bar) says no in between and then gets `{}`.
   */
  wantsBatchLogs(_batch: number): boolean {
    return true;
  }

  /** The running fit's state (throws outside fit). */
  protected get state(): TrainerState {
    if (!this.trainer) fail(this.constructor.name, "is not attached to a running fit");
    return this.trainer;
  }
}

/** A callback from functions: `new LambdaCallback({ onEpochEnd: (e, logs) => ... })`. */
export class LambdaCallback extends Callback {
  constructor(hooks: Partial<Pick<Callback, "onTrainBegin" | "onTrainEnd" | "onEpochBegin" | "onEpochEnd" | "onBatchBegin" | "onBatchEnd">>) {
    super();
    Object.assign(this, hooks);
  }
}

/** Per-epoch logs collected by fit: `history.history.loss[e]`, `history.epoch`. */
export class History extends Callback {
  /** How fit ran: epochs, steps per epoch, verbose, and whether the step was traced (jit). */
  params: Record<string, unknown> = {};
  epoch: number[] = [];
  history: Record<string, number[]> = {};
  override onEpochEnd(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }
}

// ---------------- helpers ----------------

type Mode = "auto" | "min" | "max";

/** "auto" means max for accuracy-like names and min otherwise (losses, errors). */
function resolveMode(op: string, mode: Mode, monitor: string): "min" | "max" {
  if (mode === "min" || mode === "max") return mode;
  if (mode !== "auto") fail(op, `mode must be "auto", "min" or "max", got ${JSON.stringify(mode)}`);
  return /acc|auc|precision|recall|f1|top\d/i.test(monitor.replace(/^val_/, "")) ? "max" : "min";
}

/** The module's parameters and buffers, sharing storage (in-place updates replace storage, so this is a snapshot). */
function snapshot(model: Module): Record<string, EagerTensor> {
  const out: Record<string, EagerTensor> = {};
  for (const [k, t] of Object.entries(model.stateDict())) {
    if (!(t instanceof EagerTensor)) fail("snapshot", `${k} is a traced value`);
    out[k] = keep(new EagerTensor(t.aval, t.ref.retain()));
  }
  return out;
}
function disposeAll(ts: Record<string, Tensor> | null): void {
  for (const t of Object.values(ts ?? {})) t.dispose();
}

function setLr(op: string, optimizer: Optimizer<GroupOptions>, lr: number): void {
  if (typeof lr !== "number" || !(lr >= 0)) fail(op, `the learning rate must be a number >= 0, got ${String(lr)}`);
  for (const g of optimizer.paramGroups) g.lr = lr;
}

async function nodeFs(op: string): Promise<{ fs: typeof import("node:fs/promises"); path: typeof import("node:path") }> {
  try {
    const [fs, path] = await Promise.all([import("node:fs/promises"), import("node:path")]);
    return { fs, path };
  } catch {
    return fail(op, "writing files needs Node's fs module");
  }
}

// ---------------- EarlyStopping ----------------

export interface EarlyStoppingOptions {
  /** Log to watch (default "val_loss"). */
  monitor?: string;
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** Epochs without improvement before stopping (default 0). */
  patience?: number;
  mode?: Mode;
  /** Training stops unless the monitored value beats this too. */
  baseline?: number;
  /** At the end of training, load the weights of the best epoch (default false). */
  restoreBestWeights?: boolean;
  /** Epochs to wait before watching (default 0). */
  startFromEpoch?: number;
}

/**
 * Stop when the monitored value has stopped improving (Keras semantics: stop once `patience` epochs in
 * a row brought no improvement of more than `minDelta`; with restoreBestWeights the best epoch's
 * parameters and buffers are loaded back when training ends).
 */
export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly minDelta: number;
  readonly patience: number;
  readonly mode: "min" | "max";
  readonly baseline: number | undefined;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  wait = 0;
  stoppedEpoch = 0;
  best = Infinity;
  bestEpoch = 0;
  private bestWeights: Record<string, EagerTensor> | null = null;

  constructor(opts: EarlyStoppingOptions = {}) {
    super();
    const op = "EarlyStopping";
    this.monitor = opts.monitor ?? "val_loss";
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    this.patience = opts.patience ?? 0;
    if (!Number.isInteger(this.patience) || this.patience < 0) fail(op, `patience must be an integer >= 0, got ${opts.patience}`);
    this.mode = resolveMode(op, opts.mode ?? "auto", this.monitor);
    this.baseline = opts.baseline;
    this.restoreBestWeights = opts.restoreBestWeights ?? false;
    this.startFromEpoch = opts.startFromEpoch ?? 0;
  }
  private improves(v: number, ref: number): boolean {
    return this.mode === "min" ? v + this.minDelta < ref : v - this.minDelta > ref;
  }
  override onTrainBegin(): void {
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = this.mode === "min" ? Infinity : -Infinity;
    this.bestEpoch = 0;
    disposeAll(this.bestWeights);
    this.bestWeights = null;
  }
  override onEpochEnd(epoch: number, logs: Logs): void {
    const current = logs[this.monitor];
    if (current === undefined || epoch < this.startFromEpoch) return;
    if (this.restoreBestWeights && this.bestWeights === null) {
      this.bestWeights = snapshot(this.state.model);
      this.bestEpoch = epoch;
    }
    this.wait += 1;
    if (this.improves(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) {
        disposeAll(this.bestWeights);
        this.bestWeights = snapshot(this.state.model);
      }
      if (this.baseline === undefined || this.improves(current, this.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      this.state.stopTraining = true;
    }
  }
  override onTrainEnd(): void {
    if (this.restoreBestWeights && this.bestWeights) {
      this.state.model.loadStateDict(this.bestWeights);
      disposeAll(this.bestWeights);
      this.bestWeights = null;
    }
  }
}

// ---------------- ModelCheckpoint ----------------

/**
 * Fill `{name}` and `{name:fmt}` fields from values (Python format specs `0Nd`, `.Nf`, `.Ne`, `.Ng`).
 * @example formatPath("ckpt-{epoch:02d}-{val_loss:.2f}.safetensors", { epoch: 3, val_loss: 0.1234 }) // "ckpt-03-0.12.safetensors"
 */
export function formatPath(template: string, values: Record<string, number>): string {
  return template.replace(/\{([^{}:]+)(?::([^{}]*))?\}/g, (_, name: string, spec: string | undefined) => {
    const v = values[name];
    if (v === undefined) fail("ModelCheckpoint", `filepath uses {${name}} but the logs have only ${Object.keys(values).join(", ")}`);
    if (!spec) return String(v);
    const m = /^(0?)(\d*)(?:\.(\d+))?([dfeg])$/.exec(spec);
    if (!m) fail("ModelCheckpoint", `unsupported format spec "${spec}" for {${name}}; use d, .Nf, .Ne or .Ng (optionally 0-padded to a width)`);
    const [, zero, width, prec, type] = m;
    const p = prec === undefined ? 6 : Number(prec);
    let s = type === "d" ? String(Math.round(v)) : type === "f" ? v.toFixed(p) : type === "e" ? v.toExponential(p).replace(/e([+-])(\d)$/, "e$10$2") : String(Number(v.toPrecision(Math.max(p, 1))));
    if (width) {
      const w = Number(width);
      if (zero) {
        const neg = s.startsWith("-");
        s = (neg ? "-" : "") + s.slice(neg ? 1 : 0).padStart(w - (neg ? 1 : 0), "0");
      } else s = s.padStart(w);
    }
    return s;
  });
}

export interface ModelCheckpointOptions {
  /** Log watched by saveBestOnly (default "val_loss"). */
  monitor?: string;
  mode?: Mode;
  /** Save only when the monitored value improves on the best so far (default false: every epoch). */
  saveBestOnly?: boolean;
  /** Also store the optimizer's state and the epoch (a Trident checkpoint); default false: plain weights. */
  includeOptimizer?: boolean;
  /** saveBestOnly saves only values better than this. */
  initialValueThreshold?: number;
}

/**
 * Save the model at the end of epochs as safetensors. The path may use `{epoch}` (1-based, as Keras)
 * and any log (`{val_loss:.4f}`). Weights alone are written with `io.saveModel` (a plain state dict
 * PyTorch can read, loaded with `io.loadModel`); with includeOptimizer, `io.saveCheckpoint` is used.
 * @example new ModelCheckpoint("ckpt/best.safetensors", { saveBestOnly: true })
 */
export class ModelCheckpoint extends Callback {
  readonly monitor: string;
  readonly mode: "min" | "max";
  readonly saveBestOnly: boolean;
  readonly includeOptimizer: boolean;
  best: number;
  /** Paths written so far, in order. */
  readonly saved: string[] = [];
  constructor(readonly filepath: string, opts: ModelCheckpointOptions = {}) {
    super();
    if (typeof filepath !== "string" || filepath === "") fail("ModelCheckpoint", `filepath must be a non-empty string, got ${JSON.stringify(filepath)}`);
    this.monitor = opts.monitor ?? "val_loss";
    this.mode = resolveMode("ModelCheckpoint", opts.mode ?? "auto", this.monitor);
    this.saveBestOnly = opts.saveBestOnly ?? false;
    this.includeOptimizer = opts.includeOptimizer ?? false;
    this.best = opts.initialValueThreshold ?? (this.mode === "min" ? Infinity : -Infinity);
  }
  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (this.saveBestOnly) {
      const current = logs[this.monitor];
      if (current === undefined) return;
      if (!(this.mode === "min" ? current < this.best : current > this.best)) return;
      this.best = current;
    }
    const path = formatPath(this.filepath, { ...logs, epoch: epoch + 1 });
    const { fs, path: p } = await nodeFs("ModelCheckpoint");
    await fs.mkdir(p.dirname(path), { recursive: true });
    const { model, optimizer } = this.state;
    if (this.includeOptimizer) {
      const opt = optimizer.stateDict();
      try {
        await saveCheckpoint(path, { model: model.stateDict(), optimizer: opt, epoch: epoch + 1 });
      } finally {
        for (const s of Object.values(opt.state)) for (const v of Object.values(s)) if (v instanceof EagerTensor) v.dispose();
      }
    } else await saveModel(path, model);
    this.saved.push(path);
  }
}

// ---------------- learning rate ----------------

/** A scheduler object from `optim` (StepLR, CosineAnnealingLR, OneCycleLR, ...). */
export interface SteppableScheduler {
  step(): void;
  readonly optimizer?: unknown;
}

/**
 * Set the learning rate from a schedule. A function `(epoch, lr) => newLr` runs at the start of each
 * epoch (Keras); an `optim` scheduler built on fit's optimizer is stepped at the end of each epoch
 * (PyTorch), or after every batch with `perBatch` (OneCycleLR). The rate is logged as `learning_rate`.
 */
export class LearningRateScheduler extends Callback {
  readonly perBatch: boolean;
  constructor(readonly schedule: ((epoch: number, lr: number) => number) | SteppableScheduler, opts: { perBatch?: boolean } = {}) {
    super();
    if (typeof schedule !== "function" && (typeof schedule !== "object" || schedule === null || typeof schedule.step !== "function")) {
      fail("LearningRateScheduler", "schedule must be a function (epoch, lr) => lr or a scheduler with step()");
    }
    this.perBatch = opts.perBatch ?? false;
  }
  override onTrainBegin(): void {
    const s = this.schedule;
    if (typeof s !== "function" && s.optimizer !== undefined && s.optimizer !== this.state.optimizer) {
      fail("LearningRateScheduler", "the scheduler drives a different optimizer than the one fit trains with; build it on the optimizer you pass to fit");
    }
  }
  override onEpochBegin(epoch: number): void {
    const s = this.schedule;
    if (typeof s === "function") setLr("LearningRateScheduler", this.state.optimizer, s(epoch, this.state.optimizer.lr));
  }
  override onBatchEnd(): void {
    if (this.perBatch && typeof this.schedule !== "function") this.schedule.step();
  }
  override wantsBatchLogs(): boolean {
    return false;
  }
  override onEpochEnd(_epoch: number, logs: Logs): void {
    logs["learning_rate"] = this.state.optimizer.lr;
    if (!this.perBatch && typeof this.schedule !== "function") this.schedule.step();
  }
}

export interface ReduceLROnPlateauOptions {
  monitor?: string;
  /** Multiply the rate by this (default 0.1; must be < 1). */
  factor?: number;
  /** Epochs without improvement before reducing (default 10). */
  patience?: number;
  mode?: Mode;
  /** An improvement must exceed this (absolute, default 1e-4). */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** Never go below this rate (default 0). */
  minLr?: number;
}

/**
 * Reduce the learning rate when the monitored value stops improving (Keras semantics: after `patience`
 * epochs without an improvement larger than `minDelta`, every group's rate becomes max(lr·factor, minLr)).
 */
export class ReduceLROnPlateau extends Callback {
  readonly monitor: string;
  readonly factor: number;
  readonly patience: number;
  readonly mode: "min" | "max";
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  best = Infinity;
  wait = 0;
  cooldownCounter = 0;
  constructor(opts: ReduceLROnPlateauOptions = {}) {
    super();
    const op = "ReduceLROnPlateau";
    this.monitor = opts.monitor ?? "val_loss";
    this.factor = opts.factor ?? 0.1;
    if (!(this.factor >= 0 && this.factor < 1)) fail(op, `factor must be in [0, 1), got ${opts.factor}`);
    this.patience = opts.patience ?? 10;
    this.mode = resolveMode(op, opts.mode ?? "auto", this.monitor);
    this.minDelta = opts.minDelta ?? 1e-4;
    this.cooldown = opts.cooldown ?? 0;
    this.minLr = opts.minLr ?? 0;
  }
  override onTrainBegin(): void {
    this.best = this.mode === "min" ? Infinity : -Infinity;
    this.wait = 0;
    this.cooldownCounter = 0;
  }
  override onEpochEnd(_epoch: number, logs: Logs): void {
    const opt = this.state.optimizer;
    logs["learning_rate"] = opt.lr;
    const current = logs[this.monitor];
    if (current === undefined) return;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.wait = 0;
    }
    const better = this.mode === "min" ? current < this.best - this.minDelta : current > this.best + this.minDelta;
    if (better) {
      this.best = current;
      this.wait = 0;
    } else if (this.cooldownCounter <= 0) {
      this.wait += 1;
      if (this.wait >= this.patience) {
        let reduced = false;
        for (const g of opt.paramGroups) {
          if (g.lr > this.minLr) {
            g.lr = Math.max(g.lr * this.factor, this.minLr);
            reduced = true;
          }
        }
        if (reduced) {
          this.cooldownCounter = this.cooldown;
          this.wait = 0;
        }
      }
    }
  }
}

// ---------------- logging ----------------

/** A number as CSV text: shortest round-trip form, nan/inf as Python writes them. */
function csvValue(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return String(v);
}

/**
 * Append one row per epoch to a CSV file: `epoch` then the logs' keys in sorted order (Keras's layout).
 * Without `append` the file is replaced when training starts; with it, rows are added and the header is
 * written only to an empty or missing file.
 */
export class CSVLogger extends Callback {
  readonly separator: string;
  readonly append: boolean;
  private keys: string[] | null = null;
  private needHeader = true;
  constructor(readonly filename: string, opts: { separator?: string; append?: boolean } = {}) {
    super();
    if (typeof filename !== "string" || filename === "") fail("CSVLogger", `filename must be a non-empty string, got ${JSON.stringify(filename)}`);
    this.separator = opts.separator ?? ",";
    this.append = opts.append ?? false;
  }
  override async onTrainBegin(): Promise<void> {
    const { fs, path } = await nodeFs("CSVLogger");
    await fs.mkdir(path.dirname(this.filename), { recursive: true });
    this.keys = null;
    this.needHeader = true;
    if (this.append) {
      const size = await fs.stat(this.filename).then((s) => s.size, () => 0);
      this.needHeader = size === 0;
      if (size === 0) await fs.writeFile(this.filename, "");
    } else await fs.writeFile(this.filename, "");
  }
  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const { fs } = await nodeFs("CSVLogger");
    this.keys ??= Object.keys(logs).sort();
    const sep = this.separator;
    let text = "";
    if (this.needHeader) {
      text += ["epoch", ...this.keys].join(sep) + "\n";
      this.needHeader = false;
    }
    text += [String(epoch), ...this.keys.map((k) => (k in logs ? csvValue(logs[k]!) : "NA"))].join(sep) + "\n";
    await fs.appendFile(this.filename, text);
  }
}

export interface TensorBoardOptions {
  /** Write weight histograms every this many epochs (default 0: never). */
  histogramFreq?: number;
  /** "epoch" (default) or every N batches, which also logs `batch_*` scalars at the global batch count. */
  updateFreq?: "epoch" | number;
}

/**
 * TensorBoard logging as Keras lays it out: `<logDir>/train` and `<logDir>/validation` runs with
 * `epoch_<name>` scalars per epoch (so loss and val_loss share a chart), optional parameter histograms
 * under their state-dict names, and optional `batch_<name>` scalars.
 * @example new TensorBoard("runs/exp1", { histogramFreq: 1 })
 */
export class TensorBoard extends Callback {
  readonly histogramFreq: number;
  readonly updateFreq: "epoch" | number;
  private trainWriter: SummaryWriter | null = null;
  private valWriter: SummaryWriter | null = null;
  private globalBatch = 0;
  constructor(readonly logDir: string, opts: TensorBoardOptions = {}) {
    super();
    if (typeof logDir !== "string" || logDir === "") fail("TensorBoard", `logDir must be a non-empty path, got ${JSON.stringify(logDir)}`);
    this.histogramFreq = opts.histogramFreq ?? 0;
    this.updateFreq = opts.updateFreq ?? "epoch";
    if (this.updateFreq !== "epoch" && !(Number.isInteger(this.updateFreq) && this.updateFreq > 0)) {
      fail("TensorBoard", `updateFreq must be "epoch" or a positive integer, got ${JSON.stringify(opts.updateFreq)}`);
    }
  }
  private get train(): SummaryWriter {
    return (this.trainWriter ??= new SummaryWriter(`${this.logDir}/train`));
  }
  private get validation(): SummaryWriter {
    return (this.valWriter ??= new SummaryWriter(`${this.logDir}/validation`));
  }
  override onTrainBegin(): void {
    this.globalBatch = 0;
  }
  override wantsBatchLogs(): boolean {
    return typeof this.updateFreq === "number" && (this.globalBatch + 1) % this.updateFreq === 0;
  }
  override onBatchEnd(_batch: number, logs: Logs): void {
    const due = this.wantsBatchLogs();
    this.globalBatch++;
    if (!due) return;
    for (const [k, v] of Object.entries(logs)) this.train.addScalar(`batch_${k}`, v, this.globalBatch);
  }
  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    for (const [k, v] of Object.entries(logs)) {
      if (k.startsWith("val_")) this.validation.addScalar(`epoch_${k.slice(4)}`, v, epoch);
      else this.train.addScalar(`epoch_${k}`, v, epoch);
    }
    if (this.histogramFreq > 0 && epoch % this.histogramFreq === 0) {
      // read now: the parameters change (by replacing their storage) as soon as training resumes
      for (const [name, p] of this.state.model.namedParameters()) this.train.addHistogram(name, await p.data(), epoch);
    }
    await this.train.flush();
    if (this.valWriter) await this.valWriter.flush();
  }
  override async onTrainEnd(): Promise<void> {
    const writers = [this.trainWriter, this.valWriter];
    this.trainWriter = this.valWriter = null;
    for (const w of writers) if (w) await w.close();
  }
}

/** Stop training as soon as a batch's loss is NaN or infinite. */
export class TerminateOnNaN extends Callback {
  override onBatchEnd(_batch: number, logs: Logs): void {
    const l = logs["loss"];
    if (l !== undefined && !Number.isFinite(l)) this.state.stopTraining = true;
  }
}
