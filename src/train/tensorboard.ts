/**
 * TensorBoard event files, written without TensorFlow: TFRecord framing (length, masked CRC-32C of the
 * length, data, masked CRC-32C of the data) around `tensorflow.Event` protos. Field numbers follow
 * tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto; proto3 defaults are
 * omitted and fields are emitted in field-number order, so the bytes match TensorFlow's writer.
 */
import { fail } from "../core/errors.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { maskedCrc32c } from "./crc32c.js";
import { ProtoWriter, decode, readFields } from "./protobuf.js";

/** HistogramProto: bucket i counts values in [bucketLimit[i-1], bucketLimit[i]) (the first from -inf). */
export interface Histogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  bucketLimit: number[];
  bucket: number[];
}

/** Summary.Value: a scalar (`simpleValue`) or a histogram (`histo`) under a tag. */
export interface SummaryValue {
  tag: string;
  simpleValue?: number;
  histo?: Histogram;
}

/** The parts of tensorflow.Event that Trident writes and reads. */
export interface TBEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  summary?: { value: SummaryValue[] };
}

/** How addHistogram buckets values: TensorFlow's exponential buckets, a bin count, or explicit edges. */
export type HistogramBins = "tensorflow" | number | readonly number[];

const FILE_VERSION = "brain.Event:2";

// --- encoding ---

const nonzero = (v: number) => !Object.is(v, 0);

function encodeHistogram(h: Histogram): ProtoWriter {
  const w = new ProtoWriter();
  if (nonzero(h.min)) w.double(1, h.min);
  if (nonzero(h.max)) w.double(2, h.max);
  if (nonzero(h.num)) w.double(3, h.num);
  if (nonzero(h.sum)) w.double(4, h.sum);
  if (nonzero(h.sumSquares)) w.double(5, h.sumSquares);
  if (h.bucketLimit.length) w.packedDoubles(6, h.bucketLimit);
  if (h.bucket.length) w.packedDoubles(7, h.bucket);
  return w;
}

/** Serialize an Event proto. */
export function encodeEvent(e: TBEvent): Uint8Array {
  if (!Number.isSafeInteger(e.step)) fail("encodeEvent", `step must be an integer, got ${e.step}`);
  const w = new ProtoWriter();
  if (nonzero(e.wallTime)) w.double(1, e.wallTime);
  if (e.step !== 0) w.varint(2, e.step);
  if (e.fileVersion !== undefined) w.string(3, e.fileVersion);
  if (e.summary) {
    const s = new ProtoWriter();
    for (const v of e.summary.value) {
      const vw = new ProtoWriter();
      if (v.tag !== "") vw.string(1, v.tag);
      if (v.simpleValue !== undefined) vw.float(2, v.simpleValue);
      if (v.histo) vw.message(5, encodeHistogram(v.histo));
      s.message(1, vw);
    }
    w.message(5, s);
  }
  return w.finish();
}

