/**
 * Emission of a jaxpr as ONNX nodes: each equation goes through the rule of its primitive, which
 * receives the ONNX values of its operands and returns those of its results. Rules live in the
 * rules-*.ts files and register themselves here by primitive name.
 */
import { TridentError } from "../../core/errors.js";
import type { DType } from "../../core/dtype.js";
import { Jaxpr, Lit, Var, type Atom, type JaxprEqn } from "../../core/jaxpr.js";
import type { Params } from "../../core/primitive.js";
import type { OnnxNodeProto } from "../proto.js";
import type { Annotations } from "./align.js";
import { ELEM, Emitter, type OVal } from "./builder.js";
import { isStatic, type SymDim } from "./poly.js";

/** What a rule sees of one equation. */
export interface EqnCtx {
  em: Emitter;
  jx: JaxprEmitter;
  eqn: JaxprEqn;
  prim: string;
  /** The equation's params, numbers that depend on dynamic axes as polynomials. */
  p: Params;
  ins: OVal[];
  /** Full (program) shapes and dtypes of operands and results. */
  inShapes: SymDim[][];
  inDtypes: DType[];
  outShapes: SymDim[][];
  outDtypes: DType[];
  /** Operand i expanded to its full shape. */
  mat(i: number): string;
  /** The equation producing operand i in the same jaxpr, if any. */
  producer(i: number): { eqn: JaxprEqn; ins: OVal[] } | null;
  /** The only consumer of result i when it has exactly one and is not a jaxpr output. */
  soleConsumer(i: number): JaxprEqn | null;
}

export type Rule = (c: EqnCtx) => OVal[];

const RULES = new Map<string, Rule>();

/** Register the ONNX rule of a primitive. */
export function rule(names: string | string[], r: Rule): void {
  for (const n of typeof names === "string" ? [names] : names) RULES.set(n, r);
}

/** Fusion bookkeeping: Gemm nodes whose only consumer is an add that may become their bias. */
export interface PendingGemm {
  node: OnnxNodeProto;
  nodes: OnnxNodeProto[];
}

export class JaxprEmitter {
  readonly pendingGemm = new Map<string, PendingGemm>();
  constructor(readonly em: Emitter, readonly ann: Annotations) {}

  shapeOf(v: Var): SymDim[] {
    return this.ann.shapes.get(v) ?? [...v.aval.shape];
  }

  atomShape(a: Atom): SymDim[] {
    return a instanceof Lit ? [] : this.shapeOf(a);
  }

  /** The ONNX value of a literal scalar. */
  lit(l: Lit): OVal {
    const d = this.ann.lits.get(l) ?? l.val.dataSync()[0]!;
    const dtype = l.aval.dtype;
    if (isStatic(d)) return { name: this.em.scalar(dtype, d), dtype, shape: [] };
    const n = this.em.op("Cast", [this.em.dimScalar(d)], { to: elemOf(dtype) });
    return { name: n, dtype, shape: [] };
  }

  /** Emit j into the current graph with the given operand values; returns its outputs. */
  emit(j: Jaxpr, inputs: readonly OVal[]): OVal[] {
    if (inputs.length !== j.inBinders.length) throw new Error(`onnx.export: internal: jaxpr takes ${j.inBinders.length} inputs, got ${inputs.length}`);
    const env = new Map<Var, OVal>();
    j.inBinders.forEach((v, i) => env.set(v, inputs[i]!));
    const producers = new Map<Var, JaxprEqn>();
    const uses = new Map<Var, JaxprEqn[]>();
    for (const e of j.eqns) {
      for (const v of e.outBinders) producers.set(v, e);
      for (const a of e.inputs) if (a instanceof Var) uses.set(a, [...(uses.get(a) ?? []), e]);
    }
    const outVars = new Set(j.outs.filter((o): o is Var => o instanceof Var));
    const read = (a: Atom): OVal => (a instanceof Lit ? this.lit(a) : env.get(a)!);
    for (const e of j.eqns) {
      const r = RULES.get(e.prim.name);
      if (!r) throw unsupportedPrim(e.prim.name);
      const ins = e.inputs.map(read);
      const inShapes = e.inputs.map((a) => this.atomShape(a));
      const ctx: EqnCtx = {
        em: this.em,
        jx: this,
        eqn: e,
        prim: e.prim.name,
        p: this.ann.params.get(e) ?? e.params,
        ins,
        inShapes,
        inDtypes: e.inputs.map((a) => a.aval.dtype),
        outShapes: e.outBinders.map((v) => this.shapeOf(v)),
        outDtypes: e.outBinders.map((v) => v.aval.dtype),
        mat: (i) => this.em.materialize(ins[i]!, inShapes[i]!),
        producer: (i) => {
          const a = e.inputs[i];
          const pe = a instanceof Var ? producers.get(a) : undefined;
          return pe ? { eqn: pe, ins: pe.inputs.map(read) } : null;
        },
        soleConsumer: (i) => {
          const v = e.outBinders[i]!;
          const us = uses.get(v) ?? [];
          return us.length === 1 && !outVars.has(v) ? us[0]! : null;
        },
      };
      const outs = r(ctx);
      e.outBinders.forEach((v, i) => env.set(v, outs[i]!));
    }
    return j.outs.map(read);
  }
}

export function unsupportedPrim(name: string): TridentError {
  return new TridentError(
    `onnx.export: primitive "${name}" has no ONNX equivalent in the exporter` +
      (name === "threefry2x32" || name === "bitcast_convert_type"
        ? " (random number generation cannot be exported: draw random values outside the exported function and pass them as inputs)"
        : name === "custom_lin"
          ? " (it appears in linearized programs; export the function itself, not its linearization)"
          : ""),
  );
}

export const elemOf = (d: DType): number => ELEM[d];
