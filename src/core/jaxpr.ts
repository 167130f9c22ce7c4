import { EagerTensor, Tensor } from "../tensor.js";
import { keep, trackCreated } from "../memory.js";
import { ShapedArray } from "./aval.js";
import type { AnyPrimitive, Params } from "./primitive.js";
import { MainTrace, Trace, Tracer, bind, fullRaise, isTracing, newDynamic, newMain } from "./trace.js";

/** A variable of a jaxpr: one value, named at print time. */
export class Var {
  constructor(readonly aval: ShapedArray) {}
}
/** A literal scalar inlined into an equation. */
export class Lit {
  readonly aval: ShapedArray;
  constructor(readonly val: EagerTensor) {
    this.aval = val.aval;
  }
}
export type Atom = Var | Lit;

export interface JaxprEqn {
  prim: AnyPrimitive;
  inputs: Atom[];
  params: Params;
  outBinders: Var[];
}

/** A traced program: typed inputs, a list of equations, outputs. Consts are leading inputs (closed over values). */
export class Jaxpr {
  constructor(
    readonly inBinders: Var[],
    readonly eqns: JaxprEqn[],
    readonly outs: Atom[],
  ) {}
  get inAvals(): ShapedArray[] {
    return this.inBinders.map((v) => v.aval);
  }
  get outAvals(): ShapedArray[] {
    return this.outs.map((v) => v.aval);
  }
  toString(): string {
    return printJaxpr(this);
  }
}

/** A jaxpr with the values of its leading `consts.length` inputs. */
export class ClosedJaxpr {
  constructor(readonly jaxpr: Jaxpr, readonly consts: Tensor[]) {}
  toString(): string {
    return printJaxpr(this.jaxpr, this.consts.length);
  }
}

function varNamer() {
  const names = new Map<Var, string>();
  const name = (v: Var): string => {
    let n = names.get(v);
    if (!n) {
      let i = names.size;
      n = "";
      do {
        n = String.fromCharCode(97 + (i % 26)) + n;
        i = Math.floor(i / 26) - 1;
      } while (i >= 0);
      names.set(v, n);
    }
    return n;
  };
  return name;
}

export function printJaxpr(j: Jaxpr, nConsts = 0, indent = 0): string {
  const name = varNamer();
  const pad = " ".repeat(indent);
  const atom = (a: Atom): string => (a instanceof Lit ? formatLit(a) : name(a));
  const binder = (v: Var) => `${name(v)}:${v.aval}`;
  const consts = j.inBinders.slice(0, nConsts).map(binder).join(" ");
  const ins = j.inBinders.slice(nConsts).map(binder).join(" ");
  const lines = [`${pad}{ lambda ${consts ? consts + " ; " : ""}${ins} .`, `${pad}  let`];
  for (const e of j.eqns) {
    const ps = e.prim.showParams ? e.prim.showParams(e.params) : showParams(e.params, indent + 4);
    lines.push(`${pad}    ${e.outBinders.map(binder).join(" ")} = ${e.prim.name}${ps ? `[${ps}]` : ""} ${e.inputs.map(atom).join(" ")}`);
  }
  lines.push(`${pad}  in ( ${j.outs.map(atom).join(" ")} ) }`);
  return lines.join("\n");
}

function formatLit(l: Lit): string {
  const v = l.val.dataSync()[0]!;
  return Number.isInteger(v) && l.aval.dtype.startsWith("float") ? `${v}.0` : String(v);
}

function showParams(p: Params, indent: number): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(p)) {
    if (v instanceof Jaxpr) parts.push(`${k}=\n${printJaxpr(v, 0, indent)}`);
    else if (v instanceof ClosedJaxpr) parts.push(`${k}=\n${printJaxpr(v.jaxpr, v.consts.length, indent)}`);
    else if (typeof v === "function") parts.push(`${k}=<fn>`);
    else parts.push(`${k}=${JSON.stringify(v, (_k, x) => (x instanceof Jaxpr || x instanceof ClosedJaxpr ? "<jaxpr>" : x))}`);
  }
  return parts.join(" ");
}

