import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values, randomTensors, checkGrads as checkGradsFd } from "../helpers.js";

interface T { dtype: string; shape: number[]; data: number[] }
type Item = number | string | null | { range: { start?: number; stop?: number; step?: number } } | { arr: unknown } | { mask: unknown };
const FX = JSON.parse(readFileSync(new URL("../fixtures/indexing.json", import.meta.url), "utf8")) as {
  get: { x: T; index: Item[]; out: T }[];
  update: { x: T; index: Item[]; v: T; set: T; add: T; max: T; min: T; mul: T }[];
};

const checkGrads = (f: (...xs: tr.Tensor[]) => tr.Tensor, args: tr.Tensor[]) => checkGradsFd(f, args, 5);
const ten = (t: T, dtype: tr.DType = "float64") => tr.reshape(tr.tensor(t.data, dtype), t.shape);

/** Neutral JSON item to a Trident index item; integer arrays alternate between JS arrays and tensors. */
function toItem(it: Item, asTensor: boolean): tr.IndexItem {
  if (it === null || typeof it === "number" || typeof it === "string") return it;
  if ("range" in it) return it.range;
  if ("arr" in it) return asTensor ? tr.tensor(it.arr as tr.NestedNumbers, "int32") : (it.arr as tr.NestedNumbers);
  return tr.tensor(it.mask as tr.NestedNumbers, "bool");
}
const hasMask = (idx: Item[]) => idx.some((i) => i !== null && typeof i === "object" && "mask" in i);

