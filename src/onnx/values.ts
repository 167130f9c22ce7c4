/**
 * Runtime values of an imported graph and the mapping between ONNX data types and Trident dtypes.
 *
 * ONNX int64 is the index type, and Trident has no int64: an int64 tensor is held as int32 when every
 * value fits (checked when the tensor is materialised; a value that does not fit raises
 * OnnxUnsupportedError rather than wrapping) and is converted back to BigInt64Array on output. Values
 * that come from the file or from feeds keep their exact host copy, so static uses (Slice's INT64_MAX
 * "to the end" sentinels, shapes) read the exact numbers and never materialise at all. int16/uint16 are
 * held as int32 and uint64 as uint32 in the same way. string, complex, float8 and 4-bit types are
 * reported as unsupported.
 */
import { ShapedArray } from "../core/aval.js";
import { f16ToF32, bf16ToF32, type DType, type TypedArray } from "../core/dtype.js";
import { fail } from "../core/errors.js";
import { fromStorage } from "../core/execute.js";
import { Tensor, EagerTensor } from "../tensor.js";
import { Tracer } from "../core/trace.js";
import { OnnxUnsupportedError } from "./errors.js";
import { DataType, dataTypeName, type OnnxTensorProto } from "./proto.js";

/** Trident dtype holding each ONNX data type (absent: unsupported). */
const HOLD: Partial<Record<number, DType>> = {
  [DataType.FLOAT]: "float32",
  [DataType.DOUBLE]: "float64",
  [DataType.FLOAT16]: "float16",
  [DataType.BFLOAT16]: "bfloat16",
  [DataType.INT8]: "int8",
  [DataType.UINT8]: "uint8",
  [DataType.INT16]: "int32",
  [DataType.UINT16]: "int32",
  [DataType.INT32]: "int32",
  [DataType.UINT32]: "uint32",
  [DataType.INT64]: "int32",
  [DataType.UINT64]: "uint32",
  [DataType.BOOL]: "bool",
};

/** Value range of the integer types Trident holds in a narrower dtype. */
const RANGE: Partial<Record<number, [number, number]>> = {
  [DataType.INT64]: [-(2 ** 31), 2 ** 31 - 1],
  [DataType.UINT64]: [0, 2 ** 32 - 1],
  [DataType.INT16]: [-(2 ** 15), 2 ** 15 - 1],
  [DataType.UINT16]: [0, 2 ** 16 - 1],
};

/** Whether Trident can hold this ONNX data type. */
export function isSupportedElem(elem: number): boolean {
  return HOLD[elem] !== undefined;
}

/** The Trident dtype for an ONNX data type; OnnxUnsupportedError for string, complex, float8, int4, .... */
export function dtypeOf(elem: number, what = "value"): DType {
  const d = HOLD[elem];
  if (d === undefined) {
    throw new OnnxUnsupportedError(`onnx: ${what} has ONNX type ${dataTypeName(elem)}, which Trident cannot represent (supported: float, double, float16, bfloat16, int8, uint8, int16, uint16, int32, uint32, int64, uint64, bool)`);
  }
  return d;
}

/** The ONNX type a Trident dtype naturally stands for. */
export function elemOfDtype(dt: DType): number {
  switch (dt) {
    case "float32": return DataType.FLOAT;
    case "float64": return DataType.DOUBLE;
    case "float16": return DataType.FLOAT16;
    case "bfloat16": return DataType.BFLOAT16;
    case "int8": return DataType.INT8;
    case "uint8": return DataType.UINT8;
    case "int32": return DataType.INT32;
    case "uint32": return DataType.UINT32;
    case "bool": return DataType.BOOL;
  }
}

export const isFloatElem = (e: number): boolean => e === DataType.FLOAT || e === DataType.DOUBLE || e === DataType.FLOAT16 || e === DataType.BFLOAT16;
export const isIntElem = (e: number): boolean =>
  e === DataType.INT8 || e === DataType.UINT8 || e === DataType.INT16 || e === DataType.UINT16 || e === DataType.INT32 ||
  e === DataType.UINT32 || e === DataType.INT64 || e === DataType.UINT64;
export const isSignedElem = (e: number): boolean => e === DataType.INT8 || e === DataType.INT16 || e === DataType.INT32 || e === DataType.INT64;

/**
 * A tensor value of the graph: the ONNX type it stands for, its shape, and a Trident tensor (which may be
 * a tracer). Values from the file or from feeds also keep their exact host numbers (`host`), and
 * materialise the tensor only when an op needs one.
 */
