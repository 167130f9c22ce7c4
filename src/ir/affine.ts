import type { DType } from "../core/dtype.js";
import type { Expr } from "./expr.js";

/** An affine function of index variables: c + Σ t[v]·v. */
export interface Affine {
  c: number;
  t: Map<number, number>;
}

const affConst = (c: number): Affine => ({ c, t: new Map() });
function affAdd(a: Affine, b: Affine, sign = 1): Affine {
  const t = new Map(a.t);
  for (const [v, k] of b.t) {
    const s = (t.get(v) ?? 0) + sign * k;
    if (s === 0) t.delete(v);
    else t.set(v, s);
  }
  return { c: a.c + sign * b.c, t };
}
function affScale(a: Affine, k: number): Affine {
  if (k === 0) return affConst(0);
  const t = new Map<number, number>();
  for (const [v, x] of a.t) t.set(v, x * k);
  return { c: a.c * k, t };
}
/** Coefficient of variable v. */
export const coef = (a: Affine, v: number): number => a.t.get(v) ?? 0;

/**
 * Stride of a group of variables (outermost first) that merges into one index: each outer coefficient
 * is the inner one times the inner extent. Null when the group does not merge.
 */
export function mergedStride(a: Affine, vars: readonly number[], ext: readonly number[]): number | null {
  if (vars.length === 0) return 0;
  for (let j = 0; j + 1 < vars.length; j++) if (coef(a, vars[j]!) !== coef(a, vars[j + 1]!) * ext[j + 1]!) return null;
  return coef(a, vars[vars.length - 1]!);
}

/**
 * An affine form that equals the expression wherever every constraint (an affine form ≥ 0) holds.
 * Clamps `min(x, c)`/`max(x, c)` become constraints, so masked loads of padded convolutions stay affine
 * in their valid region.
 */
export interface Guarded {
  a: Affine;
  cons: Affine[];
}

const isInt = (dt: DType) => dt === "int32";

/** Affine analysis of an int32 index expression (sums of var·const + const); null for div/rem/select. */
export function affine(e: Expr): Affine | null {
  const g = guarded(e, false);
  return g ? g.a : null;
}

/** Like `affine`, but min/max clamps against constants are accepted and recorded as constraints. */
export function guarded(e: Expr, clamps = true): Guarded | null {
  const memo = new Map<Expr, Guarded | null>();
  const go = (e: Expr): Guarded | null => {
    const hit = memo.get(e);
    if (hit !== undefined) return hit;
    const r = step(e);
    memo.set(e, r);
    return r;
  };
  const step = (e: Expr): Guarded | null => {
    if (!isInt(e.dt)) return null;
    switch (e.k) {
      case "const": return { a: affConst(e.v), cons: [] };
      case "idx": return { a: { c: 0, t: new Map([[e.id, 1]]) }, cons: [] };
      case "un":
        if (e.op !== "neg") return null;
        { const x = go(e.x); return x && { a: affScale(x.a, -1), cons: x.cons }; }
      case "bin": {
        if (e.op === "add" || e.op === "sub") {
          const x = go(e.x), y = go(e.y);
          return x && y && { a: affAdd(x.a, y.a, e.op === "add" ? 1 : -1), cons: [...x.cons, ...y.cons] };
        }
        if (e.op === "mul") {
          const x = go(e.x), y = go(e.y);
          if (!x || !y) return null;
          if (y.a.t.size === 0 && y.cons.length === 0) return { a: affScale(x.a, y.a.c), cons: x.cons };
          if (x.a.t.size === 0 && x.cons.length === 0) return { a: affScale(y.a, x.a.c), cons: y.cons };
          return null;
        }
        if (clamps && (e.op === "min" || e.op === "max")) {
          // min(x, c) = x where c − x ≥ 0; max(x, c) = x where x − c ≥ 0
          const [x, k] = e.y.k === "const" ? [go(e.x), e.y.v] : e.x.k === "const" ? [go(e.y), e.x.v] : [null, 0];
          if (!x) return null;
          const con = e.op === "min" ? affAdd(affConst(k), x.a, -1) : affAdd(x.a, affConst(k), -1);
          return { a: x.a, cons: [...x.cons, con] };
        }
        return null;
      }
      default:
        return null;
    }
  };
  return go(e);
}

/**
 * A boolean condition as a conjunction of affine constraints (each ≥ 0), or null when it is not one
 * (rem tests of dilated convolutions, comparisons of loaded values).
 */
export function conjunction(e: Expr): Affine[] | null {
  if (e.k === "const") return e.v ? [] : null;
  if (e.k !== "bin") return null;
  if (e.op === "and") {
    const x = conjunction(e.x), y = conjunction(e.y);
    return x && y && [...x, ...y];
  }
  if (!isInt(e.x.dt) || !isInt(e.y.dt)) return null;
  const x = guarded(e.x, false), y = guarded(e.y, false);
  if (!x || !y) return null;
  const d = affAdd(x.a, y.a, -1); // x − y
  switch (e.op) {
    case "ge": return [d];
    case "gt": return [affAdd(d, affConst(1), -1)];
    case "le": return [affScale(d, -1)];
    case "lt": return [affAdd(affScale(d, -1), affConst(1), -1)];
    default: return null;
  }
}
