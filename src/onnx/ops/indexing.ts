/** Indexing operators: Gather*, Scatter*, OneHot, Trilu, Compress, NonZero, Unique, and rearrangements. */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import { checkIndexRange, gather, scatterAdd } from "../../core/prims/indexing.js";
import * as S from "../../core/prims/structural.js";
import { take } from "../../ops/indexing.js";
import type { Tensor } from "../../tensor.js";
import { TVal } from "../values.js";
import { def, ints, out, tin, topt, type OpCtx } from "./registry.js";
import { axisOf, bcastTo, guardShape, hostOnly, hostSelect, hostTensor, hostValues, int64Val, prod, range, selectHostVal, strides } from "./util.js";

/** Negative indices count from the end (int32 result). */
function wrapNeg(idx: Tensor, n: number): Tensor {
  const i = E.convert(idx, "int32");
  return E.select(E.less(i, full(i.shape, 0, "int32")), E.add(i, full(i.shape, n, "int32")), i);
}

def("Gather", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "data"), iv = tin(ins, 1, ctx, "indices");
  const ax = axisOf(ctx, ctx.attrs.int("axis", 0), x.rank);
  const n = x.shape[ax]!;
  const shape = [...x.shape.slice(0, ax), ...iv.shape, ...x.shape.slice(ax + 1)];
  if (hostOnly(x) && iv.concrete) {
    const idx = iv.values(ctx.op, "indices").map((v) => {
      if (v < -n || v >= n) fail(ctx.op, `indices hold ${v}, outside [${-n}, ${n}) for axis ${ax}`);
      return v < 0 ? v + n : v;
    });
    const picks = x.shape.map((d, i) => (i === ax ? idx : range(d)));
    return [selectHostVal(x, picks, shape)];
  }
  return [out(take(x.t, E.convert(iv.t, "int32"), { axis: ax }), x.elem)];
});

/** Indices/updates cover a corner of the data on the non-axis dims: slice data to match (gather) or pad them (scatter). */
def("GatherElements", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "data"), iv = tin(ins, 1, ctx, "indices");
  const ax = axisOf(ctx, ctx.attrs.int("axis", 0), x.rank);
  if (iv.rank !== x.rank) fail(ctx.op, `indices ${fmtShape(iv.shape)} must have the rank of data ${fmtShape(x.shape)}`);
  const n = x.shape[ax]!;
  const idx = E.convert(iv.t, "int32");
  checkIndexRange(ctx.op, "indices", idx, -n, n, `axis ${ax} of size ${n}`);
  const xs = S.slice(x.t, x.shape.map(() => 0), x.shape.map((d, i) => (i === ax ? d : iv.shape[i]!)));
  return [out(gather(xs, wrapNeg(idx, n), ax), x.elem)];
});

type Reduction = "none" | "add" | "mul" | "max" | "min";

function reductionOf(ctx: OpCtx): Reduction {
  const r = ctx.attrs.string("reduction", "none");
  if (!["none", "add", "mul", "max", "min"].includes(r)) fail(ctx.op, `reduction "${r}" is not one of none, add, mul, max, min`);
  return r as Reduction;
}

/**
 * Scatter along `axis` where indices/updates match the data on every other axis: replace or add with
 * primitives (differentiable); mul/max/min on the host (concrete values only).
 */
function scatterAlong(ctx: OpCtx, data: Tensor, idx: Tensor, upd: Tensor, axis: number, red: Reduction): Tensor {
  if (red === "none" || red === "add") {
    const z = full(data.shape, 0, data.dtype === "bool" ? "uint8" : data.dtype);
    const u = data.dtype === "bool" ? E.convert(upd, "uint8") : upd;
    const summed = scatterAdd(z, idx, u, axis);
    if (red === "add") return E.add(data, E.convert(summed, data.dtype));
    const hits = scatterAdd(full(data.shape, 0, "int32"), idx, full(idx.shape, 1, "int32"), axis);
    return E.select(E.greater(hits, full(hits.shape, 0, "int32")), E.convert(summed, data.dtype), data);
  }
  const d = Array.from(hostValues(ctx, TVal.of(data), "data"));
  const iv = hostValues(ctx, TVal.of(idx), "indices"), uv = hostValues(ctx, TVal.of(upd), "updates");
  const st = strides(data.shape), ist = strides(idx.shape);
  for (let k = 0; k < iv.length; k++) {
    let flat = 0;
    for (let a = 0; a < data.ndim; a++) {
      const c = a === axis ? iv[k]! : Math.floor(k / ist[a]!) % idx.shape[a]!;
      flat += c * st[a]!;
    }
    const u = uv[k]!;
    d[flat] = red === "mul" ? d[flat]! * u : red === "max" ? Math.max(d[flat]!, u) : Math.min(d[flat]!, u);
  }
  return hostTensor(data.dtype, data.shape, d);
}

