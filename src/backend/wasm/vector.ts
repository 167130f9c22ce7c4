import type { DType } from "../../core/dtype.js";
import type { Expr } from "../../ir/expr.js";
import { affine, coef, type Affine } from "../../ir/affine.js";
import { walk, type Deps } from "./analysis.js";
import { Op, T, V } from "./emitter.js";
import type { Fn } from "./fn.js";
import type { ReduceExpr, ScalarGen } from "./scalar.js";
import { vmath, VMATH } from "./vmath.js";

/** How a dtype lives in a v128: f32x4, i32x4 (every integer type, widened), or a lane mask (bool). */
export type Dom = "f" | "i" | "m";
export function domOf(dt: DType): Dom | null {
  switch (dt) {
    case "float32": return "f";
    case "bool": return "m";
    case "int32": case "uint32": case "int8": case "uint8": return "i";
    default: return null;
  }
}

/** Whether every node of the expressions has a vector form (32-bit and 8-bit types, no 16/64-bit floats). */
export function vectorisable(roots: readonly Expr[]): boolean {
  let ok = true;
  walk(roots, (e) => {
    if (e.k === "idx") return;
    if (!domOf(e.dt)) ok = false;
    if ((e.k === "cast" || e.k === "bitcast") && !domOf(e.x.dt)) ok = false;
  });
  return ok;
}

/** How each load reads along the vector variable: contiguous, broadcast (invariant) or gathered. */
export function loadKinds(roots: readonly Expr[], vvar: number, deps: Deps): { contiguous: number; gathers: number } {
  let contiguous = 0, gathers = 0;
  walk(roots, (e) => {
    if (e.k !== "load" || !deps.of(e).has(vvar)) return;
    const a = affine(e.at);
    if (a && coef(a, vvar) === 1) contiguous++;
    else gathers++;
  });
  return { contiguous, gathers };
}

const CMP_F: Record<string, number> = { eq: V.f32x4_eq, ne: V.f32x4_ne, lt: V.f32x4_lt, le: V.f32x4_le, gt: V.f32x4_gt, ge: V.f32x4_ge };
const CMP_I: Record<string, number> = { eq: V.i32x4_eq, ne: V.i32x4_ne, lt: V.i32x4_lt_s, le: V.i32x4_le_s, gt: V.i32x4_gt_s, ge: V.i32x4_ge_s };
const CMP_U: Record<string, number> = { eq: V.i32x4_eq, ne: V.i32x4_ne, lt: V.i32x4_lt_u, le: V.i32x4_le_u, gt: V.i32x4_gt_u, ge: V.i32x4_ge_u };

/**
 * Vector code for kernel expressions: four consecutive values of one index variable (the vector
 * variable `vvar`, whose local holds lane 0) per evaluation. Subexpressions that do not depend on it are
 * computed by the scalar generator and splatted; loads whose index is affine with coefficient 1 in it
 * are single v128 loads; other loads are gathered lane by lane; operations without a vector form run
 * lane by lane through the scalar generator, so every kernel of 32/8-bit types has a vector form.
 */
export class VecGen {
  cache = new Map<Expr, number>();
  /** Hoisted byte-address bases of contiguous loads: address = base + bytes·(Σ inner terms). */
  private bases = new Map<Expr, { base: number; inner: [number, number][] }>();
  private affs = new Map<Expr, Affine | null>();

  constructor(readonly f: Fn, readonly sg: ScalarGen, readonly deps: Deps, readonly vvar: number, private counts: Map<Expr, number>) {}

  scoped<R>(emit: () => R): R {
    const saved = this.cache;
    this.cache = new Map(saved);
    try {
      return this.sg.scoped(emit);
    } finally {
      this.cache = saved;
    }
  }

  private aff(at: Expr): Affine | null {
    if (!this.affs.has(at)) this.affs.set(at, affine(at));
    return this.affs.get(at)!;
  }

