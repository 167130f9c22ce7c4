/**
 * extraRepr of the built-in layers: the text PyTorch 1.13 prints inside `Name(...)`, with PyTorch's
 * snake_case argument names so that a printed model reads the same in both. Kept in one file, assigned
 * to the prototypes, so the layer files stay about computing.
 */
import { Module } from "./module.js";
import { Bilinear, Dropout, Embedding, Flatten, Linear, Unflatten } from "./basic.js";
import { ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, Softmax, Softplus } from "./activation.js";
import { AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, MaxPool1d, MaxPool2d } from "./conv.js";
import { BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RMSNorm } from "./norm.js";
import { GRU, GRUCell, LSTM, LSTMCell, RNN } from "./rnn.js";

/** A number as Python's repr of a float prints it (1.0, 0.1, 1e-05): PyTorch's defaults for these are floats. */
export function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  if (x !== 0 && Math.abs(x) < 1e-4) {
    const [m, e] = x.toExponential().split("e");
    const sign = e!.startsWith("-") ? "-" : "+";
    return `${m}e${sign}${e!.replace(/^[-+]/, "").padStart(2, "0")}`;
  }
  return String(x);
}

/** A Python tuple: (3,) for one element, (3, 3) for two. */
export function pyTuple(xs: readonly unknown[]): string {
  return xs.length === 1 ? `(${String(xs[0])},)` : `(${xs.join(", ")})`;
}

const pyBool = (b: boolean): string => (b ? "True" : "False");
/** An int or per-axis value as the user gave it (PyTorch's pooling layers keep their arguments unconverted). */
const asGiven = (v: unknown): string => (Array.isArray(v) ? pyTuple(v) : String(v));

type Proto = { prototype: Module };
function define(cls: Proto, fn: (m: never) => string): void {
  Object.defineProperty(cls.prototype, "extraRepr", {
    value: function (this: never) {
      return fn(this);
    },
    writable: true,
    configurable: true,
  });
}

define(Linear, (m: Linear) => `in_features=${m.inFeatures}, out_features=${m.outFeatures}, bias=${pyBool(m.bias !== null)}`);
define(Bilinear, (m: Bilinear) => `in1_features=${m.in1Features}, in2_features=${m.in2Features}, out_features=${m.outFeatures}, bias=${pyBool(m.bias !== null)}`);
define(Flatten, (m: Flatten) => `start_dim=${m.startDim}, end_dim=${m.endDim}`);
define(Unflatten, (m: Unflatten) => `dim=${m.dim}, unflattened_size=${pyTuple(m.unflattenedSize)}`);
define(Dropout, (m: Dropout) => `p=${pyFloat(m.p)}, inplace=False`);
define(Embedding, (m: Embedding) => `${m.numEmbeddings}, ${m.embeddingDim}${m.paddingIdx !== null ? `, padding_idx=${m.paddingIdx}` : ""}`);

define(GELU, (m: GELU) => `approximate='${m.approximate}'`);
define(LeakyReLU, (m: LeakyReLU) => `negative_slope=${pyFloat(m.negativeSlope)}`);
define(ELU, (m: ELU) => `alpha=${pyFloat(m.alpha)}`);
define(Softmax, (m: Softmax) => `dim=${m.dim}`);
define(LogSoftmax, (m: LogSoftmax) => `dim=${m.dim}`);
define(Softplus, (m: Softplus) => `beta=${m.beta}, threshold=${m.threshold}`);
define(Hardtanh, (m: Hardtanh) => `min_val=${pyFloat(m.minVal)}, max_val=${pyFloat(m.maxVal)}`);

