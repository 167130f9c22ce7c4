/** Convolution and pooling layers (NCHW layout, PyTorch arguments and initialisation). */
import { checkOptions, fail, fmtShape, optionKeys } from "../core/errors.js";
import type { Tensor } from "../tensor.js";
import { zeros } from "../ops/creation.js";
import { concatenate, pad, slice, type SliceSpec } from "../ops/shape.js";
import {
  adaptiveAvgPool2d, avgPool1d, avgPool2d, conv1d, conv2d, convTranspose1d, convTranspose2d, maxPool1d, maxPool2d,
  type AvgPoolOpts, type MaxPoolOpts,
} from "../ops/conv.js";
import { Module, parameter } from "./module.js";
import * as init from "./init.js";
import { paramDtype, posInt, type DtypeOpts } from "./util.js";

type PerAxis = number | readonly number[];
/** How the input is padded outside its border: zeros, its mirror image, its edge value, or wrapped around. */
export type PaddingMode = "zeros" | "reflect" | "replicate" | "circular";

/** Options of Conv1d / Conv2d. */
export interface ConvLayerOpts extends DtypeOpts {
  stride?: PerAxis;
  /** Per axis, symmetric, or "same" / "valid". */
  padding?: PerAxis | "same" | "valid";
  dilation?: PerAxis;
  groups?: number;
  bias?: boolean;
  paddingMode?: PaddingMode;
}
const CONV_KEYS = optionKeys<ConvLayerOpts>({ stride: true, padding: true, dilation: true, groups: true, bias: true, paddingMode: true, dtype: true });

function tuple(op: string, name: string, v: PerAxis | undefined, n: number, dflt: number, min: number): number[] {
  const list = v === undefined ? Array<number>(n).fill(dflt) : typeof v === "number" ? Array<number>(n).fill(v) : [...v];
  if (list.length !== n || list.some((x) => !Number.isInteger(x) || x < min)) {
    fail(op, `${name} must be an integer >= ${min} or ${n} of them, got ${JSON.stringify(v)}`);
  }
  return list;
}

/** Shared by the convolution layers: weight [out, in/groups, ...kernel] (transposed: [in, out/groups, ...kernel]). */
abstract class ConvBase extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly dilation: number[];
  readonly groups: number;
  constructor(op: string, nsp: number, transposed: boolean, inChannels: number, outChannels: number, kernelSize: PerAxis, opts: ConvLayerOpts | ConvTransposeLayerOpts) {
    super();
    checkOptions(op, opts, transposed ? CONV_T_KEYS : CONV_KEYS);
    this.inChannels = posInt(op, "inChannels", inChannels);
    this.outChannels = posInt(op, "outChannels", outChannels);
    this.kernelSize = tuple(op, "kernelSize", kernelSize, nsp, 1, 1);
    this.stride = tuple(op, "stride", opts.stride, nsp, 1, 1);
    this.dilation = tuple(op, "dilation", opts.dilation, nsp, 1, 1);
    this.groups = posInt(op, "groups", opts.groups ?? 1);
    if (inChannels % this.groups !== 0) fail(op, `inChannels ${inChannels} must be divisible by groups ${this.groups}`);
    if (outChannels % this.groups !== 0) fail(op, `outChannels ${outChannels} must be divisible by groups ${this.groups}`);
    const dt = paramDtype(op, opts.dtype);
    const wShape = transposed ? [inChannels, outChannels / this.groups, ...this.kernelSize] : [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = parameter(zeros(wShape, dt));
    this.bias = opts.bias === false ? null : parameter(zeros([outChannels], dt));
    this.resetParameters();
  }
  /** PyTorch's reset_parameters: weight ~ kaiming_uniform(a=√5), bias ~ U(±1/√fanIn) with fanIn from the weight. */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight.shape);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }
}

