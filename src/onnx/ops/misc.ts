/** Sampling (GridSample, AffineGrid), MaxUnpool, NonMaxSuppression, Det, training and ai.onnx.ml operators. */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import { gather, scatterAdd } from "../../core/prims/indexing.js";
import * as S from "../../core/prims/structural.js";
import { take } from "../../ops/indexing.js";
import { matmul } from "../../ops/linalg.js";
import type { Tensor } from "../../tensor.js";
import { TVal } from "../values.js";
import { def, ints, out, tin, topt, type OpCtx } from "./registry.js";
import { guardShape, hostTensor, hostValues, int64Val, lit, prod, range, strides } from "./util.js";

// ---------------- GridSample ----------------
/** Mirror v into [lo, hi] (the reference's repeated reflection at the near border). */
function reflect(v: Tensor, lo: number, hi: number): Tensor {
  const rng = hi - lo;
  if (rng <= 0) return E.zerosLike(v);
  const below = E.less(v, lit(v, lo)), above = E.greater(v, lit(v, hi));
  const dx = E.select(below, E.sub(lit(v, lo), v), E.sub(v, lit(v, hi)));
  const n = E.floor(E.div(dx, lit(v, rng)));
  const r = E.sub(dx, E.mul(n, lit(v, rng)));
  const even = E.eq(E.rem(n, lit(v, 2)), lit(v, 0));
  const fromBelow = E.select(even, E.add(lit(v, lo), r), E.sub(lit(v, hi), r));
  const fromAbove = E.select(even, E.sub(lit(v, hi), r), E.add(lit(v, lo), r));
  return E.select(below, fromBelow, E.select(above, fromAbove, v));
}

