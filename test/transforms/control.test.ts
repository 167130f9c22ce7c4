import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, assertClose, fdGrad, values, withBackend } from "../helpers.js";

const { lax } = tr;
type T = tr.Tensor;
const f64 = (data: tr.NestedNumbers[] | number) => tr.tensor(data, { dtype: "float64" });

/** h_{t+1} = tanh(W h_t + x_t) as a plain JS loop (row-major W). */
function rnnJs(W: number[], h0: number[], xs: number[][]): { h: number[]; hs: number[][] } {
  const n = h0.length;
  let h = h0;
  const hs: number[][] = [];
  for (const x of xs) {
    h = h.map((_, i) => Math.tanh(h.reduce((s, hj, j) => s + W[i * n + j]! * hj, 0) + x[i]!));
    hs.push(h);
  }
  return { h, hs };
}

/** W h for a square W as broadcast-multiply-and-sum (no matmul needed). */
const matvec = (W: T, h: T) => W.mul(h.reshape([1, h.shape[0]!])).sum({ axis: 1 });
const rnn = (W: T, h0: T, xs: T) => lax.scan((h: T, x: T) => {
  const n = matvec(W, h).add(x).tanh();
  return [n, n];
}, h0, xs) as [T, T];

for (const backend of BACKENDS) {
  describe(`lax.cond / lax.switch [${backend}]`, () => {
    const branchy = (x: T) => lax.cond(x.sum().greater(0), (a: T) => a.mul(a), (a: T) => a.sin(), x);

    test("forward takes the chosen branch (both directions)", () =>
      withBackend(backend, () => {
        assertClose(values(branchy(tr.tensor([1, 2, 3]))), [1, 4, 9]);
        assertClose(values(branchy(tr.tensor([-1, -2, 0.5]))), [-1, -2, 0.5].map(Math.sin));
        const r = lax.cond(false, (a: T, b: T) => ({ s: a.add(b), d: a.sub(b) }), (a: T, b: T) => ({ s: a.mul(b), d: b }), tr.tensor(3), tr.tensor(4));
        assert.deepEqual([r.s.item(), r.d.item()], [12, 4]);
      }));

    test("grad is the gradient of the branch taken", () =>
      withBackend(backend, () => {
        const g = (x: T) => tr.grad((y: T) => branchy(y).sum())(x) as T;
        assertClose(values(g(tr.tensor([1, 2, 3]))), [2, 4, 6]);
        assertClose(values(g(tr.tensor([-1, -2, 0.5]))), [-1, -2, 0.5].map(Math.cos));
        // gradient flows to values the branches close over as well as to operands
        const w = f64([0.3, -1.2]);
        const h = (w: T) => lax.cond(w.sum().less(0), (a: T) => a.mul(w).exp().sum(), (a: T) => a.sum(), f64([1.5, 2]));
        assertClose(values(tr.grad(h)(w) as T), fdGrad(h, w), { rtol: 1e-6 });
      }));

    test("vmap with a batched predicate selects per example", () =>
      withBackend(backend, () => {
        const xs = [-1.5, 2, -3, 0.25, 4];
        const f = (x: T) => lax.cond(x.greater(0), (a: T) => a.mul(2), (a: T) => a.neg().exp(), x);
        assertClose(values(tr.vmap(f)(tr.tensor(xs)) as T), xs.map((x) => (x > 0 ? 2 * x : Math.exp(-x))));
        // unbatched predicate, batched operand
        const g = tr.vmap((x: T, p: T) => lax.cond(p, (a: T) => a.add(1), (a: T) => a.sub(1), x), { inAxes: [0, null] });
        assertClose(values(g(tr.tensor([1, 2, 3]), tr.tensor(true)) as T), [2, 3, 4]);
        assertClose(values(g(tr.tensor([1, 2, 3]), tr.tensor(false)) as T), [0, 1, 2]);
        // per-example gradient of a batched cond
        const dg = tr.vmap(tr.grad((x: T) => lax.cond(x.greater(0), (a: T) => a.mul(a), (a: T) => a.mul(3), x)));
        assertClose(values(dg(tr.tensor(xs)) as T), xs.map((x) => (x > 0 ? 2 * x : 3)));
      }));

    test("jit matches eager and stages one cond", () =>
      withBackend(backend, () => {
        const jf = tr.jit(branchy);
        assertClose(values(jf(tr.tensor([1, 2, 3]))), [1, 4, 9]);
        assertClose(values(jf(tr.tensor([-1, -2, 0.5]))), [-1, -2, 0.5].map(Math.sin));
        assert.equal(jf.cacheSize, 1);
        assert.match(tr.makeJaxpr(branchy)(tr.tensor([1, 2])).toString(), /= cond\[branches=/);
        assertClose(values(tr.jit(tr.grad((x: T) => branchy(x).sum()))(tr.tensor([-1, -2, 0.5])) as T), [-1, -2, 0.5].map(Math.cos));
      }));

    test("switch clamps the index and differentiates the chosen branch", () =>
      withBackend(backend, () => {
        const fns = [(a: T) => a, (a: T) => a.sin(), (a: T) => a.cos()];
        const x = tr.tensor(0.7);
        assert.deepEqual([0, 1, 2, 9, -4].map((i) => lax.switch(i, fns, x).item()), [0.7, Math.sin(0.7), Math.cos(0.7), Math.cos(0.7), 0.7].map(Math.fround));
        assertClose([(tr.grad((y: T) => lax.switch(1, fns, y))(x) as T).item()], [Math.cos(0.7)]);
        const idx = tr.tensor([0, 1, 2, 5], { dtype: "int32" });
        const v = tr.vmap((i: T, a: T) => lax.switch(i, fns, a))(idx, tr.tensor([0.1, 0.2, 0.3, 0.4])) as T;
        assertClose(values(v), [0.1, Math.sin(0.2), Math.cos(0.3), Math.cos(0.4)]);
      }));

    test("mismatched branches and bad predicates raise clear errors", () =>
      withBackend(backend, () => {
        const x = tr.tensor([1, 2, 3]);
        assert.throws(() => lax.cond(true, (a: T) => a, (a: T) => a.slice([[0, 2]]), x), /cond: true branch returns f32\[3\] but false branch returns f32\[2\]/);
        assert.throws(() => lax.cond(true, (a: T) => [a, a], (a: T) => [a], x), /cond: true branch returns a tree/);
        assert.throws(() => lax.cond(tr.tensor([true, false]), (a: T) => a, (a: T) => a, x), /cond: pred must be a scalar bool, got bool\[2\]/);
        assert.throws(() => lax.cond(tr.tensor(1), (a: T) => a, (a: T) => a, x), /cond: pred must be a scalar bool, got f32\[\]/);
        assert.throws(() => lax.switch(tr.tensor(1.5), [(a: T) => a], x), /switch: index must be an integer scalar/);
        // a weak (JS number) output joins a strong one
        assert.equal(lax.cond(false, (a: T) => a.sum(), () => 0, x).dtype, "float32");
      }));
  });

  describe(`lax.whileLoop / lax.fori [${backend}]`, () => {
    const newtonSqrt = (a: T) => lax.whileLoop(
      ([, , n]) => n.less(30),
      ([a, x, n]) => [a, x.add(a.div(x)).mul(0.5), n.add(1)],
      [a, a.add(1), 0],
    )[1] as T;

    test("counts and iterates like a JS loop", () =>
      withBackend(backend, () => {
        const [i, s] = lax.whileLoop(([i]) => i.less(10), ([i, s]) => [i.add(1), s.add(i)], [0, 0]) as T[];
        assert.deepEqual([i!.item(), s!.item()], [10, 45]);
        assert.equal(i!.dtype, "int32");
        const a = f64([2, 9, 0.25]);
        assertClose(values(newtonSqrt(a)), [2, 9, 0.25].map(Math.sqrt), { rtol: 1e-12 });
        // a loop that never runs returns its initial value
        assert.equal((lax.whileLoop((c: T) => c.less(0), (c: T) => c.add(1), tr.tensor(5)) as T).item(), 5);
      }));

    test("jvp through the loop (the condition sees only primals)", () =>
      withBackend(backend, () => {
        const a = f64([2, 9, 0.25]);
        const [y, dy] = tr.jvp(newtonSqrt, [a], [tr.onesLike(a)]) as [T, T];
        assertClose(values(y), [2, 9, 0.25].map(Math.sqrt), { rtol: 1e-12 });
        assertClose(values(dy), [2, 9, 0.25].map((v) => 0.5 / Math.sqrt(v)), { rtol: 1e-9 });
        const cube = (x: T) => lax.whileLoop(([i]) => i.less(3), ([i, v]) => [i.add(1), v.mul(x)], [0, tr.onesLike(x)])[1] as T;
        const [, d] = tr.jvp(cube, [f64([1.5, -2])], [f64([1, 1])]) as [T, T];
        assertClose(values(d), [1.5, -2].map((x) => 3 * x * x));
      }));

    test("vmap with per-example trip counts", () =>
      withBackend(backend, () => {
        const xs = [1, 10, 60, 200, 0.5];
        const f = (x: T) => lax.whileLoop(([v]) => v.less(100), ([v, n]) => [v.mul(2), n.add(1)], [x, 0]);
        const [v, n] = tr.vmap(f)(tr.tensor(xs)) as T[];
        const js = xs.map((x) => {
          let n = 0;
          while (x < 100) [x, n] = [x * 2, n + 1];
          return [x, n];
        });
        assertClose(values(v!), js.map((r) => r[0]!));
        assert.deepEqual(values(n!), js.map((r) => r[1]!));
        // a batched bound with an unbatched counter: the trip count still differs per example
        const g = tr.vmap((lim: T) => lax.whileLoop(([i]) => i.less(lim), ([i, s]) => [i.add(1), s.add(i)], [0, 0])[1]);
        assert.deepEqual(values(g(tr.tensor([0, 1, 4, 6], { dtype: "int32" })) as T), [0, 0, 6, 15]);
      }));

    test("jit and grad: jit runs the loop, grad raises a clear error", () =>
      withBackend(backend, () => {
        assertClose(values(tr.jit(newtonSqrt)(tr.tensor([4, 16]))), [2, 4]);
        assert.throws(() => tr.grad((a: T) => newtonSqrt(a).sum())(tr.tensor([4, 16])), /whileLoop: reverse-mode differentiation .* not supported.*scan.*fori/s);
        const w = tr.tensor([4, 16], { requiresGrad: true });
        assert.throws(() => newtonSqrt(w).sum().backward(), /whileLoop: reverse-mode/);
        assert.throws(() => lax.whileLoop((c: T) => c, (c: T) => c.add(1), tr.tensor(1)), /whileLoop: condFn must return a scalar bool, got f32\[\]/);
        assert.throws(() => lax.whileLoop((c: T) => c.sum().less(3), (c: T) => c.sum(), tr.tensor([1, 2])), /whileLoop: carry output type f32\[\] differs from carry input f32\[2\]/);
      }));

    test("fori with static bounds is reverse-differentiable; tensor bounds use while", () =>
      withBackend(backend, () => {
        const pow = (n: number) => (x: T) => lax.fori(0, n, (_i, y) => y.mul(x), tr.onesLike(x)) as T;
        const x = f64([0.5, -1.5, 2]);
        for (const n of [0, 1, 4]) {
          assertClose(values(pow(n)(x)), [0.5, -1.5, 2].map((v) => v ** n));
          assertClose(values(tr.grad((y: T) => pow(n)(y).sum())(x) as T), [0.5, -1.5, 2].map((v) => n * v ** (n - 1)), { atol: 1e-12 });
        }
        // second derivative through the scan that fori lowers to: d2/dx2 x^3 = 6x
        assertClose([(tr.grad(tr.grad((y: T) => pow(3)(y)))(f64(1.25)) as T).item()], [7.5]);
        // the loop index: sum of i^2 for i in [2, 6)
        assert.equal((lax.fori(2, 6, (i, s) => s.add(i.mul(i)), 0) as T).item(), 4 + 9 + 16 + 25);
        const traced = tr.jit((n: T, v: T) => lax.fori(0, n, (_i, y) => y.mul(2), v));
        assert.equal(traced(tr.tensor(5, { dtype: "int32" }), tr.tensor(1)).item(), 32);
        assert.match(tr.makeJaxpr((n: T, v: T) => lax.fori(0, n, (_i, y) => y.mul(2), v))(tr.tensor(5, { dtype: "int32" }), tr.tensor(1)).toString(), /= while\[/);
      }));
  });

  describe(`lax.scan [${backend}]`, () => {
    test("cumulative sum and product against JS loops", () =>
      withBackend(backend, () => {
        const data = [1.5, -2, 3, 0.5, 4];
        const [total, sums] = lax.scan((c: T, x: T) => [c.add(x), c.add(x)], 0, tr.tensor(data)) as [T, T];
        const js: number[] = [];
        data.reduce((a, b) => (js.push(a + b), a + b), 0);
        assertClose(values(sums), js);
        assertClose([total.item()], [js.at(-1)!]);
        const [, prods] = lax.scan((c: T, x: T) => [c.mul(x), c.mul(x)], 1, tr.tensor(data)) as [T, T];
        const jp: number[] = [];
        data.reduce((a, b) => (jp.push(a * b), a * b), 1);
        assertClose(values(prods), jp);
        // xs = null with an explicit length, pytree carry and ys
        const [c, ys] = lax.scan((c: { a: T; b: T }) => [{ a: c.a.add(1), b: c.b.mul(2) }, [c.a, c.b]], { a: 0, b: 1 }, null, { length: 4 });
        assert.deepEqual([values(c.a as T), values(c.b as T)], [[4], [16]]);
        assert.deepEqual(values((ys as T[])[0]!), [0, 1, 2, 3]);
        assert.deepEqual(values((ys as T[])[1]!), [1, 2, 4, 8]);
        const [c0, y0] = lax.scan((c: T, x: T) => [c.add(x.sum()), x], tr.tensor(7), tr.zeros([0, 2]), { length: 0 }) as [T, T];
        assert.equal(c0.item(), 7);
        assert.deepEqual(y0.shape, [0, 2]);
      }));

    test("an RNN recurrence matches a JS loop, and its gradient matches finite differences", () =>
      withBackend(backend, () => {
        const Wv = [0.5, -0.3, 0.8, 0.1, 0.2, -0.6, -0.4, 0.7, 0.3];
        const h0v = [0.1, -0.2, 0.3];
        const xsv = [[0.5, -1, 0.2], [0.3, 0.3, -0.3], [-0.7, 0.1, 0.9], [0.2, -0.5, 0.4]];
        const W = tr.reshape(f64(Wv), [3, 3]), h0 = f64(h0v), xs = f64(xsv);
        const [h, hs] = rnn(W, h0, xs);
        const js = rnnJs(Wv, h0v, xsv);
        assertClose(values(h), js.h, { rtol: 1e-12 });
        assertClose(values(hs), js.hs.flat(), { rtol: 1e-12 });
        const loss = (W: T, h0: T, xs: T) => {
          const [h, hs] = rnn(W, h0, xs);
          return h.mul(h).sum().add(hs.sin().sum());
        };
        const [gW, gh, gx] = tr.grad(loss, { argnums: [0, 1, 2] })(W, h0, xs) as T[];
        assertClose(values(gW!), fdGrad((w) => loss(w, h0, xs), W), { rtol: 1e-6, atol: 1e-9 });
        assertClose(values(gh!), fdGrad((v) => loss(W, v, xs), h0), { rtol: 1e-6, atol: 1e-9 });
        assertClose(values(gx!), fdGrad((v) => loss(W, h0, v), xs), { rtol: 1e-6, atol: 1e-9 });
        // jit(grad) and grad(jit) agree with grad
        assertClose(values((tr.jit(tr.grad(loss)) as (...a: T[]) => T)(W, h0, xs)), values(gW!), { rtol: 1e-12 });
        assertClose(values(tr.grad(tr.jit(loss))(W, h0, xs) as T), values(gW!), { rtol: 1e-12 });
        // the eager tape goes through the same rules
        const Wt = tr.reshape(f64(Wv), [3, 3]).requiresGrad_();
        loss(Wt, h0, xs).backward();
        assertClose(values(Wt.grad!), values(gW!), { rtol: 1e-12 });
      }));

    test("reverse=true scans from the end, forward and backward", () =>
      withBackend(backend, () => {
        const data = [1, 2, 3, 4];
        const [, ys] = lax.scan((c: T, x: T) => [c.add(x), c.add(x)], 0, tr.tensor(data), { reverse: true }) as [T, T];
        assertClose(values(ys), [10, 9, 7, 4]);
        const f = (x: T) => (lax.scan((c: T, v: T) => [c.mul(v).add(v.sin()), c], 0.5, x, { reverse: true })[0] as T);
        const x = f64([0.3, -0.8, 1.1, 0.6]);
        assertClose(values(tr.grad(f)(x) as T), fdGrad(f, x), { rtol: 1e-6 });
        const [, dy] = tr.jvp(f, [x], [f64([1, 0, -1, 2])]) as [T, T];
        const fd = fdGrad(f, x);
        assertClose([dy.item()], [fd[0]! - fd[2]! + 2 * fd[3]!], { rtol: 1e-6 });
      }));

    test("vmap(scan) matches a loop over examples, with xs batched on any axis", () =>
      withBackend(backend, () => {
        const rows = [[1, 2, 3], [4, -5, 6]];
        const f = (x: T) => lax.scan((c: T, v: T) => [c.add(v), c.mul(v)], 0.5, x)[1] as T;
        const perRow = rows.map((r) => values(f(tr.tensor(r))));
        assertClose(values(tr.vmap(f)(tr.tensor(rows)) as T), perRow.flat());
        const cols = [[1, 4], [2, -5], [3, 6]];
        assertClose(values(tr.vmap(f, { inAxes: 1 })(tr.tensor(cols)) as T), perRow.flat());
        // batched consts only: the carry becomes batched on the second trace
        const g = tr.vmap((w: T) => lax.scan((c: T, v: T) => [c.mul(w).add(v), c], 1, tr.tensor([1, 2, 3]))[0]);
        const js = [0.5, 2].map((w) => [1, 2, 3].reduce((c, v) => c * w + v, 1));
        assertClose(values(g(tr.tensor([0.5, 2])) as T), js);
        // per-example gradients of an RNN
        const Wv = [0.5, -0.3, 0.8, 0.1, 0.2, -0.6, -0.4, 0.7, 0.3];
        const W = tr.reshape(f64(Wv), [3, 3]);
        const xb = f64([[[0.5, -1, 0.2], [0.3, 0.3, -0.3]], [[-0.7, 0.1, 0.9], [0.2, -0.5, 0.4]]]);
        const loss = (W: T, xs: T) => rnn(W, f64([0, 0, 0]), xs)[0].sum();
        const per = tr.vmap(tr.grad(loss), { inAxes: [null, 0] })(W, xb) as T;
        const loop = [0, 1].map((b) => values(tr.grad(loss)(W, tr.reshape(tr.slice(xb, [[b, b + 1]]), [2, 3])) as T)).flat();
        assertClose(values(per), loop, { rtol: 1e-12 });
      }));

    test("composes with nested control flow under grad", () =>
      withBackend(backend, () => {
        const f = (x: T) => (lax.scan((c: T, v: T) => {
          const n = lax.cond(v.greater(0), (a: T, b: T) => a.mul(b).sin(), (a: T, b: T) => a.add(b).tanh(), c, v);
          return [n, n.mul(v)];
        }, 0.5, x)[1] as T).sum();
        const x = f64([0.3, -0.7, 1.2, -0.1]);
        assertClose(values(tr.grad(f)(x) as T), fdGrad(f, x), { rtol: 1e-6 });
        // second order: the transposed scans are themselves differentiated
        const g = (x: T) => (lax.scan((c: T, v: T) => {
          const n = c.mul(v).add(v.sin()).tanh();
          return [n, n.mul(n)];
        }, 0.3, x)[1] as T).sum();
        const H = tr.hessian(g)(x) as T;
        const rows = values(x).map((_, i) => fdGrad((y) => (tr.grad(g)(y) as T).slice([[i, i + 1]]).sum(), x));
        assertClose(values(H), rows.flat(), { rtol: 1e-6, atol: 1e-9 });
        const inner = (x: T) => lax.cond(x.sum().greater(0), (a: T) => lax.scan((c: T, v: T) => [c.mul(v), null], 1, a)[0] as T, (a: T) => a.sum(), x);
        assertClose(values(tr.grad(inner)(tr.tensor([1, 2, 3])) as T), [6, 3, 2]);
      }));

    test("type errors name the op and the types", () =>
      withBackend(backend, () => {
        assert.throws(() => lax.scan((c: T, x: T) => [c.slice([[0, 2]]), x], tr.tensor([1, 2, 3]), tr.ones([2, 2])), /scan: carry output type f32\[2\] differs from carry input f32\[3\]/);
        assert.throws(() => lax.scan((c: T, x: T[]) => [c, x[0]!], tr.tensor(0), [tr.ones([2]), tr.ones([3])]), /scan: xs leaf 1 has leading axis 3 but xs leaf 0 has 2/);
        assert.throws(() => lax.scan((c: T) => [c, c], tr.tensor(0), null), /scan: with no xs, pass \{ length \}/);
        assert.throws(() => lax.scan((c: T) => [c.astype("float64"), c], tr.tensor(0), null, { length: 2 }), /scan: carry output type f64\[\] differs from carry input f32\[\]/);
      }));

    test("eager scans free their per-step intermediates", () =>
      withBackend(backend, () => {
        const xs = tr.ones([50, 4]);
        const before = tr.memory().numTensors;
        const [c, ys] = lax.scan((c: T, x: T) => [c.add(x).mul(0.5), c.sin()], tr.zeros([4]), xs) as [T, T];
        assert.deepEqual(ys.shape, [50, 4]);
        c.dispose();
        ys.dispose();
        // a few cached constants may be created, never one per step
        assert.ok(tr.memory().numTensors - before < 10, `leaked ${tr.memory().numTensors - before} tensors`);
      }));
  });
}
