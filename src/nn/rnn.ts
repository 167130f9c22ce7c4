/**
 * Recurrent layers with PyTorch's parameter layout (`weight_ih_l0`, gate order i,f,g,o for LSTM and
 * r,z,n for GRU) and initialisation U(−1/√hidden, 1/√hidden). The time loop runs in JavaScript (it
 * unrolls under jit), or as one lax.scan with `{ scan: true }`.
 */
import { checkOptions, fail, fmtShape, optionKeys } from "../core/errors.js";
import type { Tensor } from "../tensor.js";
import { add, mul, sigmoid, sub, tanh } from "../ops/core.js";
import { zeros } from "../ops/creation.js";
import { concatenate, reshape, slice, split, stack, swapaxes } from "../ops/shape.js";
import { relu } from "../ops/nn.js";
import type { Key } from "../random/index.js";
import { Module, parameter } from "./module.js";
import * as init from "./init.js";
import { dropout, linear } from "./functional.js";
import { withRng } from "./rng.js";
import * as lax from "../transforms/control.js";
import { paramDtype, posInt, prob, torchKey, type DtypeOpts } from "./util.js";

type Mode = "LSTM" | "GRU" | "RNN_TANH" | "RNN_RELU";
const GATES: Record<Mode, number> = { LSTM: 4, GRU: 3, RNN_TANH: 1, RNN_RELU: 1 };

/** Options of the multi-layer recurrent layers (PyTorch's defaults). */
export interface RNNOpts extends DtypeOpts {
  numLayers?: number;
  /** Input and output biases b_ih, b_hh (default true). */
  bias?: boolean;
  /** Input and output are [N, L, features] instead of [L, N, features] (default false; states stay [layers, N, H]). */
  batchFirst?: boolean;
  /** Dropout on the outputs of every layer but the last, while training (default 0). */
  dropout?: number;
  /** Run a second pass backwards in time and concatenate both directions' outputs (default false). */
  bidirectional?: boolean;
  /**
   * Run the time loop as one `lax.scan` instead of a JavaScript loop (default false): a jitted program
   * then holds one step instead of one copy per time step.
   */
  scan?: boolean;
}
const RNN_KEYS = optionKeys<RNNOpts>({ numLayers: true, bias: true, batchFirst: true, dropout: true, bidirectional: true, scan: true, dtype: true });

/** Options of one recurrent call. */
export interface RNNCallOpts {
  /** PRNG key for the inter-layer dropout. */
  key?: Key | null;
}

/** One step of a cell: (input projection incl. b_ih, hidden projection incl. b_hh, state) → new state. */
function step(mode: Mode, xg: Tensor, hg: Tensor, h: Tensor, c: Tensor | null): [Tensor, Tensor | null] {
  switch (mode) {
    case "LSTM": {
      const [i, f, g, o] = split(add(xg, hg), 4, -1) as [Tensor, Tensor, Tensor, Tensor];
      const c2 = add(mul(sigmoid(f), c!), mul(sigmoid(i), tanh(g)));
      return [mul(sigmoid(o), tanh(c2)), c2];
    }
    case "GRU": {
      const [ir, iz, inn] = split(xg, 3, -1) as [Tensor, Tensor, Tensor];
      const [hr, hz, hn] = split(hg, 3, -1) as [Tensor, Tensor, Tensor];
      const r = sigmoid(add(ir, hr)), z = sigmoid(add(iz, hz));
      // b_hn sits inside the reset gate's product, as in PyTorch (and cuDNN)
      const n = tanh(add(inn, mul(r, hn)));
      return [add(n, mul(z, sub(h, n))), null];
    }
    case "RNN_TANH":
      return [tanh(add(xg, hg)), null];
    case "RNN_RELU":
      return [relu(add(xg, hg)), null];
  }
}

/** What recurrent layers and cells share: PyTorch's state-dict names and initialisation. */
abstract class Recurrent extends Module {
  abstract readonly hiddenSize: number;
  protected override stateKey(field: string): string {
    return torchKey(field);
  }
  /** Every weight and bias ~ U(−1/√hidden, 1/√hidden). */
  resetParameters(): void {
    const s = 1 / Math.sqrt(this.hiddenSize);
    for (const p of this.parameters()) init.uniform_(p, -s, s);
  }
}

