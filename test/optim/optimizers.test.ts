import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as optim from "../../src/optim/index.js";
import { BACKENDS, assertClose, values, withBackend } from "../helpers.js";
import { FIX, STATEFUL, TOL, camelOptions, fixTensor, type OptCase } from "./common.js";

/** Run a fixture case's steps [from, to) on an optimizer over one parameter, checking each result. */
function runSteps(c: OptCase, opt: optim.Optimizer<optim.GroupOptions>, p: tr.EagerTensor, dtype: "float32" | "float64", from = 0, to = c.steps.length): void {
  for (let k = from; k < to; k++) {
    const s = c.steps[k]!;
    p.grad?.dispose();
    p.grad = tr.keep(fixTensor(s.grad, dtype));
    opt.step();
    assertClose(values(p), s.param.data, { ...TOL[dtype], msg: `${c.id} ${dtype} step ${k + 1}` });
  }
}

for (const backend of BACKENDS) {
  describe(`optim: stateful optimizers [${backend}]`, () => {
    for (const dtype of ["float64", "float32"] as const) {
      for (const c of FIX.optimizers) {
        test(`${c.id} ${JSON.stringify(c.options)} matches PyTorch 1.13 (${dtype})`, () =>
          withBackend(backend, () => {
            const p = fixTensor(c.init, dtype);
            const opt = new STATEFUL[c.optimizer]([p], camelOptions(c.options));
            runSteps(c, opt, p, dtype);
            assert.equal(p.dtype, dtype);
            opt.zeroGrad();
            opt.clearState();
            p.dispose();
          }));
      }
    }

    for (const c of FIX.optimizers) {
      test(`${c.id}: stateDict after 2 steps, through JSON, continues the trajectory exactly`, () =>
        withBackend(backend, () => {
          const dtype = "float64";
          const p = fixTensor(c.init, dtype);
          const a = new STATEFUL[c.optimizer]([p], camelOptions(c.options));
          runSteps(c, a, p, dtype, 0, 2);
          const sd = a.stateDict();
          const json = JSON.stringify(sd, (_k, v: unknown) => (v instanceof tr.Tensor ? v.arraySync() : v));
          const snapshot = JSON.stringify(sd, (_k, v: unknown) => (v instanceof tr.Tensor ? v.arraySync() : v));
          // the restored optimizer starts from different hyperparameters: the state dict must bring them back
          const q = tr.tensor(values(p), { dtype }).reshape(p.shape) as tr.EagerTensor;
          const b = new STATEFUL[c.optimizer]([q], camelOptions({ ...c.options, lr: 123 }));
          b.loadStateDict(JSON.parse(json));
          assert.equal(b.lr, c.options["lr"]);
          runSteps(c, a, p, dtype, 2, 4);
          runSteps(c, b, q, dtype, 2, 4);
          assert.deepEqual(values(q), values(p), "identical continuation");
          // tensors in a state dict are snapshots: later steps leave them alone
          assert.equal(JSON.stringify(sd, (_k, v: unknown) => (v instanceof tr.Tensor ? v.arraySync() : v)), snapshot);
          // and loading the tensors themselves (not JSON) works the same
          const r = tr.tensor(values(q), { dtype }).reshape(q.shape) as tr.EagerTensor;
          const d = new STATEFUL[c.optimizer]([r], camelOptions(c.options));
          d.loadStateDict(b.stateDict());
          r.grad = tr.keep(tr.tensor(values(q.grad!), { dtype }).reshape(q.shape));
          b.step();
          d.step();
          assert.deepEqual(values(r), values(q));
        }));
    }

    test("loss.backward() + step(): the obvious loop converges, with param groups and per-group options", () =>
      withBackend(backend, () => {
        const w = tr.tensor([3, -2, 1]).requiresGrad_();
        const b = tr.tensor([0.5]).requiresGrad_();
        const opt = new optim.SGD([{ params: [w] }, { params: [b], lr: 0.05, momentum: 0.5 }], { lr: 0.1 });
        assert.equal(opt.paramGroups[0]!.lr, 0.1);
        assert.equal(opt.paramGroups[0]!.momentum, 0);
        assert.equal(opt.paramGroups[1]!.lr, 0.05);
        assert.equal(opt.paramGroups[1]!.momentum, 0.5);
        // one step by hand: loss = sum(w^2)/2 + sum(b^2) → grads w and 2b; b's first momentum buffer is its gradient
        tr.scope(() => {
          opt.zeroGrad();
          w.mul(w).sum().div(2).add(b.mul(b).sum()).backward();
          opt.step();
        });
        assertClose(values(w), [3 * 0.9, -2 * 0.9, 0.9], { rtol: 1e-6 });
        assertClose(values(b), [0.5 - 0.05 * 1.0], { rtol: 1e-6 });
        for (let i = 0; i < 200; i++) {
          tr.scope(() => {
            opt.zeroGrad();
            w.mul(w).sum().div(2).add(b.mul(b).sum()).backward();
            opt.step();
          });
        }
        assert.ok(Math.max(...values(w).map(Math.abs)) < 1e-6 && Math.abs(values(b)[0]!) < 1e-6);
      }));

    test("maximize ascends; lr get/set; step(closure) returns the closure's loss", () =>
      withBackend(backend, () => {
        const p = tr.tensor([1, 2], { dtype: "float64" });
        const opt = new optim.SGD([p], { lr: 0.5, maximize: true });
        p.grad = tr.keep(tr.tensor([1, -1], { dtype: "float64" }));
        opt.step();
        assert.deepEqual(values(p), [1.5, 1.5]);
        opt.lr = 0.25;
        assert.equal(opt.lr, 0.25);
        const loss = opt.step(() => 42);
        assert.equal(loss, 42);
        assert.deepEqual(values(p), [1.75, 1.25]);
        opt.zeroGrad();
        assert.equal(p.grad, null);
      }));

    test("optimizer steps inside tr.scope keep memory flat (all optimizers, state kept alive)", () =>
      withBackend(backend, () => {
        const x = tr.tensor([0.5, -1, 2, 0.25]);
        const y = tr.tensor([1, 0, -1, 2]);
        const makers: [string, (ps: tr.Tensor[]) => optim.Optimizer<optim.GroupOptions>][] = [
          ["SGD", (ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
          ["Adam", (ps) => new optim.Adam(ps, { lr: 0.05, amsgrad: true })],
          ["AdamW", (ps) => new optim.AdamW(ps, { lr: 0.05 })],
          ["RMSprop", (ps) => new optim.RMSprop(ps, { lr: 0.01, momentum: 0.5, centered: true })],
          ["Adagrad", (ps) => new optim.Adagrad(ps, { lr: 0.5, lrDecay: 0.01 })],
        ];
        for (const [name, make] of makers) {
          const w = tr.zeros([4]).requiresGrad_();
          const b = tr.zeros([]).requiresGrad_();
          const opt = make([w, b]);
          const lossAt = () => tr.square(w.mul(x).add(b).sub(y)).mean();
          const first = tr.scope(() => lossAt().item());
          let warm = 0;
          for (let i = 0; i < 300; i++) {
            tr.scope(() => {
              opt.zeroGrad();
              lossAt().backward();
              opt.step();
            });
            if (i === 2) warm = tr.memory().bytes;
            if (i > 2) assert.equal(tr.memory().bytes, warm, `${name}: memory grew at step ${i}`);
          }
          const last = tr.scope(() => lossAt().item());
          assert.ok(last < first * 0.1, `${name} trains: ${first} -> ${last}`);
          opt.zeroGrad();
          opt.clearState();
          w.dispose();
          b.dispose();
        }
      }));

    test("state is created lazily and only for parameters with gradients", () =>
      withBackend(backend, () => {
        const p = tr.ones([2]), q = tr.ones([3]);
        const opt = new optim.Adam([p, q], { lr: 0.1 });
        p.grad = tr.keep(tr.ones([2]));
        opt.step();
        opt.step();
        assert.equal(opt.getState(p)?.step, 2);
        assert.equal(opt.getState(q), undefined);
        assert.deepEqual(Object.keys(opt.stateDict().state), ["0"]);
        assert.deepEqual(Object.keys(opt.getState(p)!.buffers).sort(), ["expAvg", "expAvgSq"]);
      }));

    test("bad options and parameters raise TridentErrors that say what is wrong", () =>
      withBackend(backend, () => {
        const p = tr.ones([2, 3]);
        assert.throws(() => new optim.Adam([p], { lr: -1 }), /Adam: invalid learning rate lr: expected a number >= 0, got -1/);
        assert.throws(() => new optim.Adam([p], { betas: [0.9, 1.0] }), /Adam: invalid beta parameter at index 1/);
        assert.throws(() => new optim.SGD([p], { lr: 0.1, nesterov: true }), /SGD: invalid nesterov/);
        assert.throws(() => new optim.SGD([p], { lr: 0.1, weight_decay: 0.1 } as never), /unknown option "weight_decay" \(did you mean "weightDecay"\?\)/);
        assert.throws(() => new optim.SGD([p], {} as never), /SGD: invalid options: lr is required/);
        assert.throws(() => new optim.RMSprop([p], { alpha: -0.1 }), /RMSprop: invalid alpha/);
        assert.throws(() => new optim.Adagrad([p], { lrDecay: -1 }), /Adagrad: invalid lrDecay/);
        assert.throws(() => new optim.SGD([], { lr: 0.1 }), /SGD: got an empty parameter list/);
        assert.throws(() => new optim.SGD([p, p], { lr: 0.1 }), /appears in more than one parameter group/);
        assert.throws(() => new optim.SGD([tr.ones([2], "int32")], { lr: 0.1 }), /parameter 0 must have a floating-point dtype, got int32/);
        const leaf = tr.ones([2]).requiresGrad_();
        assert.throws(() => new optim.SGD([leaf.mul(2)], { lr: 0.1 }), /is not a leaf/);
        const opt = new optim.SGD([p], { lr: 0.1 });
        p.grad = tr.keep(tr.ones([3]));
        assert.throws(() => opt.step(), /SGD.step: the gradient of parameter 0 of group 0 has shape \[3\] but the parameter has \[2,3\]/);
        opt.zeroGrad();
        assert.throws(() => (opt.lr = -3), /SGD: invalid learning rate/);
      }));

    test("loadStateDict validates groups, shapes, buffer names and hyperparameters before changing anything", () =>
      withBackend(backend, () => {
        const p = tr.ones([2, 3]);
        const opt = new optim.Adam([p], { lr: 0.1 });
        p.grad = tr.keep(tr.ones([2, 3]));
        opt.step();
        const good = opt.stateDict();
        const bad = (mut: (sd: optim.OptimizerStateDict) => void, re: RegExp) => {
          const sd = opt.stateDict();
          mut(sd);
          assert.throws(() => opt.loadStateDict(sd), re);
        };
        bad((sd) => (sd.state["0"]!["expAvg"] = tr.zeros([3])), /Adam.loadStateDict: buffer "expAvg" of parameter 0 has shape \[3\] but the parameter has shape \[2,3\]/);
        bad((sd) => sd.paramGroups.push({ params: [1], lr: 0.1 }), /the state dict has 2 parameter groups but the optimizer has 1/);
        bad((sd) => (sd.paramGroups[0]!.params = [0, 1]), /parameter group 0 has 2 parameters in the state dict but 1 in the optimizer/);
        bad((sd) => (sd.state["0"]!["momentumBuffer"] = tr.zeros([2, 3])), /buffer "momentumBuffer", which Adam does not use/);
        bad((sd) => delete sd.state["0"]!["expAvgSq"], /missing buffer "expAvgSq"/);
        bad((sd) => (sd.paramGroups[0]!["momentum"] = 0.9), /hyperparameter "momentum", which Adam does not have/);
        bad((sd) => (sd.paramGroups[0]!["betas"] = [0.9]), /hyperparameter "betas" of group 0: expected an array of 2 numbers/);
        bad((sd) => (sd.state["5"] = { step: 1 }), /state entry "5" is not a parameter index/);
        bad((sd) => (sd.state["0"]!.step = -1), /step count of parameter 0/);
        bad((sd) => (sd.paramGroups[0]!.lr = -1), /invalid learning rate/);
        // nothing changed: the good state dict still matches
        assert.equal(opt.getState(p)!.step, 1);
        opt.loadStateDict(good);
        assert.equal(opt.getState(p)!.step, 1);
      }));
  });
}
