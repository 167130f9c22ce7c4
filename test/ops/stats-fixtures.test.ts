// Everyday ops against NumPy / PyTorch references (test/fixtures/everyday_ops.json).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";

type Num = number | null;
const F = JSON.parse(readFileSync(new URL("../fixtures/everyday_ops.json", import.meta.url), "utf8")).cases as Record<string, unknown>;
const flat = (a: unknown): number[] => (Array.isArray(a) ? a.flatMap(flat) : [a === null ? NaN : (a as number)]);
const mat = (key: string) => { const a = F[key] as Num[][]; return tr.fromTypedArray(Float64Array.from(flat(a)), [a.length, a[0]!.length], "float64"); };

for (const backend of BACKENDS) {
  describe(`everyday ops vs NumPy/PyTorch [${backend}]`, () => {
    const run = (name: string, f: () => void) => test(name, () => withBackend(backend, f));
    run("quantile methods", () => {
      const x = mat("x");
      for (const m of ["linear", "lower", "higher", "nearest", "midpoint"] as const)
        assertClose(values(tr.quantile(x, [0.1, 0.37, 0.5, 0.9], { axis: 1, method: m })), flat(F["quantile_" + m]), { msg: m, rtol: 1e-9, atol: 1e-12 });
    });
    run("median, cummax, cummin, cumprod, diff", () => {
      const x = mat("x");
      const m = tr.median(x, 1);
      assertClose(values(m.values), flat(F.median_values));
      assert.deepEqual(values(m.indices), flat(F.median_indices));
      assertClose([tr.median(x).item()], [F.median_all as number]);
      const cm = tr.cummax(x, 1), cn = tr.cummin(x, 1);
      const [cmv, cmi] = F.cummax as unknown[], [cnv, cni] = F.cummin as unknown[];
      assertClose(values(cm.values), flat(cmv)); assert.deepEqual(values(cm.indices), flat(cmi));
      assertClose(values(cn.values), flat(cnv)); assert.deepEqual(values(cn.indices), flat(cni));
      assertClose(values(tr.cumprod(x, { axis: 1 })), flat(F.cumprod), { rtol: 1e-9, atol: 1e-12 });
      assertClose(values(tr.diff(x, { n: 2, axis: 1 })), flat(F.diff2), { rtol: 1e-9, atol: 1e-12 });
    });
    run("nanquantile, nanmedian, nanstd", () => {
      const xn = mat("xn");
      assertClose(values(tr.nanquantile(xn, [0.3, 0.8], { axis: 1 })), flat(F.nanquantile), { rtol: 1e-9, atol: 1e-12 });
      assertClose(values(tr.nanmedian(xn, { axis: 1 })), flat(F.nanmedian));
      assertClose(values(tr.nanstd(xn, { axis: 1, ddof: 1 })), flat(F.nanstd), { rtol: 1e-9, atol: 1e-12 });
    });
    run("bincount, histogram, histc, searchsorted", () => {
      const ints = tr.fromTypedArray(Int32Array.from(F.ints as number[]), [(F.ints as number[]).length], "int32");
      assert.deepEqual(values(tr.bincount(ints, { minlength: 8 })), F.bincount);
      const x = mat("x");
      const h = tr.histogram(x, { bins: 5 });
      const [hh, he] = F.histogram as number[][];
      assert.deepEqual(values(h.hist), hh); assertClose(values(h.binEdges), he!, { rtol: 1e-9 });
      assert.deepEqual(values(tr.histc(x, { bins: 4, min: -1, max: 1 })), F.histc);
      const s = tr.sort(tr.slice(x, [0, null])), v = tr.slice(x, [1, null]);
      const [l, r] = F.searchsorted as number[][];
      assert.deepEqual(values(tr.searchsorted(s, v)), l); assert.deepEqual(values(tr.searchsorted(s, v, { side: "right" })), r);
    });
  });
}
