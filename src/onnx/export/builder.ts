/**
 * The graph-building half of ONNX export: unique value names, nodes in the current (sub)graph,
 * initializers (deduplicated by value for small constants and by identity for tensors), int64 shape
 * vectors (static ones as initializers, symbolic ones computed from the inputs' runtime shapes), and
 * lazily broadcast values, which are materialised with Expand only where an operator cannot broadcast.
 */
import { TridentError } from "../../core/errors.js";
import { coerce, f32ToBf16, f32ToF16, storageArray, type DType } from "../../core/dtype.js";
import type { Tensor } from "../../tensor.js";
import { AttrType, DataType, type OnnxAttribute, type OnnxDim, type OnnxGraphProto, type OnnxNodeProto, type OnnxTensorProto, type OnnxValueInfo } from "../proto.js";
import { dimEq, isStatic, type SymDim } from "./poly.js";

/**
 * A value in the ONNX graph. `shape` is the tensor's actual shape, which may be smaller than the
 * program's value it stands for: rank 0 (a scalar to broadcast) or the full rank with 1 on axes
 * still to be broadcast. Elementwise operators broadcast such values themselves.
 */
export interface OVal {
  name: string;
  dtype: DType;
  shape: SymDim[];
}

/** ONNX element type of a Trident dtype. */
export const ELEM: Record<DType, number> = {
  bool: DataType.BOOL, int8: DataType.INT8, uint8: DataType.UINT8, int32: DataType.INT32, uint32: DataType.UINT32,
  float16: DataType.FLOAT16, bfloat16: DataType.BFLOAT16, float32: DataType.FLOAT, float64: DataType.DOUBLE,
};

export type AttrVal = number | number[] | string | { f: number } | { g: OnnxGraphProto } | { floats: number[] };

function toAttr(name: string, v: AttrVal): OnnxAttribute {
  if (typeof v === "number") return { name, type: AttrType.INT, i: v };
  if (typeof v === "string") return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  if ("f" in v) return { name, type: AttrType.FLOAT, f: v.f };
  if ("floats" in v) return { name, type: AttrType.FLOATS, floats: v.floats };
  return { name, type: AttrType.GRAPH, g: v.g };
}

/** ONNX dims of a symbolic shape: sizes, or the polynomial's text as a dim_param. */
export const onnxDims = (shape: readonly SymDim[]): OnnxDim[] => shape.map((d) => (isStatic(d) ? d : d.toString()));

export function valueInfo(name: string, dtype: DType | "int64", shape: readonly SymDim[] | null): OnnxValueInfo {
  const elemType = dtype === "int64" ? DataType.INT64 : ELEM[dtype];
  return { name, type: { kind: "tensor", elemType, shape: shape ? onnxDims(shape) : null } };
}

/** Nodes of one graph; subgraphs see their parents' names. */
export class GraphScope {
  readonly nodes: OnnxNodeProto[] = [];
  constructor(readonly parent: GraphScope | null) {}
}

/** Where each dynamic-axis symbol can be read at run time: an axis of a main-graph input. */
export interface SymSource {
  input: string;
  axis: number;
}

export class Emitter {
  readonly inits: OnnxTensorProto[] = [];
  /** Nodes computing symbolic sizes; they read main-graph inputs only, so they run first. */
  readonly prelude: OnnxNodeProto[] = [];
  readonly main = new GraphScope(null);
  scope: GraphScope = this.main;
  private readonly used = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private readonly tensorNames = new Map<Tensor, string>();
  private readonly dimCache = new Map<string, string>();
  private counter = 0;

  constructor(readonly opset: number, readonly symSources: ReadonlyMap<string, SymSource>) {}

  /** Claim a name chosen by the user (inputs, outputs, parameters). */
  claim(name: string, what: string): string {
    if (!name) throw new TridentError(`onnx.export: ${what} has an empty name`);
    if (this.used.has(name)) throw new TridentError(`onnx.export: the name "${name}" (${what}) is used twice`);
    this.used.add(name);
    return name;
  }

