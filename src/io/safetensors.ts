/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON header (padded with spaces to a
 * multiple of 8), then one contiguous little-endian data buffer. Layout decisions follow the reference
 * Rust crate so files written here are byte-identical to `safetensors.torch.save_file` output.
 */
import { ShapedArray } from "../core/aval.js";
import { storageArray, type DType, type TypedArray } from "../core/dtype.js";
import { fail } from "../core/errors.js";
import { fromStorage } from "../core/execute.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { isJsonObject, jsonKind, parseStrictJson, setKey, type JsonValue } from "./json.js";

/** The dtype codes of the format that Trident can write (and read back unchanged). */
export type SafetensorsDType = "BOOL" | "U8" | "I8" | "I32" | "U32" | "F16" | "BF16" | "F32" | "F64";

/** String-to-string metadata stored under `__metadata__`. */
export type SafetensorsMetadata = Record<string, string>;

export interface Deserialized {
  tensors: Record<string, Tensor>;
  metadata: SafetensorsMetadata;
}

const CODE_OF: Record<DType, SafetensorsDType> = {
  bool: "BOOL", uint8: "U8", int8: "I8", int32: "I32", uint32: "U32",
  float16: "F16", bfloat16: "BF16", float32: "F32", float64: "F64",
};
const DTYPE_OF: Record<SafetensorsDType, DType> = {
  BOOL: "bool", U8: "uint8", I8: "int8", I32: "int32", U32: "uint32",
  F16: "float16", BF16: "bfloat16", F32: "float32", F64: "float64",
};
/** Codes read by widening into a Trident dtype; 64-bit integers only when every value fits. */
const WIDENED: Record<string, { size: number; to: DType }> = {
  I16: { size: 2, to: "int32" },
  U16: { size: 2, to: "int32" },
  I64: { size: 8, to: "int32" },
  U64: { size: 8, to: "uint32" },
};
/** Codes the format defines that Trident has no storage for. */
const UNSUPPORTED = new Set(["F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64"]);
/**
 * The reference crate's `Dtype` enum order (ascending alignment); the writer sorts by descending rank then
 * name so every tensor's data starts aligned to its item size.
 */
const RANK: Record<SafetensorsDType, number> = { BOOL: 0, U8: 1, I8: 2, F16: 3, BF16: 4, I32: 5, U32: 6, F32: 7, F64: 8 };

const ITEMSIZE: Record<SafetensorsDType, number> = { BOOL: 1, U8: 1, I8: 1, I32: 4, U32: 4, F16: 2, BF16: 2, F32: 4, F64: 8 };

/** The reference implementation's cap; anything larger is treated as corruption rather than allocated. */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();

/** safetensors dtype code of a Trident dtype. */
export function safetensorsDType(dt: DType): SafetensorsDType {
  return CODE_OF[dt];
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function bytesOfStorage(op: string, e: Entry, st: TypedArray): Uint8Array {
  const size = ITEMSIZE[e.code], n = e.tensor.size * size;
  if (st.length * st.BYTES_PER_ELEMENT < n) fail(op, `backend returned ${st.length} elements for tensor "${e.name}" of shape [${e.shape}]`);
  const bytes = new Uint8Array(st.buffer, st.byteOffset, n);
  if (LITTLE_ENDIAN || size === 1) return bytes;
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i += size) out.subarray(i, i + size).reverse();
  return out;
}

function eager(op: string, name: string, t: unknown): EagerTensor {
  if (!(t instanceof Tensor)) fail(op, `tensors["${name}"] must be a Tensor, got ${t === null ? "null" : typeof t}`);
  if (!(t instanceof EagerTensor)) fail(op, `tensors["${name}"] is a traced value (${t.aval}); only concrete tensors can be saved`);
  return t;
}

interface Entry {
  name: string;
  /** The name's UTF-8 bytes: Rust sorts names by bytes, which differs from UTF-16 order above U+FFFF. */
  key: Uint8Array;
  code: SafetensorsDType;
  shape: readonly number[];
  tensor: EagerTensor;
}

