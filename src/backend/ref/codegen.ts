import type { DType } from "../../core/dtype.js";
import type { Expr, Kernel } from "../../ir/expr.js";

/**
 * Compiles a kernel of the IR into a JavaScript function. Values are JS numbers; each result is rounded
 * to its dtype (Math.fround for float32, |0 for int32, ...) so results match a native float32 device.
 */
export type KernelFn = (ins: ArrayLike<number>[], outs: { [i: number]: number }[], h: Helpers) => void;

export interface Helpers {
  erf(x: number): number;
  erfinv(x: number): number;
  rint(x: number): number;
  f16(x: number): number;
  bf16(x: number): number;
  f16dec(h: number): number;
  f16enc(x: number): number;
  bf16dec(h: number): number;
  bf16enc(x: number): number;
  f2u(x: number): number;
  u2f(x: number): number;
}

const isF32ish = (dt: DType) => dt === "float32" || dt === "float16" || dt === "bfloat16";

function round(dt: DType, s: string): string {
  switch (dt) {
    case "float32": return `Math.fround(${s})`;
    case "float16": case "bfloat16": return `Math.fround(${s})`;
    case "int32": return `((${s})|0)`;
    case "uint32": return `((${s})>>>0)`;
    case "int8": return `(((${s})<<24)>>24)`;
    case "uint8": return `((${s})&255)`;
    default: return s;
  }
}

const UN: Record<string, (x: string) => string> = {
  neg: (x) => `(-${x})`, abs: (x) => `Math.abs(${x})`, exp: (x) => `Math.exp(${x})`, log: (x) => `Math.log(${x})`,
  log1p: (x) => `Math.log1p(${x})`, expm1: (x) => `Math.expm1(${x})`, sqrt: (x) => `Math.sqrt(${x})`,
  rsqrt: (x) => `(1/Math.sqrt(${x}))`, sin: (x) => `Math.sin(${x})`, cos: (x) => `Math.cos(${x})`,
  tan: (x) => `Math.tan(${x})`, tanh: (x) => `Math.tanh(${x})`, asin: (x) => `Math.asin(${x})`,
  acos: (x) => `Math.acos(${x})`, atan: (x) => `Math.atan(${x})`, sinh: (x) => `Math.sinh(${x})`,
  cosh: (x) => `Math.cosh(${x})`, asinh: (x) => `Math.asinh(${x})`, acosh: (x) => `Math.acosh(${x})`,
  atanh: (x) => `Math.atanh(${x})`, logistic: (x) => `(1/(1+Math.exp(-${x})))`, erf: (x) => `h.erf(${x})`,
  erfinv: (x) => `h.erfinv(${x})`, sign: (x) => `(${x}>0?1:${x}<0?-1:${x})`, floor: (x) => `Math.floor(${x})`,
  ceil: (x) => `Math.ceil(${x})`, round: (x) => `h.rint(${x})`, isnan: (x) => `(${x}!==${x}?1:0)`,
  isinf: (x) => `(${x}===Infinity||${x}===-Infinity?1:0)`, recip: (x) => `(1/${x})`,
};

function binop(op: string, dt: DType, a: string, b: string): string {
  const int = dt === "int32" || dt === "uint32" || dt === "int8" || dt === "uint8";
  switch (op) {
    case "add": return `(${a}+${b})`;
    case "sub": return `(${a}-${b})`;
    case "mul": return int ? (dt === "uint32" ? `Math.imul(${a},${b})` : `Math.imul(${a},${b})`) : `(${a}*${b})`;
    case "div": return int ? `(${b}===0?0:Math.trunc(${a}/${b}))` : `(${a}/${b})`;
    case "rem": return int ? `(${b}===0?0:${a}%${b})` : `(${a}%${b})`;
    case "pow": return `Math.pow(${a},${b})`;
    case "max": return `(${a}!==${a}||${b}!==${b}?NaN:Math.max(${a},${b}))`;
    case "min": return `(${a}!==${a}||${b}!==${b}?NaN:Math.min(${a},${b}))`;
    case "atan2": return `Math.atan2(${a},${b})`;
    case "eq": return `(${a}===${b}?1:0)`;
    case "ne": return `(${a}!==${b}?1:0)`;
    case "lt": return `(${a}<${b}?1:0)`;
    case "le": return `(${a}<=${b}?1:0)`;
    case "gt": return `(${a}>${b}?1:0)`;
    case "ge": return `(${a}>=${b}?1:0)`;
    case "and": return `(${a}&${b})`;
    case "or": return `(${a}|${b})`;
    case "xor": return `(${a}^${b})`;
    case "shl": return `(${a}<<${b})`;
    case "shr": return dt === "uint32" ? `(${a}>>>${b})` : `(${a}>>${b})`;
  }
  throw new Error(`ref codegen: unknown binary op ${op}`);
}

