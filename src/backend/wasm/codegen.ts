import { exprChildren, idx, linear, load, nodeSignature, type Expr, type Kernel } from "../../ir/expr.js";
import { Deps, refCounts, topReduces, walk } from "./analysis.js";
import { ModuleBuilder, Op, T, V, type FuncType } from "./emitter.js";
import { elemBytes, Fn, IMPORTS, log2, valType } from "./fn.js";
import { compileGemm } from "./gemm.js";
import { ScalarGen, type ReduceExpr } from "./scalar.js";
import { domOf, loadKinds, VecGen, vectorisable } from "./vector.js";

export { elemBytes, valType, IMPORTS } from "./fn.js";

/*
 * Kernel IR → WebAssembly. Each kernel gets one of four plans:
 * - "gemm": a sum of products of two factors (matmul, batched matmul, convolution) with any epilogue
 *   becomes a packed, register-tiled f32x4 kernel over tiles (gemm.ts, pack.ts);
 * - "vector": four consecutive outputs of the innermost dimension per step, when its loads are contiguous
 *   or broadcast (others are gathered lane by lane), with a scalar remainder;
 * - "reduce": the output is scalar but reductions run with their innermost variable across lanes
 *   (softmax's row max and sum), four accumulators wide, with a scalar tail;
 * - "scalar": everything else (float64, 16-bit floats, tiny extents); float sums accumulate in f64.
 * In every plan, a reduction that depends only on the outer indices of a row is computed once per row,
 * before the row's innermost loop (row-fused kernels, ir/rowfuse.ts, rely on it); a vector plan may also
 * stash such a reduction's body in the output row for the elementwise pass to read back (findStash).
 * Vector plans accumulate float32 sums in float32 (their scalar remainders too, so that an element's value
 * does not depend on which loop computed it, nor on how threads split the rows).
 */

/** A kernel compiled to a module exporting `run(inPtrs…, outPtrs…, start, end, scratch)`. */
export interface CompiledKernel {
  bytes: Uint8Array;
  /** JS functions the module imports from "m", in import order. */
  imports: string[];
  /** `run` computes the units [start, end) of [0, rows): output rows, or tiles for contractions. */
  rows: number;
  /** Thread chunks start at multiples of this (keeps vector loops aligned, so results do not depend on the split). */
  grain: number;
  /** Rough count of scalar operations of the whole kernel: decides whether threads pay. */
  work: number;
  /** Bytes of per-thread scratch memory `run` needs at `scratch` (packed panels). */
  scratch: number;
  plan: "scalar" | "vector" | "reduce" | "gemm";
  /** A row reduction stores its body in the output row for the elementwise pass to reuse (findStash). */
  rowStash?: boolean;
}

export interface CodegenOptions {
  shared: boolean;
  /** Whether f32x4.relaxed_madd validates (fused multiply-add). */
  relaxed: boolean;
  /** Only the scalar plan (a fallback should a specialised plan fail to compile). */
  scalarOnly?: boolean;
}

/** Estimated scalar operations per output element. */
function elementCost(roots: readonly Expr[]): number {
  const memo = new Map<Expr, number>();
  const cost = (e: Expr): number => {
    const hit = memo.get(e);
    if (hit !== undefined) return 0; // shared nodes are computed once
    let c = 1;
    switch (e.k) {
      case "load": c += cost(e.at); break;
      case "un": case "cast": case "bitcast": c += cost(e.x) + (e.k === "un" && e.op !== "neg" && e.op !== "abs" ? 8 : 0); break;
      case "bin": c += cost(e.x) + cost(e.y); break;
      case "sel": c += cost(e.c) + cost(e.x) + cost(e.y); break;
      case "reduce": c += e.ext.reduce((a, b) => a * b, 1) * (cost(e.body) + 1); break;
    }
    memo.set(e, c);
    return c;
  };
  return roots.reduce((a, e) => a + cost(e), 0);
}

