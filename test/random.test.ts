// Counter-based randomness: the threefry2x32 cipher against Random123's published known-answer
// vectors, JAX compatibility against JAX's published outputs, distributions against closed forms,
// and determinism under jit and vmap.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../src/index.js";
import { bitcastConvertType, threefry2x32 } from "../src/core/prims/random.js";
import { BACKENDS, withBackend, assertClose, values } from "./helpers.js";

const R = tr.random;
const u32 = (xs: number[]) => tr.tensor(xs, { dtype: "uint32" });

/** Threefry-2x32-20 written out from the paper (Salmon et al. 2011), as an independent host oracle. */
function oracle(k: [number, number], x: [number, number]): [number, number] {
  const rot = [13, 15, 26, 6, 17, 29, 16, 24];
  const sched = [k[0], k[1], (k[0] ^ k[1] ^ 0x1bd11bda) >>> 0];
  let x0 = (x[0] + sched[0]!) >>> 0, x1 = (x[1] + sched[1]!) >>> 0;
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 4; j++) {
      const r = rot[(4 * i + j) % 8]!;
      x0 = (x0 + x1) >>> 0;
      x1 = (((x1 << r) | (x1 >>> (32 - r))) ^ x0) >>> 0;
    }
    x0 = (x0 + sched[(i + 1) % 3]!) >>> 0;
    x1 = (x1 + sched[(i + 2) % 3]! + i + 1) >>> 0;
  }
  return [x0, x1];
}

/** JAX's `threefry_2x32(key, counts)` layout: pad to even, halves form the blocks, outputs laid end to end. */
function oracleStream(k: [number, number], counts: number[]): number[] {
  const c = counts.length % 2 ? [...counts, 0] : counts;
  const h = c.length / 2;
  const y0: number[] = [], y1: number[] = [];
  for (let i = 0; i < h; i++) {
    const [a, b] = oracle(k, [c[i]!, c[h + i]!]);
    y0.push(a);
    y1.push(b);
  }
  return [...y0, ...y1].slice(0, counts.length);
}
const iotaList = (n: number) => Array.from({ length: n }, (_, i) => i);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: number[]) => {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
};
const isTridentError = (re: RegExp) => (e: unknown) => e instanceof tr.TridentError && re.test((e as Error).message);