  /**
   * Before a loop in which the variables `bound` (the vector variable and reduction variables) vary:
   * compute the maximal subexpressions that do not depend on them (splatted into locals) and the
   * address bases of contiguous loads, so the loop body does neither.
   */
  hoist(roots: readonly Expr[], bound: ReadonlySet<number>): void {
    const f = this.f;
    const seen = new Set<Expr>();
    const go = (e: Expr): void => {
      if (seen.has(e) || this.cache.has(e)) return;
      seen.add(e);
      if (e.k === "const" || e.k === "idx") return;
      if (!this.deps.touches(e, bound)) {
        const dom = domOf(e.dt)!;
        const l = f.local(T.v128);
        this.sg.expr(e);
        this.splat(dom);
        f.set(l);
        this.cache.set(e, l);
        return;
      }
      switch (e.k) {
        case "load": {
          const a = this.aff(e.at);
          const size = e.dt === "float32" || e.dt === "int32" || e.dt === "uint32" ? 4 : 1;
          if (!a || coef(a, this.vvar) !== 1 || this.bases.has(e)) return;
          const inner: [number, number][] = [], outer: [number, number][] = [];
          for (const [v, k] of a.t) (bound.has(v) ? inner : outer).push([v, k]);
          const base = f.local(T.i32);
          f.get(this.sg.ptr(e.arg)).i32(a.c * size).op(Op.i32_add);
          for (const [v, k] of outer) f.get(f.varLocal(v)).i32(k * size).op(Op.i32_mul, Op.i32_add);
          f.set(base);
          this.bases.set(e, { base, inner });
          return;
        }
        case "un": case "cast": case "bitcast": go(e.x); return;
        case "bin": go(e.x); go(e.y); return;
        case "sel": go(e.c); go(e.x); go(e.y); return;
        case "reduce": go(e.body); return;
      }
    };
    roots.forEach(go);
  }

  /** Turn a scalar of domain dom on the stack into a vector. */
  splat(dom: Dom): void {
    if (dom === "f") this.f.v(V.f32x4_splat);
    else if (dom === "i") this.f.v(V.i32x4_splat);
    else {
      // bool 0/1 → lane mask 0/−1
      const t = this.f.local(T.i32);
      this.f.set(t).i32(0).get(t).op(Op.i32_sub).v(V.i32x4_splat);
    }
  }

  /** Push the vector value of e. */
  expr(e: Expr): void {
    const hit = this.cache.get(e);
    if (hit !== undefined) {
      this.f.get(hit);
      return;
    }
    const multi = (this.counts.get(e) ?? 0) > 1 && e.k !== "const";
    this.node(e);
    if (multi) {
      const l = this.f.local(T.v128);
      this.f.tee(l);
      this.cache.set(e, l);
    }
  }

  toLocal(e: Expr): number {
    const l = this.f.local(T.v128);
    this.expr(e);
    this.f.set(l);
    return l;
  }

  private node(e: Expr): void {
    const f = this.f;
    const dom = domOf(e.dt)!;
    if (e.k === "const") {
      if (dom === "f") f.vsplatF(e.v);
      else if (dom === "m") f.vsplatI(e.v ? -1 : 0);
      else f.vsplatI(e.dt === "uint32" ? e.v | 0 : e.v);
      return;
    }
    if (!this.deps.of(e).has(this.vvar)) {
      this.sg.expr(e);
      this.splat(dom);
      return;
    }
    switch (e.k) {
      case "idx":
        f.get(f.varLocal(e.id)).v(V.i32x4_splat).vconst([0, 1, 2, 3], false).v(V.i32x4_add);
        return;
      case "load": return this.load(e);
      case "un": return this.unary(e);
      case "bin": return this.binary(e);
      case "sel":
        this.expr(e.x);
        this.expr(e.y);
        this.expr(e.c);
        f.v(V.bitselect);
        return;
      case "cast": return this.cast(e.x, e.dt);
      case "bitcast": this.expr(e.x); return;
      case "reduce": return this.reduce(e);
    }
  }

