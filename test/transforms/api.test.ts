// The public transformation API against closed forms and against each other: hessian, per-example
// gradients, jacfwd/jacrev, linearize, argnums/hasAux, pytrees, jvp of compositions, makeJaxpr, jit
// caching, and eager backward() against grad.
import * as tr from "../../src/index.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";
import { pad as padPrim } from "../../src/core/prims/structural.js";

type T = tr.Tensor;
const f64 = (data: tr.NestedNumbers[] | number) => tr.tensor(data, { dtype: "float64" });
const TIGHT = { rtol: 1e-12, atol: 1e-12 };

/** x @ w without the linalg module: broadcast and reduce. */
const mm = (x: T, w: T): T => tr.sum(tr.mul(tr.expandDims(x, -1), tr.expandDims(w, 0)), { axis: 1 });

for (const backend of BACKENDS) {
  const it = (name: string, fn: () => void | Promise<void>) => test(name, () => withBackend(backend, fn));

  describe(`transforms API (${backend})`, () => {
    describe("hessian", () => {
      it("of sum(x^3) + x0*x1 is diag(6x) plus 1 at (0,1) and (1,0)", () => {
        const xs = [0.5, -1.25, 2, 0.75];
        const f = (x: T) => tr.add(tr.sum(tr.mul(tr.mul(x, x), x)), tr.mul(tr.slice(x, [0]), tr.slice(x, [1])));
        const h = tr.hessian(f)(f64(xs)) as T;
        assert.deepEqual(h.shape, [4, 4]);
        const want = xs.flatMap((xi, i) => xs.map((_, j) => (i === j ? 6 * xi : (i === 0 && j === 1) || (i === 1 && j === 0) ? 1 : 0)));
        assertClose(values(h), want, TIGHT);
      });
      it("of a quadratic form xᵀAx is A + Aᵀ", () => {
        const a = [[1, 2, 0], [-1, 3, 4], [0.5, 0, -2]];
        const A = f64(a);
        const f = (x: T) => tr.sum(tr.mul(x, tr.sum(tr.mul(A, tr.expandDims(x, 0)), { axis: 1 })));
        const h = tr.hessian(f)(f64([0.3, -0.7, 1.1])) as T;
        assertClose(values(h), a.flatMap((row, i) => row.map((v, j) => v + a[j]![i]!)), TIGHT);
      });
    });

    describe("jacobians", () => {
      // f: R^3 -> R^3 with a non-symmetric Jacobian, so a transposed result cannot pass
      const f = (x: T) => tr.stack([tr.sum(tr.sin(x)), tr.prod(x), tr.mul(tr.slice(x, [0]), 3)]);
      const xs = [0.5, -1, 2];
      const closed = [
        xs.map(Math.cos),
        xs.map((_, i) => xs.reduce((p, v, j) => (j === i ? p : p * v), 1)),
        [3, 0, 0],
      ].flat();
      it("jacrev matches the closed form (rows are outputs)", () => {
        assertClose(values(tr.jacrev(f)(f64(xs)) as T), closed, TIGHT);
      });
      it("jacfwd matches the closed form (rows are outputs)", () => {
        assertClose(values(tr.jacfwd(f)(f64(xs)) as T), closed, TIGHT);
      });
      it("jacfwd equals jacrev for a matrix-valued function of a matrix", () => {
        const g = (x: T) => tr.tanh(tr.mul(tr.cumsum(x, { axis: 1 }), tr.transpose(tr.exp(x))));
        const x = f64([[0.1, -0.4], [0.7, 0.2]]);
        const jf = tr.jacfwd(g)(x) as T, jr = tr.jacrev(g)(x) as T;
        assert.deepEqual(jf.shape, [2, 2, 2, 2]);
        assert.deepEqual(jr.shape, [2, 2, 2, 2]);
        assertClose(values(jf), values(jr), TIGHT);
      });
    });

    describe("vmap", () => {
      it("per-example gradients equal a loop of grad", () => {
        const loss = (w: T, x: T, y: T) => {
          const pred = tr.tanh(tr.sum(tr.mul(w, tr.expandDims(x, -1)), { axis: 0 }));
          return tr.sum(tr.square(tr.sub(pred, y)));
        };
        const w = f64([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [0.2, 0.1, -0.3]]);
        const xs = f64([[1, 2, -1, 0.5], [0.3, -0.2, 0.1, 2], [-1, 0, 1, 1], [0.5, 0.5, -0.5, -2], [2, -1, 0, 0.1]]);
        const ys = f64([[0.2, -0.1, 0.4], [1, 0, -1], [0.3, 0.3, 0.3], [-0.5, 0.2, 0], [0, 0, 1]]);
        const per = tr.vmap(tr.grad(loss), { inAxes: [null, 0, 0] })(w, xs, ys) as T;
        assert.deepEqual(per.shape, [5, 4, 3]);
        const loop = [0, 1, 2, 3, 4].map((i) => tr.grad(loss)(w, tr.slice(xs, [i]), tr.slice(ys, [i])) as T);
        assertClose(values(per), loop.flatMap(values), TIGHT);
      });
      it("outAxes -1 puts the mapped axis last", () => {
        const x = f64([[1, 2, 3], [4, 5, 6]]);
        const y = tr.vmap((r: T) => tr.stack([r, tr.mul(r, 10)]), { outAxes: -1 })(x) as T;
        // per example: [2, 3]; mapped over 2 examples, placed last → [2, 3, 2]
        assert.deepEqual(y.shape, [2, 3, 2]);
        const want: number[] = [];
        for (let k = 0; k < 2; k++) for (let j = 0; j < 3; j++) for (let b = 0; b < 2; b++) want.push((b === 0 ? [1, 2, 3] : [4, 5, 6])[j]! * (k === 0 ? 1 : 10));
        assertClose(values(y), want, TIGHT);
      });
      it("maps over pytrees of inputs and outputs", () => {
        const f = (p: { a: T; b: [T, T] }) => ({ s: tr.add(p.a, p.b[0]), d: [tr.mul(p.b[1], 2)] });
        const a = f64([[1, 2], [3, 4]]), b0 = f64([[10, 20], [30, 40]]), b1 = f64([[5], [6]]);
        const out = tr.vmap(f, { inAxes: [{ a: 0, b: [1, 0] }] })({ a, b: [b0, b1] }) as { s: T; d: T[] };
        assertClose(values(out.s), [11, 32, 23, 44], TIGHT);
        assertClose(values(out.d[0]!), [10, 12], TIGHT);
      });
      it("null leaves in a pytree of inAxes leave those operands unbatched", () => {
        const f = (p: { a: T; b: [T, T] }) => ({ s: tr.add(p.a, p.b[0]), d: [tr.mul(p.b[1], 2)] });
        const a = f64([[1, 2], [3, 4]]), b0 = f64([10, 20]), b1 = f64([[5], [6]]);
        const out = tr.vmap(f, { inAxes: [{ a: 0, b: [null, 0] }] })({ a, b: [b0, b1] }) as { s: T; d: T[] };
        assertClose(values(out.s), [11, 22, 13, 24], TIGHT);
        assertClose(values(out.d[0]!), [10, 12], TIGHT);
      });
    });

    describe("forward mode and linearize", () => {
      it("jvp of exp(sin(x)) is cos(x) exp(sin(x)) t", () => {
        const xs = [0.3, -1.2, 2.5], ts = [1, -0.5, 2];
        const [y, dy] = tr.jvp((x: T) => tr.exp(tr.sin(x)), [f64(xs)], [f64(ts)]) as [T, T];
        assertClose(values(y), xs.map((x) => Math.exp(Math.sin(x))), TIGHT);
        assertClose(values(dy), xs.map((x, i) => Math.cos(x) * Math.exp(Math.sin(x)) * ts[i]!), TIGHT);
      });
      it("jvp of a two-argument composition sums both directions", () => {
        // f(x, y) = log(x^2 + y^2): df = (2x dx + 2y dy) / (x^2 + y^2)
        const [x, y, dx, dy] = [1.5, -0.5, 0.2, 0.7];
        const [, d] = tr.jvp((a: T, b: T) => tr.log(tr.add(tr.square(a), tr.square(b))), [f64(x), f64(y)], [f64(dx), f64(dy)]) as [T, T];
        assertClose(values(d), [(2 * x * dx + 2 * y * dy) / (x * x + y * y)], TIGHT);
      });
      it("linearize gives the value and a linear map equal to the jvp", () => {
        const xs = [0.4, -0.9, 1.7];
        const f = (x: T) => tr.mul(tr.sin(x), x);
        const [y, fLin] = tr.linearize(f, f64(xs));
        assertClose(values(y as T), xs.map((x) => Math.sin(x) * x), TIGHT);
        for (const ts of [[1, 0, 0], [0.5, -2, 3]]) {
          const d = fLin(f64(ts)) as T;
          assertClose(values(d), xs.map((x, i) => (Math.cos(x) * x + Math.sin(x)) * ts[i]!), TIGHT);
        }
      });
    });

    describe("valueAndGrad", () => {
      const f = (a: T, b: T, c: T) => tr.sum(tr.mul(tr.mul(a, b), tr.exp(c)));
      // operands are made inside each test, on that test's backend
      const abc = () => [f64([1, 2]), f64([3, -1]), f64([0.5, -0.25])] as const;
      it("argnums as a list returns a list of gradients in that order", () => {
        const [v, g] = tr.valueAndGrad(f, { argnums: [2, 0] })(...abc()) as [T, T[]];
        assertClose(values(v), [3 * Math.exp(0.5) - 2 * Math.exp(-0.25)], TIGHT);
        assert.equal(g.length, 2);
        assertClose(values(g[0]!), [3 * Math.exp(0.5), -2 * Math.exp(-0.25)], TIGHT);
        assertClose(values(g[1]!), [3 * Math.exp(0.5), -Math.exp(-0.25)], TIGHT);
      });
      it("argnums as a number returns one gradient; negative argnums count from the end", () => {
        const g1 = tr.grad(f, { argnums: 1 })(...abc()) as T;
        const g2 = tr.grad(f, { argnums: -2 })(...abc()) as T;
        assertClose(values(g1), [Math.exp(0.5), 2 * Math.exp(-0.25)], TIGHT);
        assertClose(values(g2), values(g1), TIGHT);
      });
      it("hasAux passes the auxiliary value through untouched", () => {
        const fa = (x: T) => {
          const y = tr.sum(tr.square(x));
          return [y, { norm: tr.sqrt(y), tag: [tr.mul(x, 2)] }];
        };
        const [[v, aux], g] = tr.valueAndGrad(fa, { hasAux: true })(f64([3, 4])) as [[T, { norm: T; tag: T[] }], T];
        assertClose(values(v), [25], TIGHT);
        assertClose(values(aux.norm), [5], TIGHT);
        assertClose(values(aux.tag[0]!), [6, 8], TIGHT);
        assertClose(values(g), [6, 8], TIGHT);
        const [g2, aux2] = tr.grad(fa, { hasAux: true })(f64([3, 4])) as [T, { norm: T }];
        assertClose(values(g2), [6, 8], TIGHT);
        assertClose(values(aux2.norm), [5], TIGHT);
      });
      it("rejects a non-scalar output with a TridentError naming the shape", () => {
        assert.throws(() => tr.grad((x: T) => tr.mul(x, 2))(f64([1, 2])), (e: Error) => e instanceof tr.TridentError && /shape \[2\]/.test(e.message));
      });
    });

    describe("pytrees", () => {
      const params = () => ({ w: f64([[0.5, -1], [2, 0.25]]), b: [f64([0.1, -0.2]), f64(0.3)] as [T, T] });
      const loss = (p: { w: T; b: [T, T] }, x: T) => {
        const h = tr.add(mm(x, p.w), p.b[0]);
        return tr.add(tr.sum(tr.tanh(h)), tr.mul(p.b[1], p.b[1]));
      };
      it("grad returns the structure of its argument with the right values", () => {
        const p = params();
        const g = tr.grad(loss)(p, f64([[1, 2], [-1, 0.5], [0, 3]])) as { w: T; b: [T, T] };
        assert.deepEqual(Object.keys(g).sort(), ["b", "w"]);
        assert.equal(g.b.length, 2);
        // closed form: dL/dh = 1 - tanh(h)^2; dL/dw = xᵀ dL/dh; dL/db0 = Σ_rows dL/dh; dL/db1 = 2 b1
        const W = [[0.5, -1], [2, 0.25]], X = [[1, 2], [-1, 0.5], [0, 3]], B = [0.1, -0.2];
        const dh = X.map((r) => [0, 1].map((j) => 1 - Math.tanh(r[0]! * W[0]![j]! + r[1]! * W[1]![j]! + B[j]!) ** 2));
        const dw = [0, 1].flatMap((i) => [0, 1].map((j) => X.reduce((s, r, k) => s + r[i]! * dh[k]![j]!, 0)));
        assertClose(values(g.w), dw, TIGHT);
        assertClose(values(g.b[0]), [0, 1].map((j) => dh.reduce((s, r) => s + r[j]!, 0)), TIGHT);
        assertClose(values(g.b[1]), [0.6], TIGHT);
      });
      it("vjp takes a cotangent with the output's structure and returns the inputs' structure", () => {
        const f = (p: { u: T; v: T }) => ({ sum: tr.add(p.u, p.v), prod: [tr.mul(p.u, p.v)] });
        const u = f64([1, 2]), v = f64([3, 4]);
        const [out, back] = tr.vjp(f, { u, v });
        assertClose(values((out as { sum: T }).sum), [4, 6], TIGHT);
        const [g] = back({ sum: f64([1, 1]), prod: [f64([10, 100])] }) as [{ u: T; v: T }];
        assertClose(values(g.u), [1 + 10 * 3, 1 + 100 * 4], TIGHT);
        assertClose(values(g.v), [1 + 10 * 1, 1 + 100 * 2], TIGHT);
      });
      it("jit takes and returns pytrees", () => {
        const f = (p: { a: T; b: T[] }) => [tr.add(p.a, p.b[0]!), { c: tr.mul(p.a, p.b[1]!) }];
        const a = f64([1, 2]), b = [f64([3, 4]), f64([5, 6])];
        const [s, { c }] = tr.jit(f)({ a, b }) as [T, { c: T }];
        assertClose(values(s), [4, 6], TIGHT);
        assertClose(values(c), [5, 12], TIGHT);
      });
    });

    describe("makeJaxpr", () => {
      it("prints typed binders, one equation per primitive, and the outputs", () => {
        const j = tr.makeJaxpr((x: T, y: T) => tr.sum(tr.mul(tr.sin(x), y)))(tr.zeros([2, 3]), tr.zeros([2, 3]));
        const s = j.toString();
        const lines = s.split("\n").map((l) => l.trim());
        assert.match(lines[0]!, /^\{ lambda a:f32\[2,3\] b:f32\[2,3\] \.$/);
        assert.equal(lines[1], "let");
        assert.match(lines[2]!, /^c:f32\[2,3\] = sin a$/);
        assert.match(lines[3]!, /^d:f32\[2,3\] = mul c b$/);
        assert.match(lines[4]!, /^e:f32\[\] = reduce_sum\[axes=\[0,1\]\] d$/);
        assert.match(lines[5]!, /^in \( e \) \}$/);
      });
      it("shows the program of a gradient (transformations compose with staging)", () => {
        const s = tr.makeJaxpr(tr.grad((x: T) => tr.sum(tr.sin(x))))(tr.zeros([3])).toString();
        assert.match(s, /= cos a/);
        assert.match(s, /^\{ lambda a:f32\[3\] \./);
      });
    });

    describe("jit", () => {
      it("traces once per signature and re-traces on a shape or dtype change", () => {
        let traces = 0;
        const f = tr.jit((x: T) => {
          traces++;
          return tr.mul(tr.exp(x), 2);
        });
        const a = f(tr.tensor([1, 2, 3])) as T;
        f(tr.tensor([4, 5, 6]));
        assert.equal(traces, 1, "same shape and dtype: cache hit");
        assert.equal(f.cacheSize, 1);
        f(tr.tensor([1, 2]));
        assert.equal(traces, 2, "new shape: re-trace");
        f(tr.tensor([1, 2], { dtype: "float64" }));
        assert.equal(traces, 3, "new dtype: re-trace");
        f(tr.tensor([7, 8]));
        assert.equal(traces, 3, "earlier signature: cache hit");
        assert.equal(f.cacheSize, 3);
        assertClose(values(a), [1, 2, 3].map((v) => 2 * Math.exp(v)));
      });
      it("staticArgnums keys the cache on the static value and lets the body use it as a JS value", () => {
        let traces = 0;
        const f = tr.jit((x: T, n: number) => {
          traces++;
          let y = x;
          for (let i = 0; i < n; i++) y = tr.mul(y, x);
          return y;
        }, { staticArgnums: [1] });
        const x = f64([2, 3]);
        assertClose(values(f(x, 2) as T), [8, 27], TIGHT);
        assertClose(values(f(x, 2) as T), [8, 27], TIGHT);
        assert.equal(traces, 1);
        assertClose(values(f(x, 3) as T), [16, 81], TIGHT);
        assert.equal(traces, 2);
      });
      it("converting a traced value to a JS number throws a ConcretizationError", () => {
        const f = tr.jit((x: T) => (x.item() > 0 ? x : tr.neg(x)));
        assert.throws(() => f(f64([1])), tr.ConcretizationError);
      });
      it("jit(grad(f)) and grad(jit(f)) equal grad(f)", () => {
        const f = (x: T) => tr.sum(tr.mul(tr.tanh(x), tr.exp(tr.mul(x, 0.5))));
        const x = f64([0.3, -1.1, 2]);
        const g = values(tr.grad(f)(x) as T);
        assertClose(values(tr.jit(tr.grad(f))(x) as T), g, TIGHT);
        assertClose(values(tr.grad(tr.jit(f))(x) as T), g, TIGHT);
        assertClose(values(tr.vmap(tr.grad(tr.jit(f)))(tr.reshape(x, [3, 1])) as T), g, TIGHT);
      });
    });

    describe("eager autograd", () => {
      it("backward() on a small MLP equals grad", () => {
        const init = () => ({
          w1: f64([[0.2, -0.5, 0.1], [0.4, 0.3, -0.2]]),
          b1: f64([0.05, -0.1, 0.2]),
          w2: f64([[0.7], [-0.3], [0.5]]),
          b2: f64([0.1]),
        });
        const x = f64([[1, -1], [0.5, 2], [-1.5, 0.3], [0, 1]]);
        const y = f64([[0.5], [-0.2], [1], [0]]);
        const loss = (p: { w1: T; b1: T; w2: T; b2: T }) => {
          const h = tr.tanh(tr.add(mm(x, p.w1), p.b1));
          const out = tr.add(mm(h, p.w2), p.b2);
          return tr.mean(tr.square(tr.sub(out, y)));
        };
        const g = tr.grad(loss)(init()) as Record<string, T>;
        const p = init();
        for (const t of Object.values(p)) t.requiresGrad = true;
        const l = loss(p);
        l.backward();
        for (const k of ["w1", "b1", "w2", "b2"] as const) {
          const pg = p[k].grad;
          assert.ok(pg, `${k}.grad is set`);
          assertClose(values(pg), values(g[k]!), { ...TIGHT, msg: k });
        }
        assertClose(values(l), values(loss(init())), TIGHT);
      });
      it("backward() accumulates into .grad across calls", () => {
        const w = tr.tensor([1, 2, 3], { dtype: "float64", requiresGrad: true });
        tr.sum(tr.mul(w, w)).backward();
        tr.sum(tr.mul(w, 3)).backward();
        assertClose(values(w.grad!), [2 + 3, 4 + 3, 6 + 3], TIGHT);
      });
    });

    describe("core regressions found by the conformance suites", () => {
      it("grad flows through neg (neg is linear and needs a transpose rule)", () => {
        assertClose(values(tr.grad((x: T) => tr.sum(tr.neg(x)))(f64([1, 2])) as T), [-1, -1], TIGHT);
        assertClose(values(tr.grad((x: T) => tr.sum(tr.cos(x)))(f64([0.5])) as T), [-Math.sin(0.5)], TIGHT);
      });
      it("pad with negative low padding compiles", () => {
        // the ref code generator printed the index offset `i - (-1)` as `i--1`
        const x = f64([[1, 2, 3], [4, 5, 6]]);
        assertClose(values(padPrim(x, [0, -1], [0, 1])), [2, 3, 0, 5, 6, 0], TIGHT);
      });
      it("grad of a jitted function whose program holds a literal", () => {
        // evalJaxpr freed an eager intermediate (the broadcast literal) that the enclosing linearization kept
        const g = tr.grad(tr.jit((x: T) => tr.sum(tr.mul(x, 0.5))))(f64([1, 2, 3])) as T;
        assertClose(values(g), [0.5, 0.5, 0.5], TIGHT);
      });
      it("a JS number combined with a float64 tensor keeps float64 precision", () => {
        const x = f64([1, 3]);
        assertClose(values(tr.mul(x, 0.1)), [0.1, 0.30000000000000004], { rtol: 0, atol: 0 });
        assertClose(values(tr.grad((v: T) => tr.sum(tr.mul(v, 0.1)))(x) as T), [0.1, 0.1], { rtol: 0, atol: 0 });
      });
    });
  });
}
