import type { DType } from "../../core/dtype.js";
import type { Expr } from "../../ir/expr.js";
import { Op, T, V } from "./emitter.js";
import { elemBytes, log2, valType, type Fn } from "./fn.js";
import { vmath, VMATH } from "./vmath.js";

export type ReduceExpr = Extract<Expr, { k: "reduce" }>;

/**
 * Scalar code for kernel expressions: one element per evaluation. Nodes referenced more than once are
 * computed once per scope (local.tee on first use). Float sums accumulate in f64 unless `accF32` (set
 * when the same kernel also has vector loops, so that all elements round the same way).
 */
export class ScalarGen {
  /** Values already computed in the current scope. */
  cache = new Map<Expr, number>();
  /** Emits a reduction itself (vectorised) and returns true, or declines. */
  reduceHook: ((e: ReduceExpr) => boolean) | null = null;

  constructor(readonly f: Fn, private counts: Map<Expr, number>, readonly ptr: (arg: number) => number, readonly accF32 = false) {}

  /** Run emit with a fresh cache scope (for code in another loop or branch), restoring it after. */
  scoped<R>(emit: () => R): R {
    const saved = this.cache;
    this.cache = new Map(saved);
    try {
      return emit();
    } finally {
      this.cache = saved;
    }
  }

  /** Evaluate e into a fresh local. */
  toLocal(e: Expr): number {
    const l = this.f.local(valType(e.dt));
    this.expr(e);
    this.f.set(l);
    return l;
  }

  /** Push the value of e. */
  expr(e: Expr): void {
    const hit = this.cache.get(e);
    if (hit !== undefined) {
      this.f.get(hit);
      return;
    }
    const multi = (this.counts.get(e) ?? 0) > 1 && e.k !== "const" && e.k !== "idx";
    this.node(e);
    if (multi) {
      const l = this.f.local(valType(e.dt));
      this.f.tee(l);
      this.cache.set(e, l);
    }
  }

  fconst(dt: DType, v: number): void {
    const vt = valType(dt);
    if (vt === T.f64) this.f.f64(v);
    else if (vt === T.f32) this.f.f32(v);
    else this.f.i32(dt === "bool" ? (v ? 1 : 0) : dt === "uint32" ? v | 0 : v);
  }

  /** Push the value of node e itself (children through `expr`, so through the cache). */
  node(e: Expr): void {
    const f = this.f;
    switch (e.k) {
      case "const":
        return this.fconst(e.dt, e.v);
      case "idx":
        f.get(f.varLocal(e.id));
        return;
      case "load":
        return this.load(e.arg, e.at, e.dt);
      case "un":
        return this.unary(e.op, e.x, e.dt);
      case "bin":
        return this.binary(e.op, e.x, e.y, e.dt);
      case "sel":
        this.expr(e.x);
        this.expr(e.y);
        this.expr(e.c);
        f.op(Op.select);
        return;
      case "cast":
        return this.cast(e.x, e.dt);
      case "bitcast":
        this.expr(e.x);
        f.op(e.dt === "float32" ? Op.f32_reinterpret_i32 : Op.i32_reinterpret_f32);
        return;
      case "reduce":
        if (this.reduceHook?.(e)) return;
        return this.reduce(e);
    }
  }

  /** Push the byte address of element `at` of argument `arg`. */
  address(arg: number, at: Expr, dt: DType): void {
    const size = elemBytes[dt];
    this.f.get(this.ptr(arg));
    this.expr(at);
    if (size > 1) this.f.i32(log2(size)).op(Op.i32_shl);
    this.f.op(Op.i32_add);
  }

  private load(arg: number, at: Expr, dt: DType): void {
    this.address(arg, at, dt);
    this.loadAt(dt);
  }

