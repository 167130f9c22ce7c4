/**
 * ONNX protobuf messages (onnx.proto3, IR versions 3 to 11): decoding of ModelProto and everything it
 * holds, and encoding of the same in-memory form (the exporter and the tests build models with it).
 * Decoding never trusts the bytes: wire types are checked, lengths are bounded by the buffer, nesting is
 * bounded, and every failure is a TridentError naming the message and field.
 */
import { fail } from "../core/errors.js";
import { ProtoWriter, readFields, type ProtoField } from "../train/protobuf.js";

// ------------------------------------------------------------------ types

/** TensorProto.DataType codes. */
export const DataType = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
  FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22, FLOAT4E2M1: 23,
  FLOAT8E8M0: 24, UINT2: 25, INT2: 26,
} as const;

const DT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

/** The ONNX name of a data type code ("float", "int64", ...; "dtype 99" when unknown). */
export function dataTypeName(code: number): string {
  return DT_NAMES[code] ?? `dtype ${code}`;
}

/** AttributeProto.AttributeType codes. */
export const AttrType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9,
  GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

export interface StringEntry { key: string; value: string }

/** A TensorProto, with its payload left in whichever field the producer used. */
export interface OnnxTensorProto {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian bytes; a view into the decoded buffer, never a copy. */
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: bigint[];
  uint64Data?: bigint[];
  doubleData?: number[];
  stringData?: Uint8Array[];
  externalData?: StringEntry[];
  /** 0 = DEFAULT, 1 = EXTERNAL. */
  dataLocation?: number;
  /** Segmented tensors are decoded only to be rejected with a clear message. */
  segment?: { begin: number; end: number };
  docString?: string;
}

export interface OnnxSparseTensorProto { values: OnnxTensorProto; indices: OnnxTensorProto; dims: number[] }

/** A dimension: a size, a symbolic name, or unknown (null). */
export type OnnxDim = number | string | null;

export type OnnxType =
  | { kind: "tensor"; elemType: number; shape: OnnxDim[] | null }
  | { kind: "sparse_tensor"; elemType: number; shape: OnnxDim[] | null }
  | { kind: "sequence"; elem: OnnxType | null }
  | { kind: "optional"; elem: OnnxType | null }
  | { kind: "map"; keyType: number; value: OnnxType | null }
  | { kind: "unknown" };

export interface OnnxValueInfo { name: string; type: OnnxType | null; docString?: string }

export interface OnnxAttribute {
  name: string;
  type: number;
  refAttrName?: string;
  docString?: string;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensorProto;
  g?: OnnxGraphProto;
  sparseTensor?: OnnxSparseTensorProto;
  tp?: OnnxType;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: OnnxTensorProto[];
  graphs?: OnnxGraphProto[];
  sparseTensors?: OnnxSparseTensorProto[];
  typeProtos?: OnnxType[];
}

export interface OnnxNodeProto {
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  attributes: OnnxAttribute[];
  docString?: string;
  overload?: string;
}