interface ConvLike {
  inChannels: number;
  outChannels: number;
  kernelSize: number[];
  stride: number[];
  dilation: number[];
  groups: number;
  bias: unknown;
}
function convRepr(m: ConvLike, padding: string | null, outputPadding: number[] | null, paddingMode: string): string {
  let s = `${m.inChannels}, ${m.outChannels}, kernel_size=${pyTuple(m.kernelSize)}, stride=${pyTuple(m.stride)}`;
  if (padding !== null) s += `, padding=${padding}`;
  if (m.dilation.some((d) => d !== 1)) s += `, dilation=${pyTuple(m.dilation)}`;
  if (outputPadding && outputPadding.some((p) => p !== 0)) s += `, output_padding=${pyTuple(outputPadding)}`;
  if (m.groups !== 1) s += `, groups=${m.groups}`;
  if (m.bias === null) s += ", bias=False";
  if (paddingMode !== "zeros") s += `, padding_mode=${paddingMode}`;
  return s;
}
for (const C of [Conv1d, Conv2d]) {
  define(C, (m: Conv1d) => {
    const arg = m.paddingArg;
    const pad = typeof arg === "string" ? arg : m.padding.every(([lo]) => lo === 0) ? null : pyTuple(m.padding.map(([lo]) => lo));
    return convRepr(m, pad, null, m.paddingMode);
  });
}
for (const C of [ConvTranspose1d, ConvTranspose2d]) {
  define(C, (m: ConvTranspose1d) => convRepr(m, m.padding.every((p) => p === 0) ? null : pyTuple(m.padding), m.outputPadding, "zeros"));
}

for (const C of [MaxPool1d, MaxPool2d]) {
  define(C, (m: MaxPool1d) => {
    const o = m.opts;
    return `kernel_size=${asGiven(m.kernelSize)}, stride=${asGiven(o.stride ?? m.kernelSize)}, padding=${asGiven(o.padding ?? 0)}, dilation=${asGiven(o.dilation ?? 1)}, ceil_mode=${pyBool(o.ceilMode ?? false)}`;
  });
}
// PyTorch's AvgPool1d turns its arguments into 1-tuples, AvgPool2d keeps them as given
const one = (v: unknown): string => (Array.isArray(v) ? pyTuple(v) : pyTuple([v]));
define(AvgPool1d, (m: AvgPool1d) => `kernel_size=${one(m.kernelSize)}, stride=${one(m.opts.stride ?? m.kernelSize)}, padding=${one(m.opts.padding ?? 0)}`);
define(AvgPool2d, (m: AvgPool2d) => `kernel_size=${asGiven(m.kernelSize)}, stride=${asGiven(m.opts.stride ?? m.kernelSize)}, padding=${asGiven(m.opts.padding ?? 0)}`);
define(AdaptiveAvgPool2d, (m: AdaptiveAvgPool2d) => `output_size=${Array.isArray(m.outputSize) ? pyTuple(m.outputSize.map((v: number | null) => (v === null ? "None" : v))) : String(m.outputSize)}`);

for (const C of [BatchNorm1d, BatchNorm2d]) {
  define(C, (m: BatchNorm1d) => `${m.numFeatures}, eps=${pyFloat(m.eps)}, momentum=${m.momentum === null ? "None" : pyFloat(m.momentum)}, affine=${pyBool(m.affine)}, track_running_stats=${pyBool(m.trackRunningStats)}`);
}
define(LayerNorm, (m: LayerNorm) => `${pyTuple(m.normalizedShape)}, eps=${pyFloat(m.eps)}, elementwise_affine=${pyBool(m.weight !== null)}`);
define(GroupNorm, (m: GroupNorm) => `${m.numGroups}, ${m.numChannels}, eps=${pyFloat(m.eps)}, affine=${pyBool(m.weight !== null)}`);
// not in PyTorch 1.13; this is the text of later versions
define(RMSNorm, (m: RMSNorm) => `${pyTuple(m.normalizedShape)}, eps=${m.eps === null ? "None" : pyFloat(m.eps)}, elementwise_affine=${pyBool(m.weight !== null)}`);

for (const C of [LSTM, GRU, RNN]) {
  define(C, (m: LSTM) => {
    let s = `${m.inputSize}, ${m.hiddenSize}`;
    if (m.numLayers !== 1) s += `, num_layers=${m.numLayers}`;
    if (!m.bias) s += ", bias=False";
    if (m.batchFirst) s += ", batch_first=True";
    if (m.dropout !== 0) s += `, dropout=${m.dropout}`;
    if (m.bidirectional) s += ", bidirectional=True";
    return s;
  });
}
for (const C of [LSTMCell, GRUCell]) {
  define(C, (m: LSTMCell) => `${m.inputSize}, ${m.hiddenSize}${m.biasIh === null ? ", bias=False" : ""}`);
}
