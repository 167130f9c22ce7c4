import { TridentError } from "../core/errors.js";
import { storageArray, type DType, type TypedArray } from "../core/dtype.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { fromTypedArray } from "../ops/convert.js";
import { stack } from "../ops/shape.js";
import { toTensor } from "../ops/convert.js";
import { HostRng, mixSeed } from "./rng.js";

/**
 * A sequence of examples (any pytree of tensors/numbers). Sized datasets also support random access
 * (`get(i)`), which the DataLoader uses to shuffle without buffering. Transformations are lazy.
 */
export abstract class Dataset<T> implements AsyncIterable<T> {
  /** Number of examples, when known. */
  abstract get length(): number | undefined;
  /** Random access, for sized datasets. */
  get?(i: number): T | Promise<T>;
  abstract [Symbol.asyncIterator](): AsyncIterator<T>;

  static fromArray<T>(items: readonly T[]): Dataset<T> {
    return new ArrayDataset(items);
  }
  /** Examples are the slices along axis 0 of each tensor in the tree: `fromTensors({ x, y })`. */
  static fromTensors<T extends Record<string, Tensor> | Tensor[]>(tensors: T): TensorDataset {
    return new TensorDataset(tensors as Record<string, Tensor> | Tensor[]);
  }
  static fromGenerator<T>(fn: () => AsyncIterable<T> | Iterable<T>): Dataset<T> {
    return new GeneratorDataset(fn);
  }

  map<U>(fn: (x: T, i: number) => U | Promise<U>): Dataset<U> {
    return new MapDataset(this, fn);
  }
  filter(fn: (x: T) => boolean | Promise<boolean>): Dataset<T> {
    const src = this;
    return Dataset.fromGenerator(async function* () {
      for await (const x of src) if (await fn(x)) yield x;
    });
  }
  take(n: number): Dataset<T> {
    return new SliceDataset(this, 0, n);
  }
  skip(n: number): Dataset<T> {
    return new SliceDataset(this, n, Infinity);
  }
  /** A new order every pass, reproducible from the seed (a full permutation for sized datasets). */
  shuffle(opts: { seed?: number; bufferSize?: number } = {}): Dataset<T> {
    return new ShuffleDataset(this, opts.seed ?? 0, opts.bufferSize);
  }
  /** Group consecutive examples and collate them (tensors are stacked along a new axis 0). */
  batch(size: number, opts: { dropLast?: boolean; collate?: (xs: T[]) => unknown } = {}): Dataset<unknown> {
    if (!Number.isInteger(size) || size < 1) throw new TridentError(`batch: size must be a positive integer, got ${size}`);
    const src = this;
    const collate = opts.collate ?? defaultCollate;
    const n = this.length;
    const ds = Dataset.fromGenerator(async function* () {
      let buf: T[] = [];
      for await (const x of src) {
        buf.push(x);
        if (buf.length === size) {
          yield collate(buf);
          buf = [];
        }
      }
      if (buf.length && !opts.dropLast) yield collate(buf);
    });
    (ds as GeneratorDataset<unknown>).knownLength = n === undefined ? undefined : opts.dropLast ? Math.floor(n / size) : Math.ceil(n / size);
    return ds;
  }
  /** Materialise the examples once and replay them on later passes. */
  cache(): Dataset<T> {
    return new CacheDataset(this);
  }
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const x of this) out.push(x);
    return out;
  }
}

class ArrayDataset<T> extends Dataset<T> {
  constructor(private items: readonly T[]) {
    super();
  }
  get length(): number {
    return this.items.length;
  }
  override get = (i: number): T => {
    if (i < 0 || i >= this.items.length) throw new TridentError(`Dataset.get: index ${i} is out of range for ${this.items.length} examples`);
    return this.items[i]!;
  };
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    yield* this.items;
  }
}

class GeneratorDataset<T> extends Dataset<T> {
  knownLength: number | undefined;
  constructor(private fn: () => AsyncIterable<T> | Iterable<T>) {
    super();
  }
  get length(): number | undefined {
    return this.knownLength;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    yield* this.fn() as AsyncIterable<T>;
  }
}

class MapDataset<T, U> extends Dataset<U> {
  constructor(private src: Dataset<T>, private fn: (x: T, i: number) => U | Promise<U>) {
    super();
    if (src.get) this.get = async (i: number) => this.fn(await src.get!(i), i);
  }
  get length(): number | undefined {
    return this.src.length;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<U> {
    let i = 0;
    for await (const x of this.src) yield await this.fn(x, i++);
  }
}

class SliceDataset<T> extends Dataset<T> {
  constructor(private src: Dataset<T>, private start: number, private count: number) {
    super();
    if (src.get) this.get = (i: number) => src.get!(i + this.start);
  }
  get length(): number | undefined {
    const n = this.src.length;
    return n === undefined ? (Number.isFinite(this.count) ? undefined : undefined) : Math.max(0, Math.min(n - this.start, this.count));
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let i = 0;
    for await (const x of this.src) {
      if (i >= this.start + this.count) break;
      if (i++ >= this.start) yield x;
    }
  }
}

class ShuffleDataset<T> extends Dataset<T> {
  private epoch = 0;
  constructor(private src: Dataset<T>, private seed: number, private bufferSize?: number) {
    super();
  }
  get length(): number | undefined {
    return this.src.length;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    const rng = new HostRng(mixSeed(this.seed, this.epoch++));
    const n = this.src.length;
    if (this.src.get && n !== undefined && this.bufferSize === undefined) {
      for (const i of rng.permutation(n)) yield await this.src.get(i);
      return;
    }
    // streaming: a reservoir of bufferSize examples, emitting a random one as each new example arrives
    const size = this.bufferSize ?? 1024;
    const buf: T[] = [];
    for await (const x of this.src) {
      if (buf.length < size) {
        buf.push(x);
        continue;
      }
      const j = rng.below(size);
      yield buf[j]!;
      buf[j] = x;
    }
    while (buf.length) {
      const j = rng.below(buf.length);
      yield buf[j]!;
      buf[j] = buf[buf.length - 1]!;
      buf.pop();
    }
  }
}

class CacheDataset<T> extends Dataset<T> {
  private items: T[] | null = null;
  constructor(private src: Dataset<T>) {
    super();
  }
  get length(): number | undefined {
    return this.items?.length ?? this.src.length;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.items) {
      yield* this.items;
      return;
    }
    const items: T[] = [];
    for await (const x of this.src) {
      items.push(x);
      yield x;
    }
    this.items = items;
  }
}

