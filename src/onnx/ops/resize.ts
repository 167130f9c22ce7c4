/**
 * Resize and Upsample. Interpolation is separable: for each resized axis the host builds an [out, in]
 * weight matrix from the static sizes (every mode, coordinate transformation, antialias and
 * exclude_outside rule folds into it), and the tensor is contracted with it, so the result is
 * differentiable in the input. Pure nearest-neighbour axes gather instead, which is exact for any dtype.
 */
import { isFloat } from "../../core/dtype.js";
import { fail } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import { dotGeneral } from "../../core/prims/linalg.js";
import * as S from "../../core/prims/structural.js";
import { take } from "../../ops/indexing.js";
import type { Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { def, ints, out, tin, topt, type OpCtx } from "./registry.js";
import { axisOf, bcastTo, guardShape, hostTensor, range } from "./util.js";

type Coeffs = (ratio: number, scale: number) => number[];

function nearestCoeffs(mode: string): Coeffs {
  return (ratio) => {
    if (Number.isInteger(ratio)) return [0, 1];
    switch (mode) {
      case "round_prefer_floor": return [ratio <= 0.5 ? 1 : 0, ratio > 0.5 ? 1 : 0];
      case "round_prefer_ceil": return [ratio < 0.5 ? 1 : 0, ratio >= 0.5 ? 1 : 0];
      case "floor": return [1, 0];
      case "ceil": return [0, 1];
    }
    return fail("Resize", `nearest_mode "${mode}" is not one of round_prefer_floor, round_prefer_ceil, floor, ceil`);
  };
}

const linearCoeffs: Coeffs = (r) => [1 - r, r];

function linearAntialias(ratio: number, scale: number): number[] {
  const s = Math.min(scale, 1);
  const start = Math.floor(-1 / s) + 1, footprint = 2 - 2 * start;
  if (!(footprint <= 1 << 16)) fail("Resize", `antialiasing at scale ${scale} needs ${footprint} taps per output; refusing`);
  const c = range(footprint).map((i) => Math.min(Math.max(1 - Math.abs((start + i - ratio) * s), 0), 1));
  const sum = c.reduce((a, b) => a + b, 0);
  return c.map((v) => v / sum);
}

function cubicCoeffs(A: number): Coeffs {
  return (r) => [
    ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A,
    ((A + 2) * r - (A + 3)) * r * r + 1,
    ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1,
    ((A * (1 - r + 1) - 5 * A) * (1 - r + 1) + 8 * A) * (1 - r + 1) - 4 * A,
  ];
}

function cubicAntialias(A: number): Coeffs {
  const k = (x: number) => {
    x = Math.abs(x);
    if (x <= 1) return (A + 2) * x ** 3 - (A + 3) * x * x + 1;
    if (x < 2) return A * x ** 3 - 5 * A * x * x + 8 * A * x - 4 * A;
    return 0;
  };
  return (ratio, scale) => {
    const s = Math.min(scale, 1);
    const iStart = Math.floor(-2 / s) + 1, iEnd = 2 - iStart;
    if (!(iEnd - iStart <= 1 << 16)) fail("Resize", `antialiasing at scale ${scale} needs ${iEnd - iStart} taps per output; refusing`);
    const c = range(iEnd - iStart).map((j) => k(s * (iStart + j - ratio)));
    const sum = c.reduce((a, b) => a + b, 0);
    return c.map((v) => v / sum);
  };
}

interface AxisPlan {
  /** [out × in] weights, row-major. */
  w: Float64Array;
  /** Output positions that take the extrapolation value. */
  extrap: boolean[];
  /** When every row is one weight 1: the source index of each output. */
  pick: number[] | null;
}

/** The weights of one axis, following the reference's window and tie-breaking rules. */
function axisPlan(inW: number, outW: number, scale: number, coeffs: Coeffs, ctm: string, roi: [number, number] | null, exclude: boolean): AxisPlan {
  const w = new Float64Array(outW * inW);
  const extrap: boolean[] = [];
  const outF = scale * inW;
  for (let y = 0; y < outW; y++) {
    let x: number;
    switch (ctm) {
      case "align_corners": x = outF === 1 ? 0 : (y * (inW - 1)) / (outF - 1); break;
      case "asymmetric": x = y / scale; break;
      case "tf_crop_and_resize": {
        const [a, b] = roi ?? [0, 1];
        x = (outF === 1 ? ((b - a) * (inW - 1)) / 2 : (y * (b - a) * (inW - 1)) / (outF - 1)) + a * (inW - 1);
        break;
      }
      case "pytorch_half_pixel": x = outF === 1 ? -0.5 : (y + 0.5) / scale - 0.5; break;
      case "half_pixel": x = (y + 0.5) / scale - 0.5; break;
      case "half_pixel_symmetric": {
        const adj = outW / outF, center = inW / 2;
        x = center * (1 - adj) + (y + 0.5) / scale - 0.5;
        break;
      }
      default: return fail("Resize", `coordinate_transformation_mode "${ctm}" is not supported`);
    }
    extrap.push(ctm === "tf_crop_and_resize" && (x < 0 || x > inW - 1));
    const xi = Math.floor(x);
    const ratio = x === xi ? 1 : x - xi;
    let c = coeffs(ratio, scale);
    if (c.length > 4 * inW + 8) fail("Resize", `antialiasing at scale ${scale} needs ${c.length} taps per output for an axis of ${inW}; refusing`);
    const n = c.length, pad = Math.ceil(n / 2);
    const xp = x + pad, pp = Math.floor(xp), frac = xp - pp;
    const base = -Math.floor((n - 1) / 2);
    const off = n % 2 === 0 ? (frac === 0 ? -(n / 2) : -(n / 2) + 1) : frac <= 0.5 ? base : base + 1;
    const start = pp + off - pad;
    if (exclude) {
      c = c.map((v, j) => (start + j < 0 || start + j >= inW ? 0 : v));
      const sum = c.reduce((a, b) => a + b, 0);
      c = c.map((v) => v / (sum === 0 ? 1 : sum));
    }
    c.forEach((v, j) => {
      const src = Math.min(Math.max(start + j, 0), inW - 1);
      w[y * inW + src]! += v;
    });
  }
  let pick: number[] | null = [];
  for (let y = 0; y < outW && pick; y++) {
    const row = w.subarray(y * inW, (y + 1) * inW);
    const one = row.findIndex((v) => v !== 0);
    if (one < 0 || row[one] !== 1 || row.some((v, j) => j !== one && v !== 0) || extrap[y]) pick = null;
    else pick.push(one);
  }
  return { w, extrap, pick };
}

interface ResizeSpec {
  mode: string;
  ctm: string;
  nearest: string;
  cubicA: number;
  exclude: boolean;
  antialias: boolean;
  extrapolation: number;
}

function resize(ctx: OpCtx, x: Tensor, scales: number[], sizes: number[], axes: number[], roi: number[] | null, spec: ResizeSpec): Tensor {
  const coeffs: Coeffs =
    spec.mode === "nearest" ? nearestCoeffs(spec.nearest)
    : spec.mode === "linear" ? (spec.antialias ? linearAntialias : linearCoeffs)
    : spec.mode === "cubic" ? (spec.antialias ? cubicAntialias(spec.cubicA) : cubicCoeffs(spec.cubicA))
    : fail(ctx.op, `mode "${spec.mode}" is not one of nearest, linear, cubic`);
  let t = x;
  const integer = !isFloat(x.dtype);
  const work = x.dtype === "float64" ? "float64" : "float32";
  const r = x.ndim;
  axes.forEach((ax, k) => {
    const inW = t.shape[ax]!, outW = sizes[k]!, scale = scales[k]!;
    const axRoi: [number, number] | null = roi && roi.length === 2 * axes.length ? [roi[k]!, roi[k + axes.length]!] : roi && roi.length === 2 * r ? [roi[ax]!, roi[ax + r]!] : null;
    const identityRoi = !axRoi || (Math.abs(axRoi[0]) < 1e-9 && Math.abs(axRoi[1] - 1) < 1e-9);
    if (Math.abs(scale - 1) < 1e-9 && outW === inW && identityRoi) return;
    if (outW === 0) {
      t = full(t.shape.map((d, i) => (i === ax ? 0 : d)), 0, t.dtype);
      return;
    }
    const plan = axisPlan(inW, outW, scale, coeffs, spec.ctm, axRoi, spec.exclude);
    if (plan.pick) {
      t = take(t, hostTensor("int32", [outW], plan.pick), { axis: ax });
      return;
    }
    const src = E.convert(t, work);
    const W = hostTensor(work, [outW, inW], plan.w);
    let res = dotGeneral(src, W, { contract: [[ax], [1]], batch: [[], []] });
    res = S.moveaxis(res, res.ndim - 1, ax);
    if (plan.extrap.some(Boolean)) {
      const mask = bcastTo(S.reshape(hostTensor("bool", [outW], plan.extrap.map(Number)), res.shape.map((d, i) => (i === ax ? d : 1))), res.shape);
      res = E.select(mask, full(res.shape, spec.extrapolation, res.dtype), res);
    }
    if (integer) res = E.round(res);
    t = E.convert(res, x.dtype);
  });
  return t;
}

def("Resize", {
  staticInputs: [1, 2, 3],
  check(attrs) {
    const policy = attrs.string("keep_aspect_ratio_policy", "stretch");
    if (!["stretch", "not_larger", "not_smaller"].includes(policy)) unsupported(attrs.op, `keep_aspect_ratio_policy "${policy}" is not supported`);
  },
  run(ins, ctx) {
    const xv = tin(ins, 0, ctx, "X");
    const a = ctx.attrs;
    const spec: ResizeSpec = {
      mode: a.string("mode", "nearest"),
      ctm: a.string("coordinate_transformation_mode", ctx.opset < 11 ? "asymmetric" : "half_pixel"),
      nearest: a.string("nearest_mode", ctx.opset < 11 ? "round_prefer_floor" : "round_prefer_floor"),
      cubicA: a.float("cubic_coeff_a", -0.75),
      exclude: a.int("exclude_outside", 0) !== 0,
      antialias: a.int("antialias", 0) !== 0,
      extrapolation: a.float("extrapolation_value", 0),
    };
    const r = xv.rank;
    const axes = (a.ints("axes") ?? range(r)).map((ax) => axisOf(ctx, ax, r, "axes"));
    const inS = axes.map((ax) => xv.shape[ax]!);
    let roi: number[] | null = null, scales: number[] | null = null, sizes: number[] | null = null;
    if (ctx.opset < 11) {
      scales = tin(ins, 1, ctx, "scales").values(ctx.op, "scales");
    } else {
      const rv = topt(ins, 1, ctx, "roi"), sv = topt(ins, 2, ctx, "scales"), zv = topt(ins, 3, ctx, "sizes");
      if (rv && rv.size) roi = rv.values(ctx.op, "roi");
      if (sv && sv.size) scales = sv.values(ctx.op, "scales");
      if (zv && zv.size) sizes = ints(zv, ctx, "sizes");
    }
    if (scales && scales.length === r && axes.length !== r) scales = axes.map((ax) => scales![ax]!);
    if (sizes && sizes.length === r && axes.length !== r) sizes = axes.map((ax) => sizes![ax]!);
    if (sizes) {
      if (sizes.length !== axes.length) fail(ctx.op, `sizes has ${sizes.length} entries for ${axes.length} axes`);
      let sc = sizes.map((s, i) => s / inS[i]!);
      const policy = a.string("keep_aspect_ratio_policy", "stretch");
      if (policy !== "stretch") {
        const s = policy === "not_larger" ? Math.min(...sc) : Math.max(...sc);
        sc = sc.map(() => s);
        sizes = inS.map((d) => Math.trunc(s * d + 0.5));
      }
      scales = sc;
    } else if (scales) {
      if (scales.length !== axes.length) fail(ctx.op, `scales has ${scales.length} entries for ${axes.length} axes`);
      if (scales.some((s) => !(s > 0))) fail(ctx.op, `scales ${JSON.stringify(scales)} must be positive`);
      sizes = scales.map((s, i) => Math.floor(s * inS[i]!));
    } else fail(ctx.op, "needs scales or sizes");
    guardShape(ctx, xv.shape.map((d, i) => (axes.includes(i) ? sizes![axes.indexOf(i)]! : d)));
    return [out(resize(ctx, xv.t, scales, sizes, axes, roi, spec), xv.elem)];
  },
});

def("Upsample", {
  staticInputs: [1],
  run(ins, ctx) {
    const xv = tin(ins, 0, ctx, "X");
    const scales = ctx.opset < 9 ? ctx.attrs.floats("scales", []) : tin(ins, 1, ctx, "scales").values(ctx.op, "scales");
    if (scales.length !== xv.rank) fail(ctx.op, `scales has ${scales.length} entries for rank ${xv.rank}`);
    const mode = ctx.attrs.string("mode", "nearest");
    const spec: ResizeSpec = { mode: mode === "bilinear" ? "linear" : mode, ctm: "asymmetric", nearest: "floor", cubicA: -0.75, exclude: false, antialias: false, extrapolation: 0 };
    const axes = range(xv.rank);
    guardShape(ctx, scales.map((s, i) => Math.floor(s * xv.shape[i]!)));
    return [out(resize(ctx, xv.t, scales, scales.map((s, i) => Math.floor(s * xv.shape[i]!)), axes, null, spec), xv.elem)];
  },
});