/** Whether a reduction can run with its innermost variable across vector lanes (softmax's max and sum). */
function laneReducible(r: ReduceExpr, deps: Deps): boolean {
  if (r.op !== "sum" && r.op !== "prod" && r.op !== "max" && r.op !== "min") return false;
  if (r.dt !== "float32" && r.dt !== "int32" && r.dt !== "uint32") return false;
  const d = domOf(r.body.dt);
  if (d !== "f" && d !== "i") return false;
  // reductions nested in the body must not vary with it: they are computed once, before its loop
  if (!vectorisable([r.body]) || topReduces([r.body]).some((x) => deps.touches(x, new Set(r.vars)))) return false;
  if (r.ext[r.ext.length - 1]! < 8) return false;
  const kinds = loadKinds([r.body], r.vars[r.vars.length - 1]!, deps);
  return kinds.contiguous > 0 && kinds.gathers === 0;
}

/** Compile a kernel to a WebAssembly module (bytes) with its dispatch metadata. */
export function compileKernelModule(kernel: Kernel, opts: CodegenOptions): CompiledKernel {
  const gemm = opts.scalarOnly ? null : compileGemm(kernel, opts);
  if (gemm) return gemm;
  let k = kernel;
  let roots = k.outs.map((o) => o.expr);
  let deps = new Deps();
  const rank = k.shape.length;
  const size = k.shape.reduce((a, b) => a * b, 1);
  const work = size * elementCost(roots);

  const laneSet = new Set(allReduces(roots).filter((r) => laneReducible(r, deps)));
  let plan: CompiledKernel["plan"] = "scalar";
  if (opts.scalarOnly) laneSet.clear();
  else if (rank >= 1 && vectorisable(roots) && k.outs.every((o) => domOf(o.dt))) {
    const u = rank - 1, ext = k.shape[u]!;
    const kinds = loadKinds(roots, u, deps);
    if (ext >= 4 && kinds.gathers === 0) plan = "vector";
    else if (laneSet.size) plan = "reduce";
    else if (ext >= 4 && kinds.gathers <= kinds.contiguous) plan = "vector";
  } else if (laneSet.size) plan = "reduce";
  // reductions that depend on the outer indices only are computed once per row, before the innermost loop
  const rowReduces = rank >= 2 ? hoistable(roots, deps, rank - 1) : [];
  const stash = plan === "vector" ? findStash(k, rowReduces.filter((r) => laneSet.has(r))) : null;
  if (stash) {
    k = stash.kernel;
    roots = k.outs.map((o) => o.expr);
    deps = new Deps();
  }
  const counts = refCounts(roots);

  const nIn = k.inputs.length, nOut = k.outs.length;
  const nParams = nIn + nOut + 3;
  const startP = nIn + nOut, endP = startP + 1;
  const f = new Fn(nParams, opts.relaxed);
  const sg = new ScalarGen(f, counts, (arg) => arg, plan !== "scalar");
  const o = f.local(T.i32);
  const inner = k.shape.slice(1).reduce((a, b) => a * b, 1);
  f.get(startP).i32(inner).op(Op.i32_mul).set(o);

  // reductions read inside other reductions (logsumexp's max) are computed once per element, first
  const elementReduces = rank >= 1 && plan !== "vector" ? hoistable(roots, deps, rank) : [];
  const storeScalar = () => {
    sg.scoped(() => {
      hoistInto(elementReduces);
      k.outs.forEach((out, j) => sg.store(nIn + j, out.dt, out.expr, o));
    });
    f.get(o).i32(1).op(Op.i32_add).set(o);
  };
  const uSet = new Set([rank - 1]);
  // the vector plan computes lane-wise only reductions it hoists (per-element ones stay scalar)
  if (plan !== "scalar") {
    sg.reduceHook = (e) => laneSet.has(e) && (plan === "reduce" || !deps.touches(e, uSet)) && (laneReduce(f, sg, deps, counts, e, stash?.reduce === e ? { param: nIn + stash.out, o } : null), true);
  }
  // per row: the hoisted reductions, innermost first, into locals that the row's loop reads
  const hoistInto = (list: readonly ReduceExpr[]) => {
    for (const r of list) {
      if (sg.cache.has(r)) continue;
      const l = f.local(valType(r.dt));
      sg.expr(r);
      f.set(l);
      sg.cache.set(r, l);
    }
  };

  if (rank === 0) storeScalar();
  else if (plan === "vector") {
    const u = rank - 1;
    const loopInner = () => vectorLoop(f, sg, deps, counts, k, u, rank === 1 ? () => f.get(endP) : () => f.i32(k.shape[u]!), o, nIn, rank === 1 || k.shape[u]! >= 16);
    if (rank === 1) {
      f.get(startP).set(f.varLocal(0));
      loopInner();
    } else {
      f.forLoop(f.varLocal(0), () => f.get(startP), () => f.get(endP), 1, () => f.loopVars(range(1, rank - 1), k.shape.slice(1, rank - 1), () => sg.scoped(() => {
        hoistInto(rowReduces);
        f.i32(0).set(f.varLocal(u));
        loopInner();
      })));
    }
  } else if (rank === 1) {
    f.forLoop(f.varLocal(0), () => f.get(startP), () => f.get(endP), 1, storeScalar);
  } else {
    f.forLoop(f.varLocal(0), () => f.get(startP), () => f.get(endP), 1, () => f.loopVars(range(1, rank - 1), k.shape.slice(1, rank - 1), () => sg.scoped(() => {
      hoistInto(rowReduces);
      f.loopVars([rank - 1], [k.shape[rank - 1]!], storeScalar);
    })));
  }

  const bytes = buildModule(f, opts, nParams);
  return { bytes, imports: [...f.usedImports], rows: rank === 0 ? 1 : k.shape[0]!, grain: plan === "vector" && rank === 1 ? 16 : 1, work, scratch: 0, plan, rowStash: stash !== null };
}

