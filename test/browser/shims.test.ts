// The browser run's stand-ins for node:assert, node:test, node:path and node:url agree with Node's own.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import nodePath from "node:path";
import { fileURLToPath as nodeFileURLToPath, pathToFileURL as nodePathToFileURL } from "node:url";
import shim from "./shims/assert.js";
import * as shimTest from "./shims/node-test.js";
import * as shimPath from "./shims/path.js";
import { fileURLToPath, pathToFileURL } from "./shims/url.js";

const throwsOf = (f: () => unknown): boolean => {
  try {
    f();
    return false;
  } catch {
    return true;
  }
};

class MyError extends Error {}

describe("browser shims", () => {
  test("deepEqual/equal fail exactly when node:assert/strict's do", () => {
    const m1 = new Map<unknown, unknown>([["a", [1, 2]]]), m2 = new Map<unknown, unknown>([["a", [1, 2]]]), m3 = new Map<unknown, unknown>([["a", [1, 3]]]);
    const pairs: [unknown, unknown][] = [
      [1, 1], [1, "1"], [NaN, NaN], [0, -0], [[1, 2], [1, 2]], [[1, 2], [2, 1]], [[1, [2, [3]]], [1, [2, [3]]]],
      [{ a: 1, b: [1] }, { b: [1], a: 1 }], [{ a: 1 }, { a: 1, b: undefined }], [new Float32Array([1, NaN]), new Float32Array([1, NaN])],
      [new Float32Array([1, 2]), new Float64Array([1, 2])], [new Int32Array([0]), new Int32Array([-0])], [new Float32Array([0]), new Float32Array([-0])],
      [m1, m2], [m1, m3], [new Set([1, 2]), new Set([2, 1])], [new Set([[1]]), new Set([[1]])], [new Date(5), new Date(5)], [/a/g, /a/g], [/a/g, /a/i],
      [Object.create(null), {}], [[1, , 3], [1, undefined, 3]], ["a", "a"], [null, undefined], [{ x: new Uint8Array([1]) }, { x: new Uint8Array([1]) }],
    ];
    pairs.forEach(([a, b], i) => {
      assert.equal(throwsOf(() => shim.deepEqual(a, b)), throwsOf(() => assert.deepEqual(a, b)), `deepEqual, pair ${i}`);
      assert.equal(throwsOf(() => shim.notDeepEqual(a, b)), throwsOf(() => assert.notDeepEqual(a, b)), `notDeepEqual, pair ${i}`);
      assert.equal(throwsOf(() => shim.equal(a, b)), throwsOf(() => assert.equal(a, b)), `equal, pair ${i}`);
    });
  });

  test("throws and rejects accept the expectations node accepts", async () => {
    const boom = () => {
      throw new MyError("bad shape [2, 3]");
    };
    const expectations: unknown[] = [
      /shape \[2, 3\]/, /^Error: bad/, /nothing/, MyError, Error, TypeError, (e: unknown) => e instanceof MyError, (e: unknown) => e instanceof TypeError,
      { message: "bad shape [2, 3]" }, { message: /shape/ }, { message: "other" }, { name: "Error" }, undefined,
    ];
    for (const ex of expectations) {
      type Ex = Parameters<typeof assert.throws>[1];
      const got = throwsOf(() => shim.throws(boom, ex as never));
      const want = throwsOf(() => assert.throws(boom, ex as Ex));
      assert.equal(got, want, `throws with ${String(ex)}`);
      let shimRejected = false, nodeRejected = false;
      await shim.rejects(async () => boom(), ex as never).catch(() => (shimRejected = true));
      await assert.rejects(async () => boom(), ex as Ex).catch(() => (nodeRejected = true));
      assert.equal(shimRejected, nodeRejected, `rejects with ${String(ex)}`);
    }
    assert.ok(throwsOf(() => shim.throws(() => 1)));
    assert.ok(throwsOf(() => shim.match("abc", /d/)) && !throwsOf(() => shim.match("abc", /b/)));
    assert.ok(throwsOf(() => shim(0, "falsy")) && !throwsOf(() => shim.ok(1)));
  });

  test("describe/test register in order and run with hooks, skips and subtests", async () => {
    const log: string[] = [];
    shimTest.resetRegistry();
    shimTest.describe("outer", () => {
      shimTest.beforeEach(() => void log.push("beforeEach"));
      shimTest.test("a", () => void log.push("a"));
      shimTest.test("b", { skip: true }, () => void log.push("b"));
      shimTest.describe("inner", () => {
        shimTest.test("c", async (t) => {
          log.push("c");
          await t.test("c.1", () => void log.push("c.1"));
        });
        shimTest.test("d", () => {
          throw new Error("d fails");
        });
      });
    });
    shimTest.test.skip("e", () => void log.push("e"));
    const results: shimTest.TestResult[] = [];
    await shimTest.runRegistered((r) => results.push(r));
    assert.deepEqual(log, ["beforeEach", "a", "beforeEach", "c", "c.1", "beforeEach"]);
    assert.deepEqual(results.map((r) => `${[...r.path, r.name].join("/")}:${r.status}`), [
      "outer/a:pass", "outer/b:skip", "outer/inner/c:pass", "outer/inner/c/c.1:pass", "outer/inner/d:fail", "e:skip",
    ]);
    assert.match(results[4]!.error!, /d fails/);
    shimTest.resetRegistry();
    shimTest.test("ruled out", () => void log.push("ruled out"));
    const ruled: shimTest.TestResult[] = [];
    await shimTest.runRegistered((r) => ruled.push(r), (_p, name) => (name === "ruled out" ? "needs Node" : null));
    assert.deepEqual(ruled.map((r) => [r.status, r.error]), [["skip", "needs Node"]]);
  });

  test("path and url helpers match Node's POSIX ones", () => {
    const paths = ["/a/b/../c/./d.json", "a/../../b", "/", "/a/", "x.test.ts", "/work/main/test/../../other/fixtures/ops.json", ".hidden", "a/b."];
    for (const p of paths) {
      assert.equal(shimPath.normalize(p), nodePath.posix.normalize(p).replace(/(.)\/$/, "$1"), p);
      assert.equal(shimPath.dirname(p), nodePath.posix.dirname(p), p);
      assert.equal(shimPath.basename(p), nodePath.posix.basename(p), p);
      assert.equal(shimPath.extname(p), nodePath.posix.extname(p), p);
    }
    assert.equal(shimPath.join("/a", "b", "../c"), nodePath.posix.join("/a", "b", "../c"));
    assert.equal(shimPath.resolve("/a/b", "../c", "d"), nodePath.posix.resolve("/a/b", "../c", "d"));
    const file = "/work/main/test/conformance/fixtures.test.ts";
    const u = new URL("../../../other/fixtures/ops.json", pathToFileURL(file));
    assert.equal(fileURLToPath(u), nodeFileURLToPath(new URL("../../../other/fixtures/ops.json", nodePathToFileURL(file))));
    assert.equal(pathToFileURL("/a b/c").href, nodePathToFileURL("/a b/c").href);
  });
});