/** Frame one record: u64 length, masked CRC of the length, data, masked CRC of the data (all LE). */
export function encodeRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length >>> 0, true);
  dv.setUint32(4, Math.floor(data.length / 2 ** 32), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// --- decoding ---

/** Split a TFRecord stream into record payloads, checking both CRCs of every record. */
export function readRecords(bytes: Uint8Array): Uint8Array[] {
  const op = "readRecords";
  const out: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  while (p < bytes.length) {
    if (bytes.length - p < 12) fail(op, `truncated record header at byte ${p}: ${bytes.length - p} bytes left, 12 needed`);
    const lo = dv.getUint32(p, true), hi = dv.getUint32(p + 4, true);
    if (dv.getUint32(p + 8, true) !== maskedCrc32c(bytes.subarray(p, p + 8))) fail(op, `length CRC mismatch in the record at byte ${p}`);
    const n = hi * 2 ** 32 + lo;
    if (n > bytes.length - p - 16) fail(op, `record at byte ${p} claims ${n} bytes but only ${Math.max(0, bytes.length - p - 16)} remain`);
    const data = bytes.subarray(p + 12, p + 12 + n);
    if (dv.getUint32(p + 12 + n, true) !== maskedCrc32c(data)) fail(op, `data CRC mismatch in the record at byte ${p}`);
    out.push(data);
    p += 16 + n;
  }
  return out;
}

function decodeHistogram(b: Uint8Array, op: string): Histogram {
  const h: Histogram = { min: 0, max: 0, num: 0, sum: 0, sumSquares: 0, bucketLimit: [], bucket: [] };
  for (const f of readFields(b, op)) {
    switch (f.field) {
      case 1: h.min = decode.double(f, op); break;
      case 2: h.max = decode.double(f, op); break;
      case 3: h.num = decode.double(f, op); break;
      case 4: h.sum = decode.double(f, op); break;
      case 5: h.sumSquares = decode.double(f, op); break;
      case 6: h.bucketLimit.push(...decode.doubles(f, op)); break;
      case 7: h.bucket.push(...decode.doubles(f, op)); break;
    }
  }
  return h;
}

/** Parse one Event proto (fields Trident does not know are skipped). */
export function decodeEvent(b: Uint8Array): TBEvent {
  const op = "decodeEvent";
  const e: TBEvent = { wallTime: 0, step: 0 };
  for (const f of readFields(b, op)) {
    switch (f.field) {
      case 1: e.wallTime = decode.double(f, op); break;
      case 2: e.step = Number(decode.int64(f, op)); break;
      case 3: e.fileVersion = decode.string(f, op); break;
      case 5: {
        const value: SummaryValue[] = [];
        for (const sf of readFields(decode.bytes(f, op), op)) {
          if (sf.field !== 1) continue;
          const v: SummaryValue = { tag: "" };
          for (const vf of readFields(decode.bytes(sf, op), op)) {
            if (vf.field === 1) v.tag = decode.string(vf, op);
            else if (vf.field === 2) v.simpleValue = decode.float(vf, op);
            else if (vf.field === 5) v.histo = decodeHistogram(decode.bytes(vf, op), op);
          }
          value.push(v);
        }
        // a repeated embedded message may arrive in pieces, which protobuf merges
        e.summary = { value: [...(e.summary?.value ?? []), ...value] };
        break;
      }
    }
  }
  return e;
}

/** Decode every Event in an event file's bytes. */
export function readEvents(bytes: Uint8Array): TBEvent[] {
  return readRecords(bytes).map(decodeEvent);
}

// --- histograms ---

let tfLimits: number[] | null = null;
/** TensorFlow's default bucket limits: ±1e-12·1.1^k up to 1e20, then ±DBL_MAX, around 0. */
export function defaultBucketLimits(): number[] {
  if (tfLimits) return tfLimits;
  const pos: number[] = [];
  for (let v = 1e-12; v < 1e20; v *= 1.1) pos.push(v);
  pos.push(Number.MAX_VALUE);
  tfLimits = [...pos.map((v) => -v).reverse(), 0, ...pos];
  return tfLimits;
}

function upperBound(a: readonly number[], v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Summarize values as a HistogramProto. "tensorflow" (default) matches tf.summary's legacy histogram:
 * exponential buckets with runs of empty buckets merged; a number or an edge list bins as numpy.histogram
 * does (the last bin closed, values outside explicit edges not counted in any bucket).
 */
export function histogram(values: ArrayLike<number>, bins: HistogramBins = "tensorflow"): Histogram {
  const op = "addHistogram";
  const n = values.length;
  if (n === 0) fail(op, "values are empty; a histogram needs at least one value");
  let min = Infinity, max = -Infinity, sum = 0, sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) fail(op, `values must be finite, got ${v} at flat index ${i}`);
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSquares += v * v;
  }
  const h: Histogram = { min, max, num: n, sum, sumSquares, bucketLimit: [], bucket: [] };
  if (bins === "tensorflow") {
    const limits = defaultBucketLimits();
    const counts = new Float64Array(limits.length);
    for (let i = 0; i < n; i++) counts[Math.min(upperBound(limits, values[i]!), limits.length - 1)]++;
    for (let i = 0; i < counts.length;) {
      let end = limits[i]!, count = counts[i]!;
      i++;
      if (count <= 0) {
        while (i < counts.length && counts[i]! <= 0) {
          end = limits[i]!;
          count = counts[i]!;
          i++;
        }
      }
      h.bucketLimit.push(end);
      h.bucket.push(count);
    }
    return h;
  }
  let edges: number[];
  if (typeof bins === "number") {
    if (!Number.isInteger(bins) || bins < 1) fail(op, `bins must be a positive integer, "tensorflow", or an edge list, got ${bins}`);
    // numpy widens a degenerate range by half a unit each way
    const lo = min === max ? min - 0.5 : min, hi = min === max ? max + 0.5 : max;
    // numpy.linspace's arithmetic (k * step + start, exact endpoint) so edges match numpy bit for bit
    const step = (hi - lo) / bins;
    edges = Array.from({ length: bins + 1 }, (_, k) => (k === bins ? hi : k * step + lo));
  } else if (Array.isArray(bins)) {
    edges = [...bins];
    if (edges.length < 2) fail(op, `bin edges need at least 2 entries, got ${edges.length}`);
    for (let k = 0; k < edges.length; k++) {
      if (!Number.isFinite(edges[k]!) || (k > 0 && !(edges[k]! > edges[k - 1]!))) fail(op, `bin edges must be finite and strictly increasing, got [${edges.join(", ")}]`);
    }
  } else {
    return fail(op, `bins must be "tensorflow", a positive integer, or an array of edges, got ${String(bins)}`);
  }
  const k = edges.length - 1;
  const counts = new Array<number>(k).fill(0);
  const first = edges[0]!, last = edges[k]!;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < first || v > last) continue;
    // bin b holds [edges[b], edges[b+1]); the last bin also holds its right edge
    counts[Math.min(upperBound(edges, v) - 1, k - 1)]!++;
  }
  h.bucketLimit = edges.slice(1);
  h.bucket = counts;
  return h;
}