/** Convolution layers: padding resolution and the non-zero padding modes. */
abstract class ConvNd extends ConvBase {
  readonly padding: [number, number][];
  readonly paddingMode: PaddingMode;
  /** The padding argument as given ("same" / "valid" are kept for toString). */
  readonly paddingArg: PerAxis | "same" | "valid";
  constructor(op: string, nsp: number, inChannels: number, outChannels: number, kernelSize: PerAxis, opts: ConvLayerOpts) {
    super(op, nsp, false, inChannels, outChannels, kernelSize, opts);
    this.paddingMode = opts.paddingMode ?? "zeros";
    this.paddingArg = opts.padding ?? 0;
    if (!["zeros", "reflect", "replicate", "circular"].includes(this.paddingMode)) {
      fail(op, `paddingMode must be "zeros", "reflect", "replicate" or "circular", got ${JSON.stringify(this.paddingMode)}`);
    }
    const p = opts.padding ?? 0;
    if (p === "same") {
      if (this.stride.some((s) => s !== 1)) fail(op, `padding "same" needs stride 1, got stride ${JSON.stringify(this.stride)}`);
      // PyTorch puts the odd extra element on the right
      this.padding = this.kernelSize.map((k, i) => {
        const total = this.dilation[i]! * (k - 1);
        return [Math.floor(total / 2), total - Math.floor(total / 2)];
      });
    } else if (p === "valid") this.padding = this.kernelSize.map(() => [0, 0]);
    else this.padding = tuple(op, "padding", p, nsp, 0, 0).map((v) => [v, v]);
  }
  /** The input padded by the mode (zeros are left to the convolution). */
  protected padInput(x: Tensor): [Tensor, [number, number][]] {
    if (this.paddingMode === "zeros") return [x, this.padding];
    const lead = x.ndim - this.padding.length;
    const pw = [...Array.from({ length: lead }, () => [0, 0] as [number, number]), ...this.padding];
    if (this.paddingMode === "circular") return [circularPad(x, pw), this.padding.map(() => [0, 0])];
    return [pad(x, pw, { mode: this.paddingMode }), this.padding.map(() => [0, 0])];
  }
}

/** Wrap-around padding: each axis gets its own tail before it and its head after it. */
function circularPad(x: Tensor, pw: [number, number][]): Tensor {
  let t = x;
  pw.forEach(([lo, hi], ax) => {
    if (lo === 0 && hi === 0) return;
    const n = t.shape[ax]!;
    if (lo > n || hi > n) fail("Conv", `circular padding ${lo},${hi} cannot exceed the input size ${n} on axis ${ax}`);
    const spec = (a: number, b: number): SliceSpec[] => t.shape.map((_, i) => (i === ax ? [a, b] : null));
    const parts = [...(lo ? [slice(t, spec(n - lo, n))] : []), t, ...(hi ? [slice(t, spec(0, hi))] : [])];
    t = concatenate(parts, ax);
  });
  return t;
}

/**
 * 1-D convolution over [N, C, L] (or [C, L]).
 * @example new nn.Conv1d(16, 32, 3, { padding: 1 })
 */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: PerAxis, opts: ConvLayerOpts = {}) {
    super("Conv1d", 1, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor): Tensor {
    const [xp, padding] = this.padInput(x);
    return conv1d(xp, this.weight, this.bias, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups });
  }
}

/**
 * 2-D convolution over [N, C, H, W] (or [C, H, W]); weight [out, in/groups, kh, kw].
 * @example new nn.Conv2d(3, 16, 3, { stride: 1, padding: 1 })
 */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: PerAxis, opts: ConvLayerOpts = {}) {
    super("Conv2d", 2, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor): Tensor {
    const [xp, padding] = this.padInput(x);
    return conv2d(xp, this.weight, this.bias, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups });
  }
}

/** Options of the transposed convolutions. */
export interface ConvTransposeLayerOpts extends DtypeOpts {
  stride?: PerAxis;
  /** Removed from both sides of each output axis (PyTorch semantics). */
  padding?: PerAxis;
  /** Added to one side of each output axis. */
  outputPadding?: PerAxis;
  dilation?: PerAxis;
  groups?: number;
  bias?: boolean;
}
const CONV_T_KEYS = optionKeys<ConvTransposeLayerOpts>({ stride: true, padding: true, outputPadding: true, dilation: true, groups: true, bias: true, dtype: true });

