// torch.nn.functional ops of src/ops/nnextra.ts and src/ops/resample.ts against PyTorch 1.13 (forward
// values and the input gradients of sum(out * cotangent)), in float64 and float32, eager and jit.
import { describe, test } from "node:test";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";
import { fixtureValues } from "../../src/testing/index.js";
import { CASES, caller, diffArgs, inputs, type NnOpCase } from "./nn_ops_fixtures.js";

type T = tr.Tensor;

function check(c: NnOpCase, dtype: tr.DType, useJit: boolean, tol: { rtol: number; atol: number }): void {
  const f = caller(c);
  const xs = inputs(c, dtype);
  const out = (useJit ? tr.jit(f) : f)(...xs);
  if (out.shape.join() !== c.out.shape.join()) throw new Error(`${c.id}: shape [${out.shape}] != [${c.out.shape}]`);
  assertClose(values(out), fixtureValues(c.out), { ...tol, msg: `${c.id} forward` });
  const idx = diffArgs(c);
  if (idx.length === 0) return;
  const ct = inputs({ ...c, args: [c.cotangent] }, dtype)[0]!;
  const loss = (...ds: T[]) => {
    const all = xs.slice();
    idx.forEach((k, j) => (all[k] = ds[j]!));
    return tr.sum(tr.mul(f(...all), ct));
  };
  const g = tr.grad(useJit ? tr.jit(loss) : loss, { argnums: idx.map((_, j) => j) })(...idx.map((k) => xs[k]!)) as T[];
  idx.forEach((k, j) => assertClose(values(g[j]!), fixtureValues(c.grads[k]!), { ...tol, msg: `${c.id} grad of arg ${k}` }));
}

for (const backend of BACKENDS) {
  describe(`nn ops against PyTorch [${backend}]`, () => {
    for (const c of CASES) {
      test(c.id, () =>
        withBackend(backend, () => {
          check(c, "float64", false, { rtol: 1e-9, atol: 1e-10 });
          check(c, "float32", false, { rtol: 2e-4, atol: 2e-5 });
        }));
    }
    test("jit matches PyTorch on every case (float32)", () =>
      withBackend(backend, () => {
        for (const c of CASES) check(c, "float32", true, { rtol: 2e-4, atol: 2e-5 });
      }));
  });
}
