/**
 * PyTorch habits on top of explicit keys: one global key, split on every call.
 * @example
 * tr.manualSeed(0);
 * const w = tr.randn([784, 10]);
 *
 * The state is two JS numbers advanced on the host, never a tensor, so a call inside jit cannot leak a
 * tracer into it; but the numbers a jitted function draws this way are fixed when it is traced. Inside
 * jit, pass a key (tr.random) instead.
 */
import type { DType } from "../core/dtype.js";
import { fail } from "../core/errors.js";
import { constant } from "../core/execute.js";
import { EagerTensor, type Tensor } from "../tensor.js";
import { seedWords, splitWords } from "../core/prims/random.js";
import * as random from "./index.js";

/** The seed of a fresh process, so that programs that never seed are still reproducible. */
const DEFAULT_SEED = 0;
let state: [number, number] = seedWords(DEFAULT_SEED);

/** Reset the global generator: the same seed gives the same sequence of draws. */
export function manualSeed(seed: number): void {
  state = seedWords(seed);
}

/** A fresh key from the global generator (advances it). */
export function nextKey(): random.Key {
  const [next, sub] = splitWords(state[0], state[1]);
  state = next;
  return constant(sub, [2], "uint32");
}

type RandOpts = { dtype?: DType; requiresGrad?: boolean };
/** `(shape, opts?)` or PyTorch's sizes as separate numbers: `randn([2, 3])`, `randn(2, 3)`. */
type ShapeArgs = [shape: readonly number[], opts?: RandOpts] | number[];

function parse(op: string, args: ShapeArgs): [number[], RandOpts] {
  if (args.length > 0 && Array.isArray(args[0])) return [[...(args[0] as readonly number[])], (args[1] as RandOpts | undefined) ?? {}];
  for (const d of args) if (typeof d !== "number") fail(op, `expects a shape array or sizes as numbers, got ${JSON.stringify(args)}`);
  return [args as number[], {}];
}

function finish(t: Tensor, opts: RandOpts): Tensor {
  if (opts.requiresGrad && t instanceof EagerTensor) t.requiresGrad = true;
  return t;
}

/** Standard normal samples from the global generator. */
export function randn(...args: ShapeArgs): Tensor {
  const [shape, opts] = parse("randn", args);
  return finish(random.normal(nextKey(), shape, { dtype: opts.dtype }), opts);
}

/** Uniform samples in [0, 1) from the global generator. */
export function rand(...args: ShapeArgs): Tensor {
  const [shape, opts] = parse("rand", args);
  return finish(random.uniform(nextKey(), shape, { dtype: opts.dtype }), opts);
}

/**
 * Integers uniform in [low, high) from the global generator: `randint(low, high, shape)` or
 * `randint(high, shape)` (low 0), as PyTorch's `torch.randint`.
 */
export function randint(low: number, high: number | readonly number[], shape?: readonly number[] | { dtype?: DType }, opts: { dtype?: DType } = {}): Tensor {
  if (Array.isArray(high)) return randint(0, low, high as readonly number[], (shape as { dtype?: DType } | undefined) ?? {});
  if (!Array.isArray(shape)) fail("randint", `expects (low, high, shape) or (high, shape), got shape ${JSON.stringify(shape)}`);
  return random.randint(nextKey(), shape as readonly number[], low, high as number, { dtype: opts.dtype ?? "int32" });
}

/** A random permutation of 0..n-1 from the global generator. */
export function randperm(n: number): Tensor {
  return random.permutation(nextKey(), n);
}
