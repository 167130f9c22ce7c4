// Every PyTorch reference case, forward and backward, on every backend (see test/fixtures): in the
// fixture's float32 with its tolerance, and on backends with exact float64 also in float64, where the
// references (float64 results of float32-representable inputs) must match to 1e-10.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend } from "../helpers.js";
import { FIXTURES } from "../op-fixtures.js";
import { compareCase, fixtureToTensor, knownOps, loadFixtures, runCase, tensorToFixture, type FixtureCase } from "../../src/testing/index.js";

const { cases } = await loadFixtures(FIXTURES);
const F64_TOL = { rtol: 1e-10, atol: 1e-10 };

for (const backend of BACKENDS) {
  const float64 = await withBackend(backend, () => tr.getBackend().supportsFloat64);
  describe(`fixtures (${backend})`, () => {
    test("the fixture file is complete", () => {
      assert.ok(cases.length >= 300, `expected the full fixture set, found ${cases.length} cases`);
    });
    for (const c of cases) {
      test(c.id, async () => {
        const r = await runCase(c, { backend });
        const { ok, message } = compareCase(c, r);
        assert.ok(ok, message);
        if (!float64) return;
        const r64 = await runCase(c, { backend, floatDtype: "float64" });
        const m64 = compareCase(c, r64, F64_TOL);
        assert.ok(m64.ok, `computed in float64: ${m64.message}`);
      });
    }
  });
}

describe("trident/testing adapter", () => {
  test("every fixture op has an entry in the op table", () => {
    const known = new Set(knownOps());
    const missing = [...new Set(cases.map((c) => c.op))].filter((op) => !known.has(op));
    assert.deepEqual(missing, []);
  });
  test("an unknown op raises a TridentError that lists the known ones", async () => {
    const c: FixtureCase = { id: "nope/0", op: "nope", args: [], params: {}, out: { dtype: "float32", shape: [], data: [0] } };
    await assert.rejects(runCase(c), (e: unknown) => e instanceof tr.TridentError && /unknown fixture op "nope"/.test(e.message) && /\bconv2d\b/.test(e.message));
  });
  test("non-finite values round-trip through the fixture format", async () => {
    const fx = { dtype: "float32", shape: [2, 2], data: [1.5, "nan" as const, "inf" as const, "-inf" as const] };
    assert.deepEqual(await tensorToFixture(fixtureToTensor(fx)), fx);
    const b = { dtype: "bool", shape: [3], data: [true, false, true] };
    assert.deepEqual(await tensorToFixture(fixtureToTensor(b)), b);
  });
  test("compareCase reports a wrong value, a wrong shape and a missing gradient", async () => {
    const c = cases.find((k) => k.op === "mul" && k.vjp)!;
    const r = await runCase(c);
    assert.ok(compareCase(c, r).ok);
    const off = { ...r, out: { ...r.out, data: r.out.data.map((v, i) => (i === 1 ? Number(v) + 1e-3 : v)) } };
    assert.match(compareCase(c, off).message, /out: 1 of \d+ values differ; first at flat index 1/);
    assert.match(compareCase(c, { ...r, out: { ...r.out, shape: [r.out.data.length] } }).message, /out: shape/);
    assert.match(compareCase(c, { ...r, grads: [r.grads![0]!, null] }).message, /grad\[1\]: missing/);
    // the case's own tolerance is honoured, and callers may tighten it
    assert.ok(!compareCase(c, off, { rtol: 0, atol: 0 }).ok);
  });
});
