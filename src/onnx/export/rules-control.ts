/**
 * Call and control-flow primitives. Calls (jit, customVjp, customJvp) are inlined: their derivative
 * rules do not matter for inference. cond becomes If (a chain of Ifs for a switch), whileLoop becomes
 * Loop with the condition evaluated before the loop and at the end of each iteration, and scan
 * becomes Scan (or Loop with a trip count when nothing is scanned over). Bodies read the enclosing
 * graph's values by name, which is how ONNX subgraphs see constants and loop-invariant operands.
 */
import { ClosedJaxpr, Jaxpr } from "../../core/jaxpr.js";
import type { DType } from "../../core/dtype.js";
import type { OnnxGraphProto } from "../proto.js";
import { valueInfo, type AttrVal, type OVal } from "./builder.js";
import { rule, type EqnCtx } from "./emit.js";
import { staticOnly, type SymDim } from "./poly.js";

const INT64_MIN = -(2n ** 63n);

rule("jit", (c) => {
  const closed = c.p["jaxpr"] as ClosedJaxpr;
  const consts: OVal[] = closed.consts.map((t) => ({ name: c.em.tensor(t), dtype: t.dtype, shape: [...t.shape] }));
  return c.jx.emit(closed.jaxpr, [...consts, ...c.ins]);
});

rule(["custom_vjp_call", "custom_jvp_call"], (c) => c.jx.emit(c.p["fun"] as Jaxpr, c.ins));

interface Typed {
  dtype: DType | "int64";
  shape: SymDim[];
}

/** Build a subgraph: `inputs` become its formal inputs, `body` emits its nodes and returns its outputs. */
function subgraph(c: EqnCtx, name: string, inputs: Typed[], body: (ins: OVal[]) => OVal[], outTypes: Typed[]): OnnxGraphProto {
  // the int64 iteration counter of Loop is never read by a jaxpr, so OVal's DType need not name it
  const formals = inputs.map((t) => ({ name: c.em.fresh(`${name}_in`), dtype: t.dtype as DType, shape: t.shape }));
  const [outNames, nodes] = c.em.inSubgraph(() => {
    const outs = body(formals);
    // every output is produced inside the subgraph, never an outer value passed through
    return outs.map((o, i) => c.em.op("Identity", [c.em.materialize(o, outTypes[i]!.shape)]));
  });
  return {
    name: c.em.fresh(name),
    nodes,
    initializers: [],
    sparseInitializers: [],
    inputs: formals.map((f, i) => valueInfo(f.name, inputs[i]!.dtype, f.shape)),
    outputs: outNames.map((n, i) => valueInfo(n, outTypes[i]!.dtype, outTypes[i]!.shape)),
    valueInfo: [],
  };
}

const types = (c: EqnCtx): Typed[] => c.outDtypes.map((dtype, i) => ({ dtype, shape: c.outShapes[i]! }));
const results = (c: EqnCtx, names: string[]): OVal[] => names.map((name, i) => ({ name, dtype: c.outDtypes[i]!, shape: c.outShapes[i]! }));

rule("cond", (c) => {
  const branches = c.p["branches"] as Jaxpr[];
  const ops = c.ins.slice(1);
  const outT = types(c);
  const branch = (k: number) => subgraph(c, `branch${k}`, [], () => c.jx.emit(branches[k]!, ops), outT);
  if (branches.length === 1) return c.jx.emit(branches[0]!, ops);
  if (c.inDtypes[0] === "bool") {
    const names = c.em.node("If", [c.mat(0)], { then_branch: { g: branch(1) }, else_branch: { g: branch(0) } }, outT.length);
    return results(c, names);
  }
  // an index: branch k where k is the first with index < k + 1 (so negative indices pick branch 0)
  const idx = c.mat(0);
  const chain = (k: number): string[] => {
    if (k === branches.length - 1) return c.jx.emit(branches[k]!, ops).map((o, i) => c.em.materialize(o, outT[i]!.shape));
    const pred = c.em.op("Less", [idx, c.em.scalar("int32", k + 1)]);
    const rest = subgraph(c, `branches${k + 1}`, [], () => results(c, chain(k + 1)), outT);
    return c.em.node("If", [pred], { then_branch: { g: branch(k) }, else_branch: { g: rest } }, outT.length);
  };
  return results(c, chain(0));
});