abstract class RNNBase extends Recurrent {
  readonly mode: Mode;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  readonly scan: boolean;

  constructor(mode: Mode, inputSize: number, hiddenSize: number, opts: RNNOpts) {
    super();
    const op = this.constructor.name;
    checkOptions(op, opts, mode.startsWith("RNN_") ? [...RNN_KEYS, "nonlinearity"] : RNN_KEYS);
    this.mode = mode;
    this.inputSize = posInt(op, "inputSize", inputSize);
    this.hiddenSize = posInt(op, "hiddenSize", hiddenSize);
    this.numLayers = posInt(op, "numLayers", opts.numLayers ?? 1);
    this.bias = opts.bias ?? true;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropout = prob(op, "dropout", opts.dropout ?? 0);
    this.bidirectional = opts.bidirectional ?? false;
    this.scan = opts.scan ?? false;
    const dt = paramDtype(op, opts.dtype);
    const G = GATES[mode] * hiddenSize, D = this.bidirectional ? 2 : 1;
    const rec = this as unknown as Record<string, unknown>;
    // fields in PyTorch's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh
    for (let l = 0; l < this.numLayers; l++) {
      const inL = l === 0 ? inputSize : hiddenSize * D;
      for (let d = 0; d < D; d++) {
        const sfx = `L${l}${d ? "Reverse" : ""}`;
        rec[`weightIh${sfx}`] = parameter(zeros([G, inL], dt));
        rec[`weightHh${sfx}`] = parameter(zeros([G, hiddenSize], dt));
        if (this.bias) {
          rec[`biasIh${sfx}`] = parameter(zeros([G], dt));
          rec[`biasHh${sfx}`] = parameter(zeros([G], dt));
        }
      }
    }
    this.resetParameters();
  }
  private param(name: string): Tensor | null {
    return ((this as unknown as Record<string, unknown>)[name] as Tensor | undefined) ?? null;
  }

  /** Shared forward: input [L, N, in] (time-major) and initial states [layers·D, N, H]. */
  protected run(input: Tensor, h0: Tensor | null, c0: Tensor | null, opts: RNNCallOpts): [Tensor, Tensor, Tensor | null] {
    const op = this.constructor.name;
    const H = this.hiddenSize, D = this.bidirectional ? 2 : 1, LD = this.numLayers * D;
    const batched = input.ndim === 3;
    if (input.ndim !== 2 && input.ndim !== 3) fail(op, `input must be [L, N, ${this.inputSize}] (or [N, L, ${this.inputSize}] with batchFirst, or unbatched [L, ${this.inputSize}]), got ${fmtShape(input.shape)}`);
    if (input.shape[input.ndim - 1] !== this.inputSize) fail(op, `input has ${input.shape[input.ndim - 1]} features but inputSize is ${this.inputSize} (input ${fmtShape(input.shape)})`);
    let x = !batched ? reshape(input, [input.shape[0]!, 1, this.inputSize]) : this.batchFirst ? swapaxes(input, 0, 1) : input;
    const L = x.shape[0]!, N = x.shape[1]!;
    const state = (name: string, s: Tensor | null): Tensor => {
      if (s === null) return zeros([LD, N, H], x.dtype);
      const want = batched ? [LD, N, H] : [LD, H];
      if (s.shape.join() !== want.join()) fail(op, `${name} must have shape ${fmtShape(want)} (numLayers·directions, ${batched ? "batch, " : ""}hiddenSize), got ${fmtShape(s.shape)}`);
      return batched ? s : reshape(s, [LD, 1, H]);
    };
    const hInit = state("h0", h0);
    const cInit = this.mode === "LSTM" ? state("c0", c0) : null;
    const hOut: Tensor[] = [], cOut: Tensor[] = [];
    const go = () => {
      for (let l = 0; l < this.numLayers; l++) {
        const outs: Tensor[] = [];
        for (let d = 0; d < D; d++) {
          const k = l * D + d;
          const pick = (t: Tensor) => reshape(slice(t, [[k, k + 1]]), [N, H]);
          const [ys, hT, cT] = this.direction(x, l, d === 1, pick(hInit), cInit ? pick(cInit) : null, L, N);
          outs.push(ys);
          hOut.push(hT);
          if (cT) cOut.push(cT);
        }
        x = D === 1 ? outs[0]! : concatenate(outs, 2);
        if (this.training && this.dropout > 0 && l < this.numLayers - 1) x = dropout(x, this.dropout);
      }
    };
    if (opts.key) withRng(opts.key, go);
    else go();
    let out = x;
    out = !batched ? reshape(out, [L, D * H]) : this.batchFirst ? swapaxes(out, 0, 1) : out;
    const fin = (ts: Tensor[]) => (batched ? stack(ts, 0) : reshape(stack(ts, 0), [LD, H]));
    return [out, fin(hOut), cOut.length ? fin(cOut) : null];
  }

