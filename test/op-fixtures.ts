// The PyTorch reference cases of test/fixtures/ops.json, run through trident/testing: the suites of
// test/ops pick their ops' cases here and check them with the fixture tolerance rules.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { compareCase, loadFixtures, runCase, type CompareOptions, type FixtureCase, type RunOptions } from "../src/testing/index.js";

/** The path of the PyTorch op references, for every suite that reads them. */
export const FIXTURES = fileURLToPath(new URL("./fixtures/ops.json", import.meta.url));
let all: Promise<FixtureCase[]> | null = null;

/** The reference cases of these ops, in file order (the file is read once per process). */
export async function opCases(ops: readonly string[]): Promise<FixtureCase[]> {
  all ??= loadFixtures(FIXTURES).then((f) => f.cases);
  return (await all).filter((c) => ops.includes(c.op));
}

/** Run a case (forward, and vjp when it has one) and assert it matches its reference. */
export async function assertCase(c: FixtureCase, run: RunOptions, tol: CompareOptions = {}): Promise<void> {
  const { ok, message } = compareCase(c, await runCase(c, run), tol);
  assert.ok(ok, message);
}

/**
 * Register a suite's reference-case tests on one backend: every op has cases, and each case matches with
 * its own tolerance as given and with `tight` when computed in float64.
 */
export function describeOpCases(title: string, backend: string, ops: readonly string[], cases: FixtureCase[], tight: CompareOptions): void {
  describe(title, () => {
    test("every op of this suite has reference cases", () => {
      for (const op of ops) assert.ok(cases.some((c) => c.op === op), `no fixture case for ${op}`);
    });
    for (const c of cases) {
      test(c.id, () => assertCase(c, { backend }));
      test(`${c.id} in float64 (tight)`, () => assertCase(c, { backend, floatDtype: "float64" }, tight));
    }
  });
}
