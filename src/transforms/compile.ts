/**
 * The jit compiler: a closed jaxpr becomes a program of fused kernels with a buffer plan, compiled once
 * per traced signature (cached with the jaxpr) and run by the `jit` primitive's impl.
 *
 * jaxpr → dataflow graph (nested jit and custom-derivative calls inlined, so fusion crosses them)
 *       → fusion (ir/fuse.ts: which values are stored, one kernel per group of stored values)
 *       → schedule and buffer plan (ir/schedule.ts)
 *       → run: dispatch kernels, execute the primitives that have no lowering as they are.
 */
import type { Backend, DeviceBuffer, Executable } from "../backend/backend.js";
import { getBackend } from "../backend/registry.js";
import { ShapedArray } from "../core/aval.js";
import { TridentError } from "../core/errors.js";
import { executePrimitive, wrapBuffer } from "../core/execute.js";
import { ClosedJaxpr, Jaxpr, Lit, type Atom, type Var } from "../core/jaxpr.js";
import type { AnyPrimitive, Params } from "../core/primitive.js";
import { fuse, type FusionCosts, type FusionOptions, type Graph, type GraphNode, type GraphValue, type Step } from "../ir/fuse.js";
import { orderSteps, planBuffers, type BufferPlan, type PlanStats } from "../ir/schedule.js";
import type { Access, Expr, VarGen } from "../ir/expr.js";
import { formatKernel } from "../ir/print.js";
import { EagerTensor, Tensor } from "../tensor.js";

type LowerFn = (ins: readonly Access[], ix: readonly Expr[], ctx: unknown) => Expr[];

/** Where an input value of the graph comes from at run time. */
type Source = { kind: "arg"; index: number } | { kind: "tensor"; tensor: Tensor };

interface Built {
  graph: Graph;
  avals: ShapedArray[];
  sources: Map<number, Source>;
  prims: { prim: AnyPrimitive; params: Params }[];
}

/** A call whose body can be inlined into the caller: its jaxpr and the values of its leading consts. */
function inlinableBody(prim: AnyPrimitive, params: Params): { jaxpr: Jaxpr; consts: readonly Tensor[] } | null {
  if (prim.name === "jit" && params["jaxpr"] instanceof ClosedJaxpr) return { jaxpr: params["jaxpr"].jaxpr, consts: params["jaxpr"].consts };
  // custom_jvp_call / custom_vjp_call evaluate their primal function when run
  if ((prim.name === "custom_jvp_call" || prim.name === "custom_vjp_call") && params["fun"] instanceof Jaxpr) return { jaxpr: params["fun"], consts: [] };
  return null;
}

function buildGraph(closed: ClosedJaxpr): Built {
  const values: GraphValue[] = [];
  const avals: ShapedArray[] = [];
  const sources = new Map<number, Source>();
  const nodes: GraphNode[] = [];
  const prims: Built["prims"] = [];
  const inputs: number[] = [];
  const newValue = (aval: ShapedArray, literal?: number): number => {
    values.push(literal === undefined ? { shape: aval.shape, dtype: aval.dtype } : { shape: aval.shape, dtype: aval.dtype, literal });
    avals.push(aval);
    return values.length - 1;
  };
  const input = (aval: ShapedArray, src: Source, literal?: number): number => {
    const v = newValue(aval, literal);
    sources.set(v, src);
    inputs.push(v);
    return v;
  };
  const lits = new Map<Lit, number>();
  const litValue = (l: Lit): number => {
    let v = lits.get(l);
    if (v === undefined) {
      // a literal whose value can be read now is inlined into kernels as a constant
      const readable = l.val.backend.readSync !== undefined;
      v = input(l.aval, { kind: "tensor", tensor: l.val }, readable ? l.val.dataSync()[0]! : undefined);
      lits.set(l, v);
    }
    return v;
  };
  const walk = (j: Jaxpr, ins: readonly number[]): number[] => {
    const env = new Map<Var, number>();
    j.inBinders.forEach((b, i) => env.set(b, ins[i]!));
    const read = (a: Atom): number => (a instanceof Lit ? litValue(a) : env.get(a)!);
    for (const e of j.eqns) {
      const args = e.inputs.map(read);
      const body = inlinableBody(e.prim, e.params);
      if (body) {
        const consts = body.consts.map((t) => input(t.aval, { kind: "tensor", tensor: t }));
        const outs = walk(body.jaxpr, [...consts, ...args]);
        e.outBinders.forEach((b, k) => env.set(b, outs[k]!));
        continue;
      }
      const outs = e.outBinders.map((b) => newValue(b.aval));
      e.outBinders.forEach((b, k) => env.set(b, outs[k]!));
      const rules = e.prim.rules as unknown as Record<string, unknown>;
      const lowerable = typeof rules["lower"] === "function" && typeof rules["impl"] !== "function" && typeof rules["routine"] !== "function";
      const node: GraphNode = { name: e.prim.name, inputs: args, outputs: outs };
      if (lowerable) {
        const lower = rules["lower"] as LowerFn;
        const ctx = { params: e.params, inAvals: e.inputs.map((a) => a.aval), outAvals: e.outBinders.map((b) => b.aval) };
        node.lower = (lins, ix, vars: VarGen) => lower(lins, ix, { ...ctx, vars });
      }
      nodes.push(node);
      prims.push({ prim: e.prim, params: e.params });
    }
    return j.outs.map(read);
  };
  const nConsts = closed.consts.length;
  const top = closed.jaxpr.inBinders.map((b, i) =>
    i < nConsts ? input(b.aval, { kind: "tensor", tensor: closed.consts[i]! }) : input(b.aval, { kind: "arg", index: i - nConsts }),
  );
  const outputs = walk(closed.jaxpr, top);
  return { graph: { values, nodes, inputs, outputs }, avals, sources, prims };
}