  /** Load a dtype element from the address on the stack. */
  loadAt(dt: DType, offset = 0): void {
    const f = this.f;
    const a = log2(elemBytes[dt]);
    switch (dt) {
      case "float32": f.mem(Op.f32_load, a, offset); return;
      case "float64": f.mem(Op.f64_load, a, offset); return;
      case "int32": case "uint32": f.mem(Op.i32_load, a, offset); return;
      case "bool": case "uint8": f.mem(Op.i32_load8_u, a, offset); return;
      case "int8": f.mem(Op.i32_load8_s, a, offset); return;
      case "float16": f.mem(Op.i32_load16_u, a, offset).call("f16dec"); return;
      case "bfloat16": f.mem(Op.i32_load16_u, a, offset).i32(16).op(Op.i32_shl, Op.f32_reinterpret_i32); return;
    }
  }

  /** Call an f64 JS function on a value of dtype dt (promote/demote around it). */
  private viaF64(name: string, x: Expr, dt: DType, y?: Expr): void {
    const f = this.f;
    const isF32 = valType(dt) === T.f32;
    const isI = valType(dt) === T.i32;
    const push = (v: Expr) => {
      this.expr(v);
      if (isF32) f.op(Op.f64_promote_f32);
      else if (isI) f.op(dt === "uint32" ? Op.f64_convert_i32_u : Op.f64_convert_i32_s);
    };
    push(x);
    if (y) push(y);
    f.call(name);
    if (isF32) f.op(Op.f32_demote_f64);
    else if (isI) f.op(Op.prefix_fc).code.u32(dt === "uint32" ? 3 : 2); // saturating trunc
  }

  private unary(op: string, x: Expr, dt: DType): void {
    const f = this.f;
    const vt = valType(dt);
    const F = vt === T.f64;
    const isF = vt !== T.i32;
    switch (op) {
      case "neg":
        if (isF) { this.expr(x); f.op(F ? Op.f64_neg : Op.f32_neg); }
        else { f.i32(0); this.expr(x); f.op(Op.i32_sub); this.narrow(dt); }
        return;
      case "abs":
        if (isF) { this.expr(x); f.op(F ? Op.f64_abs : Op.f32_abs); return; }
        { const l = this.toLocal(x); f.i32(0).get(l).op(Op.i32_sub).get(l).get(l).i32(0).op(Op.i32_lt_s, Op.select); this.narrow(dt); }
        return;
      case "sqrt": this.expr(x); f.op(F ? Op.f64_sqrt : Op.f32_sqrt); return;
      case "rsqrt": this.fconst(dt, 1); this.expr(x); f.op(F ? Op.f64_sqrt : Op.f32_sqrt, F ? Op.f64_div : Op.f32_div); return;
      case "recip": this.fconst(dt, 1); this.expr(x); f.op(F ? Op.f64_div : Op.f32_div); return;
      case "floor": this.expr(x); if (isF) f.op(F ? Op.f64_floor : Op.f32_floor); return;
      case "ceil": this.expr(x); if (isF) f.op(F ? Op.f64_ceil : Op.f32_ceil); return;
      case "round": this.expr(x); if (isF) f.op(F ? Op.f64_nearest : Op.f32_nearest); return;
      case "sign": {
        const l = this.toLocal(x);
        if (isF) {
          // x > 0 ? 1 : x < 0 ? -1 : x   (keeps NaN and signed zeros)
          this.fconst(dt, 1); this.fconst(dt, -1); f.get(l).get(l); this.fconst(dt, 0); f.op(F ? Op.f64_lt : Op.f32_lt, Op.select);
          f.get(l); this.fconst(dt, 0); f.op(F ? Op.f64_gt : Op.f32_gt, Op.select);
        } else {
          f.i32(1).i32(-1).i32(0).get(l).i32(0).op(Op.i32_lt_s, Op.select).get(l).i32(0).op(dt === "uint32" ? Op.i32_gt_u : Op.i32_gt_s, Op.select);
        }
        return;
      }
      case "not":
        this.expr(x);
        if (dt === "bool") f.op(Op.i32_eqz);
        else { f.i32(-1).op(Op.i32_xor); this.narrow(dt); }
        return;
      case "isnan": { const l = this.toLocal(x); f.get(l).get(l).op(valType(x.dt) === T.f64 ? Op.f64_ne : Op.f32_ne); return; }
      case "isinf": {
        this.expr(x);
        const xf = valType(x.dt) === T.f64;
        f.op(xf ? Op.f64_abs : Op.f32_abs);
        this.fconst(x.dt, Infinity);
        f.op(xf ? Op.f64_eq : Op.f32_eq);
        return;
      }
      default:
        if (dt === "float32" && VMATH.has(op)) {
          // the vector routine on one lane, so scalar and vector loops agree bit for bit
          const v = f.local(T.v128);
          this.expr(x);
          f.v(V.f32x4_splat).set(v);
          f.get(vmath(f, op, v)).vlane(V.f32x4_extract_lane, 0);
          return;
        }
        return this.viaF64(op, x, dt);
    }
  }

