// Layers of src/nn/extra.ts and src/nn/loss.ts against the PyTorch cases of test/fixtures/nn_ops.json,
// through the PyTorch-style path (requiresGrad + backward), including PReLU's learnable weight.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { nn } from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";
import { fixtureToTensor, fixtureValues } from "../../src/testing/index.js";
import { CASES, type NnOpCase } from "../ops/nn_ops_fixtures.js";

type T = tr.Tensor;
const byId = (id: string): NnOpCase => {
  const c = CASES.find((k) => k.id === id);
  if (!c) throw new Error(`no fixture ${id}`);
  return c;
};
const tol = { rtol: 1e-9, atol: 1e-10 };

/** Forward a layer on a case's inputs and backpropagate its cotangent; checks output and input gradients. */
function run(id: string, layer: { forward(...xs: T[]): T }, nArgs?: number): T[] {
  const c = byId(id);
  const xs = c.args.slice(0, nArgs ?? c.args.length).map((a) => fixtureToTensor(a as never));
  xs.forEach((x, i) => (x.requiresGrad = c.grads[i] !== null));
  const y = layer.forward(...xs);
  assertClose(values(y), fixtureValues(c.out), { ...tol, msg: `${id} forward` });
  y.mul(fixtureToTensor(c.cotangent)).sum().backward();
  xs.forEach((x, i) => c.grads[i] && assertClose(values(x.grad!), fixtureValues(c.grads[i]!), { ...tol, msg: `${id} grad ${i}` }));
  return xs;
}

for (const backend of BACKENDS) {
  describe(`nn layers for the functional ops [${backend}]`, () => {
    const cases: [string, () => { forward(...xs: T[]): T }][] = [
      ["hardswish", () => new nn.Hardswish()],
      ["softsign", () => new nn.Softsign()],
      ["tanhshrink", () => new nn.Tanhshrink()],
      ["hardshrink", () => new nn.Hardshrink(0.7)],
      ["softshrink", () => new nn.Softshrink(0.7)],
      ["relu6", () => new nn.ReLU6()],
      ["celu", () => new nn.CELU(1.25)],
      ["rrelu_eval", () => new nn.RReLU(0.1, 0.3).eval()],
      ["threshold", () => new nn.Threshold(0.4, -2)],
      ["logsigmoid", () => new nn.LogSigmoid()],
      ["glu_dim1", () => new nn.GLU(1)],
      ["cosine_similarity", () => new nn.CosineSimilarity(1)],
      ["pairwise_distance_p1", () => new nn.PairwiseDistance(1, 1e-6, true)],
      ["pixel_shuffle", () => new nn.PixelShuffle(2)],
      ["pixel_unshuffle", () => new nn.PixelUnshuffle(3)],
      ["interpolate/bilinear/True/scale", () => new nn.Upsample({ scaleFactor: 1.5, mode: "bilinear", alignCorners: true })],
      ["interpolate/nearest/None/size", () => new nn.Upsample({ size: [7, 3] })],
      ["interpolate/nearest/None/scale", () => new nn.UpsamplingNearest2d({ scaleFactor: 1.5 })],
      ["interpolate/bilinear/True/size", () => new nn.UpsamplingBilinear2d({ size: [7, 3] })],
      ["hinge_embedding/other_labels", () => new nn.HingeEmbeddingLoss({ reduction: "none" })],
      ["unfold/all", () => new nn.Unfold([2, 3], { dilation: [2, 1], padding: 1, stride: [1, 2] })],
      ["fold/all", () => new nn.Fold([5, 6], [2, 3], { dilation: [2, 1], padding: 1, stride: [1, 2] })],
      ["smooth_l1/sum", () => new nn.SmoothL1Loss({ reduction: "sum", beta: 0.8 })],
      ["kl_div/batchmean_log_target", () => new nn.KLDivLoss({ reduction: "batchmean", logTarget: true })],
      ["margin_ranking/mean", () => new nn.MarginRankingLoss({ margin: 0.3 })],
      ["hinge_embedding/none", () => new nn.HingeEmbeddingLoss({ reduction: "none", margin: 1.5 })],
      ["cosine_embedding/mean", () => new nn.CosineEmbeddingLoss({ margin: 0.2 })],
      ["triplet_margin/swap_p1", () => new nn.TripletMarginLoss({ p: 1, swap: true })],
      ["poisson_nll/full_nolog", () => new nn.PoissonNLLLoss({ logInput: false, full: true })],
      ["gaussian_nll/full_var_bcast", () => new nn.GaussianNLLLoss({ full: true })],
      ["multi_margin/mean", () => new nn.MultiMarginLoss()],
      ["soft_margin/sum", () => new nn.SoftMarginLoss({ reduction: "sum" })],
      ["multilabel_soft_margin/mean", () => new nn.MultiLabelSoftMarginLoss()],
    ];
    for (const [id, make] of cases) test(id, () => withBackend(backend, () => void run(id, make())));

    test("PReLU: per-channel learnable weight gets PyTorch's gradient; default init 0.25", () =>
      withBackend(backend, () => {
        const c = byId("prelu_channels");
        const m = new nn.PReLU({ numParameters: 3, dtype: "float64" });
        assert.deepEqual(values(m.weight), [0.25, 0.25, 0.25]);
        assert.deepEqual([...m.namedParameters()].map(([k]) => k), ["weight"]);
        m.loadStateDict({ weight: fixtureToTensor(c.args[1] as never) });
        run("prelu_channels", m, 1);
        assertClose(values(m.weight.grad!), fixtureValues(c.grads[1]!), { ...tol, msg: "d/dweight" });
      }));
    test("RReLU in training mode says it is not implemented", () =>
      withBackend(backend, () => assert.throws(() => new nn.RReLU().forward(tr.zeros([2])), /RReLU: training mode .* is not implemented/)));
  });
}
