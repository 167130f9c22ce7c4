import { exprChildren, type Expr, type Kernel } from "./expr.js";

/** Drop kernel arguments that simplification made unused, renumbering the loads. */
export function pruneArgs(k: Kernel): { kernel: Kernel; used: number[] } {
  const seen = new Set<Expr>();
  const args = new Set<number>();
  const walk = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.k === "load") args.add(e.arg);
    exprChildren(e).forEach(walk);
  };
  k.outs.forEach((o) => walk(o.expr));
  const used = [...args].sort((a, b) => a - b);
  if (used.length === k.inputs.length) return { kernel: k, used };
  const remap = new Map(used.map((a, i) => [a, i]));
  const memo = new Map<Expr, Expr>();
  const rw = (e: Expr): Expr => {
    const hit = memo.get(e);
    if (hit) return hit;
    let r: Expr;
    switch (e.k) {
      case "const": case "idx": r = e; break;
      case "load": r = { ...e, arg: remap.get(e.arg)!, at: rw(e.at) }; break;
      case "un": case "cast": case "bitcast": r = { ...e, x: rw(e.x) } as Expr; break;
      case "bin": r = { ...e, x: rw(e.x), y: rw(e.y) }; break;
      case "sel": r = { ...e, c: rw(e.c), x: rw(e.x), y: rw(e.y) }; break;
      case "reduce": r = { ...e, body: rw(e.body) }; break;
    }
    memo.set(e, r);
    return r;
  };
  return { kernel: { ...k, inputs: used.map((a) => k.inputs[a]!), outs: k.outs.map((o) => ({ dt: o.dt, expr: rw(o.expr) })) }, used };
}
