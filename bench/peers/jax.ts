/**
 * jax-js wasm runner: `node --import tsx bench/peers/jax.ts --threads 1|mt`.
 *
 * jax-js builds its wasm device at import and gives it a worker pool only when `SharedArrayBuffer` and
 * a global `Worker` exist, so multi-threaded mode installs the shim before the import. jax-js arrays
 * follow ownership rules: every call consumes its array arguments, `.ref` keeps one alive, and
 * `data()` consumes what it reads. Adam is written out here (the optax package is separate).
 */
import { installWorkerShim } from "../lib/worker-shim.js";
import { SIZES, initScale, oneHot, randomF32, workload, type Cell } from "../workloads.js";
import { cellOf, emit, measure, parseArgs, runWorkloads, type Impl } from "../lib/timing.js";

const args = parseArgs();
const mt = args.rest.get("threads") === "mt";
if (mt) installWorkerShim();
const jax = await import("@jax-js/jax");
const { numpy: np, nn, lax } = jax;
type A = import("@jax-js/jax").Array;
type Params = Record<string, A>;
jax.defaultDevice("wasm");

const t = (data: Float32Array, shape: number[]): A => np.array(data).reshape(shape);
const run = async (id: string, fn: () => unknown, perRun = 1): Promise<Cell> => {
  const m = await measure(fn, args.opts);
  return cellOf(workload(id), m.ms, m.samples, perRun);
};
const refs = (p: Params): Params => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.ref]));

const B1 = 0.9, B2 = 0.999, EPS = 1e-8;

/** One Adam step on every leaf; lrT is the bias-corrected step size for this step. */
function adamStep(p: Params, g: Params, m: Params, v: Params, lrT: A): [Params, Params, Params] {
  const p2: Params = {}, m2: Params = {}, v2: Params = {};
  for (const k of Object.keys(p)) {
    const gk = g[k]!;
    const mk = m[k]!.mul(B1).add(gk.ref.mul(1 - B1));
    const vk = v[k]!.mul(B2).add(gk.ref.mul(gk).mul(1 - B2));
    const upd = mk.ref.div(np.sqrt(vk.ref).add(EPS)).mul(lrT.ref);
    p2[k] = p[k]!.sub(upd);
    m2[k] = mk;
    v2[k] = vk;
  }
  lrT.dispose();
  return [p2, m2, v2];
}

type LossFn = (p: Params, x: A, y: A) => A;

function trainer(id: string, params: Params, loss: LossFn, x: A, y: A, useJit: boolean): () => Promise<Cell> {
  const zeros = (p: Params): Params => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, np.zerosLike(v.ref)]));
  let m = zeros(params), v = zeros(params), step = 0;
  const body = (p: Params, mm: Params, vv: Params, xb: A, yb: A, lrT: A): [A, Params, Params, Params] => {
    const [l, g] = jax.valueAndGrad(loss)(refs(p), xb, yb) as unknown as [A, Params];
    const [p2, m2, v2] = adamStep(p, g, mm, vv, lrT);
    return [l, p2, m2, v2];
  };
  const fn = useJit ? jax.jit(body) : body;
  const once = async () => {
    step++;
    const lrT = np.array(SIZES.mlp.lr * Math.sqrt(1 - B2 ** step) / (1 - B1 ** step));
    const [l, p2, m2, v2] = fn(params, m, v, x.ref, y.ref, lrT) as [A, Params, Params, Params];
    params = p2;
    m = m2;
    v = v2;
    await l.data();
    await jax.blockUntilReady(params);
  };
  return () => run(id, once);
}

function mlp(): [Params, LossFn] {
  const d = SIZES.mlp.dims;
  const p: Params = {};
  for (let i = 0; i < 3; i++) {
    p[`w${i + 1}`] = t(randomF32(d[i]! * d[i + 1]!, 10 + i, initScale(d[i]!)), [d[i]!, d[i + 1]!]);
    p[`b${i + 1}`] = np.zeros([d[i + 1]!]);
  }
  const loss: LossFn = (q, x, y) => {
    const h1 = nn.relu(np.matmul(x, q.w1!).add(q.b1!));
    const h2 = nn.relu(np.matmul(h1, q.w2!).add(q.b2!));
    const logp = nn.logSoftmax(np.matmul(h2, q.w3!).add(q.b3!), -1);
    return np.multiply(y, logp).sum().mul(-1 / SIZES.mlp.batch);
  };
  return [p, loss];
}

// max-pooling 2×2 as a reshape and a max, since the sizes are even
const pool2 = (h: A): A => {
  const [n, c, hh, ww] = h.shape as [number, number, number, number];
  return h.reshape([n, c, hh / 2, 2, ww / 2, 2]).max([3, 5]);
};

