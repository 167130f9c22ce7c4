import type { DType } from "../core/dtype.js";

/**
 * The kernel IR: a scalar expression evaluated at every point of an output index space.
 * Index variables are integers; loads read an input buffer at a computed linear index; reductions
 * introduce their own index variables and combine a body over them. Every backend compiles this.
 */
export type UnOp =
  | "neg" | "abs" | "exp" | "log" | "log1p" | "expm1" | "sqrt" | "rsqrt" | "sin" | "cos" | "tan" | "tanh"
  | "asin" | "acos" | "atan" | "sinh" | "cosh" | "asinh" | "acosh" | "atanh" | "logistic" | "erf" | "erfinv"
  | "sign" | "floor" | "ceil" | "round" | "not" | "isnan" | "isinf" | "recip";
export type BinOp =
  | "add" | "sub" | "mul" | "div" | "rem" | "pow" | "max" | "min" | "atan2"
  | "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "and" | "or" | "xor" | "shl" | "shr";
export type ReduceOp = "sum" | "prod" | "max" | "min" | "argmax" | "argmin";

export type Expr =
  | { k: "const"; v: number; dt: DType }
  | { k: "idx"; id: number; dt: "int32" }
  | { k: "load"; arg: number; at: Expr; dt: DType }
  | { k: "un"; op: UnOp; x: Expr; dt: DType }
  | { k: "bin"; op: BinOp; x: Expr; y: Expr; dt: DType }
  | { k: "sel"; c: Expr; x: Expr; y: Expr; dt: DType }
  | { k: "cast"; x: Expr; dt: DType }
  | { k: "bitcast"; x: Expr; dt: DType }
  | { k: "reduce"; op: ReduceOp; vars: number[]; ext: number[]; body: Expr; dt: DType };

/** A kernel computes one or more outputs of the same shape; `outs[j]` is the value at output index [0..rank). */
export interface Kernel {
  name: string;
  inputs: DType[];
  shape: number[];
  outs: { dt: DType; expr: Expr }[];
}

/** A routine is an operation that is not an expression (sort, linalg decompositions); every backend implements it by name. */
export interface RoutineCall {
  routine: "sort" | "linalg";
  params: Record<string, unknown>;
}

// ---- builders with light constant folding (index arithmetic is mostly constants) ----
export const c = (v: number, dt: DType = "int32"): Expr => ({ k: "const", v, dt });
export const idx = (id: number): Expr => ({ k: "idx", id, dt: "int32" });
export const load = (arg: number, at: Expr, dt: DType): Expr => ({ k: "load", arg, at, dt });
export const un = (op: UnOp, x: Expr, dt: DType = x.dt): Expr => ({ k: "un", op, x, dt });
export const cast = (x: Expr, dt: DType): Expr => (x.dt === dt ? x : x.k === "const" ? c(x.v, dt) : { k: "cast", x, dt });
export const sel = (cond: Expr, x: Expr, y: Expr): Expr =>
  cond.k === "const" ? (cond.v ? x : y) : { k: "sel", c: cond, x, y, dt: x.dt };

const CMP = new Set<BinOp>(["eq", "ne", "lt", "le", "gt", "ge"]);
export function bin(op: BinOp, x: Expr, y: Expr, dt?: DType): Expr {
  const out: DType = dt ?? (CMP.has(op) ? "bool" : x.dt);
  if (out === "int32" && x.k === "const" && y.k === "const") {
    const a = x.v, b = y.v;
    switch (op) {
      case "add": return c(a + b);
      case "sub": return c(a - b);
      case "mul": return c(a * b);
      case "div": return c(Math.trunc(a / b));
      case "rem": return c(a % b);
      case "max": return c(Math.max(a, b));
      case "min": return c(Math.min(a, b));
    }
  }
  if (out === "int32") {
    if (op === "add" && isC(x, 0)) return y;
    if ((op === "add" || op === "sub") && isC(y, 0)) return x;
    if (op === "mul" && (isC(x, 0) || isC(y, 0))) return c(0);
    if (op === "mul" && isC(x, 1)) return y;
    if ((op === "mul" || op === "div") && isC(y, 1)) return x;
    if (op === "rem" && isC(y, 1)) return c(0);
  }
  if (op === "and" && out === "bool") {
    if (isC(x, 1)) return y;
    if (isC(y, 1)) return x;
  }
  return { k: "bin", op, x, y, dt: out };
}
const isC = (e: Expr, v: number): boolean => e.k === "const" && e.v === v;