const range = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);

/** Wrap a finished function as the module's `run` export (imports are those the code used). */
export function buildModule(f: Fn, opts: CodegenOptions, nParams: number): Uint8Array {
  const mb = new ModuleBuilder({ module: "env", name: "mem", minPages: 1, maxPages: opts.shared ? 65536 : undefined, shared: opts.shared });
  for (const name of f.usedImports) {
    const im = IMPORTS[name]!;
    mb.importFunc("m", name, { params: im.params, results: [im.result] });
  }
  const type: FuncType = { params: Array(nParams).fill(T.i32), results: [] };
  mb.addFunc(type, f.body(), "run");
  return mb.build();
}

/**
 * The innermost output loop with four outputs per iteration (then a scalar remainder). Variable u runs
 * from its current value to `end`; o is the flat output index, advanced with it.
 */
function vectorLoop(f: Fn, sg: ScalarGen, deps: Deps, counts: Map<Expr, number>, k: Kernel, u: number, end: () => void, o: number, nIn: number, unroll: boolean): void {
  const vg = new VecGen(f, sg, deps, u, counts);
  const roots = k.outs.map((x) => x.expr);
  const bound = new Set<number>([u]);
  walk(roots, (e) => {
    if (e.k === "reduce") e.vars.forEach((v) => bound.add(v));
  });
  const ul = f.varLocal(u);
  const last = f.local(T.i32);
  end();
  f.i32(4).op(Op.i32_sub).set(last);
  const step = () => {
    vg.scoped(() =>
      k.outs.forEach((out, j) => {
        const size = elemBytes[out.dt];
        vg.store(out.dt, () => f.get(nIn + j).get(o).i32(log2(size)).op(Op.i32_shl, Op.i32_add), () => vg.expr(out.expr));
      }),
    );
    f.get(o).i32(4).op(Op.i32_add).set(o);
    f.get(ul).i32(4).op(Op.i32_add).set(ul);
  };
  vg.scoped(() => {
    vg.hoist(roots, bound);
    // two vectors per iteration (independent work for the out-of-order core, half the loop overhead)
    if (unroll) {
      f.op(Op.block, T.void, Op.loop, T.void);
      f.get(ul).i32(4).op(Op.i32_add).get(last).op(Op.i32_gt_s, Op.br_if).u32(1);
      step();
      step();
      f.op(Op.br).u32(0).op(Op.end, Op.end);
    }
    f.op(Op.block, T.void, Op.loop, T.void);
    f.get(ul).get(last).op(Op.i32_gt_s, Op.br_if).u32(1);
    step();
    f.op(Op.br).u32(0).op(Op.end, Op.end);
  });
  // remainder, one element at a time
  f.op(Op.block, T.void, Op.loop, T.void);
  f.get(ul);
  end();
  f.op(Op.i32_ge_s, Op.br_if).u32(1);
  sg.scoped(() => k.outs.forEach((out, j) => sg.store(nIn + j, out.dt, out.expr, o)));
  f.get(o).i32(1).op(Op.i32_add).set(o);
  f.get(ul).i32(1).op(Op.i32_add).set(ul);
  f.op(Op.br).u32(0).op(Op.end, Op.end);
}

