import { TridentError, checkOptions, optionKeys } from "../core/errors.js";
import { Dataset, TensorDataset, defaultCollate } from "./dataset.js";
import { HostRng, mixSeed } from "./rng.js";

export interface DataLoaderOptions<T> {
  batchSize?: number;
  /** Reshuffle every epoch; the order is a function of (seed, epoch) only. */
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
  collate?: (items: T[]) => unknown;
}

/**
 * Batches of a dataset, reshuffled each pass (PyTorch's DataLoader): `for await (const b of loader)`.
 * Tensor datasets are batched on the host in one copy per field.
 */
export class DataLoader<T = unknown, B = unknown> implements AsyncIterable<B> {
  readonly batchSize: number;
  private epoch = 0;
  constructor(readonly dataset: Dataset<T>, readonly opts: DataLoaderOptions<T> = {}) {
    checkOptions("DataLoader", opts, optionKeys<DataLoaderOptions<T>>({ batchSize: true, shuffle: true, seed: true, dropLast: true, collate: true }));
    this.batchSize = opts.batchSize ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new TridentError(`DataLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    if (opts.shuffle && !(dataset.get && dataset.length !== undefined)) {
      throw new TridentError("DataLoader: shuffle needs a sized dataset with random access; use dataset.shuffle({ bufferSize }) for streams");
    }
  }
  /** Number of batches per epoch (undefined for streams of unknown length). */
  get length(): number | undefined {
    const n = this.dataset.length;
    if (n === undefined) return undefined;
    return this.opts.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }
  /** Choose the epoch whose order the next pass uses (passes otherwise advance it by one). */
  setEpoch(epoch: number): void {
    this.epoch = epoch;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<B> {
    const ds = this.dataset;
    const bs = this.batchSize;
    const n = ds.length;
    const epoch = this.epoch++;
    if (ds.get && n !== undefined) {
      const order = this.opts.shuffle ? new HostRng(mixSeed(this.opts.seed ?? 0, epoch)).permutation(n) : Uint32Array.from({ length: n }, (_, i) => i);
      const end = this.opts.dropLast ? n - (n % bs) : n;
      for (let s = 0; s < end; s += bs) {
        const idx = order.subarray(s, Math.min(s + bs, end));
        if (ds instanceof TensorDataset && !this.opts.collate) yield ds.gather(idx) as B;
        else {
          const items: T[] = [];
          for (const i of idx) items.push((await ds.get(i)) as T);
          yield (this.opts.collate ?? defaultCollate)(items) as B;
        }
      }
      return;
    }
    let buf: T[] = [];
    for await (const x of ds) {
      buf.push(x);
      if (buf.length === bs) {
        yield (this.opts.collate ?? defaultCollate)(buf) as B;
        buf = [];
      }
    }
    if (buf.length && !this.opts.dropLast) yield (this.opts.collate ?? defaultCollate)(buf) as B;
  }
}
