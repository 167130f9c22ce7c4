import type { Expr } from "../../ir/expr.js";
import { coef, conjunction, guarded, mergedStride, type Affine } from "../../ir/affine.js";
import { Op, T, V } from "./emitter.js";
import type { Fn } from "./fn.js";
import type { ReduceExpr, ScalarGen } from "./scalar.js";

/**
 * Fast packing of a contraction's B factor into NR-column panels. Two shapes are common enough to
 * deserve straight-line copies instead of evaluating the factor per element:
 * - a plain load whose index is affine with unit stride along the (merged) N variables: rows of B are
 *   contiguous, and panels are copied with v128 loads and stores;
 * - a load under masks (convolution padding), possibly transposed or strided: for each K position and
 *   each run of the innermost N variable, the affine constraints give the interval where the mask holds
 *   and the index clamps are inactive; that interval is a strided copy into a row-major staging area,
 *   the rest (padding) is evaluated generically. The staging rows are then copied into panels.
 */

/** A load affine in every variable, with the N group and K group each merging into one stride. */
export interface PlainRows {
  arg: number;
  aff: Affine;
  /** Element stride between consecutive (merged) K positions. */
  sK: number;
}

export function plainRows(b: Expr, nVars: readonly number[], shape: readonly number[], red: ReduceExpr): PlainRows | null {
  if (b.k !== "load" || b.dt !== "float32") return null;
  const g = guarded(b.at, false);
  if (!g) return null;
  const sN = mergedStride(g.a, nVars, nVars.map((v) => shape[v]!));
  const sK = mergedStride(g.a, red.vars, red.ext);
  if (sN !== 1 || sK === null) return null;
  return { arg: b.arg, aff: g.a, sK };
}

/** A float32 load under zero-masks whose conditions and index are affine where the value is read. */
export interface MaskedLoad {
  arg: number;
  /** The index, valid where every constraint holds. */
  index: Affine;
  /** Affine forms that must be ≥ 0 for the fast copy (masks and inactive clamps). */
  cons: Affine[];
}

export function maskedLoad(b: Expr): MaskedLoad | null {
  const cons: Affine[] = [];
  let e = b;
  while (e.k === "sel" && e.y.k === "const" && e.y.v === 0) {
    const cj = conjunction(e.c);
    if (!cj) return null;
    cons.push(...cj);
    e = e.x;
  }
  if (e.k !== "load" || e.dt !== "float32") return null;
  const g = guarded(e.at, true);
  if (!g) return null;
  return { arg: e.arg, index: g.a, cons: [...cons, ...g.cons] };
}

/** Push c + Σ coef·var over the variables of a, skipping one. */
function emitAffine(f: Fn, a: Affine, skip: number, scale = 1): void {
  f.i32(a.c * scale);
  for (const [v, k] of a.t) if (v !== skip) f.get(f.varLocal(v)).i32(k * scale).op(Op.i32_mul, Op.i32_add);
}

/** floor(y / d) for a local y and a constant d > 0 (i32 division truncates toward zero). */
function floorDiv(f: Fn, y: number, d: number): void {
  if (d === 1) {
    f.get(y);
    return;
  }
  f.get(y).i32(d - 1).op(Op.i32_sub).get(y).get(y).i32(0).op(Op.i32_lt_s, Op.select).i32(d).op(Op.i32_div_s);
}

/**
 * Copy rows of a row-major source into panels: element (k, jj) at src + k·rowBytes + 4·jj goes to
 * dst + (jj / NR)·K·NR·4 + k·NR·4 + (jj % NR)·4, for jj < jn (a local); columns of the last panel at or
 * beyond jn are zero.
 */
export function panelCopy(f: Fn, src: number, rowBytes: number, dst: number, jn: number, K: number, NR: number): void {
  const p = f.local(T.i32), s = f.local(T.i32), d = f.local(T.i32), end = f.local(T.i32), full = f.local(T.i32);
  f.get(jn).i32(-NR).op(Op.i32_and).set(full);
  f.forLoop(p, () => f.i32(0), () => f.get(full), NR, () => {
    f.get(src).get(p).i32(2).op(Op.i32_shl, Op.i32_add).set(s);
    f.get(dst).get(p).i32(K * 4).op(Op.i32_mul, Op.i32_add).set(d);
    f.get(d).i32(K * NR * 4).op(Op.i32_add).set(end);
    f.op(Op.loop, T.void);
    for (let q = 0; q < NR / 4; q++) f.get(d).get(s).vmem(V.load, 0, q * 16).vmem(V.store, 4, q * 16);
    f.get(s).i32(rowBytes).op(Op.i32_add).set(s);
    f.get(d).i32(NR * 4).op(Op.i32_add).tee(d).get(end).op(Op.i32_ne, Op.br_if).u32(0);
    f.op(Op.end);
  });
  // the last, partial panel: element by element, zero past jn
  f.ifThen(() => f.get(full).get(jn).op(Op.i32_lt_s), () => {
    f.get(dst).get(full).i32(K * 4).op(Op.i32_mul, Op.i32_add).set(d);
    f.forLoop(p, () => f.i32(0), () => f.i32(K), 1, () => {
      f.get(src).get(p).i32(rowBytes).op(Op.i32_mul, Op.i32_add).get(full).i32(2).op(Op.i32_shl, Op.i32_add).set(s);
      for (let q = 0; q < NR; q++) {
        f.get(d);
        f.get(full).i32(q).op(Op.i32_add).get(jn).op(Op.i32_lt_s);
        f.op(Op.if, T.f32).get(s).mem(Op.f32_load, 2, q * 4).op(Op.else).f32(0).op(Op.end);
        f.mem(Op.f32_store, 2, q * 4);
      }
      f.get(d).i32(NR * 4).op(Op.i32_add).set(d);
    });
  });
}

