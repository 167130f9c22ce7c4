// Non-finite and signed-zero JS numbers must key caches apart: JSON writes NaN, Infinity and -Infinity
// all as null and -0 as 0, and a kernel cached for one would otherwise be reused for the others.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend } from "../helpers.js";

for (const backend of BACKENDS) {
  describe(`constants that JSON cannot tell apart [${backend}]`, () => {
    test("where and add with -Infinity, Infinity, NaN, -0 in turn", () =>
      withBackend(backend, () => {
        const c = tr.tensor([true, false]), x = tr.tensor([1, 2]);
        for (const v of [-Infinity, Infinity, NaN, -0, 0]) {
          const w = tr.where(c, v, x).dataSync();
          assert.ok(Object.is(w[0], v) && w[1] === 2, `where(c, ${v}, x) gave ${w[0]}`);
          assert.ok(Object.is(tr.full([1], v).dataSync()[0], v), `full(${v})`);
        }
        assert.ok(Number.isNaN(tr.add(x, NaN).dataSync()[0]!));
        assert.equal(tr.add(x, Infinity).dataSync()[0], Infinity);
      }));

    test("jit static arguments NaN and Infinity are different cache entries", () =>
      withBackend(backend, () => {
        const f = tr.jit((x: tr.Tensor, v: number) => tr.add(x, v), { staticArgnums: [1] });
        const x = tr.tensor([1]);
        assert.equal(f(x, Infinity).dataSync()[0], Infinity);
        assert.ok(Number.isNaN(f(x, NaN).dataSync()[0]!));
        assert.equal(f(x, -Infinity).dataSync()[0], -Infinity);
      }));
  });
}