const fmtBytes = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);

/** One line of the kernel listing. */
export interface KernelSummary {
  /** "kernel", or "op" for a primitive executed as it is (routine, control flow). */
  kind: "kernel" | "op";
  /** Primitive names computed by this step, in program order. */
  prims: string[];
  inputs: string[];
  outputs: string[];
}

/**
 * A jaxpr compiled into fused kernels with a buffer plan for one backend. Run it with `run(args)`. A
 * backend may tune the fusion heuristic with optional `fusionCosts` and `fusionOptions` properties (see
 * ir/fuse.ts).
 */
export class CompiledProgram {
  readonly graph: Graph;
  readonly plan: BufferPlan;
  private avals: ShapedArray[];
  private sources: Map<number, Source>;
  private prims: Built["prims"];
  private executables: (Executable | null)[] | null = null;
  private nArgs: number;

  constructor(closed: ClosedJaxpr, readonly backend: Backend) {
    const b = buildGraph(closed);
    this.graph = b.graph;
    this.avals = b.avals;
    this.sources = b.sources;
    this.prims = b.prims;
    this.nArgs = closed.jaxpr.inBinders.length - closed.consts.length;
    const tuned = backend as { fusionCosts?: Partial<FusionCosts>; fusionOptions?: FusionOptions };
    const { steps } = fuse(b.graph, tuned.fusionCosts, tuned.fusionOptions);
    this.plan = planBuffers(b.graph, orderSteps(b.graph, steps));
  }

  /** Primitive applications in the program (after inlining nested calls). */
  get numPrimitives(): number {
    return this.graph.nodes.length;
  }
  /** Fused kernels dispatched per call. */
  get numKernels(): number {
    return this.plan.steps.filter((s) => s.kind === "kernel").length;
  }
  /** Primitives executed as they are (no lowering) per call. */
  get numOps(): number {
    return this.plan.steps.filter((s) => s.kind === "node").length;
  }
  get stats(): PlanStats {
    return this.plan.stats;
  }

  private valueName(v: number): string {
    const src = this.sources.get(v);
    const lit = this.graph.values[v]!.literal;
    const name = src?.kind === "arg" ? `in${src.index}` : lit !== undefined ? `${lit}` : src ? `c${v}` : `%${v}`;
    return lit !== undefined ? name : `${name}:${this.avals[v]}`;
  }

  /** One entry per step: inputs, outputs and the primitives fused into it. */
  summary(): KernelSummary[] {
    return this.plan.steps.map((s) => {
      if (s.kind === "kernel") {
        return { kind: "kernel", prims: s.fused.nodes.map((n) => this.graph.nodes[n]!.name), inputs: s.fused.inputs.map((v) => this.valueName(v)), outputs: s.fused.outputs.map((v) => this.valueName(v)) };
      }
      const n = this.graph.nodes[s.node]!;
      return { kind: "op", prims: [n.name], inputs: n.inputs.map((v) => this.valueName(v)), outputs: n.outputs.map((v) => this.valueName(v)) };
    });
  }

  /** The kernel listing: one line per kernel (inputs -> outputs [fused primitives]) and the memory plan. */
  toString(): string {
    return this.listing();
  }

