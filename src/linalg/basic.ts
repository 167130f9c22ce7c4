// Structural linear-algebra helpers (diagonals, traces, products): pure compositions of public ops.
import { fail, fmtShape } from "../core/errors.js";
import { normAxis } from "../core/shape.js";
import type { Tensor } from "../tensor.js";
import * as o from "../ops/index.js";
import { toTensor, type TensorLike } from "../ops/convert.js";

/** Swap the last two axes. @example tr.matrixTranspose(x) // [..., m, n] -> [..., n, m] */
export function matrixTranspose(x: TensorLike): Tensor {
  const t = toTensor(x);
  if (t.ndim < 2) fail("matrixTranspose", `expected at least 2 dimensions, got shape ${fmtShape(t.shape)}`);
  return o.swapaxes(t, -1, -2);
}

/**
 * The k-th diagonal over axes axis1 and axis2, appended as the last axis (NumPy diagonal).
 * @example tr.diagonal(tr.eye(3), { offset: 1 }) // [0, 0]
 */
export function diagonal(x: TensorLike, opts: { offset?: number; axis1?: number; axis2?: number } = {}): Tensor {
  const t = toTensor(x);
  if (t.ndim < 2) fail("diagonal", `expected at least 2 dimensions, got shape ${fmtShape(t.shape)}`);
  const a1 = normAxis("diagonal", opts.axis1 ?? 0, t.ndim), a2 = normAxis("diagonal", opts.axis2 ?? 1, t.ndim);
  if (a1 === a2) fail("diagonal", `axis1 and axis2 must differ, both are ${a1}`);
  const k = opts.offset ?? 0;
  if (!Number.isInteger(k)) fail("diagonal", `offset must be an integer, got ${k}`);
  const rest = t.shape.map((_, i) => i).filter((i) => i !== a1 && i !== a2);
  const y = o.transpose(t, [...rest, a1, a2]);
  const m = t.shape[a1]!, n = t.shape[a2]!;
  const lo = Math.max(0, -k), hi = Math.min(m, n - k);
  const lead = rest.map(() => null);
  if (hi <= lo) return o.slice(o.sum(y, { axis: -1 }), [...lead, [0, 0]]);
  // a mask picks x[i, i + k] in each row; summing the row keeps it and the gradient flows back to it alone
  const picked = o.sum(o.mul(y, o.eye(m, n, { k, dtype: y.dtype === "bool" ? "int32" : y.dtype })), { axis: -1 });
  return o.slice(picked, [...lead, [lo, hi]]);
}

/** Sum of the k-th diagonal of the last two axes. @example tr.trace(tr.eye(3)) // 3 */
export function trace(x: TensorLike, opts: { offset?: number } = {}): Tensor {
  const t = toTensor(x);
  if (t.ndim < 2) fail("trace", `expected at least 2 dimensions, got shape ${fmtShape(t.shape)}`);
  return o.sum(diagonal(t, { offset: opts.offset ?? 0, axis1: -2, axis2: -1 }), { axis: -1 });
}

/**
 * NumPy diag: a vector becomes a matrix with it on the k-th diagonal; a matrix gives its k-th diagonal.
 * @example tr.diag([1, 2]) // [[1, 0], [0, 2]]
 */
export function diag(x: TensorLike, k = 0): Tensor {
  const t = toTensor(x);
  if (t.ndim === 2) return diagonal(t, { offset: k });
  if (t.ndim !== 1) fail("diag", `expected a 1-D or 2-D input, got shape ${fmtShape(t.shape)}`);
  const n = t.shape[0]! + Math.abs(k);
  // place v on the diagonal: pad v to length n, broadcast over rows, keep the k-th diagonal by a mask
  const v = o.pad(t, [[Math.max(0, k), Math.max(0, -k)]]);
  const e = o.eye(n, n, { k, dtype: t.dtype === "bool" ? "int32" : t.dtype });
  const r = o.mul(o.expandDims(v, 0), e);
  return t.dtype === "bool" ? o.astype(r, "bool") : r;
}

/** Cross product of 3-vectors along `axis` (broadcasting the others). @example tr.cross([1, 0, 0], [0, 1, 0]) // [0, 0, 1] */
export function cross(a: TensorLike, b: TensorLike, opts: { axis?: number } = {}): Tensor {
  const [x0, y0] = o.promote("cross", a, b) as [Tensor, Tensor];
  const ax = opts.axis ?? -1;
  const ia = normAxis("cross", ax, x0.ndim), ib = normAxis("cross", ax, y0.ndim);
  if (x0.shape[ia] !== 3 || y0.shape[ib] !== 3) fail("cross", `axis ${ax} must have length 3 in both operands, got a ${fmtShape(x0.shape)} and b ${fmtShape(y0.shape)}`);
  const x = o.moveaxis(x0, ia, -1), y = o.moveaxis(y0, ib, -1);
  const c = (t: Tensor, i: number) => o.slice(t, [...t.shape.slice(0, -1).map(() => null), i]);
  const [x1, x2, x3] = [0, 1, 2].map((i) => c(x, i)) as [Tensor, Tensor, Tensor];
  const [y1, y2, y3] = [0, 1, 2].map((i) => c(y, i)) as [Tensor, Tensor, Tensor];
  const r = o.stack([o.sub(o.mul(x2, y3), o.mul(x3, y2)), o.sub(o.mul(x3, y1), o.mul(x1, y3)), o.sub(o.mul(x1, y2), o.mul(x2, y1))], -1);
  return o.moveaxis(r, -1, ax < 0 ? ax : Math.min(ax, r.ndim - 1));
}

/** Kronecker product (NumPy kron). @example tr.kron(tr.eye(2), [[1, 2], [3, 4]]) // 4 x 4 block diagonal */
export function kron(a: TensorLike, b: TensorLike): Tensor {
  let [x, y] = o.promote("kron", a, b) as [Tensor, Tensor];
  const nd = Math.max(x.ndim, y.ndim);
  x = o.reshape(x, [...Array(nd - x.ndim).fill(1), ...x.shape]);
  y = o.reshape(y, [...Array(nd - y.ndim).fill(1), ...y.shape]);
  // interleave: x[i0, 1, i1, 1, ...] * y[1, j0, 1, j1, ...] -> reshape to [i0*j0, i1*j1, ...]
  const xs = x.shape.flatMap((d) => [d, 1]), ys = y.shape.flatMap((d) => [1, d]);
  const p = o.mul(o.reshape(x, xs), o.reshape(y, ys));
  return o.reshape(p, x.shape.map((d, i) => d * y.shape[i]!));
}

/** Dot product along `axis` with broadcasting (Array API vecdot). @example tr.vecdot([1, 2], [3, 4]) // 11 */
export function vecdot(a: TensorLike, b: TensorLike, opts: { axis?: number } = {}): Tensor {
  const [x, y] = o.promote("vecdot", a, b) as [Tensor, Tensor];
  const ax = opts.axis ?? -1;
  const ia = normAxis("vecdot", ax, x.ndim), ib = normAxis("vecdot", ax, y.ndim);
  if (x.shape[ia] !== y.shape[ib]) fail("vecdot", `axis ${ax} has length ${x.shape[ia]} in a ${fmtShape(x.shape)} but ${y.shape[ib]} in b ${fmtShape(y.shape)}`);
  return o.sum(o.mul(o.moveaxis(x, ia, -1), o.moveaxis(y, ib, -1)), { axis: -1 });
}
