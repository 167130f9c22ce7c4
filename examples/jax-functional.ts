// A JAX-style functional training loop: parameters are a plain pytree, the loss is a pure function,
// `jit(valueAndGrad(loss))` gives the step, `optim.functional.adam` updates immutably, every random draw
// takes an explicit PRNG key, and `vmap(grad(...))` gives per-example gradients.
// Run: node --import tsx examples/jax-functional.ts [--quick] [--steps N] [--batch N]
import * as tr from "../src/index.js";
import { optim } from "../src/index.js";
import { quick, size } from "./args.js";

type Params = { w1: tr.Tensor; b1: tr.Tensor; w2: tr.Tensor; b2: tr.Tensor };

const steps = size("steps", 600, 60);
const batch = size("batch", 128, 64);
const hidden = size("hidden", 128, 64);
tr.setBackend(process.env.TRIDENT_BACKEND ?? "wasm");

function initParams(key: tr.random.Key): Params {
  const [k1, k2] = tr.random.splitKeys(key, 2);
  return {
    w1: tr.mul(tr.random.normal(k1!, [784, hidden]), Math.sqrt(2 / 784)),
    b1: tr.zeros([hidden]),
    w2: tr.mul(tr.random.normal(k2!, [hidden, 10]), Math.sqrt(2 / hidden)),
    b2: tr.zeros([10]),
  };
}

const predict = (p: Params, x: tr.Tensor) => tr.add(tr.matmul(tr.relu(tr.add(tr.matmul(x, p.w1), p.b1)), p.w2), p.b2);
const loss = (p: Params, x: tr.Tensor, y: tr.Tensor) => tr.nn.functional.crossEntropy(predict(p, x), y);

const opt = optim.functional.adam({ lr: 1e-3 });
const step = tr.jit((p: Params, s: optim.functional.AdamState, x: tr.Tensor, y: tr.Tensor) => {
  const [l, g] = tr.valueAndGrad(loss)(p, x, y);
  const [p2, s2] = opt.update(g, s, p);
  return [p2, s2, l] as const;
});

const { train, test } = await tr.datasets.mnist({ flatten: true });
const all = train.gather(Array.from({ length: train.length }, (_, i) => i)) as Record<"x" | "y", tr.Tensor>;
const held = test.gather(Array.from({ length: test.length }, (_, i) => i)) as Record<"x" | "y", tr.Tensor>;

let key = tr.random.key(0);
let initKey: tr.random.Key;
[key, initKey] = tr.random.splitKeys(key, 2) as [tr.random.Key, tr.random.Key];
let params = initParams(initKey);
let state = opt.init(params);
const accuracy = (p: Params) => tr.mean(tr.astype(tr.equal(tr.argmax(predict(p, held.x), { axis: 1 }), held.y), "float32")).item();

console.log(`functional MLP 784-${hidden}-10, ${steps} steps of ${batch}${quick ? " (quick)" : ""}`);
const first = loss(params, held.x, held.y).item();
console.log(`step 0: held-out loss ${first.toFixed(4)}  accuracy ${(100 * accuracy(params)).toFixed(1)}%`);
const t0 = performance.now();
const every = Math.max(1, Math.floor(steps / 5));
for (let i = 1; i <= steps; i++) {
  let sub: tr.random.Key;
  [key, sub] = tr.random.splitKeys(key, 2) as [tr.random.Key, tr.random.Key];
  const idx = tr.random.randint(sub, [batch], 0, train.length);
  const [p2, s2, l] = step(params, state, tr.take(all.x, idx, { axis: 0 }), tr.take(all.y, idx, { axis: 0 }));
  params = p2;
  state = s2;
  if (i % every === 0 || i === steps) {
    const secs = (performance.now() - t0) / 1000;
    console.log(`step ${i}: batch loss ${l.item().toFixed(4)}  ${((i * batch) / secs).toFixed(0)} samples/s`);
  }
}
const last = loss(params, held.x, held.y).item();
console.log(`final: held-out loss ${last.toFixed(4)}  accuracy ${(100 * accuracy(params)).toFixed(1)}%`);

// Per-example gradients: grad of the one-example loss, vmapped over the batch axis of x and y only.
const exampleLoss = (p: Params, x: tr.Tensor, y: tr.Tensor) => loss(p, tr.reshape(x, [1, 784]), tr.reshape(y, [1]));
const perExample = tr.vmap(tr.grad(exampleLoss), { inAxes: [null, 0, 0] });
const n = 8;
const g = perExample(params, tr.slice(held.x, [[0, n]]), tr.slice(held.y, [[0, n]])) as Params;
const norms = tr.sqrt(tr.add(tr.add(tr.sum(tr.square(g.w1), { axis: [1, 2] }), tr.sum(tr.square(g.b1), { axis: 1 })), tr.add(tr.sum(tr.square(g.w2), { axis: [1, 2] }), tr.sum(tr.square(g.b2), { axis: 1 }))));
console.log(`per-example grad norms: ${Array.from(norms.dataSync()).map((v) => v.toFixed(4)).join(" ")}`);
// the mean of the per-example gradients is the batch gradient
const batchGrad = tr.grad(loss)(params, tr.slice(held.x, [[0, n]]), tr.slice(held.y, [[0, n]]));
const gap = tr.max(tr.abs(tr.sub(tr.mean(g.w2, { axis: 0 }), batchGrad.w2))).item();
console.log(`max |mean(per-example) - batch| grad gap (w2): ${gap.toExponential(2)}`);