  private load(e: Extract<Expr, { k: "load" }>): void {
    const f = this.f;
    const a = this.aff(e.at);
    const size = e.dt === "float32" || e.dt === "int32" || e.dt === "uint32" ? 4 : 1;
    if (!a || coef(a, this.vvar) !== 1) return this.laneWise(e, []);
    const b = this.bases.get(e);
    if (b) {
      f.get(b.base);
      for (const [v, k] of b.inner) f.get(f.varLocal(v)).i32(k * size).op(Op.i32_mul, Op.i32_add);
    } else {
      this.sg.address(e.arg, e.at, e.dt);
    }
    if (size === 4) {
      f.vmem(V.load, 2);
      return;
    }
    // four bytes, widened to i32 lanes
    const s = e.dt === "int8";
    f.vmem(V.load32_zero, 0).v(s ? V.i16x8_extend_low_i8x16_s : V.i16x8_extend_low_i8x16_u).v(s ? V.i32x4_extend_low_i16x8_s : V.i32x4_extend_low_i16x8_u);
    if (e.dt === "bool") f.v(V.i32x4_neg);
  }

  /**
   * Evaluate node e lane by lane with the scalar generator: its children `vec` are computed as vectors
   * and their lanes fed in; with no children given, e itself is evaluated with the vector variable set
   * to each lane's value (gathers).
   */
  private laneWise(e: Expr, vec: Expr[]): void {
    const f = this.f, sg = this.sg;
    const ins = vec.map((x) => ({ x, v: this.toLocal(x), s: f.local(x.dt === "float32" ? T.f32 : T.i32) }));
    const out = f.local(T.v128);
    const dom = domOf(e.dt)!;
    const vl = f.varLocal(this.vvar);
    const lane = f.local(T.i32);
    const res = f.local(dom === "f" ? T.f32 : T.i32);
    for (let L = 0; L < 4; L++) {
      const saved = sg.cache;
      // scalar values that depend on the vector variable belong to lane 0 and cannot be reused
      sg.cache = new Map([...saved].filter(([x]) => !this.deps.of(x).has(this.vvar)));
      for (const { x, v, s } of ins) {
        f.get(v);
        if (domOf(x.dt) === "f") f.vlane(V.f32x4_extract_lane, L);
        else {
          f.vlane(V.i32x4_extract_lane, L);
          if (domOf(x.dt) === "m") f.i32(1).op(Op.i32_and);
        }
        f.set(s);
        sg.cache.set(x, s);
      }
      if (L > 0 && vec.length === 0) {
        f.get(vl).i32(L).op(Op.i32_add).set(lane);
        f.vars.set(this.vvar, lane);
      }
      if (vec.length) sg.node(e);
      else sg.expr(e);
      f.set(res);
      f.vars.set(this.vvar, vl);
      sg.cache = saved;
      f.get(out);
      if (dom === "m") f.i32(0).get(res).op(Op.i32_sub).vlane(V.i32x4_replace_lane, L);
      else f.get(res).vlane(dom === "f" ? V.f32x4_replace_lane : V.i32x4_replace_lane, L);
      f.set(out);
    }
    f.get(out);
  }

  /** Wrap i32 lanes to a narrower integer dtype. */
  private narrow(dt: DType): void {
    if (dt === "uint8") this.f.vsplatI(255).v(V.and);
    else if (dt === "int8") this.f.i32(24).v(V.i32x4_shl).i32(24).v(V.i32x4_shr_s);
  }

  private unary(e: Extract<Expr, { k: "un" }>): void {
    const f = this.f;
    const { op, x, dt } = e;
    const F = domOf(dt) === "f";
    const simple = (fop: number, iop?: number) => {
      this.expr(x);
      if (F) f.v(fop);
      else if (iop !== undefined) {
        f.v(iop);
        this.narrow(dt);
      }
    };
    switch (op) {
      case "neg": return simple(V.f32x4_neg, V.i32x4_neg);
      case "abs": return simple(V.f32x4_abs, V.i32x4_abs);
      case "sqrt": return simple(V.f32x4_sqrt);
      case "floor": return simple(V.f32x4_floor);
      case "ceil": return simple(V.f32x4_ceil);
      case "round": return simple(V.f32x4_nearest);
      case "rsqrt": f.vsplatF(1); this.expr(x); f.v(V.f32x4_sqrt).v(V.f32x4_div); return;
      case "recip": f.vsplatF(1); this.expr(x); f.v(V.f32x4_div); return;
      case "not":
        this.expr(x);
        f.v(V.not);
        if (dt !== "bool") this.narrow(dt);
        return;
      case "isnan": { const l = this.toLocal(x); f.get(l).get(l).v(V.f32x4_ne); return; }
      case "isinf": this.expr(x); f.v(V.f32x4_abs).vsplatF(Infinity).v(V.f32x4_eq); return;
      case "sign": {
        if (!F && dt === "uint32") return this.laneWise(e, [x]);
        const l = this.toLocal(x);
        // x > 0 ? 1 : x < 0 ? −1 : x
        if (F) {
          f.vsplatF(1).vsplatF(-1).get(l).get(l).vsplatF(0).v(V.f32x4_lt).v(V.bitselect);
          f.get(l).vsplatF(0).v(V.f32x4_gt).v(V.bitselect);
        } else {
          f.vsplatI(1).vsplatI(-1).get(l).get(l).vsplatI(0).v(V.i32x4_lt_s).v(V.bitselect);
          f.get(l).vsplatI(0).v(V.i32x4_gt_s).v(V.bitselect);
        }
        return;
      }
    }
    if (F && VMATH.has(op)) {
      const l = this.toLocal(x);
      f.get(vmath(f, op, l));
      return;
    }
    this.laneWise(e, [x]);
  }

