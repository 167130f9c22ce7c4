/**
 * Control flow as higher-order primitives: cond (and switch), while, scan. Their params hold jaxprs
 * whose closed-over values are explicit leading operands, so every transformation sees them. Reverse
 * mode goes through `partialEval` (known outputs stay known; the staged equation recomputes the primal
 * part in the backward pass) and `transpose` (cond: a cond of transposed branches; scan: a forward scan
 * of the known carries, then a scan in the opposite direction over transposed steps).
 */
import { ShapedArray } from "../aval.js";
import { isFloat } from "../dtype.js";
import { TridentError, fail } from "../errors.js";
import { ClosedJaxpr, Jaxpr, Var, evalJaxpr, printJaxpr, traceToJaxpr } from "../jaxpr.js";
import { constant } from "../execute.js";
import { primitive, UndefPrimal, type AnyPrimitive, type Dim, type Params, type Primitive } from "../primitive.js";
import { shapeEq } from "../shape.js";
import { bind, fullRaise, newMain, type Trace } from "../trace.js";
import { EagerTensor, type Tensor } from "../../tensor.js";
import { PETrace, PETracer, PartialVal, backwardPass, partialEvalFlat } from "../../transforms/partial.js";
import { jvpFlat } from "../../transforms/jvp.js";
import { BatchTrace, BatchTracer, moveBatchAxis } from "../../transforms/vmap.js";
import { full } from "./constants.js";
import { gather } from "./indexing.js";
import { add, convert, eq, max, min, ne, select } from "./elementwise.js";
import { reduceSum } from "./reduce.js";
import { broadcastInDim, concatenate, moveaxis, reshape } from "./structural.js";
import { axisSize } from "./util.js";

// ======================= helpers shared by the higher-order primitives =======================

/** Same shape and dtype (weak typing aside). */
export const sameType = (a: ShapedArray, b: ShapedArray): boolean => a.dtype === b.dtype && shapeEq(a.shape, b.shape);

/** Give x exactly the aval `a`: rules produce the right dtype but may lose or gain weak typing. */
export function coerce(x: Tensor, a: ShapedArray): Tensor {
  return x.dtype === a.dtype && x.aval.weakType === a.weakType ? x : convert(x, a.dtype, a.weakType);
}

export const zerosOf = (a: ShapedArray): Tensor => full(a.shape, 0, a.dtype, a.weakType);

const sliceAval = (a: ShapedArray): ShapedArray => new ShapedArray(a.shape.slice(1), a.dtype, a.weakType);
const stackAval = (a: ShapedArray, n: number): ShapedArray => new ShapedArray([n, ...a.shape], a.dtype, a.weakType);
const pick = <T>(xs: readonly T[], mask: readonly boolean[], want = true): T[] => xs.filter((_, i) => mask[i] === want);
const idxWhere = (mask: readonly boolean[]): number[] => mask.flatMap((m, i) => (m ? [i] : []));

/** Drop equations that no used output needs (inputs are kept, so the signature does not change). */
export function dce(j: Jaxpr, used?: readonly boolean[]): Jaxpr {
  const outs = used ? j.outs.filter((_, i) => used[i]) : j.outs;
  const live = new Set<Var>();
  for (const o of outs) if (o instanceof Var) live.add(o);
  const kept = [];
  for (let i = j.eqns.length - 1; i >= 0; i--) {
    const e = j.eqns[i]!;
    if (!e.outBinders.some((v) => live.has(v))) continue;
    kept.push(e);
    for (const a of e.inputs) if (a instanceof Var) live.add(a);
  }
  return new Jaxpr(j.inBinders, kept.reverse(), outs);
}

/** Trace a rule's helper function into a closed jaxpr, dropping work nothing uses (rules trace generously). */
export function traceBody(fn: (...xs: Tensor[]) => Tensor[], avals: readonly ShapedArray[]): ClosedJaxpr {
  const c = traceToJaxpr(fn, avals);
  return new ClosedJaxpr(dce(c.jaxpr), c.consts);
}

/**
 * Branches traced separately get one shared const list: every branch takes all the consts (its own
 * where they belong, unused binders for the others'), so one primitive can carry them as operands.
 */
export function joinConsts(closeds: readonly ClosedJaxpr[]): { jaxprs: Jaxpr[]; consts: Tensor[] } {
  const consts = closeds.flatMap((c) => c.consts);
  let off = 0;
  const jaxprs = closeds.map((c) => {
    const n = c.consts.length;
    const before = consts.slice(0, off).map((t) => new Var(t.aval));
    const after = consts.slice(off + n).map((t) => new Var(t.aval));
    off += n;
    const ib = c.jaxpr.inBinders;
    return new Jaxpr([...before, ...ib.slice(0, n), ...after, ...ib.slice(n)], c.jaxpr.eqns, c.jaxpr.outs);
  });
  return { jaxprs, consts };
}

/** The same jaxpr taking extra (ignored) inputs after its own. */
function padInputs(j: Jaxpr, after: readonly ShapedArray[]): Jaxpr {
  return after.length ? new Jaxpr([...j.inBinders, ...after.map((a) => new Var(a))], j.eqns, j.outs) : j;
}

/** Evaluate j with some inputs unknown (null): the outputs that are known anyway, null for the rest. */
export function evalKnown(j: Jaxpr, ins: readonly (Tensor | null)[]): (Tensor | null)[] {
  const pvals = ins.map((v, i) => (v === null ? PartialVal.unknown(j.inAvals[i]!) : PartialVal.known(v)));
  return partialEvalFlat((...xs) => evalJaxpr(j, xs), pvals).pvalsOut.map((p) => p.known);
}