export class TVal {
  readonly kind = "tensor";
  private _t: Tensor | undefined;
  constructor(
    readonly elem: number,
    readonly shape: readonly number[],
    t?: Tensor,
    /** Exact values (int64 as JS numbers; 16-bit floats decoded), row-major. */
    readonly host?: ArrayLike<number>,
    /** A name for error messages. */
    readonly name = "",
    /** Exact 64-bit integers, where the value came from the file or a feed (host numbers lose bits past 2^53). */
    readonly exact?: BigInt64Array | BigUint64Array,
  ) {
    this._t = t;
  }
  /** Wrap a Trident tensor computed by an op. */
  static of(t: Tensor, elem: number = elemOfDtype(t.dtype)): TVal {
    return new TVal(elem, t.shape, t);
  }
  get t(): Tensor {
    if (!this._t) this._t = materialise(this);
    return this._t;
  }
  /** Whether a Trident tensor exists yet (host-only values have none until an op needs one). */
  get materialised(): boolean {
    return this._t !== undefined;
  }
  get rank(): number {
    return this.shape.length;
  }
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** Concrete (not being traced). */
  get concrete(): boolean {
    return this._t === undefined || !(this._t instanceof Tracer);
  }
  /** The values as JS numbers; needs a concrete value. */
  values(op: string, what: string): number[] {
    if (this.host) return Array.from(this.host);
    const t = this.t;
    if (t instanceof Tracer || !(t instanceof EagerTensor)) {
      return fail(op, `${what} must be known when the model is traced (it sets a shape or a count), but it depends on a traced input; pass it as a constant or run the model eagerly`);
    }
    return Array.from(t.dataSync());
  }
}

export interface SeqVal {
  readonly kind: "seq";
  readonly items: Value[];
  /** Element type of an empty sequence (ONNX data type code of its tensors). */
  readonly elem: number;
}
export interface OptVal {
  readonly kind: "opt";
  readonly value: Value | null;
  readonly elem: number;
}
export type Value = TVal | SeqVal | OptVal;

function materialise(v: TVal): Tensor {
  const dt = dtypeOf(v.elem, v.name ? `tensor "${v.name}"` : "a tensor");
  const host = v.host!;
  const range = RANGE[v.elem];
  if (range) {
    for (let i = 0; i < host.length; i++) {
      const x = host[i]!;
      if (x < range[0] || x > range[1]) {
        throw new OnnxUnsupportedError(
          `onnx: ${dataTypeName(v.elem)} tensor${v.name ? ` "${v.name}"` : ""} holds ${x} at flat index ${i}, outside [${range[0]}, ${range[1]}]: Trident holds ${dataTypeName(v.elem)} as ${dt} and will not wrap values`,
        );
      }
    }
  }
  let st: TypedArray;
  switch (dt) {
    case "float32": st = host instanceof Float32Array ? host : Float32Array.from(host); break;
    case "float64": st = host instanceof Float64Array ? host : Float64Array.from(host); break;
    case "int32": st = host instanceof Int32Array ? host : Int32Array.from(host); break;
    case "uint32": st = host instanceof Uint32Array ? host : Uint32Array.from(host); break;
    case "int8": st = host instanceof Int8Array ? host : Int8Array.from(host); break;
    case "uint8": st = host instanceof Uint8Array ? host : Uint8Array.from(host); break;
    case "bool": st = Uint8Array.from(host, (x) => (x ? 1 : 0)); break;
    case "float16": st = Uint16Array.from(host, f32ToF16Bits); break;
    case "bfloat16": st = Uint16Array.from(host, f32ToBf16Bits); break;
  }
  return fromStorage(new ShapedArray(v.shape, dt), st);
}

import { f32ToF16 as f32ToF16Bits, f32ToBf16 as f32ToBf16Bits } from "../core/dtype.js";

// ------------------------------------------------------------------ TensorProto → value

const BYTES: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4, [DataType.DOUBLE]: 8, [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2, [DataType.INT8]: 1,
  [DataType.UINT8]: 1, [DataType.INT16]: 2, [DataType.UINT16]: 2, [DataType.INT32]: 4, [DataType.UINT32]: 4,
  [DataType.INT64]: 8, [DataType.UINT64]: 8, [DataType.BOOL]: 1,
};

/** Reads an external data file (relative to the model's folder); supplied by the loader. */
export type ExternalReader = (location: string, offset: number, length: number | null) => Uint8Array;

/**
 * Decode a TensorProto's payload to exact host numbers. raw_data of the right alignment is viewed, not
 * copied. Throws OnnxUnsupportedError for types Trident cannot hold, TridentError for malformed payloads.
 */