for (const backend of BACKENDS) {
  describe(`index expressions [${backend}]`, () => {
    test("get: NumPy fixtures (JS arrays and tensors, float32 and float64)", () =>
      withBackend(backend, () => {
        FX.get.forEach((c, n) => {
          for (const dt of ["float64", "float32"] as const) {
            const x = ten(c.x, dt);
            const r = x.get(...c.index.map((i) => toItem(i, n % 2 === 0)));
            const msg = `case ${n} ${JSON.stringify(c.index)}`;
            assert.deepEqual(r.shape, c.out.shape, msg);
            assertClose(values(r), c.out.data, { rtol: 0, atol: dt === "float64" ? 0 : 1e-6, msg });
            assertClose(values(tr.index(x, ...c.index.map((i) => toItem(i, true)))), c.out.data, { rtol: 0, atol: 1e-6, msg });
          }
        });
      }));

    test("at().set/add/mul/min/max: NumPy fixtures, repeated positions included", () =>
      withBackend(backend, () => {
        FX.update.forEach((c, n) => {
          const x = ten(c.x), v = ten(c.v), idx = c.index.map((i) => toItem(i, n % 2 === 1));
          const msg = `case ${n} ${JSON.stringify(c.index)}`;
          for (const k of ["set", "add", "mul", "min", "max"] as const) {
            const r = x.at(...idx)[k](v);
            assert.deepEqual(r.shape, c.x.shape, `${k} ${msg}`);
            assertClose(values(r), c[k].data, { rtol: 1e-12, atol: 1e-12, msg: `${k} ${msg}` });
          }
          assertClose(values(x.at(...idx).get()), c.v.shape.length ? values(x.get(...idx)) : [], { msg });
        });
      }));

    test("jit matches eager for get and updates (no masks)", () =>
      withBackend(backend, () => {
        FX.get.forEach((c, n) => {
          if (hasMask(c.index)) return;
          const idx = c.index.map((i) => toItem(i, true));
          const f = tr.jit((x: tr.Tensor) => x.get(...idx));
          assertClose(values(f(ten(c.x))), c.out.data, { rtol: 0, atol: 0, msg: `jit get case ${n}` });
        });
        FX.update.forEach((c, n) => {
          if (hasMask(c.index)) return;
          const idx = c.index.map((i) => toItem(i, true));
          for (const k of ["set", "add", "mul", "min", "max"] as const) {
            const f = tr.jit((x: tr.Tensor, v: tr.Tensor) => x.at(...idx)[k](v));
            assertClose(values(f(ten(c.x), ten(c.v))), c[k].data, { rtol: 1e-12, atol: 1e-12, msg: `jit ${k} case ${n}` });
          }
        });
      }));

    test("gradients against float64 finite differences", () =>
      withBackend(backend, () => {
        const rand = randomTensors(3);
        const x = rand([3, 4, 5], "float64");
        checkGrads((a) => a.get(1, "::-2", null, "1:4"), [x]);
        checkGrads((a) => a.get([0, 2, 0], "...", [[1], [4]]), [x]);
        checkGrads((a) => a.get(":", [3, 0, 3], [1, 1, 2]), [x]);
        const v = rand([3, 2], "float64");
        const idx: tr.IndexItem[] = [[0, 2, 0], 1, "1:3"];
        checkGrads((a, b) => a.at(...idx).add(b), [x, v]);
        checkGrads((a, b) => a.at(...idx).set(b), [x, v]);
        checkGrads((a, b) => a.at(...idx).max(b), [x, v]);
        checkGrads((a, b) => a.at(...idx).min(b), [x, v]);
        checkGrads((a, b) => a.at(...idx).mul(b), [x, v]);
        // a zero update among the multipliers, alone and repeated at one position
        const vz = tr.tensor([[0, 0.5], [1.5, -2], [0, 3]], "float64");
        checkGrads((a, b) => a.at(...idx).mul(b), [x, vz]);
        checkGrads((a, b) => a.at([1, 1, 2], 0, 2).mul(b), [x, tr.tensor([0, 0, 2], "float64")]);
        const m = tr.greater(x, 0);
        checkGrads((a) => a.get(m), [x]);
      }));

    test("vmap of get and at().add matches a loop", () =>
      withBackend(backend, () => {
        const rand = randomTensors(4);
        const xs = rand([3, 4, 5], "float64"), vs = rand([3, 2], "float64");
        const g = (x: tr.Tensor) => x.get([3, 1], "::-2");
        const u = (x: tr.Tensor, v: tr.Tensor) => x.at([1, 1]).add(v);
        const vg = tr.vmap(g)(xs) as tr.Tensor, vu = tr.vmap(u)(xs.get(":", ":", 0), vs) as tr.Tensor;
        for (let b = 0; b < 3; b++) {
          assertClose(values(vg.get(b)), values(g(xs.get(b))));
          assertClose(values(vu.get(b)), values(u(xs.get(b, ":", 0), vs.get(b))));
        }
      }));

    test("traced index arrays under jit and vmap over a batch of indices", () =>
      withBackend(backend, () => {
        const x = tr.reshape(tr.arange(12, undefined, 1, "float64"), [3, 4]);
        const f = tr.jit((a: tr.Tensor, i: tr.Tensor, j: tr.Tensor) => a.get(i, j, null));
        // closed form: a[i, j] = 4 i + j (row-major arange), broadcast over i [2,1] and j [3]
        const i = tr.tensor([[2], [-3]], "int32"), j = tr.tensor([0, 3, -1], "int32");
        const r = f(x, i, j);
        assert.deepEqual(r.shape, [2, 3, 1]);
        assert.deepEqual(values(r), [8, 11, 11, 0, 3, 3]);
        const g = tr.jit((a: tr.Tensor, k: tr.Tensor, v: tr.Tensor) => a.at(k, "::3").add(v));
        assert.deepEqual(values(g(x, tr.tensor([1, 1], "int32"), tr.tensor([[1, 2], [10, 20]], "float64"))), [0, 1, 2, 3, 15, 5, 6, 29, 8, 9, 10, 11]);
        const ks = tr.tensor([[0, 2], [1, 1], [-1, 0]], "int32");
        const vg = tr.vmap((k: tr.Tensor) => x.get(k, 1))(ks) as tr.Tensor;
        assert.deepEqual(values(vg), [1, 9, 5, 5, 9, 1]);
        const vs = tr.vmap((k: tr.Tensor) => tr.zeros([3], "float64").at(k).add(1))(ks) as tr.Tensor;
        assert.deepEqual(values(vs), [1, 0, 1, 0, 2, 0, 1, 0, 1]);
      }));

    test("integer and float32 tensors, JS boolean masks, empty index arrays", () =>
      withBackend(backend, () => {
        const xi = tr.tensor([2, -3, 4, 5], "int32");
        assert.deepEqual(values(xi.at([0, 1, 0]).mul(tr.tensor([3, -2, -1], "int32"))), [-6, 6, 4, 5]);
        assert.deepEqual(values(xi.at([3, 3]).add(1)), [2, -3, 4, 7]);
        assert.deepEqual(values(xi.at("1:").min(0)), [2, -3, 0, 0]);
        assert.equal(xi.at([0, 2]).set(tr.tensor([9, 8], "int32")).dtype, "int32");
        const xf = tr.tensor([[1, 2, 3], [4, 5, 6]], "float32");
        assert.deepEqual(values(xf.get([true, false] as tr.IndexItem, "::-1")), [3, 2, 1]);
        assert.deepEqual(values(xf.at([[false, true, true], [true, false, false]] as tr.IndexItem).set(0)), [1, 0, 0, 0, 5, 6]);
        assert.deepEqual(xf.get(tr.tensor([], "int32")).shape, [0, 3]);
        assert.deepEqual(values(xf.at(tr.tensor([], "int32")).add(1)), [1, 2, 3, 4, 5, 6]);
        assert.deepEqual(values(xf.at(1, [0, 2]).max(tr.tensor([7, 0], "float32"))), [1, 2, 3, 7, 5, 6]);
        // NumPy: np.minimum.at / np.maximum.at propagate NaN from an update
        const xn = tr.tensor([1, 2, 3], "float64");
        assert.deepEqual(values(xn.at([0, 0, 2]).min(tr.tensor([NaN, -1, 5], "float64"))).map(String), ["NaN", "2", "3"]);
        assert.deepEqual(values(xn.at([1, 1]).max(tr.tensor([NaN, 9], "float64"))).map(String), ["1", "NaN", "3"]);
      }));

    test("indexPut_ writes in place and bumps the version", () =>
      withBackend(backend, () => {
        const x = tr.zeros([2, 3], "float64") as tr.Tensor & { _version: number };
        const v0 = x._version;
        x.indexPut_([tr.tensor([0, 1, 0], "int32"), tr.tensor([2, 0, 2], "int32")], tr.tensor([1, 2, 3], "float64"), { accumulate: true });
        assert.deepEqual(values(x), [0, 0, 4, 2, 0, 0]);
        x.indexPut_([1], 7);
        assert.deepEqual(values(x), [0, 0, 4, 7, 7, 7]);
        assert.equal(x._version, v0 + 2);
      }));

    test("errors name the axis, size and index", () =>
      withBackend(backend, () => {
        const x = tr.zeros([2, 3]);
        assert.throws(() => x.get(0, 3), (e: Error) => e instanceof tr.TridentError && /index 3 is out of bounds for axis 1 with size 3/.test(e.message));
        assert.throws(() => x.get(-3), /index -3 is out of bounds for axis 0 with size 2/);
        assert.throws(() => x.get(0, 0, 0), /too many indices/);
        assert.throws(() => x.get("...", "..."), /single ellipsis/);
        assert.throws(() => x.get("::0"), /step must not be zero/);
        assert.throws(() => x.get("a:b"), /cannot parse/);
        assert.throws(() => x.get([0, 5]), (e: Error) => e instanceof tr.TridentError && /axis 0 of size 2/.test(e.message));
        assert.throws(() => x.get([0, 1], [0, 1, 2]), /broadcast/);
        assert.throws(() => x.get(tr.tensor([true, false, true], "bool")), /does not match/);
        assert.throws(() => x.get(tr.tensor([0.5])), /integer or boolean/);
        const m = tr.tensor([true, false], "bool");
        assert.throws(() => tr.jit((a: tr.Tensor, b: tr.Tensor) => a.get(b))(x, m), (e: Error) => e instanceof tr.TridentError && /where/.test(e.message));
        assert.throws(() => x.at(0).set([1, 2]), /do not broadcast/);
      }));
  });
}
