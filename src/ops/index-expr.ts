// NumPy indexing in one call (`x.get(...)`), JAX's functional `x.at(...).set/add/mul/min/max`, and PyTorch's
// `indexPut_`. Everything lowers to slice/rev/reshape for basic indices and to take/scatterAdd/sort for
// advanced ones, so gradients, jit and vmap come from the composition.
import { fail, fmtShape } from "../core/errors.js";
import { broadcastShapes, prod } from "../core/shape.js";
import { isInt } from "../core/dtype.js";
import { checkIndexRange } from "../core/prims/indexing.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { toTensor, fromTypedArray, type TensorLike, type NestedNumbers } from "./convert.js";
import { slice, reshape, transpose, type SliceSpec } from "./shape.js";
import { add, mul, sub, where, broadcastTo, astype, less, notEqual, greater, maximum, minimum, exp, log, abs, equal, remainder, floor, isnan } from "./core.js";
import { take, argsort, scatterAdd } from "./indexing.js";
import { arange, zeros, ones, full } from "./creation.js";
import { concatenate } from "./shape.js";

/** A range with omitted parts, as NumPy's `start:stop:step` (null or absent = omitted). */
export interface SliceRange {
  start?: number | null;
  stop?: number | null;
  step?: number | null;
}

/** Nested JS booleans, for a boolean mask given as plain arrays. */
export type NestedBooleans = boolean | readonly NestedBooleans[];

/**
 * One entry of an index expression: an integer (negative counts from the end; drops the axis), a range
 * string such as `"1:5:2"`, `"::-1"`, `":"`, a {@link SliceRange}, `null` (newaxis), `"..."` (ellipsis), an
 * integer tensor or JS integer array (advanced indexing), or a boolean mask (tensor or JS booleans).
 */
export type IndexItem = number | string | null | SliceRange | Tensor | NestedNumbers | NestedBooleans;

type Norm =
  | { k: "int"; v: number }
  | { k: "slice"; s: [number | null, number | null, number | null] }
  | { k: "new" }
  | { k: "ell" }
  | { k: "arr"; t: Tensor }
  | { k: "bool"; t: Tensor };

function parseRange(op: string, s: string): [number | null, number | null, number | null] {
  const parts = s.split(":");
  if (parts.length < 2 || parts.length > 3) fail(op, `cannot parse index string "${s}"; expected "start:stop[:step]" or "..."`);
  const num = (p: string): number | null => {
    const q = p.trim();
    if (q === "") return null;
    const v = Number(q);
    if (!Number.isInteger(v)) fail(op, `cannot parse index string "${s}": "${p}" is not an integer`);
    return v;
  };
  return [num(parts[0]!), num(parts[1]!), parts.length === 3 ? num(parts[2]!) : null];
}

function normItem(op: string, it: IndexItem, pos: number): Norm {
  if (it === null) return { k: "new" };
  if (typeof it === "number") {
    if (!Number.isInteger(it)) fail(op, `index ${pos} must be an integer, got ${it}`);
    return { k: "int", v: it };
  }
  if (typeof it === "boolean") return { k: "bool", t: toTensor(it, "bool") };
  if (typeof it === "string") return it.trim() === "..." ? { k: "ell" } : { k: "slice", s: parseRange(op, it) };
  if (it instanceof Tensor) {
    if (it.dtype === "bool") return { k: "bool", t: it };
    if (!isInt(it.dtype)) fail(op, `index ${pos} must be an integer or boolean tensor, got dtype ${it.dtype} (shape ${fmtShape(it.shape)})`);
    return { k: "arr", t: it };
  }
  if (Array.isArray(it)) {
    const first = (it as unknown[]).flat(Infinity)[0];
    if (typeof first === "boolean") return { k: "bool", t: toTensor(it as never, "bool") };
    const t = toTensor(it as NestedNumbers, "int32");
    return { k: "arr", t };
  }
  const r = it as SliceRange;
  if (typeof r === "object") return { k: "slice", s: [r.start ?? null, r.stop ?? null, r.step ?? null] };
  return fail(op, `index ${pos} has an unsupported type ${typeof it}`);
}

/** Nonzero positions of a concrete mask, one int32 index vector per mask axis. */
function maskToIndices(op: string, m: Tensor): Tensor[] {
  if (!(m instanceof EagerTensor)) {
    fail(op, `a boolean mask index has a data-dependent result shape and cannot be traced (under jit/vmap); use tr.where(mask, x, other) instead`);
  }
  const d = m.dataSync(), sh = m.shape, nd = sh.length;
  const cols: number[][] = sh.map(() => []);
  const strides = sh.map((_, i) => prod(sh.slice(i + 1)));
  for (let f = 0; f < d.length; f++) {
    if (!d[f]) continue;
    for (let a = 0; a < nd; a++) cols[a]!.push(Math.floor(f / strides[a]!) % sh[a]!);
  }
  return cols.map((c) => fromTypedArray(Int32Array.from(c), [c.length], "int32"));
}

