/**
 * Streaming metrics (Keras semantics): `update(pred, y)` adds one batch, `result()` reads the value over
 * everything since `reset()`. Each metric is split into a pure per-batch part (`batchStats`: a few small
 * tensors of sufficient statistics, traceable, so `fit` computes it inside its jitted step) and a host
 * part (`compute`: the value from the summed statistics). The running sums stay on the device, so
 * updating never waits for the device; only reading does.
 */
import { isFloat, isInt, type TypedArray } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { keep, scope } from "../memory.js";
import { add, argmax, astype, equal, greater, less, logicalAnd, logicalNot, mul, sub, abs, sum, square } from "../ops/core.js";
import { arange } from "../ops/creation.js";
import { toTensor, type TensorLike } from "../ops/convert.js";
import { takeAlongAxis } from "../ops/indexing.js";
import { expandDims, reshape } from "../ops/shape.js";
import { noGrad } from "../tape.js";
import { EagerTensor, Tensor } from "../tensor.js";

/**
 * Base class of streaming metrics. Subclasses give `batchStats` (tensors whose sums over batches
 * determine the metric) and `compute` (the value from those sums, zero_division = 0 style).
 */
export abstract class Metric {
  private totals: EagerTensor[] | null = null;
  constructor(readonly name: string) {
    if (typeof name !== "string" || name === "") fail("Metric", `name must be a non-empty string, got ${JSON.stringify(name)}`);
  }

  /** Sufficient statistics of one batch (pure tensor code: it runs inside jit). */
  abstract batchStats(pred: Tensor, y: Tensor): Tensor[];
  /** The metric's value from the statistics summed over all batches. */
  abstract compute(totals: TypedArray[]): number;

  /** Add one batch of predictions and targets. */
  update(pred: TensorLike, y: TensorLike): void {
    scope(() => noGrad(() => this.accumulate(this.batchStats(toTensor(pred), toTensor(y)))));
  }

  /** Add statistics computed elsewhere (fit computes them inside its jitted step). */
  accumulate(stats: readonly Tensor[]): void {
    const op = `${this.name}.accumulate`;
    stats.forEach((s, i) => {
      if (!(s instanceof EagerTensor)) fail(op, `statistic ${i} must be a concrete tensor, got a traced value ${s.aval}`);
    });
    if (!this.totals) {
      // own copies: the caller may dispose what it passed
      this.totals = stats.map((s) => keep(new EagerTensor(s.aval.strong(), (s as EagerTensor).ref.retain())));
      return;
    }
    const old = this.totals;
    if (old.length !== stats.length) fail(op, `expected ${old.length} statistics, got ${stats.length}`);
    this.totals = scope(() =>
      noGrad(() =>
        old.map((t, i) => {
          const s = stats[i]!;
          if (s.shape.join() !== t.shape.join()) fail(op, `statistic ${i} has shape ${fmtShape(s.shape)} but earlier batches gave ${fmtShape(t.shape)}`);
          return add(t, s.dtype === t.dtype ? s : astype(s, t.dtype)) as EagerTensor;
        }),
      ),
    ).map((t) => keep(t));
    for (const t of old) t.dispose();
  }

  /** The value over every batch since the last reset (0 before any update). Needs a synchronous backend. */
  result(): number {
    return this.totals ? this.compute(this.totals.map((t) => t.dataSync())) : 0;
  }

  /** The value over every batch since the last reset, on any backend. */
  async resultAsync(): Promise<number> {
    const t = this.totals;
    return t ? this.compute(await Promise.all(t.map((x) => x.data()))) : 0;
  }

  /** Forget every batch and free the running sums. */
  reset(): void {
    for (const t of this.totals ?? []) t.dispose();
    this.totals = null;
  }

  /** A fresh metric with the same configuration and no accumulated state (for validation). */
  clone(): this {
    const c = Object.assign(Object.create(Object.getPrototypeOf(this) as object) as this, this);
    (c as unknown as { totals: null }).totals = null;
    return c;
  }
}

// ---------------- helpers ----------------

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);
const count = (b: Tensor): Tensor => sum(astype(b, "int32"));