/** A reduction with its innermost variable across lanes, a scalar tail, and a horizontal combine. */
function laneReduce(f: Fn, sg: ScalarGen, deps: Deps, counts: Map<Expr, number>, e: ReduceExpr, stash: { param: number; o: number } | null): void {
  const vk = e.vars[e.vars.length - 1]!, ext = e.ext[e.ext.length - 1]!;
  const vg = new VecGen(f, sg, deps, vk, counts);
  const F = domOf(e.body.dt) === "f";
  const accT = sg.accType(e);
  // independent accumulators hide the latency of the combine (a compare-select chain for max)
  const U = ext >= 64 ? 4 : 1;
  const acc = f.local(accT), s = f.local(F ? T.f32 : T.i32), v = f.local(T.v128);
  const accV = Array.from({ length: U }, () => f.local(T.v128));
  sg.reduceInit(e.op, accT, e.body.dt);
  f.set(acc);
  for (const a of accV) f.get(acc).v(F ? V.f32x4_splat : V.i32x4_splat).set(a);
  const kl = f.varLocal(vk);
  // the address of element k of the row in the stash output (see findStash)
  const stashAt = (st: { param: number; o: number }) => f.get(st.param).get(st.o).get(kl).op(Op.i32_add).i32(2).op(Op.i32_shl, Op.i32_add);
  const vstep = (a: number) =>
    vg.scoped(() => {
      vg.expr(e.body);
      f.set(v);
      if (stash) stashAt(stash).get(v).vmem(V.store, 2);
      vg.combine(e.op, a, v, e.body.dt);
    });
  const loop = (width: number, body: () => void) => {
    f.op(Op.block, T.void, Op.loop, T.void);
    f.get(kl).i32(ext - width).op(Op.i32_gt_s, Op.br_if).u32(1);
    body();
    f.op(Op.br).u32(0).op(Op.end, Op.end);
  };
  vg.scoped(() => {
    vg.hoist([e.body], new Set(e.vars));
    f.loopVars(e.vars.slice(0, -1), e.ext.slice(0, -1), () => {
      f.i32(0).set(kl);
      if (U > 1) {
        loop(4 * U, () =>
          accV.forEach((a) => {
            vstep(a);
            f.get(kl).i32(4).op(Op.i32_add).set(kl);
          }),
        );
      }
      loop(4, () => {
        vstep(accV[0]!);
        f.get(kl).i32(4).op(Op.i32_add).set(kl);
      });
      // the tail of the innermost variable
      loop(1, () => {
        sg.scoped(() => {
          sg.expr(e.body);
          f.set(s);
          if (stash) stashAt(stash).get(s).mem(Op.f32_store, 2);
          sg.combine(e.op, acc, s, e.body.dt, accT);
        });
        f.get(kl).i32(1).op(Op.i32_add).set(kl);
      });
    });
  });
  for (let j = 1; j < U; j++) vg.combine(e.op, accV[0]!, accV[j]!, e.body.dt);
  for (let L = 0; L < 4; L++) {
    f.get(accV[0]!).vlane(F ? V.f32x4_extract_lane : V.i32x4_extract_lane, L).set(s);
    sg.combine(e.op, acc, s, e.body.dt, accT);
  }
  f.get(acc);
  sg.finish(e, accT);
}


