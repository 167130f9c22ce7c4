import type { DType } from "../../core/dtype.js";
import type { Expr, Kernel } from "../../ir/expr.js";
import { Bytes, ModuleBuilder, Op, T, type FuncType } from "./emitter.js";

/** JS functions a kernel module imports (transcendentals and 16-bit float conversion), by name and type. */
export const IMPORTS: { name: string; params: T[]; result: T }[] = [
  ...["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "erf", "erfinv", "logistic"].map((name) => ({ name, params: [T.f64], result: T.f64 })),
  ...["pow", "atan2", "fmod"].map((name) => ({ name, params: [T.f64, T.f64], result: T.f64 })),
  { name: "f16dec", params: [T.i32], result: T.f32 },
  { name: "f16enc", params: [T.f32], result: T.i32 },
  { name: "f16round", params: [T.f32], result: T.f32 },
  { name: "bf16round", params: [T.f32], result: T.f32 },
];
const importIndex = new Map(IMPORTS.map((im, i) => [im.name, i]));

const INT = new Set<DType>(["bool", "int8", "uint8", "int32", "uint32"]);
export function valType(dt: DType): T {
  if (INT.has(dt)) return T.i32;
  return dt === "float64" ? T.f64 : T.f32;
}
export const elemBytes: Record<DType, number> = { bool: 1, int8: 1, uint8: 1, int32: 4, uint32: 4, float16: 2, bfloat16: 2, float32: 4, float64: 8 };
const log2 = (n: number) => (n === 8 ? 3 : n === 4 ? 2 : n === 2 ? 1 : 0);

/** Function-local variable allocator (params come first). */
class Locals {
  private list: T[] = [];
  constructor(private nParams: number) {}
  add(t: T): number {
    this.list.push(t);
    return this.nParams + this.list.length - 1;
  }
  encode(b: Bytes): void {
    b.u32(this.list.length);
    for (const t of this.list) b.u32(1).byte(t);
  }
}

function refCounts(roots: Expr[]): Map<Expr, number> {
  const counts = new Map<Expr, number>();
  const walk = (e: Expr) => {
    const n = (counts.get(e) ?? 0) + 1;
    counts.set(e, n);
    if (n > 1) return;
    switch (e.k) {
      case "load": walk(e.at); break;
      case "un": case "cast": case "bitcast": walk(e.x); break;
      case "bin": walk(e.x); walk(e.y); break;
      case "sel": walk(e.c); walk(e.x); walk(e.y); break;
      case "reduce": walk(e.body); break;
    }
  };
  roots.forEach(walk);
  return counts;
}

class FuncGen {
  readonly code = new Bytes();
  private shared = new Map<Expr, number>();
  private vars = new Map<number, number>();
  constructor(private locals: Locals, private counts: Map<Expr, number>, private ptrLocal: (arg: number) => number) {}

  op(...bs: number[]): this {
    this.code.bytes(bs);
    return this;
  }
  u32(v: number): this {
    this.code.u32(v);
    return this;
  }
  i32(v: number): this {
    this.code.byte(Op.i32_const).s32(v);
    return this;
  }
  get(l: number): this {
    this.code.byte(Op.local_get).u32(l);
    return this;
  }
  set(l: number): this {
    this.code.byte(Op.local_set).u32(l);
    return this;
  }
  tee(l: number): this {
    this.code.byte(Op.local_tee).u32(l);
    return this;
  }
  call(name: string): this {
    this.code.byte(Op.call).u32(importIndex.get(name)!);
    return this;
  }
  varLocal(id: number): number {
    let l = this.vars.get(id);
    if (l === undefined) {
      l = this.locals.add(T.i32);
      this.vars.set(id, l);
    }
    return l;
  }
  /** Evaluate e into a fresh local (for values used more than once by one rule). */
  toLocal(e: Expr): number {
    const l = this.locals.add(valType(e.dt));
    this.expr(e);
    this.set(l);
    return l;
  }

  /** Push the value of e. Nodes referenced more than once are computed once (local.tee on first use). */
  expr(e: Expr): void {
    const hit = this.shared.get(e);
    if (hit !== undefined) {
      this.get(hit);
      return;
    }
    const multi = (this.counts.get(e) ?? 0) > 1 && e.k !== "const" && e.k !== "idx";
    this.emit(e);
    if (multi) {
      const l = this.locals.add(valType(e.dt));
      this.tee(l);
      this.shared.set(e, l);
    }
  }

  private fconst(dt: DType, v: number): void {
    if (valType(dt) === T.f64) this.code.byte(Op.f64_const).f64(v);
    else if (valType(dt) === T.f32) this.code.byte(Op.f32_const).f32(v);
    else this.i32(dt === "uint32" ? v | 0 : v);
  }

  private emit(e: Expr): void {
    switch (e.k) {
      case "const":
        return this.fconst(e.dt, e.dt === "bool" ? (e.v ? 1 : 0) : e.v);
      case "idx":
        this.get(this.varLocal(e.id));
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
        this.op(Op.select);
        return;
      case "cast":
        return this.cast(e.x, e.dt);
      case "bitcast":
        this.expr(e.x);
        this.op(e.dt === "float32" ? Op.f32_reinterpret_i32 : Op.i32_reinterpret_f32);
        return;
      case "reduce":
        return this.reduce(e);
    }
  }

  private load(arg: number, at: Expr, dt: DType): void {
    const size = elemBytes[dt];
    this.get(this.ptrLocal(arg));
    this.expr(at);
    if (size > 1) this.i32(log2(size)).op(Op.i32_shl);
    this.op(Op.i32_add);
    const mem = (opc: number): void => void this.code.byte(opc).u32(log2(size)).u32(0);
    switch (dt) {
      case "float32": return mem(Op.f32_load);
      case "float64": return mem(Op.f64_load);
      case "int32": case "uint32": return mem(Op.i32_load);
      case "bool": case "uint8": return mem(Op.i32_load8_u);
      case "int8": return mem(Op.i32_load8_s);
      case "float16": mem(Op.i32_load16_u); this.call("f16dec"); return;
      case "bfloat16": mem(Op.i32_load16_u); this.i32(16).op(Op.i32_shl, Op.f32_reinterpret_i32); return;
    }
  }

  /** Call an f64 JS function on a value of dtype dt (promote/demote around it). */
  private viaF64(name: string, x: Expr, dt: DType, y?: Expr): void {
    const f = valType(dt) === T.f32;
    const i = valType(dt) === T.i32;
    const push = (v: Expr) => {
      this.expr(v);
      if (f) this.op(Op.f64_promote_f32);
      else if (i) this.op(dt === "uint32" ? Op.f64_convert_i32_u : Op.f64_convert_i32_s);
    };
    push(x);
    if (y) push(y);
    this.call(name);
    if (f) this.op(Op.f32_demote_f64);
    else if (i) this.op(Op.prefix_fc).u32(dt === "uint32" ? 3 : 2); // saturating trunc
  }

  private unary(op: string, x: Expr, dt: DType): void {
    const vt = valType(dt);
    const F = vt === T.f64;
    const isF = vt !== T.i32;
    switch (op) {
      case "neg":
        if (isF) { this.expr(x); this.op(F ? Op.f64_neg : Op.f32_neg); }
        else { this.i32(0); this.expr(x); this.op(Op.i32_sub); }
        return;
      case "abs":
        if (isF) { this.expr(x); this.op(F ? Op.f64_abs : Op.f32_abs); return; }
        { const l = this.toLocal(x); this.i32(0).get(l).op(Op.i32_sub).get(l).get(l).i32(0).op(Op.i32_lt_s, Op.select); }
        return;
      case "sqrt": this.expr(x); this.op(F ? Op.f64_sqrt : Op.f32_sqrt); return;
      case "rsqrt": this.fconst(dt, 1); this.expr(x); this.op(F ? Op.f64_sqrt : Op.f32_sqrt, F ? Op.f64_div : Op.f32_div); return;
      case "recip": this.fconst(dt, 1); this.expr(x); this.op(F ? Op.f64_div : Op.f32_div); return;
      case "floor": this.expr(x); if (isF) this.op(F ? Op.f64_floor : Op.f32_floor); return;
      case "ceil": this.expr(x); if (isF) this.op(F ? Op.f64_ceil : Op.f32_ceil); return;
      case "round": this.expr(x); if (isF) this.op(F ? Op.f64_nearest : Op.f32_nearest); return;
      case "sign": {
        const l = this.toLocal(x);
        if (isF) {
          // x > 0 ? 1 : x < 0 ? -1 : x   (keeps NaN and signed zeros)
          this.fconst(dt, 1); this.fconst(dt, -1); this.get(l); this.get(l); this.fconst(dt, 0); this.op(F ? Op.f64_lt : Op.f32_lt, Op.select);
          this.get(l); this.fconst(dt, 0); this.op(F ? Op.f64_gt : Op.f32_gt, Op.select);
        } else {
          this.i32(1).i32(-1).i32(0).get(l).i32(0).op(Op.i32_lt_s, Op.select).get(l).i32(0).op(dt === "uint32" ? Op.i32_gt_u : Op.i32_gt_s, Op.select);
        }
        return;
      }
      case "not":
        this.expr(x);
        if (dt === "bool") this.op(Op.i32_eqz);
        else this.i32(-1).op(Op.i32_xor);
        return;
      case "isnan": { const l = this.toLocal(x); this.get(l).get(l).op(valType(x.dt) === T.f64 ? Op.f64_ne : Op.f32_ne); return; }
      case "isinf": {
        this.expr(x);
        const xf = valType(x.dt) === T.f64;
        this.op(xf ? Op.f64_abs : Op.f32_abs);
        this.fconst(x.dt, Infinity);
        this.op(xf ? Op.f64_eq : Op.f32_eq);
        return;
      }
      default:
        return this.viaF64(op, x, dt);
    }
  }

  private binary(op: string, x: Expr, y: Expr, dt: DType): void {
    const vt = valType(x.dt);
    const F = vt === T.f64, isF = vt !== T.i32;
    const U = x.dt === "uint32";
    const simple = (f32: number, f64: number, i32: number) => {
      this.expr(x);
      this.expr(y);
      this.op(isF ? (F ? f64 : f32) : i32);
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
          this.get(a).get(b).get(a).get(b);
          const gt = U ? Op.i32_gt_u : Op.i32_gt_s, lt = U ? Op.i32_lt_u : Op.i32_lt_s;
          this.op(op === "max" ? gt : lt, Op.select);
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
    const a = this.toLocal(x), b = this.toLocal(y);
    const safe = this.locals.add(T.i32), q = this.locals.add(T.i32);
    // safe = b == 0 || (signed && b == -1) ? 1 : b
    this.i32(1).get(b).get(b).op(Op.i32_eqz);
    if (!unsigned) this.get(b).i32(-1).op(Op.i32_eq, Op.i32_or);
    this.op(Op.select).set(safe);
    this.get(a).get(safe).op(unsigned ? (rem ? Op.i32_rem_u : Op.i32_div_u) : rem ? Op.i32_rem_s : Op.i32_div_s).set(q);
    if (!unsigned) {
      // b == -1: the quotient is -a (wrapping), the remainder 0
      if (rem) this.i32(0);
      else this.i32(0).get(a).op(Op.i32_sub);
      this.get(q).get(b).i32(-1).op(Op.i32_eq, Op.select).set(q);
    }
    this.i32(0).get(q).get(b).op(Op.i32_eqz, Op.select);
  }

  /** Wrap an i32 result to a narrower integer dtype. */
  private narrow(dt: DType): void {
    if (dt === "uint8") this.i32(255).op(Op.i32_and);
    else if (dt === "int8") this.i32(24).op(Op.i32_shl).i32(24).op(Op.i32_shr_s);
    else if (dt === "float16") this.call("f16round");
    else if (dt === "bfloat16") this.call("bf16round");
  }

  private cast(x: Expr, to: DType): void {
    const from = x.dt;
    const fv = valType(from), tv = valType(to);
    this.expr(x);
    if (to === "bool") {
      if (fv === T.f32) this.code.byte(Op.f32_const).f32(0), this.op(Op.f32_ne);
      else if (fv === T.f64) this.code.byte(Op.f64_const).f64(0), this.op(Op.f64_ne);
      else this.i32(0).op(Op.i32_ne);
      return;
    }
    if (tv === T.i32) {
      if (fv === T.f32) this.op(Op.prefix_fc).u32(to === "uint32" ? 1 : 0);
      else if (fv === T.f64) this.op(Op.prefix_fc).u32(to === "uint32" ? 3 : 2);
      this.narrow(to);
      return;
    }
    const U = from === "uint32";
    if (tv === T.f64) {
      if (fv === T.f32) this.op(Op.f64_promote_f32);
      else if (fv === T.i32) this.op(U ? Op.f64_convert_i32_u : Op.f64_convert_i32_s);
      return;
    }
    // to a 32-bit float type
    if (fv === T.f64) this.op(Op.f32_demote_f64);
    else if (fv === T.i32) this.op(U ? Op.f32_convert_i32_u : Op.f32_convert_i32_s);
    this.narrow(to);
  }

  loopOver(vars: number[], ext: number[], body: () => void): void {
    const open: number[] = [];
    vars.forEach((id, j) => {
      const l = this.varLocal(id);
      this.i32(0).set(l);
      this.op(Op.block, T.void, Op.loop, T.void);
      this.get(l).i32(ext[j]!).op(Op.i32_ge_s, Op.br_if).u32(1);
      open.push(l);
    });
    body();
    for (let j = open.length - 1; j >= 0; j--) {
      const l = open[j]!;
      this.get(l).i32(1).op(Op.i32_add).set(l);
      this.op(Op.br).u32(0);
      this.op(Op.end, Op.end);
    }
  }

  private reduce(e: Extract<Expr, { k: "reduce" }>): void {
    const bt = valType(e.body.dt);
    const floatAcc = bt !== T.i32 && (e.op === "sum" || e.op === "prod");
    // float sums accumulate in f64, as the ref backend does, then round once
    const accT = floatAcc ? T.f64 : e.op === "argmax" || e.op === "argmin" ? T.i32 : bt;
    const acc = this.locals.add(accT);
    const B = bt === T.f64, isF = bt !== T.i32;
    const init = e.op === "sum" ? 0 : e.op === "prod" ? 1 : e.op === "max" ? -Infinity : e.op === "min" ? Infinity : 0;
    if (accT === T.f64) this.code.byte(Op.f64_const).f64(init);
    else if (accT === T.f32) this.code.byte(Op.f32_const).f32(init);
    else this.i32(e.op === "max" && !isF ? -2147483648 : e.op === "min" && !isF ? 2147483647 : init);
    this.set(acc);
    const arg = e.op === "argmax" || e.op === "argmin";
    const best = arg ? this.locals.add(bt) : -1, cnt = arg ? this.locals.add(T.i32) : -1;
    if (arg) this.i32(0).set(cnt);
    const v = this.locals.add(bt);
    // values cached inside the body belong to one iteration; forget them afterwards
    const saved = new Map(this.shared);
    this.loopOver(e.vars, e.ext, () => {
      this.expr(e.body);
      this.set(v);
      switch (e.op) {
        case "sum": case "prod":
          this.get(acc).get(v);
          if (floatAcc) {
            if (bt === T.f32) this.op(Op.f64_promote_f32);
            this.op(e.op === "sum" ? Op.f64_add : Op.f64_mul);
          } else this.op(e.op === "sum" ? Op.i32_add : Op.i32_mul);
          this.set(acc);
          break;
        case "max": case "min": {
          // acc = (v > acc || v != v) ? v : acc
          this.get(v).get(acc).get(v).get(acc);
          if (isF) {
            this.op(e.op === "max" ? (B ? Op.f64_gt : Op.f32_gt) : B ? Op.f64_lt : Op.f32_lt);
            this.get(v).get(v).op(B ? Op.f64_ne : Op.f32_ne, Op.i32_or);
          } else {
            const U = e.body.dt === "uint32";
            this.op(e.op === "max" ? (U ? Op.i32_gt_u : Op.i32_gt_s) : U ? Op.i32_lt_u : Op.i32_lt_s);
          }
          this.op(Op.select).set(acc);
          break;
        }
        case "argmax": case "argmin": {
          const cmp = e.op === "argmax" ? (isF ? (B ? Op.f64_gt : Op.f32_gt) : Op.i32_gt_s) : isF ? (B ? Op.f64_lt : Op.f32_lt) : Op.i32_lt_s;
          // take v when it is the first, or when best is not NaN and (v beats best or v is NaN)
          this.get(cnt).op(Op.i32_eqz);
          this.get(v).get(best).op(cmp);
          if (isF) {
            this.get(v).get(v).op(B ? Op.f64_ne : Op.f32_ne, Op.i32_or);
            this.get(best).get(best).op(B ? Op.f64_eq : Op.f32_eq, Op.i32_and);
          }
          this.op(Op.i32_or, Op.if, T.void);
          this.get(v).set(best).get(cnt).set(acc);
          this.op(Op.end);
          this.get(cnt).i32(1).op(Op.i32_add).set(cnt);
          break;
        }
      }
    });
    this.shared = saved;
    this.get(acc);
    if (floatAcc && bt === T.f32) this.op(Op.f32_demote_f64);
    if (e.dt === "float16" || e.dt === "bfloat16") this.narrow(e.dt);
  }

  store(out: number, dt: DType, value: Expr, o: number): void {
    const size = elemBytes[dt];
    this.get(this.ptrLocal(out));
    this.get(o);
    if (size > 1) this.i32(log2(size)).op(Op.i32_shl);
    this.op(Op.i32_add);
    this.expr(value);
    const mem = (opc: number): void => void this.code.byte(opc).u32(log2(size)).u32(0);
    switch (dt) {
      case "float32": return mem(Op.f32_store);
      case "float64": return mem(Op.f64_store);
      case "int32": case "uint32": return mem(Op.i32_store);
      case "bool": case "uint8": case "int8": return mem(Op.i32_store8);
      case "float16": this.call("f16enc"); return mem(Op.i32_store16);
      case "bfloat16": this.op(Op.i32_reinterpret_f32).i32(16).op(Op.i32_shr_u); return mem(Op.i32_store16);
    }
  }
}

/**
 * Compile a kernel to a module exporting `run(inPtrs..., outPtrs..., start, end)`, which computes the
 * output rows [start, end) of the outermost output dimension (the whole output for rank 0).
 */
export function compileKernelModule(k: Kernel, memory: { minPages: number; shared: boolean }): Uint8Array {
  const mb = new ModuleBuilder({ module: "env", name: "mem", minPages: memory.minPages, maxPages: memory.shared ? 65536 : undefined, shared: memory.shared });
  for (const im of IMPORTS) mb.importFunc("m", im.name, { params: im.params, results: [im.result] });
  const nIn = k.inputs.length, nOut = k.outs.length;
  const nParams = nIn + nOut + 2;
  const type: FuncType = { params: Array(nParams).fill(T.i32), results: [] };
  const locals = new Locals(nParams);
  const g = new FuncGen(locals, refCounts(k.outs.map((o) => o.expr)), (arg) => arg);
  const startP = nIn + nOut, endP = startP + 1;
  const rank = k.shape.length;
  const o = locals.add(T.i32);
  const inner = k.shape.slice(1).reduce((a, b) => a * b, 1);
  // o = start * inner
  g.get(startP).i32(inner).op(Op.i32_mul).set(o);
  const emitBody = () => {
    k.outs.forEach((out, j) => g.store(nIn + j, out.dt, out.expr, o));
    g.get(o).i32(1).op(Op.i32_add).set(o);
  };
  if (rank === 0) emitBody();
  else {
    // outermost loop over [start, end), inner loops over full extents
    const l0 = g.varLocal(0);
    g.get(startP).set(l0);
    g.op(Op.block, T.void, Op.loop, T.void);
    g.get(l0).get(endP).op(Op.i32_ge_s, Op.br_if).u32(1);
    const rest = k.shape.slice(1).map((_, i) => i + 1);
    nestLoops(g, rest, k.shape.slice(1), emitBody);
    g.get(l0).i32(1).op(Op.i32_add).set(l0);
    g.op(Op.br).u32(0);
    g.op(Op.end, Op.end);
  }
  g.op(Op.end);
  const fn = new Bytes();
  locals.encode(fn);
  fn.bytes(g.code.view());
  mb.addFunc(type, fn, "run");
  return mb.build();
}

function nestLoops(g: FuncGen, vars: number[], ext: number[], body: () => void): void {
  if (vars.length === 0) return body();
  g.loopOver(vars, ext, body);
}
