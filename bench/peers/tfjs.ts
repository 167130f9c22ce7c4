/**
 * TensorFlow.js wasm-backend runner: `node --import tsx bench/peers/tfjs.ts --threads 1|mt`.
 *
 * Its Node bundle never threads (tfjs#3830), so both modes load the package's ES modules, which use
 * the raw Emscripten factories. Multi-threaded mode installs the Worker shim, forces the thread-support
 * flag, and reports twice the cores to Emscripten: tfjs sizes XNNPACK's pool to half the logical cores
 * (it assumes two hyperthreads per core), which would leave one thread on a machine whose vCPUs are
 * the cores. Layout is tfjs's native NHWC.
 */
import os from "node:os";
import { installWorkerShim } from "../lib/worker-shim.js";
import { SIZES, initScale, oneHot, randomF32, workload, type Cell } from "../workloads.js";
import { cellOf, emit, measure, parseArgs, runWorkloads, type Impl } from "../lib/timing.js";

const args = parseArgs();
const mt = args.rest.get("threads") === "mt";
if (mt) {
  installWorkerShim();
  const cpus = os.cpus;
  os.cpus = () => {
    const c = cpus();
    return [...c, ...c];
  };
}
const tf = await import("@tensorflow/tfjs");
const wasm = (await import("@tensorflow/tfjs-backend-wasm/dist/index.js")) as { getThreadsCount(): number; version_wasm: string };
if (mt) tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
await tf.setBackend("wasm");
await tf.ready();

type T = import("@tensorflow/tfjs").Tensor;
type T4 = import("@tensorflow/tfjs").Tensor4D;
type Var = import("@tensorflow/tfjs").Variable;
type Scalar = import("@tensorflow/tfjs").Scalar;
const t = (data: Float32Array, shape: number[]): T => tf.tensor(data, shape, "float32");
// tidy walks its callback's result looking for tensors, so the callbacks below return nothing:
// handing it a 16 MB Float32Array costs seconds
const run = async (id: string, fn: () => unknown, perRun = 1): Promise<Cell> => {
  const m = await measure(fn, args.opts);
  return cellOf(workload(id), m.ms, m.samples, perRun);
};

function trainer(id: string, vars: Record<string, Var>, loss: () => Scalar): () => Promise<Cell> {
  const opt = tf.train.adam(SIZES.mlp.lr);
  const list = Object.values(vars);
  const once = () => {
    const l = tf.tidy(() => opt.minimize(loss, true, list)!) as Scalar;
    l.dataSync();
    list.at(-1)!.dataSync();
    l.dispose();
  };
  return () => run(id, once);
}