/** Evaluate a jaxpr with the current transformations (this is how a jaxpr is "inlined"). */
export function evalJaxpr(j: Jaxpr, args: readonly Tensor[]): Tensor[] {
  if (args.length !== j.inBinders.length) throw new Error(`evalJaxpr: expected ${j.inBinders.length} inputs, got ${args.length}`);
  const env = new Map<Var, Tensor>();
  j.inBinders.forEach((v, i) => env.set(v, args[i]!));
  // Free intermediates once their last reader ran (eager evaluation only). A tensor object may be bound to
  // several variables (an impl can hand back its input), so count bindings before freeing.
  const lastUse = new Map<Var, number>();
  j.eqns.forEach((e, i) => e.inputs.forEach((a) => a instanceof Var && lastUse.set(a, i)));
  for (const o of j.outs) if (o instanceof Var) lastUse.set(o, Infinity);
  for (const v of j.inBinders) lastUse.set(v, Infinity);
  const owned = new Map<Tensor, number>();
  const protectedVals = new Set<Tensor>(args);
  // under a transformation, concrete intermediates may be captured (e.g. as residuals): never free them then
  const eager = !isTracing();
  const release = (v: Var) => {
    const t = env.get(v)!;
    env.delete(v);
    if (!eager) return;
    const n = (owned.get(t) ?? 0) - 1;
    owned.set(t, n);
    if (n <= 0 && !protectedVals.has(t) && t instanceof EagerTensor && !t.tracked) t.dispose();
  };
  const read = (a: Atom): Tensor => (a instanceof Lit ? a.val : env.get(a)!);
  j.eqns.forEach((e, i) => {
    const outs = bind(e.prim, e.inputs.map(read), e.params);
    e.outBinders.forEach((v, k) => {
      const t = outs[k]!;
      env.set(v, t);
      owned.set(t, (owned.get(t) ?? 0) + 1);
    });
    for (const a of new Set(e.inputs)) if (a instanceof Var && lastUse.get(a) === i) release(a);
    for (const v of e.outBinders) if (!lastUse.has(v)) release(v);
  });
  return j.outs.map(read);
}

// ---------------- staging: trace a function into a jaxpr ----------------

class JaxprTracer extends Tracer {
  constructor(readonly _trace: JaxprTrace, readonly aval: ShapedArray) {
    super();
  }
}

class JaxprBuilder {
  eqns: JaxprEqn[] = [];
  created: ReadonlySet<unknown> = new Set();
  tracerToVar = new Map<Tracer, Var>();
  constTracers = new Map<Tensor, JaxprTracer>();
  constVals = new Map<Var, Tensor>();
  tracers: JaxprTracer[] = [];
  newTracer(trace: JaxprTrace, aval: ShapedArray): JaxprTracer {
    const t = new JaxprTracer(trace, aval);
    this.tracers.push(t);
    return t;
  }
  addVar(t: Tracer): Var {
    const v = new Var(t.aval);
    this.tracerToVar.set(t, v);
    return v;
  }
  getVar(t: Tracer): Var {
    const v = this.tracerToVar.get(t);
    if (!v) throw new Error("jaxpr builder: tracer has no variable");
    return v;
  }
  addConst(t: JaxprTracer, val: Tensor): Var {
    const v = this.addVar(t);
    this.constVals.set(v, val);
    return v;
  }
  build(inTracers: Tracer[], outTracers: Tensor[]): { jaxpr: Jaxpr; consts: Tensor[] } {
    const [constVars, constVals] = [[...this.constVals.keys()], [...this.constVals.values()]];
    const t2v = (t: Tracer) => this.getVar(t);
    const inBinders = [...constVars, ...inTracers.map(t2v)];
    const outs = outTracers.map((t) => t2v(t as Tracer));
    let jaxpr = new Jaxpr(inBinders, this.eqns, outs);
    const r = inlineLiterals(jaxpr, constVals, this.created);
    jaxpr = r.jaxpr;
    return { jaxpr, consts: r.consts };
  }
}

