// tr.linalg: decompositions (primitives in ./prims.ts) and everything built from them by composition.
import { isFloat } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { bind } from "../core/trace.js";
import type { Tensor } from "../tensor.js";
import * as o from "../ops/index.js";
import { toTensor, type TensorLike } from "../ops/convert.js";
import { cholesky as chol, eighP, luFactor, qrP, svdP, triangularSolve as trsolve } from "./prims.js";
import { cross, diagonal as basicDiagonal, matrixTranspose, trace, vecdot } from "./basic.js";

export { cross, matrixTranspose, trace, vecdot };

/** The k-th diagonal of the last two axes (Array API linalg.diagonal). @example tr.linalg.diagonal(x, { offset: 1 }) */
export function diagonal(x: TensorLike, opts: { offset?: number } = {}): Tensor {
  return basicDiagonal(x, { offset: opts.offset ?? 0, axis1: -2, axis2: -1 });
}
export { luFactor };
export { matmul, outer, tensordot } from "../ops/linalg.js";

const mT = (x: Tensor): Tensor => o.swapaxes(x, -1, -2);

function floatMatrix(op: string, x: TensorLike, square = true): Tensor {
  const t = toTensor(x);
  // the host routines compute in float64 and store float32/float64; half types would need decoding
  if (t.dtype !== "float32" && t.dtype !== "float64") fail(op, `expected a float32 or float64 tensor, got dtype ${t.dtype}`);
  if (t.ndim < 2) fail(op, `expected a matrix (at least 2 dimensions), got shape ${fmtShape(t.shape)}`);
  if (square && t.shape[t.ndim - 1] !== t.shape[t.ndim - 2]) fail(op, `expected square matrices in the last two axes, got shape ${fmtShape(t.shape)}`);
  return t;
}
const eyeOf = (t: Tensor): Tensor => o.eye(t.shape[t.ndim - 1]!, undefined, { dtype: t.dtype });

/** Cholesky factor of symmetric positive definite matrices (lower, or upper with `upper: true`); NaN when not positive definite. */
export function cholesky(a: TensorLike, opts: { upper?: boolean } = {}): Tensor {
  const L = chol(floatMatrix("cholesky", a));
  return opts.upper ? mT(L) : L;
}

/**
 * Solve op(a) x = b (left) or x op(a) = b (right) for triangular a (PyTorch solve_triangular / JAX).
 * @example tr.linalg.triangularSolve(L, b, { lower: true })
 */
export function triangularSolve(a: TensorLike, b: TensorLike, opts: { upper?: boolean; lower?: boolean; left?: boolean; transposeA?: boolean; unitDiagonal?: boolean } = {}): Tensor {
  const A = floatMatrix("triangularSolve", a);
  const B = toTensor(b);
  if (B.dtype !== A.dtype) fail("triangularSolve", `b has dtype ${B.dtype} but a has dtype ${A.dtype}`);
  if (B.ndim < 2) fail("triangularSolve", `b must be a matrix (at least 2 dimensions), got shape ${fmtShape(B.shape)}`);
  const left = opts.left ?? true, n = A.shape[A.ndim - 1]!;
  const kb = left ? B.shape[B.ndim - 2]! : B.shape[B.ndim - 1]!;
  if (kb !== n) fail("triangularSolve", `a has shape ${fmtShape(A.shape)} but b has shape ${fmtShape(B.shape)}; b's ${left ? "rows" : "columns"} must be ${n}`);
  const [Ab, Bb] = broadcastBatch("triangularSolve", A, B);
  const lower = opts.lower ?? (opts.upper === undefined ? true : !opts.upper);
  return trsolve(Ab, Bb, { lower, left, transposeA: opts.transposeA ?? false, unitDiagonal: opts.unitDiagonal ?? false });
}

function broadcastBatch(op: string, a: Tensor, b: Tensor): [Tensor, Tensor] {
  const ba = a.shape.slice(0, -2), bb = b.shape.slice(0, -2), nb = Math.max(ba.length, bb.length);
  const bs: number[] = [];
  for (let i = 0; i < nb; i++) {
    const p = ba[i - (nb - ba.length)] ?? 1, q = bb[i - (nb - bb.length)] ?? 1;
    if (p !== q && p !== 1 && q !== 1) fail(op, `batch dimensions of a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)} cannot be broadcast together`);
    bs.push(p === 1 ? q : p);
  }
  return [o.broadcastTo(a, [...bs, ...a.shape.slice(-2)]), o.broadcastTo(b, [...bs, ...b.shape.slice(-2)])];
}