interface HostArray {
  data: TypedArray;
  dtype: DType;
  shape: number[];
  rowSize: number;
}

/**
 * Examples are rows of host-resident arrays (read once from the given tensors). Batches are assembled
 * on the host and uploaded as one tensor per field, which is much faster than stacking slices.
 */
export class TensorDataset extends Dataset<Record<string, Tensor> | Tensor[]> {
  private fields: [string, HostArray][];
  private asArray: boolean;
  private n: number;
  constructor(tensors: Record<string, Tensor> | Tensor[]) {
    super();
    this.asArray = Array.isArray(tensors);
    const entries = Object.entries(tensors);
    if (entries.length === 0) throw new TridentError("TensorDataset: needs at least one tensor");
    this.fields = entries.map(([k, t]) => {
      if (!(t instanceof EagerTensor)) throw new TridentError(`TensorDataset: field ${k} must be a concrete tensor`);
      if (t.ndim === 0) throw new TridentError(`TensorDataset: field ${k} is a scalar; examples are slices along axis 0`);
      return [k, { data: t.dataSync(), dtype: t.dtype, shape: t.shape, rowSize: t.shape.slice(1).reduce((a, b) => a * b, 1) }];
    });
    this.n = this.fields[0]![1].shape[0]!;
    for (const [k, f] of this.fields) {
      if (f.shape[0] !== this.n) throw new TridentError(`TensorDataset: field ${k} has ${f.shape[0]} examples but ${this.fields[0]![0]} has ${this.n}`);
    }
  }
  /** Build directly from host arrays (no device round trip). */
  static fromHost(fields: Record<string, { data: TypedArray; shape: number[]; dtype?: DType }>): TensorDataset {
    const ts: Record<string, Tensor> = {};
    for (const [k, f] of Object.entries(fields)) ts[k] = fromTypedArray(f.data, f.shape, f.dtype);
    return new TensorDataset(ts);
  }
  get length(): number {
    return this.n;
  }
  override get = (i: number): Record<string, Tensor> | Tensor[] => this.gather([i], false);
  /** The examples at these indices, collated into one batch (leading axis = indices.length). */
  gather(indices: ArrayLike<number>, batched = true): Record<string, Tensor> | Tensor[] {
    const out: [string, Tensor][] = this.fields.map(([k, f]) => {
      const b = indices.length;
      const arr = storageArray(f.dtype === "float16" || f.dtype === "bfloat16" ? "float32" : f.dtype, b * f.rowSize);
      for (let j = 0; j < b; j++) {
        const i = indices[j]!;
        if (i < 0 || i >= this.n) throw new TridentError(`TensorDataset: index ${i} is out of range for ${this.n} examples`);
        arr.set(f.data.subarray(i * f.rowSize, (i + 1) * f.rowSize), j * f.rowSize);
      }
      const shape = batched ? [b, ...f.shape.slice(1)] : f.shape.slice(1);
      return [k, fromTypedArray(arr, shape, f.dtype)];
    });
    return this.asArray ? out.map(([, t]) => t) : Object.fromEntries(out);
  }
  /** Split into two datasets at an index (no copy of the semantics, a copy of the rows). */
  split(at: number): [TensorDataset, TensorDataset] {
    const idx = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    const make = (ix: number[]) => new TensorDataset(this.gather(ix));
    return [make(idx(0, at)), make(idx(at, this.n))];
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Record<string, Tensor> | Tensor[]> {
    for (let i = 0; i < this.n; i++) yield this.gather([i], false);
  }
}

/** Stack a list of examples (pytrees of tensors / numbers) into one batch. */
export function defaultCollate(items: readonly unknown[]): unknown {
  const first = items[0];
  if (first instanceof Tensor) return stack(items as Tensor[], 0);
  if (typeof first === "number") {
    const ints = (items as number[]).every(Number.isInteger);
    return toTensor(items as number[], ints ? "int32" : "float32");
  }
  if (typeof first === "boolean") return toTensor(items as boolean[], "bool");
  if (Array.isArray(first)) return first.map((_, i) => defaultCollate(items.map((x) => (x as unknown[])[i])));
  if (first && typeof first === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first)) out[k] = defaultCollate(items.map((x) => (x as Record<string, unknown>)[k]));
    return out;
  }
  if (first === null || first === undefined) return first;
  throw new TridentError(`collate: cannot batch values of type ${typeof first}`);
}
