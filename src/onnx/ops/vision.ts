/**
 * Sampling operators on feature maps: RoiAlign and DeformConv. Sample positions become gather indices
 * and bilinear weights, so the results stay differentiable in the feature map (and, for DeformConv, in
 * the offsets, mask and weights).
 */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import { gather } from "../../core/prims/indexing.js";
import * as R from "../../core/prims/reduce.js";
import * as S from "../../core/prims/structural.js";
import { matmul } from "../../ops/linalg.js";
import type { Tensor } from "../../tensor.js";
import { def, out, tin, topt } from "./registry.js";
import { bcastTo, guardShape, hostTensor, hostValues, lit } from "./util.js";

def("RoiAlign", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), rv = tin(ins, 1, ctx, "rois"), bv = tin(ins, 2, ctx, "batch_indices");
  const a = ctx.attrs;
  const half = a.string("coordinate_transformation_mode", "half_pixel").toLowerCase() === "half_pixel";
  const mode = a.string("mode", "avg").toLowerCase();
  const PH = a.int("output_height", 1), PW = a.int("output_width", 1);
  const ratio = a.int("sampling_ratio", 0), scale = a.float("spatial_scale", 1);
  if (xv.rank !== 4) fail(ctx.op, `X must be 4-D, got ${fmtShape(xv.shape)}`);
  const [, C, H, W] = xv.shape as [number, number, number, number];
  guardShape(ctx, [bv.size, C, PH, PW]);
  const rois = hostValues(ctx, rv, "rois"), batch = hostValues(ctx, bv, "batch_indices");
  const x = E.convert(xv.t, "float32");
  const flat = S.reshape(x, [xv.shape[0]!, C, H * W]);
  const outs = batch.map((b, n) => {
    const off = half ? 0.5 : 0;
    const [x0, y0, x1, y1] = [0, 1, 2, 3].map((k) => rois[n * rv.shape[1]! + k]! * scale - off) as [number, number, number, number];
    let rw = x1 - x0, rh = y1 - y0;
    if (!half) {
      rw = Math.max(rw, 1);
      rh = Math.max(rh, 1);
    }
    const bh = rh / PH, bw = rw / PW;
    const gh = ratio > 0 ? ratio : Math.ceil(rh / PH), gw = ratio > 0 ? ratio : Math.ceil(rw / PW);
    const count = Math.max(gh * gw, 1);
    guardShape(ctx, [C, PH, PW, gh * gw, 4], "sampling grid");
    // for every output cell, gh*gw samples of 4 weighted corners
    const K = gh * gw * 4;
    const idx = new Array<number>(PH * PW * K).fill(0), wts = new Array<number>(PH * PW * K).fill(0);
    for (let ph = 0; ph < PH; ph++) {
      for (let pw = 0; pw < PW; pw++) {
        for (let iy = 0; iy < gh; iy++) {
          for (let ix = 0; ix < gw; ix++) {
            let yy = y0 + ph * bh + ((iy + 0.5) * bh) / gh, xx = x0 + pw * bw + ((ix + 0.5) * bw) / gw;
            const base = ((ph * PW + pw) * gh * gw + iy * gw + ix) * 4;
            if (yy < -1 || yy > H || xx < -1 || xx > W) continue;
            yy = Math.max(yy, 0);
            xx = Math.max(xx, 0);
            let yl = Math.trunc(yy), xl = Math.trunc(xx), yh: number, xh: number;
            if (yl >= H - 1) yh = yl = H - 1, yy = yl;
            else yh = yl + 1;
            if (xl >= W - 1) xh = xl = W - 1, xx = xl;
            else xh = xl + 1;
            const ly = yy - yl, lx = xx - xl, hy = 1 - ly, hx = 1 - lx;
            [yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh].forEach((p, k) => (idx[base + k] = p));
            [hy * hx, hy * lx, ly * hx, ly * lx].forEach((w, k) => (wts[base + k] = w));
          }
        }
      }
    }
    const row = S.reshape(S.slice(flat, [b, 0, 0], [b + 1, C, H * W]), [C, H * W]);
    const vals = gather(row, bcastTo(hostTensor("int32", [1, PH * PW * K], idx), [C, PH * PW * K]), 1);
    const weighted = S.reshape(E.mul(vals, bcastTo(hostTensor("float32", [1, PH * PW * K], wts), vals.shape)), [C, PH * PW, gh * gw, 4]);
    let cell: Tensor;
    if (mode === "avg") {
      const s = R.reduceSum(weighted, [2, 3]);
      cell = E.div(s, lit(s, count));
    } else cell = R.reduceMax(R.reduceMax(weighted, [3]), [2]);
    return S.reshape(cell, [1, C, PH, PW]);
  });
  const y = outs.length ? S.concatenate(outs, 0) : full([0, C, PH, PW], 0, "float32");
  return [out(E.convert(y, xv.t.dtype), xv.elem)];
});