  private binary(op: string, x: Expr, y: Expr, dt: DType): void {
    const f = this.f;
    const vt = valType(x.dt);
    const F = vt === T.f64, isF = vt !== T.i32;
    const U = x.dt === "uint32";
    const simple = (f32: number, f64: number, i32: number) => {
      this.expr(x);
      this.expr(y);
      f.op(isF ? (F ? f64 : f32) : i32);
    };
    switch (op) {
      case "add": simple(Op.f32_add, Op.f64_add, Op.i32_add); break;
      case "sub": simple(Op.f32_sub, Op.f64_sub, Op.i32_sub); break;
      case "mul": simple(Op.f32_mul, Op.f64_mul, Op.i32_mul); break;
      case "div":
        if (isF) simple(Op.f32_div, Op.f64_div, 0);
        else this.intDiv(x, y, U, false);
        break;
      case "rem":
        if (isF) this.viaF64("fmod", x, dt, y);
        else this.intDiv(x, y, U, true);
        break;
      case "max": case "min":
        if (isF) simple(op === "max" ? Op.f32_max : Op.f32_min, op === "max" ? Op.f64_max : Op.f64_min, 0);
        else {
          const a = this.toLocal(x), b = this.toLocal(y);
          f.get(a).get(b).get(a).get(b);
          const gt = U ? Op.i32_gt_u : Op.i32_gt_s, lt = U ? Op.i32_lt_u : Op.i32_lt_s;
          f.op(op === "max" ? gt : lt, Op.select);
        }
        break;
      case "pow": this.viaF64("pow", x, dt, y); break;
      case "atan2": this.viaF64("atan2", x, dt, y); break;
      case "eq": simple(Op.f32_eq, Op.f64_eq, Op.i32_eq); break;
      case "ne": simple(Op.f32_ne, Op.f64_ne, Op.i32_ne); break;
      case "lt": simple(Op.f32_lt, Op.f64_lt, U ? Op.i32_lt_u : Op.i32_lt_s); break;
      case "le": simple(Op.f32_le, Op.f64_le, U ? Op.i32_le_u : Op.i32_le_s); break;
      case "gt": simple(Op.f32_gt, Op.f64_gt, U ? Op.i32_gt_u : Op.i32_gt_s); break;
      case "ge": simple(Op.f32_ge, Op.f64_ge, U ? Op.i32_ge_u : Op.i32_ge_s); break;
      case "and": simple(0, 0, Op.i32_and); break;
      case "or": simple(0, 0, Op.i32_or); break;
      case "xor": simple(0, 0, Op.i32_xor); break;
      case "shl": simple(0, 0, Op.i32_shl); break;
      case "shr": simple(0, 0, U ? Op.i32_shr_u : Op.i32_shr_s); break;
      default: throw new Error(`wasm codegen: unknown binary op ${op}`);
    }
    this.narrow(dt);
  }

  /** Integer division that never traps: x/0 = 0 and INT_MIN/-1 wraps (as the ref backend). */
  private intDiv(x: Expr, y: Expr, unsigned: boolean, rem: boolean): void {
    const f = this.f;
    const a = this.toLocal(x), b = this.toLocal(y);
    const safe = f.local(T.i32), q = f.local(T.i32);
    // safe = b == 0 || (signed && b == -1) ? 1 : b
    f.i32(1).get(b).get(b).op(Op.i32_eqz);
    if (!unsigned) f.get(b).i32(-1).op(Op.i32_eq, Op.i32_or);
    f.op(Op.select).set(safe);
    f.get(a).get(safe).op(unsigned ? (rem ? Op.i32_rem_u : Op.i32_div_u) : rem ? Op.i32_rem_s : Op.i32_div_s).set(q);
    if (!unsigned) {
      // b == -1: the quotient is -a (wrapping), the remainder 0
      if (rem) f.i32(0);
      else f.i32(0).get(a).op(Op.i32_sub);
      f.get(q).get(b).i32(-1).op(Op.i32_eq, Op.select).set(q);
    }
    f.i32(0).get(q).get(b).op(Op.i32_eqz, Op.select);
  }

