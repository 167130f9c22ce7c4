// The fixture op table: each fixture op name (snake_case, PyTorch/NumPy semantics, see the fixtures'
// README) mapped onto Trident's public API, with the fixture's snake_case params translated. The fixture
// stores one output per case: topk's values (sorted descending), not its indices.
import * as tr from "../index.js";
import { TridentError } from "../core/errors.js";
import type { JsonValue } from "./index.js";

type Arg = tr.Tensor | JsonValue;
type Params = { [key: string]: JsonValue };
/** Runs one fixture op on its arguments; returns the tensor the fixture stores as `out`. */
export type OpEntry = (args: Arg[], params: Params) => unknown;

function bad(what: string, expected: string, got: unknown): never {
  throw new TridentError(`runCase: ${what} must be ${expected}, got ${JSON.stringify(got)}`);
}

function t(args: Arg[], i: number): tr.Tensor {
  const a = args[i];
  if (!(a instanceof tr.Tensor)) bad(`argument ${i}`, "a tensor", a);
  return a;
}
const tensors = (args: Arg[]): tr.Tensor[] => args.map((_, i) => t(args, i));

function num(p: Params, k: string, dflt?: number): number {
  const v = p[k];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "number") bad(`param ${k}`, "a number", v);
  return v;
}
function bool(p: Params, k: string, dflt: boolean): boolean {
  const v = p[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") bad(`param ${k}`, "a boolean", v);
  return v;
}
function str(p: Params, k: string, dflt?: string): string {
  const v = p[k];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "string") bad(`param ${k}`, "a string", v);
  return v;
}
function ints(p: Params, k: string): number[] {
  const v = p[k];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) bad(`param ${k}`, "a list of integers", v);
  return v as number[];
}
function intOrInts(p: Params, k: string): number | number[] {
  const v = p[k];
  return typeof v === "number" ? v : ints(p, k);
}
function axisP(p: Params, k = "axis"): number | number[] | null {
  const v = p[k];
  if (v === undefined || v === null) return null;
  return intOrInts(p, k);
}
function pairs(p: Params, k: string): [number, number][] {
  const v = p[k];
  if (!Array.isArray(v) || !v.every((x) => Array.isArray(x) && x.length === 2 && x.every((y) => typeof y === "number"))) {
    bad(`param ${k}`, "a list of [before, after] pairs", v);
  }
  return v as [number, number][];
}
function slices(p: Params): tr.SliceSpec[] {
  const v = p["slices"];
  if (!Array.isArray(v)) bad("param slices", "a list of [start, stop, step]", v);
  return v.map((s) => {
    if (!Array.isArray(s) || s.length < 2 || s.length > 3 || !s.every((x) => x === null || typeof x === "number")) bad("param slices entry", "[start, stop, step]", s);
    return [s[0] as number | null, s[1] as number | null, (s[2] ?? null) as number | null];
  });
}

const unary = (f: (x: tr.Tensor) => unknown): OpEntry => (a) => f(t(a, 0));
const binary = (f: (x: tr.Tensor, y: tr.Tensor) => unknown): OpEntry => (a) => f(t(a, 0), t(a, 1));
const reduce = (f: (x: tr.Tensor, o: tr.ReduceOpts) => unknown): OpEntry => (a, p) => f(t(a, 0), { axis: axisP(p), keepdims: bool(p, "keepdims", false) });
const moments = (f: (x: tr.Tensor, o: tr.ReduceOpts & { ddof?: number }) => unknown): OpEntry => (a, p) =>
  f(t(a, 0), { axis: axisP(p), keepdims: bool(p, "keepdims", false), ddof: num(p, "ddof", 0) });
