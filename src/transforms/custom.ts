/**
 * User-defined derivative rules: customVjp, customJvp, and checkpoint (rematerialisation), as
 * primitives whose JVP rules call the user's rules, so they work under grad, vmap, jit and backward().
 */
import { ShapedArray } from "../core/aval.js";
import { isFloat } from "../core/dtype.js";
import { TridentError, checkFunction, fail } from "../core/errors.js";
import { Jaxpr, evalJaxpr, traceToJaxpr } from "../core/jaxpr.js";
import { primitive, UndefPrimal } from "../core/primitive.js";
import { treeDefKey, treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { bind } from "../core/trace.js";
import { batchEval, coerce, sameType, toAxis, zerosOf } from "../core/prims/control.js";
import { reduceSum } from "../core/prims/reduce.js";
import { axisSize } from "../core/prims/util.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { isGradEnabled } from "../tape.js";
import { toTensor } from "../ops/convert.js";
import { flatLeaves } from "./control.js";
import { JVPTracer } from "./jvp.js";
import { vjpFlat } from "./partial.js";

type FwdFlat = (xs: Tensor[]) => [Tensor[], Tensor[]];
type BwdFlat = (res: Tensor[], cts: Tensor[]) => (Tensor | null)[];
type RuleFlat = (primals: Tensor[], tangents: Tensor[]) => [Tensor[], Tensor[]];

type VjpCallP = { fun: Jaxpr; nConsts: number; fwd: FwdFlat; bwd: BwdFlat; name: string };
type LinP = { bwd: BwdFlat; nRes: number; outAvals: ShapedArray[]; name: string };
type JvpCallP = { fun: Jaxpr; nConsts: number; rule: RuleFlat; name: string };

const show = (p: { name: string }) => `name=${p.name}`;

function checkIns(op: string, fun: Jaxpr, avals: readonly ShapedArray[]): ShapedArray[] {
  if (fun.inBinders.length !== avals.length) fail(op, `takes ${fun.inBinders.length} operands but got ${avals.length}`);
  fun.inAvals.forEach((a, i) => {
    if (!sameType(a, avals[i]!)) fail(op, `operand ${i} should be ${a} but got ${avals[i]}`);
  });
  return fun.outAvals;
}

/** The same function on one more batch axis (every output batched at 0), as a jaxpr over moved operands. */
function batchFun(fun: Jaxpr, size: number, d0: (number | null)[], moved: Tensor[]) {
  return traceToJaxpr((...xs) => batchEval((...ys) => evalJaxpr(fun, ys), size, d0, xs, true)[0], moved.map((m) => m.aval));
}

/** Cotangents from a batched bwd: an input that was not batched gets the sum over the batch. */
const unbatchCts = (cts: Tensor[], dims: (number | null)[]) => cts.map((c, i) => (dims[i] === null ? reduceSum(c, [0]) : c));

// ---------------- custom_vjp_call: f with a user-supplied reverse rule ----------------
export const customVjpCallP = primitive<VjpCallP>(
  "custom_vjp_call",
  {
    shape(avals, p) {
      return checkIns("customVjp", p.fun, avals);
    },
    impl(args, p) {
      return evalJaxpr(p.fun, args);
    },
    jvp(primals, tangents, p) {
      const [outs, res] = p.fwd(primals.slice(p.nConsts));
      const outAvals = p.fun.outAvals;
      const lin = bind(customLinP, [...res, ...tangents.slice(p.nConsts)], { bwd: p.bwd, nRes: res.length, outAvals: outAvals.map((a) => a.strong()), name: p.name });
      return [outs, lin.map((t, i) => (isFloat(outAvals[i]!.dtype) ? t : null))];
    },
    batch(args, dims, p) {
      const size = axisSize(args, dims);
      const moved = args.map((a, i) => toAxis(a, dims[i]!, size));
      const d0 = dims.map((d) => (d === null ? null : 0));
      const argD = d0.slice(p.nConsts);
      const argAvals = p.fun.inAvals.slice(p.nConsts);
      const fun = batchFun(p.fun, size, d0, moved);
      const fwd: FwdFlat = (xs) => {
        let nOut = 0;
        const o = batchEval((...ys) => {
          const [a, r] = p.fwd(ys);
          nOut = a.length;
          return [...a, ...r];
        }, size, argD, xs, true)[0];
        return [o.slice(0, nOut), o.slice(nOut)];
      };
      const bwd: BwdFlat = (res, cts) => {
        const g = batchEval((...ys) => p.bwd(ys.slice(0, res.length), ys.slice(res.length)).map((c, i) => c ?? zerosOf(argAvals[i]!)), size, [...res, ...cts].map(() => 0), [...res, ...cts], true)[0];
        return unbatchCts(g, argD);
      };
      const params: VjpCallP = { fun: fun.jaxpr, nConsts: fun.consts.length + p.nConsts, fwd, bwd, name: p.name };
      const outs = bind(customVjpCallP, [...fun.consts, ...moved], params);
      return [outs, outs.map(() => 0)];
    },
  },
  show,
);

// ---------------- custom_lin: the linear map whose transpose is the user's bwd ----------------
export const customLinP = primitive<LinP>(
  "custom_lin",
  {
    shape(_avals, p) {
      return p.outAvals;
    },
    impl(args, p) {
      const tangents = args.slice(p.nRes);
      const allZero = tangents.every((t) => t instanceof EagerTensor && t.dataSync().every((v) => v === 0));
      if (allZero) return p.outAvals.map(zerosOf);
      throw new TridentError(
        `customVjp: ${p.name} defines only a reverse-mode rule (fwd/bwd), so forward-mode differentiation ` +
          `(jvp, jacfwd, evaluating a linearized function) is not supported, as in JAX. Use grad/vjp/backward, or customJvp.`,
      );
    },
    jvp(_primals, _tangents, p) {
      throw new TridentError(`customVjp: ${p.name} cannot be differentiated twice (its bwd rule is opaque); write a customJvp rule for higher-order derivatives`);
    },
    transpose(cts, args, p) {
      const res = args.slice(0, p.nRes);
      if (res.some((r) => r instanceof UndefPrimal)) throw new TridentError(`customVjp: ${p.name}: residuals must be known when transposing`);
      const cs = cts.map((c, i) => c ?? zerosOf(p.outAvals[i]!));
      const g = p.bwd(res as Tensor[], cs);
      return [...res.map(() => null), ...args.slice(p.nRes).map((a, i) => (a instanceof UndefPrimal && g[i] ? coerce(g[i]!, a.aval) : null))];
    },
    batch(args, dims, p) {
      const size = axisSize(args, dims);
      const moved = args.map((a, i) => toAxis(a, dims[i]!, size));
      const d0 = dims.map((d) => (d === null ? null : 0));
      const tD = d0.slice(p.nRes);
      const tAvals = args.slice(p.nRes).map((a, i) => (dims[p.nRes + i] === null ? a.aval : sliceOff(moved[p.nRes + i]!)));
      const bwd: BwdFlat = (res, cts) => {
        const g = batchEval((...ys) => p.bwd(ys.slice(0, p.nRes), ys.slice(p.nRes)).map((c, i) => c ?? zerosOf(tAvals[i]!)), size, [...d0.slice(0, p.nRes), ...cts.map(() => 0)], [...res, ...cts], true)[0];
        return unbatchCts(g, tD);
      };
      const outAvals = p.outAvals.map((a) => batchedAval(a, size));
      const outs = bind(customLinP, moved, { ...p, bwd, outAvals });
      return [outs, outs.map(() => 0)];
    },
  },
  show,
);

const sliceOff = (t: Tensor): ShapedArray => new ShapedArray(t.shape.slice(1), t.dtype, t.aval.weakType);
const batchedAval = (a: ShapedArray, n: number): ShapedArray => new ShapedArray([n, ...a.shape], a.dtype, a.weakType);

// ---------------- custom_jvp_call: f with a user-supplied forward rule ----------------
export const customJvpCallP = primitive<JvpCallP>(
  "custom_jvp_call",
  {
    shape(avals, p) {
      return checkIns("customJvp", p.fun, avals);
    },
    impl(args, p) {
      return evalJaxpr(p.fun, args);
    },
    jvp(primals, tangents, p) {
      const [outs, touts] = p.rule(primals.slice(p.nConsts), tangents.slice(p.nConsts));
      return [outs, touts.map((t, i) => (isFloat(outs[i]!.dtype) ? t : null))];
    },
    batch(args, dims, p) {
      const size = axisSize(args, dims);
      const moved = args.map((a, i) => toAxis(a, dims[i]!, size));
      const d0 = dims.map((d) => (d === null ? null : 0));
      const argD = d0.slice(p.nConsts);
      const fun = batchFun(p.fun, size, d0, moved);
      // tangents have the shapes of their primals, so they share the primals' batch axes
      const rule: RuleFlat = (ps, ts) => {
        let nOut = 0;
        const o = batchEval((...ys) => {
          const [a, b] = p.rule(ys.slice(0, ps.length), ys.slice(ps.length));
          nOut = a.length;
          return [...a, ...b];
        }, size, [...argD, ...argD], [...ps, ...ts], true)[0];
        return [o.slice(0, nOut), o.slice(nOut)];
      };
      const outs = bind(customJvpCallP, [...fun.consts, ...moved], { fun: fun.jaxpr, nConsts: fun.consts.length + p.nConsts, rule, name: p.name });
      return [outs, outs.map(() => 0)];
    },
  },
  show,
);

// ---------------- public API ----------------

/** Refuse closures over values being differentiated: the user's rule gives derivatives for arguments only. */
function checkClosure(op: string, consts: readonly Tensor[]): void {
  for (const c of consts) {
    const diff = (c instanceof JVPTracer && c.tangent !== null) || (c instanceof EagerTensor && c.tracked && isGradEnabled() && isFloat(c.dtype));
    if (diff) {
      fail(op, `the function closes over a value ${c.aval} that is being differentiated; a custom rule only gives derivatives ` + `with respect to explicit arguments, so pass that value as an argument instead`);
    }
  }
}

/** Flatten `tree` following the structure `def`: null (or undefined) where a whole subtree is zero. */
function flattenLike(op: string, def: TreeDef, tree: unknown, out: (Tensor | null)[]): void {
  if (tree === null || tree === undefined) {
    for (let i = countLeaves(def); i > 0; i--) out.push(null);
    return;
  }
  switch (def.kind) {
    case "leaf":
      out.push(tree instanceof Tensor ? tree : toTensor(tree as number));
      return;
    case "none":
      return;
    case "array":
      if (!Array.isArray(tree) || tree.length !== def.children.length) fail(op, `a cotangent does not match its argument's structure (expected an array of ${def.children.length})`);
      def.children.forEach((c, i) => flattenLike(op, c, (tree as unknown[])[i], out));
      return;
    case "object":
      def.keys.forEach((k, i) => flattenLike(op, def.children[i]!, (tree as Record<string, unknown>)[k], out));
      return;
  }
}
const countLeaves = (d: TreeDef): number => (d.kind === "leaf" ? 1 : d.kind === "none" ? 0 : d.children.reduce((a, c) => a + countLeaves(c), 0));

function traceFun(op: string, f: (...a: unknown[]) => unknown, args: unknown[]) {
  const [leaves, inDef] = flatLeaves(op, "argument", args);
  let outDef: TreeDef | undefined;
  const closed = traceToJaxpr((...xs) => {
    const [o, d] = flatLeaves(op, "output", f(...treeUnflatten<unknown[]>(inDef, xs)));
    outDef = d;
    return o;
  }, leaves.map((l) => l.aval));
  return { leaves, inDef, outDef: outDef!, closed };
}

/** Flatten a rule's output, checking it against f's output structure and types. */
function checkOut(op: string, what: string, value: unknown, def: TreeDef, avals: readonly ShapedArray[]): Tensor[] {
  const [ls, d] = flatLeaves(op, what, value);
  if (treeDefKey(d) !== treeDefKey(def)) fail(op, `${what} has structure ${treeDefKey(d)} but f returns ${treeDefKey(def)}`);
  return ls.map((l, i) => {
    if (!sameType(l.aval, avals[i]!)) fail(op, `${what} leaf ${i} is ${l.aval} but f returns ${avals[i]}`);
    return coerce(l, avals[i]!);
  });
}

/**
 * A function with a custom reverse-mode rule: `fwd(...args)` returns `[output, residuals]` and
 * `bwd(residuals, ct)` returns one cotangent per argument (null for none). Forward mode is not supported.
 * @example const clipGrad = tr.customVjp((x) => x, (x) => [x, null], (_r, g) => [g.clip(-1, 1)])
 */
export function customVjp<A extends unknown[], R, Res>(f: (...args: A) => R, fwd: (...args: A) => [R, Res], bwd: (res: Res, ct: R) => unknown[]): (...args: A) => R {
  checkFunction("customVjp", "f", f);
  const hint = fwd !== null && typeof fwd === "object" ? "pass fwd and bwd as separate arguments: tr.customVjp(f, fwd, bwd)" : "";
  checkFunction("customVjp", "fwd", fwd, hint);
  checkFunction("customVjp", "bwd", bwd);
  const name = f.name || "customVjp";
  return (...args: A): R => {
    const { leaves, inDef, outDef, closed } = traceFun("customVjp", f as (...a: unknown[]) => unknown, args);
    checkClosure("customVjp", closed.consts);
    const outAvals = closed.jaxpr.outAvals;
    const argDefs = treeFlatten(args)[1];
    let resDef: TreeDef | undefined;
    const fwdFlat: FwdFlat = (xs) => {
      const r = fwd(...treeUnflatten<A>(inDef, xs)) as unknown;
      if (!Array.isArray(r) || r.length !== 2) fail("customVjp", "fwd must return [output, residuals]");
      const outs = checkOut("customVjp", "fwd's output", r[0], outDef, outAvals);
      const [res, rd] = flatLeaves("customVjp", "residual", r[1]);
      resDef = rd;
      return [outs, res];
    };
    const bwdFlat: BwdFlat = (res, cts) => {
      const g = bwd(treeUnflatten<Res>(resDef!, res), treeUnflatten<R>(outDef, cts));
      if (!Array.isArray(g) || g.length !== args.length) fail("customVjp", `bwd must return an array with one cotangent per argument (${args.length}), got ${Array.isArray(g) ? `${g.length} entries` : typeof g}`);
      const flat: (Tensor | null)[] = [];
      if (argDefs.kind === "array") argDefs.children.forEach((d, i) => flattenLike("customVjp", d, g[i], flat));
      flat.forEach((c, i) => {
        const a = leaves[i]!.aval;
        if (c && c.shape.join() !== a.shape.join()) fail("customVjp", `bwd returns a cotangent ${c.aval} for argument leaf ${i} of type ${a}`);
      });
      return flat;
    };
    const outs = bind(customVjpCallP, [...closed.consts, ...leaves], { fun: closed.jaxpr, nConsts: closed.consts.length, fwd: fwdFlat, bwd: bwdFlat, name });
    return treeUnflatten<R>(outDef, outs);
  };
}

/**
 * A function with a custom forward-mode rule `jvpRule(primals, tangents) → [output, tangentOut]`; reverse
 * mode follows by transposing the rule, so it must be linear in the tangents.
 * @example const f = tr.customJvp((x) => x.exp(), ([x], [t]) => [x.exp(), x.exp().mul(t)])
 */
export function customJvp<A extends unknown[], R>(f: (...args: A) => R, jvpRule: (primals: A, tangents: A) => [R, R]): (...args: A) => R {
  checkFunction("customJvp", "f", f);
  checkFunction("customJvp", "jvpRule", jvpRule);
  const name = f.name || "customJvp";
  return (...args: A): R => {
    const { leaves, inDef, outDef, closed } = traceFun("customJvp", f as (...a: unknown[]) => unknown, args);
    checkClosure("customJvp", closed.consts);
    const outAvals = closed.jaxpr.outAvals;
    const rule: RuleFlat = (ps, ts) => {
      const r = jvpRule(treeUnflatten<A>(inDef, ps), treeUnflatten<A>(inDef, ts)) as unknown;
      if (!Array.isArray(r) || r.length !== 2) fail("customJvp", "jvpRule must return [output, tangentOut]");
      const outs = checkOut("customJvp", "jvpRule's output", r[0], outDef, outAvals);
      const tans = checkOut("customJvp", "jvpRule's tangent", r[1], outDef, outAvals.map((a) => a.strong()));
      return [outs, tans];
    };
    const outs = bind(customJvpCallP, [...closed.consts, ...leaves], { fun: closed.jaxpr, nConsts: closed.consts.length, rule, name });
    return treeUnflatten<R>(outDef, outs);
  };
}

/**
 * Rematerialisation: gradients of `checkpoint(f)` equal those of f, but the backward pass recomputes f's
 * forward pass instead of keeping its intermediates. Values f closes over still get gradients.
 * @example const block = tr.checkpoint((x) => x.sin().exp().sum())
 */
export function checkpoint<A extends unknown[], R>(f: (...args: A) => R): (...args: A) => R {
  checkFunction("checkpoint", "f", f);
  return (...args: A): R => {
    const { leaves, outDef, closed } = traceFun("checkpoint", f as (...a: unknown[]) => unknown, args);
    // closed-over values become explicit operands, so the recomputed vjp covers them too
    const fun = closed.jaxpr;
    const fwd: FwdFlat = (xs) => [evalJaxpr(fun, xs), xs];
    const bwd: BwdFlat = (res, cts) => {
      const fl = res.map((r) => isFloat(r.dtype));
      const g = (...ys: Tensor[]) => {
        let k = 0;
        return evalJaxpr(fun, res.map((r, i) => (fl[i] ? ys[k++]! : r)));
      };
      const back = vjpFlat(g, res.filter((_, i) => fl[i])).fVjp(cts);
      let k = 0;
      return res.map((_, i) => (fl[i] ? (back[k++] ?? null) : null));
    };
    const outs = bind(customVjpCallP, [...closed.consts, ...leaves], { fun, nConsts: 0, fwd, bwd, name: "checkpoint" });
    return treeUnflatten<R>(outDef, outs);
  };
}
