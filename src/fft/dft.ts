/**
 * The 1-D complex DFT along the last axis, built from dot_general, reshape, transpose and
 * elementwise primitives only, so that grad, vmap and jit need nothing FFT-specific.
 *
 * Small or prime lengths are a matmul with a host-computed cos/sin matrix. Composite lengths split
 * N = N1·N2 (Cooley–Tukey, one stage per split): N2 DFTs of length N1, a twiddle multiply, N1 DFTs of
 * length N2, and a transpose that puts the output in order. Large primes use Bluestein's algorithm
 * (a chirp multiply and a circular convolution done with power-of-two FFTs). Every twiddle is computed
 * in float64 from (k·n mod N) and cast once, which keeps float32 errors at the level of the data.
 */
import { constant } from "../core/execute.js";
import * as E from "../core/prims/elementwise.js";
import { dotGeneral } from "../core/prims/linalg.js";
import * as S from "../core/prims/structural.js";
import type { DType } from "../core/dtype.js";
import type { Tensor } from "../tensor.js";

/** Real part and (possibly absent, i.e. zero) imaginary part. */
export type Pair = [Tensor, Tensor | null];

/** Lengths up to this are a single matmul; above it a composite length is split. */
const DIRECT_MAX = 64;
/** Primes up to this are still a single matmul; larger ones go through Bluestein. */
const PRIME_DIRECT_MAX = 512;

const host = (dt: DType, shape: number[], v: Float64Array): Tensor => constant(v, shape, dt);

/** x[..., n] @ M^T for an [k × n] host matrix: contracts the last axis, output appended last. */
function applyRows(t: Tensor, m: Float64Array, k: number): Tensor {
  const n = t.shape[t.ndim - 1]!;
  return dotGeneral(t, host(t.dtype, [k, n], m), { contract: [[t.ndim - 1], [1]], batch: [[], []] });
}

/** The first K rows of the length-N DFT matrix (sign −1 forward, +1 inverse), unscaled. */
function direct([re, im]: Pair, N: number, K: number, inverse: boolean): Pair {
  const c = new Float64Array(K * N), s = new Float64Array(K * N);
  const sg = inverse ? 1 : -1;
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++) {
      const a = (2 * Math.PI * ((k * n) % N)) / N;
      c[k * N + n] = Math.cos(a);
      s[k * N + n] = sg * Math.sin(a);
    }
  // (x + iy)(c + is) = (xc − ys) + i(xs + yc)
  let r = applyRows(re, c, K), i = applyRows(re, s, K);
  if (im) {
    r = E.sub(r, applyRows(im, s, K));
    i = E.add(i, applyRows(im, c, K));
  }
  return [r, i];
}

/** Elementwise product with a host complex constant of the trailing shape (broadcast over leading axes). */
function mulConst([re, im]: Pair, wr: Float64Array, wi: Float64Array, trailing: number[]): Pair {
  const bc = (v: Float64Array) => S.broadcastInDim(host(re.dtype, trailing, v), re.shape, trailing.map((_, j) => re.ndim - trailing.length + j));
  const cr = bc(wr), ci = bc(wi);
  if (!im) return [E.mul(re, cr), E.mul(re, ci)];
  return [E.sub(E.mul(re, cr), E.mul(im, ci)), E.add(E.mul(re, ci), E.mul(im, cr))];
}

const mapPair = ([re, im]: Pair, f: (t: Tensor) => Tensor): Pair => [f(re), im ? f(im) : null];

function smallestFactor(n: number): number {
  for (let p = 2; p * p <= n; p++) if (n % p === 0) return p;
  return n;
}

/** The divisor of N that is at most DIRECT_MAX and closest to sqrt(N) from below (1 if none). */
function splitFactor(N: number): number {
  let best = 1;
  for (let d = 2; d <= DIRECT_MAX && d * d <= N; d++) if (N % d === 0) best = d;
  return best;
}

