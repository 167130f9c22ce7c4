/**
 * Discrete Fourier transforms with the Python Array API fft extension's names (camelCase), plus NumPy's
 * 2-D variants. Complex inputs and outputs are `{ real, imag }` pairs (see `tr.complex`).
 */
import { fail } from "../core/errors.js";
import { isFloat } from "../core/dtype.js";
import * as E from "../core/prims/elementwise.js";
import * as S from "../core/prims/structural.js";
import { constant } from "../core/execute.js";
import type { DType } from "../core/dtype.js";
import { Tensor } from "../tensor.js";
import { roll } from "../ops/shape.js";
import { checkComplex, isComplex, type Complex } from "../ops/complex.js";
import { dftLast, type Pair } from "./dft.js";

export { complex, real, imag, conj, angle, isComplex, complexAbs as abs, type Complex } from "../ops/complex.js";

/** Scaling convention: "backward" (1/n on the inverse), "ortho" (1/√n both ways), "forward" (1/n on the forward). */
export type Norm = "backward" | "ortho" | "forward";

/** Options of the 1-D transforms. */
export interface FftOpts {
  /** Length of the transformed axis: the input is zero-padded or truncated to it. */
  n?: number | null;
  /** Axis to transform (default −1). */
  axis?: number;
  /** Scaling convention (default "backward"). */
  norm?: Norm;
}

/** Options of the n-D transforms. */
export interface FftnOpts {
  /** Lengths of the transformed axes (−1 keeps the input's). */
  s?: readonly number[] | null;
  /** Axes to transform (default: the last len(s) axes, or all). */
  axes?: readonly number[] | null;
  /** Scaling convention (default "backward"). */
  norm?: Norm;
}

type Input = Tensor | Complex;

function toPair(op: string, x: Input): Pair {
  if (isComplex(x)) {
    checkComplex(op, x);
    if (!isFloat(x.real.dtype)) fail(op, `expected floating-point parts, got ${x.real.dtype}`);
    return [x.real, x.imag];
  }
  if (!(x instanceof Tensor)) fail(op, `expected a Tensor or a { real, imag } Complex, got ${typeof x}`);
  if (!isFloat(x.dtype)) fail(op, `expected a floating-point tensor (Trident has no implicit int→float FFT), got ${x.dtype}; cast it with astype first`);
  return [x, null];
}

function toRealTensor(op: string, x: Input): Tensor {
  if (isComplex(x)) fail(op, "expected a real tensor, got a Complex; use fft for complex input");
  return toPair(op, x)[0];
}

const zeros = (t: Tensor) => E.zerosLike(t);
const toComplex = ([re, im]: Pair): Complex => ({ real: re, imag: im ?? zeros(re) });
const mapPair = ([re, im]: Pair, f: (t: Tensor) => Tensor): Pair => [f(re), im ? f(im) : null];

function normAxis(op: string, axis: number, ndim: number, arg = "axis"): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) fail(op, `${arg} ${axis} is out of range for a tensor of rank ${ndim}`);
  return axis < 0 ? axis + ndim : axis;
}

function checkN(op: string, n: number, arg = "n"): void {
  if (!Number.isInteger(n) || n < 1) fail(op, `${arg} must be a positive integer, got ${n}`);
}

function checkNorm(op: string, norm: unknown): Norm {
  const v = norm ?? "backward";
  if (v !== "backward" && v !== "ortho" && v !== "forward") fail(op, `norm must be "backward", "ortho" or "forward", got ${JSON.stringify(norm)}`);
  return v;
}

/** Zero-pad or truncate axis `ax` to length n. */
function fit(t: Tensor, ax: number, n: number): Tensor {
  const d = t.shape[ax]!;
  if (d === n) return t;
  if (d > n) return S.slice(t, t.shape.map(() => 0), t.shape.map((s, i) => (i === ax ? n : s)));
  return S.pad(t, t.shape.map(() => 0), t.shape.map((_, i) => (i === ax ? n - d : 0)));
}

function scale(x: Pair, N: number, norm: Norm, inverse: boolean): Pair {
  const f = norm === "ortho" ? 1 / Math.sqrt(N) : (norm === "forward") !== inverse ? 1 / N : 1;
  return f === 1 ? x : mapPair(x, (t) => E.mulS(t, f));
}