  private binary(e: Extract<Expr, { k: "bin" }>): void {
    const f = this.f;
    const { op, x, y, dt } = e;
    const xd = domOf(x.dt)!;
    const F = xd === "f", U = x.dt === "uint32";
    const both = () => {
      this.expr(x);
      this.expr(y);
    };
    const arith = (fop: number, iop: number) => {
      both();
      f.v(F ? fop : iop);
      if (!F) this.narrow(dt);
    };
    switch (op) {
      case "add": return arith(V.f32x4_add, V.i32x4_add);
      case "sub": return arith(V.f32x4_sub, V.i32x4_sub);
      case "mul": return arith(V.f32x4_mul, V.i32x4_mul);
      case "div": if (F) return arith(V.f32x4_div, 0); break;
      case "max": return arith(V.f32x4_max, U ? V.i32x4_max_u : V.i32x4_max_s);
      case "min": return arith(V.f32x4_min, U ? V.i32x4_min_u : V.i32x4_min_s);
      case "eq": case "ne": case "lt": case "le": case "gt": case "ge":
        both();
        // bool masks order like unsigned integers (true = all ones)
        f.v(F ? CMP_F[op]! : U || xd === "m" ? CMP_U[op]! : CMP_I[op]!);
        return;
      case "and": both(); f.v(V.and); return;
      case "or": both(); f.v(V.or); return;
      case "xor": both(); f.v(V.xor); return;
      case "shl": case "shr":
        if (!this.deps.of(y).has(this.vvar)) {
          this.expr(x);
          this.sg.expr(y);
          f.v(op === "shl" ? V.i32x4_shl : U ? V.i32x4_shr_u : V.i32x4_shr_s);
          this.narrow(dt);
          return;
        }
        break;
    }
    this.laneWise(e, [x, y]);
  }

  private cast(x: Expr, to: DType): void {
    const f = this.f;
    const from = x.dt;
    const fd = domOf(from)!, td = domOf(to)!;
    this.expr(x);
    if (to === "bool") {
      if (fd === "f") f.vsplatF(0).v(V.f32x4_ne);
      else if (fd === "i") f.vsplatI(0).v(V.i32x4_ne);
      return;
    }
    if (td === "f") {
      if (fd === "m") f.vsplatF(1).v(V.and);
      else if (fd === "i") f.v(from === "uint32" ? V.f32x4_convert_i32x4_u : V.f32x4_convert_i32x4_s);
      return;
    }
    // to an integer type
    if (fd === "f") f.v(to === "uint32" ? V.i32x4_trunc_sat_f32x4_u : V.i32x4_trunc_sat_f32x4_s);
    else if (fd === "m") f.v(V.i32x4_neg);
    this.narrow(to);
  }

