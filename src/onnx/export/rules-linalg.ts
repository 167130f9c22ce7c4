/**
 * dot_general and conv. dot_general becomes Gemm for a plain 2-D product (folding operand transposes
 * and a following bias add), MatMul when the axes already line up as [..., M, K] @ [..., K, N] after
 * transposes, and Einsum otherwise. conv becomes Conv with the dimension numbers moved into NCHW
 * layout by Transpose, or ConvTranspose when the lhs is dilated (the gradient of a strided conv).
 */
import { TridentError } from "../../core/errors.js";
import { freeAxes } from "../../core/prims/linalg.js";
import { invPerm } from "../../core/prims/structural.js";
import { range } from "../../core/prims/util.js";
import { broadcastShapes, type OVal } from "./builder.js";
import { rule, type EqnCtx } from "./emit.js";
import { staticOnly, type SymDim } from "./poly.js";

const INT64_MAX = 2n ** 63n - 1n;
const isId = (p: readonly number[]) => p.every((v, i) => v === i);
const nums = (c: EqnCtx, xs: unknown, what: string): number[] => (xs as SymDim[]).map((d) => staticOnly(c.prim, what, d));

function transposed(c: EqnCtx, name: string, perm: number[]): string {
  return isId(perm) ? name : c.em.op("Transpose", [name], { perm });
}

/** Operand i, or the operand of the transpose[1,0] that produced it (with a flag saying so). */
function unTransposed(c: EqnCtx, i: number): [string, boolean] {
  const pr = c.producer(i);
  if (pr && pr.eqn.prim.name === "transpose") {
    const perm = pr.eqn.params["perm"] as number[];
    if (perm.length === 2 && perm[0] === 1 && perm[1] === 0) return [c.em.materialize(pr.ins[0]!, c.jx.atomShape(pr.eqn.inputs[0]!)), true];
  }
  return [c.mat(i), false];
}

rule("dot_general", (c): OVal[] => {
  const contract = (c.p["contract"] as SymDim[][]).map((xs) => nums(c, xs, "contracting axes"));
  const batch = (c.p["batch"] as SymDim[][]).map((xs) => nums(c, xs, "batch axes"));
  const lr = c.inShapes[0]!.length, rr = c.inShapes[1]!.length;
  const nb = batch[0]!.length, nc = contract[0]!.length;
  const lFree = freeAxes(lr, contract[0]!, batch[0]!), rFree = freeAxes(rr, contract[1]!, batch[1]!);
  const dt = c.outDtypes[0]!;
  const em = c.em;
  const res = (name: string): OVal[] => [{ name, dtype: dt, shape: c.outShapes[0]! }];

  if (nb === 0 && nc === 1 && lr === 2 && rr === 2 && (dt === "float32" || dt === "float64")) {
    const [a, ta] = unTransposed(c, 0);
    const [b, tb] = unTransposed(c, 1);
    let transA = contract[0]![0] === 0 ? 1 : 0, transB = contract[1]![0] === 1 ? 1 : 0;
    if (ta) transA ^= 1;
    if (tb) transB ^= 1;
    const out = em.fresh("gemm");
    const node = em.push("Gemm", [a, b], [out], { transA, transB });
    const next = c.soleConsumer(0);
    if (next && next.prim.name === "add") c.jx.pendingGemm.set(out, { node, nodes: em.scope.nodes });
    return res(out);
  }

  if (nc === 1) {
    const lhs = transposed(c, c.mat(0), [...batch[0]!, ...lFree, ...contract[0]!]);
    const rhs = transposed(c, c.mat(1), [...batch[1]!, ...contract[1]!, ...rFree]);
    if ((nb === 0 && rr - 1 <= 1) || (nb > 0 && lFree.length === 1 && rFree.length === 1)) return res(em.op("MatMul", [lhs, rhs]));
  }

  // Einsum: one letter per axis, shared by paired batch and contracting axes
  const letters = "abcdefghijklmnopqrstuvwxyz";
  let next = 0;
  const lL: string[] = new Array(lr), rL: string[] = new Array(rr);
  batch[0]!.forEach((a, i) => (lL[a] = rL[batch[1]![i]!] = letters[next++]!));
  contract[0]!.forEach((a, i) => (lL[a] = rL[contract[1]![i]!] = letters[next++]!));
  lFree.forEach((a) => (lL[a] = letters[next++]!));
  rFree.forEach((a) => (rL[a] = letters[next++]!));
  if (next > letters.length) throw new TridentError(`onnx.export: dot_general: too many axes (${next}) for an Einsum equation`);
  const outL = [...batch[0]!.map((a) => lL[a]!), ...lFree.map((a) => lL[a]!), ...rFree.map((a) => rL[a]!)];
  return res(em.op("Einsum", [c.mat(0), c.mat(1)], { equation: `${lL.join("")},${rL.join("")}->${outL.join("")}` }));
});