def("DeformConv", (ins, ctx) => {
  const xv = tin(ins, 0, ctx, "X"), wv = tin(ins, 1, ctx, "W"), ov = tin(ins, 2, ctx, "offset");
  const bv = topt(ins, 3, ctx, "B"), mv = topt(ins, 4, ctx, "mask");
  if (xv.rank !== 4) fail(ctx.op, `only 2-D DeformConv is supported, got X ${fmtShape(xv.shape)}`);
  const a = ctx.attrs;
  const [N, C, H, W] = xv.shape as [number, number, number, number];
  const OC = wv.shape[0]!, Cg = wv.shape[1]!;
  const [KH, KW] = (a.ints("kernel_shape") ?? wv.shape.slice(2)) as [number, number];
  const [sh, sw] = (a.ints("strides") ?? [1, 1]) as [number, number];
  const [dh, dw] = (a.ints("dilations") ?? [1, 1]) as [number, number];
  const pads = a.ints("pads") ?? [0, 0, 0, 0];
  const G = a.int("group", 1), OG = a.int("offset_group", 1);
  const [OH, OW] = ov.shape.slice(2) as [number, number];
  if (C !== Cg * G || OC % G || C % OG) fail(ctx.op, `X ${fmtShape(xv.shape)}, W ${fmtShape(wv.shape)}, group ${G} and offset_group ${OG} do not fit`);
  const K = KH * KW, P = OH * OW;
  const x = E.convert(xv.t, "float32");
  const off = S.reshape(E.convert(ov.t, "float32"), [N, OG, K, 2, P]);
  const mask = mv ? S.reshape(E.convert(mv.t, "float32"), [N, OG, K, P]) : full([N, OG, K, P], 1, "float32");
  // sample position of kernel tap k at output p: base + tap offset + learned offset
  const baseH = new Array<number>(K * P), baseW = new Array<number>(K * P);
  for (let k = 0; k < K; k++) {
    for (let p = 0; p < P; p++) {
      baseH[k * P + p] = -pads[0]! + sh * Math.floor(p / OW) + dh * Math.floor(k / KW);
      baseW[k * P + p] = -pads[1]! + sw * (p % OW) + dw * (k % KW);
    }
  }
  const pick = (c: number) => S.reshape(S.slice(off, [0, 0, 0, c, 0], [N, OG, K, c + 1, P]), [N, OG, K, P]);
  const ph = E.add(pick(0), bcastTo(hostTensor("float32", [1, 1, K, P], baseH), [N, OG, K, P]));
  const pw = E.add(pick(1), bcastTo(hostTensor("float32", [1, 1, K, P], baseW), [N, OG, K, P]));
  const y0 = E.floor(ph), x0 = E.floor(pw);
  const ly = E.sub(ph, y0), lx = E.sub(pw, x0);
  const flatX = S.reshape(x, [N, OG, C / OG, H * W]);
  let sampled: Tensor | null = null;
  for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
    const yy = E.add(y0, lit(y0, dy)), xx = E.add(x0, lit(x0, dx));
    const wy = dy ? ly : E.sub(lit(ly, 1), ly), wx = dx ? lx : E.sub(lit(lx, 1), lx);
    // corners outside the map read zero (GridSample's zeros padding)
    const inside = E.and(E.and(E.greaterEqual(yy, lit(yy, 0)), E.less(yy, lit(yy, H))), E.and(E.greaterEqual(xx, lit(xx, 0)), E.less(xx, lit(xx, W))));
    const idx = E.add(E.mul(E.convert(E.max(E.min(yy, lit(yy, H - 1)), lit(yy, 0)), "int32"), full(yy.shape, W, "int32")), E.convert(E.max(E.min(xx, lit(xx, W - 1)), lit(xx, 0)), "int32"));
    const idxC = S.broadcastInDim(S.reshape(idx, [N, OG, K * P]), [N, OG, C / OG, K * P], [0, 1, 3]);
    const v = gather(flatX, idxC, 3);
    const w = S.broadcastInDim(S.reshape(E.select(inside, E.mul(wy, wx), E.zerosLike(wy)), [N, OG, K * P]), v.shape, [0, 1, 3]);
    const term = E.mul(v, w);
    sampled = sampled ? E.add(sampled, term) : term;
  }
  const masked = E.mul(sampled!, S.broadcastInDim(S.reshape(mask, [N, OG, K * P]), sampled!.shape, [0, 1, 3]));
  // [N, C, K, P] grouped as [N, G, Cg*K, P], contracted with W [G, OC/G, Cg*K]
  const cols = S.reshape(masked, [N, G, Cg * K, P]);
  const wg = S.reshape(E.convert(wv.t, "float32"), [1, G, OC / G, Cg * K]);
  let y = S.reshape(matmul(bcastTo(wg, [N, G, OC / G, Cg * K]), cols), [N, OC, OH, OW]);
  if (bv) y = E.add(y, bcastTo(S.reshape(E.convert(bv.t, "float32"), [1, OC, 1, 1]), y.shape));
  return [out(E.convert(y, xv.t.dtype), xv.elem)];
});
