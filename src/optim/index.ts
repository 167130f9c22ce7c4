/**
 * Optimizers and learning-rate schedules: PyTorch-style stateful optimizers over parameter tensors,
 * and pure functional forms (`optim.functional`) for use inside `jit`/`grad`.
 * @example
 * const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
 * const sched = new optim.CosineAnnealingLR(opt, { tMax: 100 });
 * for (const [x, y] of batches) tr.scope(() => {
 *   opt.zeroGrad();
 *   loss(model, x, y).backward();
 *   opt.step();
 * });
 */
// subpath entries wire the engine up too (backends, tensor methods, the tape)
import "../setup.js";
export { Optimizer, type ParamGroup, type ParamGroupSpec, type ParamsArg, type ParamState, type OptimizerStateDict, type ParamStateDict, type GroupStateDict, type GroupOptions, type Hyper } from "./optimizer.js";
export { SGD, type SGDOptions } from "./sgd.js";
export { Adam, AdamW, type AdamOptions } from "./adam.js";
export { RMSprop, type RMSpropOptions } from "./rmsprop.js";
export { Adagrad, type AdagradOptions } from "./adagrad.js";
export { clipGradNorm, clipGradValue } from "./clip.js";
export {
  LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, LambdaLR, MultiplicativeLR, OneCycleLR, ReduceLROnPlateau,
  type LrTarget, type OneCycleOptions, type ReduceLROnPlateauOptions, type JsonValue,
} from "./schedules.js";
export * as functional from "./functional.js";
