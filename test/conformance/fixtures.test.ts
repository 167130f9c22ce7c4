// Every PyTorch reference case, forward and backward, on every backend (see /work/shared/fixtures).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { BACKENDS } from "../helpers.js";
import { compareCase, loadFixtures, runCase } from "../../src/testing/index.js";

const FIXTURES = fileURLToPath(new URL("../../../shared/fixtures/ops.json", import.meta.url));
const { cases } = await loadFixtures(FIXTURES);

for (const backend of BACKENDS) {
  describe(`fixtures (${backend})`, () => {
    test("the fixture file is complete", () => {
      assert.ok(cases.length >= 300, `expected the full fixture set, found ${cases.length} cases`);
    });
    for (const c of cases) {
      test(c.id, async () => {
        const r = await runCase(c, { backend });
        const { ok, message } = compareCase(c, r);
        assert.ok(ok, message);
      });
    }
  });
}