  fresh(hint: string): string {
    let n: string;
    do n = `${hint}_${this.counter++}`;
    while (this.used.has(n));
    this.used.add(n);
    return n;
  }

  /** Add a node to the current graph; returns its output names. */
  node(op: string, inputs: string[], attrs: Record<string, AttrVal> = {}, nOut = 1, into?: OnnxNodeProto[]): string[] {
    const outputs = Array.from({ length: nOut }, () => this.fresh(op.toLowerCase()));
    this.push(op, inputs, outputs, attrs, into);
    return outputs;
  }

  /** One-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrVal> = {}): string {
    return this.node(op, inputs, attrs)[0]!;
  }

  push(op: string, inputs: string[], outputs: string[], attrs: Record<string, AttrVal> = {}, into?: OnnxNodeProto[]): OnnxNodeProto {
    const attributes = Object.entries(attrs).map(([k, v]) => toAttr(k, v));
    const n: OnnxNodeProto = { opType: op, inputs, outputs, attributes, name: outputs[0] ?? "", domain: "" };
    (into ?? this.scope.nodes).push(n);
    return n;
  }

  /** Run fn with a fresh subgraph as the current graph; returns its nodes. */
  inSubgraph<T>(fn: () => T): [T, OnnxNodeProto[]] {
    const prev = this.scope;
    const s = new GraphScope(prev);
    this.scope = s;
    try {
      return [fn(), s.nodes];
    } finally {
      this.scope = prev;
    }
  }

  // ---------------------------------------------------------------- constants

  private addInit(name: string, dtype: number, dims: number[], raw: Uint8Array): string {
    this.inits.push({ name, dims, dataType: dtype, rawData: raw });
    return name;
  }

  /** A constant scalar of a dtype (shape []). */
  scalar(dtype: DType, value: number): string {
    const key = `s:${dtype}:${Object.is(value, -0) ? "-0" : value}`;
    let n = this.constCache.get(key);
    if (!n) {
      const a = storageArray(dtype, 1);
      const v = coerce(dtype, value);
      a[0] = dtype === "float16" ? f32ToF16(v) : dtype === "bfloat16" ? f32ToBf16(v) : v;
      n = this.addInit(this.fresh("c"), ELEM[dtype], [], bytesOf(a));
      this.constCache.set(key, n);
    }
    return n;
  }