function castTo(dt: DType, from: DType, x: string): string {
  const fromFloat = !(from === "int32" || from === "uint32" || from === "int8" || from === "uint8" || from === "bool");
  switch (dt) {
    case "bool": return `(${x}!==0?1:0)`;
    case "float64": return x;
    case "float32": return `Math.fround(${x})`;
    case "float16": return `h.f16(${x})`;
    case "bfloat16": return `h.bf16(${x})`;
    case "int32": return fromFloat ? `(Math.trunc(${x})|0)` : `(${x}|0)`;
    case "uint32": return fromFloat ? `(${x}>=4294967296||${x}!==${x}?0:Math.trunc(${x})>>>0)` : `(${x}>>>0)`;
    case "int8": return fromFloat ? `((Math.trunc(${x})<<24)>>24)` : `((${x}<<24)>>24)`;
    case "uint8": return fromFloat ? `(Math.trunc(${x})&255)` : `(${x}&255)`;
  }
}

function loadConv(dt: DType, s: string): string {
  if (dt === "float16") return `h.f16dec(${s})`;
  if (dt === "bfloat16") return `h.bf16dec(${s})`;
  return s;
}
function storeConv(dt: DType, s: string): string {
  if (dt === "float16") return `h.f16enc(${s})`;
  if (dt === "bfloat16") return `h.bf16enc(${s})`;
  return s;
}