/**
 * Partially evaluate j with the inputs in `unknownIn` unknown. Returns which outputs then depend on them
 * and a closed jaxpr over the known inputs (in order) computing the other outputs, minus those in `drop`.
 * Partial evaluation (not a syntactic dependency walk) sees through nested control flow precisely.
 */
export function splitKnown(j: Jaxpr, unknownIn: readonly boolean[], drop?: readonly boolean[]): { unknownOut: boolean[]; known: ClosedJaxpr } {
  let unknownOut: boolean[] = [];
  const closed = traceToJaxpr((...ks) => {
    let k = 0;
    const outs = evalKnown(j, unknownIn.map((u) => (u ? null : ks[k++]!)));
    unknownOut = outs.map((o) => o === null);
    return outs.filter((o, i): o is Tensor => o !== null && !drop?.[i]);
  }, pick(j.inAvals, unknownIn, false));
  return { unknownOut, known: new ClosedJaxpr(dce(closed.jaxpr), closed.consts) };
}

/**
 * Transpose j at its known inputs (null marks a linear input): partial evaluation separates the
 * non-linear work on known values from the linear part, which backwardPass then transposes.
 */
export function transposeJaxpr(j: Jaxpr, ins: readonly (Tensor | null)[], cts: readonly (Tensor | null)[]): (Tensor | null)[] {
  const pvals = ins.map((v, i) => (v === null ? PartialVal.unknown(j.inAvals[i]!) : PartialVal.known(v)));
  const { jaxpr, pvalsOut, consts } = partialEvalFlat((...xs) => evalJaxpr(j, xs), pvals);
  const lin = idxWhere(ins.map((v) => v === null));
  const args = [...consts, ...lin.map((i) => new UndefPrimal(j.inAvals[i]!))];
  const res = backwardPass(jaxpr, args, cts.filter((_, i) => pvalsOut[i]!.known === null));
  const out: (Tensor | null)[] = ins.map(() => null);
  lin.forEach((i, k) => (out[i] = res[consts.length + k] ?? null));
  return out;
}

/**
 * Run f on one more batching level. Outputs come back batched at axis 0 where they depend on the mapped
 * axis or `force` asks for it (then materialised), unbatched otherwise; the mask says which.
 */
export function batchEval(f: (...xs: Tensor[]) => Tensor[], size: number, inDims: readonly Dim[], args: readonly Tensor[], force?: readonly boolean[] | boolean): [Tensor[], boolean[]] {
  return newMain(BatchTrace, size, (main) => {
    const trace = new BatchTrace(main);
    const ins = args.map((a, i) => new BatchTracer(trace, a, inDims[i] ?? null));
    const outs = f(...ins).map((o) => fullRaise(trace, o) as BatchTracer);
    const batched = outs.map((o, i) => o.bdim !== null || force === true || (Array.isArray(force) && !!force[i]));
    return [outs.map((o, i) => (batched[i] ? moveBatchAxis(size, o.bdim, 0, o.val) : o.val)), batched];
  });
}

/** Move a batched operand's axis to `to`, or broadcast an unbatched one when `materialise`. */
export function toAxis(x: Tensor, d: Dim, size: number, to = 0, materialise = false): Tensor {
  if (d === null) return materialise ? moveBatchAxis(size, null, to, x) : x;
  return moveaxis(x, d, to);
}

/** Stage an equation in a partial-evaluation trace: every output unknown, known inputs become consts. */
export function stageEqn(trace: Trace, prim: AnyPrimitive, tracers: Tensor[], params: Params, avalsOut?: ShapedArray[]): PETracer[] {
  const pt = trace as PETrace;
  const ins = (tracers as PETracer[]).map((t) => pt.instantiateConst(t));
  const avals = avalsOut ?? prim.rules.shape(ins.map((t) => t.aval), params);
  const outs = avals.map((a) => new PETracer(pt, PartialVal.unknown(a), null));
  const recipe = { k: "eqn" as const, prim, ins, params, avalsOut: avals, outs };
  for (const o of outs) o.recipe = recipe;
  return outs;
}

/** Interleave known outputs (wrapped as known tracers) and staged ones according to `unknown`. */
function mergeOuts(trace: Trace, unknown: readonly boolean[], known: readonly Tensor[], staged: readonly Tensor[]): Tensor[] {
  let k = 0, s = 0;
  return unknown.map((u) => (u ? staged[s++]! : trace.pure(known[k++]!)));
}

/** Carry-type check shared by the loop primitives and the public API. */
export function checkCarry(op: string, ins: readonly ShapedArray[], outs: readonly ShapedArray[]): void {
  if (ins.length !== outs.length) fail(op, `the body returns ${outs.length} carry values but the carry has ${ins.length}`);
  ins.forEach((a, i) => {
    const o = outs[i]!;
    if (!sameType(a, o)) fail(op, `carry output type ${o} differs from carry input ${a}${ins.length > 1 ? ` (carry leaf ${i})` : ""}`);
  });
}

// ======================= eager helpers: one step's rows, stacking the outputs =======================

/**
 * Row t of every xs, read with gather and a runtime index tensor so that every step of an eager scan
 * shares the same kernels (a static slice would compile one kernel per step).
 */
function stepRows(xs: readonly Tensor[], t: number): Tensor[] {
  return xs.map((x) => {
    const rowShape = [1, ...x.shape.slice(1)];
    const at = constant(new Int32Array(rowShape.reduce((a, b) => a * b, 1)).fill(t), rowShape, "int32", false, (x as EagerTensor).backend);
    const row = gather(x, at, 0);
    at.dispose();
    const r = reshape(row, x.shape.slice(1));
    if (r !== row) row.dispose();
    return r;
  });
}

