import { exprChildren, type Expr, type Kernel } from "../../ir/expr.js";
import { affine, coef, mergedStride, type Affine } from "../../ir/affine.js";
import { Deps, refCounts, topReduces } from "./analysis.js";
import { Op, T, V } from "./emitter.js";
import { elemBytes, Fn, log2 } from "./fn.js";
import { buildModule, type CodegenOptions, type CompiledKernel } from "./codegen.js";
import { ScalarGen, type ReduceExpr } from "./scalar.js";
import { domOf, VecGen, vectorisable } from "./vector.js";
import { maskedLoad, panelCopy, plainRows, stageMasked } from "./pack.js";

/** Register tile: MR rows × NR columns of f32x4 accumulators. */
const MR = 4, NR = 8, NQ = NR / 4;
/** Tuning knobs (read at compile time; benchmarks flip them to compare variants in one process). */
export const gemmTuning = {
  /** Bytes of packed B per task (kept in L2 while every row block of the task streams past it). */
  blockBytes: 192 * 1024,
};
/** Tasks to aim for, so that threads balance. */
const TARGET_TASKS = 16;

/** A contraction found in a kernel: out = E(Σ_K A·B) with A free of the N variables and B free of the M ones. */
interface Contraction {
  red: ReduceExpr;
  a: Expr;
  b: Expr;
  batch: number[];
  mVars: number[];
  nVars: number[];
  M: number;
  N: number;
  K: number;
}

const ZERO = (e: Expr) => e.k === "const" && e.v === 0;
const product = (xs: readonly number[]) => xs.reduce((p, x) => p * x, 1);

/**
 * Recognise a matmul-like kernel: one f32 sum whose body is (masks of) a product of two factors; output
 * variables split into [batch…, M…, N…] where the N suffix is free of factor A and the M run before it
 * is free of factor B. Masks (convolution padding) go with the factor whose variables they use.
 */
export function findContraction(k: Kernel, deps: Deps): Contraction | null {
  if (k.outs.length !== 1) return null;
  // other reductions may sit in the epilogue (max-pool's backward counts its window's ties there);
  // they are evaluated per output element, the largest sum of products is the contraction
  let best: Contraction | null = null;
  for (const red of topReduces([k.outs[0]!.expr])) {
    const c = contractionOf(k, deps, red);
    if (c && (!best || c.M * c.N * c.K > best.M * best.N * best.K)) best = c;
  }
  return best;
}

function contractionOf(k: Kernel, deps: Deps, red: ReduceExpr): Contraction | null {
  if (red.op !== "sum" || red.dt !== "float32" || red.body.dt !== "float32") return null;
  let body: Expr = red.body;
  const conds: Expr[] = [];
  while (body.k === "sel" && ZERO(body.y)) {
    conds.push(body.c);
    body = body.x;
  }
  if (body.k !== "bin" || body.op !== "mul") return null;
  if (topReduces([body]).length) return null;
  const wrap = (e: Expr): Expr => conds.reduce<Expr>((x, c) => ({ k: "sel", c, x, y: { k: "const", v: 0, dt: "float32" }, dt: "float32" }), e);
  const rank = k.shape.length;
  const K = product(red.ext);
  let best: Contraction | null = null, bestScore = 0;
  for (const [f1, f2] of [[body.x, body.y], [body.y, body.x]] as const) {
    for (const condsOnB of [true, false]) {
      const a = condsOnB ? f1 : wrap(f1), b = condsOnB ? wrap(f2) : f2;
      const dA = deps.of(a), dB = deps.of(b);
      let nStart = rank;
      while (nStart > 0 && !dA.has(nStart - 1)) nStart--;
      let mStart = nStart;
      while (mStart > 0 && !dB.has(mStart - 1)) mStart--;
      if (nStart === rank) continue;
      const nVars = range(nStart, rank), mVars = range(mStart, nStart), batch = range(0, mStart);
      const M = product(mVars.map((v) => k.shape[v]!)), N = product(nVars.map((v) => k.shape[v]!));
      if (N < 8 || M < 4 || K < 4 || M * N * K < 32768) continue;
      const score = Math.min(M, 64) * Math.min(N, 64) * (directA(a, mVars, k.shape, red) ? 2 : 1);
      if (score > bestScore) {
        bestScore = score;
        best = { red, a, b, batch, mVars, nVars, M, N, K };
      }
    }
  }
  return best;
}