const v = (data: Float32Array, shape: number[]) => tf.variable(t(data, shape));
const impls: Record<string, Impl> = {};
for (const n of SIZES.matmul) {
  impls[`matmul${n}`] = async () => {
    const a = t(randomF32(n * n, 1), [n, n]), b = t(randomF32(n * n, 2), [n, n]);
    return run(`matmul${n}`, () => tf.tidy(() => void tf.matMul(a, b).dataSync()));
  };
}
impls.conv2d = async () => {
  const c = SIZES.conv;
  const x = t(randomF32(c.n * c.cin * c.h * c.w, 3), [c.n, c.h, c.w, c.cin]);
  const filter = t(randomF32(c.cout * c.cin * c.k * c.k, 4, 0.1), [c.k, c.k, c.cin, c.cout]);
  const bias = t(randomF32(c.cout, 5), [c.cout]);
  const pad = [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
  return run("conv2d", () => tf.tidy(() => void tf.fused.conv2d({ x: x as T4, filter: filter as T4, bias, strides: 1, pad }).dataSync()));
};
impls.gelu = async () => {
  const x = t(randomF32(SIZES.gelu, 6, 3), [SIZES.gelu]);
  const k = Math.sqrt(2 / Math.PI);
  return run("gelu", () => tf.tidy(() => {
    const u = x.mul(1.5).add(0.5);
    const inner = u.add(u.mul(u).mul(u).mul(0.044715)).mul(k);
    u.mul(0.5).mul(inner.tanh().add(1)).dataSync();
  }));
};
impls.softmax = async () => {
  const [r, c] = SIZES.softmax;
  const x = t(randomF32(r * c, 7, 4), [r, c]);
  return run("softmax", () => tf.tidy(() => void tf.softmax(x).dataSync()));
};
impls.mlp_eager = async () => {
  const m = SIZES.mlp, d = m.dims;
  const p: Record<string, Var> = {};
  for (let i = 0; i < 3; i++) {
    p[`w${i + 1}`] = v(randomF32(d[i]! * d[i + 1]!, 10 + i, initScale(d[i]!)), [d[i]!, d[i + 1]!]);
    p[`b${i + 1}`] = tf.variable(tf.zeros([d[i + 1]!]));
  }
  const x = t(randomF32(m.batch * d[0], 8), [m.batch, d[0]]), y = t(oneHot(m.batch, 10), [m.batch, 10]);
  const loss = () => {
    const h1 = tf.relu(tf.matMul(x, p.w1!).add(p.b1!));
    const h2 = tf.relu(tf.matMul(h1, p.w2!).add(p.b2!));
    return tf.losses.softmaxCrossEntropy(y, tf.matMul(h2, p.w3!).add(p.b3!)) as Scalar;
  };
  return trainer("mlp_eager", p, loss)();
};
impls.mlp_jit = async () => "no jit in tfjs";
impls.cnn_eager = async () => {
  const c = SIZES.cnn;
  const shapes: Record<string, number[]> = { c1: [5, 5, 1, 6], c2: [5, 5, 6, 16], f1: [400, 120], f2: [120, 84], f3: [84, 10] };
  const p: Record<string, Var> = {};
  let seed = 20;
  for (const [k, s] of Object.entries(shapes)) {
    const fanIn = k.startsWith("c") ? s[0]! * s[1]! * s[2]! : s[0]!;
    p[`${k}w`] = v(randomF32(s.reduce((a, b) => a * b, 1), seed++, initScale(fanIn)), s);
    p[`${k}b`] = tf.variable(tf.zeros([s.at(-1)!]));
  }
  const x = t(randomF32(c.batch * 28 * 28, 9), [c.batch, 28, 28, 1]) as T4;
  const y = t(oneHot(c.batch, c.classes), [c.batch, c.classes]);
  const loss = () => {
    let h = tf.maxPool(tf.relu(tf.conv2d(x, p.c1w as T4, 1, "same").add(p.c1b!)) as T4, 2, 2, "valid");
    h = tf.maxPool(tf.relu(tf.conv2d(h, p.c2w as T4, 1, "valid").add(p.c2b!)) as T4, 2, 2, "valid");
    let f: T = h.reshape([c.batch, 400]);
    f = tf.relu(tf.matMul(f, p.f1w!).add(p.f1b!));
    f = tf.relu(tf.matMul(f, p.f2w!).add(p.f2b!));
    return tf.losses.softmaxCrossEntropy(y, tf.matMul(f, p.f3w!).add(p.f3b!)) as Scalar;
  };
  return trainer("cnn_eager", p, loss)();
};
impls.cnn_jit = async () => "no jit in tfjs";
impls.dispatch = async () => {
  const d = SIZES.dispatch;
  const x0 = t(randomF32(d.size, 11), [d.size]);
  return run("dispatch", () => tf.tidy(() => {
    let x = x0;
    for (let i = 0; i < d.ops; i++) x = x.add(1);
    x.dataSync();
  }), d.ops);
};

const report = await runWorkloads(mt ? "tfjs-wasm-mt" : "tfjs-wasm-1t", { version: tf.version_core, threads: wasm.getThreadsCount(), simd: Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) }, impls, args);
emit(report);
process.exit(0);