export function tensorFromProto(tp: OnnxTensorProto, external?: ExternalReader): TVal {
  const what = tp.name ? `tensor "${tp.name}"` : "a tensor";
  if (tp.segment) throw new OnnxUnsupportedError(`onnx: ${what} is segmented (TensorProto.segment); segmented tensors are not supported`);
  const elem = tp.dataType;
  if (elem === DataType.UNDEFINED) fail("onnx.load", `${what} has no data_type`);
  dtypeOf(elem, what);
  const n = tp.dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(n)) fail("onnx.load", `${what} has ${n} elements (dims [${tp.dims}])`);
  let raw = tp.rawData;
  if (tp.dataLocation === 1) {
    if (!external) fail("onnx.load", `${what} stores its data in an external file, which needs the model loaded from a path`);
    const kv = new Map((tp.externalData ?? []).map((e) => [e.key, e.value]));
    const loc = kv.get("location");
    if (!loc) fail("onnx.load", `${what} is external but has no "location" entry`);
    const num = (k: string): number | null => {
      const s = kv.get(k);
      if (s === undefined) return null;
      const v = Number(s);
      if (!Number.isSafeInteger(v) || v < 0) fail("onnx.load", `${what}: external data ${k} "${s}" is not a non-negative integer`);
      return v;
    };
    raw = external(loc, num("offset") ?? 0, num("length"));
  }
  const host = raw !== undefined ? fromRaw(elem, raw, n, what) : fromTyped(tp, elem, n, what);
  return new TVal(elem, tp.dims, undefined, host, tp.name, exact64(tp, elem, raw));
}

/** A copy in a fresh buffer (Node's Buffer.slice would share memory). */
function copyBytes(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}

/** The exact 64-bit integers of an int64/uint64 tensor. */
function exact64(tp: OnnxTensorProto, elem: number, raw: Uint8Array | undefined): BigInt64Array | BigUint64Array | undefined {
  if (elem !== DataType.INT64 && elem !== DataType.UINT64) return undefined;
  if (raw !== undefined) {
    const b = raw.byteOffset % 8 === 0 ? raw : copyBytes(raw);
    return elem === DataType.INT64 ? new BigInt64Array(b.buffer as ArrayBuffer, b.byteOffset, b.length / 8) : new BigUint64Array(b.buffer as ArrayBuffer, b.byteOffset, b.length / 8);
  }
  if (elem === DataType.INT64) return BigInt64Array.from(tp.int64Data ?? []);
  return BigUint64Array.from(tp.uint64Data ?? [], (v) => BigInt.asUintN(64, v));
}

function fromRaw(elem: number, raw: Uint8Array, n: number, what: string): ArrayLike<number> {
  const bytes = BYTES[elem]!;
  if (raw.length !== n * bytes) fail("onnx.load", `${what}: raw_data has ${raw.length} bytes but ${n} ${dataTypeName(elem)} values need ${n * bytes}`);
  const aligned = raw.byteOffset % bytes === 0;
  const view = <T>(C: { new (b: ArrayBufferLike, o: number, l: number): T; new (b: ArrayBufferLike): T }): T =>
    aligned ? new C(raw.buffer, raw.byteOffset, n) : new C(copyBytes(raw).buffer);
  switch (elem) {
    case DataType.FLOAT: return view(Float32Array);
    case DataType.DOUBLE: return view(Float64Array);
    case DataType.INT8: return view(Int8Array);
    case DataType.UINT8: case DataType.BOOL: return view(Uint8Array);
    case DataType.INT16: return view(Int16Array);
    case DataType.UINT16: return view(Uint16Array);
    case DataType.INT32: return view(Int32Array);
    case DataType.UINT32: return view(Uint32Array);
    case DataType.FLOAT16: return Float32Array.from(view(Uint16Array), f16ToF32);
    case DataType.BFLOAT16: return Float32Array.from(view(Uint16Array), bf16ToF32);
    case DataType.INT64: return Float64Array.from(view(BigInt64Array), Number);
    case DataType.UINT64: return Float64Array.from(view(BigUint64Array), Number);
  }
  return fail("onnx.load", `${what}: cannot decode ${dataTypeName(elem)}`);
}

