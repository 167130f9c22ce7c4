/**
 * Where fit, evaluate and predict get their batches: DataLoaders and other (async) iterables of
 * `{ x, y }` / `[x, y]`, or whole tensors cut into batches on the device (shuffled per epoch from a seed).
 */
import { fail } from "../core/errors.js";
import { treeFlatten, treeUnflatten } from "../core/pytree.js";
import { scope } from "../memory.js";
import { fromTypedArray, toTensor } from "../ops/convert.js";
import { take } from "../ops/indexing.js";
import { slice } from "../ops/shape.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { HostRng, mixSeed } from "../data/rng.js";

/** A re-openable stream of batches. */
export interface Source {
  open(epoch: number): AsyncIterator<unknown> | Iterator<unknown>;
  /** Batches per pass when known. */
  length: number | undefined;
  /** Whether open() can start a new pass (a generator object cannot). */
  reiterable: boolean;
  /** Whether its batches are fresh tensors that the loop may free. */
  fresh: boolean;
}

/** Whether v is a plain `{}` object (not a class instance or an array). */
export const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;

/** The batch size: axis 0 of the first tensor in the inputs. */
export function leadingDim(op: string, x: unknown): number {
  const leaves = treeFlatten(x)[0];
  const first = leaves.find((l): l is Tensor => l instanceof Tensor);
  if (!first) fail(op, "the inputs hold no tensor");
  if (first.ndim === 0) fail(op, `inputs need a batch axis, got a scalar ${first.aval}`);
  return first.shape[0]!;
}

/** Whole tensors `[x, y]` / `{ x, y }` (or x alone for predict) as a pytree, or null when data are batches. */
export function wholeTensors(data: unknown, pairs = true): { x: unknown; y: unknown } | null {
  if (data instanceof Tensor) return { x: data, y: undefined };
  if (pairs && Array.isArray(data) && data.length === 2 && data[0] instanceof Tensor && data[1] instanceof Tensor) return { x: data[0], y: data[1] };
  if (isPlainObject(data) && "x" in data && !(Symbol.iterator in data) && !(Symbol.asyncIterator in data)) {
    const ok = (v: unknown) => v === undefined || treeFlatten(v)[0].every((l) => l instanceof Tensor);
    if (ok(data["x"]) && ok(data["y"])) return { x: data["x"], y: data["y"] };
  }
  return null;
}

/** Batches from any supported data: whole tensors are cut (and shuffled) on the device, iterables are walked. */
export function toSource(op: string, data: unknown, opts: { batchSize?: number; shuffle?: boolean; seed: number; disposeBatches?: boolean; pairs?: boolean }): Source {
  // predict has no targets, so an array of two tensors there is two batches, not [x, y]
  const whole = wholeTensors(data, opts.pairs ?? true);
  if (whole) {
    const bs = opts.batchSize ?? 32;
    if (!Number.isInteger(bs) || bs < 1) fail(op, `batchSize must be a positive integer, got ${opts.batchSize}`);
    const n = leadingDim(op, whole.x);
    if (whole.y !== undefined) {
      const ny = leadingDim(op, whole.y);
      if (ny !== n) fail(op, `x has ${n} samples but y has ${ny}`);
    }
    const shuffle = opts.shuffle ?? false;
    return {
      length: Math.ceil(n / bs),
      reiterable: true,
      fresh: opts.disposeBatches ?? true,
      open(epoch) {
        const order = shuffle ? new HostRng(mixSeed(opts.seed, epoch)).permutation(n) : null;
        let s = 0;
        return {
          next(): IteratorResult<unknown> {
            if (s >= n) return { done: true, value: undefined };
            const e = Math.min(s + bs, n);
            const batch = scope(() => {
              const idx = order ? fromTypedArray(Int32Array.from(order.subarray(s, e)), [e - s], "int32") : null;
              const rows = (t: unknown) => {
                const [leaves, def] = treeFlatten(t);
                return treeUnflatten(def, leaves.map((l) => {
                  const r = idx ? take(l as Tensor, idx, 0) : slice(l as Tensor, [[s, e]]);
                  // a full-range slice may return its input: hand out a new handle, never the caller's tensor
                  return r === l ? (l as EagerTensor).detach() : r;
                }));
              };
              return whole.y === undefined ? { x: rows(whole.x) } : { x: rows(whole.x), y: rows(whole.y) };
            });
            s = e;
            return { done: false, value: batch };
          },
        };
      },
    };
  }
  const asyncIt = data !== null && typeof data === "object" && Symbol.asyncIterator in data;
  const syncIt = data !== null && typeof data === "object" && Symbol.iterator in data;
  if (!asyncIt && !syncIt) fail(op, `data must be a DataLoader, an (async) iterable of batches, or tensors [x, y]; got ${data === null ? "null" : typeof data}`);
  const it = data as (AsyncIterable<unknown> & Iterable<unknown>) & { length?: unknown; setEpoch?: (e: number) => void; opts?: { collate?: unknown }; dataset?: unknown };
  const isLoader = typeof it.setEpoch === "function" && it.dataset !== undefined;
  const open = () => (asyncIt ? it[Symbol.asyncIterator]() : it[Symbol.iterator]());
  const probe = open();
  // a generator object is its own iterator: it can be walked once
  const reiterable = (probe as unknown) !== data;
  let first: (AsyncIterator<unknown> | Iterator<unknown>) | null = probe;
  return {
    length: typeof it.length === "number" ? it.length : undefined,
    reiterable,
    fresh: opts.disposeBatches ?? (isLoader && !it.opts?.collate),
    open(epoch) {
      if (isLoader) {
        // the probe iterator has not started, so setting the epoch still applies to it
        it.setEpoch!(epoch);
        first = null;
        return open();
      }
      const r = first ?? open();
      first = null;
      return r;
    },
  };
}

/** Split a batch into inputs and targets. */
export function splitBatch(op: string, b: unknown, needY: boolean): [unknown, unknown] {
  let x: unknown, y: unknown;
  if (b instanceof Tensor) x = b;
  else if (Array.isArray(b) && (b.length === 2 || (!needY && b.length === 1))) [x, y] = b;
  else if (isPlainObject(b) && "x" in b) [x, y] = [b["x"], b["y"]];
  else fail(op, `each batch must be { x, y } or [x, y]${needY ? "" : " (or x alone)"}, got ${b === null ? "null" : Array.isArray(b) ? `an array of ${b.length}` : typeof b}`);
  if (needY && y === undefined) fail(op, "the batch has no targets y");
  if (y !== undefined && !(y instanceof Tensor)) y = toTensor(y as number);
  return [x, y];
}

/** Free every concrete tensor in a tree. */
export function disposeTree(t: unknown): void {
  for (const l of treeFlatten(t)[0]) if (l instanceof EagerTensor) l.dispose();
}