function plan(op: string, tensors: Record<string, Tensor>, metadata: SafetensorsMetadata | undefined): Entry[] {
  if (tensors === null || typeof tensors !== "object") fail(op, `tensors must be an object of name -> Tensor, got ${tensors === null ? "null" : typeof tensors}`);
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== "object") fail(op, `metadata must be an object of string -> string, got ${metadata === null ? "null" : typeof metadata}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") fail(op, `metadata["${k}"] must be a string, got ${typeof v}`);
    }
  }
  const entries: Entry[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") fail(op, `"__metadata__" is reserved by the format and cannot name a tensor`);
    const e = eager(op, name, t);
    entries.push({ name, key: utf8.encode(name), code: CODE_OF[e.dtype], shape: e.shape, tensor: e });
  }
  entries.sort((a, b) => RANK[b.code] - RANK[a.code] || compareBytes(a.key, b.key));
  return entries;
}

function assemble(entries: Entry[], datas: Uint8Array[], metadata: SafetensorsMetadata | undefined): Uint8Array {
  // serde_json's compact output: "__metadata__" first, then tensors in data order, no whitespace
  const parts: string[] = [];
  if (metadata !== undefined) {
    const m = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`"__metadata__":{${m.join(",")}}`);
  }
  let offset = 0;
  entries.forEach((e, i) => {
    const n = datas[i]!.length;
    parts.push(`${JSON.stringify(e.name)}:{"dtype":"${e.code}","shape":[${e.shape.join(",")}],"data_offsets":[${offset},${offset + n}]}`);
    offset += n;
  });
  const json = utf8.encode(`{${parts.join(",")}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLen % 2 ** 32, true);
  dv.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let p = 8 + headerLen;
  for (const d of datas) {
    out.set(d, p);
    p += d.length;
  }
  return out;
}

/**
 * Encode tensors (and optional string metadata) as a safetensors file, synchronously (CPU backends).
 * @example const bytes = tr.io.serialize({ w: tr.ones([2, 2]) }, { format: "pt" });
 */
export function serialize(tensors: Record<string, Tensor>, metadata?: SafetensorsMetadata): Uint8Array {
  const op = "safetensors.serialize";
  const entries = plan(op, tensors, metadata);
  const datas = entries.map((e) => {
    const b = e.tensor.backend;
    if (!b.readSync) fail(op, `backend "${b.name}" reads asynchronously; use serializeAsync`);
    return bytesOfStorage(op, e, b.readSync(e.tensor.buffer));
  });
  return assemble(entries, datas, metadata);
}

/** Encode tensors as a safetensors file on any backend (reads device buffers asynchronously). */
export async function serializeAsync(tensors: Record<string, Tensor>, metadata?: SafetensorsMetadata): Promise<Uint8Array> {
  const op = "safetensors.serializeAsync";
  const entries = plan(op, tensors, metadata);
  const datas = await Promise.all(entries.map(async (e) => bytesOfStorage(op, e, await e.tensor.backend.read(e.tensor.buffer))));
  return assemble(entries, datas, metadata);
}

// --- reading ---

/** One tensor's entry in a parsed header. */
export interface TensorInfo {
  name: string;
  /** The code in the file (may be a widened one such as I64). */
  code: string;
  /** The Trident dtype the tensor loads as. */
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface Header {
  /** Tensors in data order. */
  tensors: TensorInfo[];
  metadata: SafetensorsMetadata;
  /** Byte offset of the data buffer in the file (8 + header length). */
  dataStart: number;
}

function readU64(bytes: Uint8Array, op: string): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
  if (hi >= 2 ** 21) fail(op, `header length ${(BigInt(hi) << 32n) | BigInt(lo)} is absurdly large (expected at most ${MAX_HEADER_BYTES} bytes)`);
  return hi * 2 ** 32 + lo;
}

function checkLength(op: string, n: number, fileLen: number): void {
  if (n > MAX_HEADER_BYTES) fail(op, `header length ${n} is absurdly large (expected at most ${MAX_HEADER_BYTES} bytes)`);
  if (8 + n > fileLen) fail(op, `file is truncated: header length says ${n} bytes but only ${fileLen - 8} follow the length field`);
}

/** Parse and validate the header of a safetensors file without touching the tensor data. */
export function readHeader(bytes: Uint8Array): Header {
  return headerOf(bytes, "safetensors.readHeader");
}

function headerOf(bytes: Uint8Array, op: string): Header {
  if (!(bytes instanceof Uint8Array)) fail(op, `expected a Uint8Array of file bytes, got ${bytes === null ? "null" : typeof bytes}`);
  if (bytes.length < 8) fail(op, `file is truncated: ${bytes.length} bytes, but the 8-byte header length alone needs 8`);
  const n = readU64(bytes, op);
  checkLength(op, n, bytes.length);
  return parseHeader(op, bytes.subarray(8, 8 + n), bytes.length - 8 - n);
}

