/**
 * A tiny ONNX model writer for the onnxruntime rows: just enough protobuf (varints, length-delimited
 * fields) for ModelProto → GraphProto → NodeProto/TensorProto/ValueInfoProto with float32 tensors.
 * Field numbers follow onnx/onnx.proto.
 */

class Writer {
  private bytes: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      this.bytes.push(x ? b | 0x80 : b);
    } while (x);
    return this;
  }

  private key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  int(field: number, v: number): this {
    return this.key(field, 0).varint(v);
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.bytes.push(...b);
    return this;
  }

  raw(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length);
    for (const x of b) this.bytes.push(x);
    return this;
  }

  str(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }

  msg(field: number, w: Writer): this {
    return this.raw(field, w.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const FLOAT = 1;

/** An attribute value: numbers with a fractional part are floats, integers are ints; arrays are ints. */
export type Attr = number | string | number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, Attr>;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
  initializers?: { name: string; shape: number[]; data: Float32Array }[];
  opset?: number;
}

function attribute(name: string, v: Attr): Writer {
  const w = new Writer().str(1, name);
  // AttributeType: FLOAT 1, INT 2, STRING 3, INTS 7
  if (typeof v === "string") return w.raw(4, new TextEncoder().encode(v)).int(20, 3);
  if (Array.isArray(v)) {
    for (const x of v) w.int(8, x);
    return w.int(20, 7);
  }
  if (typeof v === "object") return w.float(2, v.float).int(20, 1);
  return Number.isInteger(v) ? w.int(3, v).int(20, 2) : w.float(2, v).int(20, 1);
}

function valueInfo(name: string, shape: number[]): Writer {
  const shapeW = new Writer();
  for (const d of shape) shapeW.msg(1, new Writer().int(1, d));
  const tensorType = new Writer().int(1, FLOAT).msg(2, shapeW);
  const type = new Writer().msg(1, tensorType);
  return new Writer().str(1, name).msg(2, type);
}

/** Serialise a graph of float32 tensors as an ONNX model (IR 9). */
export function encodeModel(g: OnnxGraph): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const x of n.inputs) node.str(1, x);
    for (const y of n.outputs) node.str(2, y);
    node.str(3, `${n.op.toLowerCase()}_${i}`).str(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) node.msg(5, attribute(k, v));
    graph.msg(1, node);
  });
  graph.str(2, "bench");
  for (const t of g.initializers ?? []) {
    const tw = new Writer();
    for (const d of t.shape) tw.int(1, d);
    tw.int(2, FLOAT).str(8, t.name).raw(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    graph.msg(5, tw);
  }
  for (const i of g.inputs) graph.msg(11, valueInfo(i.name, i.shape));
  for (const o of g.outputs) graph.msg(12, valueInfo(o.name, o.shape));
  return new Writer()
    .int(1, 9)
    .str(2, "trident-bench")
    .msg(7, graph)
    .msg(8, new Writer().str(1, "").int(2, g.opset ?? 20))
    .finish();
}
