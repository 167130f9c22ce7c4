// Between wire tensors (OIP datatypes, JSON data or little-endian bytes) and Trident tensors.
import type { DType } from "../core/dtype.js";
import { fromTypedArray } from "../ops/convert.js";
import type { Tensor } from "../tensor.js";
import { ServeError, type HostData, type InferTensor, type OipDatatype, type TensorSpec } from "./types.js";

/** Bytes per element of each fixed-size datatype (BYTES is variable). */
export const ITEM_BYTES: Record<Exclude<OipDatatype, "BYTES">, number> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8,
};

/** The Trident dtype that holds each datatype's values (64-bit integers are held as int32, range-checked). */
const HELD: Partial<Record<OipDatatype, DType>> = {
  BOOL: "bool", UINT8: "uint8", INT8: "int8", INT16: "int32", UINT16: "int32", INT32: "int32", UINT32: "uint32", INT64: "int32", UINT64: "uint32",
  FP16: "float16", FP32: "float32", FP64: "float64",
};

/** The OIP datatype of a Trident dtype. */
export function datatypeOf(dt: DType): OipDatatype {
  const m: Record<DType, OipDatatype> = { bool: "BOOL", int8: "INT8", uint8: "UINT8", int32: "INT32", uint32: "UINT32", float16: "FP16", bfloat16: "FP32", float32: "FP32", float64: "FP64" };
  return m[dt];
}

export const isDatatype = (s: unknown): s is OipDatatype => typeof s === "string" && (s === "BYTES" || s in ITEM_BYTES);

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Does a request's shape fit a signature shape (-1 matches any size)? */
export function shapeMatches(spec: readonly number[], shape: readonly number[]): boolean {
  return spec.length === shape.length && spec.every((d, i) => d === -1 || d === shape[i]);
}

/**
 * Flatten OIP JSON `data` (flat or nested row-major) into numbers, checking each element's type and the count
 * against the shape. `where` names the tensor in errors.
 */
export function flattenJson(where: string, datatype: OipDatatype, shape: readonly number[], data: unknown): number[] {
  if (datatype === "BYTES") throw new ServeError(400, `${where}: datatype BYTES is not supported by Trident's models`);
  const out: number[] = [];
  const isBool = datatype === "BOOL";
  const isInt = !isBool && !datatype.startsWith("FP");
  const walk = (v: unknown, depth: number): void => {
    if (Array.isArray(v)) {
      if (depth > shape.length) throw new ServeError(400, `${where}: data is nested deeper than the shape [${shape}]`);
      for (const x of v) walk(x, depth + 1);
      return;
    }
    if (isBool) {
      if (typeof v !== "boolean") throw new ServeError(400, `${where}: BOOL data must be true/false, got ${JSON.stringify(v)}`);
      out.push(v ? 1 : 0);
      return;
    }
    if (typeof v !== "number" || (isInt && !Number.isInteger(v))) {
      throw new ServeError(400, `${where}: ${datatype} data must be ${isInt ? "integers" : "numbers"}, got ${JSON.stringify(v)}`);
    }
    out.push(v);
  };
  if (!Array.isArray(data)) throw new ServeError(400, `${where}: "data" must be an array`);
  walk(data, 0);
  if (out.length !== prod(shape)) throw new ServeError(400, `${where}: data has ${out.length} elements but shape [${shape}] needs ${prod(shape)}`);
  return out;
}