  /** Wrap an i32 result to a narrower integer dtype, or round to a 16-bit float. */
  narrow(dt: DType): void {
    const f = this.f;
    if (dt === "uint8") f.i32(255).op(Op.i32_and);
    else if (dt === "int8") f.i32(24).op(Op.i32_shl).i32(24).op(Op.i32_shr_s);
    else if (dt === "float16") f.call("f16round");
    else if (dt === "bfloat16") f.call("bf16round");
  }

  private cast(x: Expr, to: DType): void {
    const f = this.f;
    const from = x.dt;
    const fv = valType(from), tv = valType(to);
    this.expr(x);
    if (to === "bool") {
      if (fv === T.f32) f.f32(0).op(Op.f32_ne);
      else if (fv === T.f64) f.f64(0).op(Op.f64_ne);
      else f.i32(0).op(Op.i32_ne);
      return;
    }
    if (tv === T.i32) {
      if (fv === T.f32) f.op(Op.prefix_fc).code.u32(to === "uint32" ? 1 : 0);
      else if (fv === T.f64) f.op(Op.prefix_fc).code.u32(to === "uint32" ? 3 : 2);
      this.narrow(to);
      return;
    }
    const U = from === "uint32";
    if (tv === T.f64) {
      if (fv === T.f32) f.op(Op.f64_promote_f32);
      else if (fv === T.i32) f.op(U ? Op.f64_convert_i32_u : Op.f64_convert_i32_s);
      return;
    }
    // to a 32-bit float type
    if (fv === T.f64) f.op(Op.f32_demote_f64);
    else if (fv === T.i32) f.op(U ? Op.f32_convert_i32_u : Op.f32_convert_i32_s);
    this.narrow(to);
  }

  /** Initial accumulator value of a reduction (pushed). */
  reduceInit(op: string, accT: T, dt: DType): void {
    const init = op === "sum" ? 0 : op === "prod" ? 1 : op === "max" ? -Infinity : op === "min" ? Infinity : 0;
    const U = dt === "uint32";
    if (accT === T.f64) this.f.f64(init);
    else if (accT === T.f32) this.f.f32(init);
    else if (valType(dt) !== T.i32 || (op !== "max" && op !== "min")) this.f.i32(init);
    else this.f.i32(op === "max" ? (U ? 0 : -2147483648) : U ? -1 : 2147483647);
  }

  /** Combine value local v into accumulator local acc (sum/prod/max/min) in type accT. */
  combine(op: string, acc: number, v: number, bodyDt: DType, accT: T): void {
    const f = this.f;
    const bt = valType(bodyDt);
    const B = bt === T.f64, isF = bt !== T.i32;
    switch (op) {
      case "sum": case "prod":
        f.get(acc).get(v);
        if (accT === T.f64) {
          if (bt === T.f32) f.op(Op.f64_promote_f32);
          f.op(op === "sum" ? Op.f64_add : Op.f64_mul);
        } else if (accT === T.f32) f.op(op === "sum" ? Op.f32_add : Op.f32_mul);
        else f.op(op === "sum" ? Op.i32_add : Op.i32_mul);
        f.set(acc);
        return;
      case "max": case "min": {
        // acc = (v > acc || v != v) ? v : acc
        f.get(v).get(acc).get(v).get(acc);
        if (isF) {
          f.op(op === "max" ? (B ? Op.f64_gt : Op.f32_gt) : B ? Op.f64_lt : Op.f32_lt);
          f.get(v).get(v).op(B ? Op.f64_ne : Op.f32_ne, Op.i32_or);
        } else {
          const U = bodyDt === "uint32";
          f.op(op === "max" ? (U ? Op.i32_gt_u : Op.i32_gt_s) : U ? Op.i32_lt_u : Op.i32_lt_s);
        }
        f.op(Op.select).set(acc);
        return;
      }
    }
  }

