// Shared test utilities: run a suite on every registered backend, compare against oracles.
import * as tr from "../src/index.js";
import assert from "node:assert/strict";

/** Backends every suite runs on. */
export const BACKENDS = tr.backendNames();

/** Run `fn` with a backend selected, restoring the previous one (inside the caller's describe/test). */
export { withBackend } from "../src/testing/index.js";

/** Assert |a - b| <= atol + rtol * |b| elementwise (NaN matches NaN, inf matches inf of the same sign). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: { rtol?: number; atol?: number; msg?: string } = {}): void {
  const rtol = opts.rtol ?? 1e-4, atol = opts.atol ?? 1e-5;
  assert.equal(actual.length, expected.length, `${opts.msg ?? ""} length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]), e = Number(expected[i]);
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Number.isFinite(e) && a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${opts.msg ?? "values differ"} at flat index ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/** Read a tensor's values as a plain number array. */
export function values(t: tr.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** A seeded uniform generator on [0, 1) (mulberry32), so failures reproduce. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded tensors with entries uniform in [-1, 1), float64 unless a dtype is given. */
export function randomTensors(seed: number): (shape: number[], dtype?: tr.DType) => tr.Tensor {
  const next = mulberry32(seed);
  return (shape, dtype = "float64") => {
    const n = shape.reduce((a, b) => a * b, 1);
    return tr.fromTypedArray(Float64Array.from({ length: n }, () => 2 * next() - 1), shape, dtype);
  };
}

/**
 * Check reverse mode (vjp, which runs the transpose rules) and forward mode (jvp) of f against central
 * differences in float64 along random directions drawn from `seed`.
 */
export function checkGrads(f: (...xs: tr.Tensor[]) => tr.Tensor, args: tr.Tensor[], seed: number): void {
  const rand = randomTensors(seed);
  const eps = 1e-6;
  const out = f(...args);
  const ct = rand(out.shape);
  const L = (xs: tr.Tensor[]) => tr.sum(tr.mul(f(...xs), ct)).item();
  const [, back] = tr.vjp(f, ...args) as [tr.Tensor, (c: tr.Tensor) => tr.Tensor[]];
  const grads = back(ct);
  const dirs = args.map((a) => rand(a.shape));
  args.forEach((a, i) => {
    assert.deepEqual(grads[i]!.shape, a.shape, `gradient ${i} shape`);
    const shifted = (s: number) => args.map((b, j) => (j === i ? tr.add(b, tr.mul(dirs[i]!, s)) : b));
    const fd = (L(shifted(eps)) - L(shifted(-eps))) / (2 * eps);
    const an = tr.sum(tr.mul(grads[i]!, dirs[i]!)).item();
    assert.ok(Math.abs(fd - an) <= 1e-6 * (1 + Math.abs(fd)), `vjp of argument ${i}: ${an} vs finite difference ${fd}`);
  });
  const [, tan] = tr.jvp(f, args, dirs) as [tr.Tensor, tr.Tensor];
  const plus = f(...args.map((a, j) => tr.add(a, tr.mul(dirs[j]!, eps))));
  const minus = f(...args.map((a, j) => tr.sub(a, tr.mul(dirs[j]!, eps))));
  assertClose(values(tan), values(tr.div(tr.sub(plus, minus), 2 * eps)), { rtol: 1e-6, atol: 1e-7, msg: "jvp vs finite differences" });
}

/**
 * Central finite differences of a scalar float64 function, element by element, against its reverse-mode
 * gradient for each argument in `argnums`; returns those gradients' values (indexed by argument).
 */
export async function fdCheck(f: (...xs: tr.Tensor[]) => tr.Tensor, xs: tr.Tensor[], argnums: number[], tol = 1e-7): Promise<number[][]> {
  const read = async (t: tr.Tensor): Promise<number[]> => Array.from(await t.data());
  const [, back] = tr.vjp(f, ...xs);
  const grads = back(tr.tensor(1, { dtype: "float64" })) as tr.Tensor[];
  const eps = 1e-6;
  const out: number[][] = [];
  for (const j of argnums) {
    const x = xs[j]!;
    const base = await read(x);
    const g = await read(grads[j]!);
    for (let k = 0; k < base.length; k++) {
      const at = (d: number) => {
        const v = [...base];
        v[k]! += d;
        return xs.map((y, i) => (i === j ? tr.fromTypedArray(Float64Array.from(v), x.shape, "float64") : y));
      };
      const fd = ((await read(f(...at(eps))))[0]! - (await read(f(...at(-eps))))[0]!) / (2 * eps);
      assert.ok(Math.abs(fd - g[k]!) <= tol * Math.max(1, Math.abs(fd)), `arg ${j} element ${k}: gradient ${g[k]} but finite differences give ${fd}`);
    }
    out[j] = g;
  }
  return out;
}

/** Central finite differences in float64 of a scalar function of one tensor: one value per element. */
export function fdGrad(f: (x: tr.Tensor) => tr.Tensor, x: tr.Tensor, eps = 1e-6): number[] {
  const base = values(x);
  return base.map((_, i) => {
    const xp = [...base], xm = [...base];
    xp[i]! += eps;
    xm[i]! -= eps;
    const at = (v: number[]) => f(tr.reshape(tr.tensor(v, { dtype: "float64" }), x.shape)).item();
    return (at(xp) - at(xm)) / (2 * eps);
  });
}