/** Complex-to-complex transform of one axis (already normalized), with length n and norm. */
function c2c(op: string, x: Pair, ax: number, n: number, norm: Norm, inverse: boolean): Pair {
  if (n < 1) fail(op, `axis ${ax} has length 0 and no n/s was given: a transform needs at least one point`);
  const last = x[0].ndim - 1;
  let y = mapPair(x, (t) => S.moveaxis(fit(t, ax, n), ax, last));
  y = scale(dftLast(y, n, inverse), n, norm, inverse);
  return mapPair(y, (t) => S.moveaxis(t, last, ax));
}

/** Keep the first n/2+1 bins of axis `ax`. */
const halfBins = (x: Pair, ax: number, n: number): Pair =>
  mapPair(x, (t) => S.slice(t, t.shape.map(() => 0), t.shape.map((s, i) => (i === ax ? Math.floor(n / 2) + 1 : s))));

/** Real output of length n from a Hermitian half spectrum along `ax` (imag of DC/Nyquist is dropped, as NumPy does). */
function c2r(op: string, x: Pair, ax: number, n: number, norm: Norm): Tensor {
  const K = Math.floor(n / 2) + 1;
  const [re, im] = mapPair(x, (t) => fit(t, ax, K));
  // bins k >= K are conj(X[n−k]) for n−k in [1, n−K]
  const tail = (t: Tensor) => S.rev(S.slice(t, t.shape.map((_, i) => (i === ax ? 1 : 0)), t.shape.map((s, i) => (i === ax ? n - K + 1 : s))), [ax]);
  const full: Pair = n - K > 0
    ? [S.concatenate([re, tail(re)], ax), im ? S.concatenate([im, E.neg(tail(im))], ax) : null]
    : [re, im];
  return c2c(op, full, ax, n, norm, true)[0];
}

/** Resolve NumPy's (s, axes) pair for an n-D transform. */
function resolveAxes(op: string, ndim: number, opts: FftnOpts, defaultAxes: number[] | null): [number[], (number | null)[]] {
  const { s, axes } = opts;
  let ax: number[];
  if (axes != null) ax = axes.map((a) => normAxis(op, a, ndim, "axes entry"));
  else if (s != null) {
    if (s.length > ndim) fail(op, `s has ${s.length} entries but the input has rank ${ndim}`);
    ax = s.map((_, i) => ndim - s.length + i);
  } else ax = defaultAxes ? defaultAxes.map((a) => normAxis(op, a, ndim, "axes entry")) : [...Array(ndim).keys()];
  if (s != null && s.length !== ax.length) fail(op, `s and axes must have one length, got s [${s.join(",")}] and axes [${ax.join(",")}]`);
  const sizes = ax.map((a, i) => {
    const v = s?.[i];
    if (v == null || v === -1) return null;
    checkN(op, v, "s entry");
    return v;
  });
  return [ax, sizes];
}

function c2cN(op: string, x: Input, opts: FftnOpts, inverse: boolean, defaultAxes: number[] | null): Complex {
  const norm = checkNorm(op, opts.norm);
  let p = toPair(op, x);
  const [ax, sizes] = resolveAxes(op, p[0].ndim, opts, defaultAxes);
  for (let i = ax.length - 1; i >= 0; i--) p = c2c(op, p, ax[i]!, sizes[i] ?? p[0].shape[ax[i]!]!, norm, inverse);
  return toComplex(p);
}

function oneAxis(op: string, x: Tensor, opts: FftOpts): [number, number | null] {
  const ax = normAxis(op, opts.axis ?? -1, x.ndim);
  if (opts.n != null) checkN(op, opts.n);
  return [ax, opts.n ?? null];
}

/**
 * 1-D discrete Fourier transform along `axis`.
 * @example
 * const X = tr.fft.fft(tr.tensor([1, 0, 0, 0])); // X.real = [1, 1, 1, 1], X.imag = [0, 0, 0, 0]
 */
export function fft(x: Input, opts: FftOpts = {}): Complex {
  const p = toPair("fft", x), norm = checkNorm("fft", opts.norm);
  const [ax, n] = oneAxis("fft", p[0], opts);
  return toComplex(c2c("fft", p, ax, n ?? p[0].shape[ax]!, norm, false));
}

