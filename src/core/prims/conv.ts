import { ShapedArray } from "../aval.js";
import { fail, fmtShape } from "../errors.js";
import { add, bin, c, idx, mul, sel, type Expr } from "../../ir/expr.js";
import { primitive, UndefPrimal, type Dim } from "../primitive.js";
import { bind1 } from "../trace.js";
import type { Tensor } from "../../tensor.js";
import { full } from "./constants.js";
import { add as addT } from "./elementwise.js";
import { moveaxis, reshape, rev, transpose } from "./structural.js";
import { range } from "./util.js";

/**
 * General dilated convolution (XLA's ConvGeneralDilated). The specs name axes by role so that the
 * transpose rules can swap roles instead of moving data: `lhsSpec` = [batch, feature, ...spatial],
 * `rhsSpec` = [out feature, in feature, ...spatial], `outSpec` = [batch, feature, ...spatial].
 * Padding applies to the lhs after lhs dilation and may be negative. With `featureGroupCount` G the
 * lhs features split into G groups (group major) matched to G groups of output features; with
 * `batchGroupCount` B the lhs batch splits into B groups matched to B groups of output features.
 */
export type ConvP = {
  strides: number[];
  padding: [number, number][];
  lhsDilation: number[];
  rhsDilation: number[];
  featureGroupCount: number;
  batchGroupCount: number;
  lhsSpec: number[];
  rhsSpec: number[];
  outSpec: number[];
};

/** Size of an axis of n elements with `d - 1` zeros inserted between neighbours. */
export const dilateSize = (n: number, d: number): number => (n === 0 ? 0 : (n - 1) * d + 1);

/** Output extent of one spatial axis. */
export function convOutSize(inSize: number, k: number, stride: number, [lo, hi]: readonly [number, number], ld: number, rd: number): number {
  const padded = dilateSize(inSize, ld) + lo + hi;
  const dk = dilateSize(k, rd);
  return padded < dk ? 0 : Math.floor((padded - dk) / stride) + 1;
}

const isPerm = (p: readonly number[], n: number) => p.length === n && [...p].sort((a, b) => a - b).every((v, i) => v === i);
const posInts = (xs: readonly number[]) => xs.every((v) => Number.isInteger(v) && v >= 1);

function convShape([l, r]: readonly ShapedArray[], p: ConvP): ShapedArray[] {
  const x = l!, w = r!;
  const nsp = p.strides.length;
  if (x.ndim !== nsp + 2 || w.ndim !== nsp + 2) {
    fail("conv", `lhs ${fmtShape(x.shape)} and rhs ${fmtShape(w.shape)} must both have rank ${nsp + 2} for ${nsp} spatial axes`);
  }
  for (const [name, spec] of [["lhsSpec", p.lhsSpec], ["rhsSpec", p.rhsSpec], ["outSpec", p.outSpec]] as const) {
    if (!isPerm(spec, nsp + 2)) fail("conv", `${name} ${JSON.stringify(spec)} is not a permutation of ${nsp + 2} axes`);
  }
  if (p.padding.length !== nsp || p.lhsDilation.length !== nsp || p.rhsDilation.length !== nsp) {
    fail("conv", `padding, lhsDilation and rhsDilation need one entry per spatial axis (${nsp})`);
  }
  if (!posInts(p.strides) || !posInts(p.lhsDilation) || !posInts(p.rhsDilation)) {
    fail("conv", `strides ${JSON.stringify(p.strides)} and dilations ${JSON.stringify(p.lhsDilation)}, ${JSON.stringify(p.rhsDilation)} must be positive integers`);
  }
  if (x.dtype !== w.dtype) fail("conv", `lhs has dtype ${x.dtype} but rhs has ${w.dtype}; promote the operands first`);
  const G = p.featureGroupCount, B = p.batchGroupCount;
  if (!posInts([G, B])) fail("conv", `featureGroupCount ${G} and batchGroupCount ${B} must be positive integers`);
  if (G > 1 && B > 1) fail("conv", `featureGroupCount ${G} and batchGroupCount ${B} cannot both exceed 1`);
  const N = x.shape[p.lhsSpec[0]!]!, C = x.shape[p.lhsSpec[1]!]!;
  const O = w.shape[p.rhsSpec[0]!]!, I = w.shape[p.rhsSpec[1]!]!;
  if (C !== I * G) fail("conv", `lhs has ${C} features but rhs expects ${I} per group × ${G} groups = ${I * G} (lhs ${fmtShape(x.shape)}, rhs ${fmtShape(w.shape)})`);
  if (O % G !== 0) fail("conv", `rhs has ${O} output features, not divisible by featureGroupCount ${G}`);
  if (N % B !== 0 || O % B !== 0) fail("conv", `lhs batch ${N} and rhs output features ${O} must be divisible by batchGroupCount ${B}`);
  const shape = new Array<number>(nsp + 2);
  shape[p.outSpec[0]!] = N / B;
  shape[p.outSpec[1]!] = O;
  for (let s = 0; s < nsp; s++) {
    shape[p.outSpec[2 + s]!] = convOutSize(x.shape[p.lhsSpec[2 + s]!]!, w.shape[p.rhsSpec[2 + s]!]!, p.strides[s]!, p.padding[s]!, p.lhsDilation[s]!, p.rhsDilation[s]!);
  }
  return [new ShapedArray(shape, x.dtype, x.weakType && w.weakType)];
}

