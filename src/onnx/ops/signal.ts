/** Signal processing: DFT, STFT, window functions, MelWeightMatrix. */
import { fail, fmtShape } from "../../core/errors.js";
import * as E from "../../core/prims/elementwise.js";
import { dotGeneral } from "../../core/prims/linalg.js";
import { dftLast } from "../../fft/dft.js";
import * as S from "../../core/prims/structural.js";
import type { Tensor } from "../../tensor.js";
import { TVal } from "../values.js";
import { def, ints, out, tin, topt, type OpCtx } from "./registry.js";
import { DataType, axisOf, guardShape, hostTensor, held, range } from "./util.js";

/** Contract axis `ax` of t with the columns of an [out × in] host matrix, keeping the axis in place. */
function applyMatrix(t: Tensor, ax: number, m: ArrayLike<number>, outN: number): Tensor {
  const n = t.shape[ax]!;
  const M = hostTensor(t.dtype, [outN, n], m);
  return S.moveaxis(dotGeneral(t, M, { contract: [[ax], [1]], batch: [[], []] }), t.ndim - 1, ax);
}

/** Zero-pad or truncate axis `ax` to length n. */
function fitLength(t: Tensor, ax: number, n: number): Tensor {
  const d = t.shape[ax]!;
  if (d === n) return t;
  return S.pad(t, t.shape.map(() => 0), t.shape.map((_, i) => (i === ax ? n - d : 0)), undefined, 0);
}

/**
 * DFT along `ax` of a complex signal given as real/imaginary parts (imag may be null), in ONNX's
 * conventions: forward e^{-2πikn/N}; inverse e^{+2πikn/N}/N; one-sided output keeps N/2+1 bins; the
 * one-sided inverse rebuilds the Hermitian spectrum first.
 */
function dft(re: Tensor, im: Tensor | null, ax: number, N: number, inverse: boolean, onesided: boolean): [Tensor, Tensor] {
  if (inverse && onesided) {
    // Hermitian extension: bin k >= K reads conj(X[N-k])
    const K = Math.floor(N / 2) + 1;
    const src = range(N).map((k) => (k < K ? k : N - k));
    const sign = range(N).map((k) => (k < K ? 1 : -1));
    const have = re.shape[ax]!;
    const pickM = (withSign: boolean) => {
      const m = new Float64Array(N * have);
      src.forEach((s, k) => {
        if (s < have) m[k * have + s] = withSign ? sign[k]! : 1;
      });
      return m;
    };
    const fr = applyMatrix(re, ax, pickM(false), N);
    const fi = im ? applyMatrix(im, ax, pickM(true), N) : null;
    return dft(fr, fi, ax, N, true, false);
  }
  const x = fitLength(re, ax, N), y = im ? fitLength(im, ax, N) : null;
  const K = onesided ? Math.floor(N / 2) + 1 : N;
  // the transform itself is tr.fft's, so large lengths get its Cooley–Tukey/Bluestein paths
  const last = x.ndim - 1;
  const [r, i] = dftLast([S.moveaxis(x, ax, last), y ? S.moveaxis(y, ax, last) : null], N, inverse);
  const finish = (t: Tensor) => {
    const u = inverse ? E.mulS(t, 1 / N) : t;
    return S.moveaxis(K === N ? u : S.slice(u, u.shape.map(() => 0), u.shape.map((d, a) => (a === last ? K : d))), last, ax);
  };
  return [finish(r), finish(i ?? E.zerosLike(r))];
}

/** Split [..., 1|2] into real and imaginary parts, in float64. */
function complexParts(ctx: OpCtx, t: Tensor): [Tensor, Tensor | null] {
  const c = t.shape[t.ndim - 1]!;
  if (c !== 1 && c !== 2) fail(ctx.op, `the last axis must hold 1 (real) or 2 (complex) components, got shape ${fmtShape(t.shape)}`);
  // the reference transforms in double precision, whatever the input type
  const w = E.convert(t, "float64");
  const part = (i: number) => S.reshape(S.slice(w, w.shape.map((_, a) => (a === w.ndim - 1 ? i : 0)), w.shape.map((d, a) => (a === w.ndim - 1 ? i + 1 : d))), w.shape.slice(0, -1));
  return [part(0), c === 2 ? part(1) : null];
}

const stackComplex = (re: Tensor, im: Tensor): Tensor => S.concatenate([S.reshape(re, [...re.shape, 1]), S.reshape(im, [...im.shape, 1])], re.ndim);

