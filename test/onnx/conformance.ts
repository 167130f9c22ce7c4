/**
 * The ONNX backend conformance suite (onnx v1.22.0 node tests) run through `onnx.load(...).runNative`.
 * Every case is classified: passed, failed (wrong result, or past the per-case time limit), unsupported
 * (an OnnxUnsupportedError: an operator, attribute value or data type Trident does not handle), or
 * crashed (anything else thrown). Cases run in worker threads, so a hung case can be stopped.
 *
 *   node --import tsx test/onnx/conformance.ts [--workers N] [--timeout S] [--filter substring] [--backend ref|wasm] [--verbose]
 *
 * writes `.cache/onnx-results.json` and regenerates `docs/onnx-operators.md`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SUITE_TGZ = resolve(ROOT, "test/fixtures/onnx-node-tests-v1.22.0.tgz");
export const CACHE_DIR = join(ROOT, ".cache/onnx-node");
export const CASES_DIR = join(CACHE_DIR, "onnx/backend/test/data/node");
export const RESULTS_PATH = join(ROOT, ".cache/onnx-results.json");
export const DOC_PATH = join(ROOT, "docs/onnx-operators.md");

export type Status = "passed" | "failed" | "unsupported" | "crashed";
export interface CaseResult {
  name: string;
  status: Status;
  /** Why it did not pass (first line of the error, or the first mismatch). */
  detail?: string;
  /** Operators the case's graph uses (default domain unprefixed). */
  ops: string[];
  ms: number;
}

/** Unpack the suite into the git-ignored cache once; returns the folder of cases. */
export function ensureSuite(): string {
  if (existsSync(CASES_DIR) && readdirSync(CASES_DIR).length > 0) return CASES_DIR;
  if (!existsSync(SUITE_TGZ)) throw new Error(`ONNX conformance suite not found at ${SUITE_TGZ}`);
  mkdirSync(CACHE_DIR, { recursive: true });
  execFileSync("tar", ["-xzf", SUITE_TGZ, "-C", CACHE_DIR]);
  return CASES_DIR;
}

export function listCases(filter?: string): string[] {
  return readdirSync(ensureSuite())
    .filter((c) => c.startsWith("test_") && existsSync(join(CASES_DIR, c, "model.onnx")))
    .filter((c) => !filter || c.includes(filter))
    .sort();
}

// ------------------------------------------------------------------ one case (runs inside a worker)

type OnnxModule = typeof import("../../src/onnx/index.js");
type NativeValue = import("../../src/onnx/index.js").NativeValue;
type NativeTensor = import("../../src/onnx/index.js").NativeTensor;

const RTOL = 1e-3, ATOL = 1e-7;

