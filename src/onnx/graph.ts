/**
 * Load-time preparation of ONNX graphs (topological order, name resolution, operator and dtype checks)
 * and the interpreter that evaluates a prepared graph with Trident ops. The interpreter is a plain
 * function of its input values, so tracing it (jit, grad, vmap) records Trident primitives only; nodes
 * whose inputs are all concrete run eagerly even under jit, which is how shape subgraphs
 * (Shape → Gather → Concat → Reshape) fold to constants and keep the model jittable.
 */
import { TridentError, fail } from "../core/errors.js";
import { newDynamic, traceStack } from "../core/trace.js";
import { convert } from "../core/prims/elementwise.js";
import { OnnxUnsupportedError, type MissingOperator } from "./errors.js";
import { Attrs, lookup, type OpCtx } from "./ops/registry.js";
import { AttrType, dataTypeName, type OnnxAttribute, type OnnxFunctionProto, type OnnxGraphProto, type OnnxNodeProto, type OnnxType } from "./proto.js";
import { TVal, dtypeOf, isSupportedElem, tensorFromProto, type ExternalReader, type Value } from "./values.js";

/** Highest default-domain opset this importer knows. */
export const MAX_OPSET = 27;

export interface PreparedGraph {
  graph: OnnxGraphProto;
  /** Nodes in dependency order. */
  order: OnnxNodeProto[];
  /** Decoded initializers (host values; tensors materialise on first use). */
  inits: Map<string, TVal>;
  /** Names the graph reads from enclosing graphs. */
  free: Set<string>;
}

/** A variable scope; subgraphs see their enclosing graphs' values. */
export class Scope {
  readonly vars = new Map<string, Value>();
  constructor(readonly parent: Scope | null) {}
  get(name: string): Value | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const v = s.vars.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }
}

const nodeLabel = (n: OnnxNodeProto, i: number): string => (n.name ? `"${n.name}"` : `#${i} (outputs ${n.outputs.filter(Boolean).join(", ") || "none"})`);

function subgraphsOf(n: OnnxNodeProto): OnnxGraphProto[] {
  const gs: OnnxGraphProto[] = [];
  for (const a of n.attributes) {
    if (a.g) gs.push(a.g);
    if (a.graphs) gs.push(...a.graphs);
  }
  return gs;
}

/** Everything load-time checks find, reported together. */
class Problems {
  missing = new Map<string, MissingOperator>();
  other: string[] = [];
  addMissing(domain: string, opType: string, version: number, node: string): void {
    const k = `${domain}::${opType}`;
    let m = this.missing.get(k);
    if (!m) this.missing.set(k, (m = { domain, opType, version, nodes: [] }));
    if (m.nodes.length < 20) m.nodes.push(node);
  }
  throwIfAny(): void {
    if (this.missing.size === 0 && this.other.length === 0) return;
    const parts: string[] = [];
    if (this.missing.size) {
      const list = [...this.missing.values()].map((m) => `${m.domain ? m.domain + "." : ""}${m.opType} (opset ${m.version}; nodes ${m.nodes.join(", ")})`);
      parts.push(`unsupported operators: ${list.join("; ")}`);
    }
    if (this.other.length) parts.push(this.other.slice(0, 20).join("; "));
    throw new OnnxUnsupportedError(`onnx.load: ${parts.join(". ")}`, [...this.missing.values()]);
  }
}

/** The model-wide facts the interpreter needs. */
export class ModelContext {
  readonly prepared = new WeakMap<OnnxGraphProto, PreparedGraph>();
  readonly functions = new Map<string, OnnxFunctionProto>();
  constructor(
    readonly opsets: Map<string, number>,
    functions: readonly OnnxFunctionProto[],
    readonly external?: ExternalReader,
  ) {
    for (const f of functions) this.functions.set(`${f.domain}::${f.name}`, f);
  }
  opsetOf(domain: string): number {
    const d = domain === "ai.onnx" ? "" : domain;
    return this.opsets.get(d) ?? (d === "" ? MAX_OPSET : 1);
  }
  functionFor(n: OnnxNodeProto): OnnxFunctionProto | undefined {
    return this.functions.get(`${n.domain}::${n.opType}`);
  }