abstract class ConvTransposeNd extends ConvBase {
  readonly padding: number[];
  readonly outputPadding: number[];
  constructor(op: string, nsp: number, inChannels: number, outChannels: number, kernelSize: PerAxis, opts: ConvTransposeLayerOpts) {
    super(op, nsp, true, inChannels, outChannels, kernelSize, opts);
    this.padding = tuple(op, "padding", opts.padding, nsp, 0, 0);
    this.outputPadding = tuple(op, "outputPadding", opts.outputPadding, nsp, 0, 0);
  }
}

/** 1-D transposed convolution over [N, C, L]; weight [in, out/groups, k]. */
export class ConvTranspose1d extends ConvTransposeNd {
  constructor(inChannels: number, outChannels: number, kernelSize: PerAxis, opts: ConvTransposeLayerOpts = {}) {
    super("ConvTranspose1d", 1, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor): Tensor {
    return convTranspose1d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, dilation: this.dilation, groups: this.groups });
  }
}

/**
 * 2-D transposed convolution over [N, C, H, W]; weight [in, out/groups, kh, kw].
 * @example new nn.ConvTranspose2d(16, 8, 3, { stride: 2, padding: 1, outputPadding: 1 }) // doubles H and W
 */
export class ConvTranspose2d extends ConvTransposeNd {
  constructor(inChannels: number, outChannels: number, kernelSize: PerAxis, opts: ConvTransposeLayerOpts = {}) {
    super("ConvTranspose2d", 2, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, dilation: this.dilation, groups: this.groups });
  }
}

// ---------------- pooling ----------------

/** Options of the max-pooling layers (stride defaults to the kernel size). */
export type MaxPoolLayerOpts = Omit<MaxPoolOpts, "kernelSize">;
/** Options of the average-pooling layers. */
export type AvgPoolLayerOpts = Omit<AvgPoolOpts, "kernelSize">;
const MAXPOOL_KEYS = optionKeys<MaxPoolLayerOpts>({ stride: true, padding: true, ceilMode: true, dilation: true });
const AVGPOOL_KEYS = optionKeys<AvgPoolLayerOpts>({ stride: true, padding: true, ceilMode: true, countIncludePad: true, divisorOverride: true });

/** Max over windows of [N, C, L]. */
export class MaxPool1d extends Module {
  constructor(readonly kernelSize: PerAxis, readonly opts: MaxPoolLayerOpts = {}) {
    super();
    checkOptions("MaxPool1d", opts, MAXPOOL_KEYS);
  }
  forward(x: Tensor): Tensor {
    return maxPool1d(x, { ...this.opts, kernelSize: this.kernelSize });
  }
}

/**
 * Max over windows of [N, C, H, W].
 * @example new nn.MaxPool2d(2) // halves H and W
 */
export class MaxPool2d extends Module {
  constructor(readonly kernelSize: PerAxis, readonly opts: MaxPoolLayerOpts = {}) {
    super();
    checkOptions("MaxPool2d", opts, MAXPOOL_KEYS);
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { ...this.opts, kernelSize: this.kernelSize });
  }
}

/** Average over windows of [N, C, L]. */
export class AvgPool1d extends Module {
  constructor(readonly kernelSize: PerAxis, readonly opts: AvgPoolLayerOpts = {}) {
    super();
    checkOptions("AvgPool1d", opts, AVGPOOL_KEYS);
  }
  forward(x: Tensor): Tensor {
    return avgPool1d(x, { ...this.opts, kernelSize: this.kernelSize });
  }
}

/** Average over windows of [N, C, H, W] (countIncludePad defaults to true, as PyTorch). */
export class AvgPool2d extends Module {
  constructor(readonly kernelSize: PerAxis, readonly opts: AvgPoolLayerOpts = {}) {
    super();
    checkOptions("AvgPool2d", opts, AVGPOOL_KEYS);
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, { ...this.opts, kernelSize: this.kernelSize });
  }
}

/**
 * Average pooling to a fixed output size; null keeps that axis' input size.
 * @example new nn.AdaptiveAvgPool2d(1) // global average pooling
 */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | readonly (number | null)[]) {
    super();
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 3 && x.ndim !== 4) fail("AdaptiveAvgPool2d", `input must be [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}