// --- the writer ---

export interface SummaryWriterOptions {
  /** Flush pending events at least this often (seconds, default 120, like PyTorch). */
  flushSecs?: number;
  /** Flush when this many events are pending (default 10, like PyTorch). */
  maxQueue?: number;
  /** Appended to the file name. */
  filenameSuffix?: string;
}

type NodeMods = { fs: typeof import("node:fs/promises"); os: typeof import("node:os"); path: typeof import("node:path") };
type Pending = Uint8Array | Promise<Uint8Array>;

async function nodeMods(): Promise<NodeMods> {
  try {
    const [fs, os, path] = await Promise.all([import("node:fs/promises"), import("node:os"), import("node:path")]);
    return { fs, os, path };
  } catch {
    return fail("SummaryWriter", "writing event files needs Node's fs module");
  }
}

function concrete(op: string, t: Tensor): EagerTensor {
  if (!(t instanceof EagerTensor)) fail(op, `cannot log a traced value (${t.aval}); log outside jit/grad/vmap`);
  return t;
}

/**
 * Writes scalars and histograms for TensorBoard (`tensorboard --logdir <logdir>`), PyTorch style.
 * Adding is synchronous; files are written on flush(), when the queue fills, every flushSecs, and on close().
 * @example
 * const w = new SummaryWriter("runs/exp1");
 * w.addScalar("loss", 0.25, step);
 * await w.close();
 */
export class SummaryWriter {
  readonly logdir: string;
  private readonly opts: Required<SummaryWriterOptions>;
  private readonly created = Date.now() / 1000;
  private queue: Pending[] = [];
  private chain: Promise<void> = Promise.resolve();
  private file: Promise<string> | null = null;
  /** An error from a background flush, reported by the next flush() or close(). */
  private deferred: unknown = null;
  private closed = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private children = new Map<string, SummaryWriter>();

