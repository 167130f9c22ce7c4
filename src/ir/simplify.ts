import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, type DType } from "../core/dtype.js";
import { c, exprChildren, nodeSignature, type BinOp, type Expr, type Kernel } from "./expr.js";

/**
 * Kernel simplification after fusion. Fusing movement primitives composes their index maps, so a
 * reshape after a transpose after a reshape reads `((i0*N + i1) / N) % M ...`. This pass puts int32
 * index arithmetic into a linear normal form (sum of coefficient × atom + constant), uses the ranges
 * of index variables to cancel div/rem against it, drops clamps and masks that ranges prove
 * redundant, rounds constants to their dtype (so a fused `x * 0.1f` rounds the constant as an
 * unfused kernel storing it would), and hash-conses the result so equal subexpressions are one node
 * (both code generators compute a shared node once).
 */
export type Range = readonly [number, number];
const UNKNOWN: Range = [-Infinity, Infinity];
const I32_MIN = -2147483648, I32_MAX = 2147483647;

type Term = [Expr, number];
interface Lin {
  terms: Term[];
  k: number;
}

/** Round a constant to what a buffer of its dtype would hold. */
export function canonicalConst(v: number, dt: DType): number {
  switch (dt) {
    case "float64": return v;
    case "float32": return Math.fround(v);
    case "float16": return f16ToF32(f32ToF16(v));
    case "bfloat16": return bf16ToF32(f32ToBf16(v));
    case "int32": return Math.trunc(v) | 0;
    case "uint32": return Math.trunc(v) >>> 0;
    case "int8": return ((Math.trunc(v) | 0) << 24) >> 24;
    case "uint8": return (Math.trunc(v) | 0) & 255;
    case "bool": return v ? 1 : 0;
  }
}

const CMP = new Set<BinOp>(["eq", "ne", "lt", "le", "gt", "ge"]);

export class Simplifier {
  private memo = new Map<Expr, Expr>();
  private table = new Map<string, Expr>();
  private ids = new Map<Expr, number>();
  private ranges = new Map<Expr, Range>();
  private lins = new Map<Expr, Lin>();

  /** `extents` gives the size of every index variable (output axes and reduction variables). */
  constructor(private extents: ReadonlyMap<number, number>) {}

  /** The canonical node of e (children must be canonical already). */
  private mk(e: Expr): Expr {
    const key = nodeSignature(e, (x) => this.id(x));
    const hit = this.table.get(key);
    if (hit) return hit;
    this.table.set(key, e);
    this.ids.set(e, this.ids.size);
    return e;
  }
  private id(e: Expr): number {
    const v = this.ids.get(e);
    if (v === undefined) throw new Error("simplify: child is not canonical");
    return v;
  }
  private const(v: number, dt: DType): Expr {
    return this.mk(c(canonicalConst(v, dt), dt));
  }

  /** The simplified, hash-consed form of e. */
  simplify(e: Expr): Expr {
    const hit = this.memo.get(e);
    if (hit) return hit;
    let r: Expr;
    switch (e.k) {
      case "const": r = this.const(e.v, e.dt); break;
      case "idx": r = this.mk(e); break;
      case "load": r = this.mk({ k: "load", arg: e.arg, at: this.simplify(e.at), dt: e.dt }); break;
      case "un": {
        const x = this.simplify(e.x);
        if (e.op === "not" && e.dt === "bool" && x.k === "const") r = this.const(x.v ? 0 : 1, "bool");
        else r = this.mk({ k: "un", op: e.op, x, dt: e.dt });
        break;
      }
      case "bin": r = this.bin(e.op, this.simplify(e.x), this.simplify(e.y), e.dt); break;
      case "sel": {
        const cnd = this.simplify(e.c), x = this.simplify(e.x), y = this.simplify(e.y);
        r = cnd.k === "const" ? (cnd.v ? x : y) : x === y ? x : this.mk({ k: "sel", c: cnd, x, y, dt: e.dt });
        break;
      }
      case "cast": {
        const x = this.simplify(e.x);
        r = x.dt === e.dt ? x : this.mk({ k: "cast", x, dt: e.dt });
        break;
      }
      case "bitcast": r = this.mk({ k: "bitcast", x: this.simplify(e.x), dt: e.dt }); break;
      case "reduce": r = this.mk({ k: "reduce", op: e.op, vars: e.vars, ext: e.ext, body: this.simplify(e.body), dt: e.dt }); break;
    }
    this.memo.set(e, r);
    return r;
  }