/** An add whose operand is a Gemm result with no bias yet: the other operand becomes Gemm's C. */
export function fuseGemmBias(c: EqnCtx): OVal[] | null {
  for (const k of [0, 1]) {
    const pending = c.jx.pendingGemm.get(c.ins[k]!.name);
    if (!pending || pending.nodes !== c.em.scope.nodes) continue;
    const other = c.ins[1 - k]!;
    if (other.name === c.ins[k]!.name) continue;
    // C broadcasts unidirectionally to [M, N]; a lazily broadcast bias is exactly that
    if (other.shape.length > 2) continue;
    c.jx.pendingGemm.delete(c.ins[k]!.name);
    const nodes = pending.nodes;
    nodes.splice(nodes.indexOf(pending.node), 1);
    pending.node.inputs.push(other.name);
    // the bias is computed after the Gemm was emitted, so the Gemm moves after it
    nodes.push(pending.node);
    return [{ name: pending.node.outputs[0]!, dtype: c.outDtypes[0]!, shape: c.outShapes[0]! }];
  }
  return null;
}

rule("add", (c) => fuseGemmBias(c) ?? [{ name: c.em.op("Add", c.ins.map((v) => v.name)), dtype: c.outDtypes[0]!, shape: broadcastShapes(c.ins.map((v) => v.shape)) }]);

rule("conv", (c): OVal[] => {
  const p = c.p;
  const strides = nums(c, p["strides"], "strides"), ld = nums(c, p["lhsDilation"], "lhsDilation"), rd = nums(c, p["rhsDilation"], "rhsDilation");
  const padding = (p["padding"] as SymDim[][]).map((pr) => nums(c, pr, "padding"));
  const G = staticOnly("conv", "featureGroupCount", p["featureGroupCount"] as SymDim);
  const B = staticOnly("conv", "batchGroupCount", p["batchGroupCount"] as SymDim);
  const lhsSpec = nums(c, p["lhsSpec"], "lhsSpec"), rhsSpec = nums(c, p["rhsSpec"], "rhsSpec"), outSpec = nums(c, p["outSpec"], "outSpec");
  if (B !== 1) throw new TridentError(`onnx.export: conv: batchGroupCount ${B} (from differentiating a grouped convolution) has no ONNX equivalent`);
  const nsp = strides.length;
  if (nsp === 0) throw new TridentError("onnx.export: conv: ONNX Conv needs at least one spatial axis");
  const em = c.em;
  const sp = range(nsp).map((s) => s + 2);
  let x = transposed(c, c.mat(0), lhsSpec);
  let w = transposed(c, c.mat(1), rhsSpec);
  let y: string;
  if (ld.every((d) => d === 1)) {
    const lo = padding.map((pr) => pr[0]!), hi = padding.map((pr) => pr[1]!);
    const crop = range(nsp).filter((s) => lo[s]! < 0 || hi[s]! < 0);
    if (crop.length) {
      const starts = crop.map((s) => Math.max(0, -lo[s]!));
      const ends = crop.map((s) => (hi[s]! < 0 ? BigInt(hi[s]!) : INT64_MAX));
      x = em.op("Slice", [x, em.i64(starts), em.i64(ends), em.i64(crop.map((s) => s + 2))]);
    }
    const pads = [...lo, ...hi].map((v) => Math.max(0, v));
    y = em.op("Conv", [x, w], { pads, strides, dilations: rd, group: G });
  } else {
    // conv of the lhs dilated by ld = ConvTranspose with stride ld and the kernel flipped, in/out swapped
    const wShape = c.inShapes[1]!;
    const k = rhsSpec.slice(2).map((a) => staticOnly("conv", "kernel size", wShape[a]!));
    const O = staticOnly("conv", "output features", wShape[rhsSpec[0]!]!), I = staticOnly("conv", "input features", wShape[rhsSpec[1]!]!);
    if (G === 1) w = em.op("Transpose", [w], { perm: [1, 0, ...sp] });
    else {
      w = em.op("Reshape", [w, em.i64([G, O / G, I, ...k])]);
      w = em.op("Transpose", [w], { perm: [0, 2, 1, ...sp.map((a) => a + 1)] });
      w = em.op("Reshape", [w, em.i64([G * I, O / G, ...k])]);
    }
    w = em.op("Slice", [w, em.i64(sp.map(() => -1)), em.i64(sp.map(() => -(2n ** 63n))), em.i64(sp), em.i64(sp.map(() => -1))]);
    const full = range(nsp).map((s) => (k[s]! - 1) * rd[s]!);
    const padLo = range(nsp).map((s) => full[s]! - padding[s]![0]!), padHi = range(nsp).map((s) => full[s]! - padding[s]![1]!);
    const pads = [...padLo, ...padHi].map((v) => Math.max(0, v));
    y = em.op("ConvTranspose", [x, w], { pads, strides: ld, dilations: rd, group: G });
    const extra = [...padLo, ...padHi].map((v) => Math.max(0, -v));
    if (extra.some((v) => v > 0)) {
      // positions beyond the full transposed output receive nothing: zeros
      const zero = em.scalar(c.outDtypes[0]!, 0);
      y = em.op("Pad", [y, em.i64([0, 0, ...extra.slice(0, nsp), 0, 0, ...extra.slice(nsp)]), zero]);
    }
    if (strides.some((s) => s > 1)) {
      y = em.op("Slice", [y, em.i64(sp.map(() => 0)), em.i64(sp.map(() => INT64_MAX)), em.i64(sp), em.i64(strides)]);
    }
  }
  return [{ name: transposed(c, y, invPerm(outSpec)), dtype: c.outDtypes[0]!, shape: c.outShapes[0]! }];
});