function scatterElements(ins: Parameters<typeof tin>[0], ctx: OpCtx): TVal[] {
  const x = tin(ins, 0, ctx, "data"), iv = tin(ins, 1, ctx, "indices"), uv = tin(ins, 2, ctx, "updates");
  const ax = axisOf(ctx, ctx.attrs.int("axis", 0), x.rank);
  const n = x.shape[ax]!;
  if (iv.shape.join() !== uv.shape.join()) fail(ctx.op, `indices ${fmtShape(iv.shape)} and updates ${fmtShape(uv.shape)} must have one shape`);
  let idx = E.convert(iv.t, "int32");
  checkIndexRange(ctx.op, "indices", idx, -n, n, `axis ${ax} of size ${n}`);
  idx = wrapNeg(idx, n);
  let upd = E.convert(uv.t, x.t.dtype);
  const hi = x.shape.map((d, k) => (k === ax ? 0 : d - iv.shape[k]!));
  const red = reductionOf(ctx);
  if (hi.some((h) => h > 0)) {
    if (red !== "none" && red !== "add") return [out(scatterAlong(ctx, x.t, idx, upd, ax, red), x.elem)];
    // cover the rest of the data with updates that change nothing: add 0, or (for replace) rewrite the old value
    const lo = hi.map(() => 0);
    const pIdx = S.pad(idx, lo, hi, undefined, -1);
    const filler = E.select(E.less(pIdx, full(pIdx.shape, 0, "int32")), full(pIdx.shape, 1, "bool"), full(pIdx.shape, 0, "bool"));
    const base = red === "add" ? full(x.shape, 0, x.t.dtype) : gather(x.t, E.max(pIdx, full(pIdx.shape, 0, "int32")), ax);
    upd = E.select(filler, base, S.pad(upd, lo, hi, undefined, 0));
    idx = E.max(pIdx, full(pIdx.shape, 0, "int32"));
    if (red === "none") {
      // positions whose update is the filler keep the data: scatter only real updates
      const real = E.not(filler);
      const z = full(x.shape, 0, x.t.dtype === "bool" ? "uint8" : x.t.dtype);
      const u = x.t.dtype === "bool" ? E.convert(upd, "uint8") : upd;
      const summed = scatterAdd(z, idx, E.select(real, u, E.zerosLike(u)), ax);
      const hits = scatterAdd(full(x.shape, 0, "int32"), idx, E.convert(real, "int32"), ax);
      return [out(E.select(E.greater(hits, full(hits.shape, 0, "int32")), E.convert(summed, x.t.dtype), x.t), x.elem)];
    }
  }
  return [out(scatterAlong(ctx, x.t, idx, upd, ax, red), x.elem)];
}
def("ScatterElements", scatterElements);
def("Scatter", scatterElements);

/** Flat offsets of index tuples over the leading `k` axes of `shape` (negatives wrapped, range checked). */
function linearIndex(ctx: OpCtx, idx: Tensor, shape: readonly number[]): Tensor {
  const k = idx.shape[idx.ndim - 1]!;
  const lead = idx.shape.slice(0, -1);
  const st = strides(shape.slice(0, k));
  let lin: Tensor = full(lead, 0, "int32");
  for (let j = 0; j < k; j++) {
    const col = S.reshape(S.slice(idx, idx.shape.map((_, i) => (i === idx.ndim - 1 ? j : 0)), idx.shape.map((d, i) => (i === idx.ndim - 1 ? j + 1 : d))), lead);
    checkIndexRange(ctx.op, "indices", col, -shape[j]!, shape[j]!, `axis ${j} of size ${shape[j]}`);
    lin = E.add(lin, E.mul(wrapNeg(col, shape[j]!), full(lead, st[j]!, "int32")));
  }
  return lin;
}

