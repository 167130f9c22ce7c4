/**
 * Trident runner: `node --import tsx bench/peers/trident.ts [--backend wasm|ref] [--only ids] [--quick]`.
 * Every timed call ends in a `dataSync()` and runs inside `tr.scope`, so a result is computed and its
 * intermediates freed within the measurement.
 */
import * as tr from "../../src/index.js";
import { adam } from "../../src/optim/functional.js";
import { SIZES, initScale, oneHot, randomF32, workload, type Cell } from "../workloads.js";
import { cellOf, emit, measure, parseArgs, runWorkloads, type Impl } from "../lib/timing.js";

type Params = Record<string, tr.Tensor>;

const args = parseArgs();
const backend = args.rest.get("backend") ?? "wasm";
// the interpreter is the oracle, not a fast path: only the cheap rows run on it
const REF_ROWS = new Set(["matmul256", "softmax", "gelu", "dispatch", "mlp_jit"]);
const be = (await tr.setBackend(backend)) as { ready?(): Promise<void>; getThreads?(): number };
await be.ready?.();

const t = (data: Float32Array, shape: readonly number[]): tr.Tensor => tr.fromTypedArray(data, shape);
const run = async (id: string, fn: () => unknown, perRun = 1): Promise<Cell> => {
  const m = await measure(fn, args.opts);
  return cellOf(workload(id), m.ms, m.samples, perRun);
};
const leaves = (tree: unknown): tr.Tensor[] => tr.treeFlatten(tree)[0] as tr.Tensor[];

function mlpParams(): Params {
  const d = SIZES.mlp.dims;
  const p: Params = {};
  for (let i = 0; i < 3; i++) {
    p[`w${i + 1}`] = t(randomF32(d[i]! * d[i + 1]!, 10 + i, initScale(d[i]!)), [d[i]!, d[i + 1]!]);
    p[`b${i + 1}`] = tr.zeros([d[i + 1]!]);
  }
  return p;
}

function mlpLoss(p: Params, x: tr.Tensor, y: tr.Tensor): tr.Tensor {
  const h1 = tr.relu(tr.matmul(x, p.w1!).add(p.b1!));
  const h2 = tr.relu(tr.matmul(h1, p.w2!).add(p.b2!));
  return tr.crossEntropy(tr.matmul(h2, p.w3!).add(p.b3!), y);
}

function cnnParams(): Params {
  const shapes: Record<string, number[]> = {
    c1: [6, 1, 5, 5], c2: [16, 6, 5, 5], f1: [400, 120], f2: [120, 84], f3: [84, 10],
  };
  const p: Params = {};
  let seed = 20;
  for (const [k, s] of Object.entries(shapes)) {
    const fanIn = k.startsWith("c") ? s[1]! * s[2]! * s[3]! : s[0]!;
    p[`${k}w`] = t(randomF32(s.reduce((a, b) => a * b, 1), seed++, initScale(fanIn)), s);
    p[`${k}b`] = tr.zeros([k.startsWith("c") ? s[0]! : s[1]!]);
  }
  return p;
}

function cnnLoss(p: Params, x: tr.Tensor, y: tr.Tensor): tr.Tensor {
  let h = tr.maxPool2d(tr.relu(tr.conv2d(x, p.c1w!, p.c1b!, { padding: 2 })), { kernelSize: 2 });
  h = tr.maxPool2d(tr.relu(tr.conv2d(h, p.c2w!, p.c2b!)), { kernelSize: 2 });
  h = h.reshape([h.shape[0]!, 400]);
  h = tr.relu(tr.matmul(h, p.f1w!).add(p.f1b!));
  h = tr.relu(tr.matmul(h, p.f2w!).add(p.f2b!));
  return tr.crossEntropy(tr.matmul(h, p.f3w!).add(p.f3b!), y);
}