/** 1-D inverse discrete Fourier transform along `axis`. */
export function ifft(x: Input, opts: FftOpts = {}): Complex {
  const p = toPair("ifft", x), norm = checkNorm("ifft", opts.norm);
  const [ax, n] = oneAxis("ifft", p[0], opts);
  return toComplex(c2c("ifft", p, ax, n ?? p[0].shape[ax]!, norm, true));
}

/** n-D discrete Fourier transform over `axes` (default all, or the last len(s)). */
export const fftn = (x: Input, opts: FftnOpts = {}): Complex => c2cN("fftn", x, opts, false, null);
/** n-D inverse discrete Fourier transform. */
export const ifftn = (x: Input, opts: FftnOpts = {}): Complex => c2cN("ifftn", x, opts, true, null);
/** 2-D discrete Fourier transform (default axes [−2, −1]). */
export const fft2 = (x: Input, opts: FftnOpts = {}): Complex => c2cN("fft2", x, opts, false, opts.s == null ? [-2, -1] : null);
/** 2-D inverse discrete Fourier transform (default axes [−2, −1]). */
export const ifft2 = (x: Input, opts: FftnOpts = {}): Complex => c2cN("ifft2", x, opts, true, opts.s == null ? [-2, -1] : null);

/** 1-D DFT of a real signal: the n/2+1 non-negative frequency bins. */
export function rfft(x: Tensor, opts: FftOpts = {}): Complex {
  const t = toRealTensor("rfft", x), norm = checkNorm("rfft", opts.norm);
  const [ax, n0] = oneAxis("rfft", t, opts);
  const n = n0 ?? t.shape[ax]!;
  return toComplex(halfBins(c2c("rfft", [t, null], ax, n, norm, false), ax, n));
}

/** Inverse of rfft: a real signal of length n (default 2·(m−1) for m input bins). */
export function irfft(x: Input, opts: FftOpts = {}): Tensor {
  const p = toPair("irfft", x), norm = checkNorm("irfft", opts.norm);
  const [ax, n0] = oneAxis("irfft", p[0], opts);
  const n = n0 ?? 2 * (p[0].shape[ax]! - 1);
  if (n < 1) fail("irfft", `the output length 2·(m−1) is ${n} for m = ${p[0].shape[ax]} input bins; pass n`);
  return c2r("irfft", p, ax, n, norm);
}

/** n-D DFT of a real signal; the last transformed axis keeps n/2+1 bins. */
export function rfftn(x: Tensor, opts: FftnOpts = {}, op = "rfftn", defaultAxes: number[] | null = null): Complex {
  const t = toRealTensor(op, x), norm = checkNorm(op, opts.norm);
  const [ax, sizes] = resolveAxes(op, t.ndim, opts, defaultAxes);
  if (ax.length === 0) return toComplex([t, null]);
  const la = ax[ax.length - 1]!, ln = sizes[ax.length - 1] ?? t.shape[la]!;
  let p = halfBins(c2c(op, [t, null], la, ln, norm, false), la, ln);
  for (let i = ax.length - 2; i >= 0; i--) p = c2c(op, p, ax[i]!, sizes[i] ?? p[0].shape[ax[i]!]!, norm, false);
  return toComplex(p);
}

/** Inverse of rfftn: real output, the last axis of length s[−1] (default 2·(m−1)). */
export function irfftn(x: Input, opts: FftnOpts = {}, op = "irfftn", defaultAxes: number[] | null = null): Tensor {
  const norm = checkNorm(op, opts.norm);
  let p = toPair(op, x);
  const [ax, sizes] = resolveAxes(op, p[0].ndim, opts, defaultAxes);
  if (ax.length === 0) return p[0];
  for (let i = 0; i < ax.length - 1; i++) p = c2c(op, p, ax[i]!, sizes[i] ?? p[0].shape[ax[i]!]!, norm, true);
  const la = ax[ax.length - 1]!, ln = sizes[ax.length - 1] ?? 2 * (p[0].shape[la]! - 1);
  if (ln < 1) fail(op, `the last output length 2·(m−1) is ${ln} for m = ${p[0].shape[la]} input bins; pass s`);
  return c2r(op, p, la, ln, norm);
}