  constructor(logdir: string, opts: SummaryWriterOptions = {}) {
    if (typeof logdir !== "string" || logdir === "") fail("SummaryWriter", `logdir must be a non-empty path, got ${JSON.stringify(logdir)}`);
    this.logdir = logdir;
    this.opts = { flushSecs: opts.flushSecs ?? 120, maxQueue: opts.maxQueue ?? 10, filenameSuffix: opts.filenameSuffix ?? "" };
    if (this.opts.flushSecs > 0 && Number.isFinite(this.opts.flushSecs)) {
      this.timer = setInterval(() => this.backgroundFlush(), this.opts.flushSecs * 1000);
      // a pending flush timer must not keep a finished training script alive
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** Path of the event file (created on first flush). */
  fileName(): Promise<string> {
    return this.open();
  }

  private open(): Promise<string> {
    this.file ??= (async () => {
      const { fs, os, path } = await nodeMods();
      await fs.mkdir(this.logdir, { recursive: true });
      const base = path.join(this.logdir, `events.out.tfevents.${Math.floor(this.created)}.${os.hostname()}${this.opts.filenameSuffix}`);
      const header = encodeRecord(encodeEvent({ wallTime: this.created, step: 0, fileVersion: FILE_VERSION }));
      // never append to another writer's file (two writers started in the same second)
      for (let k = 0; ; k++) {
        const name = k === 0 ? base : `${base}.${k}`;
        try {
          await fs.writeFile(name, header, { flag: "wx" });
          return name;
        } catch (e) {
          if ((e as { code?: string }).code !== "EEXIST") throw e;
        }
      }
    })();
    // a failed create (say, a permission error) is retried by the next flush rather than cached
    this.file.catch(() => (this.file = null));
    return this.file;
  }

  private push(p: Pending): void {
    if (this.closed) fail("SummaryWriter", "the writer is closed");
    this.queue.push(p);
    // a tensor read may fail before flush() looks at it; mark it handled so Node does not abort
    if (p instanceof Promise) p.catch(() => {});
    if (this.queue.length >= this.opts.maxQueue) this.backgroundFlush();
  }

  private event(step: number, wallTime: number | undefined, values: SummaryValue[]): Uint8Array {
    if (!Number.isSafeInteger(step)) fail("SummaryWriter", `step must be an integer, got ${step}`);
    return encodeRecord(encodeEvent({ wallTime: wallTime ?? Date.now() / 1000, step, summary: { value: values } }));
  }

  /** Log one scalar. */
  addScalar(tag: string, value: number | Tensor, step = 0, walltime?: number): void {
    if (typeof tag !== "string") fail("addScalar", `tag must be a string, got ${typeof tag}`);
    const wt = walltime ?? Date.now() / 1000;
    if (value instanceof Tensor) {
      if (value.size !== 1) fail("addScalar", `value must be a one-element tensor, got shape [${value.shape}]`);
      this.event(step, wt, []); // validate step now rather than at flush
      this.push(concrete("addScalar", value).data().then((d) => this.event(step, wt, [{ tag, simpleValue: Number(d[0]) }])));
      return;
    }
    if (typeof value !== "number") fail("addScalar", `value must be a number or a one-element tensor, got ${typeof value}`);
    this.push(this.event(step, wt, [{ tag, simpleValue: value }]));
  }

  /** Log several scalars on one chart: each goes to its own run `<logdir>/<mainTag>_<key>`, as in PyTorch. */
  addScalars(mainTag: string, values: Record<string, number | Tensor>, step = 0, walltime?: number): void {
    if (this.closed) fail("SummaryWriter", "the writer is closed");
    const wt = walltime ?? Date.now() / 1000;
    for (const [k, v] of Object.entries(values)) {
      const dir = `${this.logdir}/${mainTag.replace(/\//g, "_")}_${k}`;
      let child = this.children.get(dir);
      if (!child) {
        child = new SummaryWriter(dir, { ...this.opts, flushSecs: 0 });
        this.children.set(dir, child);
      }
      child.addScalar(mainTag, v, step, wt);
    }
  }

  /** Log a histogram of values (see `histogram` for the bins). */
  addHistogram(tag: string, values: Tensor | ArrayLike<number>, step = 0, bins: HistogramBins = "tensorflow", walltime?: number): void {
    const wt = walltime ?? Date.now() / 1000;
    const build = (v: ArrayLike<number>) => this.event(step, wt, [{ tag, histo: histogram(v, bins) }]);
    if (values instanceof Tensor) this.push(concrete("addHistogram", values).data().then(build));
    else this.push(build(values));
  }

  private backgroundFlush(): void {
    this.flushImpl(false).catch((e) => (this.deferred ??= e));
  }

  /**
   * Write pending events to disk. Rejects with the first error since the last flush (a failed write, or an
   * event that could not be built, such as a histogram of NaNs); events that could be built are written.
   */
  flush(): Promise<void> {
    return this.flushImpl(true);
  }

  private flushImpl(reportDeferred: boolean): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    const run = this.chain.then(() => this.write(batch));
    this.chain = run.catch(() => {});
    const children = [...this.children.values()].map((c) => c.flush());
    return Promise.all([run, ...children]).then(() => {
      const e = reportDeferred ? this.deferred : null;
      this.deferred = null;
      if (e) throw e;
    });
  }

  private async write(batch: Pending[]): Promise<void> {
    const name = await this.open();
    const settled = await Promise.allSettled(batch);
    const parts: Uint8Array[] = [];
    let err: unknown = null;
    for (const r of settled) {
      if (r.status === "fulfilled") parts.push(r.value);
      else err ??= r.reason;
    }
    if (parts.length) {
      const { fs } = await nodeMods();
      await fs.appendFile(name, concat(parts));
    }
    if (err) throw err;
  }

  /** Flush and stop; later add* calls throw. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      await this.flush();
      await Promise.all([...this.children.values()].map((c) => c.close()));
    } finally {
      this.closed = true;
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