export const convP = primitive<ConvP>(
  "conv",
  {
    shape: convShape,
    lower([x, w], ix, { params: p, inAvals: [a, b], outAvals: [o], vars }) {
      const nsp = p.strides.length;
      const dt = o!.dtype;
      const N = a!.shape[p.lhsSpec[0]!]!, O = b!.shape[p.rhsSpec[0]!]!, I = b!.shape[p.rhsSpec[1]!]!;
      const G = p.featureGroupCount, B = p.batchGroupCount;
      const nOut = ix[p.outSpec[0]!]!, fOut = ix[p.outSpec[1]!]!;
      const ids = vars.fresh(1 + nsp);
      const iv = idx(ids[0]!);
      const lix: Expr[] = new Array(a!.ndim), rix: Expr[] = new Array(b!.ndim);
      // the output feature picks its group, which picks the lhs features (or lhs batch slice) it reads
      lix[p.lhsSpec[1]!] = G > 1 ? add(mul(bin("div", fOut, c(O / G)), c(I)), iv) : iv;
      lix[p.lhsSpec[0]!] = B > 1 ? add(mul(bin("div", fOut, c(O / B)), c(N / B)), nOut) : nOut;
      rix[p.rhsSpec[0]!] = fOut;
      rix[p.rhsSpec[1]!] = iv;
      let ok: Expr = c(1, "bool");
      for (let s = 0; s < nsp; s++) {
        const k = idx(ids[1 + s]!);
        rix[p.rhsSpec[2 + s]!] = k;
        const st = p.strides[s]!, ld = p.lhsDilation[s]!, rd = p.rhsDilation[s]!, lo = p.padding[s]![0];
        const inSize = a!.shape[p.lhsSpec[2 + s]!]!;
        const outSize = o!.shape[p.outSpec[2 + s]!]!, kSize = b!.shape[p.rhsSpec[2 + s]!]!;
        // position in the dilated, unpadded lhs; valid where it lands on a real element
        // (adding −lo rather than subtracting lo keeps negative literals out of subtractions)
        const pos = add(add(mul(ix[p.outSpec[2 + s]!]!, c(st)), mul(k, c(rd))), c(-lo));
        const q = ld === 1 ? pos : bin("div", pos, c(ld));
        const maxPos = (outSize - 1) * st + (kSize - 1) * rd - lo;
        const needLo = lo > 0, needHi = maxPos > (inSize - 1) * ld;
        if (needLo || ld > 1) ok = bin("and", ok, bin("ge", pos, c(0)));
        if (needHi) ok = bin("and", ok, bin("lt", q, c(inSize)));
        if (ld > 1) ok = bin("and", ok, bin("eq", bin("rem", pos, c(ld)), c(0)));
        // clamp so that masked positions never read outside the buffer
        lix[p.lhsSpec[2 + s]!] = needLo || needHi || ld > 1 ? bin("max", bin("min", q, c(Math.max(inSize - 1, 0))), c(0)) : q;
      }
      const xv = x!(lix), wv = w!(rix);
      const prodE = mul(xv.dt === dt ? xv : { k: "cast", x: xv, dt }, wv.dt === dt ? wv : { k: "cast", x: wv, dt });
      const body = sel(ok, prodE, c(0, dt));
      const ext = [I, ...range(nsp).map((s) => b!.shape[p.rhsSpec[2 + s]!]!)];
      return [{ k: "reduce", op: "sum", vars: ids, ext, body, dt }];
    },
    jvp([x, w], [dx, dw], p) {
      return [[conv(x!, w!, p)], [addT(conv(dx!, w!, p), conv(x!, dw!, p))]];
    },
    transpose([ct], [x, w], p) {
      if (ct === null || ct === undefined) return [null, null];
      const ux = x instanceof UndefPrimal, uw = w instanceof UndefPrimal;
      if (ux && uw) throw new Error("conv transpose: both operands are linear (the program is not linear)");
      return [ux ? transposeLhs(ct, x.aval, w as Tensor, p) : null, uw ? transposeRhs(ct, x as Tensor, w.aval, p) : null];
    },
    batch([x, w], [dx, dw], p) {
      return convBatch(x!, w!, dx!, dw!, p);
    },
  },
  (p) =>
    `strides=${JSON.stringify(p.strides)} padding=${JSON.stringify(p.padding)} lhsDilation=${JSON.stringify(p.lhsDilation)} ` +
    `rhsDilation=${JSON.stringify(p.rhsDilation)} groups=${p.featureGroupCount} batchGroups=${p.batchGroupCount} ` +
    `specs=${JSON.stringify([p.lhsSpec, p.rhsSpec, p.outSpec])}`,
);

