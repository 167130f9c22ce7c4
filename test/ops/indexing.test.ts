// Indexing (gather / scatter_add), sorting and their ops: PyTorch fixtures, plain-JS oracles, float64
// finite differences, vmap against loops, jit against eager, and error messages.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, mulberry32, fdCheck as fdCheckElements } from "../helpers.js";
import { describeOpCases, opCases } from "../op-fixtures.js";
import { gather, scatterAdd as scatterAddPrim } from "../../src/core/prims/indexing.js";
import { sortWithIndices } from "../../src/core/prims/sort.js";

type T = tr.Tensor;
const OPS = ["take", "take_along_axis", "scatter_add", "one_hot", "embedding", "sort", "argsort", "topk"];
const mine = await opCases(OPS);

const read = async (t: T): Promise<number[]> => Array.from(await t.data());
const f64 = (data: number[], shape: number[]): T => tr.fromTypedArray(Float64Array.from(data), shape, "float64");
const i32 = (data: number[], shape: number[]): T => tr.fromTypedArray(Int32Array.from(data), shape, "int32");

/** Seeded uniform generator (mulberry32) so failures reproduce. */
function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    normal: (shape: number[]) => f64(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * next() - 1 + 0.3 * Math.sin(1e3 * next())), shape),
    ints: (shape: number[], lo: number, hi: number) => i32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + Math.floor((hi - lo) * next())), shape),
  };
}

/** Row-major strides and index helpers for the plain-JS oracles. */
const stridesOf = (s: number[]) => s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
const ravel = (ix: number[], s: number[]) => ix.reduce((a, v, i) => a + v * stridesOf(s)[i]!, 0);

/** The element-by-element finite-difference check of ../helpers, plus forward mode along a random direction. */
async function fdCheck(f: (...xs: T[]) => T, xs: T[], argnums: number[], tol = 1e-7): Promise<void> {
  const grads = await fdCheckElements(f, xs, argnums, tol);
  for (const j of argnums) {
    const g = grads[j]!;
    // forward mode agrees with reverse mode along a direction
    const dir = rng(7 + j).normal(xs[j]!.shape);
    const tangents = xs.map((y, i) => (i === j ? dir : tr.zerosLike(y)));
    const [, dy] = tr.jvp(f, xs, tangents) as [T, T];
    const dirv = await read(dir);
    const expect = g.reduce((a, v, k) => a + v * dirv[k]!, 0);
    assertClose(await read(dy), [expect], { rtol: 1e-10, atol: 1e-12, msg: `jvp of arg ${j}` });
  }
}

async function same(got: T, want: T, msg: string): Promise<void> {
  assert.deepEqual(got.shape, want.shape, `${msg}: shape`);
  assert.equal(got.dtype, want.dtype, `${msg}: dtype`);
  assert.deepEqual(await read(got), await read(want), msg);
}

