/**
 * Structured control flow (JAX's lax): cond, switch, whileLoop, fori, scan. Each traces its functions
 * once into jaxprs and binds one higher-order primitive, so it works eagerly and under grad, vmap and
 * jit; values a function closes over become explicit operands.
 */
import { ShapedArray } from "../core/aval.js";
import { promoteTypes } from "../core/dtype.js";
import { TridentError, checkFunction, checkOptions, fail, optionKeys } from "../core/errors.js";
import { ClosedJaxpr, traceToJaxpr } from "../core/jaxpr.js";
import { treeDefKey, treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { shapeEq } from "../core/shape.js";
import { bind } from "../core/trace.js";
import { checkCarry, coerce, condP, joinConsts, sameType, scanP, whileP } from "../core/prims/control.js";
import { convert } from "../core/prims/elementwise.js";
import { Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "../ops/convert.js";

/** A pytree as a traced function sees it: JS numbers and booleans in the initial value become Tensors. */
export type Traced<T> = T extends Tensor
  ? Tensor
  : T extends number | boolean
    ? Tensor
    : T extends null | undefined
      ? T
      : T extends readonly unknown[]
        ? { [K in keyof T]: Traced<T[K]> }
        : T extends object
          ? { [K in keyof T]: Traced<T[K]> }
          : T;

/** Flatten a pytree to tensors (numbers and booleans become weakly typed scalars). */
export function flatLeaves(op: string, what: string, tree: unknown): [Tensor[], TreeDef] {
  const [leaves, def] = treeFlatten(tree);
  return [
    leaves.map((l, i) => {
      if (l instanceof Tensor) return l;
      if (typeof l === "number" || typeof l === "boolean") return toTensor(l);
      const kind = typeof l === "object" ? ((l as object).constructor?.name ?? "object") : typeof l;
      throw new TridentError(`${op}: ${what} leaf ${i} is a ${kind}, expected a Tensor or a number`);
    }),
    def,
  ];
}

const sliceAval = (t: Tensor): ShapedArray => new ShapedArray(t.shape.slice(1), t.dtype, t.aval.weakType);

/**
 * Trace a loop body whose first outputs are the new carry. A weakly typed initial carry (a JS number)
 * takes the type the body gives it and the body is traced again, as in JAX; a strongly typed one must be
 * matched (a weakly typed output of the same dtype is converted to it).
 */
function traceCarried(
  op: string,
  init: readonly ShapedArray[],
  rest: readonly ShapedArray[],
  run: (carry: Tensor[], rest: Tensor[]) => [Tensor[], Tensor[]],
): { closed: ClosedJaxpr; avals: ShapedArray[] } {
  let cur = [...init];
  for (let pass = 0; ; pass++) {
    let raw: ShapedArray[] = [];
    const closed = traceToJaxpr((...xs) => {
      const [c, extra] = run(xs.slice(0, cur.length), xs.slice(cur.length));
      raw = c.map((t) => t.aval);
      const fixed = c.map((t, i) => (cur[i] && sameType(t.aval, cur[i]!) ? coerce(t, cur[i]!) : t));
      return [...fixed, ...extra];
    }, [...cur, ...rest]);
    const next = cur.map((a, i) => {
      const o = raw[i]!;
      if (!shapeEq(a.shape, o.shape)) fail(op, `carry output type ${o} differs from carry input ${a}${cur.length > 1 ? ` (carry leaf ${i})` : ""}`);
      return a.weakType && (o.dtype !== a.dtype || !o.weakType) ? o : a;
    });
    if (pass >= 3 || next.every((a, i) => a === cur[i])) {
      checkCarry(op, cur, closed.jaxpr.outAvals.slice(0, cur.length));
      return { closed, avals: cur };
    }
    cur = next;
  }
}

/** The common output type of branches: weak types join as in promotion; strong types must agree. */
function joinBranchAvals(op: string, names: string[], ref: number, outs: ShapedArray[][]): ShapedArray[] {
  return outs[ref]!.map((r, i) => {
    const all = outs.map((o) => o[i]!);
    const bad = (k: number) => fail(op, `${names[ref]} returns ${r} but ${names[k]} returns ${all[k]}${r && outs[ref]!.length > 1 ? ` (output leaf ${i})` : ""}`);
    all.forEach((a, k) => {
      if (!shapeEq(a.shape, r.shape)) bad(k);
    });
    const strong = all.filter((a) => !a.weakType);
    strong.forEach((a) => {
      if (a.dtype !== strong[0]!.dtype) bad(all.indexOf(a));
    });
    const { dtype, weak } = promoteTypes(...all.map((a) => ({ dtype: a.dtype, weak: a.weakType })));
    return new ShapedArray(r.shape, dtype, weak);
  });
}

function branchCall(op: string, index: Tensor, fns: readonly ((...a: never[]) => unknown)[], names: string[], ref: number, operands: unknown[]): unknown {
  const [ops, inDef] = flatLeaves(op, "operand", operands);
  const defs: TreeDef[] = [];
  const rawOuts: ShapedArray[][] = [];
  const traceBranch = (k: number, target?: ShapedArray[]) =>
    traceToJaxpr((...xs) => {
      const out = (fns[k] as (...a: unknown[]) => unknown)(...treeUnflatten<unknown[]>(inDef, xs));
      const [ls, d] = flatLeaves(op, `${names[k]} output`, out);
      defs[k] = d;
      rawOuts[k] = ls.map((l) => l.aval);
      return target ? ls.map((l, i) => (l.aval.equals(target[i]!) ? l : convert(l, target[i]!.dtype, target[i]!.weakType))) : ls;
    }, ops.map((o) => o.aval));
  let closeds = fns.map((_, k) => traceBranch(k));
  defs.forEach((d, k) => {
    if (treeDefKey(d) !== treeDefKey(defs[ref]!)) fail(op, `${names[ref]} returns a tree ${treeDefKey(defs[ref]!)} but ${names[k]} returns ${treeDefKey(d)}`);
  });
  const target = joinBranchAvals(op, names, ref, rawOuts);
  closeds = closeds.map((c, k) => (rawOuts[k]!.every((a, i) => a.equals(target[i]!)) ? c : traceBranch(k, target)));
  const { jaxprs, consts } = joinConsts(closeds);
  const outs = bind(condP, [index, ...consts, ...ops], { branches: jaxprs });
  return treeUnflatten(defs[ref]!, outs);
}

/**
 * Apply `trueFn(...operands)` if `pred` else `falseFn(...operands)`. Both branches are traced and must
 * return the same tree of types; under vmap with a batched predicate both run and results are selected.
 * @example lax.cond(x.sum().greater(0), (x) => x.mul(2), (x) => x.neg(), x)
 */
export function cond<A extends unknown[], R, R2 = R>(pred: TensorLike, trueFn: (...operands: A) => R, falseFn: (...operands: A) => R2, ...operands: A): Traced<R> {
  checkFunction("cond", "trueFn", trueFn);
  checkFunction("cond", "falseFn", falseFn);
  const p = toTensor(pred);
  if (p.dtype !== "bool" || p.ndim !== 0) fail("cond", `pred must be a scalar bool, got ${p.aval}`);
  return branchCall("cond", p, [falseFn, trueFn], ["false branch", "true branch"], 1, operands) as Traced<R>;
}

/**
 * Apply `branches[index](...operands)`; the index is clamped into range (as in JAX).
 * @example lax.switch(i, [(x) => x, (x) => x.sin(), (x) => x.cos()], x)
 */
function switchBranches<A extends unknown[], R>(index: TensorLike, branches: readonly ((...operands: A) => R)[], ...operands: A): Traced<R> {
  const ix = toTensor(index);
  if (ix.ndim !== 0 || !(ix.dtype.startsWith("int") || ix.dtype.startsWith("uint"))) fail("switch", `index must be an integer scalar, got ${ix.aval}`);
  if (branches.length === 0) fail("switch", "needs at least one branch");
  return branchCall("switch", convert(ix, "int32"), branches, branches.map((_, k) => `branch ${k}`), 0, operands) as Traced<R>;
}
export { switchBranches as switch };

/**
 * Repeat `carry = bodyFn(carry)` while `condFn(carry)` holds. Not reverse-differentiable (its trip count
 * is dynamic); use scan or fori with JS-number bounds for grad.
 * @example lax.whileLoop(([i, x]) => i.less(10), ([i, x]) => [i.add(1), x.mul(2)], [0, x])
 */
export function whileLoop<T>(condFn: (carry: NoInfer<Traced<T>>) => TensorLike, bodyFn: (carry: NoInfer<Traced<T>>) => NoInfer<Traced<T>>, init: T): Traced<T> {
  checkFunction("whileLoop", "condFn", condFn);
  checkFunction("whileLoop", "bodyFn", bodyFn);
  const [init0, def] = flatLeaves("whileLoop", "init", init);
  const { closed: body, avals } = traceCarried("whileLoop", init0.map((x) => x.aval), [], (c) => {
    const [ls, d] = flatLeaves("whileLoop", "bodyFn output", bodyFn(treeUnflatten(def, c)));
    if (treeDefKey(d) !== treeDefKey(def)) fail("whileLoop", `bodyFn must return a carry with the structure of init ${treeDefKey(def)}, got ${treeDefKey(d)}`);
    return [ls, []];
  });
  const condJ = traceToJaxpr((...xs) => {
    const r = toTensor(condFn(treeUnflatten(def, xs)));
    if (r.dtype !== "bool" || r.ndim !== 0) fail("whileLoop", `condFn must return a scalar bool, got ${r.aval}`);
    return [r];
  }, avals);
  const carry = init0.map((x, i) => coerce(x, avals[i]!));
  const outs = bind(whileP, [...condJ.consts, ...body.consts, ...carry], {
    cond: condJ.jaxpr,
    body: body.jaxpr,
    nCondConsts: condJ.consts.length,
    nBodyConsts: body.consts.length,
  });
  return treeUnflatten(def, outs);
}

export interface ScanOptions {
  /** Number of steps; required when xs is null, checked against xs otherwise. */
  length?: number;
  /** Scan from the last element to the first (ys keep their positions). */
  reverse?: boolean;
}

/**
 * Loop `[carry, y] = f(carry, x)` over the leading axis of xs, stacking the ys: returns [carry, ys].
 * Differentiable in both modes, batchable and jittable.
 * @example const [total, partial] = lax.scan((c, x) => [c.add(x), c.add(x)], 0, xs)
 */
export function scan<C, X, Y>(f: (carry: NoInfer<Traced<C>>, x: NoInfer<Traced<X>>) => [NoInfer<Traced<C>>, Y], init: C, xs: X | null = null, opts: ScanOptions = {}): [Traced<C>, Traced<Y>] {
  checkFunction("scan", "f", f);
  checkOptions("scan", opts, optionKeys<ScanOptions>({ length: true, reverse: true }));
  const [init0, cDef] = flatLeaves("scan", "init", init);
  const [xs0, xDef] = flatLeaves("scan", "xs", xs);
  let length = opts.length;
  if (length !== undefined && (!Number.isInteger(length) || length < 0)) fail("scan", `length must be a non-negative integer, got ${length}`);
  xs0.forEach((x, i) => {
    if (x.ndim === 0) fail("scan", `xs leaf ${i} is a scalar ${x.aval}; scanned inputs need a leading axis to scan over`);
    if (length === undefined) length = x.shape[0]!;
    else if (x.shape[0] !== length) fail("scan", `xs leaf ${i} has leading axis ${x.shape[0]} but ${opts.length !== undefined ? "length is" : "xs leaf 0 has"} ${length}`);
  });
  if (length === undefined) fail("scan", "with no xs, pass { length } to say how many steps to run");
  let yDef: TreeDef | undefined;
  const { closed, avals } = traceCarried("scan", init0.map((x) => x.aval), xs0.map(sliceAval), (c, x) => {
    const out = f(treeUnflatten(cDef, c), treeUnflatten(xDef, x)) as unknown;
    if (!Array.isArray(out) || out.length !== 2) fail("scan", "f must return [newCarry, y]");
    const [cl, cd] = flatLeaves("scan", "carry output", out[0]);
    if (treeDefKey(cd) !== treeDefKey(cDef)) fail("scan", `f must return a carry with the structure of init ${treeDefKey(cDef)}, got ${treeDefKey(cd)}`);
    const [yl, yd] = flatLeaves("scan", "y", out[1]);
    yDef = yd;
    return [cl, yl];
  });
  const carry = init0.map((x, i) => coerce(x, avals[i]!));
  const outs = bind(scanP, [...closed.consts, ...carry, ...xs0], {
    jaxpr: closed.jaxpr,
    nConsts: closed.consts.length,
    nCarry: carry.length,
    length,
    reverse: !!opts.reverse,
  });
  return [treeUnflatten(cDef, outs.slice(0, carry.length)), treeUnflatten(yDef!, outs.slice(carry.length))];
}

/**
 * `for (i = lower; i < upper; i++) carry = bodyFn(i, carry)`. JS-number bounds lower to scan (so the
 * loop is reverse-differentiable); tensor bounds lower to whileLoop.
 * @example lax.fori(0, 3, (i, y) => y.mul(x), 1.0)   // x ** 3
 */
export function fori<T>(lower: number | Tensor, upper: number | Tensor, bodyFn: (i: Tensor, carry: NoInfer<Traced<T>>) => NoInfer<Traced<T>>, init: T): Traced<T> {
  checkFunction("fori", "bodyFn", bodyFn);
  if (typeof lower === "number" && typeof upper === "number") {
    if (!Number.isInteger(lower) || !Number.isInteger(upper)) fail("fori", `bounds must be integers, got ${lower} and ${upper}`);
    const step = ([i, c]: [Tensor, Traced<T>]): [[Tensor, Traced<T>], null] => [[i.add(1), bodyFn(i, c)], null];
    const [[, out]] = scan(step as never, [toTensor(lower, "int32"), init], null, { length: Math.max(0, upper - lower) }) as [[Tensor, Traced<T>], unknown];
    return out;
  }
  const bound = (b: number | Tensor, what: string) => {
    const t = toTensor(b, typeof b === "number" ? "int32" : undefined);
    if (t.ndim !== 0 || !(t.dtype.startsWith("int") || t.dtype.startsWith("uint"))) fail("fori", `${what} must be an integer scalar, got ${t.aval}`);
    return convert(t, "int32");
  };
  const lo = bound(lower, "lower"), hi = bound(upper, "upper");
  type C = [Tensor, Traced<T>];
  const loop = whileLoop as unknown as (c: (x: C) => Tensor, b: (x: C) => C, init: unknown) => C;
  return loop(([i]) => i.less(hi), ([i, c]) => [i.add(1), bodyFn(i, c)], [lo, init])[1];
}