/** A training-step timer: new parameters and state replace the old, which are freed. */
function trainer(id: string, params: Params, loss: (p: Params, x: tr.Tensor, y: tr.Tensor) => tr.Tensor, x: tr.Tensor, y: tr.Tensor, jit: boolean): () => Promise<Cell> {
  const opt = adam({ lr: SIZES.mlp.lr });
  let state = opt.init(params);
  const step = (p: Params, s: typeof state, xb: tr.Tensor, yb: tr.Tensor) => {
    const [l, g] = tr.valueAndGrad(loss)(p, xb, yb);
    const [p2, s2] = opt.update(g, s, p);
    return [l, p2, s2] as const;
  };
  const stepFn = jit ? tr.jit(step) : step;
  const once = () => {
    const [l, p2, s2] = tr.scope(() => stepFn(params, state, x, y));
    const fresh = new Set([...leaves(p2), ...leaves(s2)]);
    for (const old of [...leaves(params), ...leaves(state)]) if (!fresh.has(old)) old.dispose();
    params = p2;
    state = s2;
    l.dataSync();
    params[Object.keys(params).at(-1)!]!.dataSync();
    l.dispose();
  };
  return () => run(id, once);
}

const impls: Record<string, Impl> = {};
for (const n of SIZES.matmul) {
  impls[`matmul${n}`] = async () => {
    const a = t(randomF32(n * n, 1), [n, n]), b = t(randomF32(n * n, 2), [n, n]);
    return run(`matmul${n}`, () => tr.scope(() => tr.matmul(a, b).dataSync()));
  };
}
impls.conv2d = async () => {
  const c = SIZES.conv;
  const x = t(randomF32(c.n * c.cin * c.h * c.w, 3), [c.n, c.cin, c.h, c.w]);
  const w = t(randomF32(c.cout * c.cin * c.k * c.k, 4, 0.1), [c.cout, c.cin, c.k, c.k]);
  const b = t(randomF32(c.cout, 5), [c.cout]);
  return run("conv2d", () => tr.scope(() => tr.conv2d(x, w, b, { padding: c.pad }).dataSync()));
};
impls.gelu = async () => {
  const x = t(randomF32(SIZES.gelu, 6, 3), [SIZES.gelu]);
  const f = tr.jit((v: tr.Tensor) => tr.gelu(v.mul(1.5).add(0.5), { approximate: "tanh" }));
  return run("gelu", () => tr.scope(() => f(x).dataSync()));
};
impls.softmax = async () => {
  const [r, c] = SIZES.softmax;
  const x = t(randomF32(r * c, 7, 4), [r, c]);
  // Trident's best setting, as for gelu: the jitted program (4 fused kernels instead of ~17 eager ones)
  const f = tr.jit((v: tr.Tensor) => tr.softmax(v, { axis: -1 }));
  return run("softmax", () => tr.scope(() => f(x).dataSync()));
};
const mlpData = () => {
  const m = SIZES.mlp;
  return [t(randomF32(m.batch * m.dims[0], 8), [m.batch, m.dims[0]]), t(oneHot(m.batch, 10), [m.batch, 10])] as const;
};
const cnnData = () => {
  const c = SIZES.cnn;
  return [t(randomF32(c.batch * 28 * 28, 9), [c.batch, 1, 28, 28]), t(oneHot(c.batch, c.classes), [c.batch, c.classes])] as const;
};
impls.mlp_eager = () => trainer("mlp_eager", mlpParams(), mlpLoss, ...mlpData(), false)();
impls.mlp_jit = () => trainer("mlp_jit", mlpParams(), mlpLoss, ...mlpData(), true)();
impls.cnn_eager = () => trainer("cnn_eager", cnnParams(), cnnLoss, ...cnnData(), false)();
impls.cnn_jit = () => trainer("cnn_jit", cnnParams(), cnnLoss, ...cnnData(), true)();
impls.dispatch = async () => {
  const d = SIZES.dispatch;
  const x0 = t(randomF32(d.size, 11), [d.size]);
  return run("dispatch", () => tr.scope(() => {
    let x = x0;
    for (let i = 0; i < d.ops; i++) x = x.add(1);
    x.dataSync();
  }), d.ops);
};

if (backend === "ref") for (const k of Object.keys(impls)) if (!REF_ROWS.has(k)) impls[k] = async () => "ref runs only the cheap rows";

const info: Record<string, string | number> = backend === "wasm" ? { backend, threads: be.getThreads?.() ?? "?" } : { backend };
const report = await runWorkloads(`trident-${backend}`, info, impls, args);
emit(report);
process.exit(0);