/** Stack equal-typed tensors on a new axis 0; a tree of concatenations keeps each kernel small. */
function stackRows(rows: Tensor[], aval: ShapedArray): Tensor {
  if (rows.length === 0) return zerosOf(stackAval(aval, 0));
  let level = rows.map((r) => reshape(r, [1, ...r.shape]));
  const made = new Set<Tensor>(level.filter((t) => !rows.includes(t)));
  while (level.length > 1) {
    const next: Tensor[] = [];
    for (let i = 0; i < level.length; i += 16) next.push(concatenate(level.slice(i, i + 16), 0));
    for (const t of level) if (made.has(t) && !next.includes(t)) t.dispose();
    for (const t of next) made.add(t);
    level = next;
  }
  return level[0]!;
}

/** Free the tensors of a finished step that nothing still holds. */
function release(ts: readonly Tensor[], held: (t: Tensor) => boolean): void {
  for (const t of ts) if (!held(t)) t.dispose();
}

// ======================= cond / switch =======================

export type CondP = { branches: Jaxpr[] };

function condShape(avals: readonly ShapedArray[], { branches }: CondP): ShapedArray[] {
  const [ix, ...ops] = avals;
  if (ix!.ndim !== 0 || (ix!.dtype !== "bool" && ix!.dtype !== "int32")) fail("cond", `the predicate must be a scalar bool (or int32 index), got ${ix}`);
  if (ix!.dtype === "bool" && branches.length !== 2) fail("cond", `a bool predicate needs exactly 2 branches, got ${branches.length}`);
  const name = (b: number) => (ix!.dtype === "bool" ? (b === 1 ? "true branch" : "false branch") : `branch ${b}`);
  branches.forEach((b, k) => {
    if (b.inBinders.length !== ops.length) fail("cond", `${name(k)} takes ${b.inBinders.length} operands but ${ops.length} were given`);
    b.inAvals.forEach((a, i) => {
      if (!sameType(a, ops[i]!)) fail("cond", `${name(k)} expects operand ${i} of type ${a} but got ${ops[i]}`);
    });
  });
  const ref = branches.length - 1;
  const outs = branches[ref]!.outAvals;
  branches.forEach((b, k) => {
    if (b.outs.length !== outs.length) fail("cond", `${name(k)} returns ${b.outs.length} values but ${name(ref)} returns ${outs.length}`);
    b.outAvals.forEach((a, i) => {
      if (!sameType(a, outs[i]!)) fail("cond", `${name(ref)} returns ${outs[i]} but ${name(k)} returns ${a}${outs.length > 1 ? ` (output ${i})` : ""}`);
    });
  });
  return outs.map((a, i) => new ShapedArray(a.shape, a.dtype, branches.every((b) => b.outAvals[i]!.weakType)));
}

const showBranches = (p: CondP) => `branches=(\n${p.branches.map((b) => printJaxpr(b, 0, 6)).join("\n")}\n    )`;

