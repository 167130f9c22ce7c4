import { fail, fmtShape } from "../core/errors.js";
import { normAxes, normAxis, prod } from "../core/shape.js";
import * as S from "../core/prims/structural.js";
import * as E from "../core/prims/elementwise.js";
import type { Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import { broadcastTo, promote } from "./core.js";

/** Reshape; one entry may be -1. */
export function reshape(x: TensorLike, shape: readonly number[]): Tensor {
  const t = toTensor(x);
  const neg = shape.filter((d) => d === -1).length;
  if (neg > 1) fail("reshape", `only one dimension may be -1, got ${fmtShape(shape)}`);
  let s = [...shape];
  if (neg === 1) {
    const known = prod(s.filter((d) => d !== -1));
    if (known === 0 || t.size % known !== 0) fail("reshape", `cannot reshape ${fmtShape(t.shape)} (${t.size} elements) to ${fmtShape(shape)}`);
    s = s.map((d) => (d === -1 ? t.size / known : d));
  }
  if (s.some((d) => !Number.isInteger(d) || d < 0)) fail("reshape", `invalid shape ${fmtShape(shape)}`);
  return S.reshape(t, s);
}

/** Permute axes (reverse them when none given). */
export function transpose(x: TensorLike, axes?: readonly number[]): Tensor {
  const t = toTensor(x);
  const perm = axes ? axes.map((a) => normAxis("transpose", a, t.ndim)) : [...Array(t.ndim).keys()].reverse();
  return S.transpose(t, perm);
}
export const permute = transpose;

export function moveaxis(x: TensorLike, source: number, destination: number): Tensor {
  const t = toTensor(x);
  return S.moveaxis(t, normAxis("moveaxis", source, t.ndim), normAxis("moveaxis", destination, t.ndim));
}
export function swapaxes(x: TensorLike, a: number, b: number): Tensor {
  const t = toTensor(x);
  const perm = [...Array(t.ndim).keys()];
  const i = normAxis("swapaxes", a, t.ndim), j = normAxis("swapaxes", b, t.ndim);
  [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  return S.transpose(t, perm);
}

export function expandDims(x: TensorLike, axis: number | number[]): Tensor {
  const t = toTensor(x);
  const axes = typeof axis === "number" ? [axis] : axis;
  const outRank = t.ndim + axes.length;
  const norm = axes.map((a) => normAxis("expandDims", a, outRank)).sort((a, b) => a - b);
  const shape = [...t.shape];
  for (const a of norm) shape.splice(a, 0, 1);
  return S.reshape(t, shape);
}
export const unsqueeze = expandDims;

export function squeeze(x: TensorLike, axis?: number | number[] | null): Tensor {
  const t = toTensor(x);
  const axes = axis === undefined || axis === null ? t.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes("squeeze", axis, t.ndim);
  for (const a of axes) if (t.shape[a] !== 1) fail("squeeze", `cannot squeeze axis ${a} of size ${t.shape[a]} in shape ${fmtShape(t.shape)}`);
  return S.reshape(t, t.shape.filter((_, i) => !axes.includes(i)));
}

export function flatten(x: TensorLike, startDim = 0, endDim = -1): Tensor {
  const t = toTensor(x);
  if (t.ndim === 0) return S.reshape(t, [1]);
  const s = normAxis("flatten", startDim, t.ndim), e = normAxis("flatten", endDim, t.ndim);
  return S.reshape(t, [...t.shape.slice(0, s), prod(t.shape.slice(s, e + 1)), ...t.shape.slice(e + 1)]);
}
export const ravel = (x: TensorLike) => flatten(x);

export function concatenate(xs: readonly TensorLike[], axis = 0): Tensor {
  if (xs.length === 0) fail("concatenate", "needs at least one array");
  const ts = promote("concatenate", ...xs);
  const ax = normAxis("concatenate", axis, ts[0]!.ndim);
  ts.forEach((t, i) => {
    if (t.ndim !== ts[0]!.ndim) fail("concatenate", `array ${i} has rank ${t.ndim} but array 0 has rank ${ts[0]!.ndim}`);
  });
  return S.concatenate(ts, ax);
}
export const cat = concatenate;

export function stack(xs: readonly TensorLike[], axis = 0): Tensor {
  if (xs.length === 0) fail("stack", "needs at least one array");
  const ts = promote("stack", ...xs);
  const shape0 = ts[0]!.shape;
  ts.forEach((t, i) => {
    if (t.shape.join() !== shape0.join()) fail("stack", `array ${i} has shape ${fmtShape(t.shape)} but array 0 has ${fmtShape(shape0)}`);
  });
  const ax = normAxis("stack", axis, shape0.length + 1);
  return S.concatenate(ts.map((t) => expandDims(t, ax)), ax);
}

/** Split into `sections` equal parts or at the given indices (NumPy's split). */
export function split(x: TensorLike, sections: number | number[], axis = 0): Tensor[] {
  const t = toTensor(x);
  const ax = normAxis("split", axis, t.ndim);
  const n = t.shape[ax]!;
  let cuts: number[];
  if (typeof sections === "number") {
    if (n % sections !== 0) fail("split", `axis ${ax} of size ${n} does not divide into ${sections} equal sections`);
    cuts = [...Array(sections - 1).keys()].map((i) => ((i + 1) * n) / sections);
  } else cuts = sections;
  const bounds = [0, ...cuts, n];
  return bounds.slice(0, -1).map((s, i) => sliceAxis(t, ax, s, bounds[i + 1]!));
}

function sliceAxis(t: Tensor, ax: number, start: number, stop: number): Tensor {
  const st = t.shape.map((_, i) => (i === ax ? start : 0));
  const li = t.shape.map((d, i) => (i === ax ? stop : d));
  return S.slice(t, st, li);
}

export type SliceSpec = [number | null, number | null, number | null] | [number | null, number | null] | number | null;

/**
 * NumPy basic slicing, one `[start, stop, step]` per leading axis (null = omitted); a bare number indexes
 * and drops the axis. Negative indices and steps follow NumPy.
 * @example x.slice([[1, null], [null, null, -1]])
 */
export function slice(x: TensorLike, specs: readonly SliceSpec[]): Tensor {
  const t = toTensor(x);
  if (specs.length > t.ndim) fail("slice", `${specs.length} slices given for an array of rank ${t.ndim}`);
  const start: number[] = [], limit: number[] = [], strides: number[] = [], flipAxes: number[] = [], drop: number[] = [];
  t.shape.forEach((n, i) => {
    const sp = specs[i];
    if (sp === undefined || sp === null) {
      start.push(0); limit.push(n); strides.push(1);
      return;
    }
    if (typeof sp === "number") {
      const k = sp < 0 ? sp + n : sp;
      if (k < 0 || k >= n) fail("slice", `index ${sp} is out of bounds for axis ${i} with size ${n}`);
      start.push(k); limit.push(k + 1); strides.push(1); drop.push(i);
      return;
    }
    const step = sp[2] ?? 1;
    if (step === 0) fail("slice", `step must not be zero (axis ${i})`);
    const norm = (v: number | null, dflt: number, lo: number, hi: number) => {
      if (v === null || v === undefined) return dflt;
      const w = v < 0 ? v + n : v;
      return Math.min(Math.max(w, lo), hi);
    };
    if (step > 0) {
      const s = norm(sp[0], 0, 0, n), e = norm(sp[1], n, 0, n);
      start.push(s); limit.push(Math.max(s, e)); strides.push(step);
    } else {
      // walk backwards: elements s, s+step, ... > e; as a forward slice of the flipped axis
      const s = norm(sp[0], n - 1, -1, n - 1), e = norm(sp[1], -1, -1, n - 1);
      const count = s > e ? Math.ceil((s - e) / -step) : 0;
      // flipped index of s is n-1-s
      const fs = n - 1 - s;
      start.push(fs); limit.push(count === 0 ? fs : fs + (count - 1) * -step + 1); strides.push(-step);
      flipAxes.push(i);
    }
  });
  let r = S.rev(t, flipAxes);
  r = S.slice(r, start, limit, strides);
  if (drop.length) r = S.reshape(r, r.shape.filter((_, i) => !drop.includes(i)));
  return r;
}

export function flip(x: TensorLike, axis?: number | number[] | null): Tensor {
  const t = toTensor(x);
  return S.rev(t, normAxes("flip", axis, t.ndim));
}

/** NumPy tile. */
export function tile(x: TensorLike, reps: number | readonly number[]): Tensor {
  let t = toTensor(x);
  const r = typeof reps === "number" ? [reps] : [...reps];
  while (t.ndim < r.length) t = expandDims(t, 0);
  while (r.length < t.ndim) r.unshift(1);
  // broadcast a new axis before each axis, then merge: [a, b] → [ra, a, rb, b] → [ra*a, rb*b]
  const inter = t.shape.flatMap((d, i) => [r[i]!, d]);
  const b = S.broadcastInDim(t, inter, t.shape.map((_, i) => 2 * i + 1));
  return S.reshape(b, t.shape.map((d, i) => d * r[i]!));
}

/** NumPy repeat with an integer count (each element repeated along axis; flattened when axis is null). */
export function repeat(x: TensorLike, repeats: number, axis: number | null = null): Tensor {
  let t = toTensor(x);
  if (axis === null) {
    t = S.reshape(t, [t.size]);
    axis = 0;
  }
  const ax = normAxis("repeat", axis, t.ndim);
  const shape = [...t.shape];
  shape.splice(ax + 1, 0, repeats);
  const b = S.broadcastInDim(t, shape, t.shape.map((_, i) => (i <= ax ? i : i + 1)));
  return S.reshape(b, t.shape.map((d, i) => (i === ax ? d * repeats : d)));
}

/** NumPy roll. */
export function roll(x: TensorLike, shift: number | number[], axis?: number | number[] | null): Tensor {
  let t = toTensor(x);
  if (axis === undefined || axis === null) {
    const shape = t.shape;
    return reshape(roll(reshape(t, [t.size]), shift, 0), shape);
  }
  const shifts = typeof shift === "number" ? [shift] : shift;
  const axes = typeof axis === "number" ? [axis] : axis;
  axes.forEach((a, i) => {
    const ax = normAxis("roll", a, t.ndim);
    const n = t.shape[ax]!;
    if (n === 0) return;
    const s = (((shifts[i] ?? shifts[0]!) % n) + n) % n;
    if (s === 0) return;
    t = S.concatenate([sliceAxis(t, ax, n - s, n), sliceAxis(t, ax, 0, n - s)], ax);
  });
  return t;
}

/** NumPy pad: modes constant (with value), reflect, edge/replicate, symmetric. */
export function pad(x: TensorLike, padWidth: readonly (readonly [number, number])[] | number, opts: { mode?: "constant" | "reflect" | "edge" | "replicate" | "symmetric"; value?: number } = {}): Tensor {
  const t = toTensor(x);
  const pw = typeof padWidth === "number" ? t.shape.map(() => [padWidth, padWidth] as const) : padWidth;
  if (pw.length !== t.ndim) fail("pad", `padWidth has ${pw.length} entries but the array has rank ${t.ndim}`);
  const mode = opts.mode ?? "constant";
  if (mode === "constant") return S.pad(t, pw.map((p) => p[0]), pw.map((p) => p[1]), undefined, opts.value ?? 0);
  let r = t;
  pw.forEach(([lo, hi], ax) => {
    const n = r.shape[ax]!;
    if (lo === 0 && hi === 0) return;
    const parts: Tensor[] = [];
    const pick = (i: number) => sliceAxis(r, ax, i, i + 1);
    const src = (i: number): number => {
      // index into the original axis for padded position i (may be outside [0, n))
      if (mode === "edge" || mode === "replicate") return Math.min(Math.max(i, 0), n - 1);
      const period = mode === "reflect" ? 2 * (n - 1) : 2 * n;
      if (period === 0) return 0;
      let k = ((i % period) + period) % period;
      if (mode === "reflect") return k < n ? k : period - k;
      return k < n ? k : period - 1 - k;
    };
    if (mode === "reflect" && (lo >= n || hi >= n)) fail("pad", `reflect padding ${lo},${hi} needs an axis longer than the padding (axis ${ax} has ${n})`);
    for (let i = -lo; i < 0; i++) parts.push(pick(src(i)));
    parts.push(r);
    for (let i = n; i < n + hi; i++) parts.push(pick(src(i)));
    r = S.concatenate(parts, ax);
  });
  return r;
}

/** Lower triangle (k-th diagonal and below) of the last two axes. */
export function tril(x: TensorLike, k = 0): Tensor {
  return triMask(toTensor(x), k, true);
}
export function triu(x: TensorLike, k = 0): Tensor {
  return triMask(toTensor(x), k, false);
}
function triMask(t: Tensor, k: number, lower: boolean): Tensor {
  if (t.ndim < 2) fail(lower ? "tril" : "triu", `needs at least 2 dimensions, got shape ${fmtShape(t.shape)}`);
  const [m, n] = t.shape.slice(-2) as [number, number];
  const rows = S.iota([m, n], 0), cols = S.iota([m, n], 1);
  const d = E.sub(cols, rows);
  const kk = E.convert(S.iota([m, n], 0), "int32");
  const mask2 = lower ? E.lessEqual(d, E.add(E.zerosLike(kk), full2(m, n, k))) : E.greaterEqual(d, full2(m, n, k));
  const mask = broadcastTo(mask2, t.shape);
  return E.select(mask, t, E.zerosLike(t));
}
import { full as fullPrim } from "../core/prims/constants.js";
const full2 = (m: number, n: number, k: number) => fullPrim([m, n], k, "int32");

export { broadcastTo };
