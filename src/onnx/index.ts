/**
 * ONNX import: `onnx.load(pathOrBytes)` gives a model whose `run` evaluates it eagerly and whose `fn`
 * is a pure function of tensors built from Trident ops (so jit, grad and vmap apply).
 * @example
 * import * as tr from "trident"; import * as onnx from "trident/onnx";
 * const m = onnx.load("resnet.onnx");
 * const { output } = m.run({ input: tr.randn([1, 3, 224, 224]) });
 */
import "../setup.js";
export { load, OnnxModel, type OnnxIOInfo, type OnnxFeed, type OnnxArrayFeed, type OnnxValue, type LoadOptions } from "./model.js";
export { OnnxUnsupportedError, type MissingOperator } from "./errors.js";
export { supportedOperators } from "./support.js";
export type { NativeTensor, NativeValue } from "./values.js";
export * as proto from "./proto.js";
export { exportFunction, exportModule, type ExportOptions } from "./export.js";
