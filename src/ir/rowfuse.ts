import { affine, coef } from "./affine.js";
import { exprChildren, idx, load, unravel, type Expr, type Kernel } from "./expr.js";
import type { FusedKernel, Graph, Step } from "./fuse.js";
import { pruneArgs } from "./prune.js";
import { simplifyKernel } from "./simplify.js";

/*
 * Row fusion: a second fusion pass over the kernels `fuse` built, for backends whose code generators
 * evaluate a reduction that depends only on a kernel's outer (row) indices once per row, before the
 * innermost loop (the wasm backend hoists them). Softmax, layerNorm and logsumexp are chains of such
 * row reductions and elementwise kernels; merged, each row is read from memory once and stays in cache
 * while its reductions and its output are computed.
 *
 * Two rewrites, repeated until neither applies, each merging a producer kernel P into the only kernel Q
 * that reads P's outputs (none of them a program output or read by an operation without a lowering):
 *
 * - row producer: Q reads P only at indices of its outer variables, and P has one element per row of Q
 *   (softmax's row max read by exp(x − max)), or one per element of Q read at Q's own index inside Q's
 *   reductions (logsumexp's max). Q then computes P once per row (or element): the same work, one
 *   kernel and one buffer fewer.
 * - row operand: P has Q's shape and Q reads it at its own index and inside one reduction over Q's
 *   innermost axis at (row, k) (softmax's exp(x − max), read by the row sum and by the division). Inlined,
 *   the reduction's body and the elementwise use are the same value at the same element of the row, so
 *   the code generator computes it once: during the reduction it stores the body into the output row,
 *   which the elementwise pass reads back while it is still in cache. Only float32 kernels, where the
 *   output row can hold the body exactly.
 */

