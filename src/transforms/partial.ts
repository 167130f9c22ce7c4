import type { ShapedArray } from "../core/aval.js";
import { Jaxpr, Lit, Var, type Atom, type JaxprEqn } from "../core/jaxpr.js";
import { UndefPrimal, type AnyPrimitive, type Params } from "../core/primitive.js";
import { Trace, Tracer, bind, fullLower, fullRaise, newMain, type MainTrace } from "../core/trace.js";
import { add, convert } from "../core/prims/elementwise.js";
import type { Tensor } from "../tensor.js";
import { postorder } from "../core/graph.js";
import { jvpFlat } from "./jvp.js";

/** A value that is either known now (`known`) or only by its type until later (`known === null`). */
export class PartialVal {
  constructor(readonly aval: ShapedArray, readonly known: Tensor | null) {}
  static known(v: Tensor): PartialVal {
    return new PartialVal(v.aval, v);
  }
  static unknown(aval: ShapedArray): PartialVal {
    return new PartialVal(aval, null);
  }
}

type Recipe =
  | { k: "lambda" }
  | { k: "const"; val: Tensor }
  | { k: "eqn"; prim: AnyPrimitive; ins: PETracer[]; params: Params; avalsOut: ShapedArray[]; outs: PETracer[] };

export class PETracer extends Tracer {
  constructor(readonly _trace: PETrace, readonly pval: PartialVal, public recipe: Recipe | null) {
    super();
  }
  get aval() {
    return this.pval.aval;
  }
  override fullLower(): Tensor {
    return this.pval.known !== null ? fullLower(this.pval.known) : this;
  }
}

/** Partial evaluation: compute what is known now, record the rest as a jaxpr (Autodidax's linearize). */
export class PETrace extends Trace {
  newArg(pval: PartialVal): PETracer {
    return new PETracer(this, pval, { k: "lambda" });
  }
  pure(val: Tensor): Tensor {
    return new PETracer(this, PartialVal.known(val), null);
  }
  lift(val: Tensor): Tensor {
    return this.pure(val);
  }
  instantiateConst(t: PETracer): PETracer {
    if (t.pval.known === null) return t;
    return new PETracer(this, PartialVal.unknown(t.aval), { k: "const", val: t.pval.known });
  }
  processPrimitive(prim: AnyPrimitive, tracers: Tensor[], params: Params): Tensor[] {
    const ts = tracers as PETracer[];
    if (ts.every((t) => t.pval.known !== null)) return bind(prim, ts.map((t) => fullLower(t)), params);
    if (prim.rules.partialEval) return prim.rules.partialEval(this, ts, params);
    const ins = ts.map((t) => this.instantiateConst(t));
    const avalsOut = prim.rules.shape(ins.map((t) => t.aval), params);
    const outs = avalsOut.map((a) => new PETracer(this, PartialVal.unknown(a), null));
    const recipe: Recipe = { k: "eqn", prim, ins, params, avalsOut, outs };
    for (const o of outs) o.recipe = recipe;
    return outs;
  }
}

function tracersToJaxpr(tracersIn: PETracer[], tracersOut: PETracer[]): { jaxpr: Jaxpr; consts: Tensor[] } {
  const t2v = new Map<PETracer, Var>();
  for (const t of tracersIn) t2v.set(t, new Var(t.aval));
  const constVars = new Map<Tensor, Var>();
  const done = new Set<Recipe>();
  const eqns: JaxprEqn[] = [];
  for (const t of postorder(tracersOut, (x) => (x.recipe?.k === "eqn" ? x.recipe.ins : []))) {
    const r = t.recipe;
    if (!r) throw new Error("partial eval: known tracer reached the jaxpr");
    if (r.k === "lambda") {
      if (!t2v.has(t)) throw new Error("partial eval: an input tracer of another trace was captured");
    } else if (r.k === "const") {
      let v = constVars.get(r.val);
      if (!v) {
        v = new Var(r.val.aval);
        constVars.set(r.val, v);
      }
      t2v.set(t, v);
    } else if (!done.has(r)) {
      done.add(r);
      const inputs: Atom[] = r.ins.map((i) => t2v.get(i)!);
      const outBinders = r.avalsOut.map((a) => new Var(a));
      r.outs.forEach((o, i) => t2v.set(o, outBinders[i]!));
      eqns.push({ prim: r.prim, inputs, params: r.params, outBinders });
    }
  }
  const inBinders = [...constVars.values(), ...tracersIn.map((t) => t2v.get(t)!)];
  return { jaxpr: new Jaxpr(inBinders, eqns, tracersOut.map((t) => t2v.get(t)!)), consts: [...constVars.keys()] };
}

/** Run f with some inputs known and some unknown; returns known outputs now and a jaxpr for the rest. */
export function partialEvalFlat(
  f: (...xs: Tensor[]) => Tensor[],
  pvalsIn: PartialVal[],
): { jaxpr: Jaxpr; pvalsOut: PartialVal[]; consts: Tensor[] } {
  return newMain(PETrace, null, (main: MainTrace) => {
    const trace = new PETrace(main);
    const tracersIn = pvalsIn.map((p) => trace.newArg(p));
    const outs = f(...tracersIn).map((o) => fullRaise(trace, o) as PETracer);
    const pvalsOut = outs.map((t) => t.pval);
    const unknownOuts = outs.filter((t) => t.pval.known === null);
    const unknownIns = tracersIn.filter((t) => t.pval.known === null);
    const { jaxpr, consts } = tracersToJaxpr(unknownIns, unknownOuts);
    return { jaxpr, pvalsOut, consts };
  });
}

