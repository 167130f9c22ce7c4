// The PyTorch cases of test/fixtures/nn_ops.json (gen/nn_ops.py) and how each maps onto a Trident call.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tr from "../../src/index.js";
import { fixtureToTensor, type FixtureTensor } from "../../src/testing/index.js";

export interface NnOpCase {
  id: string;
  op: string;
  args: (FixtureTensor | unknown)[];
  params: Record<string, unknown>;
  out: FixtureTensor;
  cotangent: FixtureTensor;
  grads: (FixtureTensor | null)[];
}
const file = fileURLToPath(new URL("../fixtures/nn_ops.json", import.meta.url));
export const CASES: NnOpCase[] = (JSON.parse(readFileSync(file, "utf8")) as { cases: NnOpCase[] }).cases;

const isT = (a: unknown): a is FixtureTensor => typeof a === "object" && a !== null && "dtype" in a && "shape" in a;
/** Inputs of a case: float tensors in `dtype`, the others as stored. */
export function inputs(c: NnOpCase, dtype: tr.DType): tr.Tensor[] {
  return c.args.map((a) => (isT(a) ? fixtureToTensor(a, { floatDtype: dtype }) : tr.tensor(a as number)));
}
/** Indices of the arguments PyTorch differentiated. */
export const diffArgs = (c: NnOpCase): number[] => c.grads.flatMap((g, i) => (g ? [i] : []));

type T = tr.Tensor;
/** The Trident call of a case. */
export function caller(c: NnOpCase): (...xs: T[]) => T {
  const p = c.params as Record<string, never>;
  const red = p.reduction !== undefined ? { reduction: p.reduction } : {};
  switch (c.op) {
    case "hardswish": return (x) => tr.hardswish(x);
    case "softsign": return (x) => tr.softsign(x);
    case "tanhshrink": return (x) => tr.tanhshrink(x);
    case "hardshrink": return (x) => tr.hardshrink(x, p.lambd);
    case "softshrink": return (x) => tr.softshrink(x, p.lambd);
    case "relu6": return (x) => tr.relu6(x);
    case "celu": return (x) => tr.celu(x, p.alpha);
    case "rrelu": return (x) => tr.rrelu(x, p.lower, p.upper);
    case "threshold": return (x) => tr.threshold(x, p.threshold, p.value);
    case "logsigmoid": return (x) => tr.logsigmoid(x);
    case "glu": return (x) => tr.glu(x, p.dim);
    case "prelu": return (x, w) => tr.prelu(x, w!);
    case "cosineSimilarity": return (a, b) => tr.cosineSimilarity(a!, b!, { dim: p.dim });
    case "pairwiseDistance": return (a, b) => tr.pairwiseDistance(a!, b!, { p: p.p, keepdim: p.keepdim });
    case "normalize": return (x) => tr.normalize(x, { p: p.p, dim: p.dim });
    case "smoothL1Loss": return (a, b) => tr.smoothL1Loss(a!, b!, { ...red, beta: p.beta });
    case "klDiv": return (a, b) => tr.klDiv(a!, b!, { ...red, logTarget: p.logTarget });
    case "marginRankingLoss": return (a, b, y) => tr.marginRankingLoss(a!, b!, y!, { ...red, margin: p.margin });
    case "hingeEmbeddingLoss": return (a, y) => tr.hingeEmbeddingLoss(a!, y!, { ...red, margin: p.margin });
    case "softMarginLoss": return (a, y) => tr.softMarginLoss(a!, y!, red);
    case "multilabelSoftMarginLoss": return (a, y) => tr.multilabelSoftMarginLoss(a!, y!, red);
    case "cosineEmbeddingLoss": return (a, b, y) => tr.cosineEmbeddingLoss(a!, b!, y!, { ...red, margin: p.margin });
    case "tripletMarginLoss": return (a, b, n) => tr.tripletMarginLoss(a!, b!, n!, { ...red, margin: p.margin, p: p.p, swap: p.swap });
    case "poissonNllLoss": return (a, t) => tr.poissonNllLoss(a!, t!, { ...red, logInput: p.logInput, full: p.full });
    case "gaussianNllLoss": return (a, t, v) => tr.gaussianNllLoss(a!, t!, v!, { ...red, full: p.full });
    case "multiMarginLoss": return (a, t) => tr.multiMarginLoss(a!, t!, { ...red, p: p.p, margin: p.margin, ...(p.weight ? { weight: tr.tensor(p.weight as number[], a!.dtype) } : {}) });
    case "pixelShuffle": return (x) => tr.pixelShuffle(x, p.factor);
    case "pixelUnshuffle": return (x) => tr.pixelUnshuffle(x, p.factor);
    case "scaledDotProductAttention":
      return (q, k, v, m) => tr.scaledDotProductAttention(q!, k!, v!, { isCausal: p.isCausal, scale: p.scale, ...(m ? { attnMask: m } : {}) });
    case "interpolate": return (x) => tr.interpolate(x, { mode: p.mode, size: p.size, scaleFactor: p.scaleFactor, alignCorners: p.alignCorners });
    case "unfold": return (x) => tr.unfold(x, p.kernelSize, { dilation: p.dilation, padding: p.padding, stride: p.stride });
    case "fold": return (x) => tr.fold(x, p.outputSize, p.kernelSize, { dilation: p.dilation, padding: p.padding, stride: p.stride });
    case "gridSample": return (x, g) => tr.gridSample(x, g!, { mode: p.mode, paddingMode: p.paddingMode, alignCorners: p.alignCorners });
    case "affineGrid": return (t) => tr.affineGrid(t, p.size, { alignCorners: p.alignCorners });
  }
  throw new Error(`no Trident call for fixture op ${c.op}`);
}
