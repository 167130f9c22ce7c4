import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as optim from "../../src/optim/index.js";
import { BACKENDS, assertClose, values, withBackend } from "../helpers.js";
import { FIX, FUNCTIONAL, STATEFUL, TOL, camelOptions, fixTensor } from "./common.js";

type Update = (g: unknown, s: unknown, p: unknown) => [unknown, unknown];

for (const backend of BACKENDS) {
  describe(`optim.functional [${backend}]`, () => {
    for (const dtype of ["float64", "float32"] as const) {
      for (const c of FIX.optimizers) {
        test(`${c.id}: functional = stateful = PyTorch, eagerly and under jit with one trace (${dtype})`, () =>
          withBackend(backend, () => {
            const fo = FUNCTIONAL[c.optimizer](camelOptions(c.options));
            const jitted = tr.jit((g: unknown, s: unknown, p: unknown) => fo.update(g, s, p));
            const runs: [string, Update][] = [
              ["eager", (g, s, p) => fo.update(g, s, p)],
              ["jit", (g, s, p) => jitted(g, s, p) as [unknown, unknown]],
            ];
            // the stateful trajectory, for exact comparison
            const ps = fixTensor(c.init, dtype);
            const stateful = new STATEFUL[c.optimizer]([ps], camelOptions(c.options));
            const statefulTraj: number[][] = c.steps.map((s) => {
              ps.grad?.dispose();
              ps.grad = tr.keep(fixTensor(s.grad, dtype));
              stateful.step();
              return values(ps);
            });
            for (const [how, update] of runs) {
              // a pytree with the parameter under a name, next to a null that must pass through
              let params: unknown = { w: fixTensor(c.init, dtype), skip: null };
              let state = fo.init(params);
              c.steps.forEach((s, k) => {
                [params, state] = update({ w: fixTensor(s.grad, dtype), skip: null }, state, params);
                const w = (params as { w: tr.Tensor }).w;
                assert.equal(w.dtype, dtype);
                assertClose(values(w), s.param.data, { ...TOL[dtype], msg: `${how} ${c.id} step ${k + 1}` });
                assertClose(values(w), statefulTraj[k]!, { rtol: dtype === "float64" ? 1e-13 : 1e-6, atol: dtype === "float64" ? 1e-15 : 1e-7, msg: `${how} vs stateful, step ${k + 1}` });
              });
              const step = (state as { step: tr.Tensor }).step;
              assert.equal(step.dtype, "int32");
              assert.equal(step.item(), 4);
            }
            assert.equal(jitted.cacheSize, 1, "the step count is a tensor: no re-trace per step");
          }));
      }
    }

    test("nested pytrees of several parameters, and grads that do not match params are rejected", () =>
      withBackend(backend, () => {
        const fo = optim.functional.adam({ lr: 0.1 });
        const params = { layer: [tr.ones([2, 2]), tr.zeros([2])], scale: tr.tensor(3) };
        const state = fo.init(params);
        const grads = { layer: [tr.full([2, 2], 0.5), tr.ones([2])], scale: tr.tensor(-1) };
        const [np] = fo.update(grads, state, params);
        // first Adam step moves every coordinate by lr * sign(g) (up to eps)
        assertClose(values(np.layer[0]!), [0.9, 0.9, 0.9, 0.9], { rtol: 1e-5 });
        assertClose(values(np.layer[1]!), [-0.1, -0.1], { rtol: 1e-5 });
        assertClose(values(np.scale), [3.1], { rtol: 1e-5 });
        assert.throws(() => fo.update({ layer: [tr.ones([2, 2])], scale: tr.tensor(1) } as never, state, params), /optim.functional.adam: grads has structure .* but params have/);
        assert.throws(() => fo.update({ ...grads, scale: tr.ones([3]) }, state, params), /grads leaf 2 has shape \[3\] but the parameter has \[\]/);
        assert.throws(() => fo.update(grads, { ...state, step: tr.ones([2]) }, params), /state.step must be a scalar tensor/);
        assert.throws(() => optim.functional.sgd({ lr: 0.1, nestrov: true } as never), /unknown option "nestrov"/);
        assert.throws(() => optim.functional.sgd({} as never), /lr is required/);
        assert.throws(() => optim.functional.adam({ betas: [1.5, 0.9] }), /invalid beta parameter at index 0/);
      }));

    test("differentiating through an update (grad of a post-step loss) matches the closed form, eagerly and in jit", () =>
      withBackend(backend, () => {
        const fo = optim.functional.sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5 });
        const p0 = tr.tensor([1, -2, 0.5], { dtype: "float64" });
        const state = fo.init([p0]);
        const inner = (p: tr.Tensor) => p.mul(p).sum();
        const outer = (p: tr.Tensor) => {
          const g = tr.grad(inner)(p) as tr.Tensor;
          const [[np]] = fo.update([g], state, [p]) as [[tr.Tensor], unknown];
          return np!.mul(np!).sum();
        };
        // first step: the buffer is the gradient 2p, so p' = p - 0.1 * 2p = 0.8 p and d sum(p'^2)/dp = 1.28 p
        const expected = values(p0).map((v) => 1.28 * v);
        assertClose(values(tr.grad(outer)(p0) as tr.Tensor), expected, { rtol: 1e-12 });
        assertClose(values(tr.jit(tr.grad(outer))(p0) as tr.Tensor), expected, { rtol: 1e-12 });
      }));

    test("a learning-rate schedule as a function of the step tensor, under jit, matches manual lr changes", () =>
      withBackend(backend, () => {
        const c = FIX.optimizers.find((o) => o.id === "adam/4")!;
        const lrAt = (k: number) => (k < 2 ? 0.01 : 0.002);
        const fo = optim.functional.adam({ lr: (step) => tr.where(tr.less(step, 2), 0.01, 0.002) });
        const upd = tr.jit((g: unknown, s: unknown, p: unknown) => fo.update(g, s as optim.functional.AdamState, p));
        const ps = fixTensor(c.init, "float32");
        const opt = new optim.Adam([ps], { lr: 0.01 });
        let params: unknown = [fixTensor(c.init, "float32")];
        let state: unknown = fo.init(params);
        c.steps.forEach((s, k) => {
          opt.lr = lrAt(k);
          ps.grad = tr.keep(fixTensor(s.grad, "float32"));
          opt.step();
          [params, state] = upd([fixTensor(s.grad, "float32")], state, params) as [unknown, unknown];
          assertClose(values((params as tr.Tensor[])[0]!), values(ps), { rtol: 1e-6, atol: 1e-7, msg: `step ${k + 1}` });
        });
        assert.equal(upd.cacheSize, 1);
      }));

    test("clipByGlobalNorm is clipGradNorm's formula, pure", () =>
      withBackend(backend, () => {
        const grads = { a: tr.tensor([3, 4], { dtype: "float64" }), b: [tr.tensor([[12]], { dtype: "float64" })] };
        const [clipped, norm] = optim.functional.clipByGlobalNorm(grads, 6.5);
        assertClose(values(norm), [13], { rtol: 1e-15 });
        const k = 6.5 / (13 + 1e-6);
        assertClose(values(clipped.a), [3 * k, 4 * k], { rtol: 1e-14 });
        assertClose(values(clipped.b[0]!), [12 * k], { rtol: 1e-14 });
        const [same] = tr.jit((g: typeof grads) => optim.functional.clipByGlobalNorm(g, 100))(grads) as [typeof grads, tr.Tensor];
        assert.deepEqual(values(same.a), [3, 4]);
      }));

    test("a jitted training loop over functional state keeps memory flat", () =>
      withBackend(backend, () => {
        const fo = optim.functional.adamw({ lr: 0.05 });
        const x = tr.tensor([0.5, -1, 2, 0.25]);
        const y = tr.tensor([1, 0, -1, 2]);
        const loss = (p: { w: tr.Tensor; b: tr.Tensor }) => tr.square(p.w.mul(x).add(p.b).sub(y)).mean();
        const train = tr.jit((p: { w: tr.Tensor; b: tr.Tensor }, s: unknown) => fo.update(tr.grad(loss)(p), s as optim.functional.AdamState, p));
        let params = { w: tr.zeros([4]), b: tr.zeros([]) };
        let state: unknown = fo.init(params);
        const first = loss(params).item();
        // trace outside any scope: constants captured while tracing must outlive the first call's scope
        [params, state] = train(params, state) as [typeof params, unknown];
        let warm = 0;
        for (let i = 0; i < 200; i++) {
          const [np, ns] = tr.scope(() => train(params, state) as [typeof params, unknown]);
          // the caller owns functional state: free the previous step's
          for (const t of tr.treeFlatten([params, state])[0]) (t as tr.Tensor).dispose();
          [params, state] = [np, ns];
          if (i === 2) warm = tr.memory().bytes;
          if (i > 2) assert.equal(tr.memory().bytes, warm, `memory grew at step ${i}`);
        }
        assert.ok(loss(params).item() < first * 0.1);
        assert.equal(train.cacheSize, 1);
      }));
  });
}