class Gen {
  private n = 0;
  private scopes: Map<Expr, string>[] = [new Map()];
  constructor(private lines: string[]) {}
  private tmp(): string {
    return `t${this.n++}`;
  }
  private lookup(e: Expr): string | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const v = this.scopes[i]!.get(e);
      if (v) return v;
    }
    return undefined;
  }
  private emit(e: Expr, code: string): string {
    const t = this.tmp();
    this.lines.push(`const ${t}=${code};`);
    this.scopes[this.scopes.length - 1]!.set(e, t);
    return t;
  }
  expr(e: Expr): string {
    switch (e.k) {
      case "const":
        // negative constants are parenthesised so `a - -1` never becomes `a--1`
        return Number.isNaN(e.v) ? "NaN" : e.v === Infinity ? "Infinity" : e.v === -Infinity ? "(-Infinity)" : Object.is(e.v, -0) ? "(-0)" : e.v < 0 ? `(${e.v})` : String(e.v);
      case "idx":
        return `i${e.id}`;
    }
    const hit = this.lookup(e);
    if (hit) return hit;
    switch (e.k) {
      case "load":
        return this.emit(e, loadConv(e.dt, `in${e.arg}[${this.expr(e.at)}]`));
      case "un": {
        const x = this.expr(e.x);
        if (e.op === "not") return this.emit(e, e.dt === "bool" ? `(1-${x})` : round(e.dt, `(~${x})`));
        const f = UN[e.op];
        if (!f) throw new Error(`ref codegen: unknown unary op ${e.op}`);
        const code = f(x);
        return this.emit(e, e.dt === "bool" ? code : round(e.dt, code));
      }
      case "bin": {
        const a = this.expr(e.x), b = this.expr(e.y);
        const code = binop(e.op, e.x.dt, a, b);
        return this.emit(e, e.dt === "bool" ? code : round(e.dt, code));
      }
      case "sel": {
        const cnd = this.expr(e.c), a = this.expr(e.x), b = this.expr(e.y);
        return this.emit(e, `(${cnd}?${a}:${b})`);
      }
      case "cast":
        return this.emit(e, castTo(e.dt, e.x.dt, this.expr(e.x)));
      case "bitcast": {
        const x = this.expr(e.x);
        const fromF = e.x.dt === "float32";
        const code = fromF ? (e.dt === "int32" ? `(h.f2u(${x})|0)` : `h.f2u(${x})`) : `h.u2f(${x})`;
        return this.emit(e, code);
      }
      case "reduce":
        return this.reduce(e);
    }
  }
  private reduce(e: Extract<Expr, { k: "reduce" }>): string {
    const acc = this.tmp();
    const arg = e.op === "argmax" || e.op === "argmin";
    const f32ish = isF32ish(e.dt) || (arg && false);
    const init = e.op === "sum" ? "0" : e.op === "prod" ? "1" : e.op === "max" ? "-Infinity" : e.op === "min" ? "Infinity" : "0";
    this.lines.push(`let ${acc}=${init};`);
    const best = arg ? this.tmp() : "";
    const cnt = arg ? this.tmp() : "";
    if (arg) this.lines.push(`let ${best}=NaN,${cnt}=0;`);
    for (let j = 0; j < e.vars.length; j++) this.lines.push(`for(let i${e.vars[j]}=0;i${e.vars[j]}<${e.ext[j]};i${e.vars[j]}++){`);
    this.scopes.push(new Map());
    const v = this.expr(e.body);
    switch (e.op) {
      case "sum": this.lines.push(`${acc}+=${v};`); break;
      case "prod": this.lines.push(`${acc}*=${v};`); break;
      case "max": this.lines.push(`if(${v}>${acc}||${v}!==${v})${acc}=${v};`); break;
      case "min": this.lines.push(`if(${v}<${acc}||${v}!==${v})${acc}=${v};`); break;
      case "argmax":
      case "argmin": {
        const cmp = e.op === "argmax" ? ">" : "<";
        // first occurrence wins; a NaN wins over numbers (NumPy semantics)
        this.lines.push(
          `if(${cnt}===0||(${best}===${best}&&(${v}${cmp}${best}||${v}!==${v}))){${best}=${v};${acc}=${cnt};}${cnt}++;`,
        );
        break;
      }
    }
    this.scopes.pop();
    for (let j = 0; j < e.vars.length; j++) this.lines.push("}");
    // the max/min of an empty int reduction stays at the identity, which the store wraps
    const r = f32ish && !arg ? `Math.fround(${acc})` : e.dt === "int32" && (e.op === "sum" || e.op === "prod") ? `(${acc}|0)` : acc;
    const t = this.tmp();
    this.lines.push(`const ${t}=${r};`);
    this.scopes[this.scopes.length - 1]!.set(e, t);
    return t;
  }
}

export function compileKernel(k: Kernel): KernelFn {
  const lines: string[] = [];
  for (let i = 0; i < k.inputs.length; i++) lines.push(`const in${i}=ins[${i}];`);
  for (let j = 0; j < k.outs.length; j++) lines.push(`const out${j}=outs[${j}];`);
  lines.push("let o=0;");
  const rank = k.shape.length;
  for (let d = 0; d < rank; d++) lines.push(`for(let i${d}=0;i${d}<${k.shape[d]};i${d}++){`);
  const g = new Gen(lines);
  const vals = k.outs.map((o) => g.expr(o.expr));
  k.outs.forEach((o, j) => lines.push(`out${j}[o]=${storeConv(o.dt, vals[j]!)};`));
  lines.push("o++;");
  for (let d = 0; d < rank; d++) lines.push("}");
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function("ins", "outs", "h", lines.join("\n")) as KernelFn;
}