export const condP: Primitive<CondP> = primitive<CondP>(
  "cond",
  {
    shape: condShape,
    impl([ix, ...ops], { branches }) {
      const v = ix!.dataSync()[0]!;
      const k = Math.min(Math.max(Math.trunc(v), 0), branches.length - 1);
      return evalJaxpr(branches[k]!, ops);
    },
    jvp([ix, ...ops], [, ...tops], { branches }) {
      const fl = ops.map((o) => isFloat(o.dtype));
      const ts = pick(tops, fl).map((t, k) => coerce(t, pick(ops, fl)[k]!.aval.strong()));
      const outAvals = branches[0]!.outAvals;
      const outFl = outAvals.map((a) => isFloat(a.dtype));
      const closeds = branches.map((b) =>
        traceBody((...xs) => {
          let k = ops.length;
          const [po, to] = jvpFlat((...ys) => evalJaxpr(b, ys), xs.slice(0, ops.length), fl.map((f) => (f ? xs[k++]! : null)));
          const tOut = idxWhere(outFl).map((i) => coerce(to[i] ?? zerosOf(outAvals[i]!.strong()), outAvals[i]!.strong()));
          return [...po, ...tOut];
        }, [...ops.map((o) => o.aval), ...ts.map((t) => t.aval)]),
      );
      const { jaxprs, consts } = joinConsts(closeds);
      const outs = bind(condP, [ix!, ...consts, ...ops, ...ts], { branches: jaxprs });
      const n = outAvals.length;
      let k = n;
      return [outs.slice(0, n), outFl.map((f) => (f ? outs[k++]! : null))];
    },
    partialEval(trace, tracers, { branches }) {
      const known = (tracers as PETracer[]).map((t) => t.pval.known);
      if (known[0] === null) return stageEqn(trace, condP, tracers, { branches });
      const unkIn = known.slice(1).map((k) => k === null);
      const splits = branches.map((b) => splitKnown(b, unkIn));
      const unkOut = splits[0]!.unknownOut.map((_, i) => splits.some((s) => s.unknownOut[i]));
      if (unkOut.every((u) => u)) return stageEqn(trace, condP, tracers, { branches });
      const kb = branches.map((b, k) => (splits[k]!.unknownOut.every((u, i) => u === unkOut[i]) ? splits[k]!.known : splitKnown(b, unkIn, unkOut).known));
      const { jaxprs, consts } = joinConsts(kb);
      const knownOuts = bind(condP, [known[0]!, ...consts, ...(known.slice(1).filter((k) => k !== null) as Tensor[])], { branches: jaxprs });
      const staged = unkOut.some((u) => u) ? stageEqn(trace, condP, tracers, { branches: branches.map((b) => dce(b, unkOut)) }) : [];
      return mergeOuts(trace, unkOut, knownOuts, staged);
    },
    transpose(cts, [ix, ...ops], { branches }) {
      if (ix instanceof UndefPrimal) throw new TridentError("cond: the predicate cannot be a linear input");
      const lin = ops.map((o) => o instanceof UndefPrimal);
      const kOps = pick(ops, lin, false) as Tensor[];
      const ctIdx = idxWhere(cts.map((c) => c !== null));
      const linIdx = idxWhere(lin);
      const closeds = branches.map((b) =>
        traceBody((...vs) => {
          let q = 0;
          const ins = lin.map((l) => (l ? null : vs[q++]!));
          const ctsOut: (Tensor | null)[] = b.outs.map(() => null);
          for (const k of ctIdx) ctsOut[k] = vs[q++]!;
          const r = transposeJaxpr(b, ins, ctsOut);
          return linIdx.map((i) => coerce(r[i] ?? zerosOf(ops[i]!.aval), ops[i]!.aval));
        }, [...kOps.map((o) => o.aval), ...ctIdx.map((k) => cts[k]!.aval)]),
      );
      const { jaxprs, consts } = joinConsts(closeds);
      const outs = bind(condP, [ix as Tensor, ...consts, ...kOps, ...ctIdx.map((k) => cts[k]!)], { branches: jaxprs });
      return [null, ...ops.map((_, i) => (lin[i] ? outs[linIdx.indexOf(i)]! : null))];
    },
    batch([ix, ...ops], [di, ...dops], { branches }) {
      const size = axisSize([ix!, ...ops], [di!, ...dops]);
      const ops0 = ops.map((o, i) => toAxis(o, dops[i]!, size));
      const d0 = dops.map((d) => (d === null ? null : 0));
      if (di === null) {
        // one branch for all examples: batch every branch, an output batched where any branch's is
        let force = branches[0]!.outs.map(() => false);
        for (;;) {
          const outB: boolean[][] = [];
          const closeds = branches.map((b) =>
            traceBody((...xs) => {
              const [o, ob] = batchEval((...ys) => evalJaxpr(b, ys), size, d0, xs, force);
              outB.push(ob);
              return o;
            }, ops0.map((o) => o.aval)),
          );
          const union = force.map((_, i) => outB.some((ob) => ob[i]));
          if (outB.every((ob) => ob.every((x, i) => x === union[i]))) {
            const { jaxprs, consts } = joinConsts(closeds);
            return [bind(condP, [ix!, ...consts, ...ops0], { branches: jaxprs }), union.map((u) => (u ? 0 : null))];
          }
          force = union;
        }
      }
      // a predicate per example: run every branch on every example and pick per example
      const pred = moveaxis(ix!, di!, 0);
      const outs = branches.map((b) => batchEval((...ys) => evalJaxpr(b, ys), size, d0, ops0, true)[0]);
      const bc = (p: Tensor, like: Tensor) => broadcastInDim(p, like.shape, [0]);
      let res = outs[0]!;
      if (pred.dtype === "bool") res = res.map((o, k) => select(bc(pred, o), outs[1]![k]!, o));
      else {
        const n = branches.length;
        const clamped = max(min(pred, full(pred.shape, n - 1, "int32")), full(pred.shape, 0, "int32"));
        for (let i = 1; i < n; i++) {
          const hit = eq(clamped, full(pred.shape, i, "int32"));
          res = res.map((o, k) => select(bc(hit, o), outs[i]![k]!, o));
        }
      }
      return [res, res.map(() => 0)];
    },
  },
  showBranches,
);

// ======================= while =======================

export type WhileP = { cond: Jaxpr; body: Jaxpr; nCondConsts: number; nBodyConsts: number };

function whileGroups<T>(xs: readonly T[], p: WhileP): [T[], T[], T[]] {
  const a = p.nCondConsts, b = a + p.nBodyConsts;
  return [xs.slice(0, a), xs.slice(a, b), xs.slice(b)];
}

