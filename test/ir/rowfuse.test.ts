// Row fusion (ir/rowfuse.ts) and the code generator's per-row hoisting and row stash: jitted row-wise
// programs (softmax, logSoftmax, logsumexp, layerNorm and softmax's gradient) against float64 closed forms
// computed here in plain JS, on every backend, with row lengths around the vector widths.
import * as tr from "../../src/index.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BACKENDS, withBackend, assertClose } from "../helpers.js";
import { compileJaxpr } from "../../src/transforms/compile.js";
import { compileKernelModule } from "../../src/backend/wasm/codegen.js";

type T = tr.Tensor;
const rowFusion = (): boolean => (tr.getBackend() as { fusionOptions?: { rowFusion?: boolean } }).fusionOptions?.rowFusion === true;

/** Deterministic values in [-4, 4) with a few large ones, so that max subtraction matters. */
function data(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 8 - 4 + (i % 17 === 3 ? 40 : 0);
  });
}

/** Apply a row function to every row of length c. */
const rows = (x: readonly number[], c: number, fn: (row: number[]) => number[]): number[] => {
  const out: number[] = [];
  for (let i = 0; i < x.length; i += c) out.push(...fn(x.slice(i, i + c)));
  return out;
};
const softmaxRow = (r: number[]): number[] => {
  const m = Math.max(...r);
  const e = r.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const lseRow = (r: number[]): number => {
  const m = Math.max(...r);
  return m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0));
};

const SHAPES: number[][] = [[5, 9], [3, 4, 37], [2, 1000], [6, 8], [4, 67]];
// float32: logSoftmax of values near 40 cancels to an absolute error of a few ulp(40) ≈ 4e-6
const TOL = { float32: { rtol: 2e-5, atol: 2e-5 }, float64: { rtol: 1e-12, atol: 1e-15 } } as const;

