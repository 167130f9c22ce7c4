/**
 * onnxruntime-node runner (inference rows only): `node --import tsx bench/peers/ort.ts`. Each
 * workload is a one-node-or-so ONNX graph written by bench/lib/onnx.ts, run by the CPU execution
 * provider with all graph optimisations and one intra-op thread per core. Weights are initializers,
 * activations are feeds; outputs come back as host arrays, so every run ends with the data in JS.
 */
import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";
import { encodeModel, type OnnxGraph } from "../lib/onnx.js";
import { SIZES, randomF32, workload, type Cell } from "../workloads.js";
import { cellOf, emit, measure, parseArgs, runWorkloads, type Impl } from "../lib/timing.js";

const args = parseArgs();
const threads = Number(args.rest.get("threads") ?? availableParallelism());

const run = async (id: string, fn: () => unknown): Promise<Cell> => {
  const m = await measure(fn, args.opts);
  return cellOf(workload(id), m.ms, m.samples);
};

async function session(g: OnnxGraph): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(g), {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
}

const f32 = (data: Float32Array, shape: number[]) => new ort.Tensor("float32", data, shape);

/** Time `session.run` on fixed feeds; the output is read (and so materialised) each time. */
async function timed(id: string, g: OnnxGraph, feeds: Record<string, ort.Tensor>): Promise<Cell> {
  const s = await session(g);
  const out = g.outputs[0]!.name;
  return run(id, async () => {
    const r = await s.run(feeds);
    void (r[out]!.data as Float32Array)[0];
  });
}

const impls: Record<string, Impl> = {};
for (const n of SIZES.matmul) {
  impls[`matmul${n}`] = () => timed(`matmul${n}`, {
    nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["c"] }],
    inputs: [{ name: "a", shape: [n, n] }, { name: "b", shape: [n, n] }],
    outputs: [{ name: "c", shape: [n, n] }],
  }, { a: f32(randomF32(n * n, 1), [n, n]), b: f32(randomF32(n * n, 2), [n, n]) });
}
impls.conv2d = () => {
  const c = SIZES.conv;
  return timed("conv2d", {
    nodes: [{ op: "Conv", inputs: ["x", "w", "b"], outputs: ["y"], attrs: { pads: [c.pad, c.pad, c.pad, c.pad], kernel_shape: [c.k, c.k] } }],
    inputs: [{ name: "x", shape: [c.n, c.cin, c.h, c.w] }],
    outputs: [{ name: "y", shape: [c.n, c.cout, c.h, c.w] }],
    initializers: [
      { name: "w", shape: [c.cout, c.cin, c.k, c.k], data: randomF32(c.cout * c.cin * c.k * c.k, 4, 0.1) },
      { name: "b", shape: [c.cout], data: randomF32(c.cout, 5) },
    ],
  }, { x: f32(randomF32(c.n * c.cin * c.h * c.w, 3), [c.n, c.cin, c.h, c.w]) });
};
impls.gelu = () => {
  const n = SIZES.gelu;
  // opset 20's Gelu with approximate="tanh"; the scalars are initializers so the optimiser can fold them
  return timed("gelu", {
    nodes: [
      { op: "Mul", inputs: ["x", "k"], outputs: ["u0"] },
      { op: "Add", inputs: ["u0", "c"], outputs: ["u"] },
      { op: "Gelu", inputs: ["u"], outputs: ["y"], attrs: { approximate: "tanh" } },
    ],
    inputs: [{ name: "x", shape: [n] }],
    outputs: [{ name: "y", shape: [n] }],
    initializers: [{ name: "k", shape: [], data: new Float32Array([1.5]) }, { name: "c", shape: [], data: new Float32Array([0.5]) }],
  }, { x: f32(randomF32(n, 6, 3), [n]) });
};
impls.softmax = () => {
  const [r, c] = SIZES.softmax;
  return timed("softmax", {
    nodes: [{ op: "Softmax", inputs: ["x"], outputs: ["y"], attrs: { axis: -1 } }],
    inputs: [{ name: "x", shape: [r, c] }],
    outputs: [{ name: "y", shape: [r, c] }],
  }, { x: f32(randomF32(r * c, 7, 4), [r, c]) });
};
for (const id of ["mlp_eager", "mlp_jit", "cnn_eager", "cnn_jit"]) impls[id] = async () => "inference runtime (no training)";
impls.dispatch = async () => "graph runtime (no eager ops)";

const report = await runWorkloads("ort", { version: ort.env.versions.node ?? "", threads }, impls, args);
emit(report);
process.exit(0);