function opsOf(onnx: OnnxModule, bytes: Uint8Array): string[] {
  const m = onnx.proto.decodeModel(bytes);
  const ops = new Set<string>();
  const walk = (g: import("../../src/onnx/proto.js").OnnxGraphProto) => {
    for (const n of g.nodes) {
      ops.add(n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.opType}` : n.opType);
      for (const a of n.attributes) {
        if (a.g) walk(a.g);
        for (const sg of a.graphs ?? []) walk(sg);
      }
    }
  };
  walk(m.graph);
  return [...ops].sort();
}

/** Read a .pb as the type the model declares for that position (tensor, sequence or optional). */
function readValue(onnx: OnnxModule, bytes: Uint8Array, kind: string): import("../../src/onnx/proto.js").OnnxValueProto {
  const P = onnx.proto;
  if (kind === "sequence") return P.decodeSequence(bytes);
  if (kind === "optional") return P.decodeOptional(bytes);
  return { kind: "tensor", tensor: P.decodeTensor(bytes) };
}

type Expected = { dtype: string; shape: number[]; data: ArrayLike<number>; exact?: BigInt64Array | BigUint64Array } | Expected[] | null;

async function loadValues() {
  return import("../../src/onnx/values.js");
}

function toExpected(values: Awaited<ReturnType<typeof loadValues>>, onnx: OnnxModule, v: import("../../src/onnx/proto.js").OnnxValueProto): Expected {
  if (v.kind === "tensor") {
    const t = values.tensorFromProto(v.tensor);
    return { dtype: onnx.proto.dataTypeName(v.tensor.dataType), shape: [...t.shape], data: t.host!, exact: t.exact };
  }
  if (v.kind === "sequence") return v.items.map((x) => toExpected(values, onnx, x));
  if (v.kind === "optional") return v.value ? toExpected(values, onnx, v.value) : null;
  throw new Error("map values are not supported");
}

function toFeed(values: Awaited<ReturnType<typeof loadValues>>, onnx: OnnxModule, v: import("../../src/onnx/proto.js").OnnxValueProto): import("../../src/onnx/index.js").OnnxFeed {
  if (v.kind === "tensor") {
    const t = values.tensorFromProto(v.tensor);
    return bigFeed(v.tensor.dataType, t.shape, t.host!, t.exact);
  }
  if (v.kind === "sequence") return v.items.map((x) => toFeed(values, onnx, x));
  if (v.kind === "optional") return v.value ? toFeed(values, onnx, v.value) : null;
  throw new Error("map values are not supported");
}

/** Feed host numbers as the typed array of their ONNX type (int64 as BigInt64Array, as a user would). */
function bigFeed(elem: number, shape: readonly number[], host: ArrayLike<number>, exact?: BigInt64Array | BigUint64Array): import("../../src/onnx/index.js").OnnxArrayFeed {
  const sat = (x: number, lo: bigint, hi: bigint) => {
    const b = BigInt(Math.trunc(x));
    return b < lo ? lo : b > hi ? hi : b;
  };
  if (elem === 7) return { data: exact instanceof BigInt64Array ? exact : BigInt64Array.from(host, (x) => sat(x, -(2n ** 63n), 2n ** 63n - 1n)), shape };
  if (elem === 13) return { data: exact instanceof BigUint64Array ? exact : BigUint64Array.from(host, (x) => sat(x, 0n, 2n ** 64n - 1n)), shape };
  const ctor: Record<number, { from(a: ArrayLike<number>): ArrayLike<number> }> = {
    1: Float32Array, 11: Float64Array, 2: Uint8Array, 3: Int8Array, 4: Uint16Array, 5: Int16Array, 6: Int32Array, 12: Uint32Array, 9: Uint8Array,
  };
  const C = ctor[elem];
  if (C) return { data: C.from(host) as import("../../src/onnx/index.js").OnnxArrayFeed["data"], shape };
  // float16/bfloat16: decoded numbers, declared type decides
  return { data: Array.from(host), shape };
}

function compare(got: NativeValue, want: Expected, path: string): string | null {
  if (want === null || got === null) return want === got ? null : `${path}: expected ${want === null ? "an empty optional" : "a value"}, got ${got === null ? "an empty optional" : "a value"}`;
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return `${path}: expected a sequence`;
    if (got.length !== want.length) return `${path}: sequence length ${got.length}, expected ${want.length}`;
    for (let i = 0; i < want.length; i++) {
      const e = compare(got[i]!, want[i]!, `${path}[${i}]`);
      if (e) return e;
    }
    return null;
  }
  if (Array.isArray(got)) return `${path}: expected a tensor, got a sequence`;
  const g = got as NativeTensor;
  if (g.dtype !== want.dtype) return `${path}: dtype ${g.dtype}, expected ${want.dtype}`;
  if (g.shape.join() !== want.shape.join()) return `${path}: shape [${g.shape}], expected [${want.shape}]`;
  if (want.exact) {
    // 64-bit integers compare as integers, every bit
    const gd = g.data as ArrayLike<bigint | number>;
    for (let i = 0; i < want.exact.length; i++) {
      if (BigInt(gd[i]!) !== want.exact[i]) return `${path}: at flat index ${i} got ${gd[i]}, expected ${want.exact[i]} (exact)`;
    }
    return null;
  }
  const exact = !["float", "double", "float16", "bfloat16"].includes(want.dtype);
  const n = want.data.length;
  for (let i = 0; i < n; i++) {
    const a = Number(g.data[i]!), e = Number(want.data[i]!);
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (exact ? a !== e : !(a === e || Math.abs(a - e) <= ATOL + RTOL * Math.abs(e))) {
      return `${path}: at flat index ${i} got ${a}, expected ${e}${exact ? " (exact)" : ` (rtol ${RTOL}, atol ${ATOL})`}`;
    }
  }
  return null;
}

/** Run one case in this thread. */
export async function runCase(name: string): Promise<CaseResult> {
  const onnx: OnnxModule = await import("../../src/onnx/index.js");
  const values = await loadValues();
  const dir = join(CASES_DIR, name);
  const t0 = performance.now();
  const bytes = readFileSync(join(dir, "model.onnx"));
  let ops: string[] = [];
  const result = (status: Status, detail?: string): CaseResult => ({ name, status, detail, ops, ms: Math.round(performance.now() - t0) });
  try {
    ops = opsOf(onnx, bytes);
    const model = onnx.load(join(dir, "model.onnx"));
    const sets = readdirSync(dir).filter((d) => d.startsWith("test_data_set_")).sort();
    for (const set of sets) {
      const files = readdirSync(join(dir, set));
      const nIn = files.filter((f) => /^input_\d+\.pb$/.test(f)).length;
      const nOut = files.filter((f) => /^output_\d+\.pb$/.test(f)).length;
      const feeds: Record<string, import("../../src/onnx/index.js").OnnxFeed> = {};
      for (let i = 0; i < nIn; i++) {
        const info = model.inputs[i];
        if (!info) return result("failed", `${set}: input_${i}.pb has no matching model input`);
        const v = readValue(onnx, readFileSync(join(dir, set, `input_${i}.pb`)), info.kind);
        feeds[info.name] = toFeed(values, onnx, v);
      }
      const outs = model.runNative(feeds);
      for (let i = 0; i < nOut; i++) {
        const info = model.outputs[i]!;
        const want = toExpected(values, onnx, readValue(onnx, readFileSync(join(dir, set, `output_${i}.pb`)), info.kind));
        const err = compare(outs[info.name] ?? null, want, `${set} output "${info.name}"`);
        if (err) return result("failed", err);
      }
    }
    return result("passed");
  } catch (e) {
    const err = e as Error;
    if (err instanceof onnx.OnnxUnsupportedError) return result("unsupported", firstLine(err.message));
    return result("crashed", `${err?.name ?? "Error"}: ${firstLine(String(err?.message ?? err))}${err instanceof Error && err.name !== "TridentError" ? ` @ ${err.stack?.split("\n")[1]?.trim()}` : ""}`);
  }
}

const firstLine = (s: string) => s.split("\n")[0]!.slice(0, 400);

// ------------------------------------------------------------------ the pool

export interface RunOptions {
  workers?: number;
  /** Trident backend the workers run on (default: the default backend). */
  backend?: string;
  /** Seconds one case may take before it counts as "failed: timeout". */
  timeout?: number;
  filter?: string;
  onResult?: (r: CaseResult) => void;
}

/** Run the suite (or the cases matching `filter`) across worker threads. */
export async function runSuite(opts: RunOptions = {}): Promise<CaseResult[]> {
  const cases = listCases(opts.filter);
  const nWorkers = Math.max(1, Math.min(opts.workers ?? Math.min(availableParallelism(), 4), cases.length));
  const timeoutMs = (opts.timeout ?? 30) * 1000;
  const results: CaseResult[] = [];
  let next = 0;
  const url = pathToFileURL(fileURLToPath(import.meta.url));
  const lane = () =>
    new Promise<void>((done) => {
      let w: Worker | null = null;
      let timer: NodeJS.Timeout | null = null;
      let current: string | null = null;
      const spawn = () => {
        // loader hooks (tsx) are not inherited by workers on Node 20, so each worker registers them first
        const boot = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
        w = new Worker(boot, { eval: true, workerData: { role: "onnx-conformance", backend: opts.backend }, resourceLimits: { maxOldGenerationSizeMb: 2048 } });
        w.on("message", (r: CaseResult) => {
          if (timer) clearTimeout(timer);
          results.push(r);
          opts.onResult?.(r);
          current = null;
          feed();
        });
        w.on("error", (e) => {
          if (timer) clearTimeout(timer);
          if (current) {
            const r: CaseResult = { name: current, status: "crashed", detail: `worker died: ${e.message}`, ops: [], ms: 0 };
            results.push(r);
            opts.onResult?.(r);
            current = null;
          }
          spawn();
          feed();
        });
      };
      const feed = () => {
        if (next >= cases.length) {
          void w?.terminate();
          done();
          return;
        }
        current = cases[next++]!;
        const name = current;
        timer = setTimeout(() => {
          const r: CaseResult = { name, status: "failed", detail: `timeout: over ${timeoutMs / 1000} s`, ops: [], ms: timeoutMs };
          results.push(r);
          opts.onResult?.(r);
          current = null;
          const old = w!;
          old.removeAllListeners();
          void old.terminate();
          spawn();
          feed();
        }, timeoutMs);
        w!.postMessage(name);
      };
      spawn();
      feed();
    });
  await Promise.all(Array.from({ length: nWorkers }, lane));
  return results.sort((a, b) => (a.name < b.name ? -1 : 1));
}

export function counts(results: readonly CaseResult[]): Record<Status, number> & { total: number } {
  const c = { passed: 0, failed: 0, unsupported: 0, crashed: 0, total: results.length };
  for (const r of results) c[r.status]++;
  return c;
}

/** docs/onnx-operators.md: every implemented operator with the cases it passes. */
export async function writeOperatorDoc(results: readonly CaseResult[]): Promise<void> {
  const { supportedOperators } = await import("../../src/onnx/index.js");
  const ops = supportedOperators();
  const per = new Map<string, { cases: number; passed: number }>();
  for (const r of results) {
    for (const o of r.ops) {
      const e = per.get(o) ?? { cases: 0, passed: 0 };
      e.cases++;
      if (r.status === "passed") e.passed++;
      per.set(o, e);
    }
  }
  const c = counts(results);
  const lines = [
    "# ONNX operators supported by `trident/onnx`",
    "",
    "Generated by `npm run onnx:conformance` (test/onnx/conformance.ts) from the ONNX v1.22.0 node test suite;",
    "do not edit by hand. A case counts for every operator its graph uses, so expanded (function-body) cases",
    "count for the primitive operators they are made of.",
    "",
    `Suite: ${c.total} cases, ${c.passed} passed, ${c.failed} failed, ${c.unsupported} unsupported, ${c.crashed} crashed.`,
    "",
    "int64 tensors are held as int32 when every value fits (a value that does not fit raises",
    "OnnxUnsupportedError instead of wrapping); exact int64 values come back from `runNative`. string,",
    "complex, float8 and 4-bit types are reported as unsupported.",
    "",
    "| Operator | Cases passed | Cases using it |",
    "| --- | ---: | ---: |",
    ...ops.map((o) => {
      const e = per.get(o) ?? { cases: 0, passed: 0 };
      return `| ${o} | ${e.passed} | ${e.cases} |`;
    }),
    "",
  ];
  mkdirSync(dirname(DOC_PATH), { recursive: true });
  writeFileSync(DOC_PATH, lines.join("\n"));
}

/** Write `.cache/onnx-results.json` (and, for a full run, the operator table). */
export async function report(results: readonly CaseResult[], opts: { partial?: boolean; doc?: boolean } = {}): Promise<void> {
  const c = counts(results);
  mkdirSync(dirname(RESULTS_PATH), { recursive: true });
  const path = opts.partial ? RESULTS_PATH.replace(/\.json$/, ".partial.json") : RESULTS_PATH;
  writeFileSync(path, JSON.stringify({ counts: c, results }, null, 1));
  if (opts.doc && !opts.partial) await writeOperatorDoc(results);
}

/** CLI entry: run everything, print the counts, write the results and the operator table. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<Record<Status, number>> {
  const arg = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const filter = arg("--filter");
  const t0 = performance.now();
  const results = await runSuite({
    workers: arg("--workers") ? Number(arg("--workers")) : undefined,
    timeout: arg("--timeout") ? Number(arg("--timeout")) : undefined,
    filter,
    backend: arg("--backend"),
    onResult: argv.includes("--verbose") ? (r) => console.log(`${r.status.padEnd(11)} ${r.name}${r.detail ? `  ${r.detail}` : ""}`) : undefined,
  });
  const c = counts(results);
  await report(results, { partial: !!filter, doc: true });
  console.log(`ONNX node conformance: ${c.total} cases: ${c.passed} passed, ${c.failed} failed, ${c.unsupported} unsupported, ${c.crashed} crashed (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return c;
}

// ------------------------------------------------------------------ entry points

if (!isMainThread && (workerData as { role?: string } | null)?.role === "onnx-conformance") {
  const backend = (workerData as { backend?: string }).backend;
  const ready = backend ? import("../../src/index.js").then((tr) => tr.setBackend(backend)) : Promise.resolve();
  parentPort!.on("message", (name: string) => {
    void ready.then(() => runCase(name)).then((r) => parentPort!.postMessage(r));
  });
} else if (isMainThread && process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main().then((c) => {
    process.exitCode = c.crashed > 0 ? 1 : 0;
  });
}
