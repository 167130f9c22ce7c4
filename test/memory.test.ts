import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../src/index.js";
import { BACKENDS, withBackend } from "./helpers.js";

for (const backend of BACKENDS) {
  describe(`memory [${backend}]`, () => {
    test("ops never consume inputs; dispose frees; scope keeps what it returns", () =>
      withBackend(backend, () => {
        const before = tr.memory();
        const x = tr.tensor([1, 2, 3]);
        const y = tr.scope(() => {
          const a = x.mul(2);
          const b = a.add(1);
          return { b, keepMe: [a] };
        });
        assert.deepEqual(Array.from(x.dataSync()), [1, 2, 3]);
        assert.deepEqual(Array.from(y.b.dataSync()), [3, 5, 7]);
        assert.deepEqual(Array.from(y.keepMe[0]!.dataSync()), [2, 4, 6]);
        x.dispose();
        y.b.dispose();
        y.keepMe[0]!.dispose();
        x.dispose(); // idempotent
        assert.equal(tr.memory().bytes, before.bytes);
        assert.equal(tr.memory().numTensors, before.numTensors);
        assert.throws(() => x.dataSync(), /used after dispose/);
      }));

    test("async scope frees after the promise settles", () =>
      withBackend(backend, async () => {
        const before = tr.memory().bytes;
        const out = await tr.scope(async () => {
          const a = tr.ones([100]);
          await Promise.resolve();
          const b = a.mul(3);
          return b.sum();
        });
        assert.equal(out.item(), 300);
        out.dispose();
        assert.equal(tr.memory().bytes, before);
      }));

    test("`using` disposes at block end", () =>
      withBackend(backend, () => {
        const before = tr.memory().bytes;
        {
          using t = tr.zeros([64]);
          assert.equal(t.size, 64);
        }
        assert.equal(tr.memory().bytes, before);
      }));

    test("5,000 steps of the README eager training loop keep memory flat", () =>
      withBackend(backend, () => {
        // the README's loop: an MLP, loss.backward(), a manual SGD update, one scope per step
        const init = (shape: number[], seed: number) => tr.scope(() => tr.random.normal(tr.random.key(seed), shape).mul(0.1));
        const W1 = init([8, 16], 1).requiresGrad_();
        const b1 = tr.zeros([16]).requiresGrad_();
        const W2 = init([16, 1], 2).requiresGrad_();
        const b2 = tr.zeros([1]).requiresGrad_();
        const params = [W1, b1, W2, b2];
        const X = init([32, 8], 3);
        const Y = tr.scope(() => X.sum({ axis: 1, keepdims: true }).sin());
        let warm = 0;
        let first = 0, last = 0;
        for (let step = 0; step < 5000; step++) {
          const loss = tr.scope(() => {
            const h = tr.relu(tr.matmul(X, W1).add(b1));
            const pred = tr.matmul(h, W2).add(b2);
            const loss = tr.mean(tr.square(pred.sub(Y)));
            loss.backward();
            tr.noGrad(() => {
              for (const p of params) p.assign(p.sub(p.grad!.mul(0.05)));
            });
            tr.zeroGrad(params);
            return loss.item();
          });
          if (step === 0) first = loss;
          last = loss;
          if (step === 100) warm = tr.memory().bytes;
          if (step > 100) assert.equal(tr.memory().bytes, warm, `memory grew at step ${step}`);
        }
        assert.ok(last < first * 0.5, `the loop trains (loss ${first} -> ${last})`);
      }));
  });
}