export const whileP: Primitive<WhileP> = primitive<WhileP>(
  "while",
  {
    shape(avals, p) {
      const [cc, bc, carry] = whileGroups(avals, p);
      const ins = (j: Jaxpr, xs: ShapedArray[], what: string) => {
        if (j.inBinders.length !== xs.length) fail("whileLoop", `${what} takes ${j.inBinders.length} inputs but got ${xs.length}`);
        j.inAvals.forEach((a, i) => {
          if (!sameType(a, xs[i]!)) fail("whileLoop", `${what} expects input ${i} of type ${a} but got ${xs[i]}`);
        });
      };
      ins(p.cond, [...cc, ...carry], "condFn");
      ins(p.body, [...bc, ...carry], "bodyFn");
      const c = p.cond.outAvals;
      if (c.length !== 1 || c[0]!.ndim !== 0 || c[0]!.dtype !== "bool") fail("whileLoop", `condFn must return a scalar bool, got ${c.join(", ") || "nothing"}`);
      checkCarry("whileLoop", carry, p.body.outAvals);
      return carry;
    },
    impl(args, p) {
      const [cc, bc, init] = whileGroups(args, p);
      const inputs = new Set<Tensor>(args);
      let carry = init;
      for (;;) {
        const [go] = evalJaxpr(p.cond, [...cc, ...carry]);
        const more = go!.dataSync()[0] !== 0;
        release([go!], (t) => inputs.has(t) || carry.includes(t));
        if (!more) return carry;
        const next = evalJaxpr(p.body, [...bc, ...carry]);
        release(carry, (t) => inputs.has(t) || next.includes(t));
        carry = next;
      }
    },
    jvp(primals, tangents, p) {
      const [cc, bc, carry] = whileGroups(primals, p);
      const [, tbc, tcarry] = whileGroups(tangents, p);
      const bFl = bc.map((x) => isFloat(x.dtype)), cFl = carry.map((x) => isFloat(x.dtype));
      const tb = idxWhere(bFl).map((i) => coerce(tbc[i]!, bc[i]!.aval.strong()));
      const tc = idxWhere(cFl).map((i) => coerce(tcarry[i]!, carry[i]!.aval.strong()));
      const nb = bc.length, m = carry.length;
      const body = traceBody((...xs) => {
        const [b, tbv, c, tcv] = [xs.slice(0, nb), xs.slice(nb, nb + tb.length), xs.slice(nb + tb.length, nb + tb.length + m), xs.slice(nb + tb.length + m)];
        let q = 0, r = 0;
        const tIn = [...bFl.map((f) => (f ? tbv[q++]! : null)), ...cFl.map((f) => (f ? tcv[r++]! : null))];
        const [po, to] = jvpFlat((...ys) => evalJaxpr(p.body, ys), [...b, ...c], tIn);
        return [...po, ...idxWhere(cFl).map((i) => coerce(to[i] ?? zerosOf(carry[i]!.aval.strong()), carry[i]!.aval.strong()))];
      }, [...bc, ...tb, ...carry, ...tc].map((x) => x.aval));
      const params: WhileP = {
        cond: padInputs(p.cond, tc.map((t) => t.aval)),
        body: body.jaxpr,
        nCondConsts: cc.length,
        nBodyConsts: body.consts.length + nb + tb.length,
      };
      const outs = bind(whileP, [...cc, ...body.consts, ...bc, ...tb, ...carry, ...tc], params);
      let k = m;
      return [outs.slice(0, m), cFl.map((f) => (f ? outs[k++]! : null))];
    },
    partialEval(trace, tracers, p) {
      const known = (tracers as PETracer[]).map((t) => t.pval.known);
      const [kcc, kbc, kcarry] = whileGroups(known, p);
      const [ccU, bcU] = [kcc.map((k) => k === null), kbc.map((k) => k === null)];
      let carryU = kcarry.map((k) => k === null);
      let split = splitKnown(p.body, [...bcU, ...carryU], carryU);
      for (;;) {
        const grown = carryU.map((u, i) => u || split.unknownOut[i]!);
        if (grown.every((u, i) => u === carryU[i])) break;
        carryU = grown;
        split = splitKnown(p.body, [...bcU, ...carryU], carryU);
      }
      const condSplit = splitKnown(p.cond, [...ccU, ...carryU]);
      // the trip count depends on unknown values: nothing is known
      if (condSplit.unknownOut[0] || carryU.every((u) => u)) return stageEqn(trace, whileP, tracers, p);
      const kc = condSplit.known, kb = split.known;
      const nonNull = (xs: (Tensor | null)[]) => xs.filter((x): x is Tensor => x !== null);
      const kParams: WhileP = {
        cond: kc.jaxpr,
        body: kb.jaxpr,
        nCondConsts: kc.consts.length + nonNull(kcc).length,
        nBodyConsts: kb.consts.length + nonNull(kbc).length,
      };
      const knownCarry = pick(kcarry, carryU, false) as Tensor[];
      const knownOuts = bind(whileP, [...kc.consts, ...nonNull(kcc), ...kb.consts, ...nonNull(kbc), ...knownCarry], kParams);
      const staged = pick(stageEqn(trace, whileP, tracers, p), carryU);
      return mergeOuts(trace, carryU, knownOuts, staged);
    },
    transpose() {
      throw new TridentError(
        "whileLoop: reverse-mode differentiation (grad/vjp/backward) of whileLoop is not supported, because its trip " +
          "count is only known at run time (as in JAX). Use lax.scan, or lax.fori with static (JS number) bounds, which " +
          "lower to scan and are differentiable; forward mode (jvp) of whileLoop works.",
      );
    },
    batch(args, dims, p) {
      const size = axisSize(args, dims);
      const moved = args.map((a, i) => toAxis(a, dims[i]!, size));
      const d0 = dims.map((d) => (d === null ? null : 0));
      const [cc, bc, carry0] = whileGroups(moved, p);
      const [ccD, bcD, carryD] = whileGroups(d0, p);
      let carryB = carryD.map((d) => d !== null);
      const batchBody = () => {
        let outB: boolean[] = [];
        const carry = carry0.map((c, i) => toAxis(c, carryD[i]!, size, 0, carryB[i]));
        const closed = traceBody((...xs) => {
          const [o, ob] = batchEval((...ys) => evalJaxpr(p.body, ys), size, [...bcD, ...carryB.map((b) => (b ? 0 : null))], xs, carryB);
          outB = ob;
          return o;
        }, [...bc, ...carry].map((x) => x.aval));
        return { closed, outB, carry };
      };
      let tb = batchBody();
      while (tb.outB.some((b, i) => b && !carryB[i])) {
        carryB = carryB.map((b, i) => b || tb.outB[i]!);
        tb = batchBody();
      }
      const cDims = [...ccD, ...carryB.map((b) => (b ? 0 : null))];
      let predB = false;
      const condJ = traceBody((...xs) => {
        const [o, ob] = batchEval((...ys) => evalJaxpr(p.cond, ys), size, cDims, xs);
        predB = ob[0]!;
        return o;
      }, [...cc, ...tb.carry].map((x) => x.aval));
      if (!predB) {
        const params: WhileP = { cond: condJ.jaxpr, body: tb.closed.jaxpr, nCondConsts: condJ.consts.length + cc.length, nBodyConsts: tb.closed.consts.length + bc.length };
        const outs = bind(whileP, [...condJ.consts, ...cc, ...tb.closed.consts, ...bc, ...tb.carry], params);
        return [outs, carryB.map((b) => (b ? 0 : null))];
      }
      // a predicate per example: loop while any example continues; finished examples keep their carry
      const carry = carry0.map((c, i) => toAxis(c, carryD[i]!, size, 0, true));
      const allB = carry.map(() => 0 as Dim);
      const predOf = (ccv: Tensor[], c: Tensor[]) => batchEval((...ys) => evalJaxpr(p.cond, ys), size, [...ccD, ...allB], [...ccv, ...c], true)[0][0]!;
      const nc = cc.length, nb = bc.length;
      const condAny = traceBody((...xs) => {
        const pr = predOf(xs.slice(0, nc), xs.slice(nc));
        return [ne(reduceSum(convert(pr, "int32"), [0]), full([], 0, "int32"))];
      }, [...cc, ...carry].map((x) => x.aval));
      const bodySel = traceBody((...xs) => {
        const [ccv, bcv, c] = [xs.slice(0, nc), xs.slice(nc, nc + nb), xs.slice(nc + nb)];
        const pr = predOf(ccv, c);
        const next = batchEval((...ys) => evalJaxpr(p.body, ys), size, [...bcD, ...allB], [...bcv, ...c], true)[0];
        return next.map((n, i) => select(broadcastInDim(pr, n.shape, [0]), n, c[i]!));
      }, [...cc, ...bc, ...carry].map((x) => x.aval));
      const params: WhileP = {
        cond: condAny.jaxpr,
        body: bodySel.jaxpr,
        nCondConsts: condAny.consts.length + nc,
        nBodyConsts: bodySel.consts.length + nc + nb,
      };
      const outs = bind(whileP, [...condAny.consts, ...cc, ...bodySel.consts, ...cc, ...bc, ...carry], params);
      return [outs, outs.map(() => 0)];
    },
  },
  (p) => `nCondConsts=${p.nCondConsts} nBodyConsts=${p.nBodyConsts} cond=\n${printJaxpr(p.cond, 0, 6)}\n    body=\n${printJaxpr(p.body, 0, 6)}`,
);

