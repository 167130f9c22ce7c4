/**
 * Parameter initialisers with PyTorch's distributions and fan rules (`torch.nn.init`). Each overwrites a
 * concrete tensor in place (without autograd) and returns it; randomness comes from `opts.key`, or the
 * global generator of `tr.manualSeed` when no key is given.
 * @example nn.init.kaimingNormal_(layer.weight, { mode: "fanOut", nonlinearity: "relu" })
 */
import { isFloat } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { constant } from "../core/execute.js";
import { full } from "../core/prims/constants.js";
import { scope } from "../memory.js";
import { noGrad } from "../tape.js";
import { EagerTensor, type Tensor } from "../tensor.js";
import * as random from "../random/index.js";
import { nextKey } from "../random/global.js";
import { add, mul } from "../ops/core.js";
import { eye } from "../ops/creation.js";

/** Options of every random initialiser. */
export interface InitOpts {
  /** PRNG key; defaults to a fresh key from the global generator. */
  key?: random.Key;
}

/** Activation names understood by calculateGain (PyTorch's snake_case names are accepted too). */
export type Nonlinearity =
  | "linear" | "identity" | "conv1d" | "conv2d" | "conv3d" | "convTranspose1d" | "convTranspose2d" | "convTranspose3d"
  | "sigmoid" | "tanh" | "relu" | "leakyRelu" | "selu"
  | "conv_transpose1d" | "conv_transpose2d" | "conv_transpose3d" | "leaky_relu";

/** Fan rule of kaiming initialisation: preserve the forward (fanIn) or backward (fanOut) variance. */
export type FanMode = "fanIn" | "fanOut" | "fan_in" | "fan_out";

/**
 * The recommended gain for an activation (PyTorch's calculate_gain): 1 for linear/conv/sigmoid, 5/3
 * for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky relu (slope `param`, default 0.01), 3/4 for selu.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case "linear": case "identity": case "conv1d": case "conv2d": case "conv3d": case "sigmoid":
    case "convTranspose1d": case "convTranspose2d": case "convTranspose3d":
    case "conv_transpose1d": case "conv_transpose2d": case "conv_transpose3d":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    case "leakyRelu": case "leaky_relu": {
      const slope = param ?? 0.01;
      if (typeof slope !== "number" || !Number.isFinite(slope)) fail("calculateGain", `negative slope ${String(param)} is not a valid number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case "selu":
      return 3 / 4;
  }
  return fail("calculateGain", `unsupported nonlinearity ${JSON.stringify(nonlinearity)}`);
}

/**
 * Fan-in and fan-out of a weight shape, as PyTorch: [out, in, ...kernel] gives
 * fanIn = in·∏kernel and fanOut = out·∏kernel. Needs at least 2 dimensions.
 */
export function calculateFanInAndFanOut(shape: readonly number[] | Tensor): [number, number] {
  const s = Array.isArray(shape) ? shape : (shape as Tensor).shape;
  if (s.length < 2) fail("calculateFanInAndFanOut", `fan in and fan out need a tensor with at least 2 dimensions, got shape ${fmtShape(s)}`);
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return [s[1]! * receptive, s[0]! * receptive];
}

function fanOf(op: string, t: Tensor, mode: FanMode): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t.shape);
  if (mode === "fanIn" || mode === "fan_in") return fanIn;
  if (mode === "fanOut" || mode === "fan_out") return fanOut;
  return fail(op, `mode must be "fanIn" or "fanOut", got ${JSON.stringify(mode)}`);
}

/** Overwrite t with the values make() returns, freeing everything made on the way. */
function fill(op: string, t: Tensor, make: () => Tensor): Tensor {
  if (!(t instanceof EagerTensor)) fail(op, "initialisers write in place and need a concrete tensor, not a traced value");
  scope(() =>
    noGrad(() => {
      const v = make() as EagerTensor;
      if (v.shape.join() !== t.shape.join()) fail(op, `internal shape mismatch ${fmtShape(v.shape)} vs ${fmtShape(t.shape)}`);
      t.assign(v);
    }),
  );
  return t;
}

function floatTarget(op: string, t: Tensor): void {
  if (!isFloat(t.dtype)) fail(op, `needs a floating-point tensor, got ${t.dtype} with shape ${fmtShape(t.shape)}`);
}

const keyOf = (opts: InitOpts): random.Key => opts.key ?? nextKey();

/** Fill with U(a, b). */
export function uniform_(t: Tensor, a = 0, b = 1, opts: InitOpts = {}): Tensor {
  floatTarget("init.uniform_", t);
  if (!(b >= a)) fail("init.uniform_", `needs a <= b, got a = ${a}, b = ${b}`);
  return fill("init.uniform_", t, () => random.uniform(keyOf(opts), t.shape, { dtype: t.dtype, minval: a, maxval: b }));
}