  private raw(op: BinOp, x: Expr, y: Expr, dt: DType): Expr {
    return this.mk({ k: "bin", op, x, y, dt });
  }

  private bin(op: BinOp, x: Expr, y: Expr, dt: DType): Expr {
    if (dt === "bool" && (op === "and" || op === "or")) {
      if (x.k === "const") return (op === "and") === !!x.v ? y : this.const(x.v, "bool");
      if (y.k === "const") return (op === "and") === !!y.v ? x : this.const(y.v, "bool");
      if (x === y) return x;
      return this.raw(op, x, y, dt);
    }
    if (x.dt !== "int32") return this.raw(op, x, y, dt);
    if (CMP.has(op)) {
      const rx = this.range(x), ry = this.range(y);
      const t = decideCmp(op, rx, ry);
      return t === null ? this.raw(op, x, y, dt) : this.const(t ? 1 : 0, "bool");
    }
    if (dt !== "int32") return this.raw(op, x, y, dt);
    switch (op) {
      case "add": return this.fromLin(addLin(this.lin(x), this.lin(y), 1));
      case "sub": return this.fromLin(addLin(this.lin(x), this.lin(y), -1));
      case "mul":
        if (y.k === "const") return this.fromLin(scaleLin(this.lin(x), y.v));
        if (x.k === "const") return this.fromLin(scaleLin(this.lin(y), x.v));
        return this.raw(op, x, y, dt);
      case "div":
        if (y.k === "const" && y.v > 0) return this.div(x, y.v);
        return this.raw(op, x, y, dt);
      case "rem":
        if (y.k === "const" && y.v > 0) return this.rem(x, y.v);
        return this.raw(op, x, y, dt);
      case "min": case "max": {
        const rx = this.range(x), ry = this.range(y);
        if (x === y) return x;
        const xFirst = op === "min" ? rx[1] <= ry[0] : rx[0] >= ry[1];
        const yFirst = op === "min" ? ry[1] <= rx[0] : ry[0] >= rx[1];
        if (xFirst) return x;
        if (yFirst) return y;
        return this.raw(op, x, y, dt);
      }
    }
    return this.raw(op, x, y, dt);
  }

  /** x = d·Q + R with the terms of x divisible by d in Q; null unless x ≥ 0 and R ≥ 0. */
  private split(x: Expr, d: number): { q: Expr; r: Expr; rr: Range; qEmpty: boolean } | null {
    if (this.range(x)[0] < 0) return null;
    const l = this.lin(x);
    const qt: Term[] = [], rt: Term[] = [];
    for (const [a, k] of l.terms) (k % d === 0 ? qt : rt).push(k % d === 0 ? [a, k / d] : [a, k]);
    const kq = Math.floor(l.k / d), kr = l.k - kq * d;
    const r = this.fromLin({ terms: rt, k: kr });
    const rr = this.range(r);
    if (rr[0] < 0) return null;
    return { q: this.fromLin({ terms: qt, k: kq }), r, rr, qEmpty: qt.length === 0 && kq === 0 };
  }

  private div(x: Expr, d: number): Expr {
    if (d === 1) return x;
    const rx = this.range(x);
    if (rx[0] >= 0 && rx[1] < d) return this.const(0, "int32");
    // (y / a) / d = y / (a·d) for y ≥ 0
    if (x.k === "bin" && x.op === "div" && x.y.k === "const" && x.y.v > 0 && this.range(x.x)[0] >= 0 && x.y.v * d <= I32_MAX) {
      return this.div(x.x, x.y.v * d);
    }
    const s = this.split(x, d);
    if (s && !s.qEmpty) {
      if (s.rr[1] < d) return s.q;
      return this.bin("add", s.q, this.div(s.r, d), "int32");
    }
    return this.raw("div", x, this.const(d, "int32"), "int32");
  }