def("GatherND", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "data"), iv = tin(ins, 1, ctx, "indices");
  const b = ctx.attrs.int("batch_dims", 0);
  const k = iv.shape[iv.rank - 1]!;
  if (k > x.rank - b) fail(ctx.op, `indices tuples of length ${k} exceed the ${x.rank - b} non-batch axes of data ${fmtShape(x.shape)}`);
  const B = prod(x.shape.slice(0, b)), P = prod(x.shape.slice(b, b + k));
  const rest = x.shape.slice(b + k);
  const idx = E.convert(iv.t, "int32");
  const M = prod(iv.shape.slice(b, -1));
  let lin = linearIndex(ctx, S.reshape(idx, [B, M, k]), x.shape.slice(b, b + k));
  lin = E.add(lin, E.mul(S.iota([B, M], 0, "int32"), full([B, M], P, "int32")));
  const flat = S.reshape(x.t, [B * P, ...rest]);
  const r = take(flat, S.reshape(lin, [B * M]), { axis: 0 });
  return [out(S.reshape(r, [...iv.shape.slice(0, -1), ...rest]), x.elem)];
});

def("ScatterND", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "data"), iv = tin(ins, 1, ctx, "indices"), uv = tin(ins, 2, ctx, "updates");
  const k = iv.shape[iv.rank - 1]!;
  const P = prod(x.shape.slice(0, k)), rest = x.shape.slice(k), M = prod(iv.shape.slice(0, -1));
  const lin = S.reshape(linearIndex(ctx, E.convert(iv.t, "int32"), x.shape), [M]);
  const data = S.reshape(x.t, [P, ...rest]);
  const upd = S.reshape(E.convert(uv.t, x.t.dtype), [M, ...rest]);
  const idx = S.broadcastInDim(lin, [M, ...rest], [0]);
  return [out(S.reshape(scatterAlong(ctx, data, idx, upd, 0, reductionOf(ctx)), x.shape), x.elem)];
});

def("TensorScatter", (ins, ctx) => {
  const past = tin(ins, 0, ctx, "past_cache"), upd = tin(ins, 1, ctx, "update"), wi = topt(ins, 2, ctx, "write_indices");
  const ax = axisOf(ctx, ctx.attrs.int("axis", -2), past.rank);
  const circular = ctx.attrs.string("mode", "linear") === "circular";
  const L = past.shape[ax]!, s = upd.shape[ax]!;
  const shape = past.shape;
  const w = wi ? S.broadcastInDim(E.convert(wi.t, "int32"), shape, [0]) : full(shape, 0, "int32");
  // cache position p takes update row p - w[b] (mod L when circular) when that row exists
  let rel = E.sub(S.iota(shape, ax, "int32"), w);
  if (circular) rel = E.rem(E.add(E.rem(rel, full(shape, L, "int32")), full(shape, L, "int32")), full(shape, L, "int32"));
  const valid = E.and(E.greaterEqual(rel, full(shape, 0, "int32")), E.less(rel, full(shape, s, "int32")));
  const safe = E.max(E.min(rel, full(shape, Math.max(s - 1, 0), "int32")), full(shape, 0, "int32"));
  const u = E.convert(upd.t, past.t.dtype);
  // gather needs matching shapes off the axis: pad the update along the axis to the cache length
  const up = S.pad(u, shape.map(() => 0), shape.map((_, i) => (i === ax ? L - s : 0)), undefined, 0);
  return [out(E.select(valid, gather(up, safe, ax), past.t), past.elem)];
});

def("OneHot", {
  staticInputs: [1],
  run(ins, ctx) {
    const iv = tin(ins, 0, ctx, "indices"), dv = tin(ins, 1, ctx, "depth"), vv = tin(ins, 2, ctx, "values");
    const depth = Math.trunc(dv.values(ctx.op, "depth")[0]!);
    const r = iv.rank + 1;
    const ax = axisOf(ctx, ctx.attrs.int("axis", -1), r);
    const shape = guardShape(ctx, [...iv.shape.slice(0, ax), depth, ...iv.shape.slice(ax)]);
    let idx = iv.t;
    if (idx.dtype !== "int32") idx = E.convert(idx, "int32");
    idx = wrapNeg(idx, depth);
    const ib = S.broadcastInDim(idx, shape, range(r).filter((d) => d !== ax));
    const hit = E.eq(S.iota(shape, ax, "int32"), ib);
    const off = S.reshape(S.slice(vv.t, [0], [1]), []), on = S.reshape(S.slice(vv.t, [1], [2]), []);
    return [out(E.select(hit, bcastTo(on, shape), bcastTo(off, shape)), vv.elem)];
  },
});

