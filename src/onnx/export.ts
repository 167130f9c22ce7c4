/**
 * ONNX export: a Trident function or module traced to a jaxpr and written as an ONNX ModelProto
 * (default opset 17), runnable in ONNX Runtime. Each equation becomes one or a few ONNX nodes
 * (export/rules-*.ts); closed-over tensors become initializers, named by `params` (a module's state
 * dict names for exportModule). Dynamic axes are supported by tracing at several sizes and fitting
 * every size-dependent number as a polynomial in the axis symbols (export/poly.ts, export/align.ts).
 * @example
 * const bytes = onnx.exportModule(model, [tr.zeros([1, 1, 28, 28])], "mnist.onnx", { dynamicAxes: { input: { 0: "batch" } } });
 */
import { TridentError, fail } from "../core/errors.js";
import { ShapedArray } from "../core/aval.js";
import { ClosedJaxpr, traceToJaxpr } from "../core/jaxpr.js";
import { treeDefKey, treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { Tensor } from "../tensor.js";
import { noGrad } from "../tape.js";
import { functionalCall, type Module } from "../nn/module.js";
import { encodeModel, type OnnxGraphProto, type OnnxModelProto, type OnnxNodeProto } from "./proto.js";
import { alignTraces } from "./export/align.js";
import { Emitter, valueInfo, type OVal, type SymSource } from "./export/builder.js";
import { JaxprEmitter } from "./export/emit.js";
import { traceCount, traceValues, type FitPlan } from "./export/poly.js";
import "./export/rules-elementwise.js";
import "./export/rules-array.js";
import "./export/rules-linalg.js";
import "./export/rules-window.js";
import "./export/rules-control.js";

const OP = "onnx.export";

/** Options of exportFunction / exportModule. */
export interface ExportOptions {
  /** Graph input names, one per tensor leaf of the example arguments (default input_0, ... or "input"). */
  inputNames?: string[];
  /** Graph output names, one per tensor leaf of the result (default output_0, ... or "output"). */
  outputNames?: string[];
  /** Default-domain opset, 13 to 22 (default 17). */
  opset?: number;
  /**
   * Axes whose size may change at run time, by input name: `{ input: { 0: "batch" } }` names the
   * symbol, `{ input: [0] }` names it `<input>_dim0`. Inputs sharing a symbol must share the size.
   */
  dynamicAxes?: Record<string, Record<number, string> | number[]>;
  /** Names for tensors the function closes over (its parameters); others become const_N. */
  params?: Record<string, Tensor>;
  /** Graph name (default "trident"). */
  graphName?: string;
  /** Extra key/value pairs stored in the model's metadata_props. */
  metadata?: Record<string, string>;
}

const IR_FOR_OPSET: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10 };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => unknown;

/**
 * Trace `fn` at `exampleArgs` (a list of arguments, pytrees of tensors) and encode it as an ONNX model;
 * also writes it to `path` when given (Node).
 * @example const bytes = onnx.exportFunction((x) => x.sin().mul(2), [tr.ones([3])]);
 */