  /** A constant int64 tensor (1-D unless `dims` says otherwise). */
  i64(values: readonly (number | bigint)[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join(",")}:${values.join(",")}`;
    let n = this.constCache.get(key);
    if (!n) {
      const a = BigInt64Array.from(values, (v) => (typeof v === "bigint" ? v : BigInt(v)));
      n = this.addInit(this.fresh("i64"), DataType.INT64, dims, bytesOf(a));
      this.constCache.set(key, n);
    }
    return n;
  }

  /** A constant of any dtype and shape from host values. */
  constArray(dtype: DType, dims: number[], values: ArrayLike<number>): string {
    const a = storageArray(dtype, values.length);
    for (let i = 0; i < values.length; i++) {
      const v = coerce(dtype, values[i]!);
      a[i] = dtype === "float16" ? f32ToF16(v) : dtype === "bfloat16" ? f32ToBf16(v) : v;
    }
    return this.addInit(this.fresh("c"), ELEM[dtype], dims, bytesOf(a));
  }

  /** The initializer holding a tensor (once per tensor object), named `name` when given. */
  tensor(t: Tensor, name?: string): string {
    let n = this.tensorNames.get(t);
    if (!n) {
      n = name ? this.claim(name, "an initializer") : this.fresh("const");
      this.addInit(n, ELEM[t.dtype], [...t.shape], bytesOf(t.dataSync()));
      this.tensorNames.set(t, n);
    }
    return n;
  }

  // ---------------------------------------------------------------- symbolic integers

  /** An int64 tensor of shape [1] holding d at run time. */
  dimVec(d: SymDim): string {
    if (isStatic(d)) return this.i64([d]);
    const key = d.key();
    let n = this.dimCache.get(key);
    if (n) return n;
    let acc: string | null = null;
    for (const [mono, c] of d.terms) {
      let term: string | null = null;
      if (mono) for (const s of mono.split("*")) term = term === null ? this.symbol(s) : this.node("Mul", [term, this.symbol(s)], {}, 1, this.prelude)[0]!;
      if (term === null) term = this.i64([c]);
      else if (c !== 1) term = this.node("Mul", [term, this.i64([c])], {}, 1, this.prelude)[0]!;
      acc = acc === null ? term : this.node("Add", [acc, term], {}, 1, this.prelude)[0]!;
    }
    n = acc ?? this.i64([0]);
    this.dimCache.set(key, n);
    return n;
  }

  private symbol(s: string): string {
    const key = `sym:${s}`;
    let n = this.dimCache.get(key);
    if (!n) {
      const src = this.symSources.get(s);
      if (!src) throw new TridentError(`onnx.export: no input has the dynamic axis "${s}"`);
      // Shape's start/end arrived in opset 15; before that, gather the axis from the whole shape
      n = this.opset >= 15
        ? this.node("Shape", [src.input], { start: src.axis, end: src.axis + 1 }, 1, this.prelude)[0]!
        : this.node("Gather", [this.node("Shape", [src.input], {}, 1, this.prelude)[0]!, this.i64([src.axis])], {}, 1, this.prelude)[0]!;
      this.dimCache.set(key, n);
    }
    return n;
  }

  /** An int64 scalar (shape []) holding d. */
  dimScalar(d: SymDim): string {
    if (isStatic(d)) return this.i64([d], []);
    const key = `scalar:${d.key()}`;
    let n = this.dimCache.get(key);
    if (!n) {
      n = this.node("Squeeze", [this.dimVec(d), this.i64([0])], {}, 1, this.prelude)[0]!;
      this.dimCache.set(key, n);
    }
    return n;
  }

  /** A 1-D int64 tensor of the given (possibly symbolic) integers. */
  intVec(ds: readonly SymDim[]): string {
    if (ds.every(isStatic)) return this.i64(ds as number[]);
    const key = `vec:${ds.map((d) => (isStatic(d) ? d : d.key())).join(",")}`;
    let n = this.dimCache.get(key);
    if (n) return n;
    const parts: string[] = [];
    let run: number[] = [];
    for (const d of ds) {
      if (isStatic(d)) run.push(d);
      else {
        if (run.length) parts.push(this.i64(run));
        run = [];
        parts.push(this.dimVec(d));
      }
    }
    if (run.length) parts.push(this.i64(run));
    n = parts.length === 1 ? parts[0]! : this.node("Concat", parts, { axis: 0 }, 1, this.prelude)[0]!;
    this.dimCache.set(key, n);
    return n;
  }

  // ---------------------------------------------------------------- broadcasting

  /** The name of v expanded to the full shape `target` (v itself when it already has it). */
  materialize(v: OVal, target: readonly SymDim[]): string {
    if (v.shape.length === target.length && v.shape.every((d, i) => dimEq(d, target[i]!))) return v.name;
    if (v.shape.length !== 0 && v.shape.length !== target.length) {
      throw new Error(`onnx.export: internal: value of shape [${v.shape}] cannot broadcast to [${target}]`);
    }
    // Expand broadcasts against its shape argument, so axes v already has can stay 1
    const want = target.map((d, i) => (v.shape.length && dimEq(v.shape[i]!, d) ? 1 : d));
    return this.op("Expand", [v.name, this.intVec(want)]);
  }
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/** The shape of an elementwise result of lazily broadcast operands. */
export function broadcastShapes(shapes: readonly (readonly SymDim[])[]): SymDim[] {
  const full = shapes.filter((s) => s.length > 0);
  if (full.length === 0) return [];
  const r = full[0]!.length;
  const out: SymDim[] = [];
  for (let i = 0; i < r; i++) {
    let d: SymDim = 1;
    for (const s of full) if (!(isStatic(s[i]!) && s[i] === 1)) d = s[i]!;
    out.push(d);
  }
  return out;
}