/** NumPy's index: basic entries lower to slicing, advanced ones to one take over the flattened indexed axes. */
function indexImpl(op: string, x: Tensor, items: readonly IndexItem[]): Tensor {
  const norm = items.map((it, i) => normItem(op, it, i));
  if (norm.filter((n) => n.k === "ell").length > 1) fail(op, `an index can only have a single ellipsis ("...")`);
  const consumed = norm.reduce((c, n) => c + (n.k === "new" || n.k === "ell" ? 0 : n.k === "bool" ? n.t.ndim : 1), 0);
  if (consumed > x.ndim) fail(op, `too many indices: ${consumed} axes indexed but the array has shape ${fmtShape(x.shape)} (rank ${x.ndim})`);
  const full = (): Norm => ({ k: "slice", s: [null, null, null] });
  const fill = Array.from({ length: x.ndim - consumed }, full);
  const e = norm.findIndex((n) => n.k === "ell");
  const seq = e >= 0 ? [...norm.slice(0, e), ...fill, ...norm.slice(e + 1)] : [...norm, ...fill];
  // expand masks into one index vector per axis they cover (NumPy's nonzero rule)
  const exp1: Norm[] = [];
  let ax = 0;
  for (const n of seq) {
    if (n.k === "bool") {
      const want = x.shape.slice(ax, ax + n.t.ndim);
      if (n.t.ndim === 0) fail(op, `a 0-d boolean index is not supported; use tr.where`);
      if (want.some((d, i) => d !== n.t.shape[i])) fail(op, `boolean mask of shape ${fmtShape(n.t.shape)} does not match the indexed axes ${ax}..${ax + n.t.ndim - 1} of shape ${fmtShape(want)}`);
      for (const t of maskToIndices(op, n.t)) exp1.push({ k: "arr", t });
      ax += n.t.ndim;
    } else {
      exp1.push(n);
      if (n.k !== "new") ax += 1;
    }
  }
  const hasAdv = exp1.some((n) => n.k === "arr");
  const specs: SliceSpec[] = [];
  const outKinds: ("k" | "new" | Tensor)[] = []; // per axis after slicing: kept, inserted, or advanced
  const advItemPos: number[] = [];
  ax = 0;
  exp1.forEach((n, pos) => {
    if (n.k === "new") {
      outKinds.push("new");
      return;
    }
    const size = x.shape[ax]!;
    if (n.k === "int") {
      if (n.v < -size || n.v >= size) fail(op, `index ${n.v} is out of bounds for axis ${ax} with size ${size}`);
      if (hasAdv) {
        specs.push(null);
        outKinds.push(toTensor(n.v < 0 ? n.v + size : n.v, "int32"));
        advItemPos.push(pos);
      } else specs.push(n.v);
    } else if (n.k === "slice") {
      if (n.s[2] === 0) fail(op, `slice step must not be zero (axis ${ax})`);
      specs.push(n.s);
      outKinds.push("k");
    } else if (n.k === "arr") {
      if (size === 0 && n.t.size > 0) fail(op, `index array cannot index axis ${ax} of size 0`);
      checkIndexRange(op, `index ${pos}`, n.t, -size, size, `axis ${ax} of size ${size}`);
      specs.push(null);
      outKinds.push(n.t);
      advItemPos.push(pos);
    }
    ax += 1;
  });
  let r = slice(x, specs);
  // insert the newaxis dims
  if (outKinds.includes("new")) {
    const sh: number[] = [];
    let j = 0;
    for (const k of outKinds) sh.push(k === "new" ? 1 : r.shape[j++]!);
    r = reshape(r, sh);
  }
  if (!hasAdv) return r;
  const advAxes: number[] = [], idx: Tensor[] = [];
  outKinds.forEach((k, i) => {
    if (k instanceof Tensor) {
      advAxes.push(i);
      idx.push(k);
    }
  });
  const B = broadcastShapes(op, ...idx.map((t) => t.shape));
  const sizes = advAxes.map((a) => r.shape[a]!);
  // one flat row-major index over the advanced axes
  let flat: Tensor | null = null;
  idx.forEach((t, j) => {
    const n = sizes[j]!;
    const ti = astype(t, "int32");
    const w = where(less(ti, 0), add(ti, n), ti);
    const stride = prod(sizes.slice(j + 1));
    const term = stride === 1 ? w : mul(w, stride);
    flat = flat === null ? broadcastTo(term, B) : add(flat, term);
  });
  const rest = r.shape.map((_, i) => i).filter((i) => !advAxes.includes(i));
  const perm = [...advAxes, ...rest];
  const moved = perm.every((p, i) => p === i) ? r : transpose(r, perm);
  const collapsed = reshape(moved, [prod(sizes), ...rest.map((i) => r.shape[i]!)]);
  let out = take(collapsed, broadcastTo(flat!, B), 0);
  // NumPy: adjacent advanced indices keep their place; separated ones go first
  const adjacent = advItemPos.every((p, i) => i === 0 || p === advItemPos[i - 1]! + 1);
  const at = advAxes[0]!;
  if (adjacent && at > 0) {
    const nb = B.length, nr = rest.length;
    const p2: number[] = [];
    for (let i = 0; i < at; i++) p2.push(nb + i);
    for (let i = 0; i < nb; i++) p2.push(i);
    for (let i = at; i < nr; i++) p2.push(nb + i);
    out = transpose(out, p2);
  }
  return out;
}

