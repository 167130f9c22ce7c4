/**
 * Max pooling: window_argmax becomes one MaxPool (with its Indices, turned into window offsets), and a
 * window_gather of that arg-max from the same input is the MaxPool's value output. Windowed gathers and
 * scatters on their own appear only in gradient programs, which ONNX does not express.
 */
import { TridentError } from "../../core/errors.js";
import { lowest } from "../../core/prims/window.js";
import { range } from "../../core/prims/util.js";
import { rule, type EqnCtx } from "./emit.js";
import { staticOnly, type SymDim } from "./poly.js";

const nums = (c: EqnCtx, key: string): number[] => (c.p[key] as SymDim[]).map((d) => staticOnly(c.prim, key, d));

/** Per export: MaxPool outputs by the name of the arg-max value they came with, and the input they pooled. */
const pooledBy = new WeakMap<object, Map<string, { x: string; y: string }>>();
function pooled(c: EqnCtx): Map<string, { x: string; y: string }> {
  let m = pooledBy.get(c.em);
  if (!m) pooledBy.set(c.em, (m = new Map()));
  return m;
}

rule("window_argmax", (c) => {
  const em = c.em;
  const [kernel, stride, dilation, padLo, inS, outS] = ["kernel", "stride", "dilation", "padLo", "inShape", "outShape"].map((k) => nums(c, k)) as number[][];
  const nsp = kernel!.length;
  const xShape = c.inShapes[0]!;
  const lead = xShape.length - nsp;
  // MaxPool wants [N, C, spatial…]; other leading axes fold into N (pooling is per channel anyway)
  let x = c.mat(0);
  if (lead !== 2) x = em.op("Reshape", [x, em.i64([-1, 1, ...inS!])]);
  const padHi = range(nsp).map((s) => Math.max(0, (outS![s]! - 1) * stride![s]! + dilation![s]! * (kernel![s]! - 1) + 1 - inS![s]! - padLo![s]!));
  const [y0, ind] = em.node("MaxPool", [x], { kernel_shape: kernel!, strides: stride!, pads: [...padLo!, ...padHi], dilations: dilation! }, 2);
  // Indices are flat positions in the unpadded input; the window offset along axis s is
  // (coordinate − (o·stride − padLo)) / dilation, and the flat offset is row-major over the kernel
  let flat = "";
  let after = 1;
  const coords: string[] = [];
  for (let s = nsp - 1; s >= 0; s--) {
    const h = em.op("Mod", [em.op("Div", [ind!, em.i64([after])]), em.i64([inS![s]!])]);
    after *= inS![s]!;
    const dims = range(2 + nsp).map((d) => (d === 2 + s ? outS![s]! : 1));
    const start = em.i64(range(outS![s]!).map((o) => o * stride![s]! - padLo![s]!), dims);
    coords[s] = em.op("Div", [em.op("Sub", [h, start]), em.i64([dilation![s]!])]);
  }
  let kAfter = 1;
  for (let s = nsp - 1; s >= 0; s--) {
    const term = kAfter === 1 ? coords[s]! : em.op("Mul", [coords[s]!, em.i64([kAfter])]);
    flat = flat ? em.op("Add", [flat, term]) : term;
    kAfter *= kernel![s]!;
  }
  let idx = em.op("Cast", [flat], { to: 6 /* INT32 */ });
  let y = y0!;
  if (lead !== 2) {
    const back = c.em.intVec(c.outShapes[0]!);
    idx = em.op("Reshape", [idx, back]);
    y = em.op("Reshape", [y, back]);
  }
  pooled(c).set(idx, { x: c.ins[0]!.name, y });
  return [{ name: idx, dtype: "int32", shape: c.outShapes[0]! }];
});

rule("window_gather", (c) => {
  const hit = pooled(c).get(c.ins[1]!.name);
  const fill = c.p["fill"] as number;
  if (!hit || hit.x !== c.ins[0]!.name || fill !== lowest(c.inDtypes[0]!)) {
    throw new TridentError("onnx.export: window_gather: only max pooling (a gather at the arg-max of the same input) has an ONNX equivalent");
  }
  return [{ name: hit.y, dtype: c.outDtypes[0]!, shape: c.outShapes[0]! }];
});

rule("window_scatter", () => {
  throw new TridentError("onnx.export: window_scatter (the gradient of max pooling) has no ONNX equivalent; export the forward function");
});