export const tangentAval = (a: ShapedArray): ShapedArray => a.strong();

/**
 * Linearize a flat function at `primals`: JVP with unknown tangents, partially evaluated. The returned
 * jaxpr is linear in its trailing tangent inputs (its leading inputs are the residuals `consts`).
 */
export function linearizeFlat(f: (...xs: Tensor[]) => Tensor[], primals: readonly Tensor[]) {
  const n = primals.length;
  const pvalsIn = [...primals.map((p) => PartialVal.known(p)), ...primals.map((p) => PartialVal.unknown(tangentAval(p.aval)))];
  const fJvp = (...xs: Tensor[]) => {
    const [po, to] = jvpFlat(f, xs.slice(0, n), xs.slice(n));
    return [...po, ...to.map((t, i) => t ?? zerosFor(po[i]!))];
  };
  const { jaxpr, pvalsOut, consts } = partialEvalFlat(fJvp, pvalsIn);
  const nOut = pvalsOut.length / 2;
  const primalsOut = pvalsOut.slice(0, nOut).map((p) => {
    if (p.known === null) throw new Error("linearize: a primal output depends on the tangents");
    return p.known;
  });
  const tangentPvals = pvalsOut.slice(nOut);
  return { primalsOut, jaxpr, consts, tangentPvals, outAvals: primalsOut.map((p) => p.aval) };
}

import { zerosLike } from "../core/prims/elementwise.js";
const zerosFor = (p: Tensor) => zerosLike(p);

/**
 * Transpose a linear jaxpr: given cotangents of its outputs, accumulate cotangents of the inputs that are
 * UndefPrimal. Equations whose inputs are all known (non-linear residual work) are evaluated first.
 */
export function backwardPass(j: Jaxpr, args: readonly (Tensor | UndefPrimal)[], cts: readonly (Tensor | null)[]): (Tensor | null)[] {
  const primalEnv = new Map<Var, Tensor>();
  j.inBinders.forEach((v, i) => {
    const a = args[i]!;
    if (!(a instanceof UndefPrimal)) primalEnv.set(v, a);
  });
  const readPrimal = (a: Atom): Tensor | UndefPrimal => (a instanceof Lit ? a.val : (primalEnv.get(a) ?? new UndefPrimal(a.aval)));
  const linear: JaxprEqn[] = [];
  for (const e of j.eqns) {
    const ins = e.inputs.map(readPrimal);
    if (ins.some((x) => x instanceof UndefPrimal)) linear.push(e);
    else bind(e.prim, ins as Tensor[], e.params).forEach((o, k) => primalEnv.set(e.outBinders[k]!, o));
  }
  const ctEnv = new Map<Var, Tensor>();
  const writeCt = (v: Var, ct: Tensor | null) => {
    if (ct === null) return;
    if (ct.dtype !== v.aval.dtype) ct = convert(ct, v.aval.dtype);
    const prev = ctEnv.get(v);
    ctEnv.set(v, prev ? add(prev, ct) : ct);
  };
  j.outs.forEach((o, i) => {
    if (o instanceof Var && !primalEnv.has(o)) writeCt(o, cts[i] ?? null);
  });
  for (let k = linear.length - 1; k >= 0; k--) {
    const e = linear[k]!;
    const ctsOut = e.outBinders.map((v) => {
      const c = ctEnv.get(v) ?? null;
      ctEnv.delete(v);
      return c;
    });
    if (ctsOut.every((c) => c === null)) continue;
    const rule = e.prim.rules.transpose;
    if (!rule) throw new Error(`transpose: primitive ${e.prim.name} has no transpose rule but appears in a linear position`);
    const ins = e.inputs.map(readPrimal);
    const ctsIn = rule(ctsOut, ins, e.params);
    e.inputs.forEach((a, i) => {
      if (a instanceof Var && ins[i] instanceof UndefPrimal) writeCt(a, ctsIn[i] ?? null);
    });
  }
  return j.inBinders.map((v, i) => (args[i] instanceof UndefPrimal ? (ctEnv.get(v) ?? null) : null));
}

/** vjp of a flat function: primal outputs and a function from output cotangents to input cotangents. */
export function vjpFlat(f: (...xs: Tensor[]) => Tensor[], primals: readonly Tensor[]) {
  const { primalsOut, jaxpr, consts, tangentPvals } = linearizeFlat(f, primals);
  const nConsts = consts.length;
  const unknownInAvals = jaxpr.inBinders.slice(nConsts).map((v) => v.aval);
  const fVjp = (cts: readonly (Tensor | null)[]): (Tensor | null)[] => {
    const args = [...consts, ...unknownInAvals.map((a) => new UndefPrimal(a))];
    // only outputs whose tangent is unknown appear in the jaxpr; the rest do not depend on the inputs
    const res = backwardPass(jaxpr, args, cts.filter((_, i) => tangentPvals[i]!.known === null));
    return res.slice(nConsts);
  };
  return { primalsOut, fVjp, jaxpr, consts };
}
