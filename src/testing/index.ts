/**
 * `trident/testing`: run the reference fixtures (`ops.json`, computed by PyTorch) through Trident's public
 * API and compare the results with the fixture tolerance rules. Backends and other ports use it to show
 * they agree with the oracle, forward and backward.
 * @example
 * const r = await runCase(fixture, { backend: "ref" });
 * const { ok, message } = compareCase(fixture, r);
 */
// subpath entries wire the engine up too (backends, tensor methods, the tape)
import "../setup.js";
import * as tr from "../index.js";
import { isFloat, isDType, isInt, type DType } from "../core/dtype.js";
import { TridentError } from "../core/errors.js";
import { OPS } from "./ops.js";

/** A JSON value as it appears in fixture params and non-tensor arguments. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One element of a fixture tensor: numbers, booleans, and the strings PyTorch writes for non-finite floats. */
export type FixtureScalar = number | boolean | "nan" | "inf" | "-inf";

/** A tensor in the fixture format: dtype, shape and flat row-major data. */
export interface FixtureTensor {
  dtype: string;
  shape: number[];
  data: FixtureScalar[];
}

/** An argument of a fixture case: a tensor or a plain JSON value. */
export type FixtureArg = FixtureTensor | JsonValue;

/** One reference case of `ops.json`. */
export interface FixtureCase {
  id: string;
  op: string;
  args: FixtureArg[];
  params: { [key: string]: JsonValue };
  out: FixtureTensor;
  tol?: { rtol?: number; atol?: number };
  vjp?: { cotangent: FixtureTensor; grads: (FixtureTensor | null)[] };
}

/** The whole fixture file. */
export interface FixtureFile {
  generator?: string;
  count?: number;
  cases: FixtureCase[];
}

/** What `runCase` computed, in the fixture format; `grads` is null when the case has no `vjp`. */
export interface CaseResult {
  out: FixtureTensor;
  grads: (FixtureTensor | null)[] | null;
}

export interface RunOptions {
  /** Backend to run on (restored afterwards); the current one when omitted. */
  backend?: string;
  /**
   * Compute floats in this dtype instead of the fixture's (float64 on CPU backends makes the comparison
   * a test of the math itself: the references are float64 results on float32-representable inputs).
   */
  floatDtype?: DType;
}

export interface CompareOptions {
  rtol?: number;
  atol?: number;
}

/** Whether a JSON value is a fixture tensor. */
export function isFixtureTensor(x: unknown): x is FixtureTensor {
  if (x === null || typeof x !== "object" || Array.isArray(x)) return false;
  const o = x as Record<string, unknown>;
  return typeof o["dtype"] === "string" && Array.isArray(o["shape"]) && Array.isArray(o["data"]);
}

function decodeScalar(v: FixtureScalar, where: string): number {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v === "nan") return NaN;
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  throw new TridentError(`fixtureToTensor: ${where} holds ${JSON.stringify(v)}, expected a number, a boolean, "nan", "inf" or "-inf"`);
}

/** The numeric values of a fixture tensor (booleans as 0/1, non-finite strings decoded). */
export function fixtureValues(t: FixtureTensor): number[] {
  return t.data.map((v, i) => decodeScalar(v, `data[${i}]`));
}

/** Build a tensor from the fixture format; `floatDtype` overrides the dtype of float tensors. */
export function fixtureToTensor(t: FixtureTensor, opts: { floatDtype?: DType } = {}): tr.Tensor {
  if (!isFixtureTensor(t)) throw new TridentError(`fixtureToTensor: expected {dtype, shape, data}, got ${JSON.stringify(t)?.slice(0, 80)}`);
  if (!isDType(t.dtype)) throw new TridentError(`fixtureToTensor: unknown dtype "${t.dtype}"`);
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) throw new TridentError(`fixtureToTensor: shape [${t.shape}] needs ${n} values but data has ${t.data.length}`);
  const dtype = isFloat(t.dtype) && opts.floatDtype ? opts.floatDtype : t.dtype;
  return tr.fromTypedArray(Float64Array.from(fixtureValues(t)), t.shape, dtype);
}

function encodeScalar(v: number, dtype: DType): FixtureScalar {
  if (dtype === "bool") return v !== 0;
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return v;
}

/** Read a tensor into the fixture format (async: works on every backend). */
export async function tensorToFixture(t: tr.Tensor): Promise<FixtureTensor> {
  if (t.isTracer) throw new TridentError(`tensorToFixture: got a traced value ${t.aval.toString()}; call it on concrete tensors`);
  const data = await t.data();
  return { dtype: t.dtype, shape: t.shape, data: Array.from(data, (v) => encodeScalar(v, t.dtype)) };
}

/** The fixture op names runCase understands. */
export function knownOps(): string[] {
  return Object.keys(OPS).sort();
}

/** Parse and check the fixture file's top-level structure. */
export function parseFixtures(json: string): FixtureFile {
  const f = JSON.parse(json) as FixtureFile;
  if (!f || !Array.isArray(f.cases)) throw new TridentError("parseFixtures: expected an object with a `cases` array");
  for (const c of f.cases) {
    if (typeof c.id !== "string" || typeof c.op !== "string" || !Array.isArray(c.args) || !isFixtureTensor(c.out)) {
      throw new TridentError(`parseFixtures: malformed case ${JSON.stringify(c).slice(0, 120)}`);
    }
  }
  return f;
}

/** Read a fixture file from disk (Node only; the module is loaded lazily so bundles stay portable). */
export async function loadFixtures(path: string): Promise<FixtureFile> {
  const fs = await import("node:fs/promises");
  return parseFixtures(await fs.readFile(path, "utf8"));
}