def("GridSample", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), gv = tin(ins, 1, ctx, "grid");
  const mode0 = ctx.attrs.string("mode", "linear");
  const mode = mode0 === "bilinear" ? "linear" : mode0 === "bicubic" ? "cubic" : mode0;
  const pad = ctx.attrs.string("padding_mode", "zeros");
  const align = ctx.attrs.int("align_corners", 0) !== 0;
  if (!["linear", "nearest", "cubic"].includes(mode)) fail(ctx.op, `mode "${mode0}" is not supported`);
  if (!["zeros", "border", "reflection"].includes(pad)) fail(ctx.op, `padding_mode "${pad}" is not supported`);
  const x = xv.t.dtype === "float64" ? xv.t : E.convert(xv.t, "float32");
  const [N, C] = x.shape as [number, number];
  const dims = x.shape.slice(2);
  const k = dims.length;
  const g = E.convert(gv.t, x.dtype);
  const outS = g.shape.slice(1, -1);
  if (g.shape[g.ndim - 1] !== k) fail(ctx.op, `grid ${fmtShape(g.shape)} must end in ${k} coordinates`);
  const P = prod(outS);
  const g2 = S.reshape(g, [N, P, k]);
  // coordinate of spatial axis i is grid component k-1-i (the grid lists x first)
  const coords = range(k).map((i) => {
    const n = S.reshape(S.slice(g2, [0, 0, k - 1 - i], [N, P, k - i]), [N, P]);
    const d = dims[i]!;
    let c = align ? E.mul(E.div(E.add(n, lit(n, 1)), lit(n, 2)), lit(n, d - 1)) : E.div(E.sub(E.mul(E.add(n, lit(n, 1)), lit(n, d)), lit(n, 1)), lit(n, 2));
    if (mode === "nearest") c = E.round(c);
    const lo = align ? 0 : -0.5, hi = align ? d - 1 : d - 0.5;
    if (pad === "border") c = E.max(E.min(c, lit(c, d - 1)), lit(c, 0));
    else if (pad === "reflection") c = reflect(c, lo, hi);
    return c;
  });
  // taps per axis: (integer index, weight)
  const taps = coords.map((c) => {
    if (mode === "nearest") return [[c, full(c.shape, 1, c.dtype)]] as [Tensor, Tensor][];
    const c0 = E.floor(c);
    const t = E.sub(c, c0);
    if (mode === "linear") return [[c0, E.sub(lit(t, 1), t)], [E.add(c0, lit(c0, 1)), t]] as [Tensor, Tensor][];
    const A = -0.75;
    const w = (u: Tensor, near: boolean) => {
      // Keys cubic kernel on |u| in [0,1] (near) or [1,2] (far)
      if (near) return E.add(E.mul(E.mul(E.sub(E.mul(u, lit(u, A + 2)), lit(u, A + 3)), u), u), lit(u, 1));
      return E.sub(E.mul(E.add(E.mul(E.sub(E.mul(u, lit(u, A)), lit(u, 5 * A)), u), lit(u, 8 * A)), u), lit(u, 4 * A));
    };
    const one = lit(t, 1);
    return [
      [E.sub(c0, one), w(E.add(t, one), false)],
      [c0, w(t, true)],
      [E.add(c0, one), w(E.sub(one, t), true)],
      [E.add(c0, lit(c0, 2)), w(E.sub(lit(t, 2), t), false)],
    ] as [Tensor, Tensor][];
  });
  const flatX = S.reshape(x, [N, C, prod(dims)]);
  const st = strides(dims);
  let acc: Tensor | null = null;
  const combos = taps.reduce<number[][]>((a, tp) => a.flatMap((o) => tp.map((_, j) => [...o, j])), [[]]);
  for (const combo of combos) {
    let flat: Tensor = full([N, P], 0, "int32");
    let weight: Tensor = full([N, P], 1, x.dtype);
    let valid: Tensor = full([N, P], 1, "bool");
    combo.forEach((j, i) => {
      const [idxF, w] = taps[i]![j]!;
      const d = dims[i]!;
      let ii = idxF;
      if (pad === "border") ii = E.max(E.min(ii, lit(ii, d - 1)), lit(ii, 0));
      else if (pad === "reflection") ii = E.floor(reflectInt(ii, align ? 0 : -0.5, align ? d - 1 : d - 0.5));
      const inside = E.and(E.greaterEqual(ii, lit(ii, 0)), E.less(ii, lit(ii, d)));
      valid = E.and(valid, inside);
      const safe = E.convert(E.max(E.min(ii, lit(ii, d - 1)), lit(ii, 0)), "int32");
      flat = E.add(flat, E.mul(safe, full([N, P], st[i]!, "int32")));
      weight = E.mul(weight, w);
    });
    const vals = gather(flatX, S.broadcastInDim(flat, [N, C, P], [0, 2]), 2);
    const wv = S.broadcastInDim(E.select(valid, weight, E.zerosLike(weight)), [N, C, P], [0, 2]);
    const term = E.mul(vals, wv);
    acc = acc ? E.add(acc, term) : term;
  }
  return [out(E.convert(S.reshape(acc!, [N, C, ...outS]), xv.t.dtype), xv.elem)];
});

/** The reference reflects integer tap positions too (then truncates toward zero). */
function reflectInt(i: Tensor, lo: number, hi: number): Tensor {
  const r = reflect(i, lo, hi);
  return E.select(E.less(r, lit(r, 0)), E.ceil(r), E.floor(r));
}