/** Decode `binary_data_size` bytes of a tensor (little-endian, row-major). */
export function decodeBinary(where: string, datatype: OipDatatype, shape: readonly number[], bytes: Uint8Array): HostData {
  if (datatype === "BYTES") throw new ServeError(400, `${where}: datatype BYTES is not supported by Trident's models`);
  const n = prod(shape), size = ITEM_BYTES[datatype];
  if (bytes.byteLength !== n * size) throw new ServeError(400, `${where}: binary data has ${bytes.byteLength} bytes but shape [${shape}] of ${datatype} needs ${n * size}`);
  // copy to an aligned buffer of exactly these bytes: the payload's offset inside the request body is arbitrary,
  // and a Node Buffer's slice() is a view on its (shared, pooled) memory, not a copy
  const buf = new Uint8Array(bytes).buffer;
  const views: Record<Exclude<OipDatatype, "BYTES">, () => HostData> = {
    BOOL: () => Array.from(new Uint8Array(buf), (b) => b !== 0), UINT8: () => new Uint8Array(buf), INT8: () => new Int8Array(buf),
    UINT16: () => new Uint16Array(buf), INT16: () => new Int16Array(buf), UINT32: () => new Uint32Array(buf), INT32: () => new Int32Array(buf),
    UINT64: () => new BigUint64Array(buf), INT64: () => new BigInt64Array(buf), FP16: () => f16Floats(new Uint16Array(buf)),
    FP32: () => new Float32Array(buf), FP64: () => new Float64Array(buf),
  };
  return views[datatype]();
}

function f16Floats(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!, s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** The bytes of a tensor's values for the binary extension (little-endian, as the host is). */
export function encodeBinary(t: InferTensor): Uint8Array {
  const d = t.data;
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (t.datatype === "BOOL") return Uint8Array.from(d as readonly boolean[], (b) => (b ? 1 : 0));
  throw new ServeError(500, `output ${t.name}: cannot encode ${t.datatype} as binary`);
}

/** A wire tensor as the Trident tensor a model takes, checked against its signature entry. */
export function toModelTensor(spec: TensorSpec, t: InferTensor): Tensor {
  const where = `input "${t.name}"`;
  if (t.datatype !== spec.datatype) throw new ServeError(400, `${where}: expected datatype ${spec.datatype}, got ${t.datatype}`);
  if (!shapeMatches(spec.shape, t.shape)) throw new ServeError(400, `${where}: expected shape [${spec.shape}] (-1: any size), got [${t.shape}]`);
  const dt = HELD[t.datatype];
  if (!dt) throw new ServeError(400, `${where}: datatype ${t.datatype} is not supported`);
  const n = prod(t.shape);
  if (t.data.length !== n) throw new ServeError(400, `${where}: data has ${t.data.length} elements but shape [${t.shape}] needs ${n}`);
  return fromTypedArray(hostArray(where, dt, t.data), t.shape, dt);
}

function hostArray(where: string, dt: DType, data: HostData) {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const out = dt === "uint32" ? new Uint32Array(data.length) : new Int32Array(data.length);
    const [lo, hi] = dt === "uint32" ? [0n, 0xffffffffn] : [-0x80000000n, 0x7fffffffn];
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo || v > hi) throw new ServeError(400, `${where}: value ${v} at element ${i} does not fit the model's 32-bit integers`);
      out[i] = Number(v);
    }
    return out;
  }
  const ctor = { bool: Uint8Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array, uint32: Uint32Array, float16: Float32Array, bfloat16: Float32Array, float32: Float32Array, float64: Float64Array }[dt];
  if (data instanceof ctor) return data;
  const out = new ctor(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

/** A model output as a wire tensor (declared datatype; int32 outputs of INT64 signatures widen back). */
export function fromModelTensor(name: string, spec: TensorSpec | undefined, t: Tensor): InferTensor {
  const values = t.dataSync();
  const datatype = spec?.datatype ?? datatypeOf(t.dtype);
  let data: HostData;
  if (datatype === "INT64") data = BigInt64Array.from(values as Int32Array, (v) => BigInt(v));
  else if (datatype === "UINT64") data = BigUint64Array.from(values as Uint32Array, (v) => BigInt(v));
  else if (datatype === "BOOL") data = Array.from(values, (v) => v !== 0);
  else if (datatype === "FP16") data = Float32Array.from(values);
  else data = values as HostData;
  return { name, datatype: datatype === "FP16" ? "FP32" : datatype, shape: [...t.shape], data };
}

/** JSON-safe values of a tensor's data (64-bit integers as numbers). */
export function jsonData(d: HostData): (number | boolean)[] {
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d, Number);
  return Array.from(d as ArrayLike<number | boolean>);
}
