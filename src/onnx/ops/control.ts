/**
 * Control flow (If, Loop, Scan), sequences and optionals. Concrete conditions and trip counts run the
 * subgraphs directly (under jit that unrolls them); traced ones map to tr.lax cond / whileLoop / scan,
 * whose bodies evaluate the subgraph with tracers, so shapes must then be static across iterations.
 */
import { fail, fmtShape } from "../../core/errors.js";
import * as E from "../../core/prims/elementwise.js";
import * as S from "../../core/prims/structural.js";
import type { Tensor } from "../../tensor.js";
import { cond as laxCond, scan as laxScan, whileLoop } from "../../transforms/control.js";
import type { OnnxGraphProto } from "../proto.js";
import { TVal, dtypeOf, type OptVal, type SeqVal, type Value } from "../values.js";
import { def, ints, out, tin, topt, type OpCtx } from "./registry.js";
import { DataType, axisOf, hostTensor, int64Val, range } from "./util.js";

const isTensor = (v: Value | null | undefined): v is TVal => !!v && v.kind === "tensor";

function graphAttr(ctx: OpCtx, name: string): OnnxGraphProto {
  const g = ctx.attrs.graph(name);
  if (!g) fail(ctx.op, `attribute ${name} (a graph) is required`);
  return g;
}

/** Concrete boolean of a scalar, or null when traced. */
function concreteBool(v: TVal): boolean | null {
  if (!v.concrete) return null;
  return !!v.values("If", "cond")[0];
}

def("If", {
  noFold: true,
  run(ins, ctx) {
    const c = tin(ins, 0, ctx, "cond");
    const thenG = graphAttr(ctx, "then_branch"), elseG = graphAttr(ctx, "else_branch");
    const b = concreteBool(c);
    if (b !== null) return ctx.subgraph(b ? thenG : elseG, []);
    // traced condition: both branches become jaxprs of one lax.cond
    let elems: number[] = [];
    const branch = (g: OnnxGraphProto) => () => {
      const outs = ctx.subgraph(g, []);
      if (!outs.every(isTensor)) fail(ctx.op, "with a traced condition, branches must return tensors");
      elems = outs.map((o) => (o as TVal).elem);
      return outs.map((o) => (o as TVal).t);
    };
    const pred = S.reshape(E.convert(c.t, "bool"), []);
    const res = laxCond(pred, branch(thenG), branch(elseG)) as Tensor[];
    return res.map((t, i) => out(t, elems[i]));
  },
});

/** Stack per-iteration tensors on a new axis 0 (an empty list needs the element shape from the graph). */
function stackValues(ctx: OpCtx, vals: TVal[], g: OnnxGraphProto, k: number): TVal {
  if (vals.length === 0) {
    const ty = g.outputs[k]?.type;
    const shape = ty && ty.kind === "tensor" && ty.shape && ty.shape.every((d) => typeof d === "number") ? (ty.shape as number[]) : [];
    const elem = ty && ty.kind === "tensor" ? ty.elemType : DataType.FLOAT;
    return new TVal(elem, [0, ...shape], undefined, new Float64Array(0));
  }
  const ts = vals.map((v) => S.reshape(v.t, [1, ...v.shape]));
  for (const v of vals) if (v.shape.join() !== vals[0]!.shape.join()) fail(ctx.op, `scan outputs change shape between iterations (${fmtShape(vals[0]!.shape)} vs ${fmtShape(v.shape)})`);
  return out(S.concatenate(ts, 0), vals[0]!.elem);
}