const withAxis = (f: (x: tr.Tensor, o: { axis: number }) => unknown): OpEntry => (a, p) => f(t(a, 0), { axis: num(p, "axis", -1) });
function convOpts(p: Params) {
  const layout = p["layout"];
  if (layout !== undefined && layout !== "NCHW" && layout !== "NCW") bad("param layout", "channels-first (NCW/NCHW)", layout);
  return {
  stride: ints(p, "stride"),
  padding: pairs(p, "padding"),
  dilation: p["dilation"] === undefined ? undefined : ints(p, "dilation"),
  groups: num(p, "groups", 1),
  };
}
const conv = (f: typeof tr.conv2d): OpEntry => (a, p) => f(t(a, 0), t(a, 1), a.length > 2 ? t(a, 2) : null, convOpts(p));
const pool = (f: typeof tr.maxPool2d): OpEntry => (a, p) => f(t(a, 0), { kernelSize: ints(p, "kernel"), stride: ints(p, "stride"), padding: pairs(p, "padding") });
/** PyTorch's transposed-conv padding is symmetric: one number per axis. */
function symmetric(p: Params, k: string): number[] {
  return pairs(p, k).map(([lo, hi]) => (lo === hi ? lo : bad(`param ${k}`, "symmetric [p, p] pairs for a transposed convolution", [lo, hi])));
}
function reduction(p: Params): tr.Reduction {
  const r = str(p, "reduction", "mean");
  if (r !== "mean" && r !== "sum" && r !== "none") bad("param reduction", '"mean", "sum" or "none"', r);
  return r;
}