// ======================= scan =======================

export type ScanP = { jaxpr: Jaxpr; nConsts: number; nCarry: number; length: number; reverse: boolean };

function scanGroups<T>(xs: readonly T[], p: ScanP): [T[], T[], T[]] {
  return [xs.slice(0, p.nConsts), xs.slice(p.nConsts, p.nConsts + p.nCarry), xs.slice(p.nConsts + p.nCarry)];
}

export const scanP: Primitive<ScanP> = primitive<ScanP>(
  "scan",
  {
    shape(avals, p) {
      const [consts, carry, xs] = scanGroups(avals, p);
      const j = p.jaxpr;
      if (j.inBinders.length !== avals.length) fail("scan", `the body takes ${j.inBinders.length} inputs but got ${avals.length}`);
      const expect = [...consts, ...carry, ...xs.map((x) => {
        if (x.ndim === 0 || x.shape[0] !== p.length) fail("scan", `scanned input of type ${x} needs a leading axis of length ${p.length}`);
        return sliceAval(x);
      })];
      j.inAvals.forEach((a, i) => {
        if (!sameType(a, expect[i]!)) fail("scan", `the body expects input ${i} of type ${a} but got ${expect[i]}`);
      });
      const outs = j.outAvals;
      checkCarry("scan", carry, outs.slice(0, p.nCarry));
      return [...carry, ...outs.slice(p.nCarry).map((y) => stackAval(y, p.length))];
    },
    impl(args, p) {
      const [consts, init, xs] = scanGroups(args, p);
      const inputs = new Set<Tensor>(args);
      const nY = p.jaxpr.outs.length - p.nCarry;
      const ys: Tensor[][] = Array.from({ length: nY }, () => new Array<Tensor>(p.length));
      const held = new Set<Tensor>();
      let carry = init;
      for (let k = 0; k < p.length; k++) {
        const t = p.reverse ? p.length - 1 - k : k;
        const xt = stepRows(xs, t);
        const outs = evalJaxpr(p.jaxpr, [...consts, ...carry, ...xt]);
        const next = outs.slice(0, p.nCarry);
        outs.slice(p.nCarry).forEach((y, j) => {
          ys[j]![t] = y;
          held.add(y);
        });
        const keep = (x: Tensor) => inputs.has(x) || held.has(x) || next.includes(x);
        release([...carry, ...xt], keep);
        carry = next;
      }
      const stacked = ys.map((rows, j) => stackRows(rows, p.jaxpr.outAvals[p.nCarry + j]!));
      release([...held], (x) => inputs.has(x) || carry.includes(x) || stacked.includes(x));
      return [...carry, ...stacked];
    },
    jvp(primals, tangents, p) {
      const [consts, carry, xs] = scanGroups(primals, p);
      const [tcs, tcar, txs] = scanGroups(tangents, p);
      const fl = (g: Tensor[]) => g.map((x) => isFloat(x.dtype));
      const [cFl, rFl, xFl] = [fl(consts), fl(carry), fl(xs)];
      const strongT = (ts: Tensor[], ps: Tensor[], f: boolean[]) => idxWhere(f).map((i) => coerce(ts[i]!, ps[i]!.aval.strong()));
      const [tc, tr, tx] = [strongT(tcs, consts, cFl), strongT(tcar, carry, rFl), strongT(txs, xs, xFl)];
      const outAvals = p.jaxpr.outAvals;
      const m = p.nCarry;
      const yFl = outAvals.slice(m).map((a) => isFloat(a.dtype));
      const sizes = [consts.length, tc.length, carry.length, tr.length, xs.length, tx.length];
      const body = traceBody((...vs) => {
        const g: Tensor[][] = [];
        let o = 0;
        for (const s of sizes) g.push(vs.slice(o, (o += s)));
        const spread = (f: boolean[], t: Tensor[]) => {
          let q = 0;
          return f.map((b) => (b ? t[q++]! : null));
        };
        const [po, to] = jvpFlat((...ys) => evalJaxpr(p.jaxpr, ys), [...g[0]!, ...g[2]!, ...g[4]!], [...spread(cFl, g[1]!), ...spread(rFl, g[3]!), ...spread(xFl, g[5]!)]);
        const tan = (i: number) => coerce(to[i] ?? zerosOf(outAvals[i]!.strong()), outAvals[i]!.strong());
        return [...po.slice(0, m), ...idxWhere(rFl).map(tan), ...po.slice(m), ...idxWhere(yFl).map((j) => tan(m + j))];
      }, [...consts, ...tc, ...carry, ...tr].map((x) => x.aval).concat([...xs, ...tx].map((x) => sliceAval(x.aval))));
      const params: ScanP = { jaxpr: body.jaxpr, nConsts: body.consts.length + consts.length + tc.length, nCarry: m + tr.length, length: p.length, reverse: p.reverse };
      const outs = bind(scanP, [...body.consts, ...consts, ...tc, ...carry, ...tr, ...xs, ...tx], params);
      const nC = m + tr.length, nY = yFl.length;
      let k = m, q = nC + nY;
      const tCarry = rFl.map((f) => (f ? outs[k++]! : null));
      const tYs = yFl.map((f) => (f ? outs[q++]! : null));
      return [[...outs.slice(0, m), ...outs.slice(nC, nC + nY)], [...tCarry, ...tYs]];
    },
    partialEval(trace, tracers, p) {
      const known = (tracers as PETracer[]).map((t) => t.pval.known);
      const [kc, kr, kx] = scanGroups(known, p);
      const cU = kc.map((k) => k === null), xU = kx.map((k) => k === null);
      let rU = kr.map((k) => k === null);
      const fix = carryFixpoint(p.jaxpr, cU, rU, xU, p.nCarry);
      rU = fix.carryU;
      const unkOut = [...rU, ...fix.split.unknownOut.slice(p.nCarry)];
      if (unkOut.every((u) => u)) return stageEqn(trace, scanP, tracers, p);
      const kj = fix.split.known;
      const nonNull = (xs: (Tensor | null)[], u: boolean[]) => pick(xs, u, false) as Tensor[];
      const kParams: ScanP = { jaxpr: kj.jaxpr, nConsts: kj.consts.length + nonNull(kc, cU).length, nCarry: rU.filter((u) => !u).length, length: p.length, reverse: p.reverse };
      const knownOuts = bind(scanP, [...kj.consts, ...nonNull(kc, cU), ...nonNull(kr, rU), ...nonNull(kx, xU)], kParams);
      // the staged scan recomputes the primal part in the backward pass (rematerialisation)
      const staged = pick(stageEqn(trace, scanP, tracers, p), unkOut);
      return mergeOuts(trace, unkOut, knownOuts, staged);
    },
    transpose(cts, args, p) {
      return scanTranspose(cts, args, p);
    },
    batch(args, dims, p) {
      const size = axisSize(args, dims);
      const [consts, carry, xs] = scanGroups(args, p);
      const [cD, rD, xD] = scanGroups(dims, p);
      const consts0 = consts.map((c, i) => toAxis(c, cD[i]!, size));
      // axis 0 is the scan axis, so a batched xs keeps its batch axis at 1 (axis 0 of each step's slice)
      const xs1 = xs.map((x, i) => toAxis(x, xD[i]!, size, 1));
      const inD = [...cD.map((d) => (d === null ? null : 0)), ...rD, ...xD.map((d) => (d === null ? null : 0))];
      let carryB = rD.map((d) => d !== null);
      for (;;) {
        const carry0 = carry.map((c, i) => toAxis(c, rD[i]!, size, 0, carryB[i]));
        const dimsIn = inD.map((d, i) => (i >= p.nConsts && i < p.nConsts + p.nCarry ? (carryB[i - p.nConsts] ? 0 : null) : d));
        let outB: boolean[] = [];
        const body = traceBody((...vs) => {
          const [o, ob] = batchEval((...ys) => evalJaxpr(p.jaxpr, ys), size, dimsIn, vs, carryB);
          outB = ob;
          return o;
        }, [...consts0, ...carry0].map((x) => x.aval).concat(xs1.map((x) => sliceAval(x.aval))));
        if (outB.slice(0, p.nCarry).some((b, i) => b && !carryB[i])) {
          carryB = carryB.map((b, i) => b || outB[i]!);
          continue;
        }
        const params: ScanP = { ...p, jaxpr: body.jaxpr, nConsts: body.consts.length + consts.length };
        const outs = bind(scanP, [...body.consts, ...consts0, ...carry0, ...xs1], params);
        return [outs, [...carryB.map((b) => (b ? 0 : null)), ...outB.slice(p.nCarry).map((b) => (b ? 1 : null))]];
      }
    },
  },
  (p) => `length=${p.length} reverse=${p.reverse} nConsts=${p.nConsts} nCarry=${p.nCarry} jaxpr=\n${printJaxpr(p.jaxpr, 0, 6)}`,
);

