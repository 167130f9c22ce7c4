import { isFloat } from "../core/dtype.js";
import { fail, fmtShape } from "../core/errors.js";
import { normAxis, prod } from "../core/shape.js";
import * as E from "../core/prims/elementwise.js";
import * as R from "../core/prims/reduce.js";
import * as S from "../core/prims/structural.js";
import { dotGeneral, freeAxes } from "../core/prims/linalg.js";
import { range } from "../core/prims/util.js";
import { Tensor } from "../tensor.js";
import { toTensor, type TensorLike } from "./convert.js";
import { add, broadcastTo, div, exp, isfinite, max, mul, promote, sub, sum, where } from "./core.js";

/** Run an integer product for bool operands (NumPy gives the logical "or of ands"). */
function viaInt(ts: Tensor[], f: (xs: Tensor[]) => Tensor): Tensor {
  if (ts[0]!.dtype !== "bool") return f(ts);
  const r = f(ts.map((t) => E.convert(t, "int32")));
  return E.ne(r, E.zerosLike(r));
}

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted to a row (a) or a column (b) and the
 * added axis removed again; leading (batch) axes broadcast.
 * @example tr.matmul(a, b) // [..., m, k] @ [..., k, n] -> [..., m, n]
 */
export function matmul(a: TensorLike, b: TensorLike): Tensor {
  const ts = promote("matmul", a, b);
  const [x0, y0] = ts as [Tensor, Tensor];
  if (x0.ndim === 0 || y0.ndim === 0) fail("matmul", `operands must have at least 1 dimension, got a ${fmtShape(x0.shape)} and b ${fmtShape(y0.shape)}; use mul for scalars`);
  const ka = x0.shape[x0.ndim - 1]!, kb = y0.ndim === 1 ? y0.shape[0]! : y0.shape[y0.ndim - 2]!;
  if (ka !== kb) fail("matmul", `a has shape ${fmtShape(x0.shape)} but b has shape ${fmtShape(y0.shape)}; inner dimensions ${ka} and ${kb} differ`);
  const ba = x0.shape.slice(0, -2), bb = y0.shape.slice(0, -2);
  const nb = Math.max(ba.length, bb.length);
  const bs = range(nb).map((i) => {
    const p = ba[i - (nb - ba.length)] ?? 1, q = bb[i - (nb - bb.length)] ?? 1;
    if (p !== q && p !== 1 && q !== 1) fail("matmul", `batch dimensions of a ${fmtShape(x0.shape)} and b ${fmtShape(y0.shape)} cannot be broadcast together (${p} vs ${q})`);
    return p === 1 ? q : p;
  });
  return viaInt(ts, ([xi, yi]) => {
    const x = xi!.ndim === 1 ? S.reshape(xi!, [1, ka]) : xi!;
    const y = yi!.ndim === 1 ? S.reshape(yi!, [ka, 1]) : yi!;
    const M = x.shape[x.ndim - 2]!, N = y.shape[y.ndim - 1]!;
    let out: Tensor;
    if (prod(bb) === 1) {
      // b is one matrix: a's batch axes are free axes of the product, no broadcast needed
      out = dotGeneral(x, S.reshape(y, [ka, N]), { contract: [[x.ndim - 1], [0]], batch: [[], []] });
    } else if (prod(ba) === 1) {
      const o = dotGeneral(S.reshape(x, [M, ka]), y, { contract: [[1], [y.ndim - 2]], batch: [[], []] });
      out = S.moveaxis(o, 0, o.ndim - 2);
    } else {
      const xb = broadcastTo(x, [...bs, M, ka]), yb = broadcastTo(y, [...bs, ka, N]);
      out = dotGeneral(xb, yb, { contract: [[nb + 1], [nb]], batch: [range(nb), range(nb)] });
    }
    out = S.reshape(out, [...bs, M, N]);
    const shape = [...bs, ...(xi!.ndim === 1 ? [] : [M]), ...(yi!.ndim === 1 ? [] : [N])];
    return S.reshape(out, shape);
  });
}

/**
 * NumPy dot: a scalar operand multiplies; otherwise the last axis of a is contracted with the only axis
 * of a 1-D b or the second-to-last axis of b.
 */
export function dot(a: TensorLike, b: TensorLike): Tensor {
  const ts = promote("dot", a, b);
  const [x, y] = ts as [Tensor, Tensor];
  if (x.ndim === 0 || y.ndim === 0) return mul(x, y);
  const ax = x.ndim - 1, by = y.ndim === 1 ? 0 : y.ndim - 2;
  if (x.shape[ax] !== y.shape[by]) {
    fail("dot", `a has shape ${fmtShape(x.shape)} but b has shape ${fmtShape(y.shape)}; a's axis ${ax} (${x.shape[ax]}) and b's axis ${by} (${y.shape[by]}) differ`);
  }
  return viaInt(ts, ([p, q]) => dotGeneral(p!, q!, { contract: [[ax], [by]], batch: [[], []] }));
}