/**
 * NumPy indexing in one call: integers, range strings/objects, `null` (newaxis), `"..."`, integer arrays
 * (broadcast together) and boolean masks (eager only).
 * @example tr.index(x, 0, "1:5:2", null, "...", [2, 0])
 */
export function index(x: TensorLike, ...idx: IndexItem[]): Tensor {
  return indexImpl("index", toTensor(x), idx);
}

/** Flat positions of the indexed elements (shape of the indexed result) and its values reshaped to [m]. */
function positions(op: string, x: Tensor, items: readonly IndexItem[]): Tensor {
  const pos = reshape(arange(x.size), x.shape);
  return indexImpl(op, pos, items);
}

/**
 * JAX's functional update, from `x.at(...idx)`: every method returns a new tensor and leaves x as is.
 * @example const y = x.at([0, 2], "1:").add(1);
 */
export class IndexUpdate {
  constructor(
    private readonly x: Tensor,
    private readonly idx: readonly IndexItem[],
  ) {}

  /** The indexed values (same as `x.get(...idx)`). */
  get(): Tensor {
    return indexImpl("at.get", this.x, this.idx);
  }

  private prep(op: string, v: TensorLike): [Tensor, Tensor, number[]] {
    const P = positions(op, this.x, this.idx);
    let vt = v instanceof Tensor ? v : toTensor(v, this.x.dtype);
    if (vt.dtype !== this.x.dtype) vt = astype(vt, this.x.dtype);
    // values broadcast to the indexed shape, never the other way round
    const fits = vt.ndim <= P.ndim && vt.shape.every((d, i) => d === 1 || d === P.shape[P.ndim - vt.ndim + i]);
    if (!fits) fail(op, `values of shape ${fmtShape(vt.shape)} do not broadcast to the indexed shape ${fmtShape(P.shape)}`);
    const m = P.size;
    return [reshape(P, [m]), reshape(broadcastTo(vt, P.shape), [m]), this.x.shape];
  }

  /** Scatter with the last update winning at repeated positions; returns (values, written mask) over flat x. */
  private lastWins(P: Tensor, v: Tensor): [Tensor, Tensor] {
    const N = this.x.size, m = P.size;
    const flatZero = zeros([N], this.x.dtype);
    if (m === 0) return [flatZero, astype(zeros([N], "int32"), "bool")];
    const order = argsort(P, { axis: 0 });
    const sp = take(P, order, 0), sv = take(v, order, 0);
    // after a stable sort the last of each run of equal positions is the latest update there
    const last = m === 1 ? ones([1], "bool") : concatenate([notEqual(slice(sp, [[0, m - 1]]), slice(sp, [[1, null]])), ones([1], "bool")], 0);
    const vals = scatterAdd(flatZero, sp, where(last, sv, zeros([m], this.x.dtype)), 0);
    const hit = greater(scatterAdd(zeros([N], "int32"), sp, astype(last, "int32"), 0), 0);
    return [vals, hit];
  }

  /** x with the indexed elements replaced by v (broadcast); at repeated positions the last update wins. */
  set(v: TensorLike): Tensor {
    const [P, vf, sh] = this.prep("at.set", v);
    const [vals, hit] = this.lastWins(P, vf);
    return reshape(where(hit, vals, reshape(this.x, [this.x.size])), sh);
  }

