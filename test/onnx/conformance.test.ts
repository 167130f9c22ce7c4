// The ONNX v1.22.0 node conformance suite through onnx.load(...).runNative: every case classified, no
// crashes, and a pass count that may only rise. `npm run onnx:conformance` runs the same suite and also
// regenerates docs/onnx-operators.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import { counts, report, runSuite } from "./conformance.js";

/** Cases passing today; raise it when more pass, never lower it. */
const PASS_FLOOR = 1554;

test("ONNX node conformance suite: passes at or above the floor, nothing crashes", { timeout: 15 * 60_000 }, async () => {
  const results = await runSuite({ workers: 2, timeout: 60 });
  await report(results);
  const c = counts(results);
  const crashed = results.filter((r) => r.status === "crashed");
  assert.equal(c.total, 1765, "the suite should hold 1765 cases");
  assert.deepEqual(crashed.map((r) => `${r.name}: ${r.detail}`), [], "cases must pass, fail or be unsupported, never crash");
  assert.ok(c.passed >= PASS_FLOOR, `${c.passed} cases passed, below the floor of ${PASS_FLOOR} (failed ${c.failed}, unsupported ${c.unsupported})`);
  console.log(`ONNX conformance: ${c.passed} passed, ${c.failed} failed, ${c.unsupported} unsupported, ${c.crashed} crashed of ${c.total}`);
});
