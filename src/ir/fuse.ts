import type { DType } from "../core/dtype.js";
import { idx, linear, load, c, nodeSignature, VarGen, type Access, type Expr, type Kernel } from "./expr.js";
import { pruneArgs } from "./prune.js";
import { rowFuse } from "./rowfuse.js";
import { simplifyKernel } from "./simplify.js";

/**
 * Kernel fusion over a whole program. Every operation that has a lowering is an expression of its
 * operands' values at computed indices, so fusing a consumer with a producer means handing the
 * consumer's lowering an `Access` that inlines the producer's lowering at the requested index instead
 * of loading it from a buffer. This module decides which values are materialised in buffers and builds
 * one kernel per group of materialised values; everything else is computed inside the kernels that
 * read it. It works on a plain dataflow graph (the compiler in transforms/ builds it from a jaxpr).
 *
 * ## Which values are materialised (the cost heuristic)
 * Nodes are visited consumers first. For a node p, E is the number of times its expression would be
 * evaluated if inlined: Σ over consumers c of evals(c) × reads(c, p), where reads(c, p) is how many
 * times one evaluation of c reads p (reads inside a reduction count once per reduction step; a
 * broadcast consumer has more elements than p, so its evals carry the duplication), except that
 * consumers fused into the same kernel reading p at their own index share one evaluation. With n the
 * number of elements of p and `cost` its per-element cost from its own lowering (in the units of
 * FusionCosts: ALU op, transcendental, operand load), p is inlined when recomputing is no dearer than
 * storing it once and loading it back:
 *
 *     E · cost  ≤  n · (cost + STORE) + E · LOAD + KERNEL
 *
 * (KERNEL, the fixed cost of the extra kernel a stored value usually needs, matters for small arrays.)
 * So a producer read once per element is always inlined (E = n), pure data movement (cost = one load)
 * is always inlined, a cheap producer read by two kernels (a relu mask in the forward and the backward
 * pass) is recomputed, a reduction read by a broadcast (E ≫ n, cost ∝ reduction length) is stored,
 * and so is a transcendental read by two kernels (softmax's exp(x − max), read by the sum and by the
 * division) with the default CPU units, where an exp costs more than writing and re-reading a float;
 * a GPU backend, where memory traffic dominates, would pass a smaller transcendental cost.
 * Forced materialisation: program outputs, values read by operations without a lowering, and operands
 * of contractions (dot_general, conv: a sum over products of two operands) unless they are a plain
 * load through movement ops or a constant, so the backends can recognise and tile the contraction.
 */
/** Cost units of the fusion heuristic (relative; an ALU op is 1). */
export interface FusionCosts {
  alu: number;
  transcendental: number;
  load: number;
  store: number;
  /** Fixed cost of one more kernel (dispatch, loop set-up), which storing a value usually adds. */
  kernel: number;
}
// calibrated on the CPU backends: a JS-imported or polynomial exp is ~20 ALU ops, a load from a streamed
// array ~4 and a store ~8 (it is written back and re-read by a later pass)
// array ~4 and a store ~8 (it is written back and re-read by a later pass); a dispatch ~2000
const DEFAULT_COSTS: FusionCosts = { alu: 1, transcendental: 20, load: 4, store: 8, kernel: 2000 };

/**
 * Adjust the default cost units of the fusion heuristic (programs compiled afterwards use them; a backend
 * may override them with a `fusionCosts` property); returns the previous units.
 */
export function setFusionCosts(costs: Partial<FusionCosts>): FusionCosts {
  const prev = { ...DEFAULT_COSTS };
  Object.assign(DEFAULT_COSTS, costs);
  return prev;
}

/** A value of the program: an array of a shape and dtype. */
export interface GraphValue {
  shape: readonly number[];
  dtype: DType;
  /** A scalar known when the program is compiled: kernels inline it as a constant. */
  literal?: number;
}

/** An operation of the program. */
export interface GraphNode {
  /** The primitive name (for kernel names and debugging). */
  name: string;
  inputs: readonly number[];
  outputs: readonly number[];
  /** The primitive's lowering to the kernel IR; absent for operations executed as they are. */
  lower?: (ins: readonly Access[], ix: readonly Expr[], vars: VarGen) => Expr[];
}

/** A dataflow program: nodes in a topological order over value ids. */
export interface Graph {
  values: GraphValue[];
  nodes: GraphNode[];
  /** Values that exist before the program runs (arguments, constants, literals). */
  inputs: number[];
  outputs: number[];
}