  /** x with v added at the indexed elements; repeated positions accumulate. */
  add(v: TensorLike): Tensor {
    const [P, vf, sh] = this.prep("at.add", v);
    return reshape(scatterAdd(reshape(this.x, [this.x.size]), P, vf, 0), sh);
  }

  /** x with the indexed elements multiplied by v; repeated positions multiply together. */
  mul(v: TensorLike): Tensor {
    const [P, vf, sh] = this.prep("at.mul", v);
    const N = this.x.size;
    const fdt = this.x.dtype === "float64" ? "float64" : "float32";
    const vv = astype(vf, fdt);
    // product of the updates per position as sign * exp(sum log|v|), zeros counted apart
    const isZero = equal(vv, 0);
    const logMag = log(where(isZero, ones(vv.shape, fdt), abs(vv)));
    const z = zeros([N], fdt);
    const mag = exp(scatterAdd(z, P, logMag, 0));
    const negs = scatterAdd(z, P, astype(less(vv, 0), fdt), 0);
    const zs = scatterAdd(z, P, astype(isZero, fdt), 0);
    const sign = sub(1, mul(2, remainder(negs, 2)));
    // one zero update: keep it as a factor (value 0) so its gradient is x times the other updates
    const oneZero = scatterAdd(z, P, where(isZero, vv, zeros(vv.shape, fdt)), 0);
    let factor = mul(mul(sign, mag), where(equal(zs, 0), ones([N], fdt), where(equal(zs, 1), oneZero, z)));
    const xf = reshape(this.x, [N]);
    if (isInt(this.x.dtype)) factor = floor(add(factor, 0.5));
    const fac = factor.dtype === this.x.dtype ? factor : astype(factor, this.x.dtype);
    return reshape(mul(xf, fac), sh);
  }

  /** x with the indexed elements replaced by min(x, v); repeated positions take the smallest. */
  min(v: TensorLike): Tensor {
    return this.extreme("at.min", v, true);
  }

  /** x with the indexed elements replaced by max(x, v); repeated positions take the largest. */
  max(v: TensorLike): Tensor {
    return this.extreme("at.max", v, false);
  }

  private extreme(op: string, v: TensorLike, isMin: boolean): Tensor {
    const [P, vf, sh] = this.prep(op, v);
    if (P.size === 0) return this.x;
    // order updates so the extreme one comes last, then let the last win
    const order = argsort(vf, { axis: 0, descending: isMin });
    const [vals, hit] = this.lastWins(take(P, order, 0), take(vf, order, 0));
    const xf = reshape(this.x, [this.x.size]);
    let out = where(hit, isMin ? minimum(xf, vals) : maximum(xf, vals), xf);
    if (!isInt(this.x.dtype) && this.x.dtype !== "bool") {
      // NaN sorts as the largest, so for min it would lose; NumPy propagates it either way
      const nanHit = greater(scatterAdd(zeros([this.x.size], "int32"), P, astype(isnan(vf), "int32"), 0), 0);
      out = where(nanHit, full([this.x.size], NaN, this.x.dtype), out);
    }
    return reshape(out, sh);
  }
}

/** Options of {@link Tensor.indexPut_}. */
export interface IndexPutOpts {
  /** Add the values (repeated positions accumulate) instead of replacing. */
  accumulate?: boolean;
}

declare module "../tensor.js" {
  interface Tensor {
    /** NumPy indexing: `x.get(0, "1:5:2", null, "...", [2, 0])` (see {@link index}). */
    get(...idx: IndexItem[]): Tensor;
    /** JAX-style functional update: `x.at(0, "::2").set(1)`, `.add(v)`, `.mul(v)`, `.min(v)`, `.max(v)`, `.get()`. */
    at(...idx: IndexItem[]): IndexUpdate;
    /** PyTorch index_put_: writes values at the indexed positions in place (accumulating if asked). */
    indexPut_(indices: readonly IndexItem[], values: TensorLike, opts?: IndexPutOpts): Tensor;
  }
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
proto["get"] = function (this: Tensor, ...idx: IndexItem[]) {
  return indexImpl("get", this, idx);
};
proto["at"] = function (this: Tensor, ...idx: IndexItem[]) {
  return new IndexUpdate(this, idx);
};
proto["indexPut_"] = function (this: Tensor, indices: readonly IndexItem[], values: TensorLike, opts: IndexPutOpts = {}) {
  const u = new IndexUpdate(this, indices);
  const r = opts.accumulate ? u.add(values) : u.set(values);
  return this.assign(r);
};