/** Run `fn` with the named backend selected, then restore the previous one (also when `fn` throws). */
export async function withBackend<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const prev = tr.getBackend().name;
  await tr.setBackend(name);
  try {
    return await fn();
  } finally {
    await tr.setBackend(prev);
  }
}

function asOutput(op: string, r: unknown): tr.Tensor {
  if (r instanceof tr.Tensor) return r;
  throw new TridentError(`runCase: op "${op}" returned ${Array.isArray(r) ? "an array" : typeof r}, expected a Tensor`);
}

/**
 * Run one fixture case through the public API: the forward output, and when the case has `vjp` the
 * gradient of sum(out * cotangent) with respect to every float argument (null for int/bool ones).
 */
export async function runCase(c: FixtureCase, opts: RunOptions = {}): Promise<CaseResult> {
  const entry = OPS[c.op];
  if (!entry) throw new TridentError(`runCase: unknown fixture op "${c.op}" (case ${c.id}); known ops: ${knownOps().join(", ")}`);
  const run = () =>
    tr.scope(async (): Promise<CaseResult> => {
      const args: FixtureArg[] = c.args;
      const inputs: (tr.Tensor | JsonValue)[] = args.map((a) => (isFixtureTensor(a) ? fixtureToTensor(a, { floatDtype: opts.floatDtype }) : a));
      const params = c.params ?? {};
      const out = asOutput(c.op, entry(inputs, params));
      const outFx = await tensorToFixture(out);
      if (!c.vjp) return { out: outFx, grads: null };

      const diffIdx = inputs.flatMap((a, i) => (a instanceof tr.Tensor && isFloat(a.dtype) ? [i] : []));
      const f = (...xs: tr.Tensor[]) => {
        const full = [...inputs];
        diffIdx.forEach((k, j) => (full[k] = xs[j]!));
        return asOutput(c.op, entry(full, params));
      };
      const [y, back] = tr.vjp(f, ...diffIdx.map((i) => inputs[i] as tr.Tensor));
      const yt = asOutput(c.op, y);
      const ct = fixtureToTensor(c.vjp.cotangent, { floatDtype: isFloat(yt.dtype) ? yt.dtype : undefined });
      const gs = diffIdx.length ? back(ct) : [];
      const grads: (FixtureTensor | null)[] = inputs.map(() => null);
      for (let j = 0; j < diffIdx.length; j++) grads[diffIdx[j]!] = await tensorToFixture(gs[j] as tr.Tensor);
      return { out: outFx, grads };
    });
  return opts.backend === undefined ? run() : withBackend(opts.backend, run);
}

type Kind = "float" | "int" | "bool";
function kindOf(dt: string): Kind | null {
  if (dt === "bool") return "bool";
  if (isDType(dt)) return isFloat(dt) ? "float" : isInt(dt) ? "int" : null;
  return null;
}

/** First mismatch between an actual and an expected fixture tensor, or null. */
function compareTensor(what: string, actual: FixtureTensor, expected: FixtureTensor, rtol: number, atol: number): string | null {
  const ka = kindOf(actual.dtype), ke = kindOf(expected.dtype);
  if (ka !== ke) return `${what}: dtype ${actual.dtype} but expected ${expected.dtype}`;
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    return `${what}: shape [${actual.shape}] but expected [${expected.shape}]`;
  }
  const a = fixtureValues(actual), e = fixtureValues(expected);
  let bad = 0, first = -1, worst = 0;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!, y = e[i]!;
    let ok: boolean;
    if (ke !== "float") ok = x === y;
    else if (Number.isNaN(y)) ok = Number.isNaN(x);
    else if (!Number.isFinite(y)) ok = x === y;
    else ok = Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) {
      bad++;
      if (first < 0) first = i;
      if (Number.isFinite(x - y)) worst = Math.max(worst, Math.abs(x - y));
    }
  }
  if (bad === 0) return null;
  return `${what}: ${bad} of ${e.length} values differ; first at flat index ${first}: got ${a[first]}, expected ${e[first]} ` +
    `(max abs error ${worst.toPrecision(3)}, rtol ${rtol}, atol ${atol})`;
}

/**
 * Compare a result with a fixture case: |actual - expected| <= atol + rtol·|expected| (rtol 1e-4, atol 1e-5
 * unless the case has `tol` or opts overrides them); NaN matches NaN, infinities match exactly, integer
 * and bool outputs match exactly.
 */
export function compareCase(c: FixtureCase, r: CaseResult, opts: CompareOptions = {}): { ok: boolean; message: string } {
  const rtol = opts.rtol ?? c.tol?.rtol ?? 1e-4;
  const atol = opts.atol ?? c.tol?.atol ?? 1e-5;
  const problems: string[] = [];
  const o = compareTensor("out", r.out, c.out, rtol, atol);
  if (o) problems.push(o);
  if (c.vjp) {
    if (!r.grads) problems.push("grads: the case has a vjp but the result has no gradients");
    else {
      const n = Math.max(c.vjp.grads.length, r.grads.length);
      for (let i = 0; i < n; i++) {
        const e = c.vjp.grads[i] ?? null, a = r.grads[i] ?? null;
        if (e === null && a === null) continue;
        if (e === null || a === null) {
          problems.push(`grad[${i}]: ${a === null ? "missing" : "present"} but expected ${e === null ? "none (integer argument)" : "a gradient"}`);
          continue;
        }
        const m = compareTensor(`grad[${i}]`, a, e, rtol, atol);
        if (m) problems.push(m);
      }
    }
  }
  return problems.length ? { ok: false, message: `${c.id}: ${problems.join("; ")}` } : { ok: true, message: `${c.id}: ok` };
}