def("Loop", {
  noFold: true,
  staticInputs: [0],
  run(ins, ctx) {
    const body = graphAttr(ctx, "body");
    const mv = topt(ins, 0, ctx, "M"), cv = topt(ins, 1, ctx, "cond");
    const M = mv ? mv.values(ctx.op, "M")[0]! : Infinity;
    let carried: Value[] = ins.slice(2).map((v, i) => {
      if (!v) fail(ctx.op, `loop-carried input ${i} is missing`);
      return v;
    });
    const nCarry = carried.length;
    const nScan = body.outputs.length - 1 - nCarry;
    if (nScan < 0 || body.inputs.length !== 2 + nCarry) fail(ctx.op, `the body takes ${body.inputs.length} inputs and gives ${body.outputs.length} outputs, which does not fit ${nCarry} loop-carried values`);
    const scans: TVal[][] = range(nScan).map(() => []);
    let condV: TVal = cv ?? new TVal(DataType.BOOL, [], undefined, Uint8Array.of(1));
    let i = 0;
    // a hostile or runaway loop must end: no real model runs this many eager iterations
    const MAX_UNROLL = 100_000;
    for (;;) {
      if (i >= M) break;
      const c = concreteBool(condV);
      if (c === null) {
        if (nScan > 0) fail(ctx.op, "a traced loop condition with scan outputs has no static length; run the model eagerly");
        carried = tracedLoop(ctx, body, i, M, condV, carried);
        break;
      }
      if (!c) break;
      if (i >= MAX_UNROLL) fail(ctx.op, `loop ran more than ${MAX_UNROLL} iterations (M = ${M}); refusing to continue`);
      const outs = ctx.subgraph(body, [int64Val([i], []), condV, ...carried]);
      const nc = outs[0];
      if (!isTensor(nc)) fail(ctx.op, "the body's first output (cond) must be a tensor");
      condV = nc;
      carried = outs.slice(1, 1 + nCarry);
      outs.slice(1 + nCarry).forEach((v, k) => {
        if (!isTensor(v)) fail(ctx.op, "scan outputs must be tensors");
        scans[k]!.push(v);
      });
      i++;
    }
    return [...carried, ...scans.map((vs, k) => stackValues(ctx, vs, body, 1 + nCarry + k))];
  },
});

/** A loop whose condition became traced: lax.whileLoop over (i, cond, carried tensors). */
function tracedLoop(ctx: OpCtx, body: OnnxGraphProto, i0: number, M: number, cond0: TVal, carried0: Value[]): Value[] {
  if (!carried0.every(isTensor)) fail(ctx.op, "a traced loop condition needs tensor loop-carried values");
  const cs = carried0 as TVal[];
  const elems = cs.map((v) => v.elem);
  const init: Tensor[] = [hostTensor("int32", [], [i0]), S.reshape(E.convert(cond0.t, "bool"), []), ...cs.map((v) => v.t)];
  const res = whileLoop(
    (st: Tensor[]) => {
      const [i, c] = st as [Tensor, Tensor];
      return Number.isFinite(M) ? E.and(c, E.less(i, hostTensor("int32", [], [Math.min(M, 2 ** 31 - 1)]))) : c;
    },
    (st: Tensor[]) => {
      const [i, c, ...xs] = st as [Tensor, Tensor, ...Tensor[]];
      const outs = ctx.subgraph(body, [out(i, DataType.INT64), out(c, DataType.BOOL), ...xs.map((x, k) => out(x, elems[k]))]);
      const next = outs.slice(1, 1 + xs.length);
      if (!isTensor(outs[0]) || !next.every(isTensor)) fail(ctx.op, "a traced loop body must return tensors");
      return [E.add(i, hostTensor("int32", [], [1])), S.reshape(E.convert((outs[0] as TVal).t, "bool"), []), ...next.map((v, k) => E.convert((v as TVal).t, xs[k]!.dtype))];
    },
    init,
  ) as Tensor[];
  return res.slice(2).map((t, k) => out(t, elems[k]));
}