/** Every reduction of the DAG, nested ones included. */
function allReduces(roots: readonly Expr[]): ReduceExpr[] {
  const out: ReduceExpr[] = [];
  walk(roots, (e) => {
    if (e.k === "reduce") out.push(e);
  });
  return out;
}

/** Reductions whose free variables are all outer (below `inner`), children before the reductions using them. */
function hoistable(roots: readonly Expr[], deps: Deps, inner: number): ReduceExpr[] {
  const out: ReduceExpr[] = [];
  const seen = new Set<Expr>();
  const go = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    exprChildren(e).forEach(go);
    if (e.k === "reduce" && [...deps.of(e)].every((v) => v < inner)) out.push(e);
  };
  roots.forEach(go);
  return out;
}

/**
 * The row stash of a row-fused kernel (ir/rowfuse.ts): a hoisted reduction over the innermost axis whose
 * body, at element k of the row, is the same value an output expression uses at its own element
 * (softmax's exp(x − max) in the row sum and in the division). The reduction stores its body into that
 * output's row, and the output reads it back instead of computing it again. Returns the kernel with
 * that subexpression replaced by a load of the output (an argument index past the inputs, which the
 * code generator maps to the output's pointer). Kernels never write a buffer they read, so the row is
 * the kernel's own.
 */
function findStash(k: Kernel, candidates: readonly ReduceExpr[]): { kernel: Kernel; reduce: ReduceExpr; out: number } | null {
  const u = k.shape.length - 1;
  for (const r of candidates) {
    if (r.vars.length !== 1 || r.ext[0] !== k.shape[u] || r.body.dt !== "float32" || r.op === "argmax" || r.op === "argmin") continue;
    // a body that is a plain read is cheaper to read again than to store and reload
    if (r.body.k === "load" || (r.body.k === "cast" && r.body.x.k === "load")) continue;
    const kv = r.vars[0]!;
    // signatures with the reduction variable read as the innermost output variable
    const ids = new Map<Expr, number>(), table = new Map<string, number>();
    const id = (e: Expr): number => {
      const hit = ids.get(e);
      if (hit !== undefined) return hit;
      const sig = e.k === "idx" && e.id === kv ? `i${u}` : nodeSignature(e, id);
      let v = table.get(sig);
      if (v === undefined) table.set(sig, (v = table.size));
      ids.set(e, v);
      return v;
    };
    const want = id(r.body);
    for (let j = 0; j < k.outs.length; j++) {
      if (k.outs[j]!.dt !== "float32") continue;
      let target: Expr | null = null;
      walk([k.outs[j]!.expr], (e) => {
        if (!target && e !== r.body && e.k !== "reduce" && id(e) === want) target = e;
      });
      if (!target) continue;
      const found: Expr = target;
      const at = load(k.inputs.length + j, linear(k.shape.map((_, d) => idx(d)), k.shape), "float32");
      const memo = new Map<Expr, Expr>();
      const rw = (e: Expr): Expr => {
        if (e === found) return at;
        const hit = memo.get(e);
        if (hit) return hit;
        let out: Expr = e;
        switch (e.k) {
          case "un": case "cast": case "bitcast": { const x = rw(e.x); if (x !== e.x) out = { ...e, x } as Expr; break; }
          case "bin": { const x = rw(e.x), y = rw(e.y); if (x !== e.x || y !== e.y) out = { ...e, x, y }; break; }
          case "sel": { const c = rw(e.c), x = rw(e.x), y = rw(e.y); if (c !== e.c || x !== e.x || y !== e.y) out = { ...e, c, x, y }; break; }
          default: break; // loads, reductions (the body varies with k, not with the output's variable) stay
        }
        memo.set(e, out);
        return out;
      };
      return { kernel: { ...k, outs: k.outs.map((o) => ({ dt: o.dt, expr: rw(o.expr) })) }, reduce: r, out: j };
    }
  }
  return null;
}