  /** Accumulator type of a reduction. */
  accType(e: ReduceExpr): T {
    const bt = valType(e.body.dt);
    const floatAcc = bt !== T.i32 && (e.op === "sum" || e.op === "prod");
    if (floatAcc) return bt === T.f32 && this.accF32 ? T.f32 : T.f64;
    return e.op === "argmax" || e.op === "argmin" ? T.i32 : bt;
  }

  /** Convert an accumulator value on the stack to the reduction's result type. */
  finish(e: ReduceExpr, accT: T): void {
    if (accT === T.f64 && valType(e.body.dt) === T.f32) this.f.op(Op.f32_demote_f64);
    if (e.dt === "float16" || e.dt === "bfloat16") this.narrow(e.dt);
  }

  private reduce(e: ReduceExpr): void {
    const f = this.f;
    const bt = valType(e.body.dt);
    const accT = this.accType(e);
    const acc = f.local(accT);
    const B = bt === T.f64, isF = bt !== T.i32;
    this.reduceInit(e.op, accT, e.body.dt);
    f.set(acc);
    const arg = e.op === "argmax" || e.op === "argmin";
    const best = arg ? f.local(bt) : -1, cnt = arg ? f.local(T.i32) : -1;
    if (arg) f.i32(0).set(cnt);
    const v = f.local(bt);
    // values cached inside the body belong to one iteration
    this.scoped(() =>
      f.loopVars(e.vars, e.ext, () => {
        this.expr(e.body);
        f.set(v);
        if (!arg) return this.combine(e.op, acc, v, e.body.dt, accT);
        const cmp = e.op === "argmax" ? (isF ? (B ? Op.f64_gt : Op.f32_gt) : e.body.dt === "uint32" ? Op.i32_gt_u : Op.i32_gt_s)
          : isF ? (B ? Op.f64_lt : Op.f32_lt) : e.body.dt === "uint32" ? Op.i32_lt_u : Op.i32_lt_s;
        // take v when it is the first, or when best is not NaN and (v beats best or v is NaN)
        f.get(cnt).op(Op.i32_eqz);
        f.get(v).get(best).op(cmp);
        if (isF) {
          f.get(v).get(v).op(B ? Op.f64_ne : Op.f32_ne, Op.i32_or);
          f.get(best).get(best).op(B ? Op.f64_eq : Op.f32_eq, Op.i32_and);
        }
        f.op(Op.i32_or, Op.if, T.void);
        f.get(v).set(best).get(cnt).set(acc);
        f.op(Op.end);
        f.get(cnt).i32(1).op(Op.i32_add).set(cnt);
      }),
    );
    f.get(acc);
    this.finish(e, accT);
  }

  /** Store a value of dtype dt (computed by `value`) at the address computed by `addr`. */
  storeWith(dt: DType, addr: () => void, value: () => void, offset = 0): void {
    const f = this.f;
    addr();
    value();
    const a = log2(elemBytes[dt]);
    switch (dt) {
      case "float32": f.mem(Op.f32_store, a, offset); return;
      case "float64": f.mem(Op.f64_store, a, offset); return;
      case "int32": case "uint32": f.mem(Op.i32_store, a, offset); return;
      case "bool": case "uint8": case "int8": f.mem(Op.i32_store8, a, offset); return;
      case "float16": f.call("f16enc").mem(Op.i32_store16, a, offset); return;
      case "bfloat16": f.op(Op.i32_reinterpret_f32).i32(16).op(Op.i32_shr_u).mem(Op.i32_store16, a, offset); return;
    }
  }

  /** Store expression `value` to output `out` at element index held in local o. */
  store(out: number, dt: DType, value: Expr, o: number): void {
    const size = elemBytes[dt];
    this.storeWith(dt, () => {
      this.f.get(this.ptr(out)).get(o);
      if (size > 1) this.f.i32(log2(size)).op(Op.i32_shl);
      this.f.op(Op.i32_add);
    }, () => this.expr(value));
  }
}