function fromTyped(tp: OnnxTensorProto, elem: number, n: number, what: string): ArrayLike<number> {
  const check = (len: number, field: string) => {
    if (len !== n) fail("onnx.load", `${what}: ${field} has ${len} values but dims [${tp.dims}] need ${n}`);
  };
  switch (elem) {
    case DataType.FLOAT: check(tp.floatData?.length ?? 0, "float_data"); return Float32Array.from(tp.floatData ?? []);
    case DataType.DOUBLE: check(tp.doubleData?.length ?? 0, "double_data"); return Float64Array.from(tp.doubleData ?? []);
    case DataType.INT64: check(tp.int64Data?.length ?? 0, "int64_data"); return Float64Array.from(tp.int64Data ?? [], Number);
    case DataType.UINT64: check(tp.uint64Data?.length ?? 0, "uint64_data"); return Float64Array.from(tp.uint64Data ?? [], (v) => Number(BigInt.asUintN(64, v)));
    case DataType.UINT32: {
      // uint32 travels in uint64_data
      const src = tp.uint64Data ?? [];
      check(src.length, "uint64_data");
      return Float64Array.from(src, (v) => Number(BigInt.asUintN(32, v)));
    }
  }
  // the rest travel in int32_data: 16-bit floats as their bit patterns, small ints widened
  const src = tp.int32Data ?? [];
  check(src.length, "int32_data");
  switch (elem) {
    case DataType.FLOAT16: return Float32Array.from(src, (b) => f16ToF32(b & 0xffff));
    case DataType.BFLOAT16: return Float32Array.from(src, (b) => bf16ToF32(b & 0xffff));
    case DataType.BOOL: return Uint8Array.from(src, (b) => (b ? 1 : 0));
    case DataType.INT8: return Int8Array.from(src);
    case DataType.UINT8: return Uint8Array.from(src);
    case DataType.INT16: return Int16Array.from(src);
    case DataType.UINT16: return Uint16Array.from(src);
    default: return Int32Array.from(src);
  }
}

// ------------------------------------------------------------------ value → host arrays with ONNX types

/** A result with its exact ONNX type: int64 as BigInt64Array, 16-bit floats decoded to Float32Array. */
export interface NativeTensor {
  dtype: string;
  shape: number[];
  data: TypedArray | BigInt64Array | BigUint64Array | Int16Array;
}
export type NativeValue = NativeTensor | NativeValue[] | null;

/** JS number → bigint, saturating (INT64_MAX is not exactly representable as a double). */
function toBig(x: number, lo: bigint, hi: bigint): bigint {
  if (Number.isNaN(x)) return 0n;
  if (x === Infinity) return hi;
  if (x === -Infinity) return lo;
  const b = BigInt(Math.trunc(x));
  return b < lo ? lo : b > hi ? hi : b;
}

/** Read a tensor value back with its ONNX type (needs a concrete value). */
export function toNative(v: TVal): NativeTensor {
  const src: ArrayLike<number> = v.host ?? v.values("onnx", "an output");
  const dtype = dataTypeName(v.elem);
  const shape = [...v.shape];
  if (v.exact) return { dtype, shape, data: v.exact };
  if (v.elem === DataType.INT64 || v.elem === DataType.UINT64) {
    // host numbers are exact to 2^53; past that only the saturated INT64 bounds are meaningful
    for (let i = 0; i < src.length; i++) {
      const x = Math.abs(src[i]!);
      if (x > 2 ** 53 && x !== 2 ** 63 && x !== 2 ** 64) {
        throw new OnnxUnsupportedError(`onnx: ${dtype} output holds ${src[i]} at flat index ${i}, beyond 2^53, which was computed without an exact 64-bit copy`);
      }
    }
  }
  switch (v.elem) {
    case DataType.INT64: return { dtype, shape, data: BigInt64Array.from(src, (x) => toBig(x, -(2n ** 63n), 2n ** 63n - 1n)) };
    case DataType.UINT64: return { dtype, shape, data: BigUint64Array.from(src, (x) => toBig(x, 0n, 2n ** 64n - 1n)) };
    case DataType.INT16: return { dtype, shape, data: Int16Array.from(src) };
    case DataType.UINT16: return { dtype, shape, data: Uint16Array.from(src) };
    case DataType.FLOAT: return { dtype, shape, data: src instanceof Float32Array ? src : Float32Array.from(src) };
    case DataType.DOUBLE: return { dtype, shape, data: src instanceof Float64Array ? src : Float64Array.from(src) };
    case DataType.FLOAT16: case DataType.BFLOAT16: return { dtype, shape, data: Float32Array.from(src) };
    case DataType.INT8: return { dtype, shape, data: Int8Array.from(src) };
    case DataType.UINT8: case DataType.BOOL: return { dtype, shape, data: Uint8Array.from(src) };
    case DataType.INT32: return { dtype, shape, data: Int32Array.from(src) };
    case DataType.UINT32: return { dtype, shape, data: Uint32Array.from(src) };
  }
  return fail("onnx", `cannot read back a value of type ${dataTypeName(v.elem)}`);
}

export { Tensor };
