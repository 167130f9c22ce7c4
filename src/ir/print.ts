import type { Expr, Kernel } from "./expr.js";

const SYM: Partial<Record<string, string>> = { add: "+", sub: "-", mul: "*", div: "/", rem: "%", lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=", and: "&&", or: "||" };

/**
 * A kernel as text: shared subexpressions become numbered lets, so the listing is linear in the size
 * of the expression DAG. Index variables print as i0, i1, ...; `in2[...]` is a load of argument 2.
 */
export function formatKernel(k: Kernel): string {
  const counts = new Map<Expr, number>();
  const count = (e: Expr): void => {
    const n = (counts.get(e) ?? 0) + 1;
    counts.set(e, n);
    if (n > 1) return;
    switch (e.k) {
      case "load": count(e.at); break;
      case "un": case "cast": case "bitcast": count(e.x); break;
      case "bin": count(e.x); count(e.y); break;
      case "sel": count(e.c); count(e.x); count(e.y); break;
      case "reduce": count(e.body); break;
    }
  };
  k.outs.forEach((o) => count(o.expr));
  const lets: string[] = [];
  const names = new Map<Expr, string>();
  const show = (e: Expr): string => {
    const hit = names.get(e);
    if (hit) return hit;
    let s: string;
    switch (e.k) {
      case "const": return String(e.v);
      case "idx": return `i${e.id}`;
      case "load": s = `in${e.arg}[${show(e.at)}]`; break;
      case "un": s = `${e.op}(${show(e.x)})`; break;
      case "bin": s = SYM[e.op] ? `(${show(e.x)} ${SYM[e.op]} ${show(e.y)})` : `${e.op}(${show(e.x)}, ${show(e.y)})`; break;
      case "sel": s = `(${show(e.c)} ? ${show(e.x)} : ${show(e.y)})`; break;
      case "cast": s = `${e.dt}(${show(e.x)})`; break;
      case "bitcast": s = `bitcast<${e.dt}>(${show(e.x)})`; break;
      case "reduce": s = `${e.op}[${e.vars.map((v, j) => `i${v}<${e.ext[j]}`).join(",")}](${show(e.body)})`; break;
    }
    if ((counts.get(e) ?? 0) > 1 && e.k !== "load") {
      const n = `t${lets.length}`;
      lets.push(`  ${n} = ${s}`);
      names.set(e, n);
      return n;
    }
    return s;
  };
  const outs = k.outs.map((o, j) => `  out${j}:${o.dt} = ${show(o.expr)}`);
  return [`${k.name} [${k.shape.join(",")}] (${k.inputs.join(", ")})`, ...lets, ...outs].join("\n");
}