export const OPS: Record<string, OpEntry> = {
  // elementwise unary
  neg: unary(tr.neg), abs: unary(tr.abs), exp: unary(tr.exp), log: unary(tr.log), log1p: unary(tr.log1p),
  expm1: unary(tr.expm1), sqrt: unary(tr.sqrt), rsqrt: unary(tr.rsqrt), sin: unary(tr.sin), cos: unary(tr.cos),
  tan: unary(tr.tan), tanh: unary(tr.tanh), sigmoid: unary(tr.sigmoid), erf: unary(tr.erf),
  reciprocal: unary(tr.reciprocal), square: unary(tr.square), atan: unary(tr.atan), asin: unary(tr.asin),
  acos: unary(tr.acos), sinh: unary(tr.sinh), cosh: unary(tr.cosh), sign: unary(tr.sign), floor: unary(tr.floor),
  ceil: unary(tr.ceil),
  clip: (a, p) => tr.clip(t(a, 0), num(p, "min"), num(p, "max")),
  // activations (nn)
  relu: unary(tr.relu),
  gelu: (a) => tr.gelu(t(a, 0), { approximate: "none" }),
  gelu_tanh: (a) => tr.gelu(t(a, 0), { approximate: "tanh" }),
  silu: unary(tr.silu),
  softplus: unary(tr.softplus),
  elu: unary(tr.elu),
  leaky_relu: (a, p) => tr.leakyRelu(t(a, 0), num(p, "negative_slope", 0.01)),
  log_sigmoid: unary(tr.logSigmoid),
  // elementwise binary / ternary
  add: binary(tr.add), sub: binary(tr.sub), mul: binary(tr.mul), div: binary(tr.div), maximum: binary(tr.maximum),
  minimum: binary(tr.minimum), atan2: binary(tr.atan2), pow: binary(tr.pow), equal: binary(tr.equal),
  not_equal: binary(tr.notEqual), less: binary(tr.less), less_equal: binary(tr.lessEqual), greater: binary(tr.greater),
  greater_equal: binary(tr.greaterEqual),
  where: (a) => tr.where(t(a, 0), t(a, 1), t(a, 2)),
  // reductions
  sum: reduce(tr.sum), mean: reduce(tr.mean), prod: reduce(tr.prod), logsumexp: reduce(tr.logsumexp),
  max: reduce(tr.max), min: reduce(tr.min), var: moments(tr.variance), std: moments(tr.std),
  any: reduce(tr.any), all: reduce(tr.all),
  argmax: (a, p) => tr.argmax(t(a, 0), { axis: num(p, "axis") }),
  argmin: (a, p) => tr.argmin(t(a, 0), { axis: num(p, "axis") }),
  cumsum: (a, p) => tr.cumsum(t(a, 0), { axis: num(p, "axis") }),
  softmax: withAxis(tr.softmax),
  log_softmax: withAxis(tr.logSoftmax),
  // linear algebra
  matmul: binary(tr.matmul),
  einsum: (a, p) => tr.einsum(str(p, "equation"), ...tensors(a)),
  attention: (a, p) => tr.attention(t(a, 0), t(a, 1), t(a, 2), { causal: bool(p, "causal", false) }),
  // shape
  reshape: (a, p) => tr.reshape(t(a, 0), ints(p, "shape")),
  transpose: (a, p) => tr.transpose(t(a, 0), p["axes"] === undefined || p["axes"] === null ? undefined : ints(p, "axes")),
  broadcast_to: (a, p) => tr.broadcastTo(t(a, 0), ints(p, "shape")),
  squeeze: (a, p) => tr.squeeze(t(a, 0), axisP(p)),
  expand_dims: (a, p) => tr.expandDims(t(a, 0), intOrInts(p, "axis")),
  concatenate: (a, p) => tr.concatenate(tensors(a), num(p, "axis", 0)),
  stack: (a, p) => tr.stack(tensors(a), num(p, "axis", 0)),
  slice: (a, p) => tr.slice(t(a, 0), slices(p)),
  pad: (a, p) => {
    const mode = str(p, "mode", "constant");
    if (mode !== "constant" && mode !== "reflect" && mode !== "edge" && mode !== "replicate" && mode !== "symmetric") bad("param mode", "a NumPy pad mode", mode);
    return tr.pad(t(a, 0), pairs(p, "pad_width"), { mode, value: num(p, "value", 0) });
  },
  flip: (a, p) => tr.flip(t(a, 0), axisP(p)),
  tile: (a, p) => tr.tile(t(a, 0), intOrInts(p, "reps")),
  repeat: (a, p) => tr.repeat(t(a, 0), num(p, "repeats"), p["axis"] === null || p["axis"] === undefined ? null : num(p, "axis")),
  roll: (a, p) => tr.roll(t(a, 0), intOrInts(p, "shift"), axisP(p)),
  tril: (a, p) => tr.tril(t(a, 0), num(p, "k", 0)),
  triu: (a, p) => tr.triu(t(a, 0), num(p, "k", 0)),
  // indexing
  take: (a, p) => tr.take(t(a, 0), t(a, 1), { axis: p["axis"] === null ? null : num(p, "axis", 0) }),
  take_along_axis: (a, p) => tr.takeAlongAxis(t(a, 0), t(a, 1), num(p, "axis")),
  scatter_add: (a, p) => tr.scatterAdd(t(a, 0), t(a, 1), t(a, 2), num(p, "axis")),
  one_hot: (a, p) => tr.oneHot(t(a, 0), num(p, "num_classes")),
  embedding: binary(tr.embedding),
  sort: (a, p) => tr.sort(t(a, 0), { axis: num(p, "axis", -1), descending: bool(p, "descending", false) }),
  argsort: (a, p) => tr.argsort(t(a, 0), { axis: num(p, "axis", -1), descending: bool(p, "descending", false) }),
  // the fixture stores topk's values only (sorted descending)
  topk: (a, p) => tr.topk(t(a, 0), num(p, "k"), { axis: num(p, "axis", -1) })[0],
  // convolution and pooling (NCHW)
  conv1d: conv(tr.conv1d),
  conv2d: conv(tr.conv2d),
  conv_transpose2d: (a, p) =>
    tr.convTranspose2d(t(a, 0), t(a, 1), a.length > 2 ? t(a, 2) : null, {
      stride: ints(p, "stride"),
      padding: symmetric(p, "padding"),
      outputPadding: p["output_padding"] === undefined ? undefined : ints(p, "output_padding"),
      dilation: p["dilation"] === undefined ? undefined : ints(p, "dilation"),
      groups: num(p, "groups", 1),
    }),
  max_pool2d: pool(tr.maxPool2d),
  avg_pool2d: pool(tr.avgPool2d),
  // normalisation and losses
  layer_norm: (a, p) => tr.layerNorm(t(a, 0), t(a, 1), t(a, 2), { axis: intOrInts(p, "axis"), eps: num(p, "eps", 1e-5) }),
  batch_norm_train: (a, p) => tr.batchNormTrain(t(a, 0), t(a, 1), t(a, 2), { axis: num(p, "axis", 1), eps: num(p, "eps", 1e-5) }),
  cross_entropy: (a, p) => tr.crossEntropy(t(a, 0), t(a, 1), { reduction: reduction(p), labelSmoothing: num(p, "label_smoothing", 0) }),
  mse_loss: (a, p) => tr.mseLoss(t(a, 0), t(a, 1), { reduction: reduction(p) }),
  binary_cross_entropy_with_logits: (a, p) => tr.binaryCrossEntropyWithLogits(t(a, 0), t(a, 1), { reduction: reduction(p) }),
};
