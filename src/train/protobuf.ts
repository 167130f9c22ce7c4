/**
 * The slice of the protobuf wire format that TensorBoard event files need: varints, 64- and 32-bit
 * fixed fields, and length-delimited fields (strings, nested messages, packed repeated doubles).
 * Fields are written in the order the caller emits them, so callers emit them by field number as
 * protoc-generated encoders do; that keeps the output byte-identical to TensorFlow's.
 */
import { fail } from "../core/errors.js";

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const utf8 = new TextEncoder();

/** Appends encoded fields to a growing buffer. */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private len = 0;
  private dv = new DataView(this.buf.buffer);

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  private rawVarint(v: bigint): void {
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }
  private key(field: number, wire: number): void {
    this.rawVarint(BigInt(field) << 3n | BigInt(wire));
  }
  /** int64/uint64/int32/bool/enum: negative values take ten bytes (two's complement), as in protobuf. */
  varint(field: number, v: number | bigint): this {
    const b = typeof v === "bigint" ? v : BigInt(Math.trunc(v));
    this.key(field, WIRE_VARINT);
    this.rawVarint(BigInt.asUintN(64, b));
    return this;
  }
  double(field: number, v: number): this {
    this.key(field, WIRE_I64);
    this.reserve(8);
    this.dv.setFloat64(this.len, v, true);
    this.len += 8;
    return this;
  }
  float(field: number, v: number): this {
    this.key(field, WIRE_I32);
    this.reserve(4);
    this.dv.setFloat32(this.len, v, true);
    this.len += 4;
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, WIRE_LEN);
    this.rawVarint(BigInt(b.length));
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }
  /** A nested message (already encoded). */
  message(field: number, m: Uint8Array | ProtoWriter): this {
    return this.bytes(field, m instanceof ProtoWriter ? m.finish() : m);
  }
  /** A packed repeated double field. */
  packedDoubles(field: number, vs: ArrayLike<number>): this {
    const b = new Uint8Array(8 * vs.length);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < vs.length; i++) dv.setFloat64(8 * i, vs[i]!, true);
    return this.bytes(field, b);
  }
  /** The encoded bytes (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** One decoded field: varints as unsigned 64-bit bigints, everything else as its raw bytes. */
export type ProtoField =
  | { field: number; wire: 0; value: bigint }
  | { field: number; wire: 1 | 2 | 5; value: Uint8Array };

/** Split an encoded message into its fields, in order. Throws TridentError on malformed input. */
export function readFields(bytes: Uint8Array, op = "protobuf"): ProtoField[] {
  const out: ProtoField[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n, shift = 0n;
    for (let k = 0; k < 10; k++) {
      if (i >= bytes.length) fail(op, `truncated varint at byte ${i}`);
      const b = bytes[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return BigInt.asUintN(64, v);
      shift += 7n;
    }
    return fail(op, `varint longer than 10 bytes at byte ${i}`);
  };
  const take = (n: number): Uint8Array => {
    if (n > bytes.length - i) fail(op, `field needs ${n} bytes at byte ${i} but only ${bytes.length - i} remain`);
    const b = bytes.subarray(i, i + n);
    i += n;
    return b;
  };
  while (i < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (field === 0 || field > 2 ** 29 - 1) fail(op, `invalid field number ${field}`);
    switch (wire) {
      case WIRE_VARINT: out.push({ field, wire: 0, value: varint() }); break;
      case WIRE_I64: out.push({ field, wire: 1, value: take(8) }); break;
      case WIRE_LEN: {
        const n = varint();
        if (n > BigInt(bytes.length)) fail(op, `length ${n} at byte ${i} runs past the end (${bytes.length} bytes)`);
        out.push({ field, wire: 2, value: take(Number(n)) });
        break;
      }
      case WIRE_I32: out.push({ field, wire: 5, value: take(4) }); break;
      default: fail(op, `unsupported wire type ${wire} for field ${field}`);
    }
  }
  return out;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function expectWire(op: string, f: ProtoField, wire: number, what: string): void {
  if (f.wire !== wire) fail(op, `field ${f.field} (${what}) has wire type ${f.wire}, expected ${wire}`);
}

/** Decoders for one field's value; each checks the wire type. */
export const decode = {
  double(f: ProtoField, op = "protobuf"): number {
    expectWire(op, f, WIRE_I64, "double");
    return view(f.value as Uint8Array).getFloat64(0, true);
  },
  float(f: ProtoField, op = "protobuf"): number {
    expectWire(op, f, WIRE_I32, "float");
    return view(f.value as Uint8Array).getFloat32(0, true);
  },
  int64(f: ProtoField, op = "protobuf"): bigint {
    expectWire(op, f, WIRE_VARINT, "int64");
    return BigInt.asIntN(64, f.value as bigint);
  },
  bytes(f: ProtoField, op = "protobuf"): Uint8Array {
    expectWire(op, f, WIRE_LEN, "bytes");
    return f.value as Uint8Array;
  },
  string(f: ProtoField, op = "protobuf"): string {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(decode.bytes(f, op));
    } catch (e) {
      if (e instanceof TypeError) return fail(op, `field ${f.field} is not valid UTF-8`);
      throw e;
    }
  },
  /** A repeated double, packed (wire 2) or not (wire 1): parsers must accept both. */
  doubles(f: ProtoField, op = "protobuf"): number[] {
    if (f.wire === WIRE_I64) return [decode.double(f, op)];
    const b = decode.bytes(f, op);
    if (b.length % 8) fail(op, `packed doubles of field ${f.field} have ${b.length} bytes, not a multiple of 8`);
    const dv = view(b);
    return Array.from({ length: b.length / 8 }, (_, k) => dv.getFloat64(8 * k, true));
  },
};