rule("while", (c) => {
  const cond = c.p["cond"] as Jaxpr, body = c.p["body"] as Jaxpr;
  const nc = staticOnly("while", "nCondConsts", c.p["nCondConsts"] as SymDim), nb = staticOnly("while", "nBodyConsts", c.p["nBodyConsts"] as SymDim);
  const cc = c.ins.slice(0, nc), bc = c.ins.slice(nc, nc + nb), init = c.ins.slice(nc + nb);
  const carryT = types(c);
  const scalarBool: Typed = { dtype: "bool", shape: [] };
  const first = c.em.materialize(c.jx.emit(cond, [...cc, ...init])[0]!, []);
  const g = subgraph(
    c,
    "while_body",
    [{ dtype: "int64", shape: [] }, scalarBool, ...carryT],
    (ins) => {
      const carry = ins.slice(2);
      const next = c.jx.emit(body, [...bc, ...carry]);
      const go = c.jx.emit(cond, [...cc, ...next])[0]!;
      return [go, ...next];
    },
    [scalarBool, ...carryT],
  );
  const names = c.em.node("Loop", ["", first, ...init.map((_, i) => c.mat(nc + nb + i))], { body: { g } }, carryT.length);
  return results(c, names);
});

rule("scan", (c) => {
  const j = c.p["jaxpr"] as Jaxpr;
  const n = staticOnly("scan", "nConsts", c.p["nConsts"] as SymDim), m = staticOnly("scan", "nCarry", c.p["nCarry"] as SymDim);
  const length = c.p["length"] as SymDim;
  const reverse = !!c.p["reverse"];
  const consts = c.ins.slice(0, n);
  const nx = c.ins.length - n - m;
  const outT = types(c);
  const carryT = outT.slice(0, m);
  const yT = outT.slice(m).map((t) => ({ dtype: t.dtype, shape: t.shape.slice(1) }));
  const initNames = range(m).map((i) => c.mat(n + i));
  if (nx > 0) {
    const xT = range(nx).map((i) => ({ dtype: c.inDtypes[n + m + i]!, shape: c.inShapes[n + m + i]!.slice(1) }));
    const g = subgraph(c, "scan_body", [...carryT, ...xT], (ins) => c.jx.emit(j, [...consts, ...ins]), [...carryT, ...yT]);
    const attrs: Record<string, AttrVal> = { body: { g }, num_scan_inputs: nx };
    if (reverse) {
      // reversed inputs are read from the end and reversed outputs prepended, which keeps ys in time order
      attrs["scan_input_directions"] = Array<number>(nx).fill(1);
      if (yT.length) attrs["scan_output_directions"] = Array<number>(yT.length).fill(1);
    }
    const names = c.em.node("Scan", [...initNames, ...range(nx).map((i) => c.mat(n + m + i))], attrs, outT.length);
    return results(c, names);
  }
  // nothing to scan over: a counted Loop, whose stacked outputs come out in iteration order
  const scalarBool: Typed = { dtype: "bool", shape: [] };
  const g = subgraph(c, "scan_body", [{ dtype: "int64", shape: [] }, scalarBool, ...carryT], (ins) => [ins[1]!, ...c.jx.emit(j, [...consts, ...ins.slice(2)])], [scalarBool, ...carryT, ...yT]);
  let names = c.em.node("Loop", [c.em.dimScalar(length), "", ...initNames], { body: { g } }, outT.length);
  if (reverse) {
    const em = c.em;
    names = names.map((nm, i) => (i < m ? nm : em.op("Slice", [nm, em.i64([-1]), em.i64([INT64_MIN]), em.i64([0]), em.i64([-1])])));
  }
  return results(c, names);
});

const range = (k: number): number[] => [...Array(k).keys()];