  /** Check and order a graph (and its subgraphs); `outer` holds names visible from enclosing graphs. */
  prepare(g: OnnxGraphProto, outer: ReadonlySet<string>, problems = new Problems(), what = "graph"): PreparedGraph {
    const known = new Set<string>();
    const inits = new Map<string, TVal>();
    for (const t of g.initializers) {
      if (!t.name) fail("onnx.load", `${what}: an initializer has no name`);
      try {
        inits.set(t.name, tensorFromProto(t, this.external));
      } catch (e) {
        if (e instanceof OnnxUnsupportedError) problems.other.push(e.message.replace(/^onnx: /, ""));
        else throw e;
      }
      known.add(t.name);
    }
    for (const s of g.sparseInitializers) problems.other.push(`sparse initializer "${s.values.name}" is not supported`);
    for (const v of g.inputs) {
      if (!v.name) fail("onnx.load", `${what}: a graph input has no name`);
      checkType(v.type, `input "${v.name}"`, problems);
      known.add(v.name);
    }
    for (const v of g.outputs) checkType(v.type, `output "${v.name}"`, problems);

    // producers, with duplicate outputs rejected (graphs are in SSA form)
    const producer = new Map<string, number>();
    g.nodes.forEach((n, i) => {
      if (!n.opType) fail("onnx.load", `${what}: node ${nodeLabel(n, i)} has no op_type`);
      for (const o of n.outputs) {
        if (!o) continue;
        if (producer.has(o) || known.has(o)) fail("onnx.load", `${what}: value "${o}" is produced more than once (node ${nodeLabel(n, i)})`);
        producer.set(o, i);
      }
    });

    // dependencies: direct inputs and the outer names subgraphs read
    const free = new Set<string>();
    const deps: number[][] = g.nodes.map(() => []);
    g.nodes.forEach((n, i) => {
      const label = nodeLabel(n, i);
      this.checkOp(n, label, problems);
      const needs = n.inputs.filter((x) => x !== "");
      const subs = subgraphsOf(n);
      if (subs.length) {
        const visible = new Set([...outer, ...known, ...producer.keys()]);
        for (const sg of subs) needs.push(...this.prepare(sg, visible, problems, `subgraph "${sg.name}" of node ${label}`).free);
      }
      for (const x of needs) {
        const p = producer.get(x);
        if (p !== undefined) deps[i]!.push(p);
        else if (!known.has(x)) {
          if (outer.has(x)) free.add(x);
          else fail("onnx.load", `${what}: node ${label} (${n.opType}) reads "${x}", which no node, graph input or initializer provides`);
        }
      }
    });

    // Kahn's algorithm, keeping file order among ready nodes
    const indeg = deps.map((d) => d.length);
    const users: number[][] = g.nodes.map(() => []);
    deps.forEach((d, i) => d.forEach((p) => users[p]!.push(i)));
    const order: OnnxNodeProto[] = [];
    const ready: number[] = [];
    indeg.forEach((d, i) => d === 0 && ready.push(i));
    ready.reverse();
    while (ready.length) {
      const i = ready.pop()!;
      order.push(g.nodes[i]!);
      const next: number[] = [];
      for (const u of users[i]!) if (--indeg[u]! === 0) next.push(u);
      ready.push(...next.sort((a, b) => b - a));
    }
    if (order.length !== g.nodes.length) {
      const stuck = g.nodes.flatMap((n, i) => (indeg[i]! > 0 ? [nodeLabel(n, i)] : []));
      fail("onnx.load", `${what}: the graph has a cycle through nodes ${stuck.slice(0, 10).join(", ")}${stuck.length > 10 ? ", ..." : ""}`);
    }
    for (const v of g.outputs) {
      if (!producer.has(v.name) && !known.has(v.name) && !outer.has(v.name)) fail("onnx.load", `${what}: output "${v.name}" is not produced by any node`);
      if (!producer.has(v.name) && !known.has(v.name)) free.add(v.name);
    }
    const p: PreparedGraph = { graph: g, order, inits, free };
    this.prepared.set(g, p);
    return p;
  }