/** Inner product over the last axes of a and b (NumPy inner). */
export function inner(a: TensorLike, b: TensorLike): Tensor {
  const ts = promote("inner", a, b);
  const [x, y] = ts as [Tensor, Tensor];
  if (x.ndim === 0 || y.ndim === 0) return mul(x, y);
  if (x.shape[x.ndim - 1] !== y.shape[y.ndim - 1]) fail("inner", `a has shape ${fmtShape(x.shape)} but b has shape ${fmtShape(y.shape)}; last dimensions differ`);
  return viaInt(ts, ([p, q]) => dotGeneral(p!, q!, { contract: [[x.ndim - 1], [y.ndim - 1]], batch: [[], []] }));
}

/**
 * Sum products over the given axes (NumPy tensordot): `axes` = n contracts the last n axes of a with the
 * first n of b; or give the two axis lists.
 */
export function tensordot(a: TensorLike, b: TensorLike, axes: number | readonly [number | readonly number[], number | readonly number[]] = 2): Tensor {
  const ts = promote("tensordot", a, b);
  const [x, y] = ts as [Tensor, Tensor];
  let la: number[], lb: number[];
  if (typeof axes === "number") {
    if (!Number.isInteger(axes) || axes < 0 || axes > x.ndim || axes > y.ndim) fail("tensordot", `axes = ${axes} needs both operands to have at least that many axes (a ${fmtShape(x.shape)}, b ${fmtShape(y.shape)})`);
    la = range(axes).map((i) => x.ndim - axes + i);
    lb = range(axes);
  } else {
    const l = (v: number | readonly number[]) => (typeof v === "number" ? [v] : [...v]);
    la = l(axes[0]).map((v) => normAxis("tensordot", v, x.ndim));
    lb = l(axes[1]).map((v) => normAxis("tensordot", v, y.ndim));
    if (la.length !== lb.length) fail("tensordot", `axes lists ${JSON.stringify(axes)} have different lengths`);
  }
  la.forEach((p, i) => {
    const q = lb[i]!;
    if (x.shape[p] !== y.shape[q]) fail("tensordot", `a's axis ${p} (${x.shape[p]}) and b's axis ${q} (${y.shape[q]}) differ; a ${fmtShape(x.shape)}, b ${fmtShape(y.shape)}`);
  });
  return viaInt(ts, ([p, q]) => dotGeneral(p!, q!, { contract: [la, lb], batch: [[], []] }));
}

/** Outer product of the flattened operands: [m] x [n] -> [m, n]. */
export function outer(a: TensorLike, b: TensorLike): Tensor {
  const ts = promote("outer", a, b);
  return viaInt(ts, ([x, y]) => dotGeneral(S.reshape(x!, [x!.size]), S.reshape(y!, [y!.size]), { contract: [[], []], batch: [[], []] }));
}

// ---------------- einsum ----------------

/** A tensor whose axes carry einsum labels (one-letter names; `…k` for the k-th ellipsis axis). */
type Labeled = { t: Tensor; labels: string[] };

function parseTerm(term: string, rank: number, ellRank: number, which: string): string[] {
  const parts = term.split("...");
  if (parts.length > 2) fail("einsum", `${which} '${term}' has more than one ellipsis`);
  for (const ch of parts.join("")) if (!/[a-zA-Z]/.test(ch)) fail("einsum", `${which} '${term}' has the invalid character '${ch}' (use letters a-z, A-Z and '...')`);
  const before = [...parts[0]!], after = parts.length === 2 ? [...parts[1]!] : [];
  if (parts.length === 1) {
    if (rank >= 0 && before.length !== rank) fail("einsum", `${which} '${term}' names ${before.length} axes but the operand has rank ${rank}`);
    return before;
  }
  const k = rank >= 0 ? rank - before.length - after.length : ellRank;
  if (k < 0) fail("einsum", `${which} '${term}' names ${before.length + after.length} axes but the operand has rank ${rank}`);
  // ellipsis axes align to the right, as in broadcasting
  return [...before, ...range(k).map((i) => `…${ellRank - k + i}`), ...after];
}

/**
 * Einstein summation: `einsum("bij,bjk->bik", a, b)`. Supports implicit output (labels used once, in
 * alphabetical order), `...` broadcasting, repeated labels (diagonals) and any number of operands;
 * operands are contracted pairwise left to right with dot_general.
 */