/**
 * A traced program outlives the scope that traced it (jit caches it), so its concrete constants are
 * held through views of their own that no scope or user dispose() can free.
 */
function ownConst(t: Tensor): Tensor {
  return t instanceof EagerTensor && !t.tracked ? keep(new EagerTensor(t.aval, t.ref.retain())) : t;
}

/** Small constant scalars become literals in the printed program rather than inputs. */
function inlineLiterals(j: Jaxpr, consts: Tensor[], created: ReadonlySet<unknown>): { jaxpr: Jaxpr; consts: Tensor[] } {
  const nConsts = consts.length;
  const constBinders = j.inBinders.slice(0, nConsts);
  const other = j.inBinders.slice(nConsts);
  const lits = new Map<Var, Lit>();
  const keptB: Var[] = [], keptC: Tensor[] = [];
  constBinders.forEach((v, i) => {
    const c = consts[i]!;
    if (c instanceof EagerTensor && c.aval.ndim === 0 && !c.tracked && created.has(c)) lits.set(v, new Lit(ownConst(c) as EagerTensor));
    else {
      keptB.push(v);
      keptC.push(c);
    }
  });
  const sub = (a: Atom): Atom => (a instanceof Var && lits.has(a) ? lits.get(a)! : a);
  const eqns = j.eqns.map((e) => ({ ...e, inputs: e.inputs.map(sub) }));
  // outputs that are literal consts stay as variables bound to the constant
  const outs = j.outs.map((o) => (o instanceof Var && lits.has(o) ? lits.get(o)! : o));
  return { jaxpr: new Jaxpr([...keptB, ...other], eqns, outs), consts: keptC };
}

export class JaxprTrace extends Trace {
  get builder(): JaxprBuilder {
    return this.main.globalData as JaxprBuilder;
  }
  newArg(aval: ShapedArray): JaxprTracer {
    const t = this.builder.newTracer(this, aval);
    this.builder.addVar(t);
    return t;
  }
  getOrMakeConst(val: Tensor): JaxprTracer {
    let t = this.builder.constTracers.get(val);
    if (!t) {
      t = this.builder.newTracer(this, val.aval);
      this.builder.constTracers.set(val, t);
      this.builder.addConst(t, val);
    }
    return t;
  }
  pure(val: Tensor): Tensor {
    return this.getOrMakeConst(val);
  }
  lift(val: Tensor): Tensor {
    return this.getOrMakeConst(val);
  }
  processPrimitive(prim: AnyPrimitive, tracers: Tensor[], params: Params): Tensor[] {
    const avalsIn = tracers.map((t) => t.aval);
    const avalsOut = prim.rules.shape(avalsIn, params);
    const outs = avalsOut.map((a) => this.builder.newTracer(this, a));
    const inputs = tracers.map((t) => this.builder.getVar(t as Tracer));
    const outBinders = outs.map((t) => this.builder.addVar(t));
    this.builder.eqns.push({ prim, inputs, params, outBinders });
    return outs;
  }
}

/** Trace a flat function of arrays with the given avals into a closed jaxpr. */
export function traceToJaxpr(fn: (...xs: Tensor[]) => Tensor[], avals: readonly ShapedArray[]): ClosedJaxpr {
  const builder = new JaxprBuilder();
  return newMain(JaxprTrace, builder, (main: MainTrace) =>
    newDynamic(main, () => {
      const trace = new JaxprTrace(main);
      const ins = avals.map((a) => trace.newArg(a));
      // constants made while tracing belong to the program; tensors the function closes over stay the caller's
      const [outs, created] = trackCreated(() => fn(...ins).map((o) => fullRaise(trace, o) as Tracer));
      builder.created = created;
      const { jaxpr, consts } = builder.build(ins, outs);
      return new ClosedJaxpr(jaxpr, consts.map((c) => (created.has(c) ? ownConst(c) : c)));
    }),
  );
}
