// Per-primitive sample programs for the primitive conformance suite (primitives.test.ts). Each registered
// primitive needs at least one sample: example float64 operands drawn from a seeded generator, and a
// function that binds the primitive (through its public op where there is one). The suite checks
// gradients against finite differences, jvp against vjp, vmap against a loop, and jit against eager.
import * as tr from "../../src/index.js";
import { allPrimitives, type Params } from "../../src/core/primitive.js";
import { bind } from "../../src/core/trace.js";
import type { DType } from "../../src/core/dtype.js";
import { mulberry32 } from "../helpers.js";
import { linalgSamples } from "./samples-linalg.js";

type T = tr.Tensor;

/** A small deterministic generator (mulberry32) so failures reproduce. */
export class Rng {
  /** The next uniform value in [0, 1). */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  private fill(shape: readonly number[], f: () => number, dtype: DType): T {
    const n = shape.reduce((a, b) => a * b, 1);
    return tr.fromTypedArray(Float64Array.from({ length: n }, f), shape, dtype);
  }
  /** Standard normal values (Box–Muller). */
  normal(shape: readonly number[], dtype: DType = "float64"): T {
    return this.fill(shape, () => Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next()), dtype);
  }
  uniform(shape: readonly number[], lo: number, hi: number, dtype: DType = "float64"): T {
    return this.fill(shape, () => lo + (hi - lo) * this.next(), dtype);
  }
  /** Values of either sign with |x| in [lo, hi]: keeps kinks (abs, sign, 1/x) away. */
  signed(shape: readonly number[], lo: number, hi: number): T {
    return this.fill(shape, () => (this.next() < 0.5 ? -1 : 1) * (lo + (hi - lo) * this.next()), "float64");
  }
  /** Integers in [lo, hi). */
  ints(shape: readonly number[], lo: number, hi: number, dtype: DType = "int32"): T {
    return this.fill(shape, () => lo + Math.floor((hi - lo) * this.next()), dtype);
  }
  bools(shape: readonly number[]): T {
    return this.fill(shape, () => (this.next() < 0.5 ? 1 : 0), "bool");
  }
  /** Values whose fractional part lies in [0.2, 0.4]: floor/ceil/round are locally constant there. */
  offGrid(shape: readonly number[]): T {
    return this.fill(shape, () => Math.floor(6 * this.next()) - 3 + 0.2 + 0.2 * this.next(), "float64");
  }
  /** Distinct values in random order (no ties for max/min/sort). */
  distinct(shape: readonly number[]): T {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.37 + 0.05 * this.next());
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [v[i], v[j]] = [v[j]!, v[i]!];
    }
    return tr.fromTypedArray(Float64Array.from(v), shape, "float64");
  }
}

export interface Sample {
  /** Shown in test names when a primitive has several samples. */
  label?: string;
  /** The operands of one example; float operands are float64 so finite differences are accurate. */
  args(r: Rng): T[];
  /** The program under test; it must bind the primitive. */
  fn(...xs: T[]): T | T[];
  /** Operands to differentiate (default: every float operand); [] for non-differentiable primitives. */
  diff?: number[];
  /** Finite-difference step and tolerance (for programs that round, e.g. through float32). */
  eps?: number;
  rtol?: number;
  /**
   * Where the primitive is visible: in the jaxpr of `fn` (default), or only in the jaxpr of its
   * linearization (primitives that exist only under differentiation).
   */
  appearsIn?: "forward" | "linearize";
  /**
   * Which differentiation modes the primitive supports (default both). For "reverse" (customVjp) the
   * gradient is checked by vjp and jvp must raise a TridentError; for "forward" (whileLoop, whose trip
   * count is dynamic) the directional derivative is checked by jvp and vjp must raise.
   */
  modes?: "both" | "reverse" | "forward";
  /** Operands that must stay unbatched under vmap (e.g. a step index). */
  unbatched?: number[];
}