  /** One layer in one direction over the whole sequence: outputs [L, N, H] in time order, final h and c. */
  private direction(x: Tensor, l: number, reverse: boolean, h0: Tensor, c0: Tensor | null, L: number, N: number): [Tensor, Tensor, Tensor | null] {
    const sfx = `L${l}${reverse ? "Reverse" : ""}`;
    const wih = this.param(`weightIh${sfx}`)!, whh = this.param(`weightHh${sfx}`)!;
    const bih = this.param(`biasIh${sfx}`), bhh = this.param(`biasHh${sfx}`);
    // the input projection of every step at once; only the recurrence is sequential
    const xg = linear(x, wih, bih);
    const G = xg.shape[2]!;
    if (this.scan && L > 0) {
      const mode = this.mode;
      const body = ([h, c]: [Tensor, Tensor | null], xt: Tensor): [[Tensor, Tensor | null], Tensor] => {
        const [h2, c2] = step(mode, xt, linear(h, whh, bhh), h, c);
        return [[h2, c2], h2];
      };
      const [[hT, cT], ys] = lax.scan(body as never, [h0, c0], xg, { reverse }) as unknown as [[Tensor, Tensor | null], Tensor];
      return [ys, hT, cT];
    }
    let h = h0, c = c0;
    const ys: Tensor[] = new Array<Tensor>(L);
    for (let s = 0; s < L; s++) {
      const t = reverse ? L - 1 - s : s;
      const xt = reshape(slice(xg, [[t, t + 1]]), [N, G]);
      const hg = linear(h, whh, bhh);
      [h, c] = step(this.mode, xt, hg, h, c) as [Tensor, Tensor | null];
      ys[t] = h;
    }
    return [L === 0 ? zeros([0, N, this.hiddenSize], x.dtype) : stack(ys, 0), h, c];
  }
}

/**
 * Multi-layer LSTM. `forward(x, [h0, c0]?)` returns `[output, [hn, cn]]`: output [L, N, D·H] (batchFirst:
 * [N, L, D·H]), hn and cn [numLayers·D, N, H].
 * @example const [y, [h, c]] = new nn.LSTM(10, 20, { numLayers: 2 }).forward(x)
 */
export class LSTM extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, opts: RNNOpts = {}) {
    super("LSTM", inputSize, hiddenSize, opts);
  }
  forward(input: Tensor, hx: [Tensor, Tensor] | null = null, opts: RNNCallOpts = {}): [Tensor, [Tensor, Tensor]] {
    const [out, h, c] = this.run(input, hx ? hx[0] : null, hx ? hx[1] : null, opts);
    return [out, [h, c!]];
  }
}

/**
 * Multi-layer GRU. `forward(x, h0?)` returns `[output, hn]`.
 * @example const [y, h] = new nn.GRU(10, 20, { batchFirst: true }).forward(x)
 */
export class GRU extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, opts: RNNOpts = {}) {
    super("GRU", inputSize, hiddenSize, opts);
  }
  forward(input: Tensor, hx: Tensor | null = null, opts: RNNCallOpts = {}): [Tensor, Tensor] {
    const [out, h] = this.run(input, hx, null, opts);
    return [out, h];
  }
}

/** Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu). `forward(x, h0?)` returns `[output, hn]`. */
export class RNN extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, opts: RNNOpts & { nonlinearity?: "tanh" | "relu" } = {}) {
    const nl = opts.nonlinearity ?? "tanh";
    if (nl !== "tanh" && nl !== "relu") fail("RNN", `nonlinearity must be "tanh" or "relu", got ${JSON.stringify(nl)}`);
    super(nl === "tanh" ? "RNN_TANH" : "RNN_RELU", inputSize, hiddenSize, opts);
  }
  forward(input: Tensor, hx: Tensor | null = null, opts: RNNCallOpts = {}): [Tensor, Tensor] {
    const [out, h] = this.run(input, hx, null, opts);
    return [out, h];
  }
}

/** One-step cells: weight_ih [G·H, in], weight_hh [G·H, H], bias_ih, bias_hh. */
abstract class CellBase extends Recurrent {
  weightIh: Tensor;
  weightHh: Tensor;
  biasIh: Tensor | null;
  biasHh: Tensor | null;
  readonly inputSize: number;
  readonly hiddenSize: number;
  constructor(protected readonly mode: Mode, inputSize: number, hiddenSize: number, opts: { bias?: boolean } & DtypeOpts) {
    super();
    const op = this.constructor.name;
    checkOptions(op, opts, mode.startsWith("RNN_") ? ["bias", "dtype", "nonlinearity"] : ["bias", "dtype"]);
    this.inputSize = posInt(op, "inputSize", inputSize);
    this.hiddenSize = posInt(op, "hiddenSize", hiddenSize);
    const dt = paramDtype(op, opts.dtype);
    const G = GATES[mode] * hiddenSize;
    this.weightIh = parameter(zeros([G, inputSize], dt));
    this.weightHh = parameter(zeros([G, hiddenSize], dt));
    this.biasIh = opts.bias === false ? null : parameter(zeros([G], dt));
    this.biasHh = opts.bias === false ? null : parameter(zeros([G], dt));
    this.resetParameters();
  }
  /** input [N, in] or [in]; states [N, H] or [H]. */
  protected cell(input: Tensor, h: Tensor | null, c: Tensor | null): [Tensor, Tensor | null] {
    const op = this.constructor.name;
    const batched = input.ndim === 2;
    if ((input.ndim !== 1 && input.ndim !== 2) || input.shape[input.ndim - 1] !== this.inputSize) {
      fail(op, `input must be [N, ${this.inputSize}] or [${this.inputSize}], got ${fmtShape(input.shape)}`);
    }
    const x = batched ? input : reshape(input, [1, this.inputSize]);
    const N = x.shape[0]!, H = this.hiddenSize;
    const st = (name: string, s: Tensor | null) => {
      if (s === null) return zeros([N, H], x.dtype);
      const want = batched ? [N, H] : [H];
      if (s.shape.join() !== want.join()) fail(op, `${name} must have shape ${fmtShape(want)}, got ${fmtShape(s.shape)}`);
      return reshape(s, [N, H]);
    };
    const h0 = st("h", h);
    const [h1, c1] = step(this.mode, linear(x, this.weightIh, this.biasIh), linear(h0, this.weightHh, this.biasHh), h0, this.mode === "LSTM" ? st("c", c) : null);
    const un = (t: Tensor) => (batched ? t : reshape(t, [H]));
    return [un(h1), c1 ? un(c1) : null];
  }
}

/** One LSTM step: `forward(x, [h, c]?)` returns `[h', c']`. */
export class LSTMCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, opts: { bias?: boolean } & DtypeOpts = {}) {
    super("LSTM", inputSize, hiddenSize, opts);
  }
  forward(input: Tensor, hx: [Tensor, Tensor] | null = null): [Tensor, Tensor] {
    const [h, c] = this.cell(input, hx ? hx[0] : null, hx ? hx[1] : null);
    return [h, c!];
  }
}

/** One GRU step: `forward(x, h?)` returns h'. */
export class GRUCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, opts: { bias?: boolean } & DtypeOpts = {}) {
    super("GRU", inputSize, hiddenSize, opts);
  }
  forward(input: Tensor, hx: Tensor | null = null): Tensor {
    return this.cell(input, hx, null)[0];
  }
}
