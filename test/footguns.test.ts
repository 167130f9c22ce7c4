// Sharp edges, written down as tests so they stay documented and deliberate.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../src/index.js";
import { BACKENDS, withBackend, values } from "./helpers.js";

for (const backend of BACKENDS) {
  describe(`footguns [${backend}]`, () => {
    test("a JS `if` on a traced value throws a concretization error that says what to do", () =>
      withBackend(backend, () => {
        const f = (x: tr.Tensor) => (x.sum().item() > 0 ? x : x.neg());
        assert.throws(() => tr.jit(f)(tr.ones([2])), (e: Error) => e instanceof tr.ConcretizationError && /lax\.cond/.test(e.message) && /staticArgnums/.test(e.message));
        assert.throws(() => tr.grad((x: tr.Tensor) => (Number(x) > 0 ? x : x))(tr.tensor(1)), tr.ConcretizationError);
        assert.throws(() => tr.vmap((x: tr.Tensor) => x.dataSync())(tr.ones([2, 2])), tr.ConcretizationError);
      }));

    test("a tracer stored outside the transformation and used later is reported as a leak", () =>
      withBackend(backend, () => {
        let leaked: tr.Tensor | null = null;
        tr.grad((x: tr.Tensor) => {
          leaked = x.mul(2);
          return x.sum();
        })(tr.ones([2]));
        assert.throws(() => leaked!.add(1), /tracer leak/);
        let leaked2: tr.Tensor | null = null;
        tr.jit((x: tr.Tensor) => {
          leaked2 = x;
          return x;
        })(tr.ones([2]));
        assert.throws(() => tr.add(leaked2!, 1), /tracer leak/);
      }));

    test("jit bakes in side effects and JS values at trace time", () =>
      withBackend(backend, () => {
        let calls = 0;
        let scale = 2;
        const f = tr.jit((x: tr.Tensor) => {
          calls++;
          return x.mul(scale);
        });
        assert.deepEqual(values(f(tr.ones([2])) as tr.Tensor), [2, 2]);
        scale = 3; // not seen: the program was traced with scale = 2
        assert.deepEqual(values(f(tr.ones([2])) as tr.Tensor), [2, 2]);
        assert.equal(calls, 1);
        f(tr.ones([3])); // a new shape re-traces and sees the new value
        assert.equal(calls, 2);
      }));

    test("a JS number keeps the tensor's dtype (weak typing); a float tensor does not", () =>
      withBackend(backend, () => {
        const h = tr.ones([2], "float16");
        assert.equal(h.mul(1e5).dtype, "float16"); // overflows to inf in float16, as in JAX
        assert.equal(values(h.mul(1e5))[0], Infinity);
        assert.equal(h.mul(tr.tensor(1e5)).dtype, "float32");
      }));

    test("integer division is true division; use floorDivide for //", () =>
      withBackend(backend, () => {
        const a = tr.tensor([7, -7], { dtype: "int32" });
        assert.deepEqual(values(a.div(2)), [3.5, -3.5]);
        assert.deepEqual(values(a.floorDivide(2)), [3, -4]);
        assert.deepEqual(values(a.remainder(2)), [1, 1]);
      }));

    test("assign() on a value saved for backward makes backward() refuse, as PyTorch's version counter", () =>
      withBackend(backend, () => {
        const w = tr.tensor([2], { requiresGrad: true });
        const y = w.mul(w).sum(); // the graph saved w itself
        tr.noGrad(() => w.assign(tr.tensor([5])));
        assert.throws(() => y.backward(), /modified in place/);
      }));

    test("an async scope collects every tensor created while it is open, including other code's", () =>
      withBackend(backend, async () => {
        const pending = tr.scope(async () => {
          await new Promise((r) => setTimeout(r, 1));
          return 0;
        });
        const outside = tr.ones([1]); // created while the async scope is the innermost one
        await pending;
        assert.equal(outside.isDisposed, true);
      }));
  });
}