export function exportFunction(fn: Fn, exampleArgs: readonly unknown[], path?: string | ExportOptions, opts: ExportOptions = {}): Uint8Array {
  if (typeof path === "object") [opts, path] = [path, undefined];
  if (!Array.isArray(exampleArgs)) fail(OP, `exampleArgs must be the list of arguments to call fn with, got ${typeof exampleArgs}`);
  const opset = opts.opset ?? 17;
  if (!(opset in IR_FOR_OPSET)) fail(OP, `opset must be an integer from 13 to 22, got ${opset}`);
  const [leaves, inDef] = treeFlatten(exampleArgs);
  const inputs = leaves.map((l, i) => {
    if (!(l instanceof Tensor)) fail(OP, `argument leaf ${i} is ${l === null ? "null" : typeof l}; export inputs must be tensors (close over other values instead)`);
    return l;
  });
  const inputNames = opts.inputNames ?? (inputs.length === 1 ? ["input"] : inputs.map((_, i) => `input_${i}`));
  if (inputNames.length !== inputs.length) fail(OP, `inputNames has ${inputNames.length} names but the arguments hold ${inputs.length} tensors`);
  const { plan, axes, sources } = planAxes(opts.dynamicAxes ?? {}, inputNames, inputs);

  let outDef: TreeDef | null = null;
  const traces: ClosedJaxpr[] = [];
  for (let t = 0; t < traceCount(plan); t++) {
    const vals = traceValues(plan, t);
    const avals = inputs.map((x, i) => new ShapedArray(x.shape.map((d, a) => (axes[i]!.has(a) ? vals.get(axes[i]!.get(a)!)! : d)), x.dtype));
    let def: TreeDef | null = null;
    const flat = (...xs: Tensor[]): Tensor[] => {
      const [outs, d] = treeFlatten(fn(...treeUnflatten<unknown[]>(inDef, xs)));
      def = d;
      return outs.map((o, i) => {
        if (!(o instanceof Tensor)) fail(OP, `output leaf ${i} is ${o === null ? "null" : typeof o}; the function must return tensors`);
        return o;
      });
    };
    let closed: ClosedJaxpr;
    try {
      closed = noGrad(() => traceToJaxpr(flat, avals));
    } catch (e) {
      if (t === 0 || !(e instanceof Error)) throw e;
      throw new TridentError(`${OP}: tracing with dynamic axes at sizes ${[...vals].map(([s, n]) => `${s}=${n}`).join(", ")} failed: ${e.message}`);
    }
    if (outDef === null) outDef = def;
    else if (treeDefKey(outDef) !== treeDefKey(def!)) fail(OP, "the function returns a different structure at different sizes of its dynamic axes");
    traces.push(closed);
  }
  const closed = traces[0]!;
  const nOut = closed.jaxpr.outs.length;
  const outputNames = opts.outputNames ?? (nOut === 1 ? ["output"] : Array.from({ length: nOut }, (_, i) => `output_${i}`));
  if (outputNames.length !== nOut) fail(OP, `outputNames has ${outputNames.length} names but the function returns ${nOut} tensors`);

  const ann = alignTraces(plan, traces);
  const em = new Emitter(opset, sources);
  const paramNames = new Map<Tensor, string>();
  for (const [k, t] of Object.entries(opts.params ?? {})) if (t instanceof Tensor && !paramNames.has(t)) paramNames.set(t, k);
  inputNames.forEach((n) => em.claim(n, "an input"));
  outputNames.forEach((n) => em.claim(n, "an output"));
  const nConsts = closed.consts.length;
  const binders = closed.jaxpr.inBinders;
  const constVals: OVal[] = closed.consts.map((t) => ({ name: em.tensor(t, paramNames.get(t)), dtype: t.dtype, shape: [...t.shape] }));
  const inVals: OVal[] = inputs.map((x, i) => ({ name: inputNames[i]!, dtype: x.dtype, shape: ann.shapes.get(binders[nConsts + i]!)! }));
  const jx = new JaxprEmitter(em, ann);
  const outs = jx.emit(closed.jaxpr, [...constVals, ...inVals]);
  const outShapes = closed.jaxpr.outs.map((a) => jx.atomShape(a));
  outs.forEach((o, i) => em.push("Identity", [em.materialize(o, outShapes[i]!)], [outputNames[i]!]));

  const graph: OnnxGraphProto = {
    name: opts.graphName ?? "trident",
    nodes: [...em.prelude, ...em.main.nodes],
    initializers: em.inits,
    sparseInitializers: [],
    inputs: inVals.map((v) => valueInfo(v.name, v.dtype, v.shape)),
    outputs: outs.map((o, i) => valueInfo(outputNames[i]!, o.dtype, outShapes[i]!)),
    valueInfo: [],
  };
  const live = prune(graph);
  graph.initializers = graph.initializers.filter((t) => live.has(t.name));
  const model: OnnxModelProto = {
    irVersion: IR_FOR_OPSET[opset]!,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "trident",
    producerVersion: "0.1.0",
    domain: "",
    modelVersion: 0,
    docString: "",
    graph,
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    functions: [],
  };
  const bytes = encodeModel(model);
  if (path !== undefined) writeFile(path, bytes);
  return bytes;
}

/**
 * Export a module's forward pass in eval mode, its parameters and buffers as initializers named by
 * their state-dict names.
 * @example onnx.exportModule(net, [tr.zeros([1, 784])], "net.onnx", { dynamicAxes: { input: { 0: "batch" } } })
 */