def("Scan", {
  noFold: true,
  run(ins, ctx) {
    const body = graphAttr(ctx, "body");
    const nScanIn = ctx.attrs.int("num_scan_inputs");
    if (nScanIn === undefined) fail(ctx.op, "num_scan_inputs is required");
    // opset 8: a leading optional sequence_lens input and a batch axis 0 on everything
    const v8 = ctx.opset < 9;
    const all = v8 ? ins.slice(1) : ins;
    if (!Number.isInteger(nScanIn) || nScanIn < 1 || nScanIn > all.length) fail(ctx.op, `num_scan_inputs ${nScanIn} must be between 1 and the ${all.length} inputs`);
    const nState = all.length - nScanIn;
    if (body.inputs.length !== all.length || body.outputs.length < nState) fail(ctx.op, `the body takes ${body.inputs.length} inputs and gives ${body.outputs.length} outputs, which does not fit ${nState} states and ${nScanIn} scan inputs`);
    const states = range(nState).map((i) => tin(all, i, ctx, `state ${i}`));
    const xs = range(all.length - nState).map((i) => tin(all, nState + i, ctx, `scan input ${i}`));
    if (v8) {
      // run each batch element separately and stack the results
      const B = states[0]?.shape[0] ?? xs[0]!.shape[0]!;
      const per = range(B).map((b) => {
        const pick = (v: TVal) => out(S.reshape(S.slice(v.t, v.shape.map((_, a) => (a === 0 ? b : 0)), v.shape.map((d, a) => (a === 0 ? b + 1 : d))), v.shape.slice(1)), v.elem);
        const dirs = ctx.attrs.ints("directions") ?? xs.map(() => 0);
        return scanCore(ctx, body, states.map(pick), xs.map(pick), xs.map(() => 0), dirs, null, null);
      });
      return per[0]!.map((_, k) => out(S.concatenate(per.map((r) => S.reshape(r[k]!.t, [1, ...r[k]!.shape])), 0), per[0]![k]!.elem));
    }
    const inAxes = (ctx.attrs.ints("scan_input_axes") ?? xs.map(() => 0)).map((a, i) => axisOf(ctx, a, xs[i]!.rank, "scan_input_axes"));
    const inDirs = ctx.attrs.ints("scan_input_directions") ?? xs.map(() => 0);
    const nOut = body.outputs.length - nState;
    const outAxes = ctx.attrs.ints("scan_output_axes") ?? range(nOut).map(() => 0);
    const outDirs = ctx.attrs.ints("scan_output_directions") ?? range(nOut).map(() => 0);
    return scanCore(ctx, body, states, xs, inAxes, inDirs, outAxes, outDirs);
  },
});

function scanCore(ctx: OpCtx, body: OnnxGraphProto, states: TVal[], xs: TVal[], inAxes: number[], inDirs: number[], outAxes: number[] | null, outDirs: number[] | null): TVal[] {
  if (!xs.length) fail(ctx.op, "needs at least one scan input");
  const T = xs[0]!.shape[inAxes[0]!]!;
  xs.forEach((x, i) => {
    if (x.shape[inAxes[i]!] !== T) fail(ctx.op, `scan input ${i} has ${x.shape[inAxes[i]!]} steps on axis ${inAxes[i]} but input 0 has ${T}`);
  });
  // scanned axis first, reversed inputs flipped, so step t reads row t of every input
  const lead = xs.map((x, i) => {
    let t = S.moveaxis(x.t, inAxes[i]!, 0);
    if (inDirs[i]) t = S.rev(t, [0]);
    return t;
  });
  const nState = states.length;
  const traced = !states.every((s) => s.concrete) || !xs.every((x) => x.concrete);
  let finals: TVal[];
  let ys: TVal[];
  if (traced && T > 0) {
    let yElems: number[] = [];
    const stElems = states.map((s) => s.elem);
    const [carry, stacked] = laxScan(
      (c: Tensor[], row: Tensor[]) => {
        const outs = ctx.subgraph(body, [...c.map((t, k) => out(t, stElems[k])), ...row.map((t, k) => out(t, xs[k]!.elem))]);
        if (!outs.every(isTensor)) fail(ctx.op, "scan bodies must return tensors");
        const tv = outs as TVal[];
        yElems = tv.slice(nState).map((v) => v.elem);
        return [tv.slice(0, nState).map((v, k) => E.convert(v.t, c[k]!.dtype)), tv.slice(nState).map((v) => v.t)];
      },
      states.map((s) => s.t),
      lead,
    ) as unknown as [Tensor[], Tensor[]];
    finals = carry.map((t, k) => out(t, stElems[k]));
    ys = stacked.map((t, k) => out(t, yElems[k]));
  } else {
    let cur: Value[] = states;
    const rows: TVal[][] = [];
    for (let t = 0; t < T; t++) {
      const row = lead.map((x, k) => out(S.reshape(S.slice(x, x.shape.map((_, a) => (a === 0 ? t : 0)), x.shape.map((d, a) => (a === 0 ? t + 1 : d))), x.shape.slice(1)), xs[k]!.elem));
      const outs = ctx.subgraph(body, [...cur, ...row]);
      cur = outs.slice(0, nState);
      outs.slice(nState).forEach((v, k) => {
        if (!isTensor(v)) fail(ctx.op, "scan outputs must be tensors");
        (rows[k] ??= []).push(v);
      });
    }
    finals = cur.map((v) => {
      if (!isTensor(v)) fail(ctx.op, "scan states must be tensors");
      return v;
    });
    const nOut = body.outputs.length - nState;
    ys = range(nOut).map((k) => stackValues(ctx, rows[k] ?? [], body, nState + k));
  }
  ys = ys.map((y, k) => {
    let t = y.t;
    if (outDirs?.[k]) t = S.rev(t, [0]);
    const ax = outAxes ? axisOf(ctx, outAxes[k] ?? 0, t.ndim, "scan_output_axes") : 0;
    if (ax !== 0) t = S.moveaxis(t, 0, ax);
    return out(t, y.elem);
  });
  return [...finals, ...ys];
}

