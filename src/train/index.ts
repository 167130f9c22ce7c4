/**
 * Keras-style training: `fit`, `evaluate`, `predict`, streaming metrics, callbacks, the progress bar,
 * and the TensorBoard event writer.
 * @example
 * const history = await train.fit(model, loader, {
 *   optimizer: "adam", lr: 1e-3, loss: "crossEntropy", metrics: ["accuracy"], epochs: 10,
 *   validationData: valLoader, callbacks: [new train.EarlyStopping({ patience: 2, restoreBestWeights: true })],
 * });
 */
// subpath entries wire the engine up too (backends, tensor methods, the tape)
import "../setup.js";
export {
  fit, evaluate, predict, getLoss,
  type FitOptions, type EvaluateOptions, type FitData, type LossFn, type LossName, type LossSpec, type OptimizerName, type OptimizerSpec, type OptimizerConfig,
} from "./fit.js";
export {
  Metric, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKAccuracy, Precision, Recall, F1Score,
  MeanSquaredError, MeanAbsoluteError, MeanMetricWrapper, getMetric, alignTarget, targetKind,
  type MetricSpec, type AccuracyOptions, type ClassificationOptions, type Average, type TargetKind,
} from "./metrics.js";
export {
  Callback, LambdaCallback, History, EarlyStopping, ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, CSVLogger, TensorBoard, TerminateOnNaN,
  formatPath,
  type Logs, type TrainerState, type EarlyStoppingOptions, type ModelCheckpointOptions, type ReduceLROnPlateauOptions, type TensorBoardOptions, type SteppableScheduler,
} from "./callbacks.js";
export { ProgressBar, formatValue, formatDuration, type ProgressBarOptions, type ProgressStream } from "./progress.js";
export {
  SummaryWriter, readEvents, readRecords, decodeEvent, encodeEvent, encodeRecord, histogram, defaultBucketLimits,
  type SummaryWriterOptions, type TBEvent, type SummaryValue, type Histogram, type HistogramBins,
} from "./tensorboard.js";