def("Trilu", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input"), kv = topt(ins, 1, ctx, "k");
    const k = kv ? ints(kv, ctx, "k")[0]! : 0;
    if (x.rank < 2) fail(ctx.op, `input must have rank >= 2, got ${fmtShape(x.shape)}`);
    const upper = ctx.attrs.int("upper", 1) !== 0;
    const d = E.sub(S.iota(x.shape, x.rank - 1, "int32"), S.iota(x.shape, x.rank - 2, "int32"));
    const kk = full(x.shape, k, "int32");
    const keep = upper ? E.greaterEqual(d, kk) : E.lessEqual(d, kk);
    return [out(E.select(keep, x.t, E.zerosLike(x.t)), x.elem)];
  },
});

def("Compress", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input"), cv = tin(ins, 1, ctx, "condition");
    const axisAttr = ctx.attrs.int("axis");
    const t = axisAttr === undefined ? S.reshape(x.t, [x.size]) : x.t;
    const ax = axisAttr === undefined ? 0 : axisOf(ctx, axisAttr, x.rank);
    const cond = cv.values(ctx.op, "condition");
    const n = t.shape[ax]!;
    const keep = cond.flatMap((c, i) => (c && i < n ? [i] : []));
    return [out(take(t, hostTensor("int32", [keep.length], keep), { axis: ax }), x.elem)];
  },
});

def("NonZero", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "X");
  const vals = hostValues(ctx, x, "X");
  const st = strides(x.shape);
  const nz = vals.flatMap((v, i) => (v !== 0 ? [i] : []));
  const r = Math.max(x.rank, 1);
  const data = new Array<number>(r * nz.length);
  nz.forEach((flat, j) => {
    for (let a = 0; a < x.rank; a++) data[a * nz.length + j] = Math.floor(flat / st[a]!) % x.shape[a]!;
    if (x.rank === 0) data[j] = 0;
  });
  return [int64Val(data, [x.rank, nz.length])];
});

def("Unique", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "X");
  const vals = hostValues(ctx, x, "X");
  const axisAttr = ctx.attrs.int("axis");
  const sorted = ctx.attrs.int("sorted", 1) !== 0;
  const shape = axisAttr === undefined ? [x.size] : x.shape;
  const ax = axisAttr === undefined ? 0 : axisOf(ctx, axisAttr, x.rank);
  const n = shape[ax]!;
  const outer = prod(shape.slice(0, ax)), inner = prod(shape.slice(ax + 1));
  const slice = (i: number): number[] => {
    const s: number[] = [];
    for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) s.push(vals[(o * n + i) * inner + j]!);
    return s;
  };
  const slices = range(n).map(slice);
  const cmp = (a: number[], b: number[]) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
    return 0;
  };
  const firsts: number[] = [];
  const key = new Map<string, number>();
  const inverseFirst = slices.map((s, i) => {
    const kk = s.join(",");
    let f = key.get(kk);
    if (f === undefined) {
      key.set(kk, (f = firsts.length));
      firsts.push(i);
    }
    return f;
  });
  let order = range(firsts.length);
  if (sorted) order = order.sort((a, b) => cmp(slices[firsts[a]!]!, slices[firsts[b]!]!));
  const rank = new Array<number>(order.length);
  order.forEach((u, r) => (rank[u] = r));
  const counts = new Array<number>(order.length).fill(0);
  for (const f of inverseFirst) counts[rank[f]!]!++;
  const picks = order.map((u) => firsts[u]!);
  const yShape = shape.map((d, i) => (i === ax ? picks.length : d));
  const yData = hostSelect(vals, shape, shape.map((d, i) => (i === ax ? picks : range(d))));
  return [
    new TVal(x.elem, yShape, undefined, yData),
    int64Val(picks),
    int64Val(inverseFirst.map((f) => rank[f]!)),
    int64Val(counts),
  ];
});

def("ReverseSequence", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input"), lv = tin(ins, 1, ctx, "sequence_lens");
  const bAx = axisOf(ctx, ctx.attrs.int("batch_axis", 1), x.rank), tAx = axisOf(ctx, ctx.attrs.int("time_axis", 0), x.rank);
  const shape = x.shape;
  const len = S.broadcastInDim(E.convert(lv.t, "int32"), shape, [bAx]);
  const t = S.iota(shape, tAx, "int32");
  const src = E.select(E.less(t, len), E.sub(E.sub(len, full(shape, 1, "int32")), t), t);
  return [out(gather(x.t, src, tAx), x.elem)];
});