/** Validate header JSON bytes against a data buffer of `dataLen` bytes. */
function parseHeader(op: string, json: Uint8Array, dataLen: number): Header {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    return fail(op, `header is not valid UTF-8`);
  }
  const root = parseStrictJson(text, op);
  if (!isJsonObject(root)) fail(op, `header must be a JSON object, got ${jsonKind(root)}`);
  const metadata: SafetensorsMetadata = {};
  const tensors: TensorInfo[] = [];
  for (const [name, v] of root) {
    if (name === "__metadata__") {
      if (v === null) continue;
      if (!isJsonObject(v)) fail(op, `"__metadata__" must be an object of string -> string, got ${jsonKind(v)}`);
      for (const [k, s] of v) {
        if (typeof s !== "string") fail(op, `"__metadata__"["${k}"] must be a string, got ${jsonKind(s)}`);
        setKey(metadata, k, s);
      }
      continue;
    }
    tensors.push(tensorInfo(op, name, v));
  }
  // offsets must tile [0, data length) exactly: sorted by begin, each starting where the last ended
  const order = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of order) {
    if (t.begin !== pos) {
      fail(op, t.begin > pos
        ? `tensor "${t.name}" starts at data offset ${t.begin} but the previous tensor ends at ${pos}: the data has a hole`
        : `tensor "${t.name}" data_offsets [${t.begin},${t.end}] overlap the previous tensor (which ends at ${pos})`);
    }
    pos = t.end;
  }
  if (pos > dataLen) fail(op, `file is truncated: tensors need ${pos} data bytes but only ${dataLen} follow the header`);
  if (pos < dataLen) fail(op, `file has ${dataLen - pos} trailing bytes after the last tensor (data buffer is ${dataLen} bytes, tensors cover ${pos})`);
  return { tensors: order, metadata, dataStart: 8 + json.length };
}

function tensorInfo(op: string, name: string, v: JsonValue): TensorInfo {
  const where = `tensor "${name}"`;
  if (!isJsonObject(v)) return fail(op, `${where}: expected an object {dtype, shape, data_offsets}, got ${jsonKind(v)}`);
  const code = v.get("dtype"), shapeV = v.get("shape"), offs = v.get("data_offsets");
  if (typeof code !== "string") return fail(op, `${where}: "dtype" must be a string, got ${jsonKind(code)}`);
  let dtype: DType, size: number;
  if (code in DTYPE_OF) {
    dtype = DTYPE_OF[code as SafetensorsDType];
    size = ITEMSIZE[code as SafetensorsDType];
  } else if (code in WIDENED) {
    dtype = WIDENED[code]!.to;
    size = WIDENED[code]!.size;
  } else if (UNSUPPORTED.has(code)) {
    return fail(op, `${where}: dtype ${code} has no Trident counterpart (supported: ${[...Object.keys(DTYPE_OF), ...Object.keys(WIDENED)].join(", ")})`);
  } else {
    return fail(op, `${where}: unknown dtype ${JSON.stringify(code)}`);
  }
  if (!Array.isArray(shapeV)) return fail(op, `${where}: "shape" must be an array of non-negative integers, got ${jsonKind(shapeV)}`);
  let count = 1;
  const shape: number[] = [];
  for (const d of shapeV) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      return fail(op, `${where}: shape [${shapeV.map((x) => JSON.stringify(x)).join(",")}] must hold non-negative integers`);
    }
    shape.push(d);
    count *= d;
  }
  if (!Array.isArray(offs) || offs.length !== 2) return fail(op, `${where}: "data_offsets" must be [begin, end], got ${JSON.stringify(offs === undefined ? null : jsonPlain(offs))}`);
  const [begin, end] = offs;
  if (typeof begin !== "number" || typeof end !== "number" || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
    return fail(op, `${where}: data_offsets ${JSON.stringify(jsonPlain(offs))} must be integers with 0 <= begin <= end`);
  }
  const nbytes = count * size;
  if (end - begin !== nbytes) {
    return fail(op, `${where}: data_offsets [${begin},${end}] hold ${end - begin} bytes but dtype ${code} with shape [${shape}] needs ${Number.isSafeInteger(nbytes) ? nbytes : "an absurd number of"} bytes`);
  }
  return { name, code, dtype, shape, begin, end };
}

function jsonPlain(v: JsonValue): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, jsonPlain(x)]));
  if (Array.isArray(v)) return v.map(jsonPlain);
  return v;
}

