export * from "./core.js";
export * from "./shape.js";
export * from "./creation.js";
export * from "./linalg.js";
export * from "./conv.js";
export * from "./indexing.js";
export * from "./nn.js";
export { tensor, fromTypedArray, toTensor, type TensorLike, type NestedNumbers } from "./convert.js";
export { stopGradient } from "../core/prims/structural.js";