export interface OnnxGraphProto {
  name: string;
  nodes: OnnxNodeProto[];
  initializers: OnnxTensorProto[];
  sparseInitializers: OnnxSparseTensorProto[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
  docString?: string;
}

export interface OpsetId { domain: string; version: number }

export interface OnnxFunctionProto {
  name: string;
  domain: string;
  overload?: string;
  inputs: string[];
  outputs: string[];
  attributes: string[];
  attributeProtos: OnnxAttribute[];
  nodes: OnnxNodeProto[];
  opsetImport: OpsetId[];
  docString?: string;
}

export interface OnnxModelProto {
  irVersion: number;
  opsetImport: OpsetId[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: OnnxGraphProto;
  metadataProps: StringEntry[];
  functions: OnnxFunctionProto[];
}

/** SequenceProto / OptionalProto payloads (the conformance suite's non-tensor values). */
export type OnnxValueProto =
  | { kind: "tensor"; tensor: OnnxTensorProto }
  | { kind: "sequence"; elemType: number; items: OnnxValueProto[] }
  | { kind: "optional"; elemType: number; value: OnnxValueProto | null }
  | { kind: "map"; keyType: number };

// ------------------------------------------------------------------ decoding helpers

const OP = "onnx.load";
const MAX_DEPTH = 64;

class Reader {
  constructor(readonly what: string, readonly depth: number) {
    if (depth > MAX_DEPTH) fail(OP, `${what}: messages nested more than ${MAX_DEPTH} deep`);
  }
  fields(bytes: Uint8Array): ProtoField[] {
    return readFields(bytes, `${OP} (${this.what})`);
  }
  bad(f: ProtoField, want: string): never {
    return fail(OP, `${this.what}: field ${f.field} has wire type ${f.wire}, expected ${want}`);
  }
  bytes(f: ProtoField): Uint8Array {
    if (f.wire !== 2) this.bad(f, "2 (length-delimited)");
    return f.value;
  }
  str(f: ProtoField): string {
    try {
      return utf8Fatal.decode(this.bytes(f));
    } catch (e) {
      if (e instanceof TypeError) fail(OP, `${this.what}: field ${f.field} is not valid UTF-8`);
      throw e;
    }
  }
  int(f: ProtoField): number {
    return safeNumber(this.int64(f));
  }
  int64(f: ProtoField): bigint {
    if (f.wire !== 0) this.bad(f, "0 (varint)");
    return BigInt.asIntN(64, f.value);
  }
  float(f: ProtoField): number {
    if (f.wire !== 5) this.bad(f, "5 (32-bit)");
    return dv(f.value).getFloat32(0, true);
  }
  /** A repeated int64/int32, packed (wire 2) or one value (wire 0). */
  ints64(f: ProtoField, out: bigint[], signed = true): void {
    if (f.wire === 0) out.push(signed ? BigInt.asIntN(64, f.value) : f.value);
    else if (f.wire === 2) unpackVarints(f.value, out, signed, this.what);
    else this.bad(f, "0 or 2");
  }
  ints(f: ProtoField, out: number[]): void {
    const tmp: bigint[] = [];
    this.ints64(f, tmp);
    for (const v of tmp) out.push(safeNumber(v));
  }
  floats(f: ProtoField, out: number[]): void {
    if (f.wire === 5) out.push(dv(f.value).getFloat32(0, true));
    else if (f.wire === 2) {
      if (f.value.length % 4) fail(OP, `${this.what}: packed floats of field ${f.field} have ${f.value.length} bytes, not a multiple of 4`);
      const d = dv(f.value);
      for (let k = 0; k < f.value.length; k += 4) out.push(d.getFloat32(k, true));
    } else this.bad(f, "2 or 5");
  }
  doubles(f: ProtoField, out: number[]): void {
    if (f.wire === 1) out.push(dv(f.value).getFloat64(0, true));
    else if (f.wire === 2) {
      if (f.value.length % 8) fail(OP, `${this.what}: packed doubles of field ${f.field} have ${f.value.length} bytes, not a multiple of 8`);
      const d = dv(f.value);
      for (let k = 0; k < f.value.length; k += 8) out.push(d.getFloat64(k, true));
    } else this.bad(f, "1 or 2");
  }
}

const utf8Fatal = new TextDecoder("utf-8", { fatal: true });
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** int64 → JS number; values past 2^53 keep their magnitude (INT64_MAX sentinels stay huge). */
function safeNumber(v: bigint): number {
  return Number(v);
}

function unpackVarints(b: Uint8Array, out: bigint[], signed: boolean, what: string): void {
  let i = 0;
  while (i < b.length) {
    let v = 0n, shift = 0n, k = 0;
    for (;;) {
      if (i >= b.length) fail(OP, `${what}: truncated packed varint`);
      if (++k > 10) fail(OP, `${what}: packed varint longer than 10 bytes`);
      const byte = b[i++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
      shift += 7n;
    }
    v = BigInt.asUintN(64, v);
    out.push(signed ? BigInt.asIntN(64, v) : v);
  }
}

function checkDims(what: string, dims: number[]): void {
  for (const d of dims) if (!Number.isSafeInteger(d) || d < 0) fail(OP, `${what}: invalid dimension ${d} in dims [${dims}]`);
}

// ------------------------------------------------------------------ decoders

function decodeEntry(b: Uint8Array, depth: number): StringEntry {
  const r = new Reader("StringStringEntryProto", depth);
  const e: StringEntry = { key: "", value: "" };
  for (const f of r.fields(b)) {
    if (f.field === 1) e.key = r.str(f);
    else if (f.field === 2) e.value = r.str(f);
  }
  return e;
}

/** Decode a serialized TensorProto (the conformance suite's input_N.pb files are these). */
export function decodeTensor(b: Uint8Array, depth = 0): OnnxTensorProto {
  const r = new Reader("TensorProto", depth);
  const t: OnnxTensorProto = { name: "", dims: [], dataType: 0 };
  const i64 = (): bigint[] => (t.int64Data ??= []);
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 1: r.ints(f, t.dims); break;
      case 2: t.dataType = r.int(f); break;
      case 3: {
        const s = { begin: 0, end: 0 };
        for (const g of new Reader("TensorProto.Segment", depth + 1).fields(r.bytes(f))) {
          if (g.field === 1) s.begin = r.int(g);
          else if (g.field === 2) s.end = r.int(g);
        }
        t.segment = s;
        break;
      }
      case 4: r.floats(f, (t.floatData ??= [])); break;
      case 5: r.ints(f, (t.int32Data ??= [])); break;
      case 6: (t.stringData ??= []).push(r.bytes(f)); break;
      case 7: r.ints64(f, i64()); break;
      case 8: t.name = r.str(f); break;
      case 9: t.rawData = r.bytes(f); break;
      case 10: r.doubles(f, (t.doubleData ??= [])); break;
      case 11: r.ints64(f, (t.uint64Data ??= []), false); break;
      case 12: t.docString = r.str(f); break;
      case 13: (t.externalData ??= []).push(decodeEntry(r.bytes(f), depth + 1)); break;
      case 14: t.dataLocation = r.int(f); break;
    }
  }
  checkDims(`tensor "${t.name}"`, t.dims);
  return t;
}

function decodeSparse(b: Uint8Array, depth: number): OnnxSparseTensorProto {
  const r = new Reader("SparseTensorProto", depth);
  let values: OnnxTensorProto | undefined, indices: OnnxTensorProto | undefined;
  const dims: number[] = [];
  for (const f of r.fields(b)) {
    if (f.field === 1) values = decodeTensor(r.bytes(f), depth + 1);
    else if (f.field === 2) indices = decodeTensor(r.bytes(f), depth + 1);
    else if (f.field === 3) r.ints(f, dims);
  }
  if (!values || !indices) fail(OP, "SparseTensorProto: missing values or indices");
  checkDims("sparse tensor", dims);
  return { values, indices, dims };
}

function decodeShape(b: Uint8Array, depth: number): OnnxDim[] {
  const r = new Reader("TensorShapeProto", depth);
  const dims: OnnxDim[] = [];
  for (const f of r.fields(b)) {
    if (f.field !== 1) continue;
    const rd = new Reader("TensorShapeProto.Dimension", depth + 1);
    let d: OnnxDim = null;
    for (const g of rd.fields(rd.bytes(f))) {
      if (g.field === 1) d = rd.int(g);
      else if (g.field === 2) d = rd.str(g);
    }
    dims.push(d);
  }
  return dims;
}

/** Decode a TypeProto. */
export function decodeType(b: Uint8Array, depth = 0): OnnxType {
  const r = new Reader("TypeProto", depth);
  let out: OnnxType = { kind: "unknown" };
  for (const f of r.fields(b)) {
    const sub = (name: string) => new Reader(name, depth + 1);
    if (f.field === 1 || f.field === 8) {
      const rs = sub(f.field === 1 ? "TypeProto.Tensor" : "TypeProto.SparseTensor");
      let elemType = 0;
      let shape: OnnxDim[] | null = null;
      for (const g of rs.fields(r.bytes(f))) {
        if (g.field === 1) elemType = rs.int(g);
        else if (g.field === 2) shape = decodeShape(rs.bytes(g), depth + 2);
      }
      out = { kind: f.field === 1 ? "tensor" : "sparse_tensor", elemType, shape };
    } else if (f.field === 4 || f.field === 9) {
      const rs = sub(f.field === 4 ? "TypeProto.Sequence" : "TypeProto.Optional");
      let elem: OnnxType | null = null;
      for (const g of rs.fields(r.bytes(f))) if (g.field === 1) elem = decodeType(rs.bytes(g), depth + 2);
      out = { kind: f.field === 4 ? "sequence" : "optional", elem };
    } else if (f.field === 5) {
      const rs = sub("TypeProto.Map");
      let keyType = 0;
      let value: OnnxType | null = null;
      for (const g of rs.fields(r.bytes(f))) {
        if (g.field === 1) keyType = rs.int(g);
        else if (g.field === 2) value = decodeType(rs.bytes(g), depth + 2);
      }
      out = { kind: "map", keyType, value };
    }
  }
  return out;
}

function decodeValueInfo(b: Uint8Array, depth: number): OnnxValueInfo {
  const r = new Reader("ValueInfoProto", depth);
  const v: OnnxValueInfo = { name: "", type: null };
  for (const f of r.fields(b)) {
    if (f.field === 1) v.name = r.str(f);
    else if (f.field === 2) v.type = decodeType(r.bytes(f), depth + 1);
    else if (f.field === 3) v.docString = r.str(f);
  }
  return v;
}

function decodeAttribute(b: Uint8Array, depth: number): OnnxAttribute {
  const r = new Reader("AttributeProto", depth);
  const a: OnnxAttribute = { name: "", type: 0 };
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 1: a.name = r.str(f); break;
      case 2: a.f = r.float(f); break;
      case 3: a.i = r.int(f); break;
      case 4: a.s = r.bytes(f); break;
      case 5: a.t = decodeTensor(r.bytes(f), depth + 1); break;
      case 6: a.g = decodeGraph(r.bytes(f), depth + 1); break;
      case 7: r.floats(f, (a.floats ??= [])); break;
      case 8: r.ints(f, (a.ints ??= [])); break;
      case 9: (a.strings ??= []).push(r.bytes(f)); break;
      case 10: (a.tensors ??= []).push(decodeTensor(r.bytes(f), depth + 1)); break;
      case 11: (a.graphs ??= []).push(decodeGraph(r.bytes(f), depth + 1)); break;
      case 13: a.docString = r.str(f); break;
      case 14: a.tp = decodeType(r.bytes(f), depth + 1); break;
      case 15: (a.typeProtos ??= []).push(decodeType(r.bytes(f), depth + 1)); break;
      case 20: a.type = r.int(f); break;
      case 21: a.refAttrName = r.str(f); break;
      case 22: a.sparseTensor = decodeSparse(r.bytes(f), depth + 1); break;
      case 23: (a.sparseTensors ??= []).push(decodeSparse(r.bytes(f), depth + 1)); break;
    }
  }
  if (a.type === AttrType.UNDEFINED) a.type = inferAttrType(a);
  return a;
}