/** Targets that hold as many values as the predictions but differ only by size-1 axes take the predictions' shape. */
export function alignTarget(pred: Tensor, y: Tensor): Tensor {
  if (y.size === pred.size && y.shape.join() !== pred.shape.join()) {
    const squeezed = (s: number[]) => s.filter((d) => d !== 1).join();
    if (squeezed(y.shape) === squeezed(pred.shape)) return reshape(y, pred.shape);
  }
  return y;
}

/** How predictions relate to targets: one probability/logit per sample, class scores vs labels, or vs one-hot rows. */
export type TargetKind = "binary" | "sparse" | "categorical";

/** Infer the kind of a classification batch from shapes (Keras's rule for the "accuracy" shorthand). */
export function targetKind(op: string, pred: Tensor, y: Tensor): TargetKind {
  const last = pred.shape[pred.ndim - 1];
  if (pred.ndim === 0) fail(op, "predictions must have a batch axis, got a scalar");
  const ys = y.shape.join();
  // one column of scores is one probability (or logit) per sample, whatever the targets' rank
  if (last === 1 && y.size === pred.size) return "binary";
  if (pred.ndim === y.ndim + 1 && pred.shape.slice(0, -1).join() === ys) return "sparse";
  if (pred.ndim === y.ndim && y.shape[y.ndim - 1] === 1 && last !== 1 && pred.shape.slice(0, -1).join() === y.shape.slice(0, -1).join()) return "sparse";
  if (pred.ndim === y.ndim && pred.shape.join() === ys) return last === 1 || pred.ndim === 1 ? "binary" : "categorical";
  if (y.size === pred.size && alignTarget(pred, y) !== y) return "binary";
  return fail(op, `cannot match predictions of shape ${fmtShape(pred.shape)} with targets of shape ${fmtShape(y.shape)}: expected labels ${fmtShape(pred.shape.slice(0, -1))}, one-hot ${fmtShape(pred.shape)}, or one value per prediction`);
}

/** Integer labels from sparse labels (possibly with a trailing 1) or one-hot rows. */
function labelsOf(op: string, pred: Tensor, y: Tensor, kind: TargetKind): Tensor {
  if (kind === "categorical") return argmax(y, { axis: -1 });
  const l = y.ndim === pred.ndim ? reshape(y, y.shape.slice(0, -1)) : y;
  if (isInt(l.dtype)) return l;
  if (isFloat(l.dtype)) return astype(l, "int32");
  return fail(op, `labels must be integers, got ${l.dtype}`);
}

function checkFloat(op: string, pred: Tensor): void {
  if (!isFloat(pred.dtype)) fail(op, `predictions must be floating point, got ${pred.dtype}`);
}

// ---------------- accuracy ----------------

/** Options of the accuracy metrics. */
export interface AccuracyOptions {
  name?: string;
  /** Binary predictions above this are positive (default 0.5; use 0 for logits). */
  threshold?: number;
  /** Force how predictions and targets are compared instead of inferring it from their shapes. */
  kind?: TargetKind;
}

/**
 * Fraction of correct predictions. The comparison follows the shapes, as Keras's "accuracy": class
 * scores [..., C] against integer labels [...] (argmax), against one-hot rows [..., C] (argmax of both),
 * or one probability per sample against 0/1 targets (thresholded; targets count as positive above 0.5).
 * @example const acc = new Accuracy(); acc.update(logits, labels); acc.result()
 */
export class Accuracy extends Metric {
  readonly threshold: number;
  readonly kind: TargetKind | undefined;
  constructor(opts: AccuracyOptions = {}) {
    super(opts.name ?? "accuracy");
    this.threshold = opts.threshold ?? 0.5;
    this.kind = opts.kind;
  }
  batchStats(pred: Tensor, y: Tensor): Tensor[] {
    const op = this.name;
    const kind = this.kind ?? targetKind(op, pred, y);
    if (kind === "binary") {
      const t = alignTarget(pred, y);
      if (t.shape.join() !== pred.shape.join()) fail(op, `binary targets must have the predictions' shape ${fmtShape(pred.shape)}, got ${fmtShape(t.shape)}`);
      const p = greater(pred, this.threshold);
      const truth = greater(t, 0.5);
      return [count(equal(p, truth)), toTensor(pred.size, "int32")];
    }
    const labels = labelsOf(op, pred, y, kind);
    return [count(equal(argmax(pred, { axis: -1 }), labels)), toTensor(labels.size, "int32")];
  }
  compute([correct, n]: TypedArray[]): number {
    return ratio(correct![0]!, n![0]!);
  }
}

