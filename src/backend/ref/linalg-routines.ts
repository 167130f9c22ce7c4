import type { TypedArray } from "../../core/dtype.js";

/** Parameters of the `linalg` routine; `kind` picks the decomposition, `batch` counts leading matrices. */
export type LinalgParams =
  | { kind: "cholesky"; batch: number; n: number }
  | { kind: "lu"; batch: number; n: number }
  | { kind: "trsolve"; batch: number; n: number; k: number; lower: boolean; transposeA: boolean; unitDiagonal: boolean }
  | { kind: "qr"; batch: number; m: number; n: number; complete: boolean }
  | { kind: "eigh"; batch: number; n: number }
  | { kind: "svd"; batch: number; m: number; n: number; full: boolean };

/**
 * Dense decompositions on the host, shared by every backend: the work is O(n^3) scalar loops with data
 * dependent control flow (pivoting, sweeps to convergence) that the kernel IR does not express.
 * Everything is computed in float64 and stored in the output's precision.
 */
export function linalgRoutine(p: LinalgParams, ins: readonly TypedArray[], outs: TypedArray[]): void {
  const a = ins[0]!;
  for (let b = 0; b < p.batch; b++) {
    switch (p.kind) {
      case "cholesky": {
        const n = p.n, A = read(a, b * n * n, n * n);
        store(outs[0]!, b * n * n, cholesky(A, n));
        break;
      }
      case "lu": {
        const n = p.n, A = read(a, b * n * n, n * n);
        const perm = lu(A, n);
        store(outs[0]!, b * n * n, A);
        for (let i = 0; i < n; i++) outs[1]![b * n + i] = perm[i]!;
        break;
      }
      case "trsolve": {
        const { n, k } = p, A = read(a, b * n * n, n * n), B = read(ins[1]!, b * n * k, n * k);
        trsolve(A, B, n, k, p.lower !== p.transposeA, p.transposeA, p.unitDiagonal);
        store(outs[0]!, b * n * k, B);
        break;
      }
      case "qr": {
        const { m, n } = p, A = read(a, b * m * n, m * n);
        const kq = p.complete ? m : Math.min(m, n);
        const [Q, R] = qr(A, m, n, kq);
        store(outs[0]!, b * m * kq, Q);
        store(outs[1]!, b * kq * n, R);
        break;
      }
      case "eigh": {
        const n = p.n, A = read(a, b * n * n, n * n);
        const [w, V] = eigh(A, n);
        store(outs[0]!, b * n, w);
        store(outs[1]!, b * n * n, V);
        break;
      }
      case "svd": {
        const { m, n } = p, A = read(a, b * m * n, m * n), k = Math.min(m, n);
        const [U, S, Vh] = svd(A, m, n, p.full);
        const ku = p.full ? m : k, kv = p.full ? n : k;
        store(outs[0]!, b * m * ku, U);
        store(outs[1]!, b * k, S);
        store(outs[2]!, b * kv * n, Vh);
        break;
      }
    }
  }
}

function read(x: TypedArray, off: number, len: number): Float64Array {
  const r = new Float64Array(len);
  for (let i = 0; i < len; i++) r[i] = Number(x[off + i]);
  return r;
}
function store(x: TypedArray, off: number, v: ArrayLike<number>): void {
  for (let i = 0; i < v.length; i++) x[off + i] = v[i]!;
}

/** Lower Cholesky factor from the lower triangle; NaN everywhere when A is not positive definite. */
function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = A[j * n + j]!;
    for (let k = 0; k < j; k++) d -= L[j * n + k]! ** 2;
    if (!(d > 0)) return L.fill(NaN);
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = s / ljj;
    }
  }
  return L;
}

/** In-place LU with partial pivoting (unit lower L below the diagonal, U on and above); returns the row order. */
function lu(A: Float64Array, n: number): Int32Array {
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let j = 0; j < n; j++) {
    let piv = j, best = Math.abs(A[j * n + j]!);
    for (let i = j + 1; i < n; i++) if (Math.abs(A[i * n + j]!) > best) { best = Math.abs(A[i * n + j]!); piv = i; }
    if (piv !== j) {
      for (let c = 0; c < n; c++) { const t = A[j * n + c]!; A[j * n + c] = A[piv * n + c]!; A[piv * n + c] = t; }
      const t = perm[j]!; perm[j] = perm[piv]!; perm[piv] = t;
    }
    const d = A[j * n + j]!;
    if (d === 0) continue; // singular: U has a zero pivot, det is 0 and solves give inf/NaN
    for (let i = j + 1; i < n; i++) {
      const f = (A[i * n + j]! /= d);
      if (f !== 0) for (let c = j + 1; c < n; c++) A[i * n + c]! -= f * A[j * n + c]!;
    }
  }
  return perm;
}