/** IR version < 4 files may omit the attribute type; infer it from whichever field is set. */
function inferAttrType(a: OnnxAttribute): number {
  if (a.f !== undefined) return AttrType.FLOAT;
  if (a.i !== undefined) return AttrType.INT;
  if (a.s !== undefined) return AttrType.STRING;
  if (a.t !== undefined) return AttrType.TENSOR;
  if (a.g !== undefined) return AttrType.GRAPH;
  if (a.floats) return AttrType.FLOATS;
  if (a.ints) return AttrType.INTS;
  if (a.strings) return AttrType.STRINGS;
  if (a.tensors) return AttrType.TENSORS;
  if (a.graphs) return AttrType.GRAPHS;
  return AttrType.UNDEFINED;
}

function decodeNode(b: Uint8Array, depth: number): OnnxNodeProto {
  const r = new Reader("NodeProto", depth);
  const n: OnnxNodeProto = { inputs: [], outputs: [], name: "", opType: "", domain: "", attributes: [] };
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 1: n.inputs.push(r.str(f)); break;
      case 2: n.outputs.push(r.str(f)); break;
      case 3: n.name = r.str(f); break;
      case 4: n.opType = r.str(f); break;
      case 5: n.attributes.push(decodeAttribute(r.bytes(f), depth + 1)); break;
      case 6: n.docString = r.str(f); break;
      case 7: n.domain = r.str(f); break;
      case 8: n.overload = r.str(f); break;
    }
  }
  return n;
}