/** Solve a x = b for square a by LU with partial pivoting; b is [..., n] or [..., n, k]. @example tr.linalg.solve(a, b) */
export function solve(a: TensorLike, b: TensorLike): Tensor {
  const A = floatMatrix("solve", a);
  let B = toTensor(b);
  if (B.dtype !== A.dtype) fail("solve", `b has dtype ${B.dtype} but a has dtype ${A.dtype}`);
  const n = A.shape[A.ndim - 1]!;
  // a vector b (PyTorch: b.ndim == 1 or b is a batch of vectors matching a's batch)
  const vec = B.ndim === 1 || (B.ndim === A.ndim - 1 && B.shape[B.ndim - 1] === n && B.shape.slice(0, -1).every((d, i) => d === A.shape[i]));
  if (vec) B = o.expandDims(B, -1);
  if (B.shape[B.ndim - 2] !== n) fail("solve", `a has shape ${fmtShape(A.shape)} but b has shape ${fmtShape(toTensor(b).shape)}; b needs ${n} rows`);
  const [Ab, Bb] = broadcastBatch("solve", A, B);
  const [lu, perm] = luFactor(Ab);
  const P = o.oneHot(perm, n, A.dtype);
  const y = trsolve(lu, o.matmul(P, Bb), { lower: true, unitDiagonal: true });
  const x = trsolve(lu, y, { lower: false });
  return vec ? o.squeeze(x, -1) : x;
}

/** Inverse of square matrices (solve against the identity). @example tr.linalg.inv([[2, 0], [0, 4]]) */
export function inv(a: TensorLike): Tensor {
  const A = floatMatrix("inv", a);
  return solve(A, o.broadcastTo(eyeOf(A), A.shape));
}

/** Sign of the permutation given as row order `perm` ([..., n] int32): (-1)^(n - number of cycles). */
function permSign(perm: Tensor, dtype: Tensor["dtype"]): Tensor {
  // det of the permutation matrix, computed as the parity of transpositions without data-dependent loops:
  // count inversions i < j with perm[i] > perm[j]
  const pi = o.expandDims(perm, -1), pj = o.expandDims(perm, -2);
  const n = perm.shape[perm.ndim - 1]!;
  const upper = o.triu(o.ones([n, n], "int32"), 1);
  const inv = o.sum(o.mul(o.astype(o.greater(pi, pj), "int32"), upper), { axis: [-2, -1] });
  return o.astype(o.sub(1, o.mul(2, o.remainder(inv, 2))), dtype);
}

/** Sign and log of |det| of square matrices. @example const { sign, logabsdet } = tr.linalg.slogdet(a) */
export function slogdet(a: TensorLike): { sign: Tensor; logabsdet: Tensor } {
  const A = floatMatrix("slogdet", a);
  const [lu, perm] = luFactor(A);
  const d = diagonal(lu);
  const sign = o.mul(permSign(perm, A.dtype), o.prod(o.sign(d), { axis: -1 }));
  return { sign, logabsdet: o.sum(o.log(o.abs(d)), { axis: -1 }) };
}

/** Determinant of square matrices via LU. @example tr.linalg.det([[1, 2], [3, 4]]) // -2 */
export function det(a: TensorLike): Tensor {
  const A = floatMatrix("det", a);
  const [lu, perm] = luFactor(A);
  return o.mul(permSign(perm, A.dtype), o.prod(diagonal(lu), { axis: -1 }));
}

/** QR decomposition by Householder reflections, diag(R) >= 0; mode "reduced" (default) or "complete". */
export function qr(a: TensorLike, opts: { mode?: "reduced" | "complete" } = {}): { Q: Tensor; R: Tensor } {
  const A = floatMatrix("qr", a, false);
  const mode = opts.mode ?? "reduced";
  if (mode !== "reduced" && mode !== "complete") fail("qr", `mode must be "reduced" or "complete", got ${JSON.stringify(mode)}`);
  const [Q, R] = bind(qrP, [A], { complete: mode === "complete" });
  return { Q: Q!, R: R! };
}

/** Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, read from the lower triangle. */
export function eigh(a: TensorLike): { eigenvalues: Tensor; eigenvectors: Tensor } {
  const [w, v] = bind(eighP, [floatMatrix("eigh", a)], {});
  return { eigenvalues: w!, eigenvectors: v! };
}

