import type { DType } from "../../core/dtype.js";
import { Bytes, Op, T, V } from "./emitter.js";

/** JS functions a kernel module may import (transcendentals and 16-bit float conversion), by name and type. */
export const IMPORTS: Record<string, { params: T[]; result: T }> = Object.fromEntries([
  ...["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "erf", "erfinv", "logistic"].map((n) => [n, { params: [T.f64], result: T.f64 }]),
  ...["pow", "atan2", "fmod"].map((n) => [n, { params: [T.f64, T.f64], result: T.f64 }]),
  ["f16dec", { params: [T.i32], result: T.f32 }],
  ["f16enc", { params: [T.f32], result: T.i32 }],
  ["f16round", { params: [T.f32], result: T.f32 }],
  ["bf16round", { params: [T.f32], result: T.f32 }],
]);

const INT = new Set<DType>(["bool", "int8", "uint8", "int32", "uint32"]);
/** The WebAssembly value type a scalar of dtype lives in. */
export function valType(dt: DType): T {
  if (INT.has(dt)) return T.i32;
  return dt === "float64" ? T.f64 : T.f32;
}
export const elemBytes: Record<DType, number> = { bool: 1, int8: 1, uint8: 1, int32: 4, uint32: 4, float16: 2, bfloat16: 2, float32: 4, float64: 8 };
export const log2 = (n: number): number => (n === 8 ? 3 : n === 4 ? 2 : n === 2 ? 1 : 0);

/** Function-local variable allocator (params come first). */
export class Locals {
  private list: T[] = [];
  constructor(readonly nParams: number) {}
  add(t: T): number {
    this.list.push(t);
    return this.nParams + this.list.length - 1;
  }
  encode(b: Bytes): void {
    b.u32(this.list.length);
    for (const t of this.list) b.u32(1).byte(t);
  }
}

/**
 * One function body under construction: its code, its locals, the index variables' locals and the JS
 * imports it calls (numbered in order of first use, so that only used imports are declared).
 */
export class Fn {
  readonly code = new Bytes();
  readonly locals: Locals;
  /** Index variable id → i32 local holding its current value. */
  readonly vars = new Map<number, number>();
  readonly usedImports: string[] = [];
  private importIdx = new Map<string, number>();

  constructor(nParams: number, readonly relaxed: boolean) {
    this.locals = new Locals(nParams);
  }

  local(t: T): number {
    return this.locals.add(t);
  }
  varLocal(id: number): number {
    let l = this.vars.get(id);
    if (l === undefined) {
      l = this.locals.add(T.i32);
      this.vars.set(id, l);
    }
    return l;
  }
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
  f32(v: number): this {
    this.code.byte(Op.f32_const).f32(v);
    return this;
  }
  f64(v: number): this {
    this.code.byte(Op.f64_const).f64(v);
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
  /** Memory instruction with alignment log2 and a constant offset. */
  mem(opc: number, align: number, offset = 0): this {
    this.code.byte(opc).u32(align).u32(offset);
    return this;
  }
  call(name: string): this {
    let i = this.importIdx.get(name);
    if (i === undefined) {
      i = this.usedImports.length;
      this.usedImports.push(name);
      this.importIdx.set(name, i);
    }
    this.code.byte(Op.call).u32(i);
    return this;
  }
  /** A SIMD instruction. */
  v(opc: number): this {
    this.code.byte(Op.prefix_simd).u32(opc);
    return this;
  }
  vmem(opc: number, align: number, offset = 0): this {
    this.code.byte(Op.prefix_simd).u32(opc).u32(align).u32(offset);
    return this;
  }
  vlane(opc: number, lane: number): this {
    this.code.byte(Op.prefix_simd).u32(opc).byte(lane);
    return this;
  }
  /** v128.const with four float32 lanes (float) or int32 lanes. */
  vconst(lanes: readonly number[], float: boolean): this {
    this.code.byte(Op.prefix_simd).u32(V.const).v128(lanes, float);
    return this;
  }
  vsplatF(v: number): this {
    return this.vconst([v, v, v, v], true);
  }
  vsplatI(v: number): this {
    return this.vconst([v, v, v, v], false);
  }
  /** a*b + c on f32x4 (a, b, c pushed by the callbacks): fused when relaxed SIMD is available. */
  madd(a: () => void, b: () => void, c: () => void): this {
    if (this.relaxed) {
      a(); b(); c();
      return this.v(V.f32x4_relaxed_madd);
    }
    a(); b();
    this.v(V.f32x4_mul);
    c();
    return this.v(V.f32x4_add);
  }

  /** `for (v = from; v < to; v += step) body()` where from/to are pushed by callbacks (i32). */
  forLoop(v: number, from: () => void, to: () => void, step: number, body: () => void): void {
    from();
    this.set(v);
    this.op(Op.block, T.void, Op.loop, T.void);
    this.get(v);
    to();
    this.op(Op.i32_ge_s, Op.br_if).u32(1);
    body();
    this.get(v).i32(step).op(Op.i32_add).set(v);
    this.op(Op.br).u32(0);
    this.op(Op.end, Op.end);
  }
  /** Loop over index variables (outermost first) with constant extents. */
  loopVars(vars: readonly number[], ext: readonly number[], body: () => void): void {
    const rec = (j: number): void => {
      if (j === vars.length) return body();
      const l = this.varLocal(vars[j]!);
      this.forLoop(l, () => this.i32(0), () => this.i32(ext[j]!), 1, () => rec(j + 1));
    };
    rec(0);
  }
  ifThen(cond: () => void, then: () => void, otherwise?: () => void): void {
    cond();
    this.op(Op.if, T.void);
    then();
    if (otherwise) {
      this.op(Op.else);
      otherwise();
    }
    this.op(Op.end);
  }

  /** The finished body: local declarations followed by the code. */
  body(): Bytes {
    const fn = new Bytes();
    this.locals.encode(fn);
    fn.bytes(this.code.view());
    fn.byte(Op.end);
    return fn;
  }
}