function cnn(): [Params, LossFn] {
  const shapes: Record<string, number[]> = { c1: [6, 1, 5, 5], c2: [16, 6, 5, 5], f1: [400, 120], f2: [120, 84], f3: [84, 10] };
  const p: Params = {};
  let seed = 20;
  for (const [k, s] of Object.entries(shapes)) {
    const fanIn = k.startsWith("c") ? s[1]! * s[2]! * s[3]! : s[0]!;
    p[`${k}w`] = t(randomF32(s.reduce((a, b) => a * b, 1), seed++, initScale(fanIn)), s);
    p[`${k}b`] = np.zeros([k.startsWith("c") ? s[0]! : s[1]!]);
  }
  const loss: LossFn = (q, x, y) => {
    let h = pool2(nn.relu(lax.conv(x, q.c1w!, [1, 1], [[2, 2], [2, 2]]).add(q.c1b!.reshape([1, 6, 1, 1]))));
    h = pool2(nn.relu(lax.conv(h, q.c2w!, [1, 1], "VALID").add(q.c2b!.reshape([1, 16, 1, 1]))));
    h = h.reshape([SIZES.cnn.batch, 400]);
    h = nn.relu(np.matmul(h, q.f1w!).add(q.f1b!));
    h = nn.relu(np.matmul(h, q.f2w!).add(q.f2b!));
    const logp = nn.logSoftmax(np.matmul(h, q.f3w!).add(q.f3b!), -1);
    return np.multiply(y, logp).sum().mul(-1 / SIZES.cnn.batch);
  };
  return [p, loss];
}

const impls: Record<string, Impl> = {};
for (const n of SIZES.matmul) {
  impls[`matmul${n}`] = async () => {
    const a = t(randomF32(n * n, 1), [n, n]), b = t(randomF32(n * n, 2), [n, n]);
    return run(`matmul${n}`, () => np.matmul(a.ref, b.ref).data());
  };
}
impls.conv2d = async () => {
  const c = SIZES.conv;
  const x = t(randomF32(c.n * c.cin * c.h * c.w, 3), [c.n, c.cin, c.h, c.w]);
  const w = t(randomF32(c.cout * c.cin * c.k * c.k, 4, 0.1), [c.cout, c.cin, c.k, c.k]);
  const b = t(randomF32(c.cout, 5), [1, c.cout, 1, 1]);
  const f = jax.jit((xx: A, ww: A, bb: A) => lax.conv(xx, ww, [1, 1], [[c.pad, c.pad], [c.pad, c.pad]]).add(bb));
  return run("conv2d", () => f(x.ref, w.ref, b.ref).data());
};
impls.gelu = async () => {
  const x = t(randomF32(SIZES.gelu, 6, 3), [SIZES.gelu]);
  const f = jax.jit((v: A) => nn.gelu(v.mul(1.5).add(0.5), { approximate: true }));
  return run("gelu", () => f(x.ref).data());
};
impls.softmax = async () => {
  const [r, c] = SIZES.softmax;
  const x = t(randomF32(r * c, 7, 4), [r, c]);
  return run("softmax", () => nn.softmax(x.ref, -1).data());
};
const mlpData = (): [A, A] => {
  const m = SIZES.mlp;
  return [t(randomF32(m.batch * m.dims[0], 8), [m.batch, m.dims[0]]), t(oneHot(m.batch, 10), [m.batch, 10])];
};
const cnnData = (): [A, A] => {
  const c = SIZES.cnn;
  return [t(randomF32(c.batch * 28 * 28, 9), [c.batch, 1, 28, 28]), t(oneHot(c.batch, c.classes), [c.batch, c.classes])];
};
impls.mlp_eager = () => trainer("mlp_eager", ...mlp(), ...mlpData(), false)();
impls.mlp_jit = () => trainer("mlp_jit", ...mlp(), ...mlpData(), true)();
impls.cnn_eager = () => trainer("cnn_eager", ...cnn(), ...cnnData(), false)();
impls.cnn_jit = () => trainer("cnn_jit", ...cnn(), ...cnnData(), true)();
impls.dispatch = async () => {
  const d = SIZES.dispatch;
  const x0 = t(randomF32(d.size, 11), [d.size]);
  return run("dispatch", async () => {
    let x = x0.ref;
    for (let i = 0; i < d.ops; i++) x = x.add(1);
    await x.data();
  }, d.ops);
};

const report = await runWorkloads(mt ? "jax-wasm-mt" : "jax-wasm-1t", { threads: mt ? (globalThis.navigator?.hardwareConcurrency ?? 0) : 1 }, impls, args);
emit(report);
process.exit(0);