/** Decode a GraphProto. */
export function decodeGraph(b: Uint8Array, depth = 0): OnnxGraphProto {
  const r = new Reader("GraphProto", depth);
  const g: OnnxGraphProto = { name: "", nodes: [], initializers: [], sparseInitializers: [], inputs: [], outputs: [], valueInfo: [] };
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 1: g.nodes.push(decodeNode(r.bytes(f), depth + 1)); break;
      case 2: g.name = r.str(f); break;
      case 5: g.initializers.push(decodeTensor(r.bytes(f), depth + 1)); break;
      case 10: g.docString = r.str(f); break;
      case 11: g.inputs.push(decodeValueInfo(r.bytes(f), depth + 1)); break;
      case 12: g.outputs.push(decodeValueInfo(r.bytes(f), depth + 1)); break;
      case 13: g.valueInfo.push(decodeValueInfo(r.bytes(f), depth + 1)); break;
      case 15: g.sparseInitializers.push(decodeSparse(r.bytes(f), depth + 1)); break;
    }
  }
  return g;
}

function decodeOpset(b: Uint8Array, depth: number): OpsetId {
  const r = new Reader("OperatorSetIdProto", depth);
  const o: OpsetId = { domain: "", version: 0 };
  for (const f of r.fields(b)) {
    if (f.field === 1) o.domain = r.str(f);
    else if (f.field === 2) o.version = r.int(f);
  }
  return o;
}