export function einsum(equation: string, ...operands: TensorLike[]): Tensor {
  if (operands.length === 0) fail("einsum", "needs at least one operand");
  const ts = promote("einsum", ...operands);
  const eq = equation.replace(/\s+/g, "");
  const arrow = eq.indexOf("->");
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  const terms = lhs.split(",");
  if (terms.length !== ts.length) fail("einsum", `equation '${equation}' has ${terms.length} operand terms but ${ts.length} operands were given`);
  // the ellipsis covers the longest run of unnamed axes among the operands
  let ellRank = 0;
  terms.forEach((term, i) => {
    if (term.includes("...")) ellRank = Math.max(ellRank, ts[i]!.ndim - term.replace("...", "").length);
  });
  const ins = terms.map((term, i) => parseTerm(term, ts[i]!.ndim, ellRank, `operand ${i} subscripts`));
  let out: string[];
  if (arrow >= 0) {
    out = parseTerm(eq.slice(arrow + 2), -1, ellRank, "output subscripts");
    const seen = new Set<string>();
    for (const l of out) {
      if (seen.has(l)) fail("einsum", `output subscript '${l}' appears more than once in '${equation}'`);
      seen.add(l);
      if (!ins.some((lab) => lab.includes(l))) fail("einsum", `output subscript '${l}' does not appear in any operand of '${equation}'`);
    }
  } else {
    const count = new Map<string, number>();
    for (const lab of ins) for (const l of lab) count.set(l, (count.get(l) ?? 0) + 1);
    const ell = range(ellRank).map((i) => `…${i}`).filter((l) => count.has(l));
    out = [...ell, ...[...count.keys()].filter((l) => !l.startsWith("…") && count.get(l) === 1).sort()];
  }
  // every label has one size; ellipsis axes of size 1 broadcast
  const size = new Map<string, number>();
  const where = new Map<string, string>();
  ins.forEach((lab, i) =>
    lab.forEach((l, a) => {
      const n = ts[i]!.shape[a]!, prev = size.get(l);
      const name = l.startsWith("…") ? "'...'" : `'${l}'`;
      if (prev === undefined || prev === 1) {
        size.set(l, n);
        where.set(l, `axis ${a} of operand ${i}`);
      } else if (n !== prev && !(n === 1 && l.startsWith("…"))) {
        fail("einsum", `subscript ${name} has size ${prev} at ${where.get(l)} but size ${n} at axis ${a} of operand ${i} (shapes ${ts.map((t) => fmtShape(t.shape)).join(", ")})`);
      }
    }),
  );
  return viaInt(ts, (xs) => einsumLabeled(xs.map((t, i) => ({ t, labels: [...ins[i]!] })), out, size));
}

function einsumLabeled(ops: Labeled[], out: string[], size: Map<string, number>): Tensor {
  const prepped = ops.map((o, i) => {
    let { t, labels } = takeDiagonals(o);
    // size-1 broadcast axes carry nothing: drop them and let the other operands supply the label
    const drop = labels.flatMap((l, a) => (t.shape[a] === 1 && size.get(l)! > 1 ? [a] : []));
    if (drop.length) {
      t = S.reshape(t, t.shape.filter((_, a) => !drop.includes(a)));
      labels = labels.filter((_, a) => !drop.includes(a));
    }
    // labels only this operand has and the output lacks are summed right away
    const elsewhere = new Set([...out, ...ops.flatMap((p, j) => (j === i ? [] : p.labels))]);
    const own = labels.flatMap((l, a) => (elsewhere.has(l) ? [] : [a]));
    if (own.length) {
      t = R.reduceSum(t, own);
      labels = labels.filter((_, a) => !own.includes(a));
    }
    return { t, labels };
  });
  let acc = prepped[0]!;
  for (let k = 1; k < prepped.length; k++) {
    const b = prepped[k]!;
    const rest = new Set([...out, ...prepped.slice(k + 1).flatMap((p) => p.labels)]);
    const shared = acc.labels.filter((l) => b.labels.includes(l));
    const batch = shared.filter((l) => rest.has(l)), contract = shared.filter((l) => !rest.has(l));
    const pos = (o: Labeled, ls: string[]) => ls.map((l) => o.labels.indexOf(l));
    const dims = { contract: [pos(acc, contract), pos(b, contract)] as [number[], number[]], batch: [pos(acc, batch), pos(b, batch)] as [number[], number[]] };
    const t = dotGeneral(acc.t, b.t, dims);
    const labels = [
      ...batch,
      ...freeAxes(acc.t.ndim, dims.contract[0], dims.batch[0]).map((a) => acc.labels[a]!),
      ...freeAxes(b.t.ndim, dims.contract[1], dims.batch[1]).map((a) => b.labels[a]!),
    ];
    acc = { t, labels };
  }
  const extra = acc.labels.flatMap((l, a) => (out.includes(l) ? [] : [a]));
  let t = extra.length ? R.reduceSum(acc.t, extra) : acc.t;
  const labels = acc.labels.filter((l) => out.includes(l));
  t = S.transpose(t, out.map((l) => labels.indexOf(l)));
  return t;
}

