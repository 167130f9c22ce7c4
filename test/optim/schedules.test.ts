import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as optim from "../../src/optim/index.js";
import { BACKENDS, assertClose, withBackend } from "../helpers.js";
import { FIX, camelOptions, type SchedCase } from "./common.js";

type Make = (opt: optim.SGD, o: Record<string, never>) => optim.LRScheduler;
const SCHEDULES: Record<string, Make> = {
  step: (opt, o) => new optim.StepLR(opt, o as never),
  exponential: (opt, o) => new optim.ExponentialLR(opt, o as never),
  cosine: (opt, o) => new optim.CosineAnnealingLR(opt, o as never),
  linear_warmup: (opt, o) => new optim.LinearLR(opt, o as never),
  onecycle: (opt, o) => new optim.OneCycleLR(opt, o as never),
};

/** The lr in effect at each epoch: read, then optimizer.step(), then scheduler.step() (PyTorch's order). */
function trace(opt: optim.Optimizer<optim.GroupOptions>, sched: { step(): void }, n: number): number[] {
  const out: number[] = [];
  for (let e = 0; e < n; e++) {
    out.push(opt.lr);
    opt.step();
    if (e < n - 1) sched.step();
  }
  return out;
}

const sgd = (lr: number, extra: Partial<optim.SGDOptions> = {}) => new optim.SGD([tr.ones([2])], { lr, ...extra });