/** Apply the general convolution primitive. */
export function conv(x: Tensor, w: Tensor, p: ConvP): Tensor {
  return bind1(convP, [x, w], {
    strides: [...p.strides],
    padding: p.padding.map(([lo, hi]) => [lo, hi] as [number, number]),
    lhsDilation: [...p.lhsDilation],
    rhsDilation: [...p.rhsDilation],
    featureGroupCount: p.featureGroupCount,
    batchGroupCount: p.batchGroupCount,
    lhsSpec: [...p.lhsSpec],
    rhsSpec: [...p.rhsSpec],
    outSpec: [...p.outSpec],
  });
}

/** Split axis `src` (size n) into (size1, n / size1), the new leading part first. */
export function reshapeAxisOutOf(src: number, size1: number, x: Tensor): Tensor {
  const shape = [...x.shape];
  shape.splice(src, 1, size1, shape[src]! / size1);
  return reshape(x, shape);
}

/**
 * Merge axis `src` into axis `dst`, `src` becoming the major part. `dst` counts axes after `src` is
 * removed, so it can name an axis of the layout without `src`.
 */
export function reshapeAxisInto(src: number, dst: number, x: Tensor): Tensor {
  const moved = moveaxis(x, src, dst);
  const shape = [...moved.shape];
  shape.splice(dst, 2, shape[dst]! * shape[dst + 1]!);
  return reshape(moved, shape);
}

const swap01 = (spec: readonly number[]) => [spec[1]!, spec[0]!, ...spec.slice(2)];
const spatial = (shape: readonly number[], spec: readonly number[]) => spec.slice(2).map((a) => shape[a]!);