/** One generated kernel: which values it loads and which it writes, and the nodes fused into it. */
export interface FusedKernel {
  kernel: Kernel;
  /** Value ids in kernel argument order. */
  inputs: number[];
  /** Value ids in kernel output order. */
  outputs: number[];
  /** Graph nodes evaluated inside this kernel (in program order). */
  nodes: number[];
  /** The kernel's first output is a contraction (dot_general, conv) with its epilogue. */
  contraction: boolean;
}

/** A unit of execution: a fused kernel, or a node executed as it is (routine, control flow). */
export type Step = { kind: "kernel"; fused: FusedKernel } | { kind: "node"; node: number };

export interface Fusion {
  /** Steps, not yet ordered (see schedule.ts). */
  steps: Step[];
}

/** Most outputs one kernel gets from multi-output fusion. */
const MAX_OUTPUTS = 8;
/** Most evaluation contexts tracked per node before they are merged. */
const MAX_CONTEXTS = 32;

const TRANSCENDENTAL = new Set(["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "logistic", "erf", "erfinv", "pow", "atan2"]);

/** Structural ids of expressions, so memo tables can key on an index tuple. */
class StructIds {
  private ids = new Map<Expr, number>();
  private table = new Map<string, number>();
  id(e: Expr): number {
    const hit = this.ids.get(e);
    if (hit !== undefined) return hit;
    const s = nodeSignature(e, (x) => this.id(x));
    let v = this.table.get(s);
    if (v === undefined) {
      v = this.table.size;
      this.table.set(s, v);
    }
    this.ids.set(e, v);
    return v;
  }
  key(ix: readonly Expr[]): string {
    return ix.map((e) => this.id(e)).join(",");
  }
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** One read of an input value by a node's lowering. */
interface Read {
  value: number;
  /** Times it is read per evaluation of the node (the product of the enclosing reduction lengths). */
  times: number;
  /** Read at the node's own index (an elementwise operand of the same shape, outside any reduction). */
  identity: boolean;
}

/** What one node's own lowering costs and reads, from lowering it once over plain loads. */
interface NodeInfo {
  /** Cost of one evaluation (one element of its outputs). */
  cost: number;
  reads: Read[];
  /** The single output is exactly one operand read at an index that reads nothing: reshape, transpose, broadcast, slice, rev. */
  affine: boolean;
  /** Every output is a constant (full). */
  constant: boolean;
  /** A sum over products of two operands (dot_general, conv). */
  contraction: boolean;
  /** The lowering over plain loads. */
  outs: Expr[];
}

function analyse(g: Graph, node: GraphNode, constants: ReadonlyMap<number, Expr>, COST: FusionCosts): NodeInfo {
  const sid = new StructIds();
  const argValue: number[] = [];
  const identityArg = new Set<number>();
  const memo = new Map<string, Expr>();
  const shape = g.values[node.outputs[0]!]!.shape;
  const access = (v: number): Access => (ix) => {
    const val = g.values[v]!;
    if (val.literal !== undefined) return c(val.literal, val.dtype);
    // a value computed from constants alone (full, a broadcast of one, 1/n) reads no memory once inlined:
    // charge its arithmetic, not a load (the expression only serves the cost count)
    const k = constants.get(v);
    if (k) return k;
    const key = `${v}|${sid.key(ix)}`;
    let e = memo.get(key);
    if (!e) {
      const a = argValue.length;
      argValue.push(v);
      const same = ix.length === shape.length && val.shape.length === shape.length && val.shape.every((d, i) => d === shape[i]);
      if (same && ix.every((x, d) => x.k === "idx" && x.id === d)) identityArg.add(a);
      e = load(a, linear(ix, val.shape), val.dtype);
      memo.set(key, e);
    }
    return e;
  };
  const outs = node.lower!(node.inputs.map(access), shape.map((_, d) => idx(d)), new VarGen(shape.length));
  let cost = 0;
  const reads: Read[] = [];
  const seen = new Set<Expr>();
  const walk = (e: Expr, m: number, index: boolean): void => {
    if (seen.has(e)) return;
    seen.add(e);
    switch (e.k) {
      case "const": case "idx": return;
      case "load":
        cost += COST.load * m;
        reads.push({ value: argValue[e.arg]!, times: m, identity: m === 1 && identityArg.has(e.arg) });
        return walk(e.at, m, true);
      case "un":
        if (!index) cost += (TRANSCENDENTAL.has(e.op) ? COST.transcendental : COST.alu) * m;
        return walk(e.x, m, index);
      case "bin":
        if (!index) cost += (TRANSCENDENTAL.has(e.op) ? COST.transcendental : COST.alu) * m;
        walk(e.x, m, index);
        return walk(e.y, m, index);
      case "sel":
        if (!index) cost += COST.alu * m;
        walk(e.c, m, index);
        walk(e.x, m, index);
        return walk(e.y, m, index);
      case "cast": case "bitcast":
        if (!index) cost += COST.alu * m;
        return walk(e.x, m, index);
      case "reduce": {
        const inner = m * size(e.ext);
        cost += COST.alu * inner;
        return walk(e.body, inner, false);
      }
    }
  };
  outs.forEach((o) => walk(o, 1, false));
  return {
    cost,
    reads,
    affine: outs.length === 1 && outs[0]!.k === "load" && !readsMemory(outs[0]!.at),
    constant: outs.every((o) => o.k === "const"),
    contraction: outs.length === 1 && isContraction(outs[0]!),
    outs,
  };
}

function readsMemory(e: Expr): boolean {
  switch (e.k) {
    case "const": case "idx": return false;
    case "load": case "reduce": return true;
    case "un": case "cast": case "bitcast": return readsMemory(e.x);
    case "bin": return readsMemory(e.x) || readsMemory(e.y);
    case "sel": return readsMemory(e.c) || readsMemory(e.x) || readsMemory(e.y);
  }
}

const peel = (e: Expr): Expr => (e.k === "cast" ? peel(e.x) : e.k === "sel" ? peel(e.x) : e);
function isContraction(e: Expr): boolean {
  if (e.k !== "reduce" || e.op !== "sum") return false;
  const b = peel(e.body);
  if (b.k !== "bin" || b.op !== "mul") return false;
  const x = peel(b.x), y = peel(b.y);
  return x.k === "load" && y.k === "load" && x.arg !== y.arg;
}

/** What the target backend's code generator can do beyond the kernel IR's plain semantics. */
export interface FusionOptions {
  /**
   * Reductions depending only on a kernel's outer indices are computed once per row, before the
   * innermost loop: producers of row values may then be merged into their consumers (rowfuse.ts).
   */
  rowFusion?: boolean;
}

/** Decide materialisation and build the fused kernels of a program (with the given cost units). */
export function fuse(g: Graph, costs: Partial<FusionCosts> = {}, opts: FusionOptions = {}): Fusion {
  const COST: FusionCosts = { ...DEFAULT_COSTS, ...costs };
  const producer = new Map<number, [number, number]>();
  g.nodes.forEach((n, i) => n.outputs.forEach((v, j) => producer.set(v, [i, j])));
  const consumers = new Map<number, number[]>();
  g.nodes.forEach((n, i) =>
    new Set(n.inputs).forEach((v) => {
      const list = consumers.get(v);
      if (list) list.push(i);
      else consumers.set(v, [i]);
    }),
  );
  const isOutput = new Set(g.outputs);

  // ---- liveness: a node is live when an output is a program output or read by a live node ----
  const live = new Array<boolean>(g.nodes.length).fill(false);
  const used = new Set<number>(g.outputs);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((v) => used.has(v))) {
      live[i] = true;
      n.inputs.forEach((v) => used.add(v));
    }
  }
  const liveConsumers = (v: number) => (consumers.get(v) ?? []).filter((i) => live[i]);

  // ---- materialisation, consumers first ----
  // Evaluation contexts: where a node's expression is evaluated, as (kernel, index map) keys with the
  // number of evaluations. Consumers inside one kernel reading a value at their own index share its
  // evaluation (the kernel computes a shared subexpression once), so they add one context, not one each.
  const info = new Map<number, NodeInfo>();
  const constants = new Map<number, Expr>();
  g.nodes.forEach((n, i) => {
    if (!live[i] || !n.lower) return;
    const inf = analyse(g, n, constants, COST);
    info.set(i, inf);
    if (inf.reads.length === 0) n.outputs.forEach((v, j) => constants.set(v, inf.outs[j]!));
  });
  const contexts = new Map<number, Map<string, number>>();
  const materialized = new Set<number>(g.inputs);
  const plainOnly = new Set<number>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    if (!live[i]) continue;
    const n = g.nodes[i]!;
    if (!n.lower) {
      n.outputs.forEach((v) => materialized.add(v));
      continue;
    }
    const inf = info.get(i)!;
    const outs = n.outputs.filter((v) => used.has(v));
    const forced = outs.some((v) => isOutput.has(v) || liveConsumers(v).some((k) => !g.nodes[k]!.lower));
    const ctx = new Map<string, number>();
    for (const v of outs) {
      for (const k of liveConsumers(v)) {
        if (!g.nodes[k]!.lower) continue;
        info.get(k)!.reads.forEach((r, site) => {
          if (r.value !== v) return;
          for (const [key, count] of contexts.get(k)!) {
            const kk = r.identity ? key : `${key}>${k}.${site}`;
            ctx.set(kk, Math.max(ctx.get(kk) ?? 0, count * r.times));
          }
        });
      }
    }
    let E = 0;
    for (const x of ctx.values()) E += x;
    const count = Math.max(...n.outputs.map((v) => size(g.values[v]!.shape)));
    const plain = outs.some((v) => plainOnly.has(v));
    const plainOk = inf.affine || inf.constant;
    const cheap = E * inf.cost <= count * (inf.cost + COST.store * outs.length) + E * COST.load + COST.kernel;
    const inline = !forced && (!plain || plainOk) && cheap;
    if (inline) {
      // bound the bookkeeping: many contexts collapse into one that counts them all
      contexts.set(i, ctx.size > MAX_CONTEXTS ? new Map([[`*${i}`, E]]) : ctx);
      if (plain && inf.affine) n.inputs.forEach((v) => plainOnly.add(v));
    } else {
      contexts.set(i, new Map([[`#${i}`, count]]));
      outs.forEach((v) => materialized.add(v));
    }
    if (inf.contraction) n.inputs.forEach((v) => plainOnly.add(v));
  }

  // ---- group materialised values into kernels ----
  // Multi-output fusion: a stored value joins an earlier kernel of the same iteration space when they
  // share work (an inlined node or a loaded buffer) or when it reads that kernel's outputs at its own
  // index only (it then uses their values directly rather than loading them), and when it does not
  // depend on that kernel by any other path (which would make a cycle).
  interface Group { shape: readonly number[]; roots: Set<number>; nodes: Set<number>; bufs: Set<number>; contraction: boolean; id: number }
  const groups: Group[] = [];
  const steps: (Step | null)[] = [];
  // dependencies of a step: the stored values it reads
  const stepReads: Set<number>[] = [];
  const producerStep = new Map<number, number>();
  const costly = (ni: number) => info.get(ni)!.reads.length > 0;

  const reach = (root: number): { nodes: Set<number>; bufs: Set<number> } => {
    const nodes = new Set<number>(), bufs = new Set<number>();
    const visit = (ni: number) => {
      if (nodes.has(ni)) return;
      nodes.add(ni);
      for (const u of g.nodes[ni]!.inputs) {
        if (g.values[u]!.literal !== undefined) continue;
        if (materialized.has(u)) bufs.add(u);
        else visit(producer.get(u)![0]);
      }
    };
    visit(producer.get(root)![0]);
    return { nodes, bufs };
  };
  const dependsOn = (bufs: Iterable<number>, target: number): boolean => {
    const seen = new Set<number>();
    const stack = [...bufs];
    while (stack.length) {
      const v = stack.pop()!;
      const s = producerStep.get(v);
      if (s === undefined || seen.has(s)) continue;
      if (s === target) return true;
      seen.add(s);
      stack.push(...stepReads[s]!);
    }
    return false;
  };
  // whether the root reads the values in `outs` only at its own index (through identity reads)
  const identityReads = (root: number, outs: Set<number>): boolean => {
    const seen = new Set<string>();
    const visit = (ni: number, id: boolean): boolean => {
      const key = `${ni}:${id}`;
      if (seen.has(key)) return true;
      seen.add(key);
      for (const r of info.get(ni)!.reads) {
        const ok = id && r.identity;
        if (outs.has(r.value)) {
          if (!ok) return false;
        } else if (!materialized.has(r.value) && !visit(producer.get(r.value)![0], ok)) return false;
      }
      return true;
    };
    return visit(producer.get(root)![0], true);
  };
  const shapeEq = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

  g.nodes.forEach((n, i) => {
    if (!live[i]) return;
    if (!n.lower) {
      const s = steps.length;
      steps.push({ kind: "node", node: i });
      stepReads.push(new Set(n.inputs));
      n.outputs.forEach((v) => producerStep.set(v, s));
      return;
    }
    for (const v of n.outputs) {
      if (!materialized.has(v) || !used.has(v)) continue;
      const { nodes, bufs } = reach(v);
      const contraction = [...nodes].some((x) => info.get(x)!.contraction);
      const shape = g.values[v]!.shape;
      let target: Group | undefined;
      if (!contraction) {
        for (let k = groups.length - 1; k >= 0 && !target; k--) {
          const gr = groups[k]!;
          if (gr.contraction || gr.roots.size >= MAX_OUTPUTS || !shapeEq(gr.shape, shape)) continue;
          const own = new Set([...bufs].filter((b) => gr.roots.has(b)));
          const shares = own.size > 0 || [...nodes].some((x) => costly(x) && gr.nodes.has(x)) || [...bufs].some((x) => gr.bufs.has(x));
          if (!shares || dependsOn([...bufs].filter((b) => !own.has(b)), gr.id)) continue;
          if (own.size > 0 && !identityReads(v, own)) continue;
          target = gr;
        }
      }
      if (!target) {
        target = { shape, roots: new Set(), nodes: new Set(), bufs: new Set(), contraction, id: steps.length };
        groups.push(target);
        steps.push(null);
        stepReads.push(new Set());
      }
      const gr = target;
      gr.roots.add(v);
      nodes.forEach((x) => gr.nodes.add(x));
      bufs.forEach((x) => {
        if (gr.roots.has(x)) return;
        gr.bufs.add(x);
        stepReads[gr.id]!.add(x);
      });
      producerStep.set(v, gr.id);
    }
  });

  for (const gr of groups) steps[gr.id] = { kind: "kernel", fused: buildKernel(g, gr.shape, [...gr.roots], producer, materialized, gr.contraction) };
  return { steps: opts.rowFusion ? rowFuse(g, steps as Step[]) : (steps as Step[]) };
}

