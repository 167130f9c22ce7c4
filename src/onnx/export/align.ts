/**
 * Line up the traces of one program made at different sizes of its dynamic axes: the same equations,
 * primitives and structure in each, with every number that differs fitted as a polynomial in the axis
 * symbols (poly.ts). The result annotates the first trace: a symbolic shape for every variable, and
 * for every equation its params with symbolic numbers where they vary.
 */
import { TridentError } from "../../core/errors.js";
import { ClosedJaxpr, Jaxpr, Lit, Var, type Atom, type JaxprEqn } from "../../core/jaxpr.js";
import type { Params } from "../../core/primitive.js";
import { Tensor } from "../../tensor.js";
import { fitNumber, traceValues, type FitPlan, type SymDim } from "./poly.js";

/** What the exporter knows about the first trace beyond its concrete numbers. */
export interface Annotations {
  shapes: Map<Var, SymDim[]>;
  params: Map<JaxprEqn, Params>;
  lits: Map<Lit, SymDim>;
}

const where = (path: string) => (path ? ` (at ${path})` : "");

function mismatch(path: string, what: string): never {
  throw new TridentError(
    `onnx.export: the program traced at different sizes of its dynamic axes is not the same program${where(path)}: ${what}. ` +
      `Export it with static shapes, or make the function's structure independent of those sizes`,
  );
}