/** Eigenvalues (ascending) of symmetric matrices. */
export function eigvalsh(a: TensorLike): Tensor {
  return eigh(a).eigenvalues;
}

/** Singular value decomposition a = U diag(S) Vh, S descending (one-sided Jacobi). @example const { U, S, Vh } = tr.linalg.svd(a) */
export function svd(a: TensorLike, opts: { fullMatrices?: boolean } = {}): { U: Tensor; S: Tensor; Vh: Tensor } {
  const [U, S, Vh] = bind(svdP, [floatMatrix("svd", a, false)], { full: opts.fullMatrices ?? true });
  return { U: U!, S: S!, Vh: Vh! };
}

/** Singular values, descending. */
export function svdvals(a: TensorLike): Tensor {
  return svd(a, { fullMatrices: false }).S;
}

const defaultRtol = (A: Tensor): number => Math.max(A.shape[A.ndim - 1]!, A.shape[A.ndim - 2]!) * (A.dtype === "float64" ? 2.220446049250313e-16 : 1.1920929e-7);

/** Pseudo-inverse via the SVD, dropping singular values at or below rtol * max(S). */
export function pinv(a: TensorLike, opts: { rtol?: number } = {}): Tensor {
  const A = floatMatrix("pinv", a, false);
  const { U, S, Vh } = svd(A, { fullMatrices: false });
  const cut = o.mul(o.max(S, { axis: -1, keepdims: true }), opts.rtol ?? defaultRtol(A));
  const keep = o.greater(S, cut);
  const sInv = o.where(keep, o.div(1, o.where(keep, S, o.onesLike(S))), o.zerosLike(S));
  return o.matmul(mT(Vh), o.mul(o.expandDims(sInv, -1), mT(U)));
}

/**
 * Least squares solution of a x ≈ b through the pseudo-inverse (minimum norm when rank deficient); returns the
 * solution, the residual sums of squares per column (always, unlike NumPy's empty array for rank < n), rank and singular values.
 */
export function lstsq(a: TensorLike, b: TensorLike, opts: { rcond?: number } = {}): { solution: Tensor; residuals: Tensor; rank: Tensor; singularValues: Tensor } {
  const A = floatMatrix("lstsq", a, false);
  let B = toTensor(b);
  if (B.dtype !== A.dtype) fail("lstsq", `b has dtype ${B.dtype} but a has dtype ${A.dtype}`);
  const vec = B.ndim === A.ndim - 1;
  if (vec) B = o.expandDims(B, -1);
  if (B.shape[B.ndim - 2] !== A.shape[A.ndim - 2]) fail("lstsq", `a has shape ${fmtShape(A.shape)} but b has shape ${fmtShape(toTensor(b).shape)}; their rows differ`);
  const x = o.matmul(pinv(A, { rtol: opts.rcond }), B);
  const r = o.sub(o.matmul(A, x), B);
  const S = svdvals(A);
  return {
    solution: vec ? o.squeeze(x, -1) : x,
    residuals: vec ? o.sum(o.square(o.squeeze(r, -1)), { axis: -1 }) : o.sum(o.square(r), { axis: -2 }),
    rank: matrixRank(A, { rtol: opts.rcond }),
    singularValues: S,
  };
}

/** Number of singular values above rtol * max(S) (or above atol). */
export function matrixRank(a: TensorLike, opts: { rtol?: number; atol?: number } = {}): Tensor {
  const A = floatMatrix("matrixRank", a, false);
  const S = svdvals(A);
  const tol = opts.atol !== undefined ? o.fullLike(o.max(S, { axis: -1, keepdims: true }), opts.atol) : o.mul(o.max(S, { axis: -1, keepdims: true }), opts.rtol ?? defaultRtol(A));
  return o.sum(o.astype(o.greater(S, tol), "int32"), { axis: -1 });
}

/** A norm order: a number (vector p-norms, matrix 1/-1/2/-2/±Infinity) or "fro" / "nuc" for matrices. */
export type NormOrd = number | "fro" | "nuc";

