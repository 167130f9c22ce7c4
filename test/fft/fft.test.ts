import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values, randomTensors } from "../helpers.js";

type FT = { dtype: string; shape: number[]; data: number[] };
type Case = { id: string; fn: string; input: { re: FT; im?: FT }; params: Record<string, unknown>; out: { re: FT; im?: FT } };
const FIX = JSON.parse(readFileSync(new URL("../fixtures/fft.json", import.meta.url), "utf8")) as {
  cases: Case[];
  freqs: { n: number; d: number; fftfreq: number[]; rfftfreq: number[] }[];
  shifts: { shape: number[]; axes: number[] | null; fftshift: number[]; ifftshift: number[] }[];
};

const ten = (t: FT, dtype: tr.DType) => tr.fromTypedArray(Float64Array.from(t.data), t.shape, dtype);
type Fn = (x: tr.Tensor | tr.fft.Complex, opts: Record<string, unknown>) => tr.Tensor | tr.fft.Complex;
const FNS = tr.fft as unknown as Record<string, Fn>;

function run(c: Case, dtype: tr.DType): tr.Tensor | tr.fft.Complex {
  const x = c.input.im ? tr.complex(ten(c.input.re, dtype), ten(c.input.im, dtype)) : ten(c.input.re, dtype);
  return FNS[c.fn]!(x, c.params);
}

function check(got: tr.Tensor | tr.fft.Complex, c: Case, dtype: tr.DType): void {
  const re = tr.real(got), im = tr.isComplex(got) ? got.imag : null;
  assert.deepEqual(re.shape, c.out.re.shape, `${c.id} shape`);
  assert.equal(re.dtype, dtype, `${c.id} dtype`);
  assert.equal(!!im, !!c.out.im, `${c.id} complex output`);
  // float32 error grows like log(n)·eps·|x|·sqrt(n); scale atol by the size of the values
  const big = Math.max(1, ...c.out.re.data.map(Math.abs), ...(c.out.im?.data ?? []).map(Math.abs));
  const tol = dtype === "float64" ? { rtol: 1e-9, atol: 1e-10 * big } : { rtol: 1e-4, atol: 2e-5 * big };
  assertClose(values(re), c.out.re.data, { ...tol, msg: `${c.id} real` });
  if (im) assertClose(values(im), c.out.im!.data, { ...tol, msg: `${c.id} imag` });
}