def("AffineGrid", {
  staticInputs: [1],
  run(ins, ctx) {
    const tv = tin(ins, 0, ctx, "theta");
    const size = ints(tin(ins, 1, ctx, "size"), ctx, "size");
    const align = ctx.attrs.int("align_corners", 0) !== 0;
    const sp = guardShape(ctx, size.slice(2), "size");
    const k = sp.length;
    if (k !== 2 && k !== 3) fail(ctx.op, `size ${JSON.stringify(size)} must describe a 2-D or 3-D grid`);
    const lin = (d: number) => range(d).map((i) => (align ? (d === 1 ? -1 : -1 + (2 * i) / (d - 1)) : -1 + (2 * i + 1) / d));
    const axes = sp.map(lin);
    const n = prod(sp);
    // homogeneous base coordinates (x, y[, z], 1) for every output position, x varying fastest
    const base = new Float64Array(n * (k + 1));
    const st = strides(sp);
    for (let p = 0; p < n; p++) {
      for (let a = 0; a < k; a++) base[p * (k + 1) + (k - 1 - a)] = axes[a]![Math.floor(p / st[a]!) % sp[a]!]!;
      base[p * (k + 1) + k] = 1;
    }
    const theta = tv.t;
    const B = hostTensor(theta.dtype, [n, k + 1], base);
    const grid = matmul(B, S.transpose(theta, [0, 2, 1]));
    return [out(S.reshape(grid, [theta.shape[0]!, ...sp, k]), tv.elem)];
  },
});

// ---------------- MaxUnpool ----------------
def("MaxUnpool", {
  staticInputs: [2],
  run(ins, ctx) {
    const xv = tin(ins, 0, ctx, "X"), iv = tin(ins, 1, ctx, "I"), ov = topt(ins, 2, ctx, "output_shape");
    const kernel = ctx.attrs.ints("kernel_shape", []);
    const n = kernel.length;
    const strides_ = ctx.attrs.ints("strides") ?? Array<number>(n).fill(1);
    const pads = ctx.attrs.ints("pads") ?? Array<number>(2 * n).fill(0);
    const inferred = [xv.shape[0]!, xv.shape[1]!, ...kernel.map((k, d) => (xv.shape[d + 2]! - 1) * strides_[d]! - (pads[d]! + pads[n + d]!) + k)];
    const shape = guardShape(ctx, ov ? ints(ov, ctx, "output_shape") : inferred);
    guardShape(ctx, inferred);
    const total = prod(inferred);
    const flat = scatterAdd(full([total], 0, xv.t.dtype), S.reshape(E.convert(iv.t, "int32"), [iv.size]), S.reshape(xv.t, [xv.size]), 0);
    const y = S.reshape(flat, inferred);
    const res = S.pad(y, shape.map(() => 0), shape.map((d, i) => d - inferred[i]!), undefined, 0);
    return [out(res, xv.elem)];
  },
});