for (const backend of BACKENDS) {
  const it = (name: string, fn: () => void | Promise<void>) => test(name, () => withBackend(backend, fn));
  describe(`row-wise programs under jit (${backend})`, () => {
    for (const dtype of ["float32", "float64"] as const) {
      for (const shape of SHAPES) {
        const c = shape.at(-1)!, n = shape.reduce((a, b) => a * b, 1);
        const xs = data(n, n + c);
        const x = () => tr.tensor(xs, { dtype }).reshape(shape);
        it(`softmax, logSoftmax, logsumexp ${dtype} [${shape}]`, () => {
          const sm = tr.jit((v: T) => tr.softmax(v, { axis: -1 }));
          assertClose(Array.from(sm(x()).dataSync()), rows(xs, c, softmaxRow), TOL[dtype]);
          const lsm = tr.jit((v: T) => tr.logSoftmax(v, { axis: -1 }));
          assertClose(Array.from(lsm(x()).dataSync()), rows(xs, c, (r) => r.map((v) => v - lseRow(r))), TOL[dtype]);
          const lse = tr.jit((v: T) => tr.logsumexp(v, { axis: -1 }));
          assertClose(Array.from(lse(x()).dataSync()), rows(xs, c, (r) => [lseRow(r)]), TOL[dtype]);
        });
        it(`layerNorm ${dtype} [${shape}]`, () => {
          const w = data(c, 7).map((v) => v / 4), b = data(c, 8).map((v) => v / 4);
          const f = tr.jit((v: T, wt: T, bt: T) => tr.layerNorm(v, wt, bt, { eps: 1e-5 }));
          const want = rows(xs, c, (r) => {
            const mean = r.reduce((a, v) => a + v, 0) / c;
            const vr = r.reduce((a, v) => a + (v - mean) ** 2, 0) / c;
            return r.map((v, j) => ((v - mean) / Math.sqrt(vr + 1e-5)) * w[j]! + b[j]!);
          });
          assertClose(Array.from(f(x(), tr.tensor(w, { dtype }), tr.tensor(b, { dtype })).dataSync()), want, { rtol: dtype === "float32" ? 1e-4 : 1e-10, atol: dtype === "float32" ? 1e-5 : 1e-12 });
        });
      }
    }

    it("the gradient of sum(softmax(x)·w) is s·(w − Σ s·w) (float64)", () => {
      const shape = [6, 45], c = 45;
      const xs = data(270, 3), ws = data(270, 4);
      const g = tr.jit(tr.grad((v: T, w: T) => tr.sum(tr.softmax(v, { axis: -1 }).mul(w))));
      const t = (v: number[]) => tr.tensor(v, { dtype: "float64" }).reshape(shape);
      const got = Array.from(g(t(xs), t(ws)).dataSync());
      const want: number[] = [];
      for (let i = 0; i < 6; i++) {
        const s = softmaxRow(xs.slice(i * c, (i + 1) * c)), w = ws.slice(i * c, (i + 1) * c);
        const dot = s.reduce((a, v, j) => a + v * w[j]!, 0);
        want.push(...s.map((v, j) => v * (w[j]! - dot)));
      }
      assertClose(got, want, TOL.float64);
    });

    it("a row reduction that is also an output, or read across rows, stays stored and correct", () => {
      const xs = data(4 * 12, 5), x = tr.tensor(xs).reshape([4, 12]);
      const f = (v: T) => {
        const m = tr.max(v, { axis: -1, keepdims: true });
        // the column max is read along the innermost axis: not a row value of the consumer
        const col = tr.max(v, { axis: 0, keepdims: true });
        return [v.sub(m).exp(), m, v.sub(col)];
      };
      const [e, m, d] = tr.jit(f)(x) as T[];
      const rowMax = rows(xs, 12, (r) => [Math.max(...r)]);
      const colMax = Array.from({ length: 12 }, (_, j) => Math.max(...[0, 1, 2, 3].map((i) => xs[i * 12 + j]!)));
      assertClose(Array.from(m!.dataSync()), rowMax, TOL.float32);
      assertClose(Array.from(e!.dataSync()), xs.map((v, i) => Math.exp(v - rowMax[Math.floor(i / 12)]!)), TOL.float32);
      assertClose(Array.from(d!.dataSync()), xs.map((v, i) => v - colMax[i % 12]!), TOL.float32);
    });

    it("kernel counts: softmax and logsumexp are one kernel with row fusion", () => {
      const x = tr.tensor(data(64, 9)).reshape([4, 16]);
      const count = (f: (v: T) => T) => compileJaxpr(tr.makeJaxpr(f)(x)).numKernels;
      const sm = count((v) => tr.softmax(v, { axis: -1 })), lse = count((v) => tr.logsumexp(v, { axis: -1 }));
      if (rowFusion()) {
        assert.equal(sm, 1);
        assert.equal(lse, 1);
      } else {
        assert.ok(sm >= 2 && lse >= 2);
      }
    });
  });
}

describe("wasm row stash", () => {
  test("softmax's kernel stores exp(x − max) in its output row during the sum, and threads do not change a bit", () => withBackend("wasm", async () => {
    const x = tr.tensor(data(64 * 1000, 11)).reshape([64, 1000]);
    const f = (v: T) => tr.softmax(v, { axis: -1 });
    const p = compileJaxpr(tr.makeJaxpr(f)(x));
    const k = p.plan.steps[0]!;
    assert.ok(k.kind === "kernel");
    const info = compileKernelModule(k.fused.kernel, { shared: false, relaxed: false });
    assert.equal(info.plan, "vector");
    assert.equal(info.rowStash, true);
    const be = tr.getBackend() as unknown as { setThreads(n: number): void; ready(): Promise<void>; getThreads(): number };
    const before = be.getThreads();
    try {
      be.setThreads(1);
      const one = tr.jit(f)(x).dataSync();
      be.setThreads(2);
      await be.ready();
      const two = tr.jit(f)(x).dataSync();
      assert.deepEqual(Array.from(two), Array.from(one));
      assertClose(Array.from(one), rows(data(64 * 1000, 11), 1000, softmaxRow), TOL.float32);
    } finally {
      be.setThreads(before);
    }
  }));
});