/** Bind a primitive by name (for primitives with no public op). */
export function bindPrim(name: string, args: T[], params: Params = {}): T[] {
  const p = allPrimitives().find((q) => q.name === name);
  if (!p) throw new Error(`no primitive named ${name}`);
  return bind(p, args, params);
}

const normal = (...shapes: number[][]) => (r: Rng) => shapes.map((s) => r.normal(s));
const un = (f: (x: T) => T, gen: (r: Rng) => T = (r) => r.normal([3, 4])): Sample => ({ args: (r) => [gen(r)], fn: f });
const bi = (f: (x: T, y: T) => T, gen: (r: Rng) => T[] = normal([3, 4], [3, 4])): Sample => ({ args: gen, fn: f });
const nondiff = (s: Sample): Sample => ({ ...s, diff: [] });

export const SAMPLES: Record<string, Sample[]> = {
  // ---------------- elementwise unary ----------------
  neg: [un(tr.neg)],
  abs: [un(tr.abs, (r) => r.signed([3, 4], 0.1, 2))],
  exp: [un(tr.exp)],
  log: [un(tr.log, (r) => r.uniform([3, 4], 0.2, 3))],
  log1p: [un(tr.log1p, (r) => r.uniform([3, 4], -0.7, 3))],
  expm1: [un(tr.expm1)],
  sqrt: [un(tr.sqrt, (r) => r.uniform([3, 4], 0.2, 3))],
  rsqrt: [un(tr.rsqrt, (r) => r.uniform([3, 4], 0.2, 3))],
  sin: [un(tr.sin)],
  cos: [un(tr.cos)],
  tan: [un(tr.tan, (r) => r.uniform([3, 4], -1.2, 1.2))],
  tanh: [un(tr.tanh)],
  asin: [un(tr.asin, (r) => r.uniform([3, 4], -0.8, 0.8))],
  acos: [un(tr.acos, (r) => r.uniform([3, 4], -0.8, 0.8))],
  atan: [un(tr.atan)],
  sinh: [un(tr.sinh)],
  cosh: [un(tr.cosh)],
  asinh: [un(tr.asinh)],
  acosh: [un(tr.acosh, (r) => r.uniform([3, 4], 1.3, 3))],
  atanh: [un(tr.atanh, (r) => r.uniform([3, 4], -0.8, 0.8))],
  logistic: [un(tr.sigmoid)],
  erf: [un(tr.erf)],
  erfinv: [un(tr.erfinv, (r) => r.uniform([3, 4], -0.9, 0.9))],
  reciprocal: [un(tr.reciprocal, (r) => r.signed([3, 4], 0.3, 2))],
  sign: [un(tr.sign, (r) => r.signed([3, 4], 0.1, 2)), nondiff({ label: "int32", args: (r) => [r.ints([5], -3, 4)], fn: tr.sign })],
  floor: [un(tr.floor, (r) => r.offGrid([3, 4]))],
  ceil: [un(tr.ceil, (r) => r.offGrid([3, 4]))],
  round: [un(tr.round, (r) => r.offGrid([3, 4]))],
  not: [nondiff({ args: (r) => [r.bools([3, 4])], fn: tr.logicalNot })],
  isnan: [nondiff({ args: (r) => [tr.where(r.bools([3, 4]), NaN, r.normal([3, 4]))], fn: tr.isnan })],
  isinf: [nondiff({ args: (r) => [tr.where(r.bools([3, 4]), -Infinity, r.normal([3, 4]))], fn: tr.isinf })],

  // ---------------- elementwise binary ----------------
  add: [bi(tr.add), { label: "broadcast", args: normal([3, 1], [4]), fn: tr.add }],
  sub: [bi(tr.sub)],
  mul: [bi(tr.mul), { label: "same operand", args: normal([5]), fn: (x) => tr.mul(x, x) }],
  div: [bi(tr.div, (r) => [r.normal([3, 4]), r.signed([3, 4], 0.3, 2)])],
  rem: [
    {
      args: (r) => {
        const y = r.uniform([3, 4], 1, 2);
        return [tr.mul(y, r.offGrid([3, 4])), y];
      },
      fn: tr.remainder,
    },
  ],
  pow: [bi(tr.pow, (r) => [r.uniform([3, 4], 0.4, 2), r.normal([3, 4])])],
  max: [bi(tr.maximum)],
  min: [bi(tr.minimum)],
  atan2: [bi(tr.atan2)],
  eq: [nondiff(bi(tr.equal, (r) => [r.ints([3, 4], 0, 3, "float64"), r.ints([3, 4], 0, 3, "float64")]))],
  ne: [nondiff(bi(tr.notEqual, (r) => [r.ints([3, 4], 0, 3, "float64"), r.ints([3, 4], 0, 3, "float64")]))],
  lt: [nondiff(bi(tr.less))],
  le: [nondiff(bi(tr.lessEqual, (r) => [r.ints([3, 4], 0, 3, "float64"), r.ints([3, 4], 0, 3, "float64")]))],
  gt: [nondiff(bi(tr.greater))],
  ge: [nondiff(bi(tr.greaterEqual, (r) => [r.ints([3, 4], 0, 3, "int32"), r.ints([3, 4], 0, 3, "int32")]))],
  and: [nondiff(bi(tr.logicalAnd, (r) => [r.bools([3, 4]), r.bools([3, 4])])), nondiff(bi(tr.bitwiseAnd, (r) => [r.ints([6], 0, 64), r.ints([6], 0, 64)]))],
  or: [nondiff(bi(tr.logicalOr, (r) => [r.bools([3, 4]), r.bools([3, 4])]))],
  xor: [nondiff(bi(tr.logicalXor, (r) => [r.bools([3, 4]), r.bools([3, 4])]))],
  shift_left: [nondiff(bi((x, y) => bindPrim("shift_left", [x, y])[0]!, (r) => [r.ints([6], 0, 100), r.ints([6], 0, 5)]))],
  shift_right: [nondiff(bi((x, y) => bindPrim("shift_right", [x, y])[0]!, (r) => [r.ints([6], -100, 100), r.ints([6], 0, 5)]))],
  select: [{ args: (r) => [r.bools([3, 4]), r.normal([3, 4]), r.normal([3, 4])], fn: tr.where }],
  convert_element_type: [
    // float64 → float32 → float64 rounds, so the difference step is large and the tolerance loose
    { label: "f64->f32->f64", args: normal([3, 4]), fn: (x) => tr.astype(tr.astype(x, "float32"), "float64"), eps: 1e-2, rtol: 1e-4 },
    { label: "int32->f64", args: (r) => [r.ints([3, 4], -5, 5), r.normal([3, 4])], fn: (i, x) => tr.mul(tr.astype(i, "float64"), x) },
    nondiff({ label: "f64->int32", args: (r) => [r.uniform([3, 4], -5, 5)], fn: (x) => tr.astype(x, "int32") }),
  ],

  // ---------------- reductions ----------------
  reduce_sum: [
    { label: "one axis", args: normal([3, 4, 2]), fn: (x) => tr.sum(x, { axis: 1 }) },
    { label: "all axes", args: normal([3, 4]), fn: (x) => tr.sum(x) },
  ],
  reduce_max: [{ args: (r) => [r.distinct([3, 4, 2])], fn: (x) => tr.max(x, { axis: [0, 2] }) }],
  reduce_min: [{ args: (r) => [r.distinct([3, 4])], fn: (x) => tr.min(x, { axis: -1 }) }],
  reduce_prod: [{ args: (r) => [r.signed([3, 4], 0.5, 1.5)], fn: (x) => tr.prod(x, { axis: 0 }) }],
  argmax: [nondiff({ args: (r) => [r.distinct([3, 4])], fn: (x) => tr.argmax(x, { axis: 1 }) })],
  argmin: [nondiff({ args: (r) => [r.distinct([3, 4])], fn: (x) => tr.argmin(x, { axis: 0 }) })],
  cumsum: [
    { args: normal([3, 4]), fn: (x) => tr.cumsum(x, { axis: 1 }) },
    { label: "reverse", args: normal([4, 3]), fn: (x) => tr.cumsum(x, { axis: 0, reverse: true }) },
  ],

  // ---------------- structural ----------------
  broadcast_in_dim: [{ args: normal([3, 1]), fn: (x) => tr.broadcastTo(x, [2, 3, 4]) }],
  reshape: [{ args: normal([2, 3, 4]), fn: (x) => tr.reshape(x, [4, 6]) }],
  transpose: [{ args: normal([2, 3, 4]), fn: (x) => tr.transpose(x, [2, 0, 1]) }],
  slice: [{ args: normal([6, 5]), fn: (x) => tr.slice(x, [[1, 6, 2], [1, 4]]) }],
  pad: [
    { label: "constant", args: normal([2, 3]), fn: (x) => tr.pad(x, [[1, 0], [2, 1]], { value: 0.5 }) },
    { label: "interior and negative", args: normal([3, 4]), fn: (x) => bindPrim("pad", [x], { lo: [1, -1], hi: [0, 2], interior: [1, 0], value: 0 })[0]! },
  ],
  rev: [{ args: normal([3, 4]), fn: (x) => tr.flip(x, [0, 1]) }],
  concatenate: [{ args: normal([2, 3], [4, 3], [1, 3]), fn: (a, b, c) => tr.concatenate([a!, b!, c!], 0) }],
  iota: [{ args: normal([4]), fn: (x) => tr.mul(x, tr.arange(0, 4, 1, "float64")) }],
  full: [{ args: normal([2, 3]), fn: (x) => tr.add(x, tr.full([2, 3], 2.5, "float64")) }],
  stop_gradient: [
    // the max shift is stopped but cancels, so the true derivative is still the gradient
    {
      args: normal([3, 4]),
      fn: (x) => {
        const m = tr.stopGradient(tr.max(x, { axis: -1, keepdims: true }));
        return tr.add(tr.log(tr.sum(tr.exp(tr.sub(x, m)), { axis: -1 })), tr.squeeze(m, -1));
      },
    },
  ],

  // ---------------- linear algebra and convolution ----------------
  dot_general: [
    { label: "matmul", args: normal([3, 4], [4, 5]), fn: (a, b) => tr.matmul(a, b) },
    { label: "batched matmul", args: normal([2, 3, 4], [2, 4, 2]), fn: (a, b) => tr.matmul(a, b) },
    { label: "matrix-vector", args: normal([3, 4], [4]), fn: (a, b) => tr.matmul(a, b) },
    { label: "einsum full contraction", args: normal([3, 4], [3, 4]), fn: (a, b) => tr.einsum("ij,ij->", a, b) },
  ],
  conv: [
    {
      label: "conv2d stride and asymmetric padding",
      args: normal([2, 3, 6, 5], [4, 3, 3, 2], [4]),
      fn: (x, w, b) => tr.conv2d(x, w, b, { stride: [2, 1], padding: [[1, 0], [1, 1]] }),
    },
    { label: "conv2d groups and dilation", args: normal([1, 4, 7, 7], [4, 2, 2, 2]), fn: (x, w) => tr.conv2d(x, w, null, { groups: 2, dilation: 2 }) },
    { label: "conv1d", args: normal([2, 3, 9], [5, 3, 3]), fn: (x, w) => tr.conv1d(x, w, null, { stride: 2 }) },
    {
      label: "convTranspose2d",
      args: normal([1, 4, 3, 3], [4, 3, 3, 3]),
      fn: (x, w) => tr.convTranspose2d(x, w, null, { stride: 2, padding: 1, outputPadding: 1 }),
    },
  ],

  // ---------------- indexing and sorting ----------------
  gather: [
    { label: "takeAlongAxis", args: (r) => [r.normal([4, 5]), r.ints([4, 3], 0, 5)], fn: (x, i) => tr.takeAlongAxis(x, i, 1) },
    { label: "take", args: (r) => [r.normal([6, 5]), r.ints([4], 0, 6)], fn: (x, i) => tr.take(x, i, { axis: 0 }) },
    { label: "embedding", args: (r) => [r.ints([2, 3], 0, 6), r.normal([6, 4])], fn: (i, w) => tr.embedding(i, w) },
  ],
  window_argmax: [
    nondiff({ label: "maxPool2d indices, padded, strided", args: (r) => [r.distinct([2, 3, 5, 6])], fn: (x) => bindPrim("window_argmax", [x], { kernel: [3, 2], stride: [2, 2], dilation: [1, 1], padLo: [1, 0], inShape: [5, 6], outShape: [3, 3] })[0]! }),
  ],
  window_gather: [
    { label: "maxPool2d", args: (r) => [r.distinct([2, 3, 5, 6])], fn: (x) => tr.maxPool2d(x, { kernelSize: [3, 2], stride: 2, padding: [1, 0] }) },
    { label: "maxPool1d dilated, ceil mode", args: (r) => [r.distinct([2, 3, 9])], fn: (x) => tr.maxPool1d(x, { kernelSize: 2, stride: 2, dilation: 2, ceilMode: true }) },
  ],
  window_scatter: [
    {
      label: "overlapping windows, padded",
      args: (r) => [r.normal([2, 2, 4, 3]), r.ints([2, 2, 4, 3], 0, 4)],
      fn: (ct, i) => bindPrim("window_scatter", [ct, i], { kernel: [2, 2], stride: [1, 2], dilation: [1, 1], padLo: [0, 1], inShape: [5, 6], outShape: [4, 3] })[0]!,
    },
  ],
  scatter_add: [
    { args: (r) => [r.normal([4, 5]), r.ints([4, 3], 0, 5), r.normal([4, 3])], fn: (z, i, src) => tr.scatterAdd(z, i, src, 1) },
  ],
  sort: [
    { label: "values", args: (r) => [r.distinct([3, 5])], fn: (x) => tr.sort(x, { axis: 1 }) },
    { label: "values and indices, descending", args: (r) => [r.distinct([4, 3])], fn: (x) => bindPrim("sort", [x], { axis: 0, descending: true }) },
  ],

  // ---------------- linear algebra (tr.linalg decompositions) ----------------
  ...linalgSamples(),

  // ---------------- random bits ----------------
  threefry2x32: [
    nondiff({ label: "random.bits", args: (r) => [tr.random.key(Math.floor(r.next() * 1e6))], fn: (k) => tr.random.bits(k, [5]) }),
    nondiff({
      label: "direct",
      args: (r) => [0, 1, 2, 3].map(() => r.ints([4], 0, 2 ** 32, "uint32")),
      fn: (a, b, c, d) => bindPrim("threefry2x32", [a!, b!, c!, d!]),
    }),
  ],
  bitcast_convert_type: [
    nondiff({ label: "float32 -> uint32", args: (r) => [r.normal([5], "float32")], fn: (x) => bindPrim("bitcast_convert_type", [x], { dtype: "uint32" })[0]! }),
    nondiff({ label: "random.uniform", args: (r) => [tr.random.key(Math.floor(r.next() * 1e6))], fn: (k) => tr.random.uniform(k, [4]) }),
  ],

  // ---------------- transformations as primitives ----------------
  jit: [{ args: normal([3], [3]), fn: (x, y) => tr.jit((a: T, b: T) => tr.mul(tr.sin(a), b).sum())(x, y) }],

  // ---------------- control flow ----------------
  cond: [
    {
      label: "cond",
      // the predicate is an operand, so vmap sees it both batched (both branches run) and unbatched
      args: (r) => [tr.greater(r.normal([]), 0), r.normal([3]), r.normal([3])],
      fn: (p, x, y) => tr.lax.cond(p, (a: T, b: T) => tr.mul(tr.sin(a), b), (a: T, b: T) => tr.exp(tr.add(a, b)), x, y),
    },
    {
      label: "switch",
      args: (r) => [r.ints([], 0, 3), r.normal([2, 2])],
      fn: (i, x) => tr.lax.switch(i, [(a: T) => tr.tanh(a), (a: T) => tr.mul(a, a), (a: T) => tr.cumsum(a, { axis: 0 })], x),
    },
  ],
  while: [
    {
      // the trip count depends on the data, so batched examples stop at different steps
      label: "data-dependent trip count",
      args: (r) => [r.uniform([3], 0.2, 1)],
      fn: (x) => {
        const [n, y] = tr.lax.whileLoop(
          ([, v]: [T, T]) => tr.less(tr.sum(v), 6),
          ([k, v]: [T, T]) => [tr.add(k, 1), tr.add(tr.mul(v, 1.5), tr.sin(v))] as [T, T],
          [tr.tensor(0, { dtype: "int32" }), x] as [T, T],
        ) as [T, T];
        return [n, y];
      },
      modes: "forward",
    },
    {
      label: "fori with tensor bounds",
      args: (r) => [r.normal([2]), r.ints([], 1, 4)],
      fn: (x, n) => tr.lax.fori(tr.tensor(0, { dtype: "int32" }), n!, (_i: T, c: T) => tr.sin(tr.add(c, x!)), x!) as T,
      modes: "forward",
    },
  ],
  scan: [
    {
      args: normal([2], [4, 2]),
      fn: (c0, xs) => {
        const [c, ys] = tr.lax.scan((c: T, x: T) => [tr.sin(tr.mul(c, x)), tr.add(tr.mul(c, c), x)] as [T, T], c0!, xs!) as [T, T];
        return [c, ys];
      },
    },
    {
      label: "reverse, with a closed-over operand",
      args: normal([3], [5, 3], [3]),
      fn: (c0, xs, w) => {
        const [c, ys] = tr.lax.scan((c: T, x: T) => [tr.tanh(tr.add(tr.mul(c, w!), x)), tr.sum(c)] as [T, T], c0!, xs!, { reverse: true }) as [T, T];
        return [c, ys];
      },
    },
    { label: "fori with number bounds", args: normal([3]), fn: (x) => tr.lax.fori(0, 3, (_i: T, c: T) => tr.mul(tr.cos(c), x), x) as T },
  ],

  // ---------------- user-defined derivatives ----------------
  custom_vjp_call: [
    { args: normal([3], [3]), fn: (x, y) => sinMul(x, y), modes: "reverse" },
    // checkpoint is a custom_vjp_call today, so it is reverse-mode only; make this "both" if it gains a jvp
    { label: "checkpoint", args: normal([2, 3]), fn: (x) => tr.checkpoint((a: T) => tr.tanh(tr.mul(a, a)))(x), modes: "reverse" },
  ],
  custom_lin: [{ args: normal([3], [3]), fn: (x, y) => sinMul(x, y), modes: "reverse", appearsIn: "linearize" }],
  custom_jvp_call: [{ args: normal([3]), fn: (x) => expMul(x) }],
};

/** sin(x)·y with a hand-written reverse rule (custom_vjp_call, custom_lin). */
const sinMul = tr.customVjp(
  (x: T, y: T) => tr.mul(tr.sin(x), y),
  (x: T, y: T) => [tr.mul(tr.sin(x), y), [x, y]] as [T, T[]],
  ([x, y]: T[], g: T) => [tr.mul(tr.mul(g, y!), tr.cos(x!)), tr.mul(g, tr.sin(x!))],
);

/** x·exp(x) with a hand-written forward rule (custom_jvp_call). */
const expMul = tr.customJvp(
  (x: T) => tr.mul(x, tr.exp(x)),
  ([x]: [T], [t]: [T]) => [tr.mul(x, tr.exp(x)), tr.mul(tr.mul(tr.exp(x), tr.add(x, 1)), t)] as [T, T],
);