/** 2-D real DFT (default axes [−2, −1]). */
export const rfft2 = (x: Tensor, opts: FftnOpts = {}): Complex => rfftn(x, opts, "rfft2", opts.s == null ? [-2, -1] : null);
/** 2-D inverse real DFT (default axes [−2, −1]). */
export const irfft2 = (x: Input, opts: FftnOpts = {}): Tensor => irfftn(x, opts, "irfft2", opts.s == null ? [-2, -1] : null);

const swap = (n: Norm): Norm => (n === "backward" ? "forward" : n === "forward" ? "backward" : n);

/** DFT of a Hermitian-symmetric signal given by its first half: a real spectrum of length n (default 2·(m−1)). */
export function hfft(x: Input, opts: FftOpts = {}): Tensor {
  const p = toPair("hfft", x), norm = checkNorm("hfft", opts.norm);
  const [ax, n0] = oneAxis("hfft", p[0], opts);
  const n = n0 ?? 2 * (p[0].shape[ax]! - 1);
  if (n < 1) fail("hfft", `the output length 2·(m−1) is ${n} for m = ${p[0].shape[ax]} input bins; pass n`);
  return c2r("hfft", [p[0], p[1] ? E.neg(p[1]) : null], ax, n, swap(norm));
}

/** Inverse of hfft: the n/2+1 bins of the Hermitian spectrum of a real signal. */
export function ihfft(x: Tensor, opts: FftOpts = {}): Complex {
  const t = toRealTensor("ihfft", x), norm = checkNorm("ihfft", opts.norm);
  const [ax, n0] = oneAxis("ihfft", t, opts);
  const n = n0 ?? t.shape[ax]!;
  const [re, im] = halfBins(c2c("ihfft", [t, null], ax, n, swap(norm), false), ax, n);
  return { real: re, imag: E.neg(im ?? zeros(re)) };
}

function freqCheck(op: string, n: number, d: number): void {
  checkN(op, n);
  if (!(typeof d === "number" && Number.isFinite(d) && d !== 0)) fail(op, `d must be a finite non-zero number, got ${d}`);
}

/**
 * Sample frequencies of an n-point DFT with spacing d: [0, 1, …, ⌈n/2⌉−1, −⌊n/2⌋, …, −1] / (d·n).
 * @example
 * tr.fft.fftfreq(4); // [0, 0.25, -0.5, -0.25]
 */
export function fftfreq(n: number, opts: { d?: number; dtype?: DType } = {}): Tensor {
  const d = opts.d ?? 1;
  freqCheck("fftfreq", n, d);
  const v = Float64Array.from({ length: n }, (_, i) => (i < Math.ceil(n / 2) ? i : i - n) / (d * n));
  return constant(v, [n], opts.dtype ?? "float32");
}

/** Sample frequencies of rfft's n/2+1 bins: [0, 1, …, ⌊n/2⌋] / (d·n). */
export function rfftfreq(n: number, opts: { d?: number; dtype?: DType } = {}): Tensor {
  const d = opts.d ?? 1;
  freqCheck("rfftfreq", n, d);
  const v = Float64Array.from({ length: Math.floor(n / 2) + 1 }, (_, i) => i / (d * n));
  return constant(v, [v.length], opts.dtype ?? "float32");
}

function shift<T extends Input>(op: string, x: T, axes: number | readonly number[] | null | undefined, inverse: boolean): T {
  const t = isComplex(x) ? checkComplex(op, x).real : x;
  if (!(t instanceof Tensor)) fail(op, `expected a Tensor or a { real, imag } Complex`);
  const ax = axes == null ? [...Array(t.ndim).keys()] : (typeof axes === "number" ? [axes] : [...axes]).map((a) => normAxis(op, a, t.ndim, "axes entry"));
  const shifts = ax.map((a) => (inverse ? -1 : 1) * Math.floor(t.shape[a]! / 2));
  const f = (u: Tensor) => (ax.length === 0 ? u : roll(u, shifts, ax));
  return (isComplex(x) ? { real: f(x.real), imag: f(x.imag) } : f(x as Tensor)) as T;
}

/** Move the zero-frequency bin to the centre along `axes` (default all). */
export const fftshift = <T extends Input>(x: T, opts: { axes?: number | readonly number[] | null } = {}): T => shift("fftshift", x, opts.axes, false);
/** Undo fftshift. */
export const ifftshift = <T extends Input>(x: T, opts: { axes?: number | readonly number[] | null } = {}): T => shift("ifftshift", x, opts.axes, true);