/** Binary accuracy: predictions above `threshold` (default 0.5) against targets above 0.5. */
export class BinaryAccuracy extends Accuracy {
  constructor(opts: Omit<AccuracyOptions, "kind"> = {}) {
    super({ name: "binary_accuracy", ...opts, kind: "binary" });
  }
}
/** Categorical accuracy: argmax of the predictions against argmax of one-hot targets. */
export class CategoricalAccuracy extends Accuracy {
  constructor(opts: Omit<AccuracyOptions, "kind" | "threshold"> = {}) {
    super({ name: "categorical_accuracy", ...opts, kind: "categorical" });
  }
}
/** Sparse categorical accuracy: argmax of the predictions against integer labels. */
export class SparseCategoricalAccuracy extends Accuracy {
  constructor(opts: Omit<AccuracyOptions, "kind" | "threshold"> = {}) {
    super({ name: "sparse_categorical_accuracy", ...opts, kind: "sparse" });
  }
}

/**
 * Fraction of samples whose true class is among the k highest scores. Ties at the boundary count as
 * hits (as tf.math.in_top_k): a sample is a hit when fewer than k classes score strictly higher.
 */
export class TopKAccuracy extends Metric {
  constructor(readonly k = 5, opts: { name?: string } = {}) {
    super(opts.name ?? `top${k}`);
    if (!Number.isInteger(k) || k < 1) fail("TopKAccuracy", `k must be a positive integer, got ${k}`);
  }
  batchStats(pred: Tensor, y: Tensor): Tensor[] {
    const op = this.name;
    checkFloat(op, pred);
    const kind = targetKind(op, pred, y);
    if (kind === "binary") fail(op, `needs class scores [..., C], got predictions of shape ${fmtShape(pred.shape)}`);
    const labels = labelsOf(op, pred, y, kind);
    const trueScore = takeAlongAxis(pred, expandDims(astype(labels, "int32"), -1), -1);
    const higher = sum(astype(greater(pred, trueScore), "int32"), { axis: -1 });
    return [count(less(higher, this.k)), toTensor(labels.size, "int32")];
  }
  compute([hits, n]: TypedArray[]): number {
    return ratio(hits![0]!, n![0]!);
  }
}

// ---------------- precision / recall / F1 ----------------

/** How per-class scores are combined: one positive class, per-class mean, pooled counts, or support-weighted mean. */
export type Average = "binary" | "macro" | "micro" | "weighted";

/** Options of Precision, Recall and F1Score. */
export interface ClassificationOptions {
  name?: string;
  /**
   * "binary" (default): one positive class; "macro": unweighted mean over the classes that occur in the
   * targets or the predictions (sklearn's labels); "micro": from counts pooled over classes; "weighted":
   * mean weighted by each class's support. Classes with an undefined score count as 0 (zero_division=0).
   */
  average?: Average;
  /** Binary predictions (one value per sample) above this are positive (default 0.5; use 0 for logits). */
  threshold?: number;
  /** The positive class when "binary" is used with class scores (default 1). */
  posLabel?: number;
}

type Which = "precision" | "recall" | "f1";

function score(which: Which, tp: number, fp: number, fn: number): number {
  if (which === "precision") return ratio(tp, tp + fp);
  if (which === "recall") return ratio(tp, tp + fn);
  return ratio(2 * tp, 2 * tp + fp + fn);
}