/**
 * Stage columns [j0, j0 + jn) of a masked load for every K position into rows of a row-major area
 * (element (k, jj) at dst + k·rowBytes + 4·jj). N and K variables are walked with odometers; each run
 * of the innermost N variable is split into the interval where every constraint holds (a strided copy)
 * and the rest (the factor evaluated generically).
 */
export function stageMasked(
  f: Fn, sg: ScalarGen, m: MaskedLoad, factor: Expr, nVars: readonly number[], nExt: readonly number[], red: ReduceExpr,
  j0: number, jn: number, dst: number, rowBytes: number,
  decompose: (vars: readonly number[], x: number) => void, bump: (vars: readonly number[], ext: readonly number[]) => void,
): void {
  const vIn = nVars[nVars.length - 1]!, extIn = nExt[nExt.length - 1]!;
  const v = f.varLocal(vIn);
  const k = f.local(T.i32), jj = f.local(T.i32), segEnd = f.local(T.i32), lo = f.local(T.i32), hi = f.local(T.i32), rest = f.local(T.i32);
  const row = f.local(T.i32), src = f.local(T.i32), d = f.local(T.i32), tmp = f.local(T.i32), zero = f.local(T.i32);
  const step = coef(m.index, vIn) * 4;
  const generic = (from: () => void, to: () => void) => {
    // element jj + (v − v0) of the row, the factor evaluated with v set
    f.forLoop(v, from, to, 1, () => {
      f.get(row).get(jj).get(v).op(Op.i32_add).get(tmp).op(Op.i32_sub).i32(2).op(Op.i32_shl, Op.i32_add);
      sg.scoped(() => sg.expr(factor));
      f.mem(Op.f32_store, 2);
    });
  };
  f.i32(0).set(zero);
  decompose(red.vars, zero);
  f.forLoop(k, () => f.i32(0), () => f.i32(red.ext.reduce((a, b) => a * b, 1)), 1, () => {
    f.get(dst).get(k).i32(rowBytes).op(Op.i32_mul, Op.i32_add).set(row);
    f.get(j0).set(tmp);
    decompose(nVars, tmp);
    f.i32(0).set(jj);
    f.op(Op.block, T.void, Op.loop, T.void);
    f.get(jj).get(jn).op(Op.i32_ge_s, Op.br_if).u32(1);
    // this run: v from its current value to segEnd (the end of the axis or of the block)
    f.get(v).set(tmp);
    f.get(v).get(jn).get(jj).op(Op.i32_sub, Op.i32_add).set(segEnd);
    f.get(segEnd).i32(extIn).get(segEnd).i32(extIn).op(Op.i32_lt_s, Op.select).set(segEnd);
    f.get(v).set(lo);
    f.get(segEnd).set(hi);
    for (const con of m.cons) {
      const a = coef(con, vIn);
      emitAffine(f, con, vIn);
      f.set(rest);
      if (a > 0) {
        // a·v + rest ≥ 0  ⇔  v ≥ ceil(−rest / a) = −floor(rest / a)
        f.i32(0);
        floorDiv(f, rest, a);
        f.op(Op.i32_sub).set(rest);
        f.get(rest).get(lo).get(rest).get(lo).op(Op.i32_gt_s, Op.select).set(lo);
      } else if (a < 0) {
        // v ≤ floor(rest / −a)
        floorDiv(f, rest, -a);
        f.i32(1).op(Op.i32_add).set(rest);
        f.get(rest).get(hi).get(rest).get(hi).op(Op.i32_lt_s, Op.select).set(hi);
      } else {
        f.ifThen(() => f.get(rest).i32(0).op(Op.i32_lt_s), () => void f.get(lo).set(hi));
      }
    }
    // lo ≤ hi ≤ segEnd
    f.get(lo).get(segEnd).get(lo).get(segEnd).op(Op.i32_lt_s, Op.select).set(lo);
    f.get(hi).get(lo).get(hi).get(lo).op(Op.i32_gt_s, Op.select).set(hi);
    const v0 = tmp;
    generic(() => f.get(v0), () => f.get(lo));
    // the strided copy
    f.ifThen(() => f.get(lo).get(hi).op(Op.i32_lt_s), () => {
      f.get(lo).set(v);
      f.get(m.arg);
      emitAffine(f, m.index, -1, 4);
      f.op(Op.i32_add).set(src);
      f.get(row).get(jj).get(lo).op(Op.i32_add).get(v0).op(Op.i32_sub).i32(2).op(Op.i32_shl, Op.i32_add).set(d);
      f.get(hi).get(lo).op(Op.i32_sub).i32(2).op(Op.i32_shl).get(d).op(Op.i32_add).set(rest);
      f.op(Op.loop, T.void);
      f.get(d).get(src).mem(Op.f32_load, 2).mem(Op.f32_store, 2);
      f.get(src).i32(step).op(Op.i32_add).set(src);
      f.get(d).i32(4).op(Op.i32_add).tee(d).get(rest).op(Op.i32_ne, Op.br_if).u32(0);
      f.op(Op.end);
    });
    generic(() => f.get(hi), () => f.get(segEnd));
    // next run
    f.get(jj).get(segEnd).get(v0).op(Op.i32_sub, Op.i32_add).set(jj);
    f.get(segEnd).set(v);
    f.ifThen(() => f.get(v).i32(extIn).op(Op.i32_eq), () => {
      f.i32(0).set(v);
      bump(nVars.slice(0, -1), nExt.slice(0, -1));
    });
    f.op(Op.br).u32(0).op(Op.end, Op.end);
    bump(red.vars, red.ext);
  });
}
