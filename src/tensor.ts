import type { DeviceBuffer, Backend } from "./backend/backend.js";
import { ShapedArray } from "./core/aval.js";
import { bf16ToF32, f16ToF32, itemsize, type DType, type TypedArray } from "./core/dtype.js";
import { ConcretizationError, TridentError } from "./core/errors.js";
import { track, untrack, onCreate } from "./memory.js";

/**
 * The user-facing array. Concrete arrays (`EagerTensor`) and the tracers that transformations pass
 * through user code are both Tensors, so the same methods work inside and outside grad/vmap/jit.
 * Methods are installed by `ops/methods.ts`.
 */
export abstract class Tensor {
  abstract readonly aval: ShapedArray;
  get shape(): number[] {
    return [...this.aval.shape];
  }
  get dtype(): DType {
    return this.aval.dtype;
  }
  get ndim(): number {
    return this.aval.shape.length;
  }
  get size(): number {
    return this.aval.size;
  }
  /** Whether this is a traced (abstract) value inside a transformation. */
  get isTracer(): boolean {
    return false;
  }
  /** PyTorch-style autograd: leaf flag and accumulated gradient (concrete tensors only). */
  requiresGrad = false;
  grad: Tensor | null = null;
  get isDisposed(): boolean {
    return false;
  }
  /** Free this tensor's memory now (idempotent; a no-op on traced values). */
  dispose(): void {}
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** Read the values (row-major, decoded to JS-friendly typed arrays). */
  data(): Promise<TypedArray> {
    return concretizationError(`data() on a traced value ${this.aval}`);
  }
  dataSync(): TypedArray {
    return concretizationError(`dataSync() on a traced value ${this.aval}`);
  }
  array(): Promise<NestedArray> {
    return concretizationError(`array() on a traced value ${this.aval}`);
  }
  arraySync(): NestedArray {
    return concretizationError(`arraySync() on a traced value ${this.aval}`);
  }
  /** The single value of a one-element tensor as a JS number. */
  item(): number {
    return concretizationError(`item() on a traced value ${this.aval}`);
  }
  /** Replace this tensor's contents with another's (same shape and dtype), in place (PyTorch's copy_). */
  assign(_src: Tensor): this {
    throw new TridentError(`assign: a traced value ${this.aval} cannot be written in place; return the new value instead`);
  }
}

/** Device memory shared by tensors that view the same data (reshape, detach); freed at refcount 0. */
export class DataRef {
  refs = 1;
  constructor(readonly backend: Backend, public buf: DeviceBuffer | null, readonly bytes: number) {
    track(backend.name, bytes);
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0 && this.buf) {
      this.backend.free(this.buf);
      this.buf = null;
      untrack(this.backend.name, this.bytes);
    }
  }
}

// Safety net: tensors that become unreachable give their reference back.
// The collected tensor also stops counting as live, so tr.memory().numTensors matches what is reachable.
const finalizer = new FinalizationRegistry<DataRef>((ref) => {
  ref.release();
  untrack(null, 0, true);
});

export interface TapeNode {
  /** Cotangents for this node's outputs → cotangents for its differentiable inputs. */
  vjp(cts: (Tensor | null)[]): (Tensor | null)[];
  inputs: EagerTensor[];
  nOut: number;
  release(): void;
}

/** A concrete array living on a backend. */
export class EagerTensor extends Tensor {
  readonly aval: ShapedArray;
  private _ref: DataRef | null;
  /** The autograd node that produced this value (null for leaves). */
  _node: TapeNode | null = null;
  _outIndex = 0;
  /** Bumped by in-place writes, so autograd can refuse stale saved values (as PyTorch's version counter). */
  _version = 0;

  constructor(aval: ShapedArray, ref: DataRef) {
    super();
    this.aval = aval;
    this._ref = ref;
    finalizer.register(this, ref, this);
    onCreate(this);
  }

  get backend(): Backend {
    return this.ref.backend;
  }
  get ref(): DataRef {
    if (!this._ref || !this._ref.buf) throw new TridentError(`tensor ${this.aval.toString()} was used after dispose()`);
    return this._ref;
  }
  get buffer(): DeviceBuffer {
    return this.ref.buf!;
  }
  override get isDisposed(): boolean {
    return this._ref === null;
  }
  /** Whether autograd tracks this value (leaf with requiresGrad, or computed from one). */
  get tracked(): boolean {
    return this.requiresGrad || this._node !== null;
  }