/** Shared implementation: statistics are the true-positive, false-positive and false-negative counts (per class unless binary). */
abstract class ConfusionMetric extends Metric {
  readonly average: Average;
  readonly threshold: number;
  readonly posLabel: number;
  protected abstract readonly which: Which;
  constructor(defaultName: string, opts: ClassificationOptions) {
    super(opts.name ?? defaultName);
    this.average = opts.average ?? "binary";
    if (!["binary", "macro", "micro", "weighted"].includes(this.average)) {
      fail(this.name, `average must be "binary", "macro", "micro" or "weighted", got ${JSON.stringify(opts.average)}`);
    }
    this.threshold = opts.threshold ?? 0.5;
    this.posLabel = opts.posLabel ?? 1;
  }
  batchStats(pred: Tensor, y: Tensor): Tensor[] {
    const op = this.name;
    const kind = targetKind(op, pred, y);
    if (kind === "binary") {
      if (this.average !== "binary") fail(op, `average "${this.average}" needs class scores [..., C], got predictions of shape ${fmtShape(pred.shape)}; use average "binary"`);
      const t = alignTarget(pred, y);
      return this.counts(greater(pred, this.threshold), greater(t, 0.5));
    }
    const labels = labelsOf(op, pred, y, kind);
    const guess = argmax(pred, { axis: -1 });
    if (this.average === "binary") return this.counts(equal(guess, this.posLabel), equal(labels, this.posLabel));
    // [..., C] membership masks of each sample's predicted and true class
    const classes = arange(0, pred.shape[pred.ndim - 1]!, 1, "int32");
    const p = equal(expandDims(guess, -1), classes);
    const t = equal(expandDims(astype(labels, "int32"), -1), classes);
    const axes = Array.from({ length: p.ndim - 1 }, (_, i) => i);
    const per = (m: Tensor) => sum(astype(m, "int32"), { axis: axes });
    return [per(logicalAnd(p, t)), per(logicalAnd(p, logicalNot(t))), per(logicalAnd(logicalNot(p), t))];
  }
  private counts(p: Tensor, t: Tensor): Tensor[] {
    return [count(logicalAnd(p, t)), count(logicalAnd(p, logicalNot(t))), count(logicalAnd(logicalNot(p), t))];
  }
  compute([tp, fp, fn]: TypedArray[]): number {
    const w = this.which;
    const n = tp!.length;
    if (this.average === "binary" || n === 1) return score(w, tp![0]!, fp![0]!, fn![0]!);
    if (this.average === "micro") {
      let a = 0, b = 0, c = 0;
      for (let i = 0; i < n; i++) (a += tp![i]!), (b += fp![i]!), (c += fn![i]!);
      return score(w, a, b, c);
    }
    let total = 0, weights = 0;
    for (let i = 0; i < n; i++) {
      const support = tp![i]! + fn![i]!;
      const weight = this.average === "weighted" ? support : tp![i]! + fp![i]! + fn![i]! > 0 ? 1 : 0;
      total += weight * score(w, tp![i]!, fp![i]!, fn![i]!);
      weights += weight;
    }
    return ratio(total, weights);
  }
}

/** Precision tp / (tp + fp); 0 when nothing was predicted positive. */
export class Precision extends ConfusionMetric {
  protected readonly which = "precision";
  constructor(opts: ClassificationOptions = {}) {
    super("precision", opts);
  }
}
/** Recall tp / (tp + fn); 0 when there are no positives. */
export class Recall extends ConfusionMetric {
  protected readonly which = "recall";
  constructor(opts: ClassificationOptions = {}) {
    super("recall", opts);
  }
}
/** F1 = 2tp / (2tp + fp + fn), the harmonic mean of precision and recall; 0 when undefined. */
export class F1Score extends ConfusionMetric {
  protected readonly which = "f1";
  constructor(opts: ClassificationOptions = {}) {
    super("f1", opts);
  }
}

// ---------------- regression and means ----------------

/** Mean of an elementwise error over every element seen. */
abstract class ElementwiseMean extends Metric {
  protected abstract err(d: Tensor): Tensor;
  batchStats(pred: Tensor, y: Tensor): Tensor[] {
    checkFloat(this.name, pred);
    const t = alignTarget(pred, y);
    const d = sub(pred, isFloat(t.dtype) ? t : astype(t, pred.dtype));
    if (d.shape.join() !== pred.shape.join()) fail(this.name, `targets of shape ${fmtShape(y.shape)} do not match predictions of shape ${fmtShape(pred.shape)}`);
    return [sum(this.err(d)), toTensor(d.size, "int32")];
  }
  compute([s, n]: TypedArray[]): number {
    return ratio(s![0]!, n![0]!);
  }
}