function decodeFunction(b: Uint8Array, depth: number): OnnxFunctionProto {
  const r = new Reader("FunctionProto", depth);
  const fn: OnnxFunctionProto = { name: "", domain: "", inputs: [], outputs: [], attributes: [], attributeProtos: [], nodes: [], opsetImport: [] };
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 1: fn.name = r.str(f); break;
      case 4: fn.inputs.push(r.str(f)); break;
      case 5: fn.outputs.push(r.str(f)); break;
      case 6: fn.attributes.push(r.str(f)); break;
      case 7: fn.nodes.push(decodeNode(r.bytes(f), depth + 1)); break;
      case 8: fn.docString = r.str(f); break;
      case 9: fn.opsetImport.push(decodeOpset(r.bytes(f), depth + 1)); break;
      case 10: fn.domain = r.str(f); break;
      case 11: fn.attributeProtos.push(decodeAttribute(r.bytes(f), depth + 1)); break;
      case 13: fn.overload = r.str(f); break;
    }
  }
  return fn;
}

/** Decode a serialized ModelProto. Throws TridentError on anything malformed. */
export function decodeModel(b: Uint8Array): OnnxModelProto {
  if (!(b instanceof Uint8Array)) fail(OP, `expected the model's bytes as a Uint8Array, got ${typeof b}`);
  if (b.length === 0) fail(OP, "the model file is empty");
  const r = new Reader("ModelProto", 0);
  const m: OnnxModelProto = {
    irVersion: 0, opsetImport: [], producerName: "", producerVersion: "", domain: "", modelVersion: 0, docString: "",
    graph: null as unknown as OnnxGraphProto, metadataProps: [], functions: [],
  };
  let graph: OnnxGraphProto | null = null;
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 1: m.irVersion = r.int(f); break;
      case 2: m.producerName = r.str(f); break;
      case 3: m.producerVersion = r.str(f); break;
      case 4: m.domain = r.str(f); break;
      case 5: m.modelVersion = r.int(f); break;
      case 6: m.docString = r.str(f); break;
      case 7: graph = decodeGraph(r.bytes(f), 1); break;
      case 8: m.opsetImport.push(decodeOpset(r.bytes(f), 1)); break;
      case 14: m.metadataProps.push(decodeEntry(r.bytes(f), 1)); break;
      case 25: m.functions.push(decodeFunction(r.bytes(f), 1)); break;
    }
  }
  if (!graph) fail(OP, "the file has no graph (is it an ONNX model?)");
  m.graph = graph;
  return m;
}

