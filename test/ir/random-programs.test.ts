// Randomly generated programs (elementwise ops with broadcasting, movement, reductions, matmuls,
// several outputs, values read by many consumers) give the same results under jit as eagerly, where
// every primitive is its own kernel: fusion, simplification and buffer reuse must not change a value.
import * as tr from "../../src/index.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BACKENDS, withBackend, assertClose, values, mulberry32 } from "../helpers.js";

type T = tr.Tensor;

/** A random program over inputs of shape [4, 6] and [6]: a list of steps replayed on any arguments. */
function randomProgram(seed: number): (x: T, v: T) => T[] {
  const r = mulberry32(seed);
  const nSteps = 6 + Math.floor(r() * 10);
  const choices = Array.from({ length: nSteps }, () => [r(), r(), r(), r()]);
  const outPicks = [r(), r()];
  return (x: T, v: T) => {
    const pool: T[] = [x, v];
    for (const [a, b, cc, d] of choices) {
      const p = (u: number) => pool[Math.floor(u * pool.length)]!;
      const s = p(b!), t = p(cc!);
      const op = Math.floor(a! * 13);
      let out: T;
      switch (op) {
        case 0: out = tr.tanh(s); break;
        case 1: out = tr.exp(tr.mul(s, 0.3)); break;
        case 2: out = tr.sin(s).add(tr.abs(s)); break;
        case 3: out = broadcastable(s, t) ? tr.add(s, t) : tr.sub(s, 1.5); break;
        case 4: out = broadcastable(s, t) ? tr.mul(s, t) : tr.mul(s, s); break;
        case 5: out = broadcastable(s, t) ? tr.maximum(s, t) : tr.relu(s); break;
        case 6: out = s.ndim === 2 ? tr.sum(s, { axis: d! < 0.5 ? 0 : 1, keepdims: d! < 0.25 }) : tr.sum(s); break;
        case 7: out = s.ndim === 2 ? tr.max(s, { axis: 1 }) : tr.max(s); break;
        case 8: out = s.ndim === 2 ? tr.transpose(s) : s.size % 2 === 0 ? tr.reshape(s, [2, s.size / 2]) : tr.cos(s); break;
        case 9: out = s.ndim >= 1 && s.shape[s.ndim - 1]! >= 2 ? tr.slice(s, s.ndim === 2 ? [null, [1, null]] : [[1, null]]) : tr.neg(s); break;
        case 10: out = s.ndim === 2 && t.ndim === 2 && s.shape[1] === t.shape[1] ? tr.matmul(s, tr.transpose(t)) : tr.square(s); break;
        case 11: out = s.ndim >= 1 ? tr.pad(s, s.ndim === 2 ? [[1, 0], [0, 1]] : [[1, 1]]) : tr.add(s, 2); break;
        default: out = tr.where(tr.greater(s, 0), s, tr.mul(s, 0.1)); break;
      }
      pool.push(out);
    }
    // a few outputs: the last value and one or two others (so some intermediates escape)
    const mid = pool.slice(2);
    return [pool[pool.length - 1]!, ...outPicks.map((u) => mid[Math.floor(u * mid.length)]!)];
  };
}

function broadcastable(a: T, b: T): boolean {
  const n = Math.max(a.ndim, b.ndim);
  for (let i = 1; i <= n; i++) {
    const x = a.shape[a.ndim - i] ?? 1, y = b.shape[b.ndim - i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

for (const backend of BACKENDS) {
  describe(`random programs under jit (${backend})`, () => {
    test("40 programs: jit equals eager", () =>
      withBackend(backend, () => {
        const x = tr.random.normal(tr.random.key(1), [4, 6]), v = tr.random.normal(tr.random.key(2), [6]);
        for (let seed = 0; seed < 40; seed++) {
          const f = randomProgram(seed);
          const eager = f(x, v);
          const jitted = tr.jit(f)(x, v) as T[];
          jitted.forEach((o, i) => {
            assert.deepEqual(o.shape, eager[i]!.shape, `seed ${seed} output ${i}`);
            assertClose(values(o), values(eager[i]!), { rtol: 1e-5, atol: 1e-5, msg: `seed ${seed} output ${i}` });
          });
        }
      }));
  });
}