/** Fill with N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1, opts: InitOpts = {}): Tensor {
  floatTarget("init.normal_", t);
  if (!(std >= 0)) fail("init.normal_", `std must be non-negative, got ${std}`);
  return fill("init.normal_", t, () => add(mul(random.normal(keyOf(opts), t.shape, { dtype: t.dtype }), std), mean));
}

/**
 * Fill with N(mean, std²) truncated to [a, b] (absolute bounds, as PyTorch's trunc_normal_).
 */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, opts: InitOpts = {}): Tensor {
  floatTarget("init.truncNormal_", t);
  if (!(std > 0)) fail("init.truncNormal_", `std must be positive, got ${std}`);
  if (!(b > a)) fail("init.truncNormal_", `needs a < b, got a = ${a}, b = ${b}`);
  const lo = (a - mean) / std, hi = (b - mean) / std;
  return fill("init.truncNormal_", t, () => add(mul(random.truncatedNormal(keyOf(opts), lo, hi, t.shape, { dtype: t.dtype }), std), mean));
}

/** Fill with one value. */
export function constant_(t: Tensor, value: number): Tensor {
  return fill("init.constant_", t, () => full(t.shape, value, t.dtype));
}
/** Fill with ones. */
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);
/** Fill with zeros. */
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);

/** Fill a 2-D tensor with the identity matrix (ones on the diagonal, as many as fit). */
export function eye_(t: Tensor): Tensor {
  if (t.ndim !== 2) fail("init.eye_", `needs a 2-D tensor, got shape ${fmtShape(t.shape)}`);
  return fill("init.eye_", t, () => eye(t.shape[0]!, t.shape[1]!, { dtype: t.dtype }));
}

/** Glorot uniform: U(−r, r) with r = gain·√(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1, opts: InitOpts = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t.shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, opts);
}
/** Glorot normal: N(0, σ²) with σ = gain·√(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1, opts: InitOpts = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t.shape);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), opts);
}

/** Options of kaiming (He) initialisation; the defaults are PyTorch's. */
export interface KaimingOpts extends InitOpts {
  /** Negative slope of the leaky relu that follows (default 0). */
  a?: number;
  /** Default "fanIn". */
  mode?: FanMode;
  /** Default "leakyRelu" (with slope a), PyTorch's default. */
  nonlinearity?: Nonlinearity;
}

function kaimingStd(op: string, t: Tensor, opts: KaimingOpts): number | null {
  if (t.size === 0) return null;
  const fan = fanOf(op, t, opts.mode ?? "fanIn");
  return calculateGain(opts.nonlinearity ?? "leakyRelu", opts.a ?? 0) / Math.sqrt(fan);
}

/** He uniform: U(−b, b) with b = gain·√(3 / fan). Linear and conv layers use a = √5, giving b = 1/√fanIn. */
export function kaimingUniform_(t: Tensor, opts: KaimingOpts = {}): Tensor {
  const std = kaimingStd("init.kaimingUniform_", t, opts);
  if (std === null) return t;
  const bound = Math.sqrt(3) * std;
  return uniform_(t, -bound, bound, opts);
}
/** He normal: N(0, σ²) with σ = gain / √fan. */
export function kaimingNormal_(t: Tensor, opts: KaimingOpts = {}): Tensor {
  const std = kaimingStd("init.kaimingNormal_", t, opts);
  if (std === null) return t;
  return normal_(t, 0, std, opts);
}

/**
 * A (semi-)orthogonal matrix times gain: the Q factor of a Gaussian matrix with R's diagonal made
 * positive, as PyTorch's orthogonal_ (dimensions after the first are flattened). Computed on the host.
 */
export function orthogonal_(t: Tensor, gain = 1, opts: InitOpts = {}): Tensor {
  floatTarget("init.orthogonal_", t);
  if (t.ndim < 2) fail("init.orthogonal_", `needs a tensor with at least 2 dimensions, got shape ${fmtShape(t.shape)}`);
  if (t.size === 0) return t;
  const rows = t.shape[0]!, cols = t.size / rows;
  const g = Float64Array.from(scope(() => random.normal(keyOf(opts), [rows, cols], { dtype: "float64" }).dataSync()));
  const tall = rows >= cols;
  const m = tall ? rows : cols, n = tall ? cols : rows;
  // columns of the m×n matrix A (A = g, or gᵀ when wide)
  const a: Float64Array[] = Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => (tall ? g[i * cols + j]! : g[j * cols + i]!)));
  // modified Gram-Schmidt, twice for stability: the result is Q with a positive diagonal of R
  for (let j = 0; j < n; j++) {
    const v = a[j]!;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        const q = a[k]!;
        let d = 0;
        for (let i = 0; i < m; i++) d += q[i]! * v[i]!;
        for (let i = 0; i < m; i++) v[i] -= d * q[i]!;
      }
    }
    let nrm = 0;
    for (let i = 0; i < m; i++) nrm += v[i]! * v[i]!;
    nrm = Math.sqrt(nrm);
    for (let i = 0; i < m; i++) v[i] /= nrm;
  }
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? a[c]![r]! : a[r]![c]!);
  return fill("init.orthogonal_", t, () => constant(out, t.shape, t.dtype));
}