  /** The kernel listing; with `expressions`, each kernel's IR follows its line. */
  listing(opts: { expressions?: boolean } = {}): string {
    const st = this.plan.stats;
    const lines = [
      `${this.numPrimitives} primitives -> ${this.numKernels} kernels` + (this.numOps ? ` + ${this.numOps} ops` : "") +
        `; intermediates: ${st.intermediates} in ${this.plan.slots.length} buffers, peak ${fmtBytes(st.peakBytes)}` +
        ` (${fmtBytes(st.peakLiveBytes)} live at most, ${fmtBytes(st.totalIntermediateBytes)} in all)`,
    ];
    let k = 0;
    for (const s of this.summary()) {
      const head = s.kind === "kernel" ? `k${k++}` : "op";
      lines.push(`${head}: (${s.inputs.join(", ")}) -> ${s.outputs.join(", ")}  [${s.prims.join(" ")}]`);
    }
    if (opts.expressions) {
      let j = 0;
      this.plan.steps.forEach((s, i) => {
        if (s.kind === "kernel") lines.splice(1 + i + j++ + 1, 0, formatKernel(s.fused.kernel).replace(/^/gm, "    "));
      });
    }
    return lines.join("\n");
  }

  private compiled(): (Executable | null)[] {
    this.executables ??= this.plan.steps.map((s) => (s.kind === "kernel" ? this.backend.compile(s.fused.kernel) : null));
    return this.executables;
  }

  /**
   * Run the program on concrete arguments; outputs are fresh tensors, inputs are never written. With
   * `times`, the wall time of each step (ms) is written there (profiling: kernels finish synchronously).
   */
  run(args: readonly Tensor[], times?: number[]): Tensor[] {
    if (args.length !== this.nArgs) throw new TridentError(`jit: the compiled program takes ${this.nArgs} arguments, got ${args.length}`);
    const g = this.graph, plan = this.plan, backend = this.backend;
    const tensors = this.inputTensors(args);
    if (programBackend(this.graph, tensors) !== backend) throw new TridentError(`jit: this program was compiled for the ${backend.name} backend but its inputs live elsewhere`);
    const exes = this.compiled();
    const protectedTs = new Set<Tensor>(tensors.values());
    // a tensor object may be bound to several values (an op can hand back its operand): count bindings
    const bindings = new Map<EagerTensor, number>();
    const owned = new Set<EagerTensor>();
    const slotBufs: (DeviceBuffer | null)[] = plan.slots.map(() => null);
    const bind = (v: number, t: EagerTensor) => {
      tensors.set(v, t);
      bindings.set(t, (bindings.get(t) ?? 0) + 1);
      if (!protectedTs.has(t)) owned.add(t);
    };
    const buffer = (v: number): DeviceBuffer => {
      const st = plan.storage.get(v)!;
      if (st.kind === "slot") return slotBufs[st.slot]!;
      return tensors.get(v)!.buffer;
    };
    try {
      plan.steps.forEach((s, i) => {
        const t0 = times ? performance.now() : 0;
        for (const k of plan.allocBefore[i]!) slotBufs[k] = backend.malloc(plan.slots[k]!.dtype, plan.slots[k]!.size);
        if (s.kind === "kernel") {
          const f = s.fused;
          for (const v of f.outputs) if (plan.storage.get(v)!.kind === "tensor") bind(v, wrapBuffer(backend, this.avals[v]!));
          if (f.kernel.shape.every((d) => d > 0)) backend.dispatch(exes[i]!, f.inputs.map(buffer), f.outputs.map(buffer));
        } else {
          const n = g.nodes[s.node]!;
          const { prim, params } = this.prims[s.node]!;
          const outs = executePrimitive(prim, n.inputs.map((v) => tensors.get(v)!), params);
          n.outputs.forEach((v, k) => bind(v, outs[k] as EagerTensor));
        }
        if (times) times[i] = performance.now() - t0;
        for (const k of plan.freeAfter[i]!) {
          backend.free(slotBufs[k]!);
          slotBufs[k] = null;
        }
        for (const v of plan.releaseAfter[i]!) {
          const t = tensors.get(v)!;
          tensors.delete(v);
          const left = (bindings.get(t) ?? 1) - 1;
          bindings.set(t, left);
          if (left === 0 && owned.has(t)) {
            owned.delete(t);
            t.dispose();
          }
        }
      });
    } catch (err) {
      for (const b of slotBufs) if (b) backend.free(b);
      for (const t of owned) t.dispose();
      throw err;
    }
    // outputs: each computed tensor is handed out once; repeats, inputs and constants become views
    const handed = new Set<EagerTensor>();
    return g.outputs.map((v) => {
      const t = tensors.get(v)!;
      if (owned.has(t) && !handed.has(t)) {
        handed.add(t);
        return t;
      }
      return new EagerTensor(this.avals[v]!, t.ref.retain());
    });
  }

