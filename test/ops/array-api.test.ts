// The Array API names of src/ops/array-api.ts: values against NumPy (test/fixtures/array_api.json),
// gradients against finite differences, on every backend.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tr from "../../src/index.js";
import { fixtureToTensor, fixtureValues, type FixtureTensor } from "../../src/testing/index.js";
import { BACKENDS, assertClose, checkGrads, randomTensors, withBackend } from "../helpers.js";

interface Case { id: string; op: string; args: FixtureTensor[]; params: Record<string, number>; out: FixtureTensor }
const fx = JSON.parse(readFileSync(new URL("../fixtures/array_api.json", import.meta.url), "utf8")) as {
  cases: Case[];
  finfo: Record<string, { eps: number; max: number; smallestNormal: number; bits: number }>;
  iinfo: Record<string, { min: number; max: number; bits: number }>;
};

const OPS: Record<string, (args: tr.Tensor[], p: Record<string, number>) => tr.Tensor> = {
  hypot: ([x, y]) => tr.hypot(x!, y!),
  logaddexp: ([x, y]) => tr.logaddexp(x!, y!),
  log2: ([x]) => tr.log2(x!),
  log10: ([x]) => tr.log10(x!),
  signbit: ([x]) => tr.signbit(x!),
  copysign: ([x, y]) => tr.copysign(x!, y!),
  bitwiseLeftShift: ([x, y]) => tr.bitwiseLeftShift(x!, y!),
  bitwiseRightShift: ([x, y]) => tr.bitwiseRightShift(x!, y!),
  bitwiseInvert: ([x]) => tr.bitwiseInvert(x!),
  var: ([x], p) => tr.var(x!, { axis: p["axis"], correction: p["correction"] }),
};

function sameValues(actual: ArrayLike<number>, expected: number[], rtol: number, msg: string): void {
  // non-finite values and signed zeros must match exactly; the rest within rtol
  expected.forEach((e, i) => {
    const a = actual[i]!;
    if (!Number.isFinite(e) || e === 0) assert.ok(Object.is(a, e) || (e === 0 && a === 0 && rtol > 0 && Math.abs(a) === 0), `${msg}[${i}]: ${a} vs ${e}`);
  });
  assertClose(
    expected.map((e, i) => (Number.isFinite(e) ? actual[i]! : 0)),
    expected.map((e) => (Number.isFinite(e) ? e : 0)),
    { rtol, atol: rtol * 1e-3, msg },
  );
}