/**
 * Cotangent of the lhs: a convolution of the cotangent (dilated by the strides) with the spatially
 * flipped kernel, in/out features swapped. Padding: an output y reads lhs position y·s + k·rd − lo, so
 * lhs position x receives from ct at x·ld + lo − k·rd; flipping k gives lo' = (K−1)·rd − lo, and hi'
 * makes the result exactly as long as the lhs.
 */
function transposeLhs(ct: Tensor, xa: ShapedArray, w: Tensor, p: ConvP): Tensor {
  const G = p.featureGroupCount, B = p.batchGroupCount;
  if (ct.size === 0) return full(xa.shape, 0, xa.dtype);
  let wt = w;
  if (G > 1 || B > 1) {
    // groups move from the output features into the transposed kernel's output features (= lhs features)
    wt = reshapeAxisOutOf(p.rhsSpec[0]!, G * B, wt);
    wt = reshapeAxisInto(p.rhsSpec[0]!, p.rhsSpec[1]!, wt);
  }
  const inS = spatial(xa.shape, p.lhsSpec), kS = spatial(w.shape, p.rhsSpec), outS = spatial(ct.shape, p.outSpec);
  const padding = inS.map((n, s) => {
    const dk = dilateSize(kS[s]!, p.rhsDilation[s]!) - 1;
    const lo = dk - p.padding[s]![0];
    const hi = (n - 1) * p.lhsDilation[s]! + dk + 1 - dilateSize(outS[s]!, p.strides[s]!) - lo;
    return [lo, hi] as [number, number];
  });
  let out = conv(ct, rev(wt, p.rhsSpec.slice(2)), {
    strides: p.lhsDilation,
    padding,
    lhsDilation: p.strides,
    rhsDilation: p.rhsDilation,
    featureGroupCount: G * B,
    batchGroupCount: 1,
    lhsSpec: p.outSpec,
    rhsSpec: swap01(p.rhsSpec),
    outSpec: p.lhsSpec,
  });
  if (B > 1) {
    // the batch groups came out as feature groups: move them back into the batch axis
    out = reshapeAxisOutOf(p.lhsSpec[1]!, B, out);
    out = reshapeAxisInto(p.lhsSpec[1]!, p.lhsSpec[0]!, out);
  }
  return out;
}

/**
 * Cotangent of the rhs: correlate the lhs with the cotangent, the lhs batch playing the feature role.
 * Kernel position k receives lhs position y·s + k·rd − lo from ct at y, so the roles of strides and rhs
 * dilation swap; feature groups become batch groups and vice versa.
 */
function transposeRhs(ct: Tensor, x: Tensor, wa: ShapedArray, p: ConvP): Tensor {
  if (ct.size === 0) return full(wa.shape, 0, wa.dtype);
  const inS = spatial(x.shape, p.lhsSpec), kS = spatial(wa.shape, p.rhsSpec), outS = spatial(ct.shape, p.outSpec);
  const padding = inS.map((n, s) => {
    const lo = p.padding[s]![0];
    const hi = (kS[s]! - 1) * p.rhsDilation[s]! + dilateSize(outS[s]!, p.strides[s]!) - dilateSize(n, p.lhsDilation[s]!) - lo;
    return [lo, hi] as [number, number];
  });
  return conv(x, ct, {
    strides: p.rhsDilation,
    padding,
    lhsDilation: p.lhsDilation,
    rhsDilation: p.strides,
    featureGroupCount: p.batchGroupCount,
    batchGroupCount: p.featureGroupCount,
    lhsSpec: swap01(p.lhsSpec),
    rhsSpec: swap01(p.outSpec),
    outSpec: swap01(p.rhsSpec),
  });
}

