import { describe, test } from "node:test";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";

type Fx = { dtype: string; shape: number[]; data: number[] };
type Case = { id: string; op: string; args: Fx[]; params: Record<string, unknown>; out: Fx | Record<string, Fx> };
const FIX = JSON.parse(readFileSync(new URL("../fixtures/linalg.json", import.meta.url), "utf8")) as { cases: Case[] };
const num = (v: unknown): number => (v === "inf" ? Infinity : v === "-inf" ? -Infinity : (v as number));
const L = tr.linalg;

function run(c: Case, args: tr.Tensor[]): Record<string, tr.Tensor> | tr.Tensor {
  const p = c.params;
  const [a, b] = args as [tr.Tensor, tr.Tensor];
  switch (c.op) {
    case "det": return L.det(a);
    case "slogdet": return L.slogdet(a);
    case "inv": return L.inv(a);
    case "solve": return L.solve(a, b);
    case "cholesky": return L.cholesky(a);
    case "svdvals": return L.svdvals(a);
    case "pinv": return L.pinv(a);
    case "matrixRank": return tr.astype(L.matrixRank(a), a.dtype);
    case "eigvalsh": return L.eigvalsh(a);
    case "eighAbsVectors": return tr.abs(L.eigh(a).eigenvectors);
    case "qrAbsR": return tr.abs(L.qr(a).R);
    case "lstsq": return L.lstsq(a, b).solution;
    case "matrixNorm": return L.matrixNorm(a, { ord: (typeof p["ord"] === "number" ? p["ord"] : p["ord"] === "inf" || p["ord"] === "-inf" ? num(p["ord"]) : p["ord"]) as tr.linalg.NormOrd });
    case "vectorNorm": return L.vectorNorm(a, { ord: num(p["ord"]) });
    case "matrixPower": return L.matrixPower(a, p["n"] as number);
    case "triangularSolve": return L.triangularSolve(a, b, p as { lower?: boolean });
    case "cross": return tr.cross(a, b);
    case "kron": return tr.kron(a, b);
    case "diagonal": return tr.diagonal(a, p as { offset?: number });
    case "trace": return tr.trace(a, p as { offset?: number });
    case "norm": return L.norm(a, p as { ord?: tr.linalg.NormOrd });
    case "linalgDiagonal": return L.diagonal(a, p as { offset?: number });
    case "diag": return tr.diag(a, p["k"] as number);
  }
  throw new Error(`no runner for ${c.op}`);
}

for (const backend of BACKENDS) {
  describe(`linalg fixtures (NumPy) [${backend}]`, () => {
    for (const dtype of ["float64", "float32"] as const) {
      for (const c of FIX.cases) {
        test(`${c.id} ${dtype}`, () => withBackend(backend, () => {
          const args = c.args.map((t) => tr.tensor(t.data, dtype).reshape(t.shape));
          const out = run(c, args);
          const tol = dtype === "float64" ? { rtol: 1e-9, atol: 1e-10 } : { rtol: 2e-4, atol: 2e-4 };
          const exp = "data" in c.out ? { out: c.out as Fx } : (c.out as Record<string, Fx>);
          const got = out instanceof tr.Tensor ? { out } : out;
          for (const k of Object.keys(exp)) {
            assert.deepEqual(got[k]!.shape, exp[k]!.shape, `${c.id} ${k} shape`);
            assert.equal(got[k]!.dtype, dtype);
            assertClose(values(got[k]!), exp[k]!.data.map(num), { ...tol, msg: `${c.id} ${k}` });
          }
        }));
      }
    }
  });
}
