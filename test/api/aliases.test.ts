import { test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, values } from "../helpers.js";

for (const b of BACKENDS) {
  test(`[${b}] PyTorch aliases`, () =>
    withBackend(b, () => {
      const x = tr.tensor([1, 2, 3]);
      assert.deepEqual(x.gt(2).arraySync(), [false, false, true]);
      assert.deepEqual(x.lt(2).arraySync(), [true, false, false]);
      assert.deepEqual(x.ge(2).arraySync(), [false, true, true]);
      assert.deepEqual(x.le(2).arraySync(), [true, true, false]);
      assert.deepEqual(x.eq(2).arraySync(), [false, true, false]);
      assert.deepEqual(x.ne(2).arraySync(), [true, false, true]);
      assert.deepEqual(values(x.clamp({ min: 1.5 })), [1.5, 2, 3]);
      assert.deepEqual(values(tr.clamp(x, { max: 2 })), [1, 2, 2]);
      const m = tr.tensor([[1, 2], [3, 4]]);
      assert.deepEqual(values(m.mm(m)), [7, 10, 15, 22]);
      assert.deepEqual(values(m.mv(tr.tensor([1, 1]))), [3, 7]);
      assert.equal(m.numel(), 4);
      assert.equal(m.dim(), 2);
      assert.deepEqual(m.view(-1).shape, [4]);
      assert.deepEqual(tr.arange(6).view(3, -1).shape, [3, 2]);
      assert.equal(x.double().dtype, "float64");
      assert.equal(x.to("int32").dtype, "int32");
      assert.deepEqual(Array.from(tr.tensor([1.7, -2.2]).int().dataSync()), [1, -2]);
      assert.equal(x.bool().dtype, "bool");
    }));
}
