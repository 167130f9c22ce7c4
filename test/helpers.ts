// Shared test utilities: run a suite on every registered backend, compare against oracles.
import * as tr from "../src/index.js";
import assert from "node:assert/strict";

/** Backends every suite runs on. */
export const BACKENDS = tr.backendNames();

/** Run `fn` once per backend with that backend selected (inside the caller's describe/test). */
export async function withBackend<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const prev = tr.getBackend().name;
  await tr.setBackend(name);
  try {
    return await fn();
  } finally {
    await tr.setBackend(prev);
  }
}

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
