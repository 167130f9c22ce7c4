/**
 * `node:assert/strict` for the browser run of the suites: strict equality (SameValue), strict deep
 * equality (prototypes, own enumerable keys, typed arrays element by element, Map/Set/Date/RegExp),
 * throws/rejects with the same kinds of expectation node accepts (RegExp on String(error), an error
 * class, a validation function, or an object of expected properties).
 */

export class AssertionError extends Error {
  override name = "AssertionError";
  constructor(message: string, readonly actual?: unknown, readonly expected?: unknown, readonly operator?: string) {
    super(message);
  }
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length}) [${Array.from(v as unknown as ArrayLike<number>).slice(0, 16).join(", ")}${(v as unknown as ArrayLike<number>).length > 16 ? ", …" : ""}]`;
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : Number.isNaN(x) ? "NaN" : x));
    if (s !== undefined) return s.length > 400 ? `${s.slice(0, 400)}…` : s;
  } catch {
    // cyclic values fall through
  }
  return String(v);
}

const fail0 = (msg: string | Error | undefined, dflt: string, actual?: unknown, expected?: unknown, op?: string): never => {
  if (msg instanceof Error) throw msg;
  throw new AssertionError(msg ?? dflt, actual, expected, op);
};

function deep(a: unknown, b: unknown, seen: Map<object, object>): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (a instanceof ArrayBuffer) return deep(new Uint8Array(a), new Uint8Array(b as ArrayBuffer), seen);
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (a instanceof RegExp) return a.source === (b as RegExp).source && a.flags === (b as RegExp).flags;
  if (a instanceof Error && (a.message !== (b as Error).message || a.name !== (b as Error).name)) return false;
  if (a instanceof Map) {
    const m = b as Map<unknown, unknown>;
    if (a.size !== m.size) return false;
    for (const [k, v] of a) if (!m.has(k) || !deep(v, m.get(k), seen)) return false;
    return true;
  }
  if (a instanceof Set) {
    const s = b as Set<unknown>;
    if (a.size !== s.size) return false;
    outer: for (const v of a) {
      if (s.has(v)) continue;
      if (typeof v === "object" && v !== null) for (const w of s) if (deep(v, w, seen)) continue outer;
      return false;
    }
    return true;
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deep((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], seen)) return false;
  }
  return true;
}

export const isDeepStrictEqual = (a: unknown, b: unknown): boolean => deep(a, b, new Map());

export function ok(value: unknown, message?: string | Error): asserts value {
  if (!value) fail0(message, `The expression evaluated to a falsy value: ${show(value)}`, value, true, "==");
}

export function equal(actual: unknown, expected: unknown, message?: string | Error): void {
  if (!Object.is(actual, expected)) fail0(message, `Expected values to be strictly equal:\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`, actual, expected, "strictEqual");
}

export function notEqual(actual: unknown, expected: unknown, message?: string | Error): void {
  if (Object.is(actual, expected)) fail0(message, `Expected "actual" to be strictly unequal to: ${show(expected)}`, actual, expected, "notStrictEqual");
}

export function deepEqual(actual: unknown, expected: unknown, message?: string | Error): void {
  if (!isDeepStrictEqual(actual, expected)) fail0(message, `Expected values to be strictly deep-equal:\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`, actual, expected, "deepStrictEqual");
}

export function notDeepEqual(actual: unknown, expected: unknown, message?: string | Error): void {
  if (isDeepStrictEqual(actual, expected)) fail0(message, `Expected "actual" not to be strictly deep-equal to: ${show(expected)}`, actual, expected, "notDeepStrictEqual");
}

export function fail(message: string | Error = "Failed"): never {
  return fail0(message, "Failed");
}

export function match(value: string, re: RegExp, message?: string | Error): void {
  if (typeof value !== "string" || !re.test(value)) fail0(message, `The input did not match the regular expression ${re}. Input:\n  ${show(value)}`, value, re, "match");
}

export function doesNotMatch(value: string, re: RegExp, message?: string | Error): void {
  if (typeof value !== "string" || re.test(value)) fail0(message, `The input was expected to not match the regular expression ${re}. Input:\n  ${show(value)}`, value, re, "doesNotMatch");
}

type Expected = RegExp | (new (...args: never[]) => unknown) | ((e: unknown) => boolean) | Record<string, unknown>;

function check(err: unknown, expected: Expected | string | undefined, message: string | Error | undefined, op: string): void {
  if (expected === undefined || typeof expected === "string") return;
  if (expected instanceof RegExp) {
    if (!expected.test(String(err))) fail0(message, `The error did not match the regular expression ${expected}. Error:\n  ${show(String(err))}`, err, expected, op);
    return;
  }
  if (typeof expected === "function") {
    const cls = expected as new (...args: never[]) => unknown;
    if (expected.prototype !== undefined && err instanceof cls) return;
    // an Error class that did not match is a failure, any other function validates
    if (expected === Error || Object.prototype.isPrototypeOf.call(Error, expected)) {
      fail0(message, `The error is expected to be an instance of "${expected.name}". Received ${show(err)}`, err, expected, op);
    }
    const r = (expected as (e: unknown) => unknown)(err);
    if (r !== true) fail0(message, `The validation function is expected to return "true". Received ${show(r)}\n  error: ${show(err)}`, err, expected, op);
    return;
  }
  for (const [k, want] of Object.entries(expected)) {
    const got = (err as Record<string, unknown> | null)?.[k];
    if (want instanceof RegExp && typeof got === "string") {
      if (!want.test(got)) fail0(message, `error.${k} ${show(got)} does not match ${want}`, err, expected, op);
    } else if (!isDeepStrictEqual(got, want)) fail0(message, `error.${k} is ${show(got)}, expected ${show(want)}`, err, expected, op);
  }
}

export function throws(fn: () => unknown, expected?: Expected | string, message?: string | Error): void {
  try {
    fn();
  } catch (e) {
    check(e, expected, typeof expected === "string" ? expected : message, "throws");
    return;
  }
  fail0(typeof expected === "string" ? expected : message, "Missing expected exception.", undefined, expected, "throws");
}

export function doesNotThrow(fn: () => unknown, message?: string | Error): void {
  try {
    fn();
  } catch (e) {
    fail0(message, `Got unwanted exception: ${show(e)}`, e, undefined, "doesNotThrow");
  }
}

export async function rejects(p: Promise<unknown> | (() => Promise<unknown>), expected?: Expected | string, message?: string | Error): Promise<void> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    check(e, expected, typeof expected === "string" ? expected : message, "rejects");
    return;
  }
  fail0(typeof expected === "string" ? expected : message, "Missing expected rejection.", undefined, expected, "rejects");
}

export async function doesNotReject(p: Promise<unknown> | (() => Promise<unknown>), message?: string | Error): Promise<void> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    fail0(message, `Got unwanted rejection: ${show(e)}`, e, undefined, "doesNotReject");
  }
}

export const strictEqual = equal;
export const notStrictEqual = notEqual;
export const deepStrictEqual = deepEqual;
export const notDeepStrictEqual = notDeepEqual;

/** `assert(value, message)` with every assertion as a property, as node's default export. */
const assert = Object.assign((value: unknown, message?: string | Error) => ok(value, message), {
  ok, equal, notEqual, deepEqual, notDeepEqual, strictEqual, notStrictEqual, deepStrictEqual, notDeepStrictEqual,
  fail, match, doesNotMatch, throws, doesNotThrow, rejects, doesNotReject, AssertionError, isDeepStrictEqual,
});
Object.assign(assert, { strict: assert });

export const strict = assert;
export default assert;