for (const backend of BACKENDS) {
  describe(`Array API functions [${backend}]`, () => {
    for (const c of fx.cases) {
      for (const floatDtype of ["float32", "float64"] as const) {
        test(`${c.id} ${floatDtype} matches NumPy`, () =>
          withBackend(backend, () => {
            const out = OPS[c.op]!(c.args.map((a) => fixtureToTensor(a, { floatDtype })), c.params);
            assert.deepEqual(out.shape, c.out.shape);
            const want = fixtureValues(c.out);
            // float32 stores results rounded: overflowing float64 values become infinities there
            const expected = floatDtype === "float32" && c.out.dtype === "float32" ? want.map((v) => Math.fround(v)) : want;
            sameValues(out.dataSync(), expected, floatDtype === "float32" ? 2e-6 : 1e-12, c.id);
          }));
      }
    }

    test("gradients of hypot, logaddexp, copysign, log2, log10 match finite differences", () =>
      withBackend(backend, () => {
        const r = randomTensors(7);
        const x = r([3, 4]), y = r([4]);
        checkGrads((a, b) => tr.hypot(a!, b!), [x, y], 1);
        checkGrads((a, b) => tr.logaddexp(a!, b!), [x, y], 2);
        checkGrads((a) => tr.copysign(a!, y), [x], 3);
        const p = tr.add(tr.abs(x), 0.5);
        checkGrads((a) => tr.log2(a!), [p], 4);
        checkGrads((a) => tr.log10(a!), [p], 5);
      }));

    test("vmap and jit of hypot and logaddexp agree with eager", () =>
      withBackend(backend, () => {
        const r = randomTensors(9);
        const x = r([5, 3]), y = r([5, 3]);
        const f = (a: tr.Tensor, b: tr.Tensor) => tr.add(tr.hypot(a, b), tr.logaddexp(a, b));
        assertClose(tr.vmap(f)(x, y).dataSync(), f(x, y).dataSync(), { rtol: 1e-12 });
        assertClose(tr.jit(f)(x, y).dataSync(), f(x, y).dataSync(), { rtol: 1e-12 });
      }));

    test("unstack, concat, permuteDims, positive, asarray, empty", () =>
      withBackend(backend, () => {
        const x = tr.tensor([[1, 2, 3], [4, 5, 6]]);
        const cols = tr.unstack(x, 1);
        assert.deepEqual(cols.map((c) => Array.from(c.dataSync())), [[1, 4], [2, 5], [3, 6]]);
        const [a, b] = tr.unstack(x);
        assert.deepEqual([Array.from(a!.dataSync()), Array.from(b!.dataSync())], [[1, 2, 3], [4, 5, 6]]);
        assert.deepEqual(Array.from(tr.concat([x, x], 1).dataSync()), [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
        assert.deepEqual(tr.permuteDims(tr.zeros([2, 3, 4]), [2, 0, 1]).shape, [4, 2, 3]);
        assert.deepEqual(Array.from(tr.positive(x).dataSync()), [1, 2, 3, 4, 5, 6]);
        assert.equal(tr.asarray(x), x);
        assert.notEqual(tr.asarray(x, { copy: true }), x);
        assert.equal(tr.asarray([1.5, 2], { dtype: "float64" }).dtype, "float64");
        assert.throws(() => tr.asarray(x, { dtype: x.dtype === "float64" ? "float32" : "float64", copy: false }), /asarray: copy: false/);
        assert.deepEqual(tr.empty([2, 2]).shape, [2, 2]);
        assert.equal(tr.emptyLike(x).dtype, x.dtype);
        assert.throws(() => tr.unstack(tr.tensor(1)), /unstack: expects at least one axis/);
        assert.throws(() => tr.bitwiseLeftShift(tr.tensor([1.5]), 1), /bitwiseLeftShift: expects integer operands, got float32/);
        assert.throws(() => tr.var(x, { ddof: 1, correction: 0 }), /two names for one option/);
      }));
  });
}

describe("Array API data-type functions", () => {
  test("finfo and iinfo match NumPy", () => {
    for (const [d, f] of Object.entries(fx.finfo)) {
      const t = tr.finfo(d as tr.DType);
      assert.deepEqual({ eps: t.eps, max: t.max, smallestNormal: t.smallestNormal, bits: t.bits }, f, d);
    }
    for (const [d, f] of Object.entries(fx.iinfo)) {
      const t = tr.iinfo(d as tr.DType);
      assert.deepEqual({ min: t.min, max: t.max, bits: t.bits }, f, d);
    }
    assert.throws(() => tr.finfo("int32"), /finfo: expects a floating dtype, got int32/);
  });

  test("resultType, canCast and isdtype follow the JAX promotion lattice", () => {
    assert.equal(tr.resultType("int32", "float32"), "float32");
    assert.equal(tr.resultType("float32", "float64"), "float64");
    assert.equal(tr.resultType(tr.zeros([1], "float16"), 2.5), "float16");
    assert.equal(tr.resultType("uint8", "int8"), tr.add(tr.zeros([1], "uint8"), tr.zeros([1], "int8")).dtype);
    assert.equal(tr.canCast("int8", "int32"), true);
    assert.equal(tr.canCast("float64", "float32"), false);
    assert.equal(tr.isdtype("int32", "integral"), true);
    assert.equal(tr.isdtype("uint8", "signed integer"), false);
    assert.equal(tr.isdtype("float16", ["bool", "real floating"]), true);
    assert.throws(() => tr.isdtype("float32", "floating" as never), /isdtype: kind must be/);
    assert.deepEqual(Object.keys(tr.arrayNamespaceInfo().dtypes({ kind: "real floating" })).sort(), ["bfloat16", "float16", "float32", "float64"]);
    assert.equal(tr.newaxis, null);
    assert.equal(tr.pi, Math.PI);
  });
});