  /** Free this tensor's memory now (idempotent). */
  override dispose(): void {
    if (!this._ref) return;
    finalizer.unregister(this);
    this._ref.release();
    this._ref = null;
    untrack(null, 0, this);
  }
  /** Replace this tensor's contents with another's (same shape and dtype), in place. */
  override assign(src: Tensor): this {
    if (!(src instanceof EagerTensor)) throw new TridentError(`assign: the source ${src.aval} is a traced value; assign only concrete tensors`);
    if (src.aval.dtype !== this.aval.dtype || src.aval.shape.join() !== this.aval.shape.join()) {
      throw new TridentError(`assign: target has ${this.aval} but source has ${src.aval}`);
    }
    const r = src.ref.retain();
    finalizer.unregister(this);
    this._ref?.release();
    this._ref = r;
    this._version++;
    finalizer.register(this, r, this);
    return this;
  }

  override async data(): Promise<TypedArray> {
    const raw = await this.backend.read(this.buffer);
    return decodeStorage(this.dtype, raw);
  }
  override dataSync(): TypedArray {
    const b = this.backend;
    if (!b.readSync) throw new TridentError(`dataSync: backend "${b.name}" reads asynchronously; use await t.data()`);
    return decodeStorage(this.dtype, b.readSync(this.buffer));
  }
  override async array(): Promise<NestedArray> {
    return nest(Array.from(await this.data(), (v) => (this.dtype === "bool" ? v !== 0 : v)), this.aval.shape);
  }
  override arraySync(): NestedArray {
    return nest(Array.from(this.dataSync(), (v) => (this.dtype === "bool" ? v !== 0 : v)), this.aval.shape);
  }
  override item(): number {
    if (this.size !== 1) throw new TridentError(`item: only a one-element tensor can become a number, this one has shape [${this.shape}]`);
    return this.dataSync()[0]!;
  }
  override toString(): string {
    return formatTensor(this);
  }
}

export type NestedArray = number | boolean | NestedArray[];

function nest(flat: (number | boolean)[], shape: readonly number[]): NestedArray {
  if (shape.length === 0) return flat[0]!;
  const [d, ...rest] = shape;
  const step = rest.reduce((a, b) => a * b, 1);
  const out: NestedArray[] = [];
  for (let i = 0; i < d!; i++) out.push(nest(flat.slice(i * step, (i + 1) * step), rest));
  return out;
}

/** 16-bit floats are stored as bits; reads hand back Float32Array values. */
export function decodeStorage(dt: DType, raw: TypedArray): TypedArray {
  if (dt === "float16") return Float32Array.from(raw, f16ToF32);
  if (dt === "bfloat16") return Float32Array.from(raw, bf16ToF32);
  return raw;
}

function formatNumber(v: number, dt: DType): string {
  if (dt === "bool") return v ? "True" : "False";
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (dt.startsWith("int") || dt.startsWith("uint")) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.`;
  const s = Math.abs(v) >= 1e-4 && Math.abs(v) < 1e8 ? String(Number(v.toPrecision(dt === "float64" ? 8 : 6))) : v.toExponential(4);
  return s;
}

/** NumPy-like printing: `tensor([[1., 2.], [3., 4.]], dtype=float32)`. */
export function formatTensor(t: EagerTensor): string {
  if (t.isDisposed) return `tensor(<disposed>, shape=[${t.shape}], dtype=${t.dtype})`;
  const vals = Array.from(t.dataSync(), (v) => formatNumber(v, t.dtype));
  const width = Math.max(0, ...vals.map((s) => s.length));
  const pad = (s: string) => s.padStart(width);
  const shape = t.aval.shape;
  const rec = (off: number, dim: number, indent: number): string => {
    if (dim === shape.length) return pad(vals[off]!);
    const step = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    const parts: string[] = [];
    const n = shape[dim]!;
    const elide = n > 6 && t.size > 1000;
    for (let i = 0; i < n; i++) {
      if (elide && i === 3) {
        parts.push("...");
        i = n - 4;
        continue;
      }
      parts.push(rec(off + i * step, dim + 1, indent + 1));
    }
    const sep = dim === shape.length - 1 ? ", " : ",\n" + "\n".repeat(Math.max(0, shape.length - dim - 2)) + " ".repeat(indent + 1);
    return `[${parts.join(sep)}]`;
  };
  return `tensor(${rec(0, 0, 7)}, dtype=${t.dtype})`;
}

export function bytesOf(aval: ShapedArray): number {
  return aval.size * itemsize[aval.dtype];
}

export function concretizationError(what: string): never {
  throw new ConcretizationError(what);
}