/** Decode a SequenceProto (conformance data). */
export function decodeSequence(b: Uint8Array, depth = 0): OnnxValueProto {
  const r = new Reader("SequenceProto", depth);
  const items: OnnxValueProto[] = [];
  let elemType = 0;
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 2: elemType = r.int(f); break;
      case 3: items.push({ kind: "tensor", tensor: decodeTensor(r.bytes(f), depth + 1) }); break;
      case 5: items.push(decodeSequence(r.bytes(f), depth + 1)); break;
      case 6: items.push({ kind: "map", keyType: 0 }); break;
      case 7: items.push(decodeOptional(r.bytes(f), depth + 1)); break;
    }
  }
  return { kind: "sequence", elemType, items };
}

/** Decode an OptionalProto (conformance data). */
export function decodeOptional(b: Uint8Array, depth = 0): OnnxValueProto {
  const r = new Reader("OptionalProto", depth);
  let elemType = 0;
  let value: OnnxValueProto | null = null;
  for (const f of r.fields(b)) {
    switch (f.field) {
      case 2: elemType = r.int(f); break;
      case 3: value = { kind: "tensor", tensor: decodeTensor(r.bytes(f), depth + 1) }; break;
      case 5: value = decodeSequence(r.bytes(f), depth + 1); break;
      case 6: value = { kind: "map", keyType: 0 }; break;
      case 7: value = decodeOptional(r.bytes(f), depth + 1); break;
    }
  }
  return { kind: "optional", elemType, value };
}

// ------------------------------------------------------------------ encoding

/** int64 as protobuf wants it: JS numbers past the int64 range saturate instead of wrapping. */
function i64(v: number | bigint): bigint {
  const b = typeof v === "bigint" ? v : v >= 2 ** 63 ? (1n << 63n) - 1n : v <= -(2 ** 63) ? -(1n << 63n) : BigInt(Math.trunc(v));
  return BigInt.asIntN(64, b);
}

function packVarints(vs: readonly (number | bigint)[]): Uint8Array {
  const out: number[] = [];
  for (const v of vs) {
    let u = BigInt.asUintN(64, i64(v));
    while (u >= 0x80n) {
      out.push(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    out.push(Number(u));
  }
  return Uint8Array.from(out);
}
function packFloats(vs: readonly number[]): Uint8Array {
  const b = new Uint8Array(4 * vs.length);
  const d = dv(b);
  vs.forEach((v, k) => d.setFloat32(4 * k, v, true));
  return b;
}
function packDoubles(vs: readonly number[]): Uint8Array {
  const b = new Uint8Array(8 * vs.length);
  const d = dv(b);
  vs.forEach((v, k) => d.setFloat64(8 * k, v, true));
  return b;
}

const enc = {
  int(w: ProtoWriter, field: number, v: number | bigint | undefined): void {
    if (v !== undefined && v !== 0 && v !== 0n) w.varint(field, i64(v));
  },
  str(w: ProtoWriter, field: number, s: string | undefined): void {
    if (s) w.string(field, s);
  },
  packed(w: ProtoWriter, field: number, vs: readonly (number | bigint)[] | undefined): void {
    if (vs && vs.length) w.bytes(field, packVarints(vs));
  },
};

function encodeEntry(e: StringEntry): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, e.key).string(2, e.value);
  return w;
}

/** Encode a TensorProto. */
export function encodeTensor(t: OnnxTensorProto): Uint8Array {
  const w = new ProtoWriter();
  enc.packed(w, 1, t.dims);
  w.varint(2, t.dataType);
  if (t.segment) w.message(3, new ProtoWriter().varint(1, t.segment.begin).varint(2, t.segment.end));
  if (t.floatData?.length) w.bytes(4, packFloats(t.floatData));
  enc.packed(w, 5, t.int32Data);
  for (const s of t.stringData ?? []) w.bytes(6, s);
  enc.packed(w, 7, t.int64Data);
  enc.str(w, 8, t.name);
  if (t.rawData) w.bytes(9, t.rawData);
  if (t.doubleData?.length) w.bytes(10, packDoubles(t.doubleData));
  if (t.uint64Data?.length) w.bytes(11, packVarints(t.uint64Data.map((v) => BigInt.asIntN(64, v))));
  enc.str(w, 12, t.docString);
  for (const e of t.externalData ?? []) w.message(13, encodeEntry(e));
  enc.int(w, 14, t.dataLocation);
  return w.finish();
}

