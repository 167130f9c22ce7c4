/**
 * The terminal progress display of `fit`. On a TTY: a bar per epoch redrawn in place (carriage return)
 * with ETA, samples/s and the running loss and metrics; elsewhere (logs, CI, pipes): one summary line
 * per epoch. Redraws are throttled, and between redraws the bar does not ask fit to read the device.
 */
import { fail } from "../core/errors.js";
import { Callback, type Logs } from "./callbacks.js";

/** Where the progress goes: anything with write(); a TTY (isTTY true) gets the redrawn bar. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface ProgressBarOptions {
  /** Default: process.stdout under Node, else console.log line by line. */
  stream?: ProgressStream;
  /** 1: a bar on a TTY, summary lines otherwise (default); 2: summary lines always. */
  verbose?: 1 | 2;
  /** Seconds between redraws on a TTY (default 0.05). */
  interval?: number;
  /** Clock in seconds (tests pass a fake one). */
  now?: () => number;
  /** Width of the bar in characters (default 30). */
  width?: number;
}

/** A log value as Keras prints it: 4 decimals, or scientific notation for tiny magnitudes. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  return Math.abs(v) > 1e-3 ? v.toFixed(4) : v.toExponential(4);
}

/** A duration: 1:02:03, 2:03, 12s, 340ms or 25us. */
export function formatDuration(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  if (s >= 60) return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  if (s >= 1) return `${Math.round(s)}s`;
  if (s >= 1e-3) return `${Math.round(s * 1e3)}ms`;
  return `${Math.round(s * 1e6)}us`;
}

function formatRate(samples: number, secs: number): string {
  if (secs <= 0) return "";
  const r = samples / secs;
  return `${r >= 100 ? Math.round(r) : r.toFixed(1)} samples/s`;
}

function defaultStream(): ProgressStream {
  const proc = (globalThis as { process?: { stdout?: ProgressStream } }).process;
  if (proc?.stdout && typeof proc.stdout.write === "function") return proc.stdout;
  // browsers: no carriage-return redraw, so whole lines through the console
  let pending = "";
  return {
    write(s: string) {
      pending += s;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const l of lines) console.log(l);
    },
  };
}

/**
 * Keras-style progress for fit, added automatically unless verbose is 0 (pass your own in callbacks to
 * choose the stream). Non-TTY line: `Epoch 1/5 - 32/32 - 1s - 12ms/step - 2560 samples/s - loss: 0.6931 - val_loss: 0.6900`.
 */
export class ProgressBar extends Callback {
  readonly stream: ProgressStream;
  readonly tty: boolean;
  private readonly interval: number;
  private readonly now: () => number;
  private readonly width: number;
  private epochStart = 0;
  private lastDraw = -Infinity;
  constructor(opts: ProgressBarOptions = {}) {
    super();
    this.stream = opts.stream ?? defaultStream();
    if (typeof this.stream?.write !== "function") fail("ProgressBar", "stream must have a write(text) method");
    const verbose = opts.verbose ?? 1;
    if (verbose !== 1 && verbose !== 2) fail("ProgressBar", `verbose must be 1 or 2, got ${JSON.stringify(opts.verbose)}`);
    this.tty = verbose === 1 && this.stream.isTTY === true;
    this.interval = opts.interval ?? 0.05;
    this.now = opts.now ?? (() => performance.now() / 1000);
    this.width = opts.width ?? 30;
  }

  private get header(): string {
    const s = this.state;
    return `Epoch ${s.epoch + 1}/${s.epochs}`;
  }

  override onEpochBegin(): void {
    this.epochStart = this.now();
    this.lastDraw = -Infinity;
    if (this.tty) this.stream.write(`${this.header}\n`);
  }

  override wantsBatchLogs(): boolean {
    return this.tty && this.now() - this.lastDraw >= this.interval;
  }

  override onBatchEnd(_batch: number, logs: Logs): void {
    if (!this.tty || Object.keys(logs).length === 0) return;
    const t = this.now();
    this.lastDraw = t;
    const s = this.state;
    const done = s.stepsSeen;
    const elapsed = t - this.epochStart;
    const parts = [this.counter(done, s.steps)];
    if (s.steps !== undefined && done < s.steps) parts.push(`ETA: ${formatDuration((elapsed / Math.max(done, 1)) * (s.steps - done))}`);
    else parts.push(formatDuration(elapsed));
    const rate = formatRate(s.samplesSeen, elapsed);
    if (rate) parts.push(rate);
    parts.push(...values(logs));
    this.stream.write(`\r${parts.join(" - ")}\x1b[K`);
  }

  override onEpochEnd(_epoch: number, logs: Logs): void {
    const s = this.state;
    const elapsed = this.now() - this.epochStart;
    const steps = s.stepsSeen;
    const parts = [this.tty ? this.counter(steps, steps) : `${this.header} - ${steps}/${s.steps ?? steps}`];
    parts.push(formatDuration(elapsed));
    if (steps > 0) parts.push(`${formatDuration(elapsed / steps)}/step`);
    const rate = formatRate(s.samplesSeen, elapsed);
    if (rate) parts.push(rate);
    parts.push(...values(logs));
    this.stream.write(this.tty ? `\r${parts.join(" - ")}\x1b[K\n` : `${parts.join(" - ")}\n`);
  }

  /** "12/32 [=========>...]" with a known total, "12/Unknown" without. */
  private counter(done: number, total: number | undefined): string {
    if (total === undefined) return `${done}/Unknown`;
    const w = String(total).length;
    const frac = total > 0 ? Math.min(done / total, 1) : 1;
    const filled = Math.floor(frac * this.width);
    const bar = done >= total ? "=".repeat(this.width) : "=".repeat(Math.max(filled - 1, 0)) + (filled > 0 ? ">" : "") + ".".repeat(this.width - Math.max(filled, 0));
    return `${String(done).padStart(w)}/${total} [${bar}]`;
  }
}

function values(logs: Logs): string[] {
  return Object.entries(logs).map(([k, v]) => `${k}: ${formatValue(v)}`);
}