// ---------------- sequences ----------------
const seq = (items: Value[], elem: number): SeqVal => ({ kind: "seq", items, elem });

function seqIn(ins: readonly (Value | null)[], i: number, ctx: OpCtx): SeqVal {
  const v = ins[i];
  if (!v || v.kind !== "seq") fail(ctx.op, `input ${i} must be a sequence`);
  return v;
}

function position(ctx: OpCtx, p: TVal | null, n: number, dflt: number, insert = false): number {
  if (!p) return dflt;
  let k = ints(p, ctx, "position")[0]!;
  const hi = insert ? n : n - 1;
  if (k < -n || k > hi) fail(ctx.op, `position ${k} is out of range for a sequence of length ${n}`);
  if (k < 0) k += n;
  return k;
}

def("SequenceEmpty", (_ins, ctx) => {
  const elem = ctx.attrs.int("dtype", DataType.FLOAT);
  dtypeOf(elem, "the sequence element type");
  return [seq([], elem)];
});
def("SequenceConstruct", (ins, ctx) => {
  const items = ins.map((_, i) => tin(ins, i, ctx, `input ${i}`));
  return [seq(items, items[0]?.elem ?? DataType.FLOAT)];
});
def("SequenceInsert", { staticInputs: [2], run(ins, ctx) {
  const s = seqIn(ins, 0, ctx), t = tin(ins, 1, ctx, "tensor");
  const k = position(ctx, topt(ins, 2, ctx, "position"), s.items.length, s.items.length, true);
  const items = [...s.items];
  items.splice(k, 0, t);
  return [seq(items, t.elem)];
} });
def("SequenceAt", { staticInputs: [1], run(ins, ctx) {
  const s = seqIn(ins, 0, ctx);
  const k = position(ctx, tin(ins, 1, ctx, "position"), s.items.length, 0);
  return [s.items[k]!];
} });
def("SequenceErase", { staticInputs: [1], run(ins, ctx) {
  const s = seqIn(ins, 0, ctx);
  const k = position(ctx, topt(ins, 1, ctx, "position"), s.items.length, s.items.length - 1);
  return [seq(s.items.filter((_, i) => i !== k), s.elem)];
} });
def("SequenceLength", (ins, ctx) => [int64Val([seqIn(ins, 0, ctx).items.length], [])]);

