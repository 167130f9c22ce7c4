/** The one error type users catch: messages name the op, the argument, and expected vs actual. */
export class TridentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TridentError";
  }
}

/** Raised when a traced (abstract) value is asked for a concrete JS value. */
export class ConcretizationError extends TridentError {
  constructor(what: string) {
    super(
      `${what}: this value is abstract because it is being traced (inside jit, grad, vmap or a control-flow ` +
        `body), so it has no concrete value yet. Use tr.lax.cond / tr.lax.whileLoop / tr.where instead of JS ` +
        `if/while on tensor values, or mark the argument static with jit(f, { staticArgnums: [...] }).`,
    );
    this.name = "ConcretizationError";
  }
}

export function fail(op: string, message: string): never {
  throw new TridentError(`${op}: ${message}`);
}

export const fmtShape = (s: readonly number[]): string => `[${s.join(",")}]`;

/** How a wrong argument looks, for messages: `an object with keys {fwd, bwd}`, `the number 3`. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === "object") {
    // duck-typed so this module imports nothing: a tensor carries its abstract value
    const aval = (v as { aval?: unknown }).aval;
    if (aval !== undefined) return `a tensor ${String(aval)}`;
    const name = (v as object).constructor?.name;
    if (name && name !== "Object") return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
    return `an object with keys {${Object.keys(v as object).join(", ")}}`;
  }
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v === "undefined" ? "undefined" : `the ${typeof v} ${String(v)}`}`;
}

/** Fail at the call site unless `v` is a function (transformations check their arguments when defined). */
export function checkFunction(op: string, param: string, v: unknown, hint = ""): void {
  if (typeof v !== "function") fail(op, `${param} must be a function, got ${describeValue(v)}${hint ? ` (${hint})` : ""}`);
}

/**
 * Reject option keys a function does not know, listing the ones it does (a misspelt option is a silent
 * no-op otherwise). Undefined and null mean "no options".
 */
export function checkOptions(op: string, opts: unknown, known: readonly string[], param = "options"): void {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== "object" || Array.isArray(opts)) fail(op, `${param} must be an object, got ${describeValue(opts)}`);
  for (const k in opts) {
    if (known.includes(k)) continue;
    const guess = closest(k, known);
    const where = param === "options" ? "" : ` in ${param}`;
    fail(op, `unknown option "${k}"${where}${guess ? ` (did you mean "${guess}"?)` : ""}; known options are ${known.join(", ")}`);
  }
}

// snake_case spelt from PyTorch/Keras habit, or a typo within two edits
// the names PyTorch and NumPy give one option
const SYNONYMS: Record<string, string[]> = { dim: ["axis", "axes"], axis: ["dim"], keepdim: ["keepdims"], keepdims: ["keepdim"], dims: ["axes", "axis"] };

function closest(k: string, known: readonly string[]): string | null {
  const syn = SYNONYMS[k]?.find((c) => known.includes(c));
  if (syn) return syn;
  const camel = k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  if (camel !== k && known.includes(camel)) return camel;
  let best: string | null = null, bestD = 3;
  for (const c of known) {
    const d = editDistance(k.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The keys of an options type for {@link checkOptions}, which the compiler holds to be exactly its keys
 * (a key added to the interface and not here is a compile error).
 */
export const optionKeys = <T extends object>(keys: { [K in keyof Required<T>]: true }): readonly string[] => Object.keys(keys);