  private checkOp(n: OnnxNodeProto, label: string, problems: Problems): void {
    const version = this.opsetOf(n.domain);
    const fn = this.functionFor(n);
    if (fn) {
      if (!this.functionGraphs.has(fn)) {
        if (this.preparing.has(fn)) fail("onnx.load", `function ${fn.name} calls itself (node ${label})`);
        this.preparing.add(fn);
        this.prepareFunction(fn, problems);
        this.preparing.delete(fn);
      }
      return;
    }
    const d = lookup(n.domain, n.opType);
    if (!d) {
      problems.addMissing(n.domain, n.opType, version, label);
      return;
    }
    if (n.domain === "" && version > MAX_OPSET) problems.other.push(`opset ${version} is newer than the newest supported (${MAX_OPSET})`);
    if (d.check) {
      try {
        d.check(new Attrs(`${n.opType} ${label}`, n.attributes), version, n);
      } catch (e) {
        if (e instanceof OnnxUnsupportedError) problems.other.push(e.message);
        else throw e;
      }
    }
  }

  private prepareFunction(f: OnnxFunctionProto, problems: Problems): void {
    const g: OnnxGraphProto = {
      name: f.name, nodes: f.nodes, initializers: [], sparseInitializers: [],
      inputs: f.inputs.map((name) => ({ name, type: null })), outputs: f.outputs.map((name) => ({ name, type: null })), valueInfo: [],
    };
    this.functionGraphs.set(f, this.prepare(g, new Set(), problems, `function ${f.name}`));
  }
  readonly functionGraphs = new Map<OnnxFunctionProto, PreparedGraph>();
  private readonly preparing = new Set<OnnxFunctionProto>();

  /** Prepare the main graph, throwing one OnnxUnsupportedError that lists everything missing. */
  prepareMain(g: OnnxGraphProto): PreparedGraph {
    const problems = new Problems();
    const p = this.prepare(g, new Set(), problems, "graph");
    problems.throwIfAny();
    return p;
  }

  // ---------------------------------------------------------------- evaluation

  /** Evaluate a prepared graph: bind inputs in `scope`, run nodes in order, return the outputs. */
  evalGraph(p: PreparedGraph, scope: Scope): Value[] {
    for (const [k, v] of p.inits) if (!scope.vars.has(k)) scope.vars.set(k, v);
    for (const n of p.order) this.evalNode(n, scope);
    return p.graph.outputs.map((o) => {
      const v = scope.get(o.name);
      if (v === undefined) fail("onnx", `output "${o.name}" was not computed`);
      return v;
    });
  }

  /** Evaluate a subgraph attribute with its formal inputs bound to values. */
  evalSubgraph(g: OnnxGraphProto, parent: Scope, inputs: readonly Value[]): Value[] {
    const p = this.prepared.get(g);
    if (!p) fail("onnx", `subgraph "${g.name}" was not prepared`);
    const s = new Scope(parent);
    g.inputs.forEach((v, i) => {
      const x = inputs[i];
      if (x !== undefined && x !== null) s.vars.set(v.name, x);
    });
    return this.evalGraph(p, s);
  }

