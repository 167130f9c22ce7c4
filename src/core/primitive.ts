import type { Access, Expr, RoutineCall, VarGen } from "../ir/expr.js";
import type { Tensor } from "../tensor.js";
import type { ShapedArray } from "./aval.js";
import type { Trace } from "./trace.js";

export type Params = Record<string, unknown>;

/** Marks an input of a linear equation that is being transposed (its value is what we solve for). */
export class UndefPrimal {
  constructor(readonly aval: ShapedArray) {}
}

export interface LowerCtx<P> {
  params: P;
  inAvals: readonly ShapedArray[];
  outAvals: readonly ShapedArray[];
  vars: VarGen;
}

export type Dim = number | null;

/**
 * A primitive with its rules side by side. The required fields are the rules, so a primitive that
 * lacks one does not compile. `lower` gives the kernel-IR expression of each output at an output
 * index; primitives that are not expressions (control flow, sort) give `impl` or `routine` instead.
 */
export interface PrimitiveRules<P extends Params> {
  /** Abstract evaluation: the shape and dtype of every output. Throws TridentError on bad input. */
  shape(avals: readonly ShapedArray[], params: P): ShapedArray[];
  /** Forward-mode rule. Tangents are instantiated (never symbolic zero); return null for non-differentiable outputs. */
  jvp(primals: Tensor[], tangents: Tensor[], params: P): [Tensor[], (Tensor | null)[]];
  /** Batching rule: operands with their batch axis (null = unbatched) → outputs and their batch axes. */
  batch(args: Tensor[], dims: Dim[], params: P): [Tensor[], Dim[]];
}

export type Lowering<P extends Params> =
  | { lower(ins: readonly Access[], ix: readonly Expr[], ctx: LowerCtx<P>): Expr[] }
  | { routine(params: P, inAvals: readonly ShapedArray[]): RoutineCall }
  | { impl(args: Tensor[], params: P): Tensor[] };

export interface Linearity<P extends Params> {
  /** Transpose of a primitive linear in its UndefPrimal inputs: output cotangents → input cotangents. */
  transpose?: (cts: (Tensor | null)[], args: (Tensor | UndefPrimal)[], params: P) => (Tensor | null)[];
  /**
   * Partial evaluation when some inputs are unknown (the trace is a PETrace, the tracers PETracers). Without
   * it every output becomes unknown; higher-order primitives (scan, cond) use it to keep known outputs known.
   */
  partialEval?: (trace: Trace, tracers: Tensor[], params: P) => Tensor[];
}

export type PrimitiveDef<P extends Params> = PrimitiveRules<P> & Lowering<P> & Linearity<P>;

export interface Primitive<P extends Params = Params> {
  readonly name: string;
  readonly rules: PrimitiveDef<P>;
  /** Formats params for jaxpr printing. */
  readonly showParams?: (p: P) => string;
}

export type AnyPrimitive = Primitive<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const registry = new Map<string, AnyPrimitive>();

/**
 * Define a primitive. The rules may be given as a function of the primitive itself, so rules that bind
 * it (a jvp re-evaluating it, a batching rule that re-binds it) are written in the one entry.
 * @example const sin = primitive("sin", (self) => ({ shape, lower, jvp, batch: sameAxis(self) }))
 */
export function primitive<P extends Params>(
  name: string,
  rules: PrimitiveDef<P> | ((self: Primitive<P>) => PrimitiveDef<P>),
  showParams?: (p: P) => string,
): Primitive<P> {
  if (registry.has(name)) throw new Error(`primitive ${name} defined twice`);
  const p = { name, showParams } as { name: string; showParams?: (p: P) => string; rules: PrimitiveDef<P> };
  p.rules = typeof rules === "function" ? rules(p) : rules;
  registry.set(name, p);
  return p;
}

/**
 * A cache key of primitive params (or any JSON-like value). JSON alone writes NaN and ±Infinity all as
 * null and -0 as 0, so `full(…, Infinity)` would reuse the kernel of `full(…, NaN)`.
 */
export function paramsKey(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    typeof x === "number" && (!Number.isFinite(x) || Object.is(x, -0)) ? `#num:${Object.is(x, -0) ? "-0" : String(x)}` : x,
  );
}

export function allPrimitives(): AnyPrimitive[] {
  return [...registry.values()];
}