/** Decode one tensor's bytes into Trident storage. */
function decodeData(op: string, info: TensorInfo, raw: Uint8Array): TypedArray {
  const n = info.shape.reduce((a, b) => a * b, 1);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (info.code in WIDENED) {
    const st = storageArray(info.dtype, n);
    for (let i = 0; i < n; i++) {
      switch (info.code) {
        case "I16": st[i] = dv.getInt16(2 * i, true); break;
        case "U16": st[i] = dv.getUint16(2 * i, true); break;
        case "I64": {
          const v = dv.getBigInt64(8 * i, true);
          if (v < -(2n ** 31n) || v >= 2n ** 31n) fail(op, `tensor "${info.name}": I64 value ${v} at flat index ${i} does not fit int32, Trident's widest integer dtype`);
          st[i] = Number(v);
          break;
        }
        case "U64": {
          const v = dv.getBigUint64(8 * i, true);
          if (v >= 2n ** 32n) fail(op, `tensor "${info.name}": U64 value ${v} at flat index ${i} does not fit uint32, Trident's widest unsigned dtype`);
          st[i] = Number(v);
          break;
        }
      }
    }
    return st;
  }
  const st = storageArray(info.dtype, n);
  const size = st.BYTES_PER_ELEMENT;
  const dst = new Uint8Array(st.buffer, st.byteOffset, n * size);
  dst.set(raw);
  if (!LITTLE_ENDIAN && size > 1) for (let i = 0; i < dst.length; i += size) dst.subarray(i, i + size).reverse();
  // Trident's kernels assume bools are exactly 0 or 1; any nonzero byte means true
  if (info.dtype === "bool") for (let i = 0; i < n; i++) if (st[i]) st[i] = 1;
  return st;
}

/**
 * Decode a safetensors file into tensors (on the current backend) and its string metadata.
 * @example const { tensors, metadata } = tr.io.deserialize(bytes);
 */
export function deserialize(bytes: Uint8Array): Deserialized {
  const op = "safetensors.deserialize";
  const h = headerOf(bytes, op);
  const tensors: Record<string, Tensor> = {};
  const storages = h.tensors.map((info) => decodeData(op, info, bytes.subarray(h.dataStart + info.begin, h.dataStart + info.end)));
  // upload only after every tensor decoded, so a bad tensor does not leave half the file on the device
  h.tensors.forEach((info, i) => setKey(tensors, info.name, fromStorage(new ShapedArray(info.shape, info.dtype), storages[i]!)));
  return { tensors, metadata: h.metadata };
}

// --- files (Node only; fs is imported lazily so browser bundles of this module still load) ---

async function nodeFs(op: string): Promise<typeof import("node:fs/promises")> {
  try {
    return await import("node:fs/promises");
  } catch {
    return fail(op, "file access needs Node's fs module; in a browser use serialize/deserialize on bytes");
  }
}

/** Write tensors to a `.safetensors` file. */
export async function save(path: string, tensors: Record<string, Tensor>, metadata?: SafetensorsMetadata): Promise<void> {
  const fs = await nodeFs("safetensors.save");
  await fs.writeFile(path, await serializeAsync(tensors, metadata));
}

/** Read a `.safetensors` file. */
export async function load(path: string): Promise<Deserialized> {
  const fs = await nodeFs("safetensors.load");
  return deserialize(await fs.readFile(path));
}

/** Read only the header of a `.safetensors` file (names, dtypes, shapes, metadata); data stays on disk. */
export async function loadHeader(path: string): Promise<Header> {
  const op = "safetensors.loadHeader";
  const fs = await nodeFs(op);
  const fh = await fs.open(path, "r");
  try {
    const size = (await fh.stat()).size;
    const first = new Uint8Array(8);
    await fh.read(first, 0, 8, 0);
    if (size < 8) fail(op, `file is truncated: ${size} bytes, but the 8-byte header length alone needs 8`);
    const n = readU64(first, op);
    checkLength(op, n, size);
    const head = new Uint8Array(n);
    await fh.read(head, 0, n, 8);
    return parseHeader(op, head, size - 8 - n);
  } finally {
    await fh.close();
  }
}

/** Keep the entries whose name starts with `prefix`, with the prefix removed (e.g. `"model."`). */
export function stripPrefix<T>(dict: Record<string, T>, prefix: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(dict)) if (k.startsWith(prefix)) setKey(out, k.slice(prefix.length), v);
  return out;
}

/** Prefix every key of a state dict. */
export function addPrefix<T>(dict: Record<string, T>, prefix: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(dict)) setKey(out, prefix + k, v);
  return out;
}