/** Mean squared error over all elements. */
export class MeanSquaredError extends ElementwiseMean {
  constructor(opts: { name?: string } = {}) {
    super(opts.name ?? "mse");
  }
  protected err(d: Tensor): Tensor {
    return square(d);
  }
}
/** Mean absolute error over all elements. */
export class MeanAbsoluteError extends ElementwiseMean {
  constructor(opts: { name?: string } = {}) {
    super(opts.name ?? "mae");
  }
  protected err(d: Tensor): Tensor {
    return abs(d);
  }
}

/** A per-batch scalar function of (pred, y), averaged over batches weighted by batch size (axis 0). */
export class MeanMetricWrapper extends Metric {
  constructor(readonly fn: (pred: Tensor, y: Tensor) => Tensor, opts: { name?: string } = {}) {
    super(opts.name ?? (fn.name || "metric"));
  }
  batchStats(pred: Tensor, y: Tensor): Tensor[] {
    const v = this.fn(pred, y);
    if (!(v instanceof Tensor) || v.size !== 1 || !isFloat(v.dtype)) {
      fail(this.name, `the metric function must return a floating-point scalar, got ${v instanceof Tensor ? `${v.dtype} of shape ${fmtShape(v.shape)}` : typeof v}`);
    }
    const n = pred.ndim === 0 ? 1 : pred.shape[0]!;
    return [mul(reshape(v, []), n), toTensor(n, "int32")];
  }
  compute([s, n]: TypedArray[]): number {
    return ratio(s![0]!, n![0]!);
  }
}

// ---------------- shorthands ----------------

/** A metric: an instance, a shorthand name, or a function (pred, y) → scalar averaged over batches. */
export type MetricSpec = Metric | string | ((pred: Tensor, y: Tensor) => Tensor);

/**
 * Resolve a metric spec. Names: "accuracy"/"acc", "binary_accuracy", "categorical_accuracy",
 * "sparse_categorical_accuracy", "topK"/"top5" (any k), "precision", "recall", "f1" (binary on one value
 * per sample; for class scores give `new Precision({ average: "macro" })`), "mse", "mae" (also the long
 * names). `lossName` picks the threshold of binary accuracy: 0 when the loss works on logits.
 */
export function getMetric(spec: MetricSpec, ctx: { lossName?: string } = {}): Metric {
  if (spec instanceof Metric) return spec;
  if (typeof spec === "function") return new MeanMetricWrapper(spec);
  if (typeof spec !== "string") return fail("getMetric", `a metric must be a Metric, a name or a function, got ${spec === null ? "null" : typeof spec}`);
  const logits = ctx.lossName === "bceWithLogits" || ctx.lossName === "binaryCrossEntropyWithLogits";
  const threshold = logits ? 0 : 0.5;
  const key = spec.replace(/[_\s-]/g, "").toLowerCase();
  const top = /^top(?:k)?(\d+)(?:accuracy|acc)?$/.exec(key);
  if (top) return new TopKAccuracy(Number(top[1]), { name: spec });
  switch (key) {
    case "accuracy":
    case "acc":
      return new Accuracy({ name: spec, threshold, kind: logits || ctx.lossName === "bce" || ctx.lossName === "binaryCrossEntropy" ? "binary" : undefined });
    case "binaryaccuracy":
      return new BinaryAccuracy({ name: spec, threshold });
    case "categoricalaccuracy":
      return new CategoricalAccuracy({ name: spec });
    case "sparsecategoricalaccuracy":
      return new SparseCategoricalAccuracy({ name: spec });
    case "precision":
      return new Precision({ name: spec, threshold });
    case "recall":
      return new Recall({ name: spec, threshold });
    case "f1":
    case "f1score":
      return new F1Score({ name: spec, threshold });
    case "mse":
    case "meansquarederror":
      return new MeanSquaredError({ name: spec });
    case "mae":
    case "meanabsoluteerror":
      return new MeanAbsoluteError({ name: spec });
  }
  return fail("getMetric", `unknown metric "${spec}"; known: accuracy, acc, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top5 (any k), precision, recall, f1, mse, mae`);
}