  /** The tensor of every input value (arguments, constants, literals). */
  inputTensors(args: readonly Tensor[]): Map<number, EagerTensor> {
    const tensors = new Map<number, EagerTensor>();
    for (const [v, src] of this.sources) {
      const t = src.kind === "arg" ? args[src.index]! : src.tensor;
      if (!(t instanceof EagerTensor)) throw new TridentError(`jit: input ${this.valueName(v)} is a traced value; compiled programs run on concrete tensors`);
      tensors.set(v, t);
    }
    return tensors;
  }
}

/** The backend a program runs on: where its inputs live (literals inlined into kernels may live anywhere). */
function programBackend(g: Graph, tensors: ReadonlyMap<number, EagerTensor>): Backend {
  let b: Backend | null = null;
  for (const [v, t] of tensors) {
    if (g.values[v]!.literal !== undefined) continue;
    if (b === null) b = t.backend;
    else if (t.backend !== b) throw new TridentError(`jit: operands live on different backends (${b.name} and ${t.backend.name}); move them with .to() before calling`);
  }
  return b ?? getBackend();
}

const programs = new WeakMap<ClosedJaxpr, Map<Backend, CompiledProgram>>();

/** The compiled program of a closed jaxpr for a backend (compiled on first use, then cached with the jaxpr). */
export function compileJaxpr(closed: ClosedJaxpr, backend: Backend = getBackend()): CompiledProgram {
  let per = programs.get(closed);
  if (!per) {
    per = new Map();
    programs.set(closed, per);
  }
  let p = per.get(backend);
  if (!p) {
    p = new CompiledProgram(closed, backend);
    per.set(backend, p);
  }
  return p;
}

/** Run a closed jaxpr as fused kernels on the backend its arguments live on (the `jit` primitive's impl). */
export function runJaxpr(closed: ClosedJaxpr, args: readonly Tensor[]): Tensor[] {
  const first = [...args, ...closed.consts].find((t): t is EagerTensor => t instanceof EagerTensor);
  return compileJaxpr(closed, first ? first.backend : getBackend()).run(args);
}

/**
 * Time every step of a closed jaxpr's program on these arguments: the median of `runs` calls (after one
 * warm-up) per kernel, slowest first, with each kernel's share of the total.
 */
export function profileKernels(closed: ClosedJaxpr, args: readonly Tensor[], runs = 5): string {
  const first = [...args, ...closed.consts].find((t): t is EagerTensor => t instanceof EagerTensor);
  const p = compileJaxpr(closed, first ? first.backend : getBackend());
  const samples: number[][] = [];
  for (let r = 0; r <= runs; r++) {
    const times: number[] = [];
    for (const o of p.run(args, times)) o.dispose();
    if (r > 0) samples.push(times);
  }
  const med = p.plan.steps.map((_, i) => samples.map((t) => t[i]!).sort((a, b) => a - b)[samples.length >> 1]!);
  const total = med.reduce((a, b) => a + b, 0);
  const rows = p.summary().map((s, i) => ({ i, ms: med[i]!, s }));
  rows.sort((a, b) => b.ms - a.ms);
  const lines = [`${p.numKernels} kernels${p.numOps ? ` + ${p.numOps} ops` : ""}: ${total.toFixed(2)} ms per call (median of ${runs})`];
  for (const { i, ms, s } of rows) {
    lines.push(`${ms.toFixed(3).padStart(9)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  step ${i} ${s.kind}: (${s.inputs.join(", ")}) -> ${s.outputs.join(", ")}  [${s.prims.join(" ")}]`);
  }
  return lines.join("\n");
}

/**
 * The kernel listing of a closed jaxpr for a backend: `console.log(describeKernels(tr.makeJaxpr(f)(x)))`;
 * with `expressions`, each kernel's IR too.
 */
export function describeKernels(closed: ClosedJaxpr, opts: { backend?: Backend; expressions?: boolean } = {}): string {
  return compileJaxpr(closed, opts.backend ?? getBackend()).listing(opts);
}

export type { PlanStats, Step };