/** Solve op(A) X = B in place for X, op(A) = A or A^T; `lowerEff` says whether op(A) is lower triangular. */
function trsolve(A: Float64Array, B: Float64Array, n: number, k: number, lowerEff: boolean, tA: boolean, unit: boolean): void {
  const at = (i: number, j: number) => (tA ? A[j * n + i]! : A[i * n + j]!);
  for (let c = 0; c < k; c++) {
    for (let s = 0; s < n; s++) {
      const i = lowerEff ? s : n - 1 - s;
      let v = B[i * k + c]!;
      if (lowerEff) for (let j = 0; j < i; j++) v -= at(i, j) * B[j * k + c]!;
      else for (let j = i + 1; j < n; j++) v -= at(i, j) * B[j * k + c]!;
      B[i * k + c] = unit ? v : v / at(i, i);
    }
  }
}

/** Householder QR: Q is m x kq (kq = m complete, min(m, n) reduced), R is kq x n upper triangular. */
function qr(A: Float64Array, m: number, n: number, kq: number): [Float64Array, Float64Array] {
  const R = Float64Array.from(A);
  const steps = Math.min(m - 1, n);
  const vs: Float64Array[] = [];
  for (let j = 0; j < steps; j++) {
    let norm = 0;
    for (let i = j; i < m; i++) norm += R[i * n + j]! ** 2;
    norm = Math.sqrt(norm);
    const v = new Float64Array(m);
    if (norm === 0) { vs.push(v); continue; }
    const x0 = R[j * n + j]!;
    // reflect onto -sign(x0) |x| so that v never cancels
    const alpha = x0 >= 0 ? -norm : norm;
    v[j] = x0 - alpha;
    for (let i = j + 1; i < m; i++) v[i] = R[i * n + j]!;
    let vn = 0;
    for (let i = j; i < m; i++) vn += v[i]! ** 2;
    if (vn === 0) { vs.push(new Float64Array(m)); continue; }
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let i = j; i < m; i++) s += v[i]! * R[i * n + c]!;
      s = (2 * s) / vn;
      for (let i = j; i < m; i++) R[i * n + c]! -= s * v[i]!;
    }
    for (let i = j; i < m; i++) v[i] = v[i]! / Math.sqrt(vn / 2);
    vs.push(v);
  }
  // Q = H_0 H_1 ... applied to the first kq columns of the identity
  const Q = new Float64Array(m * kq);
  for (let i = 0; i < Math.min(m, kq); i++) Q[i * kq + i] = 1;
  for (let j = vs.length - 1; j >= 0; j--) {
    const v = vs[j]!;
    for (let c = 0; c < kq; c++) {
      let s = 0;
      for (let i = j; i < m; i++) s += v[i]! * Q[i * kq + c]!;
      for (let i = j; i < m; i++) Q[i * kq + c]! -= s * v[i]!;
    }
  }
  // PyTorch/LAPACK leave the signs as the reflections give them; we flip rows of R (and columns of Q) so
  // that diag(R) >= 0, which makes the factorisation unique for full-rank A and its derivative well defined.
  const Rk = new Float64Array(kq * n);
  for (let i = 0; i < Math.min(kq, m); i++) for (let c = 0; c < n; c++) Rk[i * n + c] = c >= i ? R[i * n + c]! : 0;
  for (let i = 0; i < Math.min(kq, n, m); i++) {
    if (Rk[i * n + i]! < 0) {
      for (let c = 0; c < n; c++) Rk[i * n + c] = -Rk[i * n + c]!;
      for (let r = 0; r < m; r++) Q[r * kq + i] = -Q[r * kq + i]!;
    }
  }
  return [Q, Rk];
}