  private rem(x: Expr, d: number): Expr {
    if (d === 1) return this.const(0, "int32");
    const rx = this.range(x);
    if (rx[0] >= 0 && rx[1] < d) return x;
    const s = this.split(x, d);
    if (s && !s.qEmpty) {
      if (s.rr[1] < d) return s.r;
      return this.rem(s.r, d);
    }
    return this.raw("rem", x, this.const(d, "int32"), "int32");
  }

  private lin(e: Expr): Lin {
    const hit = this.lins.get(e);
    if (hit) return hit;
    let l: Lin;
    if (e.k === "const") l = { terms: [], k: e.v };
    else if (e.k === "bin" && e.dt === "int32" && (e.op === "add" || e.op === "sub")) l = addLin(this.lin(e.x), this.lin(e.y), e.op === "add" ? 1 : -1);
    else if (e.k === "bin" && e.dt === "int32" && e.op === "mul" && e.y.k === "const") l = scaleLin(this.lin(e.x), e.y.v);
    else l = { terms: [[e, 1]], k: 0 };
    this.lins.set(e, l);
    return l;
  }

  /** (x / d)·k·d + (x % d)·k = x·k (truncating division and remainder satisfy it for every x). */
  private recombine(l: Lin): Lin {
    for (const [a, k] of l.terms) {
      if (a.k !== "bin" || a.op !== "rem" || a.y.k !== "const") continue;
      const d = a.y.v, x = a.x;
      const q = l.terms.find(([b, kb]) => b.k === "bin" && b.op === "div" && b.x === x && b.y.k === "const" && b.y.v === d && kb === Math.imul(k, d));
      if (!q) continue;
      const rest: Lin = { terms: l.terms.filter((t) => t[0] !== a && t[0] !== q[0]), k: l.k };
      return this.recombine(addLin(rest, scaleLin(this.lin(x), k), 1));
    }
    return l;
  }

  /** Build Σ coef·atom + k; terms on index variables first (outer axes first), the rest by identity. */
  private fromLin(lin: Lin): Expr {
    const l = this.recombine(lin);
    const terms = l.terms.filter(([, k]) => k !== 0);
    const rank = (a: Expr) => (a.k === "idx" ? a.id : 1e9 + this.id(a));
    terms.sort((p, q) => rank(p[0]) - rank(q[0]));
    let acc: Expr | null = null;
    for (const [a, k] of terms) {
      const t = k === 1 ? a : this.raw("mul", a, this.const(k, "int32"), "int32");
      acc = acc ? this.raw("add", acc, t, "int32") : t;
    }
    const out = acc === null ? this.const(l.k, "int32") : l.k !== 0 ? this.raw("add", acc, this.const(l.k, "int32"), "int32") : acc;
    if (!this.lins.has(out)) this.lins.set(out, { terms, k: l.k });
    return out;
  }

  /** Interval of the values e can take (int-valued expressions; others are unbounded). */
  range(e: Expr): Range {
    const hit = this.ranges.get(e);
    if (hit) return hit;
    const r = clampRange(this.computeRange(e));
    this.ranges.set(e, r);
    return r;
  }
  private computeRange(e: Expr): Range {
    if (e.dt === "bool") return e.k === "const" ? [e.v, e.v] : [0, 1];
    switch (e.k) {
      case "const": return [e.v, e.v];
      case "idx": {
        const n = this.extents.get(e.id);
        return n === undefined ? UNKNOWN : [0, Math.max(0, n - 1)];
      }
      case "load": return dtypeRange(e.dt);
      case "cast": return e.dt === "int32" && (e.x.dt === "bool" || e.x.dt === "uint8" || e.x.dt === "int8") ? this.range(e.x) : dtypeRange(e.dt);
      case "sel": {
        const a = this.range(e.x), b = this.range(e.y);
        return [Math.min(a[0], b[0]), Math.max(a[1], b[1])];
      }
      case "reduce":
        if (e.op === "argmax" || e.op === "argmin") return [0, Math.max(0, e.ext.reduce((p, q) => p * q, 1) - 1)];
        return dtypeRange(e.dt);
      case "bin": {
        if (e.dt !== "int32") return dtypeRange(e.dt);
        const a = this.range(e.x), b = this.range(e.y);
        switch (e.op) {
          case "add": return [a[0] + b[0], a[1] + b[1]];
          case "sub": return [a[0] - b[1], a[1] - b[0]];
          case "mul": {
            const ps = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]].map((v) => (Number.isNaN(v) ? 0 : v));
            return [Math.min(...ps), Math.max(...ps)];
          }
          case "div":
            if (b[0] === b[1] && b[0] > 0) return [Math.trunc(a[0] / b[0]), Math.trunc(a[1] / b[0])];
            return UNKNOWN;
          case "rem":
            if (b[0] === b[1] && b[0] > 0) {
              const m = b[0] - 1;
              if (a[0] >= 0) return [0, Math.min(a[1], m)];
              if (a[1] <= 0) return [Math.max(a[0], -m), 0];
              return [-m, m];
            }
            return UNKNOWN;
          case "min": return [Math.min(a[0], b[0]), Math.min(a[1], b[1])];
          case "max": return [Math.max(a[0], b[0]), Math.max(a[1], b[1])];
        }
        return UNKNOWN;
      }
      default: return dtypeRange(e.dt);
    }
  }
}