def("DepthToSpace", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input");
  const b = ctx.attrs.int("blocksize", 0);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  if (x.rank !== 4 || b < 1 || C % (b * b)) fail(ctx.op, `input ${fmtShape(x.shape)} and blocksize ${b} do not fit`);
  const crd = ctx.attrs.string("mode", "DCR") === "CRD";
  const c = C / (b * b);
  const r = crd ? S.transpose(S.reshape(x.t, [N, c, b, b, H, W]), [0, 1, 4, 2, 5, 3]) : S.transpose(S.reshape(x.t, [N, b, b, c, H, W]), [0, 3, 4, 1, 5, 2]);
  return [out(S.reshape(r, [N, c, H * b, W * b]), x.elem)];
});

def("SpaceToDepth", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input");
  const b = ctx.attrs.int("blocksize", 0);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  if (x.rank !== 4 || b < 1 || H % b || W % b) fail(ctx.op, `input ${fmtShape(x.shape)} and blocksize ${b} do not fit`);
  const r = S.transpose(S.reshape(x.t, [N, C, H / b, b, W / b, b]), [0, 3, 5, 1, 2, 4]);
  return [out(S.reshape(r, [N, C * b * b, H / b, W / b]), x.elem)];
});

def("CenterCropPad", {
  staticInputs: [1],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input_data");
    const shape = ints(tin(ins, 1, ctx, "shape"), ctx, "shape");
    const axes = (ctx.attrs.ints("axes") ?? range(x.rank)).map((a) => axisOf(ctx, a, x.rank, "axes"));
    guardShape(ctx, shape, "shape");
    let t = x.t;
    axes.forEach((a, k) => {
      const dim = t.shape[a]!, want = shape[k]!;
      if (want === dim) return;
      const d = Math.abs(want - dim), lo = Math.floor(d / 2), hi = d - lo;
      const l = t.shape.map(() => 0), h = t.shape.map(() => 0);
      // crop removes the extra element at the end, padding adds it at the end
      l[a] = want < dim ? -lo : lo;
      h[a] = want < dim ? -hi : hi;
      t = S.pad(t, l, h, undefined, 0);
    });
    return [out(t, x.elem)];
  },
});

def("Col2Im", {
  staticInputs: [1, 2],
  run(ins, ctx) {
    const x = tin(ins, 0, ctx, "input");
    const image = ints(tin(ins, 1, ctx, "image_shape"), ctx, "image_shape");
    const block = ints(tin(ins, 2, ctx, "block_shape"), ctx, "block_shape");
    const n = image.length;
    const dil = ctx.attrs.ints("dilations") ?? Array<number>(n).fill(1);
    const st = ctx.attrs.ints("strides") ?? Array<number>(n).fill(1);
    const pads = ctx.attrs.ints("pads") ?? Array<number>(2 * n).fill(0);
    guardShape(ctx, image, "image_shape");
    const [N, CK, L] = x.shape as [number, number, number];
    const K = prod(block);
    if (CK % K) fail(ctx.op, `input channel axis ${CK} is not a multiple of the block size ${K}`);
    const C = CK / K;
    const blocks = image.map((d, i) => Math.floor((d + pads[i]! + pads[i + n]! - dil[i]! * (block[i]! - 1) - 1) / st[i]!) + 1);
    if (prod(blocks) !== L) fail(ctx.op, `input has ${L} blocks but the geometry gives ${prod(blocks)}`);
    const HW = prod(image);
    // for each (kernel offset, block) the image position it adds into, HW for positions in the padding
    const pos = new Array<number>(K * L);
    const ist = strides(image);
    for (let k = 0; k < K; k++) {
      const ko = block.map((_, i) => Math.floor(k / prod(block.slice(i + 1))) % block[i]!);
      for (let l = 0; l < L; l++) {
        const bo = blocks.map((_, i) => Math.floor(l / prod(blocks.slice(i + 1))) % blocks[i]!);
        let flat = 0, inside = true;
        for (let i = 0; i < n; i++) {
          const p = bo[i]! * st[i]! + ko[i]! * dil[i]! - pads[i]!;
          if (p < 0 || p >= image[i]!) inside = false;
          flat += p * ist[i]!;
        }
        pos[k * L + l] = inside ? flat : HW;
      }
    }
    const idx = bcastTo(hostTensor("int32", [1, 1, K * L], pos), [N, C, K * L]);
    const src = S.reshape(x.t, [N, C, K * L]);
    const z = full([N, C, HW + 1], 0, x.t.dtype);
    const r = S.slice(scatterAdd(z, idx, src, 2), [0, 0, 0], [N, C, HW]);
    return [out(S.reshape(r, [N, C, ...image]), x.elem)];
  },
});