  /** Reduction with one accumulator lane per vector lane (the reduction variables loop as scalars). */
  private reduce(e: ReduceExpr): void {
    const f = this.f;
    const dom = domOf(e.body.dt)!;
    // bool masks (true = all ones) order like unsigned integers
    const F = dom === "f", U = e.body.dt === "uint32" || dom === "m";
    const arg = e.op === "argmax" || e.op === "argmin";
    const acc = f.local(T.v128);
    const init = e.op === "sum" ? 0 : e.op === "prod" ? 1 : e.op === "max" ? -Infinity : e.op === "min" ? Infinity : 0;
    if (F && !arg) f.vsplatF(init);
    else f.vsplatI(!F && e.op === "max" ? (U ? 0 : -2147483648) : !F && e.op === "min" ? (U ? -1 : 2147483647) : arg ? 0 : init);
    f.set(acc);
    const best = arg ? f.local(T.v128) : -1, cnt = arg ? f.local(T.i32) : -1;
    if (arg) f.i32(0).set(cnt);
    const v = f.local(T.v128);
    this.scoped(() =>
      f.loopVars(e.vars, e.ext, () => {
        this.expr(e.body);
        f.set(v);
        this.combine(e.op, acc, v, e.body.dt, arg ? { best, cnt } : undefined);
      }),
    );
    f.get(acc);
  }

  /** acc ⊕= v lane-wise; for arg reductions, `best` holds the best values and acc their positions. */
  combine(op: string, acc: number, v: number, dt: DType, arg?: { best: number; cnt: number }): void {
    const f = this.f;
    const F = domOf(dt) === "f", U = dt === "uint32" || domOf(dt) === "m";
    switch (op) {
      case "sum": f.get(acc).get(v).v(F ? V.f32x4_add : V.i32x4_add).set(acc); return;
      case "prod": f.get(acc).get(v).v(F ? V.f32x4_mul : V.i32x4_mul).set(acc); return;
      case "max": case "min":
        if (F) {
          // take v where v beats acc or v is NaN (NaN sticks)
          f.get(v).get(acc).get(v).get(acc).v(op === "max" ? V.f32x4_gt : V.f32x4_lt);
          f.get(v).get(v).v(V.f32x4_ne).v(V.or).v(V.bitselect).set(acc);
        } else {
          f.get(acc).get(v).v(op === "max" ? (U ? V.i32x4_max_u : V.i32x4_max_s) : U ? V.i32x4_min_u : V.i32x4_min_s).set(acc);
        }
        return;
      case "argmax": case "argmin": {
        const { best, cnt } = arg!;
        const take = f.local(T.v128);
        const cmp = op === "argmax" ? (F ? V.f32x4_gt : U ? V.i32x4_gt_u : V.i32x4_gt_s) : F ? V.f32x4_lt : U ? V.i32x4_lt_u : V.i32x4_lt_s;
        // first element, or best is not NaN and (v beats best or v is NaN)
        f.get(v).get(best).v(cmp);
        if (F) f.get(v).get(v).v(V.f32x4_ne).v(V.or).get(best).get(best).v(V.f32x4_eq).v(V.and);
        f.i32(0).get(cnt).op(Op.i32_eqz).op(Op.i32_sub).v(V.i32x4_splat).v(V.or).set(take);
        f.get(v).get(best).get(take).v(V.bitselect).set(best);
        f.get(cnt).v(V.i32x4_splat).get(acc).get(take).v(V.bitselect).set(acc);
        f.get(cnt).i32(1).op(Op.i32_add).set(cnt);
        return;
      }
    }
  }

  /** Store the vector value of `value` (dtype dt) at the byte address pushed by addr. */
  store(dt: DType, addr: () => void, value: () => void): void {
    const f = this.f;
    addr();
    value();
    if (dt === "float32" || dt === "int32" || dt === "uint32") {
      f.vmem(V.store, 2);
      return;
    }
    // 8-bit: lanes to bytes (bool masks to 0/1 first), then the low four bytes
    if (dt === "bool") f.vsplatI(1).v(V.and);
    const t = f.local(T.v128);
    const s = dt === "int8";
    f.tee(t).get(t).v(s ? V.i16x8_narrow_i32x4_s : V.i16x8_narrow_i32x4_u).tee(t).get(t).v(s ? V.i8x16_narrow_i16x8_s : V.i8x16_narrow_i16x8_u);
    f.code.byte(Op.prefix_simd).u32(V.store32_lane).u32(0).u32(0).byte(0);
  }
}
