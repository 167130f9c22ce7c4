import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, assertClose, fdGrad, values, withBackend } from "../helpers.js";

type T = tr.Tensor;
const f64 = (data: tr.NestedNumbers[] | number) => tr.tensor(data, { dtype: "float64" });
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Identity forward; the backward pass clips the incoming cotangent to [-1, 1]. */
const clipGradient = tr.customVjp(
  (x: T) => x,
  (x: T) => [x, null],
  (_res: null, g: T) => [g.clip(-1, 1)],
);

/** log(1 + e^x): the naive gradient e^x / (1 + e^x) is NaN for large x; the custom one is sigmoid(x). */
const naiveLog1pexp = (x: T) => x.exp().log1p();
const log1pexp = tr.customVjp(
  naiveLog1pexp,
  (x: T) => [naiveLog1pexp(x), x],
  (x: T, g: T) => [g.mul(x.sigmoid())],
);

for (const backend of BACKENDS) {
  describe(`customVjp [${backend}]`, () => {
    const scales = [5, -0.5, 0.25, -3];
    const clipLoss = (x: T) => clipGradient(x).mul(tr.tensor(scales)).sum();

    test("a clipped-gradient identity: forward unchanged, cotangent clipped", () =>
      withBackend(backend, () => {
        const x = tr.tensor([1, 2, 3, 4]);
        assert.deepEqual(values(clipGradient(x)), [1, 2, 3, 4]);
        const expected = scales.map((s) => Math.min(1, Math.max(-1, s)));
        assertClose(values(tr.grad(clipLoss)(x) as T), expected);
        assertClose(values(tr.jit(tr.grad(clipLoss))(x) as T), expected);
        const rows = tr.tensor([[1, 2, 3, 4], [5, 6, 7, 8]]);
        assertClose(values(tr.vmap(tr.grad(clipLoss))(rows) as T), [...expected, ...expected]);
        // grad through a vmapped custom function: per-example cotangents are clipped independently
        const gv = tr.grad((r: T) => (tr.vmap(clipGradient)(r) as T).mul(tr.tensor([[5, -0.5], [0.3, -2]])).sum())(tr.tensor([[1, 2], [3, 4]])) as T;
        assertClose(values(gv), [1, -0.5, 0.3, -1]);
        const w = tr.tensor([1, 2, 3, 4], { requiresGrad: true });
        clipLoss(w).backward();
        assertClose(values(w.grad!), expected);
      }));

    test("a numerically stable log1pexp whose bwd is the sigmoid", () =>
      withBackend(backend, () => {
        const xs = [-3, 0, 2.5, 100];
        const loss = (x: T) => log1pexp(x).sum();
        const expected = xs.map(sigmoid);
        assertClose(values(tr.grad(loss)(tr.tensor(xs)) as T), expected);
        // the naive rule overflows at x = 100; the custom rule is what grad used
        assert.ok(Number.isNaN(values(tr.grad((x: T) => naiveLog1pexp(x).sum())(tr.tensor(xs)) as T)[3]!));
        assertClose(values(tr.jit(tr.grad(loss))(tr.tensor(xs)) as T), expected);
        assertClose(values(tr.vmap(tr.grad(loss))(tr.tensor([xs, xs.map((v) => -v)])) as T), [...expected, ...xs.map((v) => sigmoid(-v))]);
        assertClose(values(tr.vmap(tr.grad((v: T) => log1pexp(v)))(tr.tensor(xs)) as T), expected);
        const w = tr.tensor(xs, { requiresGrad: true });
        loss(w.mul(2)).backward();
        assertClose(values(w.grad!), xs.map((v) => 2 * sigmoid(2 * v)));
        // composes with the rest of the program under grad
        const x = f64([0.3, -1.1]);
        const chain = (x: T) => log1pexp(x.sin()).mul(x).sum();
        assertClose(values(tr.grad(chain)(x) as T), fdGrad(chain, x), { rtol: 1e-6 });
      }));

    test("pytree arguments, residuals, and null cotangents", () =>
      withBackend(backend, () => {
        const f = tr.customVjp(
          (p: { a: T; b: T }, k: T) => p.a.mul(p.b).add(k),
          (p: { a: T; b: T }, k: T) => [p.a.mul(p.b).add(k), { a: p.a, b: p.b }],
          (r: { a: T; b: T }, g: T) => [{ a: g.mul(r.b), b: null }, null],
        );
        const [gp, gk] = tr.grad((p: { a: T; b: T }, k: T) => f(p, k).sum(), { argnums: [0, 1] })({ a: tr.tensor([1, 2]), b: tr.tensor([3, 4]) }, tr.tensor([0, 0])) as [{ a: T; b: T }, T];
        assert.deepEqual(values(gp.a), [3, 4]);
        assert.deepEqual(values(gp.b), [0, 0]);
        assert.deepEqual(values(gk), [0, 0]);
      }));

    test("forward mode, closures over differentiated values, and malformed rules raise clear errors", () =>
      withBackend(backend, () => {
        const x = tr.tensor([1, 2]);
        assert.throws(() => tr.jvp(log1pexp, [x], [tr.onesLike(x)]), /customVjp: .* reverse-mode rule .* forward-mode .* not supported/);
        assert.throws(() => tr.grad((w: T) => tr.customVjp((y: T) => y.mul(w), (y: T) => [y.mul(w), y], (_r: T, g: T) => [g])(x).sum())(tr.tensor(2)), /customVjp: the function closes over a value f32\[\] that is being differentiated/);
        const bad = tr.customVjp((y: T) => y, (y: T) => [y, null], (_r: null, g: T) => [g, g]);
        assert.throws(() => tr.grad((y: T) => bad(y).sum())(x), /customVjp: bwd must return an array with one cotangent per argument \(1\), got 2 entries/);
        const badFwd = tr.customVjp((y: T) => y, (y: T) => [y.sum(), null], (_r: null, g: T) => [g]);
        assert.throws(() => tr.grad((y: T) => badFwd(y).sum())(x), /customVjp: fwd's output leaf 0 is f32\[\] but f returns f32\[2\]/);
      }));
  });

  describe(`customJvp [${backend}]`, () => {
    const softplus = tr.customJvp(
      naiveLog1pexp,
      ([x]: [T], [t]: [T]) => [naiveLog1pexp(x), t.mul(x.sigmoid())],
    );

    test("jvp uses the rule; grad transposes it", () =>
      withBackend(backend, () => {
        const xs = [-3, 0, 2.5, 100];
        const x = tr.tensor(xs);
        const [y, dy] = tr.jvp(softplus, [x], [tr.tensor([1, 2, 3, 4])]) as [T, T];
        assertClose(values(y).slice(0, 3), xs.slice(0, 3).map((v) => Math.log1p(Math.exp(v))));
        assertClose(values(dy), xs.map((v, i) => (i + 1) * sigmoid(v)));
        assertClose(values(tr.grad((v: T) => softplus(v).sum())(x) as T), xs.map(sigmoid));
        assertClose(values(tr.jit(tr.grad((v: T) => softplus(v).sum()))(x) as T), xs.map(sigmoid));
        const w = tr.tensor(xs, { requiresGrad: true });
        softplus(w).sum().backward();
        assertClose(values(w.grad!), xs.map(sigmoid));
      }));

    test("several arguments, vmap and a rule that differs from autodiff", () =>
      withBackend(backend, () => {
        // a deliberately "wrong" rule proves the rule, not f, is differentiated
        const f = tr.customJvp(
          (a: T, b: T) => a.mul(b),
          ([a, b]: [T, T], [ta, tb]: [T, T]) => [a.mul(b), ta.mul(b).mul(2).add(a.mul(tb))],
        );
        const [ga, gb] = tr.grad((a: T, b: T) => f(a, b).sum(), { argnums: [0, 1] })(tr.tensor([1, 2]), tr.tensor([3, 4])) as T[];
        assert.deepEqual(values(ga!), [6, 8]);
        assert.deepEqual(values(gb!), [1, 2]);
        const rows = tr.tensor([[1, 2], [3, 4]]);
        assert.deepEqual(values(tr.vmap((r: T) => f(r, tr.tensor([2, 5])))(rows) as T), [2, 10, 6, 20]);
        const per = tr.vmap(tr.grad((r: T) => f(r, tr.tensor([2, 5])).sum()))(rows) as T;
        assert.deepEqual(values(per), [4, 10, 4, 10]);
        const [, t] = tr.jvp((r: T) => tr.vmap((v: T) => f(v, v))(r), [rows], [tr.onesLike(rows)]) as [T, T];
        assert.deepEqual(values(t), [3, 6, 9, 12]);
      }));
  });

  describe(`checkpoint [${backend}]`, () => {
    const block = (x: T) => x.sin().mul(x).exp().sum();

    test("gives the same gradient as f, also for closed-over values", () =>
      withBackend(backend, () => {
        const x = f64([0.3, -0.8, 1.2]);
        assertClose(values(tr.grad(tr.checkpoint(block))(x) as T), values(tr.grad(block)(x) as T), { rtol: 1e-12 });
        assertClose(values(tr.grad(tr.checkpoint(block))(x) as T), fdGrad(block, x), { rtol: 1e-6 });
        const withW = (w: T) => tr.checkpoint((v: T) => v.mul(w).tanh().sum())(x);
        const w = f64([0.5, 2, -1]);
        assertClose(values(tr.grad(withW)(w) as T), fdGrad(withW, w), { rtol: 1e-6 });
        assertClose(values(tr.vmap(tr.grad(tr.checkpoint(block)))(tr.stack([x, x.neg()])) as T), [...values(tr.grad(block)(x) as T), ...values(tr.grad(block)(x.neg()) as T)], { rtol: 1e-12 });
        const xt = f64([0.3, -0.8, 1.2]).requiresGrad_();
        tr.checkpoint(block)(xt).backward();
        assertClose(values(xt.grad!), values(tr.grad(block)(x) as T), { rtol: 1e-12 });
      }));

    test("the backward pass recomputes the forward (visible in the jaxpr)", () =>
      withBackend(backend, () => {
        const x = tr.tensor([0.3, -0.8]);
        const count = (s: string, op: string) => s.split("\n").filter((l) => l.includes(`= ${op} `)).length;
        const plain = tr.makeJaxpr(tr.grad(block))(x).toString();
        const remat = tr.makeJaxpr(tr.grad(tr.checkpoint(block)))(x).toString();
        assert.equal(count(plain, "sin"), 1);
        assert.equal(count(remat, "sin"), 2);
        assert.equal(count(remat, "exp"), 2);
        // under jit alone the checkpointed call is a single staged primitive
        assert.match(tr.makeJaxpr(tr.checkpoint(block))(x).toString(), /custom_vjp_call\[name=checkpoint\]/);
      }));
  });
}