/**
 * vmap: operands go to the canonical layout with the mapped axis first, the mapped axis is folded into
 * the batch (lhs only), the output features (rhs only) or both with one more level of grouping, and the
 * result returns to `outSpec` with the mapped axis at 0.
 */
function convBatch(x: Tensor, w: Tensor, dx: Dim, dw: Dim, p: ConvP): [Tensor[], Dim[]] {
  const nsp = p.strides.length;
  const canon = range(nsp + 2);
  const G = p.featureGroupCount, B = p.batchGroupCount;
  const L = dx === null ? transpose(x, p.lhsSpec) : transpose(x, [dx, ...p.lhsSpec.map((a) => (a < dx ? a : a + 1))]);
  const R = dw === null ? transpose(w, p.rhsSpec) : transpose(w, [dw, ...p.rhsSpec.map((a) => (a < dw ? a : a + 1))]);
  const Bm = dx !== null ? x.shape[dx]! : w.shape[dw!]!;
  const run = (l: Tensor, r: Tensor, g: number, bg: number) =>
    conv(l, r, { ...p, featureGroupCount: g, batchGroupCount: bg, lhsSpec: canon, rhsSpec: canon, outSpec: canon });
  const [N, C] = dx === null ? [L.shape[0]!, L.shape[1]!] : [L.shape[1]!, L.shape[2]!];
  const [O, I] = dw === null ? [R.shape[0]!, R.shape[1]!] : [R.shape[1]!, R.shape[2]!];
  const sp = (t: Tensor, from: number) => t.shape.slice(from);
  let out: Tensor; // canonical [Bm, N', O, ...spatial]
  if (dw === null) {
    // lhs only: fold the mapped axis into each batch group, keeping batch groups outermost
    let l = reshape(L, [Bm, B, N / B, C, ...sp(L, 3)]);
    l = transpose(l, [1, 0, ...range(nsp + 4).slice(2)]);
    l = reshape(l, [Bm * N, C, ...sp(L, 3)]);
    const o = run(l, R, G, B);
    out = reshape(o, [Bm, N / B, O, ...sp(o, 2)]);
  } else if (dx === null) {
    // rhs only: fold the mapped axis into each group of output features, groups outermost
    const Gr = G * B, Og = O / Gr;
    let r = reshape(R, [Bm, Gr, Og, I, ...sp(R, 3)]);
    r = transpose(r, [1, 0, ...range(nsp + 4).slice(2)]);
    r = reshape(r, [Gr * Bm * Og, I, ...sp(R, 3)]);
    const o = run(L, r, G, B);
    const n2 = o.shape[0]!, os = sp(o, 2);
    let t = reshape(o, [n2, Gr, Bm, Og, ...os]);
    t = transpose(t, [2, 0, 1, 3, ...range(os.length).map((i) => 4 + i)]);
    out = reshape(t, [Bm, n2, O, ...os]);
  } else if (B === 1) {
    // both: each mapped example is its own set of feature groups
    const l = reshape(moveaxis(L, 0, 1), [N, Bm * C, ...sp(L, 3)]);
    const r = reshape(R, [Bm * O, I, ...sp(R, 3)]);
    const o = run(l, r, Bm * G, 1);
    out = moveaxis(reshape(o, [N, Bm, O, ...sp(o, 2)]), 1, 0);
  } else {
    // both, with batch groups: each mapped example is its own set of batch groups
    const l = reshape(L, [Bm * N, C, ...sp(L, 3)]);
    const r = reshape(R, [Bm * O, I, ...sp(R, 3)]);
    const o = run(l, r, 1, Bm * B);
    out = moveaxis(reshape(o, [N / B, Bm, O, ...sp(o, 2)]), 1, 0);
  }
  // canonical axis j+1 goes to axis outSpec[j]+1
  const perm = new Array<number>(nsp + 3);
  perm[0] = 0;
  p.outSpec.forEach((a, j) => (perm[a + 1] = j + 1));
  return [[transpose(out, perm)], [0]];
}
