import { test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, values } from "../helpers.js";

for (const b of BACKENDS) {
  test(`[${b}] tensors iterate over their first axis`, () =>
    withBackend(b, () => {
      const t = tr.tensor([[1, 2, 3], [4, 5, 6]]);
      const rows = [...t];
      assert.equal(rows.length, 2);
      assert.deepEqual(rows[0]!.shape, [3]);
      assert.deepEqual(values(rows[1]!), [4, 5, 6]);
      const [a, b2] = t;
      assert.deepEqual(values(a!), [1, 2, 3]);
      assert.deepEqual(values(b2!), [4, 5, 6]);
      const seen: number[][] = [];
      for (const r of tr.tensor([7, 8])) seen.push([r.item()]);
      assert.deepEqual(seen, [[7], [8]]);
      assert.throws(() => [...tr.tensor(3)], /iteration over a 0-d tensor/);
    }));
  test(`[${b}] random.split destructures into keys`, () =>
    withBackend(b, () => {
      const key = tr.random.key(0);
      const [k1, k2] = tr.random.split(key) as unknown as Iterable<tr.Tensor>;
      const both = tr.random.split(key) as unknown as tr.Tensor;
      assert.deepEqual(Array.from(k1!.dataSync()), Array.from(both.dataSync()).slice(0, k1!.size));
      assert.deepEqual(Array.from(k2!.dataSync()), Array.from(both.dataSync()).slice(k1!.size));
    }));
  test(`[${b}] iteration works on traced values; vmap's batch axis is not iterated`, () =>
    withBackend(b, () => {
      const f = (x: tr.Tensor) => { const [r0, r1] = x; return r0!.mul(10).add(r1!); };
      const x = tr.tensor([[1, 2], [3, 4]]);
      assert.deepEqual(values(tr.jit(f)(x) as tr.Tensor), [13, 24]);
      const xb = tr.tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[0, 1], [1, 0]]]);
      assert.deepEqual(values(tr.vmap(f)(xb) as tr.Tensor), [13, 24, 57, 68, 1, 10]);
      const g = tr.grad((v: tr.Tensor) => { const [p, q] = v; return p!.mul(q!).sum(); })(tr.tensor([[1, 2], [3, 4]]));
      assert.deepEqual(values(g as tr.Tensor), [3, 4, 1, 2]);
    }));
  test(`[${b}] tensor(data, shape) and unknown options`, () =>
    withBackend(b, () => {
      const t = tr.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      assert.deepEqual(t.shape, [2, 3]);
      assert.deepEqual(t.arraySync(), [[1, 2, 3], [4, 5, 6]]);
      const u = tr.tensor([1, 2, 3, 4], { shape: [2, 2], dtype: "float64" });
      assert.equal(u.dtype, "float64");
      assert.deepEqual(u.arraySync(), [[1, 2], [3, 4]]);
      assert.throws(() => tr.tensor([1, 2, 3], [2, 2]), /3 elements but shape \[2,2\] needs 4/);
      assert.throws(() => tr.tensor([1, 2], { shap: [2] } as never), /unknown option "shap" \(did you mean "shape"\?\); known options are dtype, requiresGrad, shape/);
    }));
}
