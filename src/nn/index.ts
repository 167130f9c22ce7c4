/**
 * Neural-network layers in PyTorch's style: `Module` with parameters discovered from fields, the usual
 * layers with PyTorch's initialisations and state-dict names, `init`, and `functional` (F).
 * @example
 * import { nn } from "trident";
 * class Net extends nn.Module {
 *   fc1 = new nn.Linear(784, 128);
 *   fc2 = new nn.Linear(128, 10);
 *   forward(x: Tensor) { return this.fc2.forward(this.fc1.forward(x).relu()); }
 * }
 */
import "../setup.js";
import "./repr.js";
export { Module, parameter, functionalCall, functionalCallWithState } from "./module.js";
export { withRng } from "./rng.js";
export * as init from "./init.js";
export * as functional from "./functional.js";
/** Short alias of `functional`, as PyTorch's `F`. */
export * as F from "./functional.js";
export { Identity, Linear, Bilinear, Flatten, Unflatten, Dropout, Embedding } from "./basic.js";
export type { LinearOpts, DropoutCallOpts, EmbeddingOpts } from "./basic.js";
export { ReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, LogSoftmax, LeakyReLU, ELU, Softplus, Mish, Hardtanh } from "./activation.js";
export { Sequential, ModuleList, ModuleDict } from "./container.js";
export {
  Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d,
} from "./conv.js";
export type { ConvLayerOpts, ConvTransposeLayerOpts, PaddingMode, MaxPoolLayerOpts, AvgPoolLayerOpts } from "./conv.js";
export { BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, RMSNorm } from "./norm.js";
export type { BatchNormOpts, LayerNormOpts, GroupNormOpts, RMSNormOpts } from "./norm.js";
export { MultiheadAttention, TransformerEncoderLayer, TransformerEncoder, generateSquareSubsequentMask } from "./transformer.js";
export type { MultiheadAttentionOpts, MultiheadAttentionCallOpts, TransformerEncoderLayerOpts, EncoderCallOpts, Activation } from "./transformer.js";
export { LSTM, GRU, RNN, LSTMCell, GRUCell } from "./rnn.js";
export type { RNNOpts, RNNCallOpts } from "./rnn.js";
export * from "./extra.js";