/** Merge row-local producers into their consumers (see above); returns the new step list. */
export function rowFuse(g: Graph, steps: readonly Step[]): Step[] {
  let cur = [...steps];
  const isOutput = new Set(g.outputs);
  for (let changed = true; changed; ) {
    changed = false;
    const readers = new Map<number, number[]>();
    cur.forEach((s, i) => {
      const ins = s.kind === "kernel" ? s.fused.inputs : g.nodes[s.node]!.inputs;
      for (const v of new Set(ins)) {
        const list = readers.get(v);
        if (list) list.push(i);
        else readers.set(v, [i]);
      }
    });
    for (let pi = 0; pi < cur.length && !changed; pi++) {
      const ps = cur[pi]!;
      if (ps.kind !== "kernel" || ps.fused.contraction) continue;
      const P = ps.fused;
      let qi = -1;
      const single = P.outputs.every((v) => {
        if (isOutput.has(v)) return false;
        const r = readers.get(v) ?? [];
        if (r.length !== 1 || (qi !== -1 && r[0] !== qi)) return false;
        qi = r[0]!;
        return true;
      });
      if (!single || qi === -1) continue;
      const qs = cur[qi]!;
      if (qs.kind !== "kernel" || qs.fused.contraction) continue;
      const Q = qs.fused;
      if (!rowProducer(P, Q) && !rowOperand(P, Q)) continue;
      const merged = inline(P, Q);
      cur[qi] = { kind: "kernel", fused: merged };
      cur.splice(pi, 1);
      changed = true;
    }
  }
  return cur;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Every load of P's outputs in Q, with the innermost reduction enclosing it (null outside any). */
function loadsOf(P: FusedKernel, Q: FusedKernel): { at: Expr; red: Extract<Expr, { k: "reduce" }> | null }[] {
  const args = new Set(P.outputs.map((v) => Q.inputs.indexOf(v)));
  const out: { at: Expr; red: Extract<Expr, { k: "reduce" }> | null }[] = [];
  const seen = new Map<Expr, Set<Expr | null>>();
  const go = (e: Expr, red: Extract<Expr, { k: "reduce" }> | null): void => {
    let s = seen.get(e);
    if (!s) seen.set(e, (s = new Set()));
    if (s.has(red)) return;
    s.add(red);
    if (e.k === "load" && args.has(e.arg)) out.push({ at: e.at, red });
    const inner = e.k === "reduce" ? e : red;
    exprChildren(e).forEach((x) => go(x, inner));
  };
  Q.kernel.outs.forEach((o) => go(o.expr, null));
  return out;
}

/** Whether `at` is the row-major index of (outer variables of a rank-r shape, then variable `inner`). */
function isRowIndex(at: Expr, shape: readonly number[], inner: number): boolean {
  const a = affine(at);
  if (!a || a.c !== 0) return false;
  const r = shape.length;
  let stride = 1;
  const want = new Map<number, number>();
  for (let d = r - 1; d >= 0; d--) {
    if (shape[d] !== 1) want.set(d === r - 1 ? inner : d, stride);
    stride *= shape[d]!;
  }
  return a.t.size === want.size && [...want].every(([v, s]) => coef(a, v) === s);
}

/** Variables an index reads. */
function varsOf(e: Expr, acc = new Set<number>()): Set<number> {
  if (e.k === "idx") acc.add(e.id);
  else exprChildren(e).forEach((x) => varsOf(x, acc));
  return acc;
}

function rowProducer(P: FusedKernel, Q: FusedKernel): boolean {
  const r = Q.kernel.shape.length, n = size(P.kernel.shape);
  // One element of P per row of Q, read at the row's outer indices; or one per element of Q, read at
  // Q's own indices only (inside Q's reductions too: logsumexp's max in its sum). Either way P is
  // computed as often as it would be stored.
  let outer: number;
  if (r >= 2 && Q.kernel.shape[r - 1]! >= 2 && n === size(Q.kernel.shape.slice(0, -1))) outer = r - 1;
  else if (r >= 1 && n === size(Q.kernel.shape)) outer = r;
  else return false;
  return loadsOf(P, Q).every(({ at }) => [...varsOf(at)].every((v) => v < outer));
}

function rowOperand(P: FusedKernel, Q: FusedKernel): boolean {
  const shape = Q.kernel.shape, r = shape.length;
  if (r < 2 || shape[r - 1]! < 8) return false;
  if (P.kernel.shape.length !== r || P.kernel.shape.some((d, i) => d !== shape[i])) return false;
  if (P.kernel.outs.some((o) => o.dt !== "float32") || !Q.kernel.outs.some((o) => o.dt === "float32")) return false;
  const reds = new Set<Expr>();
  let identity = false;
  for (const { at, red } of loadsOf(P, Q)) {
    if (!red && isRowIndex(at, shape, r - 1)) identity = true;
    else if (red && red.vars.length === 1 && red.ext[0] === shape[r - 1] && isRowIndex(at, shape, red.vars[0]!)) reds.add(red);
    else return false;
  }
  return identity && reds.size === 1;
}

/** Q with every load of P's outputs replaced by P's expressions at that index. */
function inline(P: FusedKernel, Q: FusedKernel): FusedKernel {
  const qk = Q.kernel, pk = P.kernel;
  const inputs = Q.inputs.filter((v) => !P.outputs.includes(v));
  const argOf = (v: number): number => {
    let a = inputs.indexOf(v);
    if (a < 0) a = inputs.push(v) - 1;
    return a;
  };
  const qArg = Q.inputs.map((v) => (P.outputs.includes(v) ? -1 : argOf(v)));
  const pArg = P.inputs.map(argOf);
  // P's reduction variables move above every variable Q uses
  let base = qk.shape.length;
  const scan = (e: Expr): void => {
    if (e.k === "reduce") e.vars.forEach((v) => (base = Math.max(base, v + 1)));
    exprChildren(e).forEach(scan);
  };
  qk.outs.forEach((o) => scan(o.expr));
  const shift = base - pk.shape.length;

  const pMemo = new Map<string, Expr>();
  const atIds = new Map<Expr, number>();
  const pAt = (e: Expr, comps: readonly Expr[], site: number): Expr => {
    const key = `${site}|${nodeId(e)}`;
    const hit = pMemo.get(key);
    if (hit) return hit;
    let r: Expr;
    switch (e.k) {
      case "const": r = e; break;
      case "idx": r = e.id < pk.shape.length ? comps[e.id]! : idx(e.id + shift); break;
      case "load": r = load(pArg[e.arg]!, pAt(e.at, comps, site), e.dt); break;
      case "un": case "cast": case "bitcast": r = { ...e, x: pAt(e.x, comps, site) } as Expr; break;
      case "bin": r = { ...e, x: pAt(e.x, comps, site), y: pAt(e.y, comps, site) }; break;
      case "sel": r = { ...e, c: pAt(e.c, comps, site), x: pAt(e.x, comps, site), y: pAt(e.y, comps, site) }; break;
      case "reduce": r = { ...e, vars: e.vars.map((v) => v + shift), body: pAt(e.body, comps, site) }; break;
    }
    pMemo.set(key, r);
    return r;
  };
  const ids = new Map<Expr, number>();
  const nodeId = (e: Expr): number => {
    let i = ids.get(e);
    if (i === undefined) ids.set(e, (i = ids.size));
    return i;
  };
  const qMemo = new Map<Expr, Expr>();
  const rw = (e: Expr): Expr => {
    const hit = qMemo.get(e);
    if (hit) return hit;
    let r: Expr;
    switch (e.k) {
      case "const": case "idx": r = e; break;
      case "load": {
        const at = rw(e.at);
        const a = qArg[e.arg]!;
        if (a >= 0) {
          r = load(a, at, e.dt);
          break;
        }
        const j = P.outputs.indexOf(Q.inputs[e.arg]!);
        let site = atIds.get(at);
        if (site === undefined) atIds.set(at, (site = atIds.size));
        const comps = pk.shape.length === 0 ? [] : unravel(at, pk.shape);
        r = pAt(pk.outs[j]!.expr, comps, site);
        break;
      }
      case "un": case "cast": case "bitcast": r = { ...e, x: rw(e.x) } as Expr; break;
      case "bin": r = { ...e, x: rw(e.x), y: rw(e.y) }; break;
      case "sel": r = { ...e, c: rw(e.c), x: rw(e.x), y: rw(e.y) }; break;
      case "reduce": r = { ...e, body: rw(e.body) }; break;
    }
    qMemo.set(e, r);
    return r;
  };
  const raw: Kernel = {
    name: qk.name,
    inputs: inputs.map((v) => dtypeOf(v, P, Q)),
    shape: qk.shape,
    outs: qk.outs.map((o) => ({ dt: o.dt, expr: rw(o.expr) })),
  };
  const { kernel, used } = pruneArgs(simplifyKernel(raw));
  return {
    kernel,
    inputs: used.map((a) => inputs[a]!),
    outputs: Q.outputs,
    nodes: [...new Set([...P.nodes, ...Q.nodes])].sort((a, b) => a - b),
    contraction: false,
  };
}

function dtypeOf(v: number, P: FusedKernel, Q: FusedKernel): Kernel["inputs"][number] {
  const q = Q.inputs.indexOf(v);
  if (q >= 0) return Q.kernel.inputs[q]!;
  return P.kernel.inputs[P.inputs.indexOf(v)]!;
}