/** Vector p-norm over `axis` (all axes by default): ord 2, 1, inf, -inf, 0 or any p. */
export function vectorNorm(x: TensorLike, opts: { ord?: number; axis?: number | number[] | null; keepdims?: boolean } = {}): Tensor {
  const t = toTensor(x);
  if (!isFloat(t.dtype)) fail("vectorNorm", `expected a float tensor, got dtype ${t.dtype}`);
  const ord = opts.ord ?? 2, r = { axis: opts.axis ?? null, keepdims: opts.keepdims ?? false };
  const a = o.abs(t);
  if (ord === Infinity) return o.max(a, r);
  if (ord === -Infinity) return o.min(a, r);
  if (ord === 0) return o.sum(o.astype(o.notEqual(t, 0), t.dtype), r);
  if (ord === 1) return o.sum(a, r);
  if (ord === 2) return o.sqrt(o.sum(o.square(t), r));
  return o.pow(o.sum(o.pow(a, ord), r), 1 / ord);
}

/** Matrix norm over the last two axes: "fro", "nuc", 1, -1, 2, -2, inf, -inf. */
export function matrixNorm(x: TensorLike, opts: { ord?: NormOrd; keepdims?: boolean } = {}): Tensor {
  const A = floatMatrix("matrixNorm", x, false);
  const ord = opts.ord ?? "fro";
  let r: Tensor;
  if (ord === "fro") r = o.sqrt(o.sum(o.square(A), { axis: [-2, -1] }));
  else if (ord === "nuc") r = o.sum(svdvals(A), { axis: -1 });
  else if (ord === 2) r = o.max(svdvals(A), { axis: -1 });
  else if (ord === -2) r = o.min(svdvals(A), { axis: -1 });
  else if (ord === 1 || ord === -1) {
    const s = o.sum(o.abs(A), { axis: -2 });
    r = ord === 1 ? o.max(s, { axis: -1 }) : o.min(s, { axis: -1 });
  } else if (ord === Infinity || ord === -Infinity) {
    const s = o.sum(o.abs(A), { axis: -1 });
    r = ord === Infinity ? o.max(s, { axis: -1 }) : o.min(s, { axis: -1 });
  } else fail("matrixNorm", `ord must be "fro", "nuc", 1, -1, 2, -2, Infinity or -Infinity, got ${String(ord)}`);
  return opts.keepdims ? o.expandDims(o.expandDims(r, -1), -1) : r;
}

/** NumPy/PyTorch norm: a matrix norm when ord is a matrix order or axis has two entries, else a vector norm. */
export function norm(x: TensorLike, opts: { ord?: NormOrd; axis?: number | number[] | null; keepdims?: boolean } = {}): Tensor {
  const t = toTensor(x);
  const ax = opts.axis;
  if (Array.isArray(ax) && ax.length === 2) {
    const a0 = ax[0]! < 0 ? ax[0]! + t.ndim : ax[0]!, a1 = ax[1]! < 0 ? ax[1]! + t.ndim : ax[1]!;
    const rest = t.shape.map((_, i) => i).filter((i) => i !== a0 && i !== a1);
    return matrixNorm(o.transpose(t, [...rest, a0, a1]), { ord: opts.ord ?? "fro" });
  }
  if (typeof opts.ord === "string") {
    if (t.ndim !== 2 && ax == null) fail("norm", `ord ${opts.ord} needs a matrix or a two-axis axis, got shape ${fmtShape(t.shape)}`);
    return matrixNorm(t, { ord: opts.ord, keepdims: opts.keepdims });
  }
  if (opts.ord !== undefined && ax == null && t.ndim === 2) return matrixNorm(t, { ord: opts.ord, keepdims: opts.keepdims });
  return vectorNorm(t, { ord: opts.ord, axis: ax, keepdims: opts.keepdims });
}

/** Integer matrix power by repeated squaring; n < 0 inverts first, n = 0 gives the identity. */
export function matrixPower(a: TensorLike, n: number): Tensor {
  const A0 = toTensor(a);
  if (!Number.isInteger(n)) fail("matrixPower", `n must be an integer, got ${n}`);
  if (A0.ndim < 2 || A0.shape[A0.ndim - 1] !== A0.shape[A0.ndim - 2]) fail("matrixPower", `expected square matrices, got shape ${fmtShape(A0.shape)}`);
  if (n === 0) return o.broadcastTo(o.eye(A0.shape[A0.ndim - 1]!, undefined, { dtype: A0.dtype }), A0.shape);
  let base = n < 0 ? inv(A0) : A0;
  let k = Math.abs(n), acc: Tensor | null = null;
  while (k > 0) {
    if (k & 1) acc = acc === null ? base : o.matmul(acc, base);
    k >>= 1;
    if (k > 0) base = o.matmul(base, base);
  }
  return acc!;
}
