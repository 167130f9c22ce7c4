/**
 * Symbolic sizes for ONNX export with dynamic axes. A traced program has concrete shapes, so the
 * exporter traces it at several sizes of each dynamic axis and fits every number that changes (a
 * shape entry, a slice bound, the value of `full`) as a multilinear polynomial in the axis symbols;
 * a further trace at other sizes checks the fit. Batch-polymorphic programs are affine in the batch
 * size, and products of two dynamic axes (a reshape to [batch * seq, d]) are multilinear.
 */
import { TridentError } from "../../core/errors.js";

/** A polynomial in the dynamic-axis symbols: monomial key (sorted symbol names joined by "*", "" for 1) → coefficient. */
export class Poly {
  readonly terms: ReadonlyMap<string, number>;
  constructor(terms: Iterable<[string, number]>) {
    const m = new Map<string, number>();
    for (const [k, c] of terms) if (c !== 0) m.set(k, (m.get(k) ?? 0) + c);
    for (const [k, c] of [...m]) if (c === 0) m.delete(k);
    this.terms = new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  get constant(): number {
    return this.terms.get("") ?? 0;
  }
  key(): string {
    return [...this.terms].map(([k, c]) => `${c}${k ? "*" + k : ""}`).join("+");
  }
  /** Human-readable form, also used as an ONNX dim_param ("batch", "batch*16", "seq+1"). */
  toString(): string {
    const parts: string[] = [];
    for (const [k, c] of this.terms) {
      if (!k) parts.push(String(c));
      else parts.push(c === 1 ? k : c === -1 ? `-${k}` : `${c}*${k}`);
    }
    return parts.join("+").replace(/\+-/g, "-") || "0";
  }
  evaluate(vals: ReadonlyMap<string, number>): number {
    let s = 0;
    for (const [k, c] of this.terms) s += c * (k ? k.split("*").reduce((p, n) => p * vals.get(n)!, 1) : 1);
    return s;
  }
}

/** A size or other integer that is either known or a polynomial in the dynamic-axis symbols. */
export type SymDim = number | Poly;

/** Collapse a polynomial without symbols to its number. */
export function simplify(p: Poly): SymDim {
  if (p.terms.size === 0) return 0;
  if (p.terms.size === 1 && p.terms.has("")) return p.constant;
  return p;
}

export const isStatic = (d: SymDim): d is number => typeof d === "number";

export function dimEq(a: SymDim, b: SymDim): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return a.key() === b.key();
}


/**
 * The sizes each symbol takes in the traces: corner traces put symbol i at `base[i]` or `base[i] + 1`
 * (bit i of the trace index), and one more trace at `base[i] + 2 + i` checks the fit.
 */
export interface FitPlan {
  symbols: string[];
  base: number[];
}

/** Symbol values of trace t (0 .. 2^k − 1 are corners, 2^k is the check). */
export function traceValues(plan: FitPlan, t: number): Map<string, number> {
  const k = plan.symbols.length;
  const m = new Map<string, number>();
  plan.symbols.forEach((s, i) => m.set(s, t === 1 << k ? plan.base[i]! + 2 + i : plan.base[i]! + ((t >> i) & 1)));
  return m;
}

export const traceCount = (plan: FitPlan): number => (plan.symbols.length === 0 ? 1 : (1 << plan.symbols.length) + 1);

/**
 * Fit one number observed in every trace. With the corners one step apart, the multilinear
 * interpolant has integer coefficients whenever the observations are integers: first the finite
 * differences d_T over subsets T of symbols, then the expansion of Π_{i∈T}(x_i − b_i).
 * Returns null when the check trace disagrees (the number is not multilinear in the symbols).
 */
export function fitNumber(plan: FitPlan, obs: readonly number[]): SymDim | null {
  const k = plan.symbols.length;
  if (k === 0 || obs.every((v) => v === obs[0] || (Number.isNaN(v) && Number.isNaN(obs[0]!)))) return obs[0]!;
  const n = 1 << k;
  const diff = new Array<number>(n).fill(0);
  for (let T = 0; T < n; T++) {
    for (let U = T; ; U = (U - 1) & T) {
      const sign = popcount(T & ~U) % 2 === 0 ? 1 : -1;
      diff[T]! += sign * obs[U]!;
      if (U === 0) break;
    }
  }
  const terms: [string, number][] = [];
  for (let S = 0; S < n; S++) {
    let coef = 0;
    for (let T = 0; T < n; T++) {
      if ((T & S) !== S || diff[T] === 0) continue;
      let c = diff[T]!;
      for (let i = 0; i < k; i++) if ((T & ~S) & (1 << i)) c *= -plan.base[i]!;
      coef += c;
    }
    if (coef !== 0) terms.push([plan.symbols.filter((_, i) => S & (1 << i)).sort().join("*"), coef]);
  }
  const d = simplify(new Poly(terms));
  const check = obs[n]!;
  const got = typeof d === "number" ? d : d.evaluate(traceValues(plan, n));
  return Math.abs(got - check) <= 1e-9 * Math.max(1, Math.abs(check)) ? d : null;
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/** Error for a number that must be known when exporting but depends on a dynamic axis. */
export function staticOnly(prim: string, what: string, d: SymDim): number {
  if (typeof d === "number") return d;
  throw new TridentError(
    `onnx.export: ${prim}: ${what} is ${d}, which depends on a dynamic axis, but ONNX needs it as a constant here; ` +
      `export with that axis static (leave it out of dynamicAxes)`,
  );
}
