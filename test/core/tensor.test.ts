import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, values } from "../helpers.js";

for (const backend of BACKENDS) {
  describe(`tensors and dtypes [${backend}]`, () => {
    test("creation from nested arrays, typed arrays and scalars", () =>
      withBackend(backend, async () => {
        const a = tr.tensor([[1, 2], [3, 4]]);
        assert.deepEqual(a.shape, [2, 2]);
        assert.equal(a.dtype, "float32");
        assert.deepEqual(await a.array(), [[1, 2], [3, 4]]);
        assert.equal(tr.tensor([true, false]).dtype, "bool");
        assert.deepEqual(await tr.tensor([true, false]).array(), [true, false]);
        assert.equal(tr.tensor(new Int32Array([1, 2])).dtype, "int32");
        assert.equal(tr.tensor(3.5).item(), 3.5);
        assert.deepEqual(tr.tensor(3.5).shape, []);
        const f = tr.fromTypedArray(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]);
        assert.equal(f.dtype, "float64");
        assert.deepEqual(f.arraySync(), [[1, 2, 3], [4, 5, 6]]);
        assert.throws(() => tr.tensor([[1, 2], [3]]), /ragged/);
        assert.throws(() => tr.fromTypedArray(new Float32Array(5), [2, 3]), /5 elements but shape \[2,3\] needs 6/);
      }));

    test("zeros/ones/full/arange/linspace/eye", () =>
      withBackend(backend, () => {
        assert.deepEqual(values(tr.zeros([2, 2])), [0, 0, 0, 0]);
        assert.deepEqual(values(tr.ones([3], "int32")), [1, 1, 1]);
        assert.equal(tr.ones([3], "int32").dtype, "int32");
        assert.deepEqual(values(tr.full([2], 7)), [7, 7]);
        assert.deepEqual(values(tr.arange(5)), [0, 1, 2, 3, 4]);
        assert.equal(tr.arange(5).dtype, "int32");
        assert.deepEqual(values(tr.arange(1, 10, 3)), [1, 4, 7]);
        assert.deepEqual(values(tr.arange(0, 1, 0.25)), [0, 0.25, 0.5, 0.75]);
        assert.deepEqual(values(tr.arange(5, 0, -2)), [5, 3, 1]);
        assert.deepEqual(values(tr.linspace(0, 1, 5)), [0, 0.25, 0.5, 0.75, 1]);
        assert.deepEqual(values(tr.eye(2, 3)), [1, 0, 0, 0, 1, 0]);
        assert.deepEqual(values(tr.eye(3, 3, { k: 1 })), [0, 1, 0, 0, 0, 1, 0, 0, 0]);
        assert.deepEqual(values(tr.zerosLike(tr.ones([2]))), [0, 0]);
        assert.throws(() => tr.zeros([2, -1]), /zeros|full/);
      }));

    test("JAX type promotion with weakly typed JS numbers", () =>
      withBackend(backend, () => {
        const f32 = tr.ones([2]), i32 = tr.ones([2], "int32"), f16 = tr.ones([2], "float16"), u8 = tr.ones([2], "uint8");
        const f64 = tr.ones([2], "float64"), b = tr.ones([2], "bool"), u32 = tr.ones([2], "uint32");
        assert.equal(f32.mul(2).dtype, "float32");
        assert.equal(i32.mul(2).dtype, "int32"); // a weak int keeps int32
        assert.equal(i32.mul(2.5).dtype, "float32"); // a weak float lifts int to the default float
        assert.equal(f16.mul(2.5).dtype, "float16"); // weak never widens a float
        assert.equal(u8.add(1).dtype, "uint8");
        assert.equal(i32.add(f32).dtype, "float32");
        assert.equal(u8.add(i32).dtype, "int32");
        assert.equal(u8.add(u32).dtype, "uint32");
        assert.equal(f16.add(f32).dtype, "float32");
        assert.equal(f32.add(f64).dtype, "float64");
        assert.equal(b.add(b).dtype, "bool");
        assert.equal(b.add(u8).dtype, "uint8");
        assert.equal(tr.ones([1], "bfloat16").add(f16).dtype, "float32");
        assert.equal(i32.div(2).dtype, "float32"); // true division
        assert.equal(tr.add(2, 3).dtype, "int32");
      }));

    test("float16 is stored in 16 bits and computes in float32", () =>
      withBackend(backend, () => {
        const h = tr.tensor([1 / 3, 65504, 1e-8, 70000], { dtype: "float16" });
        const v = values(h);
        assert.equal(v[0], 0.333251953125);
        assert.equal(v[1], 65504);
        assert.equal(v[2], 0); // underflows below the smallest subnormal (6e-8)
        assert.equal(v[3], Infinity);
        assert.equal(tr.memory().backends[backend]!.bytes >= 8, true);
        assert.equal(values(h.astype("float32").mul(3))[0], 0.999755859375);
      }));

    test("astype truncates toward zero and wraps like C casts", () =>
      withBackend(backend, () => {
        assert.deepEqual(values(tr.tensor([-1.7, 2.9, 0.5]).astype("int32")), [-1, 2, 0]);
        assert.deepEqual(values(tr.tensor([0, 2, -0.5]).astype("bool")), [0, 1, 1]);
        assert.deepEqual(values(tr.tensor([1, 0]).astype("bool").astype("float32")), [1, 0]);
        assert.deepEqual(values(tr.tensor([300], { dtype: "int32" }).astype("uint8")), [44]);
      }));

    test("toString prints like NumPy", () =>
      withBackend(backend, () => {
        assert.equal(tr.tensor([[1, 2], [3, 4]]).toString(), "tensor([[1., 2.],\n        [3., 4.]], dtype=float32)");
        assert.equal(tr.tensor([1, 2], { dtype: "int32" }).toString(), "tensor([1, 2], dtype=int32)");
        assert.equal(tr.tensor([0.5, NaN, -Infinity]).toString(), "tensor([ 0.5,  nan, -inf], dtype=float32)");
        assert.equal(tr.tensor(true).toString(), "tensor(True, dtype=bool)");
      }));

    test("reads: data, dataSync, array, item", () =>
      withBackend(backend, async () => {
        const t = tr.tensor([[1, 2, 3]]);
        assert.deepEqual(Array.from(await t.data()), [1, 2, 3]);
        assert.ok(t.dataSync() instanceof Float32Array);
        assert.throws(() => t.item(), /only a one-element tensor/);
        assert.equal(t.sum().item(), 6);
      }));

    test("errors name the op, argument and shapes, and leave state intact", () =>
      withBackend(backend, () => {
        const before = tr.memory().numTensors;
        const a = tr.ones([2, 3]), b = tr.ones([4, 5]);
        assert.throws(() => a.add(b), (e: Error) => e instanceof tr.TridentError && /add: shapes \[2,3\] and \[4,5\] cannot be broadcast/.test(e.message));
        assert.throws(() => a.reshape([4, 2]), /reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\]/);
        assert.throws(() => a.sum({ axis: 2 }), /sum: axis 2 is out of range for an array of rank 2/);
        assert.throws(() => a.transpose([0, 0]), /transpose/);
        assert.deepEqual(values(a), [1, 1, 1, 1, 1, 1]);
        assert.equal(tr.memory().numTensors, before + 2);
      }));
  });
}
