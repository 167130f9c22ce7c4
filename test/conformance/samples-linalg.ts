// Conformance samples for the tr.linalg decomposition primitives (src/linalg/prims.ts). Inputs are made
// well conditioned inside the program (so finite differences see the same structure), and outputs that are
// unique only up to sign are multiplied by a row of themselves, which cancels the sign.
import * as tr from "../../src/index.js";
import type { Sample } from "./samples.js";

type T = tr.Tensor;
const L = tr.linalg;
const mT = (x: T) => tr.swapaxes(x, -1, -2);
/** x x^T + diag(1..n): symmetric positive definite with well separated eigenvalues. */
const spd = (x: T) => {
  const n = x.shape[x.ndim - 1]!;
  const d = tr.mul(tr.eye(n, undefined, { dtype: x.dtype }), tr.reshape(tr.arange(1, n + 1).astype(x.dtype), [n, 1]));
  return tr.add(tr.matmul(x, mT(x)), tr.mul(d, 2));
};
const shiftEye = (x: T) => tr.add(x, tr.mul(tr.eye(x.shape[x.ndim - 1]!, undefined, { dtype: x.dtype }), 3));
/** Multiply each column by its entry in the first row: invariant under a sign flip of the column. */
const signFree = (v: T) => tr.mul(v, tr.slice(v, [...v.shape.slice(0, -2).map(() => null), [0, 1]]));

export function linalgSamples(): Record<string, Sample[]> {
  return {
    cholesky: [{ args: (r) => [r.normal([3, 3])], fn: (x) => L.cholesky(spd(x)) }],
    triangular_solve: [
      { label: "lower left", args: (r) => [r.normal([3, 3]), r.normal([3, 2])], fn: (a, b) => L.triangularSolve(shiftEye(a!), b!, { lower: true }) },
      { label: "upper right transposed unit", args: (r) => [r.normal([3, 3]), r.normal([2, 3])], fn: (a, b) => L.triangularSolve(a!, b!, { upper: true, left: false, transposeA: true, unitDiagonal: true }) },
    ],
    lu: [{ label: "det and solve", args: (r) => [r.normal([3, 3]), r.normal([3])], fn: (a, b) => [L.det(shiftEye(a!)), L.solve(shiftEye(a!), b!)] }],
    qr: [
      { label: "reduced", args: (r) => [r.normal([4, 3])], fn: (a) => { const { Q, R } = L.qr(a!); return [Q, R]; } },
      { label: "complete square", args: (r) => [r.normal([3, 3])], fn: (a) => { const { Q, R } = L.qr(shiftEye(a!), { mode: "complete" }); return [Q, R]; } },
    ],
    eigh: [{ args: (r) => [r.normal([3, 3])], fn: (x) => { const { eigenvalues, eigenvectors } = L.eigh(spd(x)); return [eigenvalues, signFree(eigenvectors)]; } }],
    svd: [
      { label: "tall", args: (r) => [r.normal([4, 3])], fn: (a) => { const { U, S, Vh } = L.svd(a!, { fullMatrices: false }); return [signFree(U), S, signFree(mT(Vh))]; } },
      { label: "wide", args: (r) => [r.normal([2, 3])], fn: (a) => { const { U, S, Vh } = L.svd(a!, { fullMatrices: false }); return [signFree(U), S, signFree(mT(Vh))]; } },
    ],
  };
}