function clampRange(r: Range): Range {
  // int32 arithmetic wraps: an interval past the int32 limits says nothing
  if (r[0] < I32_MIN || r[1] > I32_MAX) return r[0] === -Infinity && r[1] === Infinity ? r : UNKNOWN;
  return r;
}
function dtypeRange(dt: DType): Range {
  switch (dt) {
    case "bool": return [0, 1];
    case "uint8": return [0, 255];
    case "int8": return [-128, 127];
    default: return UNKNOWN;
  }
}
function decideCmp(op: BinOp, a: Range, b: Range): boolean | null {
  switch (op) {
    case "lt": return a[1] < b[0] ? true : a[0] >= b[1] ? false : null;
    case "le": return a[1] <= b[0] ? true : a[0] > b[1] ? false : null;
    case "gt": return a[0] > b[1] ? true : a[1] <= b[0] ? false : null;
    case "ge": return a[0] >= b[1] ? true : a[1] < b[0] ? false : null;
    case "eq": return a[0] === a[1] && b[0] === b[1] && a[0] === b[0] ? true : a[1] < b[0] || b[1] < a[0] ? false : null;
    case "ne": return a[0] === a[1] && b[0] === b[1] && a[0] === b[0] ? false : a[1] < b[0] || b[1] < a[0] ? true : null;
  }
  return null;
}

// int32 coefficients wrap as the device's arithmetic does, so the normal form computes the same value
function addLin(a: Lin, b: Lin, sign: 1 | -1): Lin {
  const m = new Map<Expr, number>();
  for (const [e, k] of a.terms) m.set(e, k);
  for (const [e, k] of b.terms) m.set(e, ((m.get(e) ?? 0) + sign * k) | 0);
  return { terms: [...m].filter(([, k]) => k !== 0), k: (a.k + sign * b.k) | 0 };
}
function scaleLin(a: Lin, s: number): Lin {
  return { terms: a.terms.map(([e, k]) => [e, Math.imul(k, s)] as Term).filter(([, k]) => k !== 0), k: Math.imul(a.k, s) };
}

/** Collect the extent of every index variable of a kernel (output axes and reduction variables). */
export function indexExtents(k: Kernel): Map<number, number> {
  const ext = new Map<number, number>();
  k.shape.forEach((n, d) => ext.set(d, n));
  const seen = new Set<Expr>();
  const walk = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.k === "reduce") e.vars.forEach((v, i) => ext.set(v, e.ext[i]!));
    exprChildren(e).forEach(walk);
  };
  k.outs.forEach((o) => walk(o.expr));
  return ext;
}

/** Simplify every output of a kernel (one hash-consing table, so outputs share subexpressions). */
export function simplifyKernel(k: Kernel): Kernel {
  const s = new Simplifier(indexExtents(k));
  return { ...k, outs: k.outs.map((o) => ({ dt: o.dt, expr: s.simplify(o.expr) })) };
}