/** The full length-N DFT of the last axis (length N already), unscaled. */
export function dftLast(x: Pair, N: number, inverse: boolean): Pair {
  if (N <= DIRECT_MAX) return direct(x, N, N, inverse);
  const N1 = splitFactor(N);
  if (N1 === 1) return smallestFactor(N) === N && N > PRIME_DIRECT_MAX ? bluestein(x, N, inverse) : direct(x, N, N, inverse);
  const N2 = N / N1;
  const lead = x[0].shape.slice(0, -1), L = lead.length;
  // n = N2·n1 + n2: [..., N1, N2] -> [..., N2, N1], DFT over n1 -> k1
  let y = mapPair(x, (t) => S.transpose(S.reshape(t, [...lead, N1, N2]), [...lead.keys(), L + 1, L]));
  y = dftLast(y, N1, inverse);
  // twiddle W_N^{n2·k1}, laid out [N2, N1]
  const wr = new Float64Array(N2 * N1), wi = new Float64Array(N2 * N1), sg = inverse ? 1 : -1;
  for (let n2 = 0; n2 < N2; n2++)
    for (let k1 = 0; k1 < N1; k1++) {
      const a = (2 * Math.PI * ((n2 * k1) % N)) / N;
      wr[n2 * N1 + k1] = Math.cos(a);
      wi[n2 * N1 + k1] = sg * Math.sin(a);
    }
  y = mulConst(y, wr, wi, [N2, N1]);
  // [..., N2, N1] -> [..., N1, N2], DFT over n2 -> k2; output index k = k1 + N1·k2 wants [..., k2, k1]
  y = mapPair(y, (t) => S.transpose(t, [...lead.keys(), L + 1, L]));
  y = dftLast(y, N2, inverse);
  return mapPair(y, (t) => S.reshape(S.transpose(t, [...lead.keys(), L + 1, L]), [...lead, N]));
}

/**
 * Bluestein: with w_m = e^{∓iπm²/N}, X_k = w_k Σ_n (x_n w_n) conj(w_{k−n}), a circular convolution of
 * length M ≥ 2N−1 (a power of two) done with dftLast.
 */
function bluestein(x: Pair, N: number, inverse: boolean): Pair {
  let M = 1;
  while (M < 2 * N - 1) M *= 2;
  const sg = inverse ? 1 : -1;
  // m² mod 2N keeps the chirp angle small and exact in float64
  const ang = (m: number) => (Math.PI * ((m * m) % (2 * N))) / N;
  const wr = new Float64Array(N), wi = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    wr[n] = Math.cos(ang(n));
    wi[n] = sg * Math.sin(ang(n));
  }
  const lead = x[0].shape.slice(0, -1);
  let a = mulConst(x, wr, wi, [N]);
  a = mapPair(a, (t) => S.pad(t, t.shape.map(() => 0), t.shape.map((_, i) => (i === t.ndim - 1 ? M - N : 0))));
  // the DFT of the filter conj(w_m) for m in (−N, N), placed circularly, is a host constant
  const br = new Float64Array(M), bi = new Float64Array(M);
  for (let m = 0; m < N; m++) {
    br[m] = Math.cos(ang(m));
    bi[m] = -sg * Math.sin(ang(m));
    if (m > 0) {
      br[M - m] = br[m]!;
      bi[M - m] = bi[m]!;
    }
  }
  const Br = new Float64Array(M), Bi = new Float64Array(M);
  for (let k = 0; k < M; k++) {
    let sr = 0, si = 0;
    for (let m = 0; m < M; m++) {
      const t = (-2 * Math.PI * ((k * m) % M)) / M, c = Math.cos(t), s = Math.sin(t);
      sr += br[m]! * c - bi[m]! * s;
      si += br[m]! * s + bi[m]! * c;
    }
    Br[k] = sr / M;
    Bi[k] = si / M;
  }
  let A = dftLast(a, M, false);
  A = mulConst(A, Br, Bi, [M]);
  let c = dftLast(A, M, true);
  c = mapPair(c, (t) => S.slice(t, t.shape.map(() => 0), [...lead, N]));
  return mulConst(c, wr, wi, [N]);
}
