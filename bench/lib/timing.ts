/**
 * Timing for the runners: warm up, calibrate repetitions so a sample lasts long enough to time well,
 * take samples within a budget, report the median. Every runner process uses this one function.
 */
import type { Cell, RunnerReport, Workload } from "../workloads.js";
import { WORKLOADS } from "../workloads.js";

export interface MeasureOpts {
  warmup: number;
  minSamples: number;
  maxSamples: number;
  /** Stop sampling after this much time once minSamples are in. */
  budgetMs: number;
  /** Repeat fast runs inside one sample until it lasts this long. */
  minSampleMs: number;
}

export const FULL: MeasureOpts = { warmup: 2, minSamples: 5, maxSamples: 25, budgetMs: 3000, minSampleMs: 20 };
export const QUICK: MeasureOpts = { warmup: 1, minSamples: 3, maxSamples: 5, budgetMs: 600, minSampleMs: 5 };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Median milliseconds of one call of `fn` (awaited when it returns a promise). */
export async function measure(fn: () => unknown, o: MeasureOpts): Promise<{ ms: number; samples: number }> {
  let first = 0;
  for (let i = 0; i < o.warmup; i++) {
    const t0 = performance.now();
    await fn();
    first = performance.now() - t0;
    // a very slow workload is measured a few times, not many
    if (first > 5000) break;
  }
  const reps = first > 0 && first < o.minSampleMs ? Math.ceil(o.minSampleMs / Math.max(first, 0.01)) : 1;
  const times: number[] = [];
  const start = performance.now();
  const minSamples = first > 5000 ? Math.min(o.minSamples, 2) : o.minSamples;
  while (times.length < o.maxSamples && (times.length < minSamples || performance.now() - start < o.budgetMs)) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) await fn();
    times.push((performance.now() - t0) / reps);
  }
  return { ms: median(times), samples: times.length };
}

/** Turn a median run time into the workload's unit. */
export function cellOf(w: Workload, ms: number, samples: number, perRun = 1): Cell {
  const value = w.unit === "GFLOP/s" ? w.flops! / (ms * 1e6) : w.unit === "µs/op" ? (ms * 1000) / perRun : ms;
  return { value, ms, samples };
}

export interface RunnerArgs {
  only: Set<string> | null;
  quick: boolean;
  opts: MeasureOpts;
  rest: Map<string, string>;
}

/** `--only a,b --quick --key value` */
export function parseArgs(argv = process.argv.slice(2)): RunnerArgs {
  let only: Set<string> | null = null;
  let quick = false;
  const rest = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") quick = true;
    else if (a === "--only") only = new Set(argv[++i]!.split(",").filter(Boolean));
    else if (a.startsWith("--")) rest.set(a.slice(2), argv[++i] ?? "");
  }
  return { only, quick, opts: quick ? QUICK : FULL, rest };
}

/** A runner's table of workload implementations, run in list order and reported as one JSON line. */
export type Impl = () => Promise<Cell | string>;

export async function runWorkloads(runner: string, info: RunnerReport["info"], impls: Record<string, Impl>, args: RunnerArgs): Promise<RunnerReport> {
  const report: RunnerReport = { runner, info, cells: {}, skipped: {} };
  for (const w of WORKLOADS) {
    if (args.only && !args.only.has(w.id)) continue;
    if (w.id === "import") continue; // measured by the orchestrator in fresh processes
    const impl = impls[w.id];
    if (!impl) {
      report.skipped[w.id] = "not available";
      continue;
    }
    const t0 = performance.now();
    try {
      const r = await impl();
      if (typeof r === "string") report.skipped[w.id] = r;
      else report.cells[w.id] = r;
    } catch (e) {
      report.skipped[w.id] = `error: ${(e as Error).message?.split("\n")[0] ?? String(e)}`;
    }
    process.stderr.write(`  ${runner} ${w.id}: ${report.cells[w.id] ? fmt(report.cells[w.id]!.value) + " " + w.unit : report.skipped[w.id]} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
  return report;
}

export function emit(report: RunnerReport): void {
  process.stdout.write(`RESULT ${JSON.stringify(report)}\n`);
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
}