/** Align the closed jaxprs of all traces (index 0 is the one exported). */
export function alignTraces(plan: FitPlan, traces: readonly ClosedJaxpr[]): Annotations {
  const ann: Annotations = { shapes: new Map(), params: new Map(), lits: new Map() };
  const fit = (obs: number[], path: string, what: string): SymDim => {
    const d = fitNumber(plan, obs);
    if (d === null) {
      const sizes = obs.map((v, t) => `${v} at ${[...traceValues(plan, t)].map(([s, n]) => `${s}=${n}`).join(",")}`).join("; ");
      mismatch(path, `${what} is not a polynomial in the dynamic sizes (${sizes})`);
    }
    return d;
  };
  const shapeOf = (vs: Var[], path: string): SymDim[] => {
    const r = vs[0]!.aval.ndim;
    if (vs.some((v) => v.aval.ndim !== r)) mismatch(path, `a value has rank ${vs.map((v) => v.aval.ndim).join(" vs ")}`);
    if (vs.some((v) => v.aval.dtype !== vs[0]!.aval.dtype)) mismatch(path, `a value has dtype ${vs.map((v) => v.aval.dtype).join(" vs ")}`);
    return vs[0]!.aval.shape.map((_, i) => fit(vs.map((v) => v.aval.shape[i]!), path, `axis ${i} of a ${vs[0]!.aval} value`));
  };

  const consts = (cs: readonly (readonly Tensor[])[], path: string) => {
    const n = cs[0]!.length;
    if (cs.some((c) => c.length !== n)) mismatch(path, `${cs.map((c) => c.length).join(" vs ")} constants`);
    for (let i = 0; i < n; i++) {
      const c0 = cs[0]![i]!;
      for (const c of cs.slice(1)) {
        const t = c[i]!;
        if (t === c0) continue;
        if (t.shape.join() !== c0.shape.join() || t.dtype !== c0.dtype) {
          mismatch(path, `constant ${i} has shape ${c0.aval} in one trace and ${t.aval} in another; a constant cannot depend on a dynamic axis`);
        }
        const a = c0.dataSync(), b = t.dataSync();
        for (let k = 0; k < a.length; k++) {
          if (a[k] !== b[k] && !(Number.isNaN(a[k]) && Number.isNaN(b[k]))) mismatch(path, `constant ${i} (${c0.aval}) has different values in different traces`);
        }
      }
    }
  };

  const jaxpr = (js: readonly Jaxpr[], path: string) => {
    const j0 = js[0]!;
    const same = (f: (j: Jaxpr) => number, what: string) => {
      if (js.some((j) => f(j) !== f(j0))) {
        const at = js.map((j, t) => `${f(j)} ${what} at ${[...traceValues(plan, t)].map(([s, n]) => `${s}=${n}`).join(",")}`);
        mismatch(path, `${at.join("; ")} (a JS loop or branch over a dynamic size unrolls differently at each size)`);
      }
    };
    same((j) => j.inBinders.length, "inputs");
    same((j) => j.eqns.length, "equations");
    same((j) => j.outs.length, "outputs");
    const counterpart = js.map(() => new Map<Var, Var>());
    const bind = (vs: Var[], p: string) => {
      ann.shapes.set(vs[0]!, shapeOf(vs, p));
      vs.forEach((v, t) => counterpart[t]!.set(v, vs[0]!));
    };
    j0.inBinders.forEach((_, i) => bind(js.map((j) => j.inBinders[i]!), `${path}input ${i}`));
    const atom = (as: Atom[], p: string) => {
      const a0 = as[0]!;
      if (a0 instanceof Lit) {
        if (as.some((a) => !(a instanceof Lit))) mismatch(p, "an operand is a literal in one trace only");
        ann.lits.set(a0, fit(as.map((a) => (a as Lit).val.dataSync()[0]!), p, "a literal"));
        return;
      }
      as.forEach((a, t) => {
        if (!(a instanceof Var) || counterpart[t]!.get(a) !== a0) mismatch(p, "the data flow differs");
      });
    };
    j0.eqns.forEach((e0, k) => {
      const es = js.map((j) => j.eqns[k]!);
      const p = `${path}equation ${k} (${e0.prim.name})`;
      if (es.some((e) => e.prim !== e0.prim)) mismatch(p, `the primitives are ${es.map((e) => e.prim.name).join(" vs ")}`);
      if (es.some((e) => e.inputs.length !== e0.inputs.length || e.outBinders.length !== e0.outBinders.length)) mismatch(p, "the operand counts differ");
      e0.inputs.forEach((_, i) => atom(es.map((e) => e.inputs[i]!), `${p} operand ${i}`));
      ann.params.set(e0, value(es.map((e) => e.params), `${p} params`) as Params);
      e0.outBinders.forEach((_, i) => bind(es.map((e) => e.outBinders[i]!), `${p} output ${i}`));
    });
    j0.outs.forEach((_, i) => atom(js.map((j) => j.outs[i]!), `${path}output ${i}`));
  };

  const value = (vs: readonly unknown[], path: string): unknown => {
    const v0 = vs[0];
    if (typeof v0 === "number") {
      if (vs.some((v) => typeof v !== "number")) mismatch(path, "a parameter changes type");
      return fit(vs as number[], path, "a parameter");
    }
    if (v0 instanceof Jaxpr) {
      if (vs.some((v) => !(v instanceof Jaxpr))) mismatch(path, "a parameter changes type");
      jaxpr(vs as Jaxpr[], `${path} > `);
      return v0;
    }
    if (v0 instanceof ClosedJaxpr) {
      if (vs.some((v) => !(v instanceof ClosedJaxpr))) mismatch(path, "a parameter changes type");
      const cj = vs as ClosedJaxpr[];
      consts(cj.map((c) => c.consts), path);
      jaxpr(cj.map((c) => c.jaxpr), `${path} > `);
      return v0;
    }
    if (Array.isArray(v0)) {
      if (vs.some((v) => !Array.isArray(v) || v.length !== v0.length)) mismatch(path, "a list parameter changes length");
      return v0.map((_, i) => value(vs.map((v) => (v as unknown[])[i]), `${path}[${i}]`));
    }
    if (v0 !== null && typeof v0 === "object" && Object.getPrototypeOf(v0) === Object.prototype) {
      const keys = Object.keys(v0);
      const out: Record<string, unknown> = {};
      for (const key of keys) out[key] = value(vs.map((v) => (v as Record<string, unknown>)[key]), `${path}.${key}`);
      return out;
    }
    if (typeof v0 === "string" || typeof v0 === "boolean") {
      if (vs.some((v) => v !== v0)) mismatch(path, `a parameter is ${vs.map((v) => JSON.stringify(v)).join(" vs ")}`);
    }
    // functions (user derivative rules) and other opaque values are taken from the first trace
    return v0;
  };

  consts(traces.map((t) => t.consts), "");
  jaxpr(traces.map((t) => t.jaxpr), "");
  return ann;
}
