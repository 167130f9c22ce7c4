// docs/array-api.md is generated from the library's exports; this keeps the committed table true.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { COVERAGE_PATH, coverage } from "../../scripts/array-api-coverage.js";

test("docs/array-api.md matches the library's exports (regenerate with npm run docs:array-api)", () => {
  assert.equal(readFileSync(COVERAGE_PATH, "utf8"), coverage().markdown);
});

test("every applicable Array API 2023.12 name (with linalg and fft) has a Trident function", () => {
  assert.deepEqual(coverage().missing, []);
});
