/**
 * `onnx.load`: an ONNX model as a Trident function. `model.run(feeds)` evaluates it eagerly;
 * `model.fn(feeds, params?)` is the same computation as a pure function of tensors, so `tr.jit`,
 * `tr.grad` (fine-tuning the initializers in `model.initializers`) and `tr.vmap` apply to it.
 */
import { fail, fmtShape } from "../core/errors.js";
import type { TypedArray } from "../core/dtype.js";
import { Tensor } from "../tensor.js";
import { OnnxUnsupportedError } from "./errors.js";
import { MAX_OPSET, ModelContext, Scope, type PreparedGraph } from "./graph.js";
import { lookup } from "./ops/registry.js";
import { dataTypeName, decodeModel, DataType, type OnnxDim, type OnnxModelProto, type OnnxType } from "./proto.js";
import { TVal, dtypeOf, elemOfDtype, isFloatElem, toNative, type ExternalReader, type NativeValue, type Value } from "./values.js";
import "./ops/index.js";

/** Metadata of a model input or output. */
export interface OnnxIOInfo {
  name: string;
  /** "tensor", "sequence" (of tensors) or "optional". */
  kind: "tensor" | "sequence" | "optional" | "unknown";
  /** ONNX element type name ("float", "int64", ...), null when the model does not say. */
  dtype: string | null;
  /** Dimensions: sizes, symbolic names (e.g. "batch"), or null for unknown; null when the rank is unknown. */
  shape: OnnxDim[] | null;
}

/** Host data with a shape, for feeding a model without making a tensor first. */
export interface OnnxArrayFeed {
  data: TypedArray | BigInt64Array | BigUint64Array | Int16Array | Uint16Array | readonly number[] | readonly boolean[];
  shape: readonly number[];
}
/** A model input: a tensor, host data with a shape, a list (sequence inputs), or null (an empty optional). */
export type OnnxFeed = Tensor | OnnxArrayFeed | readonly OnnxFeed[] | null;

/** A model result: a tensor, a list of results (sequences), or null (an empty optional). */
export type OnnxValue = Tensor | OnnxValue[] | null;

export interface LoadOptions {
  /** Folder that external tensor data files are relative to (defaults to the model file's folder). */
  baseDir?: string;
}

function infoOf(name: string, t: OnnxType | null): OnnxIOInfo {
  if (!t || t.kind === "unknown") return { name, kind: "unknown", dtype: null, shape: null };
  if (t.kind === "tensor") return { name, kind: "tensor", dtype: t.elemType ? dataTypeName(t.elemType) : null, shape: t.shape ? [...t.shape] : null };
  if (t.kind === "sequence" || t.kind === "optional") {
    const e = t.elem && t.elem.kind === "tensor" ? t.elem : null;
    return { name, kind: t.kind, dtype: e && e.elemType ? dataTypeName(e.elemType) : null, shape: e?.shape ? [...e.shape] : null };
  }
  return { name, kind: "unknown", dtype: null, shape: null };
}

const tensorElem = (t: OnnxType | null): number => {
  if (!t) return 0;
  if (t.kind === "tensor") return t.elemType;
  if ((t.kind === "sequence" || t.kind === "optional") && t.elem) return tensorElem(t.elem);
  return 0;
};

/** An imported ONNX model. */
export class OnnxModel {
  /** The decoded ModelProto. */
  readonly proto: OnnxModelProto;
  readonly inputs: OnnxIOInfo[];
  readonly outputs: OnnxIOInfo[];
  /** Default-domain opset version. */
  readonly opset: number;
  /**
   * Floating-point initializers as tensors: the parameters, to differentiate or replace through
   * `fn(feeds, params)`. Integer initializers and ones read as shapes stay constants of the model.
   */
  readonly initializers: Record<string, Tensor>;
  /**
   * The model as a pure function of tensors: `fn(feeds, params?)` → outputs by name. `params` replaces
   * initializers by name (defaults: `initializers`). Built from Trident ops only, so jit/grad/vmap apply.
   */
  readonly fn: (feeds: Record<string, Tensor>, params?: Record<string, Tensor>) => Record<string, Tensor>;

  private readonly ctx: ModelContext;
  private readonly main: PreparedGraph;
  private readonly inputTypes = new Map<string, OnnxType | null>();