// ---------------- NonMaxSuppression (host) ----------------
def("NonMaxSuppression", (ins, ctx) => {
  const bv = tin(ins, 0, ctx, "boxes"), sv = tin(ins, 1, ctx, "scores");
  const mv = topt(ins, 2, ctx, "max_output_boxes_per_class"), iv = topt(ins, 3, ctx, "iou_threshold"), tv = topt(ins, 4, ctx, "score_threshold");
  const center = ctx.attrs.int("center_point_box", 0);
  const boxes = hostValues(ctx, bv, "boxes"), scores = hostValues(ctx, sv, "scores");
  const maxOut = mv && mv.size ? Math.max(hostValues(ctx, mv, "max_output_boxes_per_class")[0]!, 0) : 0;
  const iouT = iv && iv.size ? Math.fround(hostValues(ctx, iv, "iou_threshold")[0]!) : 0;
  const scoreT = tv && tv.size ? hostValues(ctx, tv, "score_threshold")[0]! : null;
  const [B, nBox] = bv.shape as [number, number];
  const nCls = sv.shape[1]!;
  const box = (b: number, i: number) => boxes.slice((b * nBox + i) * 4, (b * nBox + i) * 4 + 4);
  const suppress = (b: number, i: number, j: number): boolean => {
    const p = box(b, i), q = box(b, j);
    let x1: [number, number], x2: [number, number], y1: [number, number], y2: [number, number];
    const mm = (a: number, c: number): [number, number] => (a >= c ? [c, a] : [a, c]);
    if (center === 0) {
      x1 = mm(p[1]!, p[3]!); x2 = mm(q[1]!, q[3]!); y1 = mm(p[0]!, p[2]!); y2 = mm(q[0]!, q[2]!);
    } else {
      x1 = [p[0]! - p[2]! / 2, p[0]! + p[2]! / 2]; x2 = [q[0]! - q[2]! / 2, q[0]! + q[2]! / 2];
      y1 = [p[1]! - p[3]! / 2, p[1]! + p[3]! / 2]; y2 = [q[1]! - q[3]! / 2, q[1]! + q[3]! / 2];
    }
    const ix = Math.min(x1[1], x2[1]) - Math.max(x1[0], x2[0]);
    const iy = Math.min(y1[1], y2[1]) - Math.max(y1[0], y2[0]);
    if (ix <= 0 || iy <= 0) return false;
    const inter = ix * iy;
    const a1 = (x1[1] - x1[0]) * (y1[1] - y1[0]), a2 = (x2[1] - x2[0]) * (y2[1] - y2[0]);
    const union = a1 + a2 - inter;
    if (a1 <= 0 || a2 <= 0 || union <= 0) return false;
    return inter / union > iouT;
  };
  const res: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < nCls; c++) {
      const cand = range(nBox)
        .map((i) => ({ s: scores[(b * nCls + c) * nBox + i]!, i }))
        .filter((e) => scoreT === null || e.s > scoreT)
        // best first; equal scores keep the lower index first
        .sort((p, q) => q.s - p.s || p.i - q.i);
      const kept: number[] = [];
      for (const e of cand) {
        if (kept.length >= maxOut) break;
        if (kept.every((j) => !suppress(b, e.i, j))) {
          kept.push(e.i);
          res.push(b, c, e.i);
        }
      }
    }
  }
  return [int64Val(res, [res.length / 3, 3])];
});

// ---------------- Det (host LU) ----------------
def("Det", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const vals = hostValues(ctx, xv, "X");
  const n = xv.shape[xv.rank - 1]!;
  if (xv.shape[xv.rank - 2] !== n) fail(ctx.op, `X ${fmtShape(xv.shape)} must end in square matrices`);
  const batch = prod(xv.shape.slice(0, -2));
  const dets = range(batch).map((b) => {
    const a = vals.slice(b * n * n, (b + 1) * n * n);
    let det = 1;
    for (let c = 0; c < n; c++) {
      let p = c;
      for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
      if (a[p * n + c] === 0) return 0;
      if (p !== c) {
        for (let j = 0; j < n; j++) [a[c * n + j], a[p * n + j]] = [a[p * n + j]!, a[c * n + j]!];
        det = -det;
      }
      det *= a[c * n + c]!;
      for (let r = c + 1; r < n; r++) {
        const f = a[r * n + c]! / a[c * n + c]!;
        for (let j = c; j < n; j++) a[r * n + j]! -= f * a[c * n + j]!;
      }
    }
    return det;
  });
  return [new TVal(xv.elem, xv.shape.slice(0, -2), undefined, Float64Array.from(dets))];
});

// ---------------- training (ai.onnx.preview.training) ----------------
/** Inputs R, T, then groups of per-parameter tensors; returns the per-parameter groups. */
function trainingGroups(ins: Parameters<typeof tin>[0], ctx: OpCtx, perParam: number): { r: number; t: number; groups: TVal[][] } {
  const r = tin(ins, 0, ctx, "R").values(ctx.op, "R")[0]!, t = tin(ins, 1, ctx, "T").values(ctx.op, "T")[0]!;
  const rest = ins.slice(2).map((_, i) => tin(ins, 2 + i, ctx, `input ${2 + i}`));
  if (rest.length % perParam) fail(ctx.op, `expects groups of ${perParam} tensors after R and T, got ${rest.length}`);
  const n = rest.length / perParam;
  return { r, t, groups: range(perParam).map((k) => rest.slice(k * n, (k + 1) * n)) };
}

