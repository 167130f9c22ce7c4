import { exprChildren, type Expr } from "../../ir/expr.js";

/** Index variables each node depends on (a reduction's own variables excluded), memoised by node. */
export class Deps {
  private memo = new Map<Expr, Set<number>>();
  of(e: Expr): Set<number> {
    const hit = this.memo.get(e);
    if (hit) return hit;
    let s: Set<number>;
    switch (e.k) {
      case "const": s = new Set(); break;
      case "idx": s = new Set([e.id]); break;
      case "load": s = this.of(e.at); break;
      case "un": case "cast": case "bitcast": s = this.of(e.x); break;
      case "bin": s = union(this.of(e.x), this.of(e.y)); break;
      case "sel": s = union(this.of(e.c), union(this.of(e.x), this.of(e.y))); break;
      case "reduce": {
        s = new Set(this.of(e.body));
        for (const v of e.vars) s.delete(v);
        break;
      }
    }
    this.memo.set(e, s);
    return s;
  }
  /** Whether e depends on any variable in vs. */
  touches(e: Expr, vs: ReadonlySet<number>): boolean {
    for (const v of this.of(e)) if (vs.has(v)) return true;
    return false;
  }
}
function union(a: Set<number>, b: Set<number>): Set<number> {
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  const s = new Set(a);
  for (const v of b) s.add(v);
  return s;
}

/** Visit every node of a DAG once (children before parents is not guaranteed). */
export function walk(roots: readonly Expr[], visit: (e: Expr) => void): void {
  const seen = new Set<Expr>();
  const go = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    visit(e);
    exprChildren(e).forEach(go);
  };
  roots.forEach(go);
}

/** Reductions that are not nested inside another reduction. */
export function topReduces(roots: readonly Expr[]): Extract<Expr, { k: "reduce" }>[] {
  const out: Extract<Expr, { k: "reduce" }>[] = [];
  const seen = new Set<Expr>();
  const go = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.k === "reduce") out.push(e);
    else exprChildren(e).forEach(go);
  };
  roots.forEach(go);
  return out;
}

/** Number of references to each node from its parents (how often the tree form would evaluate it). */
export function refCounts(roots: readonly Expr[]): Map<Expr, number> {
  const counts = new Map<Expr, number>();
  const go = (e: Expr): void => {
    const n = (counts.get(e) ?? 0) + 1;
    counts.set(e, n);
    if (n > 1) return;
    exprChildren(e).forEach(go);
  };
  roots.forEach(go);
  return counts;
}