  constructor(proto: OnnxModelProto, external?: ExternalReader) {
    this.proto = proto;
    const opsets = new Map<string, number>();
    for (const o of proto.opsetImport) opsets.set(o.domain === "ai.onnx" ? "" : o.domain, o.version);
    this.opset = opsets.get("") ?? MAX_OPSET;
    if (this.opset > MAX_OPSET) throw new OnnxUnsupportedError(`onnx.load: the model imports opset ${this.opset}; the newest supported is ${MAX_OPSET}`);
    this.ctx = new ModelContext(opsets, proto.functions, external);
    this.main = this.ctx.prepareMain(proto.graph);
    const g = proto.graph;
    const inits = new Set(g.initializers.map((t) => t.name));
    this.inputs = g.inputs.filter((v) => !inits.has(v.name)).map((v) => infoOf(v.name, v.type));
    for (const v of g.inputs) this.inputTypes.set(v.name, v.type);
    this.outputs = g.outputs.map((v) => infoOf(v.name, v.type));
    const statics = staticNames(this.main);
    const params: Record<string, Tensor> = {};
    for (const [name, v] of this.main.inits) if (isFloatElem(v.elem) && !statics.has(name)) params[name] = v.t;
    this.initializers = params;
    this.fn = (feeds, p) => {
      const outs = this.evaluate(this.tensorFeeds(feeds), p ?? {});
      const res: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(outs)) {
        if (v.kind !== "tensor") fail("onnx", `output "${k}" is a ${v.kind === "seq" ? "sequence" : "optional"}; model.fn returns tensors only (use runValues)`);
        res[k] = v.t;
      }
      return res;
    };
  }

  /** Run eagerly: outputs by name as tensors (int64 outputs come back as int32 tensors; see runNative). */
  run(feeds: Record<string, OnnxFeed>): Record<string, Tensor> {
    const outs = this.runValues(feeds);
    const res: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(outs)) {
      if (!(v instanceof Tensor)) fail("onnx.run", `output "${k}" is a sequence or optional; use model.runValues(feeds)`);
      res[k] = v;
    }
    return res;
  }

  /** Run eagerly, with sequence outputs as arrays and empty optionals as null. */
  runValues(feeds: Record<string, OnnxFeed>): Record<string, OnnxValue> {
    const outs = this.evaluate(this.hostFeeds(feeds), {});
    const conv = (v: Value): OnnxValue => (v.kind === "tensor" ? v.t : v.kind === "seq" ? v.items.map(conv) : v.value === null ? null : conv(v.value));
    return Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, conv(v)]));
  }

  /**
   * Run eagerly and read every output back with its exact ONNX type: int64 as BigInt64Array, uint64 as
   * BigUint64Array, int16/uint16 as Int16Array/Uint16Array, 16-bit floats as Float32Array.
   */
  runNative(feeds: Record<string, OnnxFeed>): Record<string, NativeValue> {
    const outs = this.evaluate(this.hostFeeds(feeds), {});
    const conv = (v: Value): NativeValue => (v.kind === "tensor" ? toNative(v) : v.kind === "seq" ? v.items.map(conv) : v.value === null ? null : conv(v.value));
    return Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, conv(v)]));
  }

  private evaluate(feeds: Map<string, Value>, params: Record<string, Tensor>): Record<string, Value> {
    const scope = new Scope(null);
    for (const name of Object.keys(params)) {
      const init = this.main.inits.get(name);
      if (!init) fail("onnx.fn", `params has "${name}", which is not an initializer of the model`);
      const t = params[name]!;
      if (!(t instanceof Tensor)) fail("onnx.fn", `params["${name}"] must be a Tensor`);
      if (t.shape.join() !== init.shape.join()) fail("onnx.fn", `params["${name}"] has shape ${fmtShape(t.shape)}, but the initializer has ${fmtShape(init.shape)}`);
      scope.vars.set(name, new TVal(init.elem, t.shape, t));
    }
    for (const info of this.inputs) {
      const v = feeds.get(info.name);
      if (v === undefined) {
        if (this.main.inits.has(info.name)) continue;
        fail("onnx.run", `missing input "${info.name}" (the model's inputs: ${this.inputs.map((i) => i.name).join(", ")})`);
      }
      scope.vars.set(info.name, v);
    }
    for (const k of feeds.keys()) if (!this.inputTypes.has(k)) fail("onnx.run", `"${k}" is not an input of the model (inputs: ${this.inputs.map((i) => i.name).join(", ")})`);
    for (const k of feeds.keys()) if (!scope.vars.has(k)) scope.vars.set(k, feeds.get(k)!);
    const outs = this.ctx.evalGraph(this.main, scope);
    return Object.fromEntries(this.proto.graph.outputs.map((o, i) => [o.name, outs[i]!]));
  }

  private tensorFeeds(feeds: Record<string, Tensor>): Map<string, Value> {
    if (feeds === null || typeof feeds !== "object") fail("onnx.fn", `feeds must be an object of tensors by input name, got ${feeds === null ? "null" : typeof feeds}`);
    const m = new Map<string, Value>();
    for (const [k, t] of Object.entries(feeds)) {
      if (!(t instanceof Tensor)) fail("onnx.fn", `feed "${k}" must be a Tensor (use run() for host arrays)`);
      m.set(k, this.feedValue(k, t));
    }
    return m;
  }

  private hostFeeds(feeds: Record<string, OnnxFeed>): Map<string, Value> {
    if (feeds === null || typeof feeds !== "object") fail("onnx.run", `feeds must be an object keyed by input name, got ${feeds === null ? "null" : typeof feeds}`);
    const m = new Map<string, Value>();
    for (const [k, f] of Object.entries(feeds)) m.set(k, this.feedValue(k, f));
    return m;
  }

  private feedValue(name: string, f: OnnxFeed, type: OnnxType | null | undefined = this.inputTypes.get(name)): Value {
    const what = `input "${name}"`;
    if (type === undefined) fail("onnx.run", `"${name}" is not an input of the model (inputs: ${this.inputs.map((i) => i.name).join(", ")})`);
    if (type && type.kind === "optional") {
      if (f === null) return { kind: "opt", value: null, elem: tensorElem(type) };
      return { kind: "opt", value: this.feedValue(name, f, type.elem), elem: tensorElem(type) };
    }
    if (type && type.kind === "sequence") {
      if (!Array.isArray(f)) fail("onnx.run", `${what} is a sequence; feed an array of tensors`);
      return { kind: "seq", items: (f as OnnxFeed[]).map((x) => this.feedValue(name, x, type.elem)), elem: tensorElem(type) };
    }
    if (f === null || Array.isArray(f)) fail("onnx.run", `${what} is a tensor; got ${f === null ? "null" : "an array"}`);
    const declared = tensorElem(type ?? null);
    let v: TVal;
    if (f instanceof Tensor) {
      const elem = declared || elemOfDtype(f.dtype);
      const want = dtypeOf(elem, what);
      if (f.dtype !== want) fail("onnx.run", `${what} has type ${dataTypeName(elem)} (held as ${want}), but the tensor fed is ${f.dtype}`);
      v = new TVal(elem, f.shape, f, undefined, name);
    } else {
      v = hostFeed(name, f as OnnxArrayFeed, declared);
    }
    if (type && type.kind === "tensor" && type.shape) checkShape(what, v.shape, type.shape);
    return v;
  }
}