def("SplitToSequence", { staticInputs: [1], run(ins, ctx) {
  const x = tin(ins, 0, ctx, "input"), sv = topt(ins, 1, ctx, "split");
  const ax = axisOf(ctx, ctx.attrs.int("axis", 0), x.rank);
  const keep = ctx.attrs.int("keepdims", 1) !== 0;
  const n = x.shape[ax]!;
  let sizes: number[];
  let squeeze = false;
  if (!sv) {
    sizes = range(n).map(() => 1);
    squeeze = !keep;
  } else {
    const s = ints(sv, ctx, "split");
    if (sv.rank === 0 && !(s[0]! > 0)) fail(ctx.op, `split ${s[0]} must be positive`);
    if (sv.rank === 0) sizes = range(Math.ceil(n / s[0]!)).map((i) => Math.min(s[0]!, n - i * s[0]!));
    else sizes = s;
  }
  if (sizes.reduce((a, b) => a + b, 0) !== n) fail(ctx.op, `split sizes ${JSON.stringify(sizes)} do not add up to ${n}`);
  let off = 0;
  const items = sizes.map((sz) => {
    let t = S.slice(x.t, x.shape.map((_, a) => (a === ax ? off : 0)), x.shape.map((d, a) => (a === ax ? off + sz : d)));
    off += sz;
    if (squeeze) t = S.reshape(t, t.shape.filter((_, a) => a !== ax));
    return out(t, x.elem);
  });
  return [seq(items, x.elem)];
} });

def("ConcatFromSequence", (ins, ctx) => {
  const s = seqIn(ins, 0, ctx);
  const newAxis = ctx.attrs.int("new_axis", 0) !== 0;
  const items = s.items.map((_, i) => tin(s.items, i, ctx, `sequence element ${i}`));
  if (!items.length) fail(ctx.op, "cannot concatenate an empty sequence");
  const r = items[0]!.rank + (newAxis ? 1 : 0);
  const ax = axisOf(ctx, ctx.attrs.int("axis", 0), r);
  const ts = items.map((v) => (newAxis ? S.reshape(v.t, [...v.shape.slice(0, ax), 1, ...v.shape.slice(ax)]) : v.t));
  return [out(S.concatenate(ts, ax), items[0]!.elem)];
});

def("SequenceMap", {
  noFold: true,
  run(ins, ctx) {
    const body = graphAttr(ctx, "body");
    const s = seqIn(ins, 0, ctx);
    const extra = ins.slice(1);
    const n = s.items.length;
    const results: Value[][] = range(body.outputs.length).map(() => []);
    for (let i = 0; i < n; i++) {
      const args = [s.items[i]!, ...extra.map((v) => (v && v.kind === "seq" ? v.items[i]! : v!))];
      ctx.subgraph(body, args).forEach((o, k) => results[k]!.push(o));
    }
    return results.map((items, k) => {
      const ty = body.outputs[k]?.type;
      const elem = items[0] && items[0].kind === "tensor" ? items[0].elem : ty && ty.kind === "tensor" ? ty.elemType : DataType.FLOAT;
      return seq(items, elem);
    });
  },
});

// ---------------- optionals ----------------
def("Optional", (ins, ctx) => {
  const v = ins[0];
  if (v) return [{ kind: "opt", value: v, elem: v.kind === "tensor" ? v.elem : v.kind === "seq" ? v.elem : v.elem } as OptVal];
  const tp = ctx.attrs.get("type")?.tp;
  const elem = tp && tp.kind === "tensor" ? tp.elemType : tp && tp.kind === "sequence" && tp.elem?.kind === "tensor" ? tp.elem.elemType : 0;
  return [{ kind: "opt", value: null, elem } as OptVal];
});
def("OptionalHasElement", (ins) => {
  const v = ins[0];
  const has = !!v && (v.kind !== "opt" || v.value !== null);
  return [new TVal(DataType.BOOL, [], undefined, Uint8Array.of(has ? 1 : 0))];
});
def("OptionalGetElement", (ins, ctx) => {
  const v = ins[0];
  if (!v) fail(ctx.op, "input is required");
  if (v.kind !== "opt") return [v];
  if (v.value === null) fail(ctx.op, "the optional is empty");
  return [v.value];
});