/** Cyclic Jacobi on the symmetric matrix given by A's lower triangle: ascending eigenvalues, eigenvectors as columns. */
function eigh(A: Float64Array, n: number): [Float64Array, Float64Array] {
  const M = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) M[i * n + j] = M[j * n + i] = A[i * n + j]!;
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, tot = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { const v = M[i * n + j]! ** 2; tot += v; if (i !== j) off += v; }
    if (off <= 1e-300 || off <= 1e-32 * tot) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = M[p * n + q]!;
        if (apq === 0) continue;
        const theta = (M[q * n + q]! - M[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = M[k * n + p]!, mkq = M[k * n + q]!;
          M[k * n + p] = c * mkp - s * mkq;
          M[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = M[p * n + k]!, mqk = M[q * n + k]!;
          M[p * n + k] = c * mpk - s * mqk;
          M[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p]!, vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => M[x * n + x]! - M[y * n + y]!);
  const w = Float64Array.from(order, (i) => M[i * n + i]!);
  const Vs = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) Vs[r * n + c] = V[r * n + order[c]!]!;
  return [w, Vs];
}

/** One-sided Jacobi SVD (accurate for small singular values, unlike eigh of the Gram matrix). */
function svd(A: Float64Array, m: number, n: number, full: boolean): [Float64Array, Float64Array, Float64Array] {
  if (m < n) {
    // svd(A^T) = V S U^T
    const At = new Float64Array(n * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) At[j * m + i] = A[i * n + j]!;
    const [U2, S, Vh2] = svd(At, n, m, full);
    const ku = full ? n : m, kv = full ? m : m;
    // U = Vh2^T (m x kv), Vh = U2^T (ku x n)
    const U = new Float64Array(m * kv), Vh = new Float64Array(ku * n);
    for (let i = 0; i < kv; i++) for (let j = 0; j < m; j++) U[j * kv + i] = Vh2[i * m + j]!;
    for (let i = 0; i < n; i++) for (let j = 0; j < ku; j++) Vh[j * n + i] = U2[i * ku + j]!;
    return [U, S, Vh];
  }
  const k = n;
  const W = Float64Array.from(A); // m x n, columns rotated until orthogonal
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let al = 0, be = 0, ga = 0;
        for (let i = 0; i < m; i++) { const x = W[i * n + p]!, y = W[i * n + q]!; al += x * x; be += y * y; ga += x * y; }
        if (ga === 0 || Math.abs(ga) <= 1e-15 * Math.sqrt(al * be)) continue;
        rotated = true;
        const zeta = (be - al) / (2 * ga);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < m; i++) {
          const x = W[i * n + p]!, y = W[i * n + q]!;
          W[i * n + p] = c * x - s * y;
          W[i * n + q] = s * x + c * y;
        }
        for (let i = 0; i < n; i++) {
          const x = V[i * n + p]!, y = V[i * n + q]!;
          V[i * n + p] = c * x - s * y;
          V[i * n + q] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: n }, (_, j) => { let s = 0; for (let i = 0; i < m; i++) s += W[i * n + j]! ** 2; return Math.sqrt(s); });
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => norms[y]! - norms[x]!);
  const ku = full ? m : k;
  const S = Float64Array.from(order, (j) => norms[j]!);
  const U = new Float64Array(m * ku), Vh = new Float64Array(n * n);
  const smax = S[0] ?? 0;
  const filled: number[] = [];
  order.forEach((j, c) => {
    for (let i = 0; i < n; i++) Vh[c * n + i] = V[i * n + j]!;
    if (S[c]! > 1e-300 && S[c]! > smax * 1e-15) {
      for (let i = 0; i < m; i++) U[i * ku + c] = W[i * n + j]! / S[c]!;
      filled.push(c);
    }
  });
  // columns of U for zero singular values (and the extra ones of full_matrices) complete an orthonormal basis
  completeBasis(U, m, ku, filled);
  return [U, S, Vh];
}

/** Fill the columns of Q (m x k) not in `done` with unit vectors orthogonal to all others (Gram-Schmidt on e_i). */
function completeBasis(Q: Float64Array, m: number, k: number, done: number[]): void {
  const have = new Set(done);
  const cols = [...done];
  let e = 0;
  for (let c = 0; c < k; c++) {
    if (have.has(c)) continue;
    for (; e < m; e++) {
      const v = new Float64Array(m);
      v[e] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (const d of cols) {
          let s = 0;
          for (let i = 0; i < m; i++) s += Q[i * k + d]! * v[i]!;
          for (let i = 0; i < m; i++) v[i]! -= s * Q[i * k + d]!;
        }
      }
      let nv = 0;
      for (let i = 0; i < m; i++) nv += v[i]! ** 2;
      nv = Math.sqrt(nv);
      if (nv > 1e-8) {
        for (let i = 0; i < m; i++) Q[i * k + c] = v[i]! / nv;
        cols.push(c);
        e++;
        break;
      }
    }
  }
}