export const add = (x: Expr, y: Expr) => bin("add", x, y);
export const mul = (x: Expr, y: Expr) => bin("mul", x, y);
export const sub = (x: Expr, y: Expr) => bin("sub", x, y);

/** Linear index of a multi-index in a row-major array of `shape`. */
export function linear(ix: readonly Expr[], shape: readonly number[]): Expr {
  let acc: Expr = c(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1) acc = add(acc, mul(ix[i]!, c(stride)));
    stride *= shape[i]!;
  }
  return acc;
}

/** Multi-index of a linear index in `shape` (used by reshape). */
export function unravel(lin: Expr, shape: readonly number[]): Expr[] {
  const out: Expr[] = new Array(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    out[i] = d === 1 ? c(0) : bin("rem", bin("div", lin, c(stride)), c(d));
    stride *= d;
  }
  // the outermost index needs no modulo: the linear index is in range
  if (shape.length > 0 && shape[0] !== 1) out[0] = bin("div", lin, c(stride / shape[0]!));
  return out;
}

/** Fresh index-variable ids for reductions, unique within one kernel build. */
export class VarGen {
  constructor(private next: number) {}
  fresh(n: number): number[] {
    const ids = [];
    for (let i = 0; i < n; i++) ids.push(this.next++);
    return ids;
  }
}

/** The direct operands of an expression node, in evaluation order (one place that knows the node shapes). */
export function exprChildren(e: Expr): Expr[] {
  switch (e.k) {
    case "load": return [e.at];
    case "un": case "cast": case "bitcast": return [e.x];
    case "bin": return [e.x, e.y];
    case "sel": return [e.c, e.x, e.y];
    case "reduce": return [e.body];
    default: return [];
  }
}

/** Reads of one input at a multi-index: how lowering rules see their operands. */
export type Access = (ix: readonly Expr[]) => Expr;

/**
 * One node as text, its children given by the ids `id` assigns them (called in child order): two nodes
 * are structurally equal exactly when their signatures are. -0 stays apart from 0, and NaN and ±Infinity
 * from each other.
 */
export function nodeSignature(e: Expr, id: (child: Expr) => number): string {
  switch (e.k) {
    case "const": return `c${e.dt}:${Object.is(e.v, -0) ? "-0" : String(e.v)}`;
    case "idx": return `i${e.id}`;
    case "load": return `l${e.dt}:${e.arg}:${id(e.at)}`;
    case "un": return `u${e.op}:${e.dt}:${id(e.x)}`;
    case "bin": return `b${e.op}:${e.dt}:${id(e.x)}:${id(e.y)}`;
    case "sel": return `s${e.dt}:${id(e.c)}:${id(e.x)}:${id(e.y)}`;
    case "cast": return `t${e.dt}:${id(e.x)}`;
    case "bitcast": return `v${e.dt}:${id(e.x)}`;
    case "reduce": return `r${e.op}:${e.dt}:${e.vars.join(",")}:${e.ext.join(",")}:${id(e.body)}`;
  }
}

/**
 * A cache key of a kernel whose length is linear in its expression DAG: shared subexpressions are
 * numbered once instead of repeated (JSON.stringify expands a DAG into a tree, exponentially for
 * ciphers such as threefry), and NaN/±Infinity constants stay distinct (JSON maps them all to null).
 */
export function kernelKey(k: Kernel): string {
  const ids = new Map<Expr, number>();
  const parts: string[] = [];
  const visit = (e: Expr): number => {
    const hit = ids.get(e);
    if (hit !== undefined) return hit;
    const s = nodeSignature(e, visit);
    const id = parts.length;
    parts.push(s);
    ids.set(e, id);
    return id;
  };
  const outs = k.outs.map((o) => `${o.dt}=${visit(o.expr)}`);
  return `${k.name}|${k.inputs.join(",")}|${k.shape.join(",")}|${outs.join(",")}|${parts.join(";")}`;
}
