/**
 * Trident: eager tensors with PyTorch-style autograd, JAX-style transformations (grad, vmap, jit),
 * one primitive registry underneath.
 * @example
 * import * as tr from "trident";
 * const f = (x: tr.Tensor) => x.sin().sum();
 * tr.grad(f)(tr.tensor([1, 2, 3])); // cos(x)
 */
import "./setup.js";
export { Tensor, EagerTensor } from "./tensor.js";
export * from "./ops/index.js";
export { gt, lt, ge, le, eq, ne, clamp, mm, bmm, mv, clone, chunk, tensorSplit, unbind, narrow, t, maskedFill, addmm, repeatInterleave, type AddmmOpts } from "./ops/aliases.js";
export { TridentError, ConcretizationError } from "./core/errors.js";
export type { DType } from "./core/dtype.js";
export { grad, valueAndGrad, vjp, jvp, linearize, jacfwd, jacrev, hessian, vmap, jit, makeJaxpr } from "./transforms/api.js";
export { noGrad, isGradEnabled, zeroGrad } from "./tape.js";
export { scope, keep, memory } from "./memory.js";
export { setBackend, getBackend, backendNames } from "./backend/registry.js";
export { ClosedJaxpr, Jaxpr } from "./core/jaxpr.js";
export { treeFlatten, treeUnflatten, treeMap } from "./core/pytree.js";
export * as random from "./random/index.js";
export * as lax from "./transforms/control.js";
export * from "./transforms/custom.js";
export { manualSeed, randn, rand, randint, randperm } from "./random/global.js";
export { config, type Config } from "./config.js";
export * as nn from "./nn/index.js";
export * as optim from "./optim/index.js";
export * as data from "./data/index.js";
export * as io from "./io/index.js";
export * as train from "./train/index.js";
export { fit, evaluate, predict } from "./train/index.js";
export { DataLoader, Dataset, TensorDataset, datasets } from "./data/index.js";
export * as onnx from "./onnx/index.js";
export * as fft from "./fft/index.js";
export * as linalg from "./linalg/index.js";