function encodeSparse(s: OnnxSparseTensorProto): Uint8Array {
  const w = new ProtoWriter();
  w.bytes(1, encodeTensor(s.values)).bytes(2, encodeTensor(s.indices));
  enc.packed(w, 3, s.dims);
  return w.finish();
}

/** Encode a TypeProto. */
export function encodeType(t: OnnxType): Uint8Array {
  const w = new ProtoWriter();
  const shape = (dims: OnnxDim[]) => {
    const s = new ProtoWriter();
    for (const d of dims) {
      const dw = new ProtoWriter();
      if (typeof d === "number") dw.varint(1, d);
      else if (typeof d === "string") dw.string(2, d);
      s.message(1, dw);
    }
    return s;
  };
  switch (t.kind) {
    case "tensor": case "sparse_tensor": {
      const tw = new ProtoWriter();
      tw.varint(1, t.elemType);
      if (t.shape) tw.message(2, shape(t.shape));
      w.message(t.kind === "tensor" ? 1 : 8, tw);
      break;
    }
    case "sequence": case "optional": {
      const sw = new ProtoWriter();
      if (t.elem) sw.bytes(1, encodeType(t.elem));
      w.message(t.kind === "sequence" ? 4 : 9, sw);
      break;
    }
    case "map": {
      const mw = new ProtoWriter();
      mw.varint(1, t.keyType);
      if (t.value) mw.bytes(2, encodeType(t.value));
      w.message(5, mw);
      break;
    }
    case "unknown": break;
  }
  return w.finish();
}

function encodeValueInfo(v: OnnxValueInfo): Uint8Array {
  const w = new ProtoWriter();
  w.string(1, v.name);
  if (v.type) w.bytes(2, encodeType(v.type));
  enc.str(w, 3, v.docString);
  return w.finish();
}

/** Encode an AttributeProto. */
export function encodeAttribute(a: OnnxAttribute): Uint8Array {
  const w = new ProtoWriter();
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.varint(3, i64(a.i));
  if (a.s !== undefined) w.bytes(4, a.s);
  if (a.t) w.bytes(5, encodeTensor(a.t));
  if (a.g) w.bytes(6, encodeGraph(a.g));
  if (a.floats) w.bytes(7, packFloats(a.floats));
  if (a.ints) w.bytes(8, packVarints(a.ints));
  for (const s of a.strings ?? []) w.bytes(9, s);
  for (const t of a.tensors ?? []) w.bytes(10, encodeTensor(t));
  for (const g of a.graphs ?? []) w.bytes(11, encodeGraph(g));
  enc.str(w, 13, a.docString);
  if (a.tp) w.bytes(14, encodeType(a.tp));
  for (const t of a.typeProtos ?? []) w.bytes(15, encodeType(t));
  w.varint(20, a.type);
  enc.str(w, 21, a.refAttrName);
  if (a.sparseTensor) w.bytes(22, encodeSparse(a.sparseTensor));
  for (const s of a.sparseTensors ?? []) w.bytes(23, encodeSparse(s));
  return w.finish();
}