def("ai.onnx.preview.training:Adagrad", (ins, ctx) => {
  const { r, t, groups: [xs, gs, hs] } = trainingGroups(ins, ctx, 3);
  const decay = ctx.attrs.float("decay_factor", 0), eps = ctx.attrs.float("epsilon", 0), norm = ctx.attrs.float("norm_coefficient", 0);
  const rr = r / (1 + t * decay);
  const res = xs!.map((x, i) => {
    const g = E.add(E.mul(x.t, lit(x.t, norm)), gs![i]!.t);
    const h = E.add(hs![i]!.t, E.mul(g, g));
    const xn = E.sub(x.t, E.div(E.mul(g, lit(g, rr)), E.add(E.sqrt(h), lit(h, eps))));
    return [out(xn, x.elem), out(h, hs![i]!.elem)];
  });
  return [...res.map((p) => p[0]!), ...res.map((p) => p[1]!)];
});

def("ai.onnx.preview.training:Adam", (ins, ctx) => {
  const { r, t, groups: [xs, gs, vs, hs] } = trainingGroups(ins, ctx, 4);
  const a = ctx.attrs;
  const alpha = a.float("alpha", 0.9), beta = a.float("beta", 0.999), eps = a.float("epsilon", 0), norm = a.float("norm_coefficient", 0), post = a.float("norm_coefficient_post", 0);
  const rAdj = t > 0 ? (r * Math.sqrt(1 - beta ** t)) / (1 - alpha ** t) : r;
  const res = xs!.map((x, i) => {
    const g = E.add(E.mul(x.t, lit(x.t, norm)), gs![i]!.t);
    const v = E.add(E.mul(vs![i]!.t, lit(g, alpha)), E.mul(g, lit(g, 1 - alpha)));
    const h = E.add(E.mul(hs![i]!.t, lit(g, beta)), E.mul(E.mul(g, g), lit(g, 1 - beta)));
    const xn = E.sub(x.t, E.mul(E.div(v, E.add(E.sqrt(h), lit(h, eps))), lit(h, rAdj)));
    return [out(E.mul(xn, lit(xn, 1 - post)), x.elem), out(v, x.elem), out(h, x.elem)];
  });
  return [0, 1, 2].flatMap((k) => res.map((p) => p[k]!));
});

def("ai.onnx.preview.training:Momentum", (ins, ctx) => {
  const { r, t, groups: [xs, gs, vs] } = trainingGroups(ins, ctx, 3);
  const a = ctx.attrs;
  const alpha = a.float("alpha", 0), beta = a.float("beta", 0), norm = a.float("norm_coefficient", 0);
  const nesterov = a.string("mode", "standard") === "nesterov";
  const bAdj = t > 0 ? beta : 1;
  const res = xs!.map((x, i) => {
    const g = E.add(E.mul(x.t, lit(x.t, norm)), gs![i]!.t);
    const v = E.add(E.mul(vs![i]!.t, lit(g, alpha)), E.mul(g, lit(g, bAdj)));
    const step = nesterov ? E.add(g, E.mul(v, lit(v, alpha))) : v;
    return [out(E.sub(x.t, E.mul(step, lit(step, r))), x.elem), out(v, vs![i]!.elem)];
  });
  return [...res.map((p) => p[0]!), ...res.map((p) => p[1]!)];
});

// ---------------- ai.onnx.ml ----------------
def("ai.onnx.ml:ArrayFeatureExtractor", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), iv = tin(ins, 1, ctx, "Y");
  const idx = S.reshape(E.convert(iv.t, "int32"), [iv.size]);
  const x = xv.rank === 1 ? S.reshape(xv.t, [1, xv.size]) : xv.t;
  return [out(take(x, idx, { axis: x.ndim - 1 }), xv.elem)];
});

def("ai.onnx.ml:Binarizer", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X");
  const th = ctx.attrs.float("threshold", 0);
  return [out(E.convert(E.greater(xv.t, lit(xv.t, th)), xv.t.dtype), xv.elem)];
});