const range = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);

/** Factor A read in place: an f32 load whose index is affine with mergeable M and K strides, M stride ≥ 0. */
function directA(a: Expr, mVars: number[], shape: readonly number[], red: ReduceExpr): { arg: number; aff: Affine; sM: number; sK: number } | null {
  if (a.k !== "load" || a.dt !== "float32") return null;
  const aff = affine(a.at);
  if (!aff) return null;
  const sM = mergedStride(aff, mVars, mVars.map((v) => shape[v]!));
  const sK = mergedStride(aff, red.vars, red.ext);
  if (sM === null || sK === null || sM < 0) return null;
  return { arg: a.arg, aff, sM, sK };
}

/**
 * Compile a contraction kernel as tiles: task t = (batch, M block, N block) packs its N block of B
 * (evaluating the factor, so masks, casts and gathers are handled once per element) into panels of NR
 * columns, then for every MR rows runs a register-tiled f32x4 micro-kernel over all of K and applies
 * the kernel's epilogue (bias, activation, residual, cast) to the accumulators before storing.
 */
export function compileGemm(k: Kernel, opts: CodegenOptions): CompiledKernel | null {
  const deps = new Deps();
  const c = findContraction(k, deps);
  if (!c) return null;
  const out = k.outs[0]!;
  const E = out.expr;
  const rank = k.shape.length;
  const { red, M, N, K } = c;
  const batchExt = c.batch.map((v) => k.shape[v]!);
  const batchCount = product(batchExt);
  const nc = Math.min(Math.ceil(N / NR) * NR, Math.max(NR, Math.floor(gemmTuning.blockBytes / (4 * K) / NR) * NR));
  const nBlocks = Math.ceil(N / nc);
  const mRowBlocks = Math.ceil(M / MR);
  // more tasks only for threads, and never blocks so short that packing B dominates (≥ 16 rows)
  const small = 2 * batchCount * M * N * K < 1 << 21;
  const mBlocks = small ? 1 : Math.min(Math.ceil(mRowBlocks / 4), Math.max(1, Math.ceil(TARGET_TASKS / (batchCount * nBlocks))));
  const mc = Math.ceil(mRowBlocks / mBlocks) * MR;
  const mBlocksReal = Math.ceil(M / mc);
  const tasks = batchCount * mBlocksReal * nBlocks;
  const direct = directA(c.a, c.mVars, k.shape, red);

  const nIn = k.inputs.length;
  const nParams = nIn + 1 + 3;
  const outP = nIn, startP = nIn + 1, endP = nIn + 2, scratchP = nIn + 3;
  const f = new Fn(nParams, opts.relaxed);
  const roots = [E];
  const sg = new ScalarGen(f, refCounts([E, c.a, c.b]), (arg) => arg, true);
  const vvar = rank - 1;
  const vg = new VecGen(f, sg, deps, vvar, refCounts(roots));
  // output variables the epilogue reads itself (beyond the accumulator): decoded per row and column
  const epiVars = varsOutside(E, red);
  const epiIdx = epiVars.size > 0;
  const plainStore = E === red && out.dt === "float32";
  const vecEpi = plainStore || (vectorisable([E]) && !!domOf(out.dt) && (c.nVars.length === 1 || k.shape[vvar]! % 4 === 0));

  const ncPad = Math.ceil(nc / NR) * NR;
  const bpBytes = ncPad * K * 4;
  const apOff = bpBytes, apBytes = MR * K * 4, tileOff = apOff + apBytes, stageOff = tileOff + 64;
  const scratch = stageOff + ncPad * K * 4;

  const L = (t: T) => f.local(t);
  const t = L(T.i32), j0 = L(T.i32), jn = L(T.i32), m0 = L(T.i32), mEnd = L(T.i32), i = L(T.i32), p = L(T.i32), np = L(T.i32);
  const bIdx = L(T.i32), aBase = L(T.i32), pa = L(T.i32), pb = L(T.i32), pend = L(T.i32), tmp = L(T.i32), jj = L(T.i32), kOff = L(T.i32), cnt = L(T.i32);
  const acc: number[][] = range(0, MR).map(() => range(0, NQ).map(() => L(T.v128)));
  const bv = range(0, NQ).map(() => L(T.v128));
  const av = L(T.v128);
  const sAcc = L(T.f32), jl = L(T.i32);

  const extOf = (v: number): number => (v < rank ? k.shape[v]! : red.ext[red.vars.indexOf(v)]!);
  /** Set the variables of a group from a merged index in local x (row-major over the group). */
  const decompose = (vars: readonly number[], x: number, only?: Set<number>) => {
    let stride = 1;
    for (let g = vars.length - 1; g >= 0; g--) {
      const v = vars[g]!, e = extOf(v);
      if (!only || only.has(v)) {
        f.get(x);
        if (stride > 1) f.i32(stride).op(Op.i32_div_u);
        if (g > 0) f.i32(e).op(Op.i32_rem_u);
        f.set(f.varLocal(v));
      }
      stride *= e;
    }
  };
  const decomposeK = (x: number) => {
    let stride = 1;
    for (let g = red.vars.length - 1; g >= 0; g--) {
      f.get(x);
      if (stride > 1) f.i32(stride).op(Op.i32_div_u);
      if (g > 0) f.i32(red.ext[g]!).op(Op.i32_rem_u);
      f.set(f.varLocal(red.vars[g]!));
      stride *= red.ext[g]!;
    }
  };
  /** Advance a group's variables by one (odometer). */
  const bump = (vars: readonly number[], ext: readonly number[]) => {
    const rec = (g: number): void => {
      const l = f.varLocal(vars[g]!);
      f.get(l).i32(1).op(Op.i32_add).tee(l).i32(ext[g]!).op(Op.i32_eq);
      f.op(Op.if, T.void).i32(0).set(l);
      if (g > 0) rec(g - 1);
      f.op(Op.end);
    };
    if (vars.length) rec(vars.length - 1);
  };
  const nExt = c.nVars.map((v) => k.shape[v]!);
  const bytesOut = elemBytes[out.dt];

  const plain = plainRows(c.b, c.nVars, k.shape, red);
  const masked = plain ? null : maskedLoad(c.b);

  /** Pack columns [j0, j0 + jn) of factor B for all K into panels: Bp[panel][k][NR]. */
  const packB = () => {
    if (plain) {
      // rows of B are contiguous: copy them straight into panels
      const src = L(T.i32);
      f.get(plain.arg).i32(plain.aff.c * 4).op(Op.i32_add).get(j0).i32(2).op(Op.i32_shl, Op.i32_add);
      for (const v of c.batch) f.get(f.varLocal(v)).i32(coef(plain.aff, v) * 4).op(Op.i32_mul, Op.i32_add);
      f.set(src);
      panelCopy(f, src, plain.sK * 4, scratchP, jn, K, NR);
      return;
    }
    if (masked) {
      const stage = L(T.i32);
      f.get(scratchP).i32(stageOff).op(Op.i32_add).set(stage);
      stageMasked(f, sg, masked, c.b, c.nVars, nExt, red, j0, jn, stage, ncPad * 4, decompose, bump);
      panelCopy(f, stage, ncPad * 4, scratchP, jn, K, NR);
      return;
    }
    genericPackB();
  };

  /** Pack B by evaluating the factor at every element. */
  const genericPackB = () => {
    const colFirst = (() => {
      if (c.b.k !== "load") return false;
      const a = affine(c.b.at);
      return !!a && coef(a, c.nVars[c.nVars.length - 1]!) !== 1 && coef(a, red.vars[red.vars.length - 1]!) === 1;
    })();
    const addr = () => {
      f.get(scratchP).get(jj).i32(log2(NR)).op(Op.i32_shr_u).i32(K * NR * 4).op(Op.i32_mul, Op.i32_add);
      f.get(kOff).op(Op.i32_add).get(jj).i32(NR - 1).op(Op.i32_and).i32(2).op(Op.i32_shl, Op.i32_add);
    };
    const value = () => sg.scoped(() => sg.expr(c.b));
    const storeOne = () => {
      addr();
      value();
      f.mem(Op.f32_store, 2);
    };
    if (!colFirst) {
      f.i32(0).set(cnt);
      decomposeK(cnt);
      f.forLoop(kOff, () => f.i32(0), () => f.i32(K * NR * 4), NR * 4, () => {
        f.get(j0).set(tmp);
        decompose(c.nVars, tmp);
        f.forLoop(jj, () => f.i32(0), () => f.get(jn), 1, () => {
          storeOne();
          bump(c.nVars, nExt);
        });
        bump(red.vars, red.ext);
      });
    } else {
      f.get(j0).set(tmp);
      decompose(c.nVars, tmp);
      f.forLoop(jj, () => f.i32(0), () => f.get(jn), 1, () => {
        f.i32(0).set(cnt);
        decomposeK(cnt);
        f.forLoop(kOff, () => f.i32(0), () => f.i32(K * NR * 4), NR * 4, () => {
          storeOne();
          bump(red.vars, red.ext);
        });
        bump(c.nVars, nExt);
      });
    }
    // zero the padding columns of the last panel so that the tile never computes on garbage
    f.forLoop(jj, () => f.get(jn), () => f.get(jn).i32(NR - 1).op(Op.i32_add).i32(-NR).op(Op.i32_and), 1, () => {
      f.forLoop(kOff, () => f.i32(0), () => f.i32(K * NR * 4), NR * 4, () => {
        addr();
        f.f32(0).mem(Op.f32_store, 2);
      });
    });
  };

  /** Pack rows [i, i + mr) of factor A: Ap[k][MR]. */
  const packA = (mr: number) => {
    f.forLoop(p, () => f.i32(0), () => f.i32(mr), 1, () => {
      f.get(i).get(p).op(Op.i32_add).set(tmp);
      decompose(c.mVars, tmp);
      f.i32(0).set(cnt);
      decomposeK(cnt);
      f.forLoop(kOff, () => f.i32(0), () => f.i32(K * MR * 4), MR * 4, () => {
        f.get(scratchP).get(kOff).op(Op.i32_add).get(p).i32(2).op(Op.i32_shl, Op.i32_add);
        sg.scoped(() => sg.expr(c.a));
        f.mem(Op.f32_store, 2, apOff);
        bump(red.vars, red.ext);
      });
    });
  };

  /** The micro-kernel: acc[r][q] = Σ_k A[r,k]·B[k, 4q..4q+3] for r < mr, reading pa (A) and pb (panel). */
  const micro = (mr: number) => {
    const aRow = direct ? direct.sM * 4 : 4, aStep = direct ? direct.sK * 4 : MR * 4;
    for (let r = 0; r < mr; r++) for (let q = 0; q < NQ; q++) f.vsplatI(0).set(acc[r]![q]!);
    // (the engine unrolls this loop itself; unrolling it here makes it spill)
    f.get(pb).i32(K * NR * 4).op(Op.i32_add).set(pend);
    f.op(Op.loop, T.void);
    for (let q = 0; q < NQ; q++) f.get(pb).vmem(V.load, 4, q * 16).set(bv[q]!);
    for (let r = 0; r < mr; r++) {
      f.get(pa).vmem(V.load32_splat, 2, r * aRow).set(av);
      for (let q = 0; q < NQ; q++) {
        const a = acc[r]![q]!, b = bv[q]!;
        f.madd(() => f.get(av), () => f.get(b), () => f.get(a)).set(a);
      }
    }
    f.get(pa).i32(aStep).op(Op.i32_add).set(pa);
    f.get(pb).i32(NR * 4).op(Op.i32_add).tee(pb).get(pend).op(Op.i32_ne, Op.br_if).u32(0);
    f.op(Op.end);
  };

  /** Apply the epilogue to the tile at rows [i, i + mr), columns [j0 + p·NR, +NR) and store it. */
  const epilogue = (mr: number) => {
    for (let r = 0; r < mr; r++) {
      f.get(i).i32(r).op(Op.i32_add).set(tmp);
      if (epiIdx) decompose(c.mVars, tmp, epiVars);
      // output element index of (batch, i + r, column jj)
      for (let q = 0; q < NQ; q++) {
        f.get(j0).get(p).i32(NR).op(Op.i32_mul, Op.i32_add).i32(q * 4).op(Op.i32_add).set(jj);
        const outAddr = (col: number) => () => {
          f.get(outP).get(bIdx).i32(M).op(Op.i32_mul).get(tmp).op(Op.i32_add).i32(N).op(Op.i32_mul).get(col).op(Op.i32_add);
          f.i32(log2(bytesOut)).op(Op.i32_shl, Op.i32_add);
        };
        const a = acc[r]![q]!;
        const full = () => {
          if (plainStore) {
            outAddr(jj)();
            f.get(a).vmem(V.store, 2);
            return;
          }
          if (epiIdx) decompose(c.nVars, jj, epiVars);
          vg.scoped(() => {
            vg.cache.set(red, a);
            vg.store(out.dt, outAddr(jj), () => vg.expr(E));
          });
        };
        const partial = () => {
          f.get(scratchP).get(a).vmem(V.store, 2, tileOff);
          for (let l = 0; l < 4; l++) {
            f.get(jj).i32(l).op(Op.i32_add).set(jl);
            f.ifThen(() => f.get(jl).i32(N).op(Op.i32_lt_s), () => {
              f.get(scratchP).mem(Op.f32_load, 2, tileOff + 4 * l).set(sAcc);
              if (epiIdx) decompose(c.nVars, jl, epiVars);
              sg.scoped(() => {
                sg.cache.set(red, sAcc);
                sg.storeWith(out.dt, outAddr(jl), () => sg.expr(E));
              });
            });
          }
        };
        if (vecEpi) f.ifThen(() => f.get(jj).i32(4).op(Op.i32_add).i32(N).op(Op.i32_le_s), full, partial);
        else partial();
      }
    }
  };

  const rowBlock = (mr: number) => {
    if (direct) {
      f.get(aBase).get(i).i32(direct.sM * 4).op(Op.i32_mul, Op.i32_add).set(pa);
    } else {
      packA(mr);
      f.get(scratchP).i32(apOff).op(Op.i32_add).set(pa);
    }
    const paRow = L(T.i32);
    f.get(pa).set(paRow);
    f.forLoop(p, () => f.i32(0), () => f.get(np), 1, () => {
      f.get(paRow).set(pa);
      f.get(scratchP).get(p).i32(K * NR * 4).op(Op.i32_mul, Op.i32_add).set(pb);
      micro(mr);
      epilogue(mr);
    });
  };

  f.forLoop(t, () => f.get(startP), () => f.get(endP), 1, () => {
    // t = (batch · mBlocks + mb) · nBlocks + nb
    f.get(t).i32(nBlocks).op(Op.i32_rem_u).i32(nc).op(Op.i32_mul).set(j0);
    f.i32(N).get(j0).op(Op.i32_sub).set(jn);
    f.get(jn).i32(nc).get(jn).i32(nc).op(Op.i32_lt_s, Op.select).set(jn);
    f.get(jn).i32(NR - 1).op(Op.i32_add).i32(log2(NR)).op(Op.i32_shr_u).set(np);
    f.get(t).i32(nBlocks).op(Op.i32_div_u).i32(mBlocksReal).op(Op.i32_rem_u).i32(mc).op(Op.i32_mul).set(m0);
    f.get(m0).i32(mc).op(Op.i32_add).set(mEnd);
    f.i32(M).get(mEnd).get(mEnd).i32(M).op(Op.i32_gt_s, Op.select).set(mEnd);
    f.get(t).i32(nBlocks * mBlocksReal).op(Op.i32_div_u).set(bIdx);
    decompose(c.batch, bIdx);
    if (direct) {
      // A's address without its M and K terms
      f.get(direct.arg).i32(direct.aff.c * 4).op(Op.i32_add);
      for (const v of c.batch) f.get(f.varLocal(v)).i32(coef(direct.aff, v) * 4).op(Op.i32_mul, Op.i32_add);
      f.set(aBase);
    }
    packB();
    f.get(m0).set(i);
    f.op(Op.block, T.void, Op.loop, T.void);
    f.get(i).i32(MR).op(Op.i32_add).get(mEnd).op(Op.i32_gt_s, Op.br_if).u32(1);
    rowBlock(MR);
    f.get(i).i32(MR).op(Op.i32_add).set(i);
    f.op(Op.br).u32(0).op(Op.end, Op.end);
    if (M % MR) f.ifThen(() => f.get(i).get(mEnd).op(Op.i32_lt_s), () => rowBlock(M % MR));
  });

  const bytes = buildModule(f, opts, nParams);
  return { bytes, imports: [...f.usedImports], rows: tasks, grain: 1, work: 2 * batchCount * M * N * K, scratch, plan: "gemm" };
}

/** Index variables an expression reads outside the given reduction. */
function varsOutside(E: Expr, red: ReduceExpr): Set<number> {
  const vars = new Set<number>();
  const seen = new Set<Expr>();
  const go = (e: Expr): void => {
    if (seen.has(e) || e === red) return;
    seen.add(e);
    if (e.k === "idx") vars.add(e.id);
    else exprChildren(e).forEach(go);
  };
  go(E);
  return vars;
}