for (const backend of BACKENDS) {
  describeOpCases(`indexing and sorting fixtures [${backend}]`, backend, OPS, mine, { rtol: 1e-10, atol: 1e-12 });

  describe(`indexing ops against plain-JS oracles [${backend}]`, () => {
    test("take: flattened, along an axis, negative and multi-dimensional indices", () =>
      withBackend(backend, async () => {
        const xs = [...Array(24).keys()].map((v) => v * 1.5 - 7);
        const x = f64(xs, [2, 3, 4]);
        // axis null flattens
        assert.deepEqual(await read(tr.take(x, [23, 0, -1, 5])), [xs[23], xs[0], xs[23], xs[5]]);
        const idx = i32([2, -3, 0, 1, 1, -1], [2, 3]);
        const got = tr.take(x, idx, { axis: 1 });
        assert.deepEqual(got.shape, [2, 2, 3, 4]);
        const want: number[] = [];
        const iv = [2, 0, 0, 1, 1, 2];
        for (let a = 0; a < 2; a++) for (const j of iv) for (let c = 0; c < 4; c++) want.push(xs[ravel([a, j, c], [2, 3, 4])]!);
        assert.deepEqual(await read(got), want);
        assert.deepEqual(await read(tr.take(x, [3, 0], -1)), [xs[3], xs[0], xs[7], xs[4], xs[11], xs[8], xs[15], xs[12], xs[19], xs[16], xs[23], xs[20]]);
        // a scalar index drops the axis; the method form agrees
        assert.deepEqual(tr.take(x, 1, { axis: 0 }).shape, [3, 4]);
        await same(x.take(idx, { axis: 1 }), got, "method");
      }));

    test("takeAlongAxis broadcasts the other axes (NumPy) and wraps negative indices", () =>
      withBackend(backend, async () => {
        const xs = [...Array(12).keys()].map((v) => v * v - 3);
        const x = f64(xs, [3, 4]);
        const idx = i32([3, -1, 0], [1, 3]);
        const got = tr.takeAlongAxis(x, idx, 1);
        assert.deepEqual(got.shape, [3, 3]);
        const want: number[] = [];
        for (let r = 0; r < 3; r++) for (const j of [3, 3, 0]) want.push(xs[r * 4 + j]!);
        assert.deepEqual(await read(got), want);
        assert.deepEqual(await read(tr.takeAlongAxis(x, i32([11, 2], [2]), null)), [xs[11], xs[2]]);
        await same(x.takeAlongAxis(idx, 1), got, "method");
      }));

    test("scatterAdd: duplicates accumulate, indices smaller than src and self (PyTorch)", () =>
      withBackend(backend, async () => {
        const r = rng(3);
        const z = r.normal([4, 5]), src = r.normal([3, 4]);
        const idx = i32([1, 1, 4, 0, 2, 2], [2, 3]);
        const got = tr.scatterAdd(z, idx, src, 1);
        const want = await read(z);
        const sv = await read(src), iv = await read(idx);
        for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) want[a * 5 + iv[a * 3 + b]!]! += sv[a * 4 + b]!;
        assertClose(await read(got), want, { rtol: 1e-14, atol: 1e-14 });
        // along axis 0 with indices narrower than both self and src: only the covered part of src is used
        const got0 = tr.scatterAdd(z, i32([3, 0, 3, 3], [1, 4]), src, 0);
        const want0 = await read(z);
        [3, 0, 3, 3].forEach((row, col) => (want0[row * 5 + col]! += sv[col]!));
        assertClose(await read(got0), want0, { rtol: 1e-14, atol: 1e-14 });
      }));

    test("oneHot and embedding", () =>
      withBackend(backend, async () => {
        const oh = tr.oneHot([[2, 0], [1, 2]], 3, "float32");
        assert.equal(oh.dtype, "float32");
        assert.deepEqual(oh.shape, [2, 2, 3]);
        assert.deepEqual(await read(oh), [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert.equal(tr.oneHot([1], 4).dtype, "int32");
        const w = f64([...Array(8).keys()], [4, 2]);
        const e = tr.embedding(i32([3, 0, 3], [3]), w);
        assert.deepEqual(await read(e), [6, 7, 0, 1, 6, 7]);
      }));

    test("sort, argsort, topk: stability, NaN as the largest, axes and descending", () =>
      withBackend(backend, async () => {
        const x = f64([3, 1, NaN, 1, 2, 3], [6]);
        assert.deepEqual(await read(tr.argsort(x)), [1, 3, 4, 0, 5, 2]);
        assert.deepEqual(await read(tr.argsort(x, { descending: true })), [2, 0, 5, 4, 1, 3]);
        const s = await read(tr.sort(x));
        assert.deepEqual(s.slice(0, 5), [1, 1, 2, 3, 3]);
        assert.ok(Number.isNaN(s[5]!));
        const m = f64([5, 2, 9, 1, 7, 3], [2, 3]);
        assert.deepEqual(await read(tr.sort(m, { axis: 0 })), [1, 2, 3, 5, 7, 9]);
        assert.deepEqual(await read(m.sort({ axis: null, descending: true })), [9, 7, 5, 3, 2, 1]);
        assert.deepEqual(await read(m.argsort()), [1, 0, 2, 0, 2, 1]);
        const [v, i] = m.topk(2);
        assert.deepEqual(await read(v), [9, 5, 7, 3]);
        assert.deepEqual(await read(i), [2, 0, 1, 2]);
        const [v2, i2] = tr.topk(m, 1, { axis: 0, largest: false });
        assert.deepEqual(await read(v2), [1, 2, 3]);
        assert.deepEqual(await read(i2), [1, 0, 1]);
        assert.deepEqual(tr.topk(m, 0)[0].shape, [2, 0]);
        assert.deepEqual(await read(tr.sort(tr.tensor(4))), [4]);
        // integer arrays sort too
        assert.deepEqual(await read(tr.sort(i32([4, -2, 7, 0], [4]))), [-2, 0, 4, 7]);
      }));

    test("traced out-of-range indices clamp (JAX semantics) under jit", () =>
      withBackend(backend, async () => {
        const x = f64([10, 11, 12, 13], [4]);
        const f = tr.jit((a: T, i: T) => tr.take(a, i, { axis: 0 }));
        assert.deepEqual(await read(f(x, i32([9, -9, 2], [3]))), [13, 10, 12]);
      }));
  });

  describe(`gradients of gather, scatter_add and sort (float64 finite differences) [${backend}]`, () => {
    const r = rng(11);
    test("gather (takeAlongAxis) with repeated and negative indices", () =>
      withBackend(backend, () => {
        const x = r.normal([3, 4]), w = r.normal([3, 5]);
        const idx = i32([0, 0, 3, -1, 2, 1, 1, 1, 1, 0, 3, 2, 2, 0, 1], [3, 5]);
        return fdCheck((a) => tr.sum(tr.mul(tr.takeAlongAxis(a, idx, 1), w)), [x], [0]);
      }));
    test("take along a middle axis", () =>
      withBackend(backend, () => {
        const x = r.normal([2, 3, 2]), w = r.normal([2, 2, 2, 2]);
        const idx = i32([2, 2, 0, 1], [2, 2]);
        return fdCheck((a) => tr.sum(tr.mul(tr.take(a, idx, { axis: 1 }), w)), [x], [0]);
      }));
    test("scatter_add with respect to self and src", () =>
      withBackend(backend, () => {
        const z = r.normal([3, 4]), src = r.normal([3, 3]), w = r.normal([3, 4]);
        const idx = i32([0, 0, 3, 2, 1, 2, 3, 3, 3], [3, 3]);
        return fdCheck((a, s) => tr.sum(tr.mul(tr.sin(tr.scatterAdd(a, idx, s, 1)), w)), [z, src], [0, 1]);
      }));
    test("scatter_add along axis 0 with indices smaller than self", () =>
      withBackend(backend, () => {
        const z = r.normal([4, 3]), src = r.normal([2, 3]), w = r.normal([4, 3]);
        const idx = i32([3, 0, 3, 3], [2, 2]);
        return fdCheck((a, s) => tr.sum(tr.mul(tr.scatterAdd(a, idx, s, 0), w)), [z, src], [0, 1]);
      }));
    test("sort values (ascending and descending) and topk", () =>
      withBackend(backend, async () => {
        const x = f64([0.3, -1.2, 2.5, 0.7, -0.4, 1.9, -2.2, 0.05], [2, 4]), w = r.normal([2, 4]), w2 = r.normal([2, 2]);
        await fdCheck((a) => tr.sum(tr.mul(tr.sort(a, { axis: 1 }), w)), [x], [0]);
        await fdCheck((a) => tr.sum(tr.mul(tr.sort(a, { axis: 0, descending: true }), w)), [x], [0]);
        await fdCheck((a) => tr.sum(tr.mul(tr.topk(a, 2)[0], w2)), [x], [0]);
      }));
    test("second order: the hessian of sum(take(x)³) is diagonal 6·x·count", () =>
      withBackend(backend, async () => {
        const x = f64([0.5, -1, 2], [3]);
        const h = tr.hessian((a: T) => tr.sum(tr.pow(tr.take(a, [0, 2, 2, 0, 0]), 3)))(x) as T;
        assertClose(await read(h), [6 * 0.5 * 3, 0, 0, 0, 0, 0, 0, 0, 6 * 2 * 2], { rtol: 1e-12, atol: 1e-12 });
      }));
    test("the eager tape: backward() through take and sort", () =>
      withBackend(backend, async () => {
        const x = tr.tensor([1, 5, 3], { dtype: "float64", requiresGrad: true });
        const y = tr.sum(tr.mul(tr.take(x, [0, 0, 2]), tr.sort(x).take([0, 0, 0])));
        y.backward();
        // y = (2·x0 + x2)·min(x) with min = x0: dy/dx0 = 2·x0 + (2·x0 + x2), dy/dx2 = x0
        assert.deepEqual(await read(x.grad!), [2 * 1 + (2 * 1 + 3), 0, 1]);
      }));
  });

  describe(`vmap and jit of gather, scatter_add and sort [${backend}]`, () => {
    const r = rng(23);
    const B = 3;
    /** vmap over the given in-axes equals stacking the per-example results. */
    async function vmapVsLoop(f: (...xs: T[]) => T | T[], examples: T[][], inAxes: (number | null)[], msg: string) {
      const batched = inAxes.map((a, i) => (a === null ? examples[0]![i]! : tr.stack(examples.map((e) => e[i]!), a)));
      const got = tr.vmap(f, { inAxes })(...batched) as T | T[];
      const gotList = Array.isArray(got) ? got : [got];
      const per = examples.map((e) => {
        const o = f(...e.map((x, i) => (inAxes[i] === null ? examples[0]![i]! : x)));
        return Array.isArray(o) ? o : [o];
      });
      for (let k = 0; k < gotList.length; k++) await same(gotList[k]!, tr.stack(per.map((p) => p[k]!), 0), `${msg} output ${k} with inAxes [${inAxes.map(String)}]`);
    }
    const axesSets2: (number | null)[][] = [[0, 0], [1, 2], [0, null], [null, 1]];
    const axesSets3: (number | null)[][] = [[0, 0, 0], [2, 1, 0], [null, 0, 0], [0, null, null], [null, 0, null], [1, null, 2]];

    test("gather", () =>
      withBackend(backend, async () => {
        const ex = Array.from({ length: B }, () => [r.normal([3, 4]), r.ints([3, 2], 0, 4)]);
        for (const ax of axesSets2) await vmapVsLoop((x, i) => gather(x, i, 1), ex, ax, "gather");
        for (const ax of axesSets2) await vmapVsLoop((x, i) => tr.take(x, i, { axis: 1 }), ex, ax, "take");
      }));
    test("scatter_add", () =>
      withBackend(backend, async () => {
        const ex = Array.from({ length: B }, () => [r.normal([3, 4]), r.ints([3, 2], 0, 4), r.normal([3, 2])]);
        for (const ax of axesSets3) await vmapVsLoop((z, i, s) => scatterAddPrim(z, i, s, 1), ex, ax, "scatter_add");
      }));
    test("sort (both outputs) and the gradient of sort", () =>
      withBackend(backend, async () => {
        const ex = Array.from({ length: B }, () => [r.normal([3, 4])]);
        for (const ax of [[0], [1], [2]]) {
          await vmapVsLoop((x) => sortWithIndices(x, 1, false), ex, ax, "sort");
          await vmapVsLoop((x) => sortWithIndices(x, 0, true), ex, ax, "sort descending");
          await vmapVsLoop((x) => tr.grad((a: T) => tr.sum(tr.mul(tr.sort(a), a)))(x) as T, ex, ax, "grad of sort");
        }
      }));
    test("jit equals eager, forward and backward", () =>
      withBackend(backend, async () => {
        const x = r.normal([3, 4]), z = r.normal([3, 4]), s = r.normal([3, 2]);
        const idx = r.ints([3, 2], 0, 4);
        const fns: [string, (...a: T[]) => T][] = [
          ["gather", (a) => tr.sum(tr.sin(tr.takeAlongAxis(a, idx, 1)))],
          ["scatter_add", (a) => tr.sum(tr.sin(tr.scatterAdd(a, idx, tr.mul(s, a.slice([null, [0, 2]])), 1)))],
          ["sort", (a) => tr.sum(tr.mul(tr.sort(a, { axis: 0 }), z))],
          ["topk", (a) => tr.sum(tr.exp(tr.topk(a, 2, { axis: 1 })[0]))],
        ];
        for (const [name, f] of fns) {
          await same(tr.jit(f)(x) as T, f(x), `jit ${name}`);
          const g = tr.grad(f);
          await same(tr.jit(g)(x) as T, g(x) as T, `jit of grad ${name}`);
        }
        const both = (a: T) => sortWithIndices(a, 1, true);
        const [jv, ji] = tr.jit(both)(x) as T[];
        const [ev, ei] = both(x);
        await same(jv!, ev, "jit sort values");
        await same(ji!, ei, "jit sort indices");
      }));
    test("the jaxpr shows the primitives", () =>
      withBackend(backend, () => {
        const idx = i32([0, 1], [2]);
        const j = tr.makeJaxpr((a: T) => tr.grad((b: T) => tr.sum(tr.take(tr.sort(b), idx)))(a))(f64([2, 1, 3], [3])).toString();
        assert.match(j, /sort\[axis=0 descending=false\]/);
        assert.match(j, /gather\[axis=1\]/);
        assert.match(j, /scatter_add\[axis=\d\]/);
      }));
  });

  describe(`errors name the op, the argument and the shapes [${backend}]`, () => {
    test("ops", () =>
      withBackend(backend, () => {
        const x = tr.zeros([2, 3]);
        assert.throws(() => tr.take(x, tr.tensor([0.5])), /take: indices must have an integer dtype, got float32/);
        assert.throws(() => tr.take(x, [0, 3], { axis: 1 }), /take: indices holds 3 at flat position 1, outside \[-3, 3\) for axis 1 of size 3/);
        assert.throws(() => tr.take(x, [0], { axis: 2 }), /take: axis 2 is out of range for an array of rank 2/);
        assert.throws(() => tr.takeAlongAxis(x, i32([0], [1]), 1), /takeAlongAxis: indices shape \[1\] \(rank 1\) must have the rank of the array shape \[2,3\]/);
        assert.throws(() => tr.takeAlongAxis(x, i32([0, 0, 0], [3, 1]), 1), /takeAlongAxis: indices shape \[3,1\] does not broadcast against array shape \[2,3\] on axis 0/);
        assert.throws(() => tr.scatterAdd(x, i32([0, 0, 0], [3, 1]), tr.ones([3, 1]), 1), /scatterAdd: indices shape \[3,1\] exceeds self shape \[2,3\] on axis 0/);
        assert.throws(() => tr.scatterAdd(x, i32([0], [1]), tr.ones([1, 1]), 1), /scatterAdd: self \[2,3\], indices \[1\] and src \[1,1\] must have the same rank/);
        assert.throws(() => tr.oneHot([0, 4], 4), /oneHot: indices holds 4 at flat position 1, outside \[0, 4\) for 4 classes/);
        assert.throws(() => tr.embedding([0], tr.zeros([4])), /embedding: weight must be 2-D \[numEmbeddings, dim\], got shape \[4\]/);
        assert.throws(() => tr.embedding([5], tr.zeros([4, 2])), /embedding: ids holds 5 .* for an embedding table of 4 rows/);
        assert.throws(() => tr.topk(x, 4), /topk: k must be an integer in \[0, 3\] for axis 1 of shape \[2,3\], got 4/);
        assert.throws(() => tr.sort(x, { axis: 2 }), /sort: axis 2 is out of range/);
      }));
    test("primitives", () =>
      withBackend(backend, () => {
        const x = tr.zeros([2, 3]);
        assert.throws(() => gather(x, i32([0, 0, 0], [3, 1]), 1), /gather: indices shape \[3,1\] must equal operand shape \[2,3\] on every axis but 1 \(axis 0: 3 vs 2\)/);
        assert.throws(() => gather(x, tr.zeros([2, 1]), 1), /gather: indices must have an integer dtype, got float32/);
        assert.throws(() => gather(x, i32([0, 0], [2]), 0), /gather: indices have shape \[2\] \(rank 1\) but the operand has shape \[2,3\] \(rank 2\)/);
        assert.throws(() => scatterAddPrim(x, i32([0, 0], [2, 1]), tr.zeros([2, 1], "float64"), 1), /scatter_add: updates have dtype float64 but the operand has float32/);
        assert.throws(() => scatterAddPrim(x, i32([0, 0], [2, 1]), tr.zeros([2, 2]), 1), /scatter_add: indices shape \[2,1\] must equal updates shape \[2,2\]/);
        assert.throws(() => sortWithIndices(x, 2), /sort: axis 2 is out of range for operand shape \[2,3\]/);
        assert.throws(() => tr.jit((a: T) => gather(a, i32([0], [1, 1]), 2))(x), /gather: axis 2 is out of range for operand shape \[2,3\]/);
      }));
  });
}
