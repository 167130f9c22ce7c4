import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as optim from "../../src/optim/index.js";
import { BACKENDS, assertClose, values, withBackend } from "../helpers.js";

function withGrads(grads: number[][], dtype: tr.DType = "float64"): tr.Tensor[] {
  return grads.map((g) => {
    const p = tr.zeros([g.length], dtype);
    p.grad = tr.keep(tr.tensor(g, { dtype }) as tr.EagerTensor);
    return p;
  });
}

for (const backend of BACKENDS) {
  describe(`optim gradient clipping [${backend}]`, () => {
    test("clipGradNorm: total 2-norm over all grads, scale maxNorm / (norm + 1e-6), returns the norm before clipping", () =>
      withBackend(backend, () => {
        const ps = withGrads([[3, 4], [12]]);
        const before = tr.memory().bytes;
        const norm = optim.clipGradNorm(ps, 6.5);
        assertClose(values(norm), [13], { rtol: 1e-15 }); // sqrt(9 + 16 + 144)
        const k = 6.5 / (13 + 1e-6);
        assertClose(values(ps[0]!.grad!), [3 * k, 4 * k], { rtol: 1e-14 });
        assertClose(values(ps[1]!.grad!), [12 * k], { rtol: 1e-14 });
        norm.dispose();
        assert.equal(tr.memory().bytes, before, "clipping in place allocates nothing that stays");
        // under the limit: multiplied by a coefficient clamped to 1, i.e. unchanged
        const qs = withGrads([[3, 4], [12]]);
        optim.clipGradNorm(qs, 100);
        assert.deepEqual(values(qs[0]!.grad!), [3, 4]);
      }));

    test("other norm orders (1, 3, inf) and parameters without gradients", () =>
      withBackend(backend, () => {
        const g = [[3, -4], [12]];
        assertClose(values(optim.clipGradNorm(withGrads(g), 1e9, 1)), [19], { rtol: 1e-15 });
        assertClose(values(optim.clipGradNorm(withGrads(g), 1e9, 3)), [Math.cbrt(27 + 64 + 1728)], { rtol: 1e-12 });
        const ps = withGrads(g);
        const n = optim.clipGradNorm([...ps, tr.ones([3])], 6, Infinity);
        assertClose(values(n), [12], { rtol: 1e-15 });
        const k = 6 / (12 + 1e-6);
        assertClose(values(ps[0]!.grad!), [3 * k, -4 * k], { rtol: 1e-14 });
        assert.equal(values(optim.clipGradNorm([tr.ones([2])], 1))[0], 0, "no gradients: norm 0");
        assert.throws(() => optim.clipGradNorm(withGrads(g), 1, 0), /clipGradNorm: normType must be a positive number, Infinity or -Infinity, got 0/);
        assert.throws(() => optim.clipGradNorm(withGrads([[NaN]]), 1, 2, { errorIfNonfinite: true }), /total norm of order 2 of the gradients is NaN/);
      }));

    test("clipGradNorm works on float32 gradients produced by backward()", () =>
      withBackend(backend, () => {
        const w = tr.tensor([1, 2, 2]).requiresGrad_();
        w.mul(w).sum().backward(); // grad 2w = [2, 4, 4], norm 6
        const n = optim.clipGradNorm([w], 3);
        assertClose(values(n), [6], { rtol: 1e-6 });
        assertClose(values(w.grad!), [1, 2, 2], { rtol: 1e-5 });
        assert.equal(w.grad!.dtype, "float32");
      }));

    test("clipGradValue clamps each element in place", () =>
      withBackend(backend, () => {
        const ps = withGrads([[3, -4, 0.5], [-0.25]]);
        optim.clipGradValue(ps, 1);
        assert.deepEqual(values(ps[0]!.grad!), [1, -1, 0.5]);
        assert.deepEqual(values(ps[1]!.grad!), [-0.25]);
        assert.throws(() => optim.clipGradValue(ps, -1), /clipGradValue: clipValue must be a number >= 0, got -1/);
      }));
  });
}