/** Repeated labels in one operand take the diagonal: multiply by an identity mask and sum one copy out. */
function takeDiagonals({ t, labels }: Labeled): Labeled {
  let x = t, lab = [...labels];
  for (;;) {
    const q = lab.findIndex((l, i) => lab.indexOf(l) !== i);
    if (q < 0) return { t: x, labels: lab };
    const p = lab.indexOf(lab[q]!);
    const n = x.shape[p]!; // equal to x.shape[q]: einsum checked every label's size
    const eye = E.convert(E.eq(S.iota([n, n], 0), S.iota([n, n], 1)), x.dtype);
    x = R.reduceSum(E.mul(x, S.broadcastInDim(eye, x.shape, [p, q])), [q]);
    lab.splice(q, 1);
  }
}

// ---------------- attention ----------------

export interface AttentionOpts {
  /** Mask keys after the query position (query i sees keys 0..i). */
  causal?: boolean;
  /** Broadcastable to [..., Lq, Lk]: bool (true = attend) or float (added to the scores). */
  mask?: TensorLike;
  /** Score scale; defaults to 1/sqrt(d). */
  scale?: number;
}

/**
 * Scaled dot-product attention over the last two axes: softmax(q kᵀ · scale + mask) v.
 * @example tr.attention(q, k, v, { causal: true }) // q [..., Lq, d], k [..., Lk, d], v [..., Lk, dv]
 */
export function attention(q: TensorLike, k: TensorLike, v: TensorLike, opts: AttentionOpts = {}): Tensor {
  let [Q, K, V] = promote("attention", q, k, v) as [Tensor, Tensor, Tensor];
  if (!isFloat(Q.dtype)) [Q, K, V] = [Q, K, V].map((t) => E.convert(t, "float32")) as [Tensor, Tensor, Tensor];
  for (const [name, t] of [["q", Q], ["k", K], ["v", V]] as const) {
    if (t.ndim < 2) fail("attention", `${name} must have shape [..., L, d], got ${fmtShape(t.shape)}`);
  }
  const d = Q.shape[Q.ndim - 1]!;
  if (K.shape[K.ndim - 1] !== d) fail("attention", `q has shape ${fmtShape(Q.shape)} but k has shape ${fmtShape(K.shape)}; feature sizes ${d} and ${K.shape[K.ndim - 1]} differ`);
  if (K.shape[K.ndim - 2] !== V.shape[V.ndim - 2]) fail("attention", `k has shape ${fmtShape(K.shape)} but v has shape ${fmtShape(V.shape)}; key counts ${K.shape[K.ndim - 2]} and ${V.shape[V.ndim - 2]} differ`);
  let s = mul(matmul(Q, S.moveaxis(K, K.ndim - 1, K.ndim - 2)), opts.scale ?? 1 / Math.sqrt(d));
  const Lq = s.shape[s.ndim - 2]!, Lk = s.shape[s.ndim - 1]!;
  if (opts.causal) s = where(E.greaterEqual(S.iota([Lq, Lk], 0), S.iota([Lq, Lk], 1)), s, -Infinity);
  if (opts.mask !== undefined) {
    const m = toTensor(opts.mask);
    s = m.dtype === "bool" ? where(m, s, -Infinity) : add(s, m);
  }
  // softmax with the row maximum subtracted; the shift cancels, so no gradient flows through it
  const mx = max(S.stopGradient(s), { axis: -1, keepdims: true });
  const e = exp(sub(s, where(isfinite(mx), mx, 0)));
  return matmul(div(e, sum(e, { axis: -1, keepdims: true })), V);
}

// ---------------- methods ----------------

declare module "../tensor.js" {
  interface Tensor {
    /** Matrix product (NumPy matmul): `a.matmul(b)`. */
    matmul(y: TensorLike): Tensor;
  }
}
(Tensor.prototype as unknown as Record<string, unknown>)["matmul"] = function (this: Tensor, y: TensorLike) {
  return matmul(this, y);
};
