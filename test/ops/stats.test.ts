import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values, randomTensors, checkGrads } from "../helpers.js";

const T = (a: number[], shape?: number[], dtype: tr.DType = "float64") => tr.fromTypedArray(Float64Array.from(a), shape ?? [a.length], dtype);

for (const backend of BACKENDS) {
  describe(`everyday ops [${backend}]`, () => {
    test("nonzero / argwhere eager against loops, and with size under jit", () =>
      withBackend(backend, () => {
        const x = T([0, 1, 0, 2, 3, 0], [2, 3]);
        assert.deepEqual(values(tr.nonzero(x)), [0, 1, 1, 0, 1, 1]);
        const [r, c] = tr.nonzero(x, { asTuple: true });
        assert.deepEqual(values(r!), [0, 1, 1]);
        assert.deepEqual(values(c!), [1, 0, 1]);
        assert.deepEqual(tr.argwhere(x).shape, [3, 2]);
        assert.deepEqual(tr.where(x).map(values), [[0, 1, 1], [1, 0, 1]]);
        assert.deepEqual(values(tr.where(tr.greater(x, 1), x, -1)), [-1, -1, -1, 2, 3, -1]);
        const f = tr.jit((t: tr.Tensor) => tr.nonzero(t, { size: 4, fillValue: -1 }));
        assert.deepEqual(values(f(x)), [0, 1, 1, 0, 1, 1, -1, -1]);
        assert.throws(() => tr.jit((t: tr.Tensor) => tr.nonzero(t))(x), /data-dependent.*size/);
      }));

    test("unique with inverse and counts", () =>
      withBackend(backend, () => {
        const r = tr.unique(T([3, 1, 3, 2, 1, 3]), { returnInverse: true, returnCounts: true });
        assert.deepEqual(values(r.values), [1, 2, 3]);
        assert.deepEqual(values(r.inverse!), [2, 0, 2, 1, 0, 2]);
        assert.deepEqual(values(r.counts!), [2, 1, 3]);
        assert.throws(() => tr.jit((t: tr.Tensor) => tr.uniqueValues(t))(T([1, 2])), /data-dependent/);
      }));

    test("meshgrid xy and ij", () =>
      withBackend(backend, () => {
        const [X, Y] = tr.meshgrid([T([1, 2, 3]), T([4, 5])]);
        assert.deepEqual(X!.shape, [2, 3]);
        assert.deepEqual(values(X!), [1, 2, 3, 1, 2, 3]);
        assert.deepEqual(values(Y!), [4, 4, 4, 5, 5, 5]);
        const [I, J] = tr.meshgrid([T([1, 2, 3]), T([4, 5])], { indexing: "ij" });
        assert.deepEqual(I!.shape, [3, 2]);
        assert.deepEqual(values(J!), [4, 5, 4, 5, 4, 5]);
      }));

    test("cumprod with zeros, gradients, jit and vmap", () =>
      withBackend(backend, () => {
        const x = T([2, 0, 3, -1, 0.5, 4], [2, 3]);
        checkGrads((t) => tr.cumprod(t), [T([2, 0, 3, 0.5, 0, 4, 1.5])], 9);
        assertClose(values(tr.cumprod(x, { axis: 1 })), [2, 0, 0, -1, -0.5, -2]);
        assertClose(values(tr.cumprod(x, { axis: 0 })), [2, 0, 3, -2, 0, 12]);
        checkGrads((t) => tr.cumprod(t, { axis: 1 }), [x], 3);
        assertClose(values(tr.jit((t: tr.Tensor) => tr.cumprod(t, { axis: 1 }))(x)), values(tr.cumprod(x, { axis: 1 })));
        assertClose(values(tr.vmap((t: tr.Tensor) => tr.cumprod(t))(x)), values(tr.cumprod(x, { axis: 1 })));
        assertClose(values(tr.cumulativeProd(T([2, 3]), { includeInitial: true })), [1, 2, 6]);
        assertClose(values(tr.cumulativeSum(T([2, 3]), { includeInitial: true })), [0, 2, 5]);
      }));

    test("cummax / cummin values and last-attaining indices like PyTorch", () =>
      withBackend(backend, () => {
        const x = T([1, 3, 2, 3, 0, 5]);
        const m = tr.cummax(x, 0);
        assert.deepEqual(values(m.values), [1, 3, 3, 3, 3, 5]);
        assert.deepEqual(values(m.indices), [0, 1, 1, 3, 3, 5]);
        const n = tr.cummin(x, 0);
        assert.deepEqual(values(n.values), [1, 1, 1, 1, 0, 0]);
        assert.deepEqual(values(n.indices), [0, 0, 0, 0, 4, 4]);
        checkGrads((t) => tr.cummax(t, 0).values, [T([0.1, 0.5, 0.3, 0.9])], 4);
      }));

    test("median, quantile methods and gradients", () =>
      withBackend(backend, () => {
        const x = T([5, 1, 4, 2, 3, 6]);
        assert.equal(tr.median(x).item(), 3); // lower median
        const m = tr.median(T([5, 1, 4, 2, 3, 6], [2, 3]), 1);
        assert.deepEqual(values(m.values), [4, 3]);
        assert.deepEqual(values(m.indices), [2, 1]);
        // sorted: 1 2 3 4 5 6, q=0.3 -> p=1.5
        const q = (method: tr.QuantileMethod) => tr.quantile(x, 0.3, { method }).item();
        assertClose([q("linear"), q("lower"), q("higher"), q("nearest"), q("midpoint")], [2.5, 2, 3, 3, 2.5]);
        assertClose(values(tr.quantile(x, [0, 0.5, 1])), [1, 3.5, 6]);
        checkGrads((t) => tr.quantile(t, [0.3, 0.8]), [T([0.5, 0.1, 0.9, 0.3])], 5);
        assert.throws(() => tr.quantile(x, 1.5), /quantile: q must lie in \[0, 1\], got 1.5/);
        assert.throws(() => tr.median(x, 3), /median/);
      }));

    test("nan reductions against loops, with gradients", () =>
      withBackend(backend, () => {
        const x = T([1, NaN, 3, NaN, NaN, NaN], [2, 3]);
        assertClose(values(tr.nansum(x, { axis: 1 })), [4, 0]);
        assertClose(values(tr.nanmean(x, { axis: 1 })), [2, NaN]);
        assertClose(values(tr.nanmax(x, { axis: 1 })), [3, NaN]);
        assertClose(values(tr.nanmin(x, { axis: 1 })), [1, NaN]);
        assertClose(values(tr.nanprod(x, { axis: 1 })), [3, 1]);
        assertClose([tr.nanvar(x).item(), tr.nanstd(x, { ddof: 1 }).item()], [1, Math.SQRT2]);
        const y = T([0.3, 0.7, -0.2, 0.4]);
        checkGrads((t) => tr.nanmean(t), [y], 6);
        checkGrads((t) => tr.nanvar(t), [y], 6);
      }));

    test("diff with n, axis, prepend/append and gradient", () =>
      withBackend(backend, () => {
        const x = T([1, 4, 9, 16]);
        assertClose(values(tr.diff(x)), [3, 5, 7]);
        assertClose(values(tr.diff(x, { n: 2 })), [2, 2]);
        assertClose(values(tr.diff(x, { prepend: 0, append: 20 })), [1, 3, 5, 7, 4]);
        assertClose(values(tr.diff(T([1, 2, 4, 8], [2, 2]), { axis: 0 })), [3, 6]);
        checkGrads((t) => tr.diff(t, { n: 2 }), [randomTensors(2)([5])], 7);
        assert.throws(() => tr.diff(x, { axis: 2 }), /diff/);
      }));

    test("isclose, allclose, countNonzero, searchsorted, bincount, histogram, histc", () =>
      withBackend(backend, () => {
        assert.deepEqual(values(tr.isclose(T([1, 1.1, NaN]), T([1 + 1e-9, 1, NaN]))), [1, 0, 0]);
        assert.deepEqual(values(tr.isclose(T([NaN]), T([NaN]), { equalNan: true })), [1]);
        assert.equal(tr.allclose(T([1, 2]), T([1, 2 + 1e-9])), true);
        assert.equal(tr.allclose(T([1, 2]), T([1, 2.1])), false);
        assert.deepEqual(values(tr.countNonzero(T([0, 1, 2, 0], [2, 2]), { axis: 0 })), [1, 1]);
        const a = T([1, 2, 2, 3]);
        assert.deepEqual(values(tr.searchsorted(a, T([2, 0, 5]))), [1, 0, 4]);
        assert.deepEqual(values(tr.searchsorted(a, T([2]), { side: "right" })), [3]);
        assert.deepEqual(values(tr.searchsorted(T([3, 1, 2]), T([2.5]), { sorter: T([1, 2, 0], [3], "int32") })), [2]);
        const ids = T([0, 1, 1, 3], [4], "int32");
        assert.deepEqual(values(tr.bincount(ids)), [1, 2, 0, 1]);
        assert.deepEqual(values(tr.bincount(ids, { minlength: 6 })), [1, 2, 0, 1, 0, 0]);
        assertClose(values(tr.bincount(ids, { weights: T([0.5, 1, 2, 3]) })), [0.5, 3, 0, 3]);
        assert.deepEqual(values(tr.jit((t: tr.Tensor) => tr.bincount(t, { length: 5 }))(ids)), [1, 2, 0, 1, 0]);
        assert.throws(() => tr.jit((t: tr.Tensor) => tr.bincount(t))(ids), /data-dependent/);
        const h = tr.histogram(T([0, 1, 1, 2, 3, 4]), { bins: 4 });
        assert.deepEqual(values(h.hist), [1, 2, 1, 2]);
        assertClose(values(h.binEdges), [0, 1, 2, 3, 4]);
        assert.deepEqual(values(tr.histc(T([1, 2, 1, 9]), { bins: 4, min: 0, max: 3 })), [0, 2, 1, 0]);
      }));
    test("nanmedian / nanquantile / uniqueAll / Tensor methods, jit and vmap", () =>
      withBackend(backend, () => {
        const x = T([4, NaN, 1, 3, NaN, NaN, NaN, NaN], [2, 4]);
        assertClose(values(tr.nanmedian(x, { axis: 1 })), [3, NaN]); // sorted 1 3 4 -> lower median 3
        assertClose(values(tr.nanquantile(x, 0.25, { axis: 1 })), [2, NaN]); // p = 0.5 between 1 and 3
        assertClose(values(tr.jit((t: tr.Tensor) => tr.nanquantile(t, [0.5, 1], { axis: 1 }))(x)), [3, NaN, 4, NaN]);
        const y = T([0.5, 0.1, 0.9, 0.3, 0.7, 0.2], [2, 3]);
        const loop = [0, 1].map((i) => tr.quantile(tr.slice(y, [i, null]), 0.4).item());
        assertClose(values(tr.vmap((t: tr.Tensor) => tr.quantile(t, 0.4))(y)), loop);
        checkGrads((t) => tr.nanquantile(t, 0.3), [T([0.5, 0.1, 0.9, 0.3])], 8);
        const u = tr.uniqueAll(T([2, 1, 2, 5]));
        assert.deepEqual([values(u.values), values(u.indices), values(u.inverseIndices), values(u.counts)], [[1, 2, 5], [1, 0, 3], [1, 0, 1, 2], [1, 2, 1]]);
        assert.deepEqual(values(T([0, 2, 0, 3]).nonzero()), [1, 3]);
        assertClose(values(T([1, 2, 3]).cumprod()), [1, 2, 6]);
        assert.equal(T([1, 2]).allclose(T([1, 2])), true);
        assert.deepEqual(values(T([1, 2, 1]).cummax(0).indices), [0, 1, 1]);
      }));
  });
}
