// Mistakes users make from habit fail where they are made, naming the function, the parameter and what
// was expected, instead of deep inside a later call or silently.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { nn, optim, data } from "../../src/index.js";
import { BACKENDS, withBackend } from "../helpers.js";

const err = (re: RegExp) => (e: unknown) => e instanceof tr.TridentError && re.test(e.message);

for (const backend of BACKENDS) {
  describe(`call-site errors [${backend}]`, () => {
    test("a non-function where a function is expected fails at definition", () =>
      withBackend(backend, () => {
        const f = (x: tr.Tensor) => x.sum();
        const fwd = (x: tr.Tensor): [tr.Tensor, null] => [x, null];
        // JAX's custom_vjp decorates and then defvjp(fwd, bwd); an options object is the usual slip here
        assert.throws(() => tr.customVjp(f, { fwd, bwd: () => [] } as never, undefined as never),
          err(/^customVjp: fwd must be a function, got an object with keys \{fwd, bwd\} \(pass fwd and bwd as separate arguments: tr\.customVjp\(f, fwd, bwd\)\)$/));
        assert.throws(() => tr.customVjp(f, fwd, null as never), err(/^customVjp: bwd must be a function, got null$/));
        assert.throws(() => tr.customJvp(f, 3 as never), err(/^customJvp: jvpRule must be a function, got the number 3$/));
        assert.throws(() => tr.grad({ argnums: 0 } as never), err(/^grad: f must be a function, got an object with keys \{argnums\}$/));
        assert.throws(() => tr.valueAndGrad("loss" as never), err(/^valueAndGrad: f must be a function, got the string "loss"$/));
        assert.throws(() => tr.jit(undefined as never), err(/^jit: f must be a function, got undefined$/));
        assert.throws(() => tr.vmap(tr.zeros([2]) as never), err(/^vmap: f must be a function, got a tensor f32\[2\]$/));
        assert.throws(() => tr.vjp(null as never, tr.zeros([2])), err(/^vjp: f must be a function, got null$/));
        assert.throws(() => tr.jvp(f, tr.zeros([2]) as never, [tr.zeros([2])]), err(/^jvp: primals and tangents must be arrays/));
        assert.throws(() => tr.checkpoint([f] as never), err(/^checkpoint: f must be a function, got an array of length 1$/));
        assert.throws(() => tr.lax.cond(tr.tensor(true), f, 0 as never, tr.zeros([2])), err(/^cond: falseFn must be a function/));
        assert.throws(() => tr.lax.scan({} as never, 0, tr.zeros([2])), err(/^scan: f must be a function/));
        assert.throws(() => tr.lax.whileLoop(f as never, null as never, 0), err(/^whileLoop: bodyFn must be a function/));
        assert.throws(() => tr.lax.fori(0, 3, "body" as never, 0), err(/^fori: bodyFn must be a function/));
        assert.throws(() => tr.scope(tr.zeros([1]) as never), err(/^scope: fn must be a function/));
        assert.throws(() => tr.noGrad(1 as never), err(/^noGrad: fn must be a function/));
      }));

    test("unknown option keys are rejected with the known ones (and a guess)", () =>
      withBackend(backend, () => {
        const f = (x: tr.Tensor) => x.sum();
        assert.throws(() => tr.grad(f, { argnum: 0 } as never), err(/^grad: unknown option "argnum" \(did you mean "argnums"\?\); known options are argnums, hasAux$/));
        assert.throws(() => tr.valueAndGrad(f, { has_aux: true } as never), err(/unknown option "has_aux" \(did you mean "hasAux"\?\)/));
        assert.throws(() => tr.jit(f, { static_argnums: [1] } as never), err(/^jit: unknown option "static_argnums" \(did you mean "staticArgnums"\?\); known options are staticArgnums, debug$/));
        assert.throws(() => tr.vmap(f, { in_axes: 0 } as never), err(/did you mean "inAxes"/));
        assert.throws(() => tr.jacrev(f, { argnums: 0, x: 1 } as never), err(/^jacrev: unknown option "x"; known options are argnums$/));
        assert.throws(() => tr.lax.scan((c: tr.Tensor) => [c, null], 0, null, { lenght: 3 } as never), err(/did you mean "length"/));
        assert.throws(() => tr.zeros([1]).sum().backward(undefined, { retain_graph: true } as never), err(/^backward: unknown option "retain_graph" \(did you mean "retainGraph"\?\)/));
        assert.throws(() => tr.grad(f, 0 as never), err(/^grad: options must be an object, got the number 0$/));
        assert.throws(() => new nn.Linear(2, 3, { useBias: false } as never), err(/^Linear: unknown option "useBias"; known options are bias, dtype$/));
        assert.throws(() => new nn.Conv2d(1, 2, 3, { padding_mode: "zeros" } as never), err(/^Conv2d: unknown option "padding_mode" \(did you mean "paddingMode"\?\)/));
        assert.throws(() => new nn.ConvTranspose2d(1, 2, 3, { output_padding: 1 } as never), err(/did you mean "outputPadding"/));
        assert.throws(() => new nn.MaxPool2d(2, { strides: 2 } as never), err(/^MaxPool2d: unknown option "strides" \(did you mean "stride"\?\)/));
        assert.throws(() => new nn.BatchNorm2d(4, { track_running_stats: false } as never), err(/did you mean "trackRunningStats"/));
        assert.throws(() => new nn.LayerNorm(4, { epsilon: 1e-5 } as never), err(/^LayerNorm: unknown option "epsilon"; known options are eps, elementwiseAffine, bias, dtype$/));
        assert.throws(() => new nn.LSTM(4, 8, { batch_first: true } as never), err(/^LSTM: unknown option "batch_first" \(did you mean "batchFirst"\?\)/));
        assert.throws(() => new nn.LSTM(4, 8, { nonlinearity: "relu" } as never), err(/^LSTM: unknown option "nonlinearity"/));
        assert.doesNotThrow(() => new nn.RNN(4, 8, { nonlinearity: "relu" }));
        assert.throws(() => new nn.TransformerEncoderLayer(8, 2, { dim_feedforward: 16 } as never), err(/did you mean "dimFeedforward"/));
        assert.throws(() => new nn.MultiheadAttention(8, 2, { batchfirst: true } as never), err(/did you mean "batchFirst"/));
        assert.throws(() => new nn.Embedding(5, 2, { padding_idx: 0 } as never), err(/did you mean "paddingIdx"/));
        assert.throws(() => new optim.Adam([tr.zeros([1]).requiresGrad_()], { betas: [0.9, 0.99], weight_decay: 0 } as never), err(/did you mean "weightDecay"/));
        assert.throws(() => new data.DataLoader(new data.TensorDataset([tr.zeros([4, 1])]), { batch_size: 2 } as never), err(/^DataLoader: unknown option "batch_size" \(did you mean "batchSize"\?\)/));
      }));

    test("fit, evaluate and predict check their options before any work", async () => {
      const prev = tr.getBackend().name;
      tr.setBackend(backend);
      try {
        const model = new nn.Linear(2, 1);
        const xy: [tr.Tensor, tr.Tensor] = [tr.zeros([4, 2]), tr.zeros([4, 1])];
        await assert.rejects(tr.fit(model, xy, { optimizer: "sgd", loss: "mse", epoch: 2 } as never), err(/^fit: unknown option "epoch" \(did you mean "epochs"\?\)/));
        await assert.rejects(tr.fit(model, xy, { optimizer: "sgd", loss: "mse", batch_size: 2 } as never), err(/did you mean "batchSize"/));
        await assert.rejects(tr.evaluate(model, xy, { loss: "mse", verbose: 0 } as never), err(/^evaluate: unknown option "verbose"; known options are loss, metrics, batchSize, jit$/));
        await assert.rejects(tr.predict(model, xy[0], { batchsize: 2 } as never), err(/^predict: unknown option "batchsize" \(did you mean "batchSize"\?\)/));
      } finally {
        tr.setBackend(prev);
      }
    });
  });
}

describe("reductions reject PyTorch's option names with the NumPy ones to use", () => {
  test("dim / keepdim", () => {
    const x = tr.ones([2, 3]);
    assert.throws(() => x.sum({ dim: 1 } as never), err(/^sum: unknown option "dim" \(did you mean "axis"\?\); known options are axis, keepdims$/));
    assert.throws(() => tr.mean(x, { axis: 1, keepdim: true } as never), err(/^mean: unknown option "keepdim" \(did you mean "keepdims"\?\)/));
    assert.throws(() => x.max({ dim: 0 } as never), err(/^max: unknown option "dim"/));
    assert.throws(() => x.argmax({ dim: 0 } as never), err(/^argmax: unknown option "dim"/));
    assert.throws(() => x.std({ unbiased: true } as never), err(/^var: unknown option "unbiased"; known options are axis, keepdims, ddof, correction$/));
    assert.throws(() => tr.cumsum(x, { dim: 0 } as never), err(/^cumsum: unknown option "dim" \(did you mean "axis"\?\)/));
    assert.deepEqual(Array.from(x.sum({ axis: 1 }).dataSync()), [3, 3]);
  });
});