/** Lower a group of materialised values sharing an iteration space into one kernel. */
function buildKernel(g: Graph, shape: readonly number[], roots: number[], producer: Map<number, [number, number]>, materialized: Set<number>, contraction: boolean): FusedKernel {
  const sid = new StructIds();
  const vars = new VarGen(shape.length);
  const argOf = new Map<number, number>();
  const inputs: number[] = [];
  const memo = new Map<string, Expr[]>();
  const fusedNodes = new Set<number>();

  const local = new Set(roots);
  const valueAt = (v: number, ix: readonly Expr[]): Expr => {
    const val = g.values[v]!;
    if (val.literal !== undefined) return c(val.literal, val.dtype);
    // an output of this kernel is used where it is computed, not loaded back
    if (materialized.has(v) && !local.has(v)) {
      let a = argOf.get(v);
      if (a === undefined) {
        a = inputs.length;
        inputs.push(v);
        argOf.set(v, a);
      }
      return load(a, linear(ix, val.shape), val.dtype);
    }
    const [ni, j] = producer.get(v)!;
    return lowerNode(ni, ix)[j]!;
  };
  const lowerNode = (ni: number, ix: readonly Expr[]): Expr[] => {
    const key = `${ni}|${sid.key(ix)}`;
    let r = memo.get(key);
    if (!r) {
      const n = g.nodes[ni]!;
      fusedNodes.add(ni);
      r = n.lower!(n.inputs.map((u) => (at: readonly Expr[]) => valueAt(u, at)), ix, vars);
      memo.set(key, r);
    }
    return r;
  };
  const ix = shape.map((_, d) => idx(d));
  const outs = roots.map((v) => {
    const [ni, j] = producer.get(v)!;
    return { dt: g.values[v]!.dtype, expr: lowerNode(ni, ix)[j]! };
  });
  const nodes = [...fusedNodes].sort((a, b) => a - b);
  const names = [...new Set(nodes.map((ni) => g.nodes[ni]!.name))];
  const raw: Kernel = { name: `fused_${names.slice(0, 6).join("_")}`, inputs: inputs.map((v) => g.values[v]!.dtype), shape: [...shape], outs };
  const { kernel, used } = pruneArgs(simplifyKernel(raw));
  return { kernel, inputs: used.map((a) => inputs[a]!), outputs: [...roots], nodes, contraction };
}
