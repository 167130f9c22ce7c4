import { test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { BACKENDS, withBackend } from "../helpers.js";

// the collector on demand without --expose-gc on the command line, so plain `npm test` runs this
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

for (const b of BACKENDS) {
  test(`[${b}] memory().numTensors drops when the safety net collects tensors`, async () =>
    withBackend(b, async () => {
      const model = new tr.nn.Sequential(new tr.nn.Linear(4, 8), new tr.nn.ReLU(), new tr.nn.Linear(8, 1));
      const opt = new tr.optim.Adam(model.parameters(), { lr: 1e-3 });
      const x = tr.ones([16, 4]);
      const step = () => {
        opt.zeroGrad();
        const loss = (model.forward(x) as tr.Tensor).square().mean();
        loss.backward();
        opt.step();
      };
      for (let i = 0; i < 20; i++) step();
      const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 10)); } };
      await settle();
      const before = tr.memory().numTensors;
      for (let i = 0; i < 200; i++) step();
      await settle();
      const after = tr.memory().numTensors;
      // 200 steps of ~46 tensors each would add ~9,000 if collected tensors were still counted
      assert.ok(after - before < 100, `numTensors grew from ${before} to ${after}`);
    }));
}