for (const backend of BACKENDS) {
  describe(`fft against numpy.fft [${backend}]`, () => {
    for (const dtype of ["float64", "float32"] as const)
      test(`${FIX.cases.length} transforms in ${dtype}`, () =>
        withBackend(backend, () => {
          for (const c of FIX.cases) check(run(c, dtype), c, dtype);
        }));

    test("long composite and prime lengths against a plain float64 DFT loop", () =>
      withBackend(backend, () => {
        const rand = randomTensors(21);
        // 2310 = 2·3·5·7·11 (nested splits), 4096 = 64·64, 1031 prime (Bluestein with a nested 2048)
        for (const N of [2310, 4096, 1031]) {
          const xr = rand([N]), xi = rand([N]);
          const a = values(xr), b = values(xi);
          const wr: number[] = [], wi: number[] = [];
          for (let k = 0; k < N; k++) {
            let sr = 0, si = 0;
            for (let n = 0; n < N; n++) {
              const t = (-2 * Math.PI * ((k * n) % N)) / N, c = Math.cos(t), s = Math.sin(t);
              sr += a[n]! * c - b[n]! * s;
              si += a[n]! * s + b[n]! * c;
            }
            wr.push(sr);
            wi.push(si);
          }
          const big = Math.max(...wr.map(Math.abs), ...wi.map(Math.abs));
          const X = tr.fft.fft(tr.complex(xr, xi));
          assertClose(values(X.real), wr, { rtol: 0, atol: 1e-11 * big, msg: `fft n=${N} float64 real` });
          assertClose(values(X.imag), wi, { rtol: 0, atol: 1e-11 * big, msg: `fft n=${N} float64 imag` });
          // float32: error relative to the spectrum's scale stays at a few ulps times log n
          const Y = tr.fft.fft(tr.complex(tr.astype(xr, "float32"), tr.astype(xi, "float32")));
          assertClose(values(Y.real), wr, { rtol: 0, atol: 1e-6 * big, msg: `fft n=${N} float32 real` });
          assertClose(values(Y.imag), wi, { rtol: 0, atol: 1e-6 * big, msg: `fft n=${N} float32 imag` });
        }
      }));

    test("fftfreq, rfftfreq, fftshift, ifftshift", () =>
      withBackend(backend, () => {
        for (const f of FIX.freqs) {
          assertClose(values(tr.fft.fftfreq(f.n, { d: f.d, dtype: "float64" })), f.fftfreq, { rtol: 1e-12, atol: 0 });
          assertClose(values(tr.fft.rfftfreq(f.n, { d: f.d, dtype: "float64" })), f.rfftfreq, { rtol: 1e-12, atol: 0 });
          assert.equal(tr.fft.fftfreq(f.n, { d: f.d }).dtype, "float32");
        }
        for (const s of FIX.shifts) {
          const x = tr.reshape(tr.arange(s.shape.reduce((a, b) => a * b, 1), undefined, 1, "float32"), s.shape);
          assert.deepEqual(values(tr.fft.fftshift(x, { axes: s.axes })), s.fftshift);
          assert.deepEqual(values(tr.fft.ifftshift(x, { axes: s.axes })), s.ifftshift);
          const z = tr.fft.fftshift(tr.complex(x, tr.neg(x)), { axes: s.axes });
          assert.deepEqual(values(z.real), s.fftshift);
          assert.deepEqual(values(z.imag), s.fftshift.map((v) => -v));
        }
      }));

    test("complex helpers: real, imag, conj, abs, angle against closed forms", () =>
      withBackend(backend, () => {
        const re = tr.tensor([3, -1, 0, -2], { dtype: "float64" }), im = tr.tensor([4, 0, -2, -2], { dtype: "float64" });
        const z = tr.complex(re, im);
        assert.deepEqual(values(tr.real(z)), [3, -1, 0, -2]);
        assert.deepEqual(values(tr.imag(z)), [4, 0, -2, -2]);
        assert.deepEqual(values(tr.imag(re)), [0, 0, 0, 0]);
        assert.deepEqual(values((tr.conj(z) as tr.fft.Complex).imag), [-4, -0, 2, 2]);
        assertClose(values(tr.complexAbs(z)), [5, 1, 2, Math.sqrt(8)], { rtol: 1e-14 });
        assertClose(values(tr.angle(z)), [Math.atan2(4, 3), Math.PI, -Math.PI / 2, (-3 * Math.PI) / 4], { rtol: 1e-14 });
        assertClose(values(tr.angle(re)), [0, Math.PI, 0, Math.PI], { rtol: 1e-14 });
      }));

    test("gradients of real losses against float64 finite differences", () =>
      withBackend(backend, () => {
        const rand = randomTensors(5);
        const w = rand([2, 12]);
        // weighted power spectrum, through a composite (Cooley–Tukey) length and a padded one
        const power = (x: tr.Tensor, opts: tr.fft.FftOpts) => {
          const X = tr.fft.fft(x, opts);
          return tr.sum(tr.mul(tr.add(tr.square(X.real), tr.square(X.imag)), w));
        };
        for (const [shape, opts] of [[[2, 12], {}], [[2, 9], { n: 12, norm: "ortho" }], [[2, 15], { n: 12 }]] as const) {
          const x = rand([...shape]);
          const g = tr.grad((u: tr.Tensor) => power(u, opts))(x);
          assertClose(values(g), fdGrad((u) => power(u, opts), x), { rtol: 1e-6, atol: 1e-7, msg: `|fft|² ${JSON.stringify(opts)}` });
        }
        // complex input: gradient with respect to both parts (a pytree argument)
        const zr = rand([70]), zi = rand([70]), v = rand([70]);
        const cl = (a: tr.Tensor, b: tr.Tensor) => {
          const X = tr.fft.ifft(tr.complex(a, b), { norm: "forward" });
          return tr.sum(tr.mul(tr.sub(tr.mul(X.real, v), X.imag), tr.sin(X.real)));
        };
        const gz = tr.grad((z: tr.fft.Complex) => cl(z.real, z.imag))({ real: zr, imag: zi });
        assertClose(values(gz.real), fdGrad((a) => cl(a, zi), zr), { rtol: 1e-6, atol: 1e-7, msg: "complex ifft d/dre (70 = 7·10)" });
        assertClose(values(gz.imag), fdGrad((b) => cl(zr, b), zi), { rtol: 1e-6, atol: 1e-7, msg: "complex ifft d/dim" });
        // irfft(rfft(x)) and an n-D real round trip with a nonlinear loss
        const x = rand([3, 10]), u = rand([3, 10]);
        const rt = (t: tr.Tensor) => tr.sum(tr.mul(tr.fft.irfft(tr.fft.rfft(tr.mul(t, t), { n: 10 }), { n: 10 }), u));
        assertClose(values(tr.grad(rt)(x)), fdGrad(rt, x), { rtol: 1e-6, atol: 1e-7, msg: "irfft(rfft(x²))" });
        const y = rand([4, 5]), q = rand([4, 3]);
        const nd = (t: tr.Tensor) => {
          const X = tr.fft.rfft2(t);
          return tr.add(tr.sum(tr.mul(X.imag, q)), tr.sum(tr.square(tr.fft.irfft2(X, { s: [4, 5] }))));
        };
        assertClose(values(tr.grad(nd)(y)), fdGrad(nd, y), { rtol: 1e-6, atol: 1e-7, msg: "rfft2 / irfft2" });
        const h = rand([6]), hv = rand([10]);
        const hl = (t: tr.Tensor) => tr.sum(tr.mul(tr.fft.hfft(tr.fft.ihfft(t, { n: 10 }), { n: 10 }), hv));
        assertClose(values(tr.grad(hl)(h)), fdGrad(hl, h), { rtol: 1e-6, atol: 1e-7, msg: "hfft(ihfft)" });
        // Bluestein length (prime > 512)
        const b = rand([521]), bw = rand([521]);
        const bl = (t: tr.Tensor) => tr.sum(tr.mul(tr.fft.fft(t).imag, bw));
        const gb = values(tr.grad(bl)(b));
        // d/dx_n Σ_k w_k Im X_k = Σ_k w_k · (−sin(2πkn/N)): a closed form
        const bwv = values(bw);
        const want = gb.map((_, n) => bwv.reduce((s, wk, k) => s - wk * Math.sin((2 * Math.PI * ((k * n) % 521)) / 521), 0));
        assertClose(gb, want, { rtol: 1e-8, atol: 1e-9, msg: "Bluestein gradient" });
      }));

    test("vmap matches a loop and jit matches eager", () =>
      withBackend(backend, () => {
        const rand = randomTensors(9);
        for (const dtype of ["float64", "float32"] as const) {
          const xs = rand([3, 4, 96], dtype);
          const f = (x: tr.Tensor) => {
            const X = tr.fft.fft(x, { n: 100 });
            return tr.add(tr.fft.irfftn(X, { axes: [0, 1], s: [4, 7] }), tr.fft.fftshift(tr.fft.rfft2(x).real).sum());
          };
          const batched = tr.vmap(f)(xs);
          const looped = tr.stack([0, 1, 2].map((i) => f(tr.reshape(tr.slice(xs, [[i, i + 1]]), [4, 96]))), 0);
          const tol = dtype === "float64" ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-4, atol: 1e-4 };
          assertClose(values(batched), values(looped), { ...tol, msg: `vmap ${dtype}` });
          const g = (x: tr.Tensor) => {
            const Z = tr.fft.fftn(tr.complex(x, tr.cos(x)), { axes: [0, 2], norm: "ortho" });
            return [Z.real, tr.fft.ifft2(Z).imag];
          };
          const eager = g(xs), jitted = tr.jit(g)(xs) as tr.Tensor[];
          eager.forEach((e, i) => assertClose(values(jitted[i]!), values(e), { ...tol, msg: `jit ${dtype} output ${i}` }));
          // a Complex in and out of vmap (a pytree of two leaves), batched on axis 1
          const zr = rand([5, 3, 17], dtype), zi = rand([5, 3, 17], dtype);
          const h = (z: tr.fft.Complex) => tr.fft.ifft(tr.fft.fftshift(z), { n: 20, norm: "ortho" });
          const vz = tr.vmap(h, { inAxes: 1 })({ real: zr, imag: zi }) as tr.fft.Complex;
          for (let i = 0; i < 3; i++) {
            const pick = (t: tr.Tensor) => tr.reshape(tr.slice(t, [null, [i, i + 1]]), [5, 17]);
            const one = h({ real: pick(zr), imag: pick(zi) });
            assertClose(values(tr.reshape(tr.slice(vz.real, [[i, i + 1]]), [5, 20])), values(one.real), { ...tol, msg: `vmap Complex ${dtype} real ${i}` });
            assertClose(values(tr.reshape(tr.slice(vz.imag, [[i, i + 1]]), [5, 20])), values(one.imag), { ...tol, msg: `vmap Complex ${dtype} imag ${i}` });
          }
          // jit of grad equals eager grad
          const loss = (x: tr.Tensor) => tr.sum(tr.square(tr.fft.rfftn(x, { axes: [0, 2], s: [3, 64] }).imag));
          assertClose(values(tr.jit(tr.grad(loss))(xs)), values(tr.grad(loss)(xs)), { ...tol, msg: `jit(grad) ${dtype}` });
        }
      }));

    test("bad input gives a TridentError naming the op and argument", () =>
      withBackend(backend, () => {
        const x = tr.ones([4, 5]);
        const err = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => e instanceof tr.TridentError && re.test(e.message));
        err(() => tr.fft.fft(x, { axis: 2 }), /^fft: axis 2 is out of range for a tensor of rank 2/);
        err(() => tr.fft.rfft(x, { axis: -3 }), /^rfft: axis -3/);
        err(() => tr.fft.fftn(x, { axes: [0, 5] }), /^fftn: axes entry 5/);
        err(() => tr.fft.fft(x, { n: 0 }), /^fft: n must be a positive integer, got 0/);
        err(() => tr.fft.ifft(x, { n: 2.5 }), /^ifft: n must be a positive integer/);
        err(() => tr.fft.irfft(tr.ones([1])), /^irfft: the output length/);
        err(() => tr.fft.fft2(x, { s: [3, 0] }), /^fft2: s entry must be a positive integer, got 0/);
        err(() => tr.fft.fftn(x, { s: [2, 2], axes: [0] }), /^fftn: s and axes must have one length/);
        err(() => tr.fft.fft(tr.ones([4], "int32")), /^fft: expected a floating-point tensor.*int32/);
        err(() => tr.fft.rfft(tr.ones([4], "int32")), /^rfft: expected a floating-point tensor/);
        err(() => tr.fft.fft(x, { norm: "none" as tr.fft.Norm }), /^fft: norm must be/);
        err(() => tr.fft.fft({ real: tr.ones([3]), imag: tr.ones([4]) }), /^fft: real and imaginary parts must have one shape, got real \[3\] and imag \[4\]/);
        err(() => tr.fft.fft({ real: tr.ones([3]), imag: tr.ones([3], "float64") }), /^fft: real and imaginary parts must have one dtype/);
        err(() => tr.fft.rfft(tr.complex(x) as unknown as tr.Tensor), /^rfft: expected a real tensor, got a Complex/);
        err(() => tr.fft.fftfreq(0), /^fftfreq: n must be a positive integer/);
        err(() => tr.fft.rfftfreq(4, { d: 0 }), /^rfftfreq: d must be a finite non-zero number/);
        err(() => tr.complex(tr.ones([2], "int32")), /^complex: the real part must be floating point/);
        err(() => tr.fft.fft(tr.ones([2, 0])), /^fft: axis 1 has length 0/);
        err(() => tr.fft.rfft2(tr.ones([0, 3])), /^rfft2: axis 0 has length 0/);
      }));
  });
}

/** Central differences in float64, element by element. */
function fdGrad(f: (x: tr.Tensor) => tr.Tensor, x: tr.Tensor, eps = 1e-6): number[] {
  const base = values(x);
  return base.map((_, i) => {
    const at = (d: number) => {
      const v = [...base];
      v[i]! += d;
      return f(tr.fromTypedArray(Float64Array.from(v), x.shape, "float64")).item();
    };
    return (at(eps) - at(-eps)) / (2 * eps);
  });
}