def("DFT", {
  staticInputs: [1, 2],
  run(ins, ctx) {
    const xv = tin(ins, 0, ctx, "input");
    const lenV = topt(ins, 1, ctx, "dft_length");
    let axis: number;
    if (ctx.opset >= 20) {
      const av = topt(ins, 2, ctx, "axis");
      axis = av ? ints(av, ctx, "axis")[0]! : -2;
    } else axis = ctx.attrs.int("axis", 1);
    const ax = axisOf(ctx, axis, xv.rank);
    if (ax === xv.rank - 1) fail(ctx.op, "the transform axis cannot be the last (complex) axis");
    const inverse = ctx.attrs.int("inverse", 0) !== 0, onesided = ctx.attrs.int("onesided", 0) !== 0;
    const N = lenV ? ints(lenV, ctx, "dft_length")[0]! : inverse && onesided ? 2 * (xv.shape[ax]! - 1) : xv.shape[ax]!;
    if (!(N >= 1)) fail(ctx.op, `dft_length must be positive, got ${N}`);
    guardShape(ctx, [N, N], "DFT matrix");
    const [re, im] = complexParts(ctx, xv.t);
    const [r, i] = dft(re, im, ax, N, inverse, onesided);
    const res = inverse && onesided ? S.reshape(r, [...r.shape, 1]) : stackComplex(r, i);
    return [out(E.convert(res, xv.t.dtype), xv.elem)];
  },
});

def("STFT", {
  staticInputs: [1, 3],
  run(ins, ctx) {
    const xv = tin(ins, 0, ctx, "signal"), stepV = tin(ins, 1, ctx, "frame_step"), wv = topt(ins, 2, ctx, "window"), lv = topt(ins, 3, ctx, "frame_length");
    const step = ints(stepV, ctx, "frame_step")[0]!;
    const L = xv.shape[1]!;
    const frameLen = lv ? ints(lv, ctx, "frame_length")[0]! : wv ? wv.shape[0]! : L;
    const onesided = ctx.attrs.int("onesided", 1) !== 0;
    const [re, im] = complexParts(ctx, xv.t);
    if (!(step >= 1) || !(frameLen >= 1)) fail(ctx.op, `frame_step ${step} and frame_length ${frameLen} must be positive`);
    guardShape(ctx, [frameLen, frameLen], "DFT matrix");
    const nFrames = 1 + Math.floor((L - frameLen) / step);
    if (nFrames < 1) fail(ctx.op, `a signal of length ${L} holds no frame of length ${frameLen}`);
    const win = wv ? E.convert(wv.t, re.dtype) : null;
    const frames = (t: Tensor) =>
      S.concatenate(range(nFrames).map((f) => {
        let fr = S.slice(t, [0, f * step], [t.shape[0]!, f * step + frameLen]);
        if (win) fr = E.mul(fr, S.broadcastInDim(win, fr.shape, [1]));
        return S.reshape(fr, [t.shape[0]!, 1, frameLen]);
      }), 1);
    const [r, i] = dft(frames(re), im ? frames(im) : null, 2, frameLen, false, onesided);
    return [out(E.convert(stackComplex(r, i), xv.t.dtype), xv.elem)];
  },
});

function windowOp(name: string, f: (n: number, N: number) => number): void {
  def(name, {
    staticInputs: [0],
    run(ins, ctx) {
      const size = ints(tin(ins, 0, ctx, "size"), ctx, "size")[0]!;
      guardShape(ctx, [size]);
      const periodic = ctx.attrs.int("periodic", 1) !== 0;
      const elem = ctx.attrs.int("output_datatype", DataType.FLOAT);
      const N = periodic ? size : size - 1;
      // the reference computes in the output type: round each step through float32 when that is the type
      const vals = range(size).map((n) => f(n, N));
      return [out(hostTensor(held(elem), [size], vals), elem)];
    },
  });
}
windowOp("HannWindow", (n, N) => Math.sin((n * Math.PI) / N) ** 2);
windowOp("HammingWindow", (n, N) => 25 / 46 - Math.cos((n * Math.PI * 2) / N) * (1 - 25 / 46));
windowOp("BlackmanWindow", (n, N) => 0.42 - 0.5 * Math.cos((n * Math.PI * 2) / N) + 0.08 * Math.cos((n * Math.PI * 4) / N));

def("MelWeightMatrix", {
  staticInputs: [0, 1, 2, 3, 4],
  run(ins, ctx) {
    const [bins, dftLen, rate] = [0, 1, 2].map((i) => ints(tin(ins, i, ctx, `input ${i}`), ctx, "size")[0]!) as [number, number, number];
    const [lo, hi] = [3, 4].map((i) => tin(ins, i, ctx, `input ${i}`).values(ctx.op, "edge")[0]!) as [number, number];
    const nSpec = Math.floor(dftLen / 2) + 1;
    guardShape(ctx, [nSpec, bins]);
    const lowMel = 2595 * Math.log10(1 + lo / 700), highMel = 2595 * Math.log10(1 + hi / 700);
    const step = (highMel - lowMel) / (bins + 2);
    const points = range(bins + 2).map((i) => Math.trunc(Math.floor(((dftLen + 1) * 700 * (10 ** ((i * step + lowMel) / 2595) - 1)) / rate)));
    const m = new Float64Array(nSpec * bins);
    for (let i = 0; i < bins; i++) {
      const l = points[i]!, c = points[i + 1]!, h = points[i + 2]!;
      if (c === l) m[c * bins + i] = 1;
      else for (let j = l; j <= c; j++) m[j * bins + i] = (j - l) / (c - l);
      if (h > c) for (let j = c; j < h; j++) m[j * bins + i] = (h - j) / (h - c);
    }
    const elem = ctx.attrs.int("output_datatype", DataType.FLOAT);
    return [new TVal(elem, [nSpec, bins], undefined, m)];
  },
});