export function exportModule(module: Module, exampleInputs: Tensor | readonly unknown[], path?: string | ExportOptions, opts: ExportOptions = {}): Uint8Array {
  if (typeof path === "object") [opts, path] = [path, undefined];
  const args = exampleInputs instanceof Tensor ? [exampleInputs] : exampleInputs;
  const params = opts.params ?? module.stateDict();
  const modes = module.namedModules().map(([, m]) => [m, m.training] as const);
  module.eval();
  try {
    const f = (...xs: unknown[]) => functionalCall(module as Module & { forward(...a: never[]): unknown }, params, ...xs);
    return exportFunction(f, args, path, { ...opts, params });
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
}

/** Resolve dynamicAxes into the fitting plan, per-input symbol maps and where each symbol is read. */
function planAxes(spec: Record<string, Record<number, string> | number[]>, names: readonly string[], inputs: readonly Tensor[]) {
  const axes = inputs.map(() => new Map<number, string>());
  const size = new Map<string, number>();
  const sources = new Map<string, SymSource>();
  for (const [name, ax] of Object.entries(spec)) {
    const i = names.indexOf(name);
    if (i < 0) fail(OP, `dynamicAxes names input "${name}", but the inputs are ${names.map((n) => `"${n}"`).join(", ")}`);
    const x = inputs[i]!;
    const entries: [number, string][] = Array.isArray(ax) ? ax.map((a) => [a, `${name}_dim${a}`]) : Object.entries(ax).map(([a, s]) => [Number(a), s]);
    for (const [a0, sym] of entries) {
      const a = a0 < 0 ? a0 + x.ndim : a0;
      if (!Number.isInteger(a) || a < 0 || a >= x.ndim) fail(OP, `dynamicAxes["${name}"] names axis ${a0}, out of range for shape [${x.shape}]`);
      if (typeof sym !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(sym)) fail(OP, `dynamicAxes["${name}"][${a0}] must be an identifier naming the axis, got ${JSON.stringify(sym)}`);
      const n = x.shape[a]!;
      if (size.has(sym) && size.get(sym) !== n) fail(OP, `dynamic axis "${sym}" has size ${size.get(sym)} in one input and ${n} in "${name}"; inputs sharing an axis name must agree`);
      size.set(sym, n);
      axes[i]!.set(a, sym);
      if (!sources.has(sym)) sources.set(sym, { input: name, axis: a });
    }
  }
  const symbols = [...size.keys()];
  if (symbols.length > 4) fail(OP, `at most 4 distinct dynamic axes are supported (each doubles the traces), got ${symbols.length}`);
  // size 1 may broadcast where larger sizes do not, so the exported trace uses at least 2
  const plan: FitPlan = { symbols, base: symbols.map((s) => Math.max(2, size.get(s)!)) };
  return { plan, axes, sources };
}

/** Drop nodes whose outputs nothing reads (subgraphs included); returns every name still read. */
function prune(g: OnnxGraphProto): Set<string> {
  const live = new Set<string>(g.outputs.map((o) => o.name));
  g.nodes = pruneNodes(g.nodes, live);
  return live;
}

function pruneNodes(nodes: OnnxNodeProto[], live: Set<string>): OnnxNodeProto[] {
  const kept: OnnxNodeProto[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!n.outputs.some((o) => live.has(o))) continue;
    kept.push(n);
    for (const i of n.inputs) if (i) live.add(i);
    for (const a of n.attributes) {
      // names a subgraph reads from enclosing scopes stay live; internal names are unique, so sharing the set is safe
      for (const sg of a.g ? [a.g] : a.graphs ?? []) {
        for (const o of sg.outputs) live.add(o.name);
        sg.nodes = pruneNodes(sg.nodes, live);
      }
    }
  }
  return kept.reverse();
}

function writeFile(path: string, bytes: Uint8Array): void {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.("node:fs") as { writeFileSync(p: string, b: Uint8Array): void } | undefined;
  if (!fs) fail(OP, `writing "${path}" needs Node's fs module (Node 20.16 or later); without a path the bytes are returned`);
  fs.writeFileSync(path, bytes);
}

export type { OVal };