for (const backend of BACKENDS) {
  describe(`optim schedules [${backend}]`, () => {
    for (const c of FIX.schedules as SchedCase[]) {
      test(`${c.id} ${JSON.stringify(c.options)} matches PyTorch 1.13`, () =>
        withBackend(backend, () => {
          const opts = camelOptions(c.options);
          if (c.id === "cosine") Object.assign(opts, { tMax: c.options["T_max"] });
          delete (opts as Record<string, unknown>)["TMax"];
          const opt = sgd(c.base_lr);
          const sched = SCHEDULES[c.id]!(opt, opts);
          assertClose(trace(opt, sched, c.lrs.length), c.lrs, { rtol: 1e-12, atol: 1e-15, msg: c.id });
          assertClose(sched.getLastLr(), [c.lrs[c.lrs.length - 1]!], { rtol: 1e-12 });
        }));
    }

    test("MultiStepLR and LambdaLR follow their closed forms; several groups scale independently", () =>
      withBackend(backend, () => {
        const opt = new optim.SGD([{ params: [tr.ones([1])], lr: 1 }, { params: [tr.ones([1])], lr: 0.5 }], { lr: 1 });
        const ms = [2, 5, 5];
        const sched = new optim.MultiStepLR(opt, { milestones: ms, gamma: 0.1 });
        for (let e = 0; e < 8; e++) {
          const k = ms.filter((m) => m <= e).length;
          assertClose(sched.getLastLr(), [0.1 ** k, 0.5 * 0.1 ** k], { rtol: 1e-12, msg: `epoch ${e}` });
          sched.step();
        }
        const opt2 = sgd(0.2);
        const lam = new optim.LambdaLR(opt2, { lrLambda: (e) => 1 / (e + 1) });
        for (let e = 0; e < 5; e++) {
          assertClose([opt2.lr], [0.2 / (e + 1)], { rtol: 1e-14 });
          lam.step();
        }
        const opt3 = sgd(1);
        const mult = new optim.MultiplicativeLR(opt3, { lrLambda: () => 0.5 });
        mult.step();
        mult.step();
        assert.equal(opt3.lr, 0.25);
      }));

    test("OneCycleLR cycles SGD momentum and Adam's beta1 inversely to the rate; stepping past the end throws", () =>
      withBackend(backend, () => {
        const adam = new optim.Adam([tr.ones([1])], { lr: 1, betas: [0.9, 0.99] });
        const sched = new optim.OneCycleLR(adam, { maxLr: 1, totalSteps: 10, annealStrategy: "linear" });
        // linear phases: steps 0..2 go 0.04 -> 1 (momentum 0.95 -> 0.85), steps 2..9 go 1 -> 4e-6 (momentum back to 0.95)
        const lrs: number[] = [], b1: number[] = [];
        for (let k = 0; k < 10; k++) {
          lrs.push(adam.lr);
          b1.push(adam.paramGroups[0]!.betas[0]);
          assert.equal(adam.paramGroups[0]!.betas[1], 0.99);
          if (k < 9) sched.step();
        }
        const end1 = 0.3 * 10 - 1;
        const expLr = lrs.map((_, k) => (k <= end1 ? 0.04 + (1 - 0.04) * (k / end1) : 1 + (4e-6 - 1) * ((k - end1) / (9 - end1))));
        const expB1 = lrs.map((_, k) => (k <= end1 ? 0.95 + (0.85 - 0.95) * (k / end1) : 0.85 + (0.95 - 0.85) * ((k - end1) / (9 - end1))));
        assertClose(lrs, expLr, { rtol: 1e-12, atol: 1e-15 });
        assertClose(b1, expB1, { rtol: 1e-12 });
        sched.step(); // step 10 == totalSteps is still allowed, as in PyTorch
        assert.throws(() => sched.step(), /OneCycleLR: tried to step 11 times; the schedule has totalSteps = 10/);
        const opt = sgd(0.1);
        new optim.OneCycleLR(opt, { maxLr: 0.1, epochs: 2, stepsPerEpoch: 5 });
        assert.equal(opt.paramGroups[0]!.momentum, 0.95);
        const ada = new optim.Adagrad([tr.ones([1])]);
        assert.throws(() => new optim.OneCycleLR(ada, { maxLr: 0.1, totalSteps: 5 }), /neither momentum nor betas/);
        assert.throws(() => new optim.OneCycleLR(opt, { maxLr: 0.1 }), /give totalSteps, or both epochs and stepsPerEpoch/);
      }));

    test("ReduceLROnPlateau follows a hand-traced sequence (min/rel with cooldown and minLr; max/abs)", () =>
      withBackend(backend, () => {
        const opt = sgd(0.1);
        const sched = new optim.ReduceLROnPlateau(opt, { mode: "min", factor: 0.5, patience: 2, threshold: 0.1, cooldown: 1, minLr: 0.02 });
        const metrics = [1.0, 0.95, 0.92, 0.91, 0.89, 0.85, 0.84, 0.83, 0.7, 0.69, 0.68, 0.67, 0.66, 0.66, 0.65, 0.65];
        // traced by hand from PyTorch's rules: improvement means metric < best * (1 - threshold);
        // a reduction happens when the bad-epoch count exceeds patience, then one cooldown epoch resets it
        const expected = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02, 0.02];
        const got = metrics.map((m, i) => {
          sched.step(i % 2 ? tr.tensor(m, { dtype: "float64" }) : m);
          return opt.lr;
        });
        assertClose(got, expected, { rtol: 1e-12 });
        assert.deepEqual(sched.getLastLr(), [opt.lr]);
        assert.equal(sched.best, 0.7);

        const opt2 = sgd(1);
        const s2 = new optim.ReduceLROnPlateau(opt2, { mode: "max", patience: 1, threshold: 0.05, thresholdMode: "abs" });
        const got2 = [0.5, 0.6, 0.6, 0.6, 0.61].map((m) => {
          s2.step(m);
          return opt2.lr;
        });
        assertClose(got2, [1, 1, 1, 0.1, 0.1], { rtol: 1e-12 });
        assert.throws(() => new optim.ReduceLROnPlateau(opt2, { factor: 1 }), /factor must be in \[0, 1\), got 1/);

        // state dict round trip continues identically
        const sd = JSON.parse(JSON.stringify(sched.stateDict()));
        const opt3 = sgd(opt.lr);
        const s3 = new optim.ReduceLROnPlateau(opt3, { mode: "min", factor: 0.5, patience: 2, threshold: 0.1, cooldown: 1, minLr: 0.02 });
        s3.loadStateDict(sd);
        assert.equal(s3.best, 0.7);
        assert.equal(s3.numBadEpochs, sched.numBadEpochs);
      }));

    test("scheduler + optimizer state dicts resume a schedule exactly; chained schedulers share initialLr", () =>
      withBackend(backend, () => {
        const optA = sgd(0.1, { momentum: 0.9 });
        const schedA = new optim.CosineAnnealingLR(optA, { tMax: 7, etaMin: 0.01 });
        for (let i = 0; i < 4; i++) schedA.step();
        const optSd = JSON.parse(JSON.stringify(optA.stateDict()));
        const schedSd = JSON.parse(JSON.stringify(schedA.stateDict()));
        const optB = sgd(5, { momentum: 0.9 });
        const schedB = new optim.CosineAnnealingLR(optB, { tMax: 7, etaMin: 0.01 });
        optB.loadStateDict(optSd);
        schedB.loadStateDict(schedSd);
        assert.equal(schedB.lastEpoch, 4);
        assert.deepEqual(schedB.baseLrs, [0.1]);
        for (let i = 0; i < 8; i++) {
          schedA.step();
          schedB.step();
          assert.equal(optB.lr, optA.lr);
        }
        assert.throws(() => schedB.loadStateDict({ nonsense: 1 }), /CosineAnnealingLR.loadStateDict: unknown entry "nonsense"/);

        // a warmup then decay: the second scheduler starts from the first's initialLr, as in PyTorch
        const opt = sgd(0.1);
        const warm = new optim.LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
        const decay = new optim.ExponentialLR(opt, { gamma: 0.5 });
        assert.deepEqual(decay.baseLrs, [0.1]);
        assert.equal(opt.paramGroups[0]!.initialLr, 0.1);
        void warm;
        assert.throws(() => new optim.StepLR(opt, { stepSize: 0 }), /StepLR: stepSize must be a positive integer, got 0/);
      }));
  });
}