/** Encode a NodeProto. */
export function encodeNode(n: OnnxNodeProto): Uint8Array {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  enc.str(w, 3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.bytes(5, encodeAttribute(a));
  enc.str(w, 6, n.docString);
  enc.str(w, 7, n.domain);
  enc.str(w, 8, n.overload);
  return w.finish();
}

/** Encode a GraphProto. */
export function encodeGraph(g: OnnxGraphProto): Uint8Array {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.bytes(1, encodeNode(n));
  enc.str(w, 2, g.name);
  for (const t of g.initializers) w.bytes(5, encodeTensor(t));
  enc.str(w, 10, g.docString);
  for (const v of g.inputs) w.bytes(11, encodeValueInfo(v));
  for (const v of g.outputs) w.bytes(12, encodeValueInfo(v));
  for (const v of g.valueInfo) w.bytes(13, encodeValueInfo(v));
  for (const s of g.sparseInitializers) w.bytes(15, encodeSparse(s));
  return w.finish();
}

function encodeOpset(o: OpsetId): ProtoWriter {
  const w = new ProtoWriter();
  enc.str(w, 1, o.domain);
  w.varint(2, o.version);
  return w;
}

function encodeFunction(f: OnnxFunctionProto): Uint8Array {
  const w = new ProtoWriter();
  w.string(1, f.name);
  for (const i of f.inputs) w.string(4, i);
  for (const o of f.outputs) w.string(5, o);
  for (const a of f.attributes) w.string(6, a);
  for (const n of f.nodes) w.bytes(7, encodeNode(n));
  enc.str(w, 8, f.docString);
  for (const o of f.opsetImport) w.message(9, encodeOpset(o));
  enc.str(w, 10, f.domain);
  for (const a of f.attributeProtos) w.bytes(11, encodeAttribute(a));
  enc.str(w, 13, f.overload);
  return w.finish();
}

/** Encode a ModelProto. */
export function encodeModel(m: OnnxModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, m.irVersion);
  enc.str(w, 2, m.producerName);
  enc.str(w, 3, m.producerVersion);
  enc.str(w, 4, m.domain);
  enc.int(w, 5, m.modelVersion);
  enc.str(w, 6, m.docString);
  w.bytes(7, encodeGraph(m.graph));
  for (const o of m.opsetImport) w.message(8, encodeOpset(o));
  for (const e of m.metadataProps) w.message(14, encodeEntry(e));
  for (const f of m.functions) w.bytes(25, encodeFunction(f));
  return w.finish();
}

/** Shorthand constructors for building models by hand (tests, the exporter). */
export const build = {
  tensorType(elemType: number, shape: OnnxDim[] | null): OnnxType {
    return { kind: "tensor", elemType, shape };
  },
  valueInfo(name: string, elemType: number, shape: OnnxDim[] | null): OnnxValueInfo {
    return { name, type: { kind: "tensor", elemType, shape } };
  },
  node(opType: string, inputs: string[], outputs: string[], attributes: OnnxAttribute[] = [], name = ""): OnnxNodeProto {
    return { opType, inputs, outputs, attributes, name, domain: "" };
  },
  attrInt(name: string, i: number): OnnxAttribute {
    return { name, type: AttrType.INT, i };
  },
  attrInts(name: string, ints: number[]): OnnxAttribute {
    return { name, type: AttrType.INTS, ints };
  },
  attrFloat(name: string, f: number): OnnxAttribute {
    return { name, type: AttrType.FLOAT, f };
  },
  attrString(name: string, s: string): OnnxAttribute {
    return { name, type: AttrType.STRING, s: new TextEncoder().encode(s) };
  },
  /** A float tensor stored as raw little-endian bytes. */
  floatTensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTensorProto {
    const f = Float32Array.from(values as ArrayLike<number>);
    return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(f.buffer) };
  },
  int64Tensor(name: string, dims: number[], values: readonly number[]): OnnxTensorProto {
    return { name, dims, dataType: DataType.INT64, int64Data: values.map((v) => BigInt(v)) };
  },
  graph(name: string, nodes: OnnxNodeProto[], inputs: OnnxValueInfo[], outputs: OnnxValueInfo[], initializers: OnnxTensorProto[] = []): OnnxGraphProto {
    return { name, nodes, inputs, outputs, initializers, sparseInitializers: [], valueInfo: [] };
  },
  model(graph: OnnxGraphProto, opset = 17): OnnxModelProto {
    return {
      irVersion: 8, opsetImport: [{ domain: "", version: opset }], producerName: "trident", producerVersion: "", domain: "",
      modelVersion: 0, docString: "", graph, metadataProps: [], functions: [],
    };
  },
};