function checkShape(what: string, got: readonly number[], want: readonly OnnxDim[]): void {
  if (got.length !== want.length) fail("onnx.run", `${what} must have rank ${want.length} (shape [${want.map((d) => d ?? "?").join(",")}]), got shape ${fmtShape(got)}`);
  want.forEach((d, i) => {
    if (typeof d === "number" && d > 0 && got[i] !== d) fail("onnx.run", `${what} must have shape [${want.map((x) => x ?? "?").join(",")}], got ${fmtShape(got)} (axis ${i})`);
  });
}

function hostFeed(name: string, f: OnnxArrayFeed, declared: number): TVal {
  const what = `input "${name}"`;
  if (!f || typeof f !== "object" || !("data" in f) || !("shape" in f)) fail("onnx.run", `${what}: feed a Tensor or { data, shape }`);
  const shape = [...f.shape];
  for (const d of shape) if (!Number.isSafeInteger(d) || d < 0) fail("onnx.run", `${what}: invalid shape ${JSON.stringify(f.shape)}`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (f.data.length !== n) fail("onnx.run", `${what}: data has ${f.data.length} values but shape ${fmtShape(shape)} needs ${n}`);
  const d = f.data;
  const natural =
    d instanceof Float32Array ? DataType.FLOAT : d instanceof Float64Array ? DataType.DOUBLE : d instanceof BigInt64Array ? DataType.INT64 :
    d instanceof BigUint64Array ? DataType.UINT64 : d instanceof Int32Array ? DataType.INT32 : d instanceof Uint32Array ? DataType.UINT32 :
    d instanceof Int16Array ? DataType.INT16 : d instanceof Uint16Array ? DataType.UINT16 : d instanceof Int8Array ? DataType.INT8 :
    d instanceof Uint8Array ? DataType.UINT8 : Array.isArray(d) && d.length && typeof d[0] === "boolean" ? DataType.BOOL : DataType.FLOAT;
  const elem = declared || natural;
  const exactish = (a: number, b: number) => a === b || (a === DataType.BOOL && b === DataType.UINT8) || (a === DataType.INT64 && b === DataType.INT32);
  if (ArrayBuffer.isView(d) && !exactish(elem, natural)) fail("onnx.run", `${what} has type ${dataTypeName(elem)} but the data fed is a ${d.constructor.name}`);
  dtypeOf(elem, what);
  const big = d instanceof BigInt64Array || d instanceof BigUint64Array;
  const host = big ? Float64Array.from(d, Number) : Array.isArray(d) ? Float64Array.from(d as ArrayLike<number>, Number) : (d as ArrayLike<number>);
  const exact = big && (elem === DataType.INT64 || elem === DataType.UINT64) ? (elem === DataType.INT64 ? BigInt64Array.from(d, (v) => BigInt.asIntN(64, v)) : BigUint64Array.from(d, (v) => BigInt.asUintN(64, v))) : undefined;
  return new TVal(elem, shape, undefined, host, name, exact);
}

/** Initializer names some node reads as concrete numbers (not parameters). */
function staticNames(p: PreparedGraph): Set<string> {
  const s = new Set<string>();
  for (const n of p.order) {
    const d = lookup(n.domain, n.opType);
    for (const i of d?.staticInputs ?? []) if (n.inputs[i]) s.add(n.inputs[i]!);
  }
  return s;
}

type FsLike = {
  readFileSync(p: string): Uint8Array;
  openSync(p: string, flags: string): number;
  readSync(fd: number, b: Uint8Array, off: number, len: number, pos: number): number;
  closeSync(fd: number): void;
  fstatSync(fd: number): { size: number };
};
type PathLike = { dirname(p: string): string; resolve(...p: string[]): string; relative(a: string, b: string): string; isAbsolute(p: string): boolean };

function nodeModule<T>(id: string): T {
  const g = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const m = g?.getBuiltinModule?.(id);
  if (!m) fail("onnx.load", `loading from a path needs Node.js (${id}); pass the model's bytes instead`);
  return m as T;
}

function externalReader(baseDir: string): ExternalReader {
  const fs = nodeModule<FsLike>("node:fs"), path = nodeModule<PathLike>("node:path");
  return (location, offset, length) => {
    if (path.isAbsolute(location)) fail("onnx.load", `external data location "${location}" is absolute; it must be relative to the model`);
    const full = path.resolve(baseDir, location);
    const rel = path.relative(path.resolve(baseDir), full);
    if (rel.startsWith("..")) fail("onnx.load", `external data location "${location}" points outside the model's folder`);
    let fd: number;
    try {
      fd = fs.openSync(full, "r");
    } catch (e) {
      return fail("onnx.load", `cannot open external data file "${location}": ${(e as Error).message}`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      const len = length ?? size - offset;
      if (offset > size || len < 0 || offset + len > size) fail("onnx.load", `external data "${location}": offset ${offset} + length ${len} exceeds the file size ${size}`);
      const b = new Uint8Array(len);
      let got = 0;
      while (got < len) {
        const r = fs.readSync(fd, b, got, len - got, offset + got);
        if (r <= 0) break;
        got += r;
      }
      if (got !== len) fail("onnx.load", `external data "${location}": read ${got} of ${len} bytes`);
      return b;
    } finally {
      fs.closeSync(fd);
    }
  };
}

/**
 * Load an ONNX model from a file path (Node.js) or its bytes.
 * @example const m = onnx.load("model.onnx"); const { y } = m.run({ x: tr.randn([1, 3, 224, 224]) });
 */
export function load(source: string | Uint8Array | ArrayBuffer, opts: LoadOptions = {}): OnnxModel {
  let bytes: Uint8Array;
  let baseDir = opts.baseDir;
  if (typeof source === "string") {
    const fs = nodeModule<FsLike>("node:fs"), path = nodeModule<PathLike>("node:path");
    try {
      bytes = fs.readFileSync(source);
    } catch (e) {
      return fail("onnx.load", `cannot read "${source}": ${(e as Error).message}`);
    }
    baseDir ??= path.dirname(source);
  } else if (source instanceof Uint8Array) bytes = source;
  else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else return fail("onnx.load", `expected a path, a Uint8Array or an ArrayBuffer, got ${source === null ? "null" : typeof source}`);
  const proto = decodeModel(bytes);
  return new OnnxModel(proto, baseDir !== undefined ? externalReader(baseDir) : undefined);
}