/** Grow the set of unknown carries until the body maps it into itself; the split is of the final set. */
function carryFixpoint(j: Jaxpr, cU: boolean[], rU0: boolean[], xU: boolean[], m: number) {
  let carryU = rU0;
  for (;;) {
    const split = splitKnown(j, [...cU, ...carryU, ...xU], [...carryU, ...j.outs.slice(m).map(() => false)]);
    const grown = carryU.map((u, i) => u || split.unknownOut[i]!);
    if (grown.every((u, i) => u === carryU[i])) return { carryU, split };
    carryU = grown;
  }
}

/**
 * Transpose of a scan linear in its UndefPrimal inputs: a forward scan recomputes the known carry
 * before every step, then a scan in the opposite direction transposes one step at a time, carrying the
 * carry cotangent and summing the cotangents of linear consts.
 */
function scanTranspose(cts: (Tensor | null)[], args: (Tensor | UndefPrimal)[], p: ScanP): (Tensor | null)[] {
  const n = p.nConsts, m = p.nCarry, L = p.length;
  const lin = args.map((a) => a instanceof UndefPrimal);
  const [consts, carry, xs] = scanGroups(args, p);
  const [cL, rL0, xL] = scanGroups(lin, p);
  const { carryU: rL, split } = carryFixpoint(p.jaxpr, cL, rL0, xL, m);
  const ysL = split.unknownOut.slice(m);
  const avals = p.jaxpr.inAvals;
  const kConsts = pick(consts, cL, false) as Tensor[];
  const kXs = pick(xs, xL, false) as Tensor[];
  const kCarry = pick(carry, rL, false) as Tensor[];
  const nK = kCarry.length;
  // (a) the known carry entering every step, as the ys of a forward scan over the known inputs
  let hist: Tensor[] = [];
  if (nK > 0) {
    const kj = split.known;
    const carryIn = kj.jaxpr.inBinders.slice(kj.consts.length + kConsts.length, kj.consts.length + kConsts.length + nK);
    const fwd = dce(new Jaxpr(kj.jaxpr.inBinders, kj.jaxpr.eqns, [...kj.jaxpr.outs.slice(0, nK), ...carryIn]));
    const ps: ScanP = { jaxpr: fwd, nConsts: kj.consts.length + kConsts.length, nCarry: nK, length: L, reverse: p.reverse };
    hist = bind(scanP, [...kj.consts, ...kConsts, ...kCarry, ...kXs], ps).slice(nK);
  }
  // (b) the transposed steps, in the opposite order
  const linC = idxWhere(cL), linR = idxWhere(rL), linX = idxWhere(xL);
  const ctY = idxWhere(ysL).filter((j) => cts[m + j] !== null);
  const ctCarry0 = linR.map((i) => coerce(cts[i] ?? zerosOf(avals[n + i]!), avals[n + i]!));
  const acc0 = linC.map((i) => zerosOf(avals[i]!));
  const sizes = [kConsts.length, linR.length, linC.length, nK, kXs.length, ctY.length];
  const body = traceBody((...vs) => {
    const g: Tensor[][] = [];
    let o = 0;
    for (const s of sizes) g.push(vs.slice(o, (o += s)));
    const [kc, ctR, acc, kr, kx, cty] = g as [Tensor[], Tensor[], Tensor[], Tensor[], Tensor[], Tensor[]];
    const fill = (mask: boolean[], vals: Tensor[]) => {
      let q = 0;
      return mask.map((l) => (l ? null : vals[q++]!));
    };
    const ins = [...fill(cL, kc), ...fill(rL, kr), ...fill(xL, kx)];
    const ctsOut: (Tensor | null)[] = p.jaxpr.outs.map(() => null);
    linR.forEach((i, k) => (ctsOut[i] = ctR[k]!));
    ctY.forEach((j, k) => (ctsOut[m + j] = cty[k]!));
    const r = transposeJaxpr(p.jaxpr, ins, ctsOut);
    const ct = (i: number) => coerce(r[i] ?? zerosOf(avals[i]!), avals[i]!);
    return [...linR.map((i) => ct(n + i)), ...linC.map((i, k) => add(acc[k]!, ct(i))), ...linX.map((i) => ct(n + m + i))];
  }, [...kConsts, ...ctCarry0, ...acc0].map((x) => x.aval).concat([...hist, ...kXs, ...ctY.map((j) => cts[m + j]!)].map((x) => sliceAval(x.aval))));
  const ps: ScanP = { jaxpr: body.jaxpr, nConsts: body.consts.length + kConsts.length, nCarry: linR.length + linC.length, length: L, reverse: !p.reverse };
  const outs = bind(scanP, [...body.consts, ...kConsts, ...ctCarry0, ...acc0, ...hist, ...kXs, ...ctY.map((j) => cts[m + j]!)], ps);
  const res: (Tensor | null)[] = args.map(() => null);
  linR.forEach((i, k) => {
    if (lin[n + i]) res[n + i] = outs[k]!;
  });
  linC.forEach((i, k) => (res[i] = outs[linR.length + k]!));
  linX.forEach((i, k) => (res[n + m + i] = outs[linR.length + linC.length + k]!));
  return res;
}