  evalNode(n: OnnxNodeProto, scope: Scope, callerAttrs?: Attrs): void {
    const ins = n.inputs.map((name) => {
      if (name === "") return null;
      const v = scope.get(name);
      if (v === undefined) fail("onnx", `node ${n.name || n.opType} reads "${name}", which has no value`);
      return v;
    });
    const attrs = callerAttrs ? resolveRefs(n.attributes, callerAttrs) : n.attributes;
    const label = `${n.opType}${n.name ? ` "${n.name}"` : ""}`;
    let outs: (Value | null)[];
    try {
      const fn = this.functionFor(n);
      if (fn) outs = this.callFunction(fn, n, ins, new Attrs(label, attrs));
      else {
        const d = lookup(n.domain, n.opType);
        if (!d) throw new OnnxUnsupportedError(`onnx: unsupported operator ${n.domain ? n.domain + "." : ""}${n.opType}`);
        const ctx: OpCtx = {
          node: n, op: label, opset: this.opsetOf(n.domain), attrs: new Attrs(label, attrs), nOut: n.outputs.length,
          subgraph: (g, inputs) => this.evalSubgraph(g, scope, inputs),
        };
        const fold = !d.noFold && subgraphsOf(n).length === 0 && ins.every((v) => v === null || isConcrete(v));
        outs = fold ? eagerly(() => d.run(ins, ctx)) : d.run(ins, ctx);
      }
    } catch (e) {
      if (e instanceof TridentError && !e.message.startsWith("onnx node")) {
        // op errors already start with the node label; say once that it is a node of the model
        const msg = `onnx node ${e.message.startsWith(`${label}: `) ? e.message : `${label}: ${e.message}`}`;
        throw e instanceof OnnxUnsupportedError ? new OnnxUnsupportedError(msg, e.missing) : new TridentError(msg);
      }
      throw e;
    }
    n.outputs.forEach((name, i) => {
      if (!name) return;
      const v = outs[i];
      if (v === undefined || v === null) fail("onnx", `node ${label} did not produce output ${i} ("${name}")`);
      scope.vars.set(name, normalise(v));
    });
  }

  private callFunction(f: OnnxFunctionProto, n: OnnxNodeProto, ins: (Value | null)[], attrs: Attrs): (Value | null)[] {
    const p = this.functionGraphs.get(f)!;
    const s = new Scope(null);
    f.inputs.forEach((name, i) => {
      const v = ins[i];
      if (v) s.vars.set(name, v);
    });
    // attribute defaults declared by the function, overridden by the call site
    const bound = new Map<string, OnnxAttribute>();
    for (const a of f.attributeProtos) bound.set(a.name, a);
    for (const name of attrs.names()) bound.set(name, attrs.get(name)!);
    const caller = new Attrs(attrs.op, [...bound.values()]);
    for (const node of p.order) this.evalNode(node, s, caller);
    return n.outputs.map((_, i) => (f.outputs[i] ? (s.get(f.outputs[i]!) ?? null) : null));
  }
}

function resolveRefs(attrs: readonly OnnxAttribute[], caller: Attrs): OnnxAttribute[] {
  const out: OnnxAttribute[] = [];
  for (const a of attrs) {
    if (!a.refAttrName) out.push(a);
    else {
      const r = caller.get(a.refAttrName);
      if (r) out.push({ ...r, name: a.name });
    }
  }
  return out;
}

function checkType(t: OnnxType | null, what: string, problems: Problems): void {
  if (!t) return;
  switch (t.kind) {
    case "tensor":
      if (t.elemType !== 0 && !isSupportedElem(t.elemType)) problems.other.push(`${what} has type ${dataTypeName(t.elemType)}, which Trident cannot represent`);
      return;
    case "sequence": case "optional":
      checkType(t.elem, what, problems);
      return;
    case "sparse_tensor":
      problems.other.push(`${what} is a sparse tensor, which is not supported`);
      return;
    case "map":
      problems.other.push(`${what} is a map, which is not supported`);
      return;
  }
}

function isConcrete(v: Value): boolean {
  if (v.kind === "tensor") return v.concrete;
  if (v.kind === "seq") return v.items.every(isConcrete);
  return v.value === null || isConcrete(v.value);
}

/** Run fn eagerly even inside jit tracing (its inputs are concrete, so its results are constants). */
export function eagerly<T>(fn: () => T): T {
  return newDynamic(traceStack[0]!, fn);
}

/** Make a tensor value's Trident dtype the one its ONNX type is held in. */
function normalise(v: Value): Value {
  if (v.kind !== "tensor" || !v.materialised) return v;
  const dt = dtypeOf(v.elem);
  return v.t.dtype === dt ? v : new TVal(v.elem, v.shape, convert(v.t, dt));
}

export { AttrType };