for (const backend of BACKENDS) {
  describe(`threefry2x32 [${backend}]`, () => {
    test("matches Random123's known-answer vectors (kat_vectors, threefry2x32 20 rounds)", () =>
      withBackend(backend, () => {
        // rows of kat_vectors: counter words, key words, expected output words
        const kat: [number, number, number, number, number, number][] = [
          [0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6b200159, 0x99ba4efe],
          [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc, 0xbb002be7],
          [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xc4923a9c, 0x483df7a0],
        ];
        const col = (j: number) => u32(kat.map((r) => r[j]!));
        const [y0, y1] = threefry2x32(col(2), col(3), col(0), col(1));
        assert.deepEqual(values(y0), kat.map((r) => r[4]));
        assert.deepEqual(values(y1), kat.map((r) => r[5]));
        for (const r of kat) assert.deepEqual(oracle([r[2], r[3]], [r[0], r[1]]), [r[4], r[5]], "host oracle agrees with the KAT");
      }));

    test("elementwise over many blocks equals the host oracle; jit and vmap (mixed batching) agree", () =>
      withBackend(backend, () => {
        const n = 64;
        const rnd = (s: number) => iotaList(n).map((i) => (Math.imul(i + s, 2654435761) ^ (i << 7)) >>> 0);
        const [k0, k1, x0, x1] = [rnd(1), rnd(2), rnd(3), rnd(4)];
        const exp = iotaList(n).map((i) => oracle([k0[i]!, k1[i]!], [x0[i]!, x1[i]!]));
        const f = (a: tr.Tensor, b: tr.Tensor, c: tr.Tensor, d: tr.Tensor) => threefry2x32(a, b, c, d);
        const [y0, y1] = f(u32(k0), u32(k1), u32(x0), u32(x1));
        assert.deepEqual(values(y0), exp.map((e) => e[0]));
        assert.deepEqual(values(y1), exp.map((e) => e[1]));
        const [j0, j1] = tr.jit(f)(u32(k0), u32(k1), u32(x0), u32(x1));
        assert.deepEqual(values(j0), values(y0));
        assert.deepEqual(values(j1), values(y1));
        // only the counters mapped, keys shared: the batch rule broadcasts the unbatched operands
        const kk0 = u32([7, 7, 7]), kk1 = u32([9, 9, 9]);
        const xs = tr.tensor([[1, 2, 3], [4, 5, 6]], { dtype: "uint32" });
        const [v0, v1] = tr.vmap((x: tr.Tensor) => threefry2x32(kk0, kk1, x, kk1))(xs) as unknown as tr.Tensor[];
        const want = [[1, 2, 3], [4, 5, 6]].map((row) => row.map((x) => oracle([7, 9], [x, 9])));
        assert.deepEqual(values(v0!), want.flat().map((e) => e[0]));
        assert.deepEqual(values(v1!), want.flat().map((e) => e[1]));
      }));

    test("rejects operands of the wrong dtype or shape with a TridentError naming the operand", () =>
      withBackend(backend, () => {
        assert.throws(() => threefry2x32(u32([1]), u32([1]), u32([1, 2]), u32([1])), isTridentError(/threefry2x32.*x0.*\[2\].*\[1\]/));
        assert.throws(() => threefry2x32(tr.tensor([1]), u32([1]), u32([1]), u32([1])), isTridentError(/threefry2x32.*k0.*uint32.*float32/));
      }));

    test("bitcast_convert_type reinterprets float32 and uint32 bits", () =>
      withBackend(backend, () => {
        const b = bitcastConvertType(tr.tensor([1, -2, 0.5]), "uint32");
        assert.deepEqual(values(b), [0x3f800000, 0xc0000000, 0x3f000000]);
        assert.deepEqual(values(bitcastConvertType(b, "float32")), [1, -2, 0.5]);
        assert.throws(() => bitcastConvertType(tr.tensor([1], { dtype: "float64" }), "uint32"), isTridentError(/bitcast_convert_type.*float64/));
      }));
  });

  describe(`tr.random keys [${backend}]`, () => {
    test("key(seed) is [0, seed] for 32-bit seeds (jax.random.PRNGKey); large seeds keep their high word", () =>
      withBackend(backend, () => {
        assert.deepEqual(values(R.key(0)), [0, 0]);
        assert.deepEqual(values(R.key(42)), [0, 42]);
        assert.deepEqual(values(R.key(-1)), [0, 4294967295]);
        assert.deepEqual(values(R.key(2 ** 32 - 1)), [0, 4294967295]);
        assert.deepEqual(values(R.key(2 ** 32 + 5)), [1, 5]);
        assert.deepEqual(values(R.key(-(2 ** 31) - 100)), [4294967295, 2147483548]);
        assert.deepEqual(values(R.key(tr.tensor(7, { dtype: "int32" }))), [0, 7]);
        assert.deepEqual(values(tr.jit((s: tr.Tensor) => R.key(s))(tr.tensor(-2, { dtype: "int32" }))), [0, 4294967294]);
        assert.throws(() => R.key(1.5), isTridentError(/random\.key.*seed/));
        assert.throws(() => R.key(tr.tensor(1.5)), isTridentError(/random\.key.*float32/));
      }));

    test("split(PRNGKey(0)) reproduces JAX: [[4146024105, 967050713], [2718843009, 1272950319]]", () =>
      withBackend(backend, () => {
        const s = R.split(R.key(0));
        assert.deepEqual(s.shape, [2, 2]);
        assert.deepEqual(values(s), [4146024105, 967050713, 2718843009, 1272950319]);
        // the scheme behind it: threefry over iota(2 * num) cut into halves
        assert.deepEqual(values(R.split(R.key(3), 5)), oracleStream([0, 3], iotaList(10)));
        assert.deepEqual(R.splitKeys(R.key(0)).map(values), [[4146024105, 967050713], [2718843009, 1272950319]]);
      }));

    test("foldIn encrypts the block (0, data); bits is threefry over iota counts (odd sizes padded)", () =>
      withBackend(backend, () => {
        const k = R.key(5);
        assert.deepEqual(values(R.foldIn(k, 1)), oracle([0, 5], [0, 1]));
        assert.deepEqual(values(R.foldIn(k, -1)), oracle([0, 5], [0, 0xffffffff]));
        assert.deepEqual(values(R.foldIn(k, tr.tensor(3, { dtype: "int32" }))), oracle([0, 5], [0, 3]));
        assert.notDeepEqual(values(R.foldIn(k, 1)), values(R.foldIn(k, 2)));
        for (const n of [1, 7, 8]) assert.deepEqual(values(R.bits(k, [n])), oracleStream([0, 5], iotaList(n)));
        assert.deepEqual(R.bits(k, [2, 3]).shape, [2, 3]);
        assert.deepEqual(R.bits(k, [0]).shape, [0]);
      }));

    test("a key of the wrong dtype or shape is rejected naming the op", () =>
      withBackend(backend, () => {
        assert.throws(() => R.normal(tr.tensor([0, 0]), [2]), isTridentError(/random\.normal.*key.*uint32.*\[2\].*f32\[2\]/));
        assert.throws(() => R.uniform(R.split(R.key(0), 3), [2]), isTridentError(/random\.uniform.*key.*u32\[3,2\]/));
        assert.throws(() => R.uniform(R.key(0), [2], { dtype: "int32" }), isTridentError(/random\.uniform.*dtype.*int32/));
        assert.throws(() => R.normal(R.key(0), [2, -1]), isTridentError(/random\.normal.*shape/));
        assert.throws(() => R.uniform(R.key(0), [3], { minval: tr.zeros([4]) }), isTridentError(/random\.uniform.*minval.*\[4\].*\[3\]/));
      }));
  });

  describe(`tr.random values match JAX [${backend}]`, () => {
    // published outputs of jax.random.normal (the JAX quickstart and random-number docs)
    test("normal(PRNGKey(0), (10,)) and (3, 3)", () =>
      withBackend(backend, () => {
        assertClose(values(R.normal(R.key(0), [10])), [-0.3721109, 0.26423115, -0.18252768, -0.7368197, -0.44030377, -0.1521442, -0.67135346, -0.5908641, 0.73168886, 0.5673026], { rtol: 2e-6, atol: 1e-7 });
        // nine values: an odd count pads the counters, which changes only the fifth value
        assertClose(values(R.normal(R.key(0), [3, 3])), [-0.3721109, 0.26423115, -0.18252768, -0.7368197, 0.44973662, -0.1521442, -0.67135346, -0.5908641, 0.73168886], { rtol: 2e-6, atol: 1e-7 });
      }));

    test("normal(key(42)) and the normals of its two split keys", () =>
      withBackend(backend, () => {
        assertClose(values(R.normal(R.key(42))), [-0.18471177], { rtol: 2e-6 });
        const [k1, k2] = R.splitKeys(R.key(42));
        assertClose([...values(R.normal(k1!)), ...values(R.normal(k2!))], [0.13790321, 1.3694694], { rtol: 2e-6 });
      }));

    test("uniform float32 is the mantissa construction of the bits; float64 uses 52 bits of two words", () =>
      withBackend(backend, () => {
        const k = R.key(11);
        const b = oracleStream([0, 11], iotaList(6));
        assert.deepEqual(values(R.uniform(k, [6])), b.map((w) => (w >>> 9) / 2 ** 23));
        const w = oracleStream([0, 11], iotaList(6));
        const f64 = [0, 1, 2].map((i) => (w[i]! * 2 ** 20 + (w[3 + i]! >>> 12)) / 2 ** 52);
        assert.deepEqual(values(R.uniform(k, [3], { dtype: "float64" })), f64);
        // scaled in float32 as f * (max - min) + min, never below min
        const f4 = oracleStream([0, 11], iotaList(4)).map((x) => (x >>> 9) / 2 ** 23);
        assert.deepEqual(values(R.uniform(k, [4], { minval: -2, maxval: 6 })), f4.map((v) => Math.max(-2, Math.fround(Math.fround(v * 8) - 2))));
      }));
  });

  describe(`tr.random distributions [${backend}]`, () => {
    const N = 100_000;
    test("uniform: range, mean 1/2 and variance 1/12; other dtypes and bounds", () =>
      withBackend(backend, () => {
        const u = values(R.uniform(R.key(1), [N]));
        assert.ok(u.every((x) => x >= 0 && x < 1)); // no spread: 100k arguments overflow a browser worker's stack
        assert.ok(Math.abs(mean(u) - 0.5) < 0.005, `mean ${mean(u)}`);
        assert.ok(Math.abs(variance(u) - 1 / 12) < 0.0015, `var ${variance(u)}`);
        for (const dtype of ["float64", "float16", "bfloat16"] as const) {
          const v = R.uniform(R.key(2), [4000], { dtype, minval: 2, maxval: 3 });
          assert.equal(v.dtype, dtype);
          const xs = values(v);
          // scaling rounds in the dtype, so a 16-bit float can land on maxval (as in JAX); [0, 1) is exact
          assert.ok(Math.min(...xs) >= 2 && Math.max(...xs) <= 3, dtype);
          const unit = values(R.uniform(R.key(2), [4000], { dtype }));
          assert.ok(Math.min(...unit) >= 0 && Math.max(...unit) < 1, `${dtype} unit`);
          assert.ok(Math.abs(mean(xs) - 2.5) < 0.03, `${dtype} mean ${mean(xs)}`);
        }
        // per-element bounds broadcast against the shape
        const lo = tr.tensor([0, 10, 100]);
        const w = values(R.uniform(R.key(3), [1000, 3], { minval: lo, maxval: lo.add(1) }));
        w.forEach((x, i) => assert.ok(x >= [0, 10, 100][i % 3]! && x < [1, 11, 101][i % 3]!));
      }));

    test("normal: mean 0, variance 1, and the one-sigma mass", () =>
      withBackend(backend, () => {
        const z = values(R.normal(R.key(4), [N]));
        assert.ok(Math.abs(mean(z)) < 0.016, `mean ${mean(z)}`);
        assert.ok(Math.abs(variance(z) - 1) < 0.023, `var ${variance(z)}`);
        const inside = z.filter((x) => Math.abs(x) < 1).length / N;
        assert.ok(Math.abs(inside - 0.6826894921) < 0.0075, `P(|z|<1) = ${inside}`);
        assert.ok(z.every(Number.isFinite));
        const z64 = values(R.normal(R.key(4), [20000], { dtype: "float64" }));
        assert.ok(Math.abs(mean(z64)) < 0.036 && Math.abs(variance(z64) - 1) < 0.05);
      }));

    test("truncatedNormal: strictly inside the bounds, mean equal to the closed form", () =>
      withBackend(backend, () => {
        const phi = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
        for (const [a, b] of [[-1, 1], [0.5, 2], [-Infinity, -1]] as const) {
          const t = values(R.truncatedNormal(R.key(5), a, b, [N]));
          assert.ok(t.every((x) => x > a && x < b), `bounds (${a}, ${b})`);
          // E[X | a < X < b] = (phi(a) - phi(b)) / (Phi(b) - Phi(a)); Phi via erf on the host
          const Phi = (x: number) => (x === -Infinity ? 0 : 0.5 * (1 + erf(x / Math.SQRT2)));
          const want = (phi(a) - phi(b)) / (Phi(b) - Phi(a));
          assert.ok(Math.abs(mean(t) - want) < 0.01, `(${a}, ${b}): mean ${mean(t)} vs ${want}`);
        }
        // shape from broadcast bounds; bounds that are equal floats collapse onto the interval
        const s = R.truncatedNormal(R.key(6), tr.tensor([-1, 0]), tr.tensor([[1], [2], [3]]));
        assert.deepEqual(s.shape, [3, 2]);
        const tiny = values(R.truncatedNormal(R.key(6), 0, 1e-3, [100]));
        assert.ok(tiny.every((x) => x > 0 && x < 1e-3));
      }));

    test("truncatedNormal is differentiable in its bounds (float64 central differences)", () =>
      withBackend(backend, () => {
        const k = R.key(7);
        const f = (lo: tr.Tensor, hi: tr.Tensor) => R.truncatedNormal(k, lo, hi, [6], { dtype: "float64" }).sum();
        const lo = tr.tensor(-0.7, { dtype: "float64" }), hi = tr.tensor(1.3, { dtype: "float64" });
        const [glo, ghi] = tr.grad(f, { argnums: [0, 1] })(lo, hi) as unknown as tr.Tensor[];
        const h = 1e-6;
        const at = (a: number, b: number) => f(tr.tensor(a, { dtype: "float64" }), tr.tensor(b, { dtype: "float64" })).item();
        assertClose([glo!.item(), ghi!.item()], [(at(-0.7 + h, 1.3) - at(-0.7 - h, 1.3)) / (2 * h), (at(-0.7, 1.3 + h) - at(-0.7, 1.3 - h)) / (2 * h)], { rtol: 1e-5, atol: 1e-7 });
      }));

    test("bernoulli: frequency of true is p; p broadcasts", () =>
      withBackend(backend, () => {
        const b = R.bernoulli(R.key(8), 0.3, [N]);
        assert.equal(b.dtype, "bool");
        const f = mean(values(b));
        assert.ok(Math.abs(f - 0.3) < 0.0073, `frequency ${f}`);
        const pb = values(R.bernoulli(R.key(9), tr.tensor([0, 1, 0.5]), [2000, 3]));
        const cols = [0, 1, 2].map((j) => mean(pb.filter((_, i) => i % 3 === j)));
        assert.equal(cols[0], 0);
        assert.equal(cols[1], 1);
        assert.ok(Math.abs(cols[2]! - 0.5) < 0.06);
      }));

    test("categorical: frequencies match softmax(logits) (chi-square, 3 dof); axis and shape", () =>
      withBackend(backend, () => {
        const logits = [0, 1, 2, -1];
        const z = logits.map(Math.exp), p = z.map((v) => v / z.reduce((a, b) => a + b));
        const c = R.categorical(R.key(10), tr.tensor(logits), { shape: [N] });
        assert.equal(c.dtype, "int32");
        const counts = [0, 0, 0, 0];
        for (const v of values(c)) counts[v]!++;
        const chi2 = counts.reduce((s, o, i) => s + (o - N * p[i]!) ** 2 / (N * p[i]!), 0);
        // P(chi2_3 > 30) is about 1.4e-6
        assert.ok(chi2 < 30, `chi2 ${chi2}, counts ${counts}`);
        // a batch of distributions along axis 0: each column picks its own certain winner
        const lg = tr.tensor([[0, -1e9], [-1e9, 0], [-1e9, -1e9]]);
        assert.deepEqual(values(R.categorical(R.key(11), lg, { axis: 0 })), [0, 1]);
        const many = R.categorical(R.key(11), lg, { axis: 0, shape: [5, 2] });
        assert.deepEqual(many.shape, [5, 2]);
        assert.deepEqual(values(many), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
        assert.throws(() => R.categorical(R.key(0), lg, { axis: 0, shape: [3] }), isTridentError(/random\.categorical.*shape/));
      }));

    test("gumbel and exponential: mean and variance of the closed forms", () =>
      withBackend(backend, () => {
        const g = values(R.gumbel(R.key(12), [N]));
        assert.ok(Math.abs(mean(g) - 0.5772156649) < 0.02, `gumbel mean ${mean(g)}`);
        assert.ok(Math.abs(variance(g) - Math.PI ** 2 / 6) < 0.06, `gumbel var ${variance(g)}`);
        const e = values(R.exponential(R.key(13), [N]));
        assert.ok(e.every((x) => x >= 0));
        assert.ok(Math.abs(mean(e) - 1) < 0.016 && Math.abs(variance(e) - 1) < 0.05, `exp ${mean(e)} ${variance(e)}`);
      }));

    test("randint: in range, uniform over bins (chi-square), edge ranges", () =>
      withBackend(backend, () => {
        const r = values(R.randint(R.key(14), [N], -3, 7));
        assert.ok(r.every((v) => Number.isInteger(v) && v >= -3 && v < 7));
        const counts = new Array(10).fill(0);
        for (const v of r) counts[v + 3]++;
        const chi2 = counts.reduce((s, o) => s + (o - N / 10) ** 2 / (N / 10), 0);
        // P(chi2_9 > 45) is about 1e-6
        assert.ok(chi2 < 45, `chi2 ${chi2}`);
        // empty range gives minval; the full int32 range and uint8 [0, 256) are reachable without overflow
        assert.deepEqual(values(R.randint(R.key(15), [4], 5, 5)), [5, 5, 5, 5]);
        const full32 = values(R.randint(R.key(15), [2000], -(2 ** 31), 2 ** 31));
        assert.ok(full32.some((v) => v < -(2 ** 30)) && full32.some((v) => v > 2 ** 30));
        const u8 = R.randint(R.key(16), [4000], 0, 256, { dtype: "uint8" });
        assert.equal(u8.dtype, "uint8");
        const u8v = values(u8);
        assert.ok(Math.max(...u8v) >= 250 && Math.min(...u8v) <= 5);
        // tensor bounds broadcast per column
        const t = values(R.randint(R.key(17), [300, 2], tr.tensor([0, 100], { dtype: "int32" }), tr.tensor([2, 103], { dtype: "int32" })));
        t.forEach((v, i) => assert.ok(i % 2 === 0 ? v >= 0 && v < 2 : v >= 100 && v < 103));
        assert.throws(() => R.randint(R.key(0), [2], 0, 3, { dtype: "float32" }), isTridentError(/random\.randint.*dtype/));
      }));

    test("permutation is a permutation (one and two shuffle rounds); tensors shuffle along an axis", () =>
      withBackend(backend, () => {
        for (const n of [1, 10, 3000]) {
          const p = values(R.permutation(R.key(18), n));
          assert.deepEqual([...p].sort((a, b) => a - b), iotaList(n), `n=${n}`);
          if (n > 1) assert.notDeepEqual(p, iotaList(n));
        }
        const x = tr.tensor([[0, 1], [10, 11], [20, 21], [30, 31]]);
        const rows = values(R.permutation(R.key(19), x));
        const firsts = [0, 2, 4, 6].map((i) => rows[i]!);
        assert.deepEqual([...firsts].sort((a, b) => a - b), [0, 10, 20, 30]);
        [0, 2, 4, 6].forEach((i) => assert.equal(rows[i + 1], rows[i]! + 1, "rows move whole"));
        const cols = R.permutation(R.key(19), x, { axis: 1, independent: true });
        values(cols).forEach((v, i) => assert.equal(Math.floor(v / 10), Math.floor(i / 2)));
        const ch = values(R.choice(R.key(20), 50, { shape: [20], replace: false }));
        assert.equal(new Set(ch).size, 20);
        const w = values(R.choice(R.key(21), 3, { shape: [3000], p: tr.tensor([0.2, 0, 0.8]) }));
        assert.ok(!w.includes(1) && Math.abs(w.filter((v) => v === 2).length / 3000 - 0.8) < 0.04);
      }));
  });

  describe(`tr.random determinism under transformations [${backend}]`, () => {
    const fns: [string, (k: tr.Tensor) => tr.Tensor][] = [
      ["uniform", (k) => R.uniform(k, [3, 2], { minval: -1, maxval: 2 })],
      ["normal", (k) => R.normal(k, [5])],
      ["truncatedNormal", (k) => R.truncatedNormal(k, -0.5, 1, [4])],
      ["bernoulli", (k) => R.bernoulli(k, 0.4, [6])],
      ["categorical", (k) => R.categorical(k, tr.tensor([[0, 1, 2], [2, 1, 0]]), { shape: [4, 2] })],
      ["randint", (k) => R.randint(k, [7], -5, 5)],
      ["permutation", (k) => R.permutation(k, 9)],
      ["split", (k) => R.split(k, 3)],
      ["foldIn", (k) => R.foldIn(k, 17)],
      ["bits", (k) => R.bits(k, [3])],
    ];
    for (const [name, f] of fns) {
      test(`${name}: same key gives the same numbers; jit equals eager; vmap over split keys equals a loop`, () =>
        withBackend(backend, () => {
          const k = R.key(23);
          const eager = values(f(k));
          assert.deepEqual(values(f(R.key(23))), eager);
          assert.deepEqual(values(tr.jit(f)(k)), eager);
          const keys = R.split(k, 4);
          const loop = R.splitKeys(k, 4).map((kk) => values(f(kk)));
          const mapped = tr.vmap(f)(keys);
          assert.deepEqual(mapped.shape[0], 4);
          assert.deepEqual(values(mapped), loop.flat());
          assert.deepEqual(values(tr.jit(tr.vmap(f))(keys)), loop.flat());
          assert.notDeepEqual(loop[0], loop[1]);
        }));
    }
    test("keys made and split inside jit (traced seeds) equal the eager ones", () =>
      withBackend(backend, () => {
        const g = (s: tr.Tensor) => R.normal(R.splitKeys(R.foldIn(R.key(s), 3))[1]!, [4]);
        const s = tr.tensor(9, { dtype: "int32" });
        assert.deepEqual(values(tr.jit(g)(s)), values(g(s)));
        assert.deepEqual(values(tr.vmap(g)(tr.tensor([9, 10], { dtype: "int32" }))), [...values(g(s)), ...values(g(tr.tensor(10, { dtype: "int32" })))]);
      }));
  });

  describe(`global generator (PyTorch habits) [${backend}]`, () => {
    test("manualSeed makes draws reproducible; successive draws differ; the stream is split(key(seed))", () =>
      withBackend(backend, () => {
        tr.manualSeed(3);
        const a = values(tr.randn([5]));
        const a2 = values(tr.randn([5]));
        tr.manualSeed(3);
        assert.deepEqual(values(tr.randn([5])), a);
        assert.notDeepEqual(a, a2);
        // each draw splits the state key: the draw uses the second half, the first becomes the new state
        const [next, sub] = R.splitKeys(R.key(3));
        assert.deepEqual(a, values(R.normal(sub!, [5])));
        assert.deepEqual(a2, values(R.normal(R.splitKeys(next!)[1]!, [5])));
      }));

    test("rand, randn with sizes as numbers, randint (low, high) and (high), randperm", () =>
      withBackend(backend, () => {
        tr.manualSeed(0);
        const r = tr.rand(2, 3);
        assert.deepEqual(r.shape, [2, 3]);
        assert.ok(values(r).every((v) => v >= 0 && v < 1));
        assert.equal(tr.randn([4], { dtype: "float64" }).dtype, "float64");
        const w = tr.randn([3], { requiresGrad: true });
        assert.equal(w.requiresGrad, true);
        assert.ok(values(tr.randint(5, 9, [50])).every((v) => v >= 5 && v < 9));
        assert.ok(values(tr.randint(4, [50])).every((v) => v >= 0 && v < 4));
        assert.deepEqual([...values(tr.randperm(8))].sort((x, y) => x - y), iotaList(8));
        assert.throws(() => tr.manualSeed(0.5), isTridentError(/seed/));
      }));
  });
}

/** erf on the host by its Maclaurin series (the test only needs |x| < 3, where it converges fast). */
function erf(x: number): number {
  if (x === Infinity || x === -Infinity) return Math.sign(x);
  if (Math.abs(x) >= 3) throw new Error(`test erf: |x| = ${Math.abs(x)} is outside the series' range`);
  let sum = 0, term = x;
  for (let n = 0; n < 200 && (n < 5 || Math.abs(term) > 1e-17 * Math.abs(sum)); ) {
    sum += term / (2 * n + 1);
    n++;
    term *= (-x * x) / n;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
