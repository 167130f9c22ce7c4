/**
 * The operator table: each ONNX operator is a function from input values to output values, written
 * with Trident ops and primitives only, so an imported graph is differentiable, batchable and jittable.
 */
import { fail } from "../../core/errors.js";
import type { Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { AttrType, dataTypeName, type OnnxAttribute, type OnnxGraphProto, type OnnxNodeProto } from "../proto.js";
import { TVal, tensorFromProto, type Value } from "../values.js";

/** Typed access to a node's attributes (references to a calling function's attributes resolved). */
export class Attrs {
  private readonly map = new Map<string, OnnxAttribute>();
  constructor(readonly op: string, attrs: readonly OnnxAttribute[]) {
    for (const a of attrs) this.map.set(a.name, a);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  get(name: string): OnnxAttribute | undefined {
    return this.map.get(name);
  }
  names(): string[] {
    return [...this.map.keys()];
  }
  private want(name: string, type: number): OnnxAttribute | undefined {
    const a = this.map.get(name);
    if (a && a.type !== type) fail(this.op, `attribute ${name} has type ${attrTypeName(a.type)}, expected ${attrTypeName(type)}`);
    return a;
  }
  int(name: string, dflt: number): number;
  int(name: string): number | undefined;
  int(name: string, dflt?: number): number | undefined {
    return this.want(name, AttrType.INT)?.i ?? dflt;
  }
  float(name: string, dflt: number): number;
  float(name: string): number | undefined;
  float(name: string, dflt?: number): number | undefined {
    return this.want(name, AttrType.FLOAT)?.f ?? dflt;
  }
  string(name: string, dflt: string): string;
  string(name: string): string | undefined;
  string(name: string, dflt?: string): string | undefined {
    const a = this.want(name, AttrType.STRING);
    return a?.s ? new TextDecoder().decode(a.s) : dflt;
  }
  ints(name: string, dflt: number[]): number[];
  ints(name: string): number[] | undefined;
  ints(name: string, dflt?: number[]): number[] | undefined {
    const a = this.want(name, AttrType.INTS);
    return a ? (a.ints ?? []) : dflt;
  }
  floats(name: string, dflt: number[]): number[];
  floats(name: string): number[] | undefined;
  floats(name: string, dflt?: number[]): number[] | undefined {
    const a = this.want(name, AttrType.FLOATS);
    return a ? (a.floats ?? []) : dflt;
  }
  strings(name: string): string[] | undefined {
    const a = this.want(name, AttrType.STRINGS);
    return a ? (a.strings ?? []).map((s) => new TextDecoder().decode(s)) : undefined;
  }
  tensor(name: string): TVal | undefined {
    const a = this.want(name, AttrType.TENSOR);
    return a?.t ? tensorFromProto(a.t) : undefined;
  }
  graph(name: string): OnnxGraphProto | undefined {
    return this.want(name, AttrType.GRAPH)?.g;
  }
}

const ATTR_NAMES: Record<number, string> = Object.fromEntries(Object.entries(AttrType).map(([k, v]) => [v, k]));
const attrTypeName = (t: number): string => ATTR_NAMES[t] ?? `type ${t}`;

/** What an operator sees while it runs. */
export interface OpCtx {
  readonly node: OnnxNodeProto;
  /** "OpType node-name", for messages. */
  readonly op: string;
  /** The opset version of the node's domain. */
  readonly opset: number;
  readonly attrs: Attrs;
  /** How many outputs the node names (trailing optional outputs may be absent). */
  readonly nOut: number;
  /** Evaluate a subgraph attribute with its formal inputs bound to `inputs` (outer names stay visible). */
  subgraph(g: OnnxGraphProto, inputs: Value[]): Value[];
}

export type OpFn = (ins: readonly (Value | null)[], ctx: OpCtx) => (Value | null)[];

export interface OpDef {
  run: OpFn;
  /** Load-time check of attributes the implementation does not cover (throw OnnxUnsupportedError). */
  check?: (attrs: Attrs, opset: number, node: OnnxNodeProto) => void;
  /** Inputs read as concrete numbers (shapes, axes, counts): their initializers are not parameters. */
  staticInputs?: readonly number[];
  /** Inputs that must not be constant-folded eagerly (ops with side effects or subgraphs). */
  noFold?: boolean;
}

const table = new Map<string, OpDef>();
const key = (domain: string, op: string) => `${domain === "ai.onnx" ? "" : domain}::${op}`;

/** Register an operator of the default domain (or `domain:Op`). */
export function def(name: string, d: OpDef | OpFn): void {
  const i = name.indexOf(":");
  const [domain, op] = i < 0 ? ["", name] : [name.slice(0, i), name.slice(i + 1)];
  table.set(key(domain, op), typeof d === "function" ? { run: d } : d);
}

export function lookup(domain: string, op: string): OpDef | undefined {
  return table.get(key(domain, op));
}

/** Every registered operator as [domain, opType]. */
export function registered(): [string, string][] {
  return [...table.keys()].map((k) => k.split("::") as [string, string]);
}

// ------------------------------------------------------------------ helpers for operator code

/** Input i as a tensor value (required). */
export function tin(ins: readonly (Value | null)[], i: number, ctx: OpCtx, what = `input ${i}`): TVal {
  const v = ins[i];
  if (!v) fail(ctx.op, `${what} is required but missing`);
  if (v.kind !== "tensor") fail(ctx.op, `${what} must be a tensor, got a ${v.kind === "seq" ? "sequence" : "optional"}`);
  return v;
}
/** Input i as a tensor value, or null when absent. */
export function topt(ins: readonly (Value | null)[], i: number, ctx: OpCtx, what = `input ${i}`): TVal | null {
  const v = ins[i];
  if (!v) return null;
  if (v.kind === "opt") {
    if (v.value === null) return null;
    if (v.value.kind !== "tensor") fail(ctx.op, `${what} must be a tensor`);
    return v.value;
  }
  if (v.kind !== "tensor") fail(ctx.op, `${what} must be a tensor, got a sequence`);
  return v;
}
/** Concrete integers of an input (shape, axes, ...). */
export function ints(v: TVal, ctx: OpCtx, what: string): number[] {
  return v.values(ctx.op, what).map((x) => Math.trunc(x));
}
/** A tensor result tagged with an ONNX type. */
export const out = (t: Tensor, elem?: number): TVal => TVal.of(t, elem);

/** Reject data types an operator does not handle, naming them. */
export function requireElems(ctx: OpCtx, v: TVal, allowed: readonly number[], what = "input"): void {
  if (!allowed.includes(v.elem)) unsupported(ctx.op, `${what} has type ${dataTypeName(v.elem)}; supported: ${allowed.map(dataTypeName).join(", ")}`);
}
