// ONNX export verified in ONNX Runtime: every exported program runs in onnxruntime-node and must give
// what Trident gives for the same inputs (at other batch sizes too, for dynamic axes).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tr from "../../src/index.js";
import * as nn from "../../src/nn/index.js";
import { exportFunction, exportModule, type ExportOptions } from "../../src/onnx/export.js";
import { exportCheckpointToOnnx } from "../../src/cli/export.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { load } from "../../src/onnx/index.js";
import { mnistModel } from "../../src/nn/models/mnist.js";
import { conv as convPrim, type ConvP } from "../../src/core/prims/conv.js";
import { pad as padPrim } from "../../src/core/prims/structural.js";
import { BACKENDS, assertClose, withBackend } from "../helpers.js";

// ---------------------------------------------------------------- ONNX Runtime

interface OrtTensor { data: ArrayLike<number | bigint>; dims: readonly number[]; type: string }
interface OrtSession { run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }
interface Ort {
  Tensor: new (type: string, data: ArrayLike<number> | ArrayBufferView, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(bytes: Uint8Array): Promise<OrtSession> };
}

let ort: Ort | null = null;
let why = "";
try {
  ort = createRequire(import.meta.url)("onnxruntime-node") as Ort;
} catch (e) {
  why = `onnxruntime-node cannot be loaded on this platform (${(e as Error).message.split("\n")[0]}); ONNX export is not verified here`;
}

const ORT_TYPE: Record<string, string> = {
  float32: "float32", float64: "float64", int32: "int32", uint32: "uint32", int8: "int8", uint8: "uint8", bool: "bool", float16: "float16",
};

function toOrt(t: tr.Tensor): OrtTensor {
  const data = t.dataSync();
  const typed = t.dtype === "bool" ? Uint8Array.from(data as ArrayLike<number>) : data;
  return new ort!.Tensor(ORT_TYPE[t.dtype]!, typed as ArrayBufferView, t.shape);
}

async function runOnnx(bytes: Uint8Array, feeds: Record<string, tr.Tensor>): Promise<Record<string, OrtTensor>> {
  const s = await ort!.InferenceSession.create(bytes);
  return s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)])));
}

/** Deterministic inputs in [lo, hi) (a small LCG, so the test needs nothing random from Trident). */
function data(shape: number[], lo = -1, hi = 1, seed = 1, dtype: tr.DType = "float32"): tr.Tensor {
  let s = seed * 7919 + 17;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return lo + ((hi - lo) * s) / 2147483648;
  });
  return tr.tensor(v, { dtype }).reshape(shape);
}

function compare(got: OrtTensor, want: tr.Tensor, tol: { rtol?: number; atol?: number }, what: string): void {
  assert.deepEqual([...got.dims], [...want.shape], `${what}: shape`);
  assert.equal(got.type, ORT_TYPE[want.dtype], `${what}: dtype`);
  const g = Array.from(got.data as ArrayLike<number>, Number);
  assertClose(g, Array.from(want.dataSync()), { rtol: tol.rtol ?? 1e-5, atol: tol.atol ?? 1e-6, msg: what });
}

type Case = ExportOptions & { runs?: tr.Tensor[][]; rtol?: number; atol?: number; roundTrip?: boolean };

/**
 * Export fn at args, then run the model in ONNX Runtime at args (and at every extra argument list in
 * `runs`) and compare each output with fn's own result.
 */
async function check(fn: (...xs: tr.Tensor[]) => tr.Tensor | tr.Tensor[], args: tr.Tensor[], c: Case = {}): Promise<Uint8Array> {
  const bytes = exportFunction(fn, args, c);
  const model = decodeModel(bytes);
  const inNames = model.graph.inputs.map((i) => i.name), outNames = model.graph.outputs.map((o) => o.name);
  for (const xs of [args, ...(c.runs ?? [])]) {
    const res = await runOnnx(bytes, Object.fromEntries(inNames.map((n, i) => [n, xs[i]!])));
    const r = fn(...xs);
    const want = Array.isArray(r) ? r : [r];
    const at = `at input shapes ${xs.map((x) => `[${x.shape}]`).join(" ")}`;
    want.forEach((w, i) => compare(res[outNames[i]!]!, w, c, `output ${outNames[i]} ${at}`));
    if (c.roundTrip !== false) {
      // and back: Trident's own importer must read the exported model and compute the same
      const back = load(bytes).run(Object.fromEntries(inNames.map((n, i) => [n, xs[i]!])));
      want.forEach((w, i) => {
        const b = back[outNames[i]!]!;
        assert.deepEqual([...b.shape], [...w.shape], `round trip ${outNames[i]}: shape`);
        assertClose(Array.from(b.dataSync()), Array.from(w.dataSync()), { rtol: c.rtol ?? 1e-5, atol: c.atol ?? 1e-6, msg: `round trip ${outNames[i]} ${at}` });
      });
    }
  }
  return bytes;
}

const opTypes = (bytes: Uint8Array): string[] => decodeModel(bytes).graph.nodes.map((n) => n.opType);

// ---------------------------------------------------------------- suites

for (const backend of BACKENDS) {
  describe(`onnx export (${backend})`, { skip: ort ? false : why }, () => {
    const t = (name: string, fn: () => Promise<void> | void) => test(name, () => withBackend(backend, fn));

    t("model bytes: IR version, opset, producer, typed inputs and outputs", () => {
      const bytes = exportFunction((x: tr.Tensor) => x.mul(2), [data([2, 3])], { dynamicAxes: { input: { 0: "batch" } } });
      const m = decodeModel(bytes);
      assert.equal(m.irVersion, 8);
      assert.deepEqual(m.opsetImport, [{ domain: "", version: 17 }]);
      assert.equal(m.producerName, "trident");
      assert.deepEqual(m.graph.inputs[0]!.type, { kind: "tensor", elemType: 1, shape: ["batch", 3] });
      assert.deepEqual(m.graph.outputs[0]!.type, { kind: "tensor", elemType: 1, shape: ["batch", 3] });
      assert.equal(decodeModel(exportFunction((x: tr.Tensor) => x.neg(), [data([2])], { opset: 19 })).irVersion, 9);
    });

    t("unary float math", async () => {
      const x = data([3, 4], -0.9, 0.9, 2);
      const pos = data([3, 4], 0.1, 3, 3);
      await check((a: tr.Tensor) => [a.neg(), a.abs(), a.exp(), a.sin(), a.cos(), a.tan(), a.tanh(), a.sigmoid(), a.erf(), a.asin(), a.acos(), a.atan(), tr.atanh(a)], [x]);
      await check((a: tr.Tensor) => [a.log(), a.sqrt(), a.rsqrt(), a.reciprocal(), tr.sinh(a), tr.cosh(a), tr.asinh(a), tr.acosh(a.add(1))], [pos]);
      await check((a: tr.Tensor) => [a.sign(), a.floor(), a.ceil(), a.round()], [tr.tensor([-2.5, -1.5, -0.5, 0, 0.5, 1.5, 2.5, 2.7, -0.2])]);
    });

    t("compositions: log1p, expm1, erfinv, atan2 keep their accuracy", async () => {
      const small = tr.tensor([-0.5, -1e-3, -1e-7, 0, 1e-7, 1e-4, 0.3, 5, 40]);
      await check((a: tr.Tensor) => [tr.log1p(a), tr.expm1(a)], [small], { rtol: 2e-6, atol: 0 });
      await check((a: tr.Tensor) => tr.erfinv(a), [tr.tensor([-0.999, -0.9, -0.5, -1e-3, 0, 0.2, 0.7, 0.99, 0.9999])], { rtol: 2e-5, atol: 1e-6 });
      await check((a: tr.Tensor) => tr.erfinv(a), [tr.tensor([-1, 1])]);
      const ys = tr.tensor([1, -1, 1, -1, 0, 0, 2, -3, 0]), xs = tr.tensor([1, 1, -1, -1, 1, -1, 0, 0, 0]);
      await check((y: tr.Tensor, x: tr.Tensor) => tr.atan2(y, x), [ys, xs]);
    });

    t("binary arithmetic, comparisons, logic, where, casts", async () => {
      const a = data([2, 5], -3, 3, 4), b = data([2, 5], 0.5, 2, 5);
      await check((x: tr.Tensor, y: tr.Tensor) => [x.add(y), x.sub(y), x.mul(y), x.div(y), tr.pow(y, x), tr.maximum(x, y), tr.minimum(x, y), tr.remainder(x, y)], [a, b]);
      await check((x: tr.Tensor, y: tr.Tensor) => [x.less(y), x.lessEqual(y), x.greater(y), x.greaterEqual(y), x.equal(x), x.notEqual(y)], [a, b]);
      await check((x: tr.Tensor, y: tr.Tensor) => {
        const p = x.greater(0), q = y.less(1);
        return [tr.logicalAnd(p, q), tr.logicalOr(p, q), tr.logicalXor(p, q), tr.logicalNot(p), tr.where(p, x, y)];
      }, [a, b]);
      await check((x: tr.Tensor) => [x.astype("int32"), x.astype("int32").astype("float32").mul(0.5), x.greater(0).astype("float32"), tr.isnan(x), tr.isinf(x.div(0))], [a]);
      const i = tr.tensor([[7, -7, 5], [2, 9, -4]], { dtype: "int32" }), j = tr.tensor([[2, 2, -3], [5, 4, 3]], { dtype: "int32" });
      await check((x: tr.Tensor, y: tr.Tensor) => [x.add(y), x.mul(y), x.div(y), tr.remainder(x, y), tr.maximum(x, y), x.neg(), x.abs()], [i, j]);
    });

    t("float64 programs keep float64", async () => {
      const a = data([3, 4], -1, 1, 31, "float64"), b = data([4, 2], -1, 1, 32, "float64");
      await check((x: tr.Tensor, y: tr.Tensor) => [tr.tanh(tr.matmul(x, y)).add(1), x.exp().sum({ axis: 1 }), x.sin().mul(x)], [a, b], { rtol: 1e-12, atol: 1e-14 });
    });

    t("reductions, argmax/argmin, cumsum", async () => {
      const x = data([3, 4, 5], -2, 2, 6);
      await check((a: tr.Tensor) => [a.sum(), a.sum({ axis: 1 }), a.max({ axis: [0, 2] }), a.min({ axis: -1, keepdims: true }), a.prod({ axis: 2 }), a.mean({ axis: 0 })], [x]);
      await check((a: tr.Tensor) => [a.argmax({ axis: 1 }), a.argmin({ axis: 2 }), a.cumsum({ axis: 1 }), a.greater(0).sum({ axis: 2 })], [x]);
      for (const opset of [13, 18]) await check((a: tr.Tensor) => [a.max({ axis: 1 }), a.prod({ axis: 0 }), a.sum({ axis: 2 }), a.greater(0).any({ axis: 1 }), a.greater(-1.5).all({ axis: [0, 1] })], [x], { opset });
    });

    t("shape primitives: reshape, transpose, slice, flip, concatenate, pad (negative and interior), iota", async () => {
      const x = data([2, 3, 4], -1, 1, 7);
      await check((a: tr.Tensor) => [a.reshape([6, 4]), a.transpose([2, 0, 1]), a.slice([null, [1, 3], [null, null, 2]]), tr.flip(a, [0, 2]), a.slice([null, [null, null, -2]])], [x]);
      await check((a: tr.Tensor) => [tr.concatenate([a, a.mul(2)], 1), tr.pad(a, [[1, 0], [0, 2], [1, 1]], { value: 3 }), tr.arange(5).astype("float32"), tr.tril(a)], [x]);
      await check((a: tr.Tensor) => [padPrim(a, [0, -1, 2], [1, 1, -2], [0, 0, 0], 0), padPrim(a, [1, 0, 0], [0, 2, 1], [1, 2, 0], -1)], [x]);
      await check((a: tr.Tensor) => [tr.tile(a, [2, 1, 1]), tr.repeat(a, 2, 1), tr.roll(a, 1, 2), tr.broadcastTo(a.slice([null, [0, 1]]), [2, 3, 4])], [x]);
    });

    t("dot_general: Gemm, MatMul, batched and Einsum forms", async () => {
      const a = data([4, 3], -1, 1, 8), b = data([3, 5], -1, 1, 9), v = data([3], -1, 1, 10);
      const g = await check((x: tr.Tensor, y: tr.Tensor) => tr.matmul(x, y).add(tr.ones([5])), [a, b]);
      assert.ok(opTypes(g).includes("Gemm"), "a 2-D product with a bias is a Gemm");
      await check((x: tr.Tensor, y: tr.Tensor, z: tr.Tensor) => [tr.matmul(x, z), tr.matmul(z, y), tr.dot(z, z), tr.outer(z, z), tr.matmul(x.transpose(), x)], [a, b, v]);
      const p = data([2, 3, 4, 5], -1, 1, 11), q = data([2, 3, 5, 6], -1, 1, 12), r = data([2, 3, 6, 5], -1, 1, 13);
      await check((x: tr.Tensor, y: tr.Tensor, z: tr.Tensor) => [tr.matmul(x, y), tr.matmul(x, z.swapaxes(-1, -2)), tr.matmul(x, tr.ones([5, 2]))], [p, q, r]);
      await check((x: tr.Tensor, y: tr.Tensor) => [tr.einsum("bhij,bhjk->bhik", x, y), tr.einsum("abcd,abde->ce", x, y), tr.tensordot(x, x, [[0, 1], [0, 1]])], [p, q]);
      const i = tr.tensor([[1, 2], [3, 4]], { dtype: "int32" });
      await check((x: tr.Tensor) => tr.matmul(x, x), [i]);
    });

    t("conv: strides, padding, dilation, groups, 1-D, layouts, negative padding, transposed (lhs dilation)", async () => {
      const x = data([2, 4, 9, 8], -1, 1, 14), w = data([6, 2, 3, 3], -1, 1, 15), b = data([6], -1, 1, 16);
      await check((a: tr.Tensor, k: tr.Tensor, c: tr.Tensor) => [
        tr.conv2d(a, k, c, { stride: 2, padding: 1, groups: 2 }),
        tr.conv2d(a, k, null, { dilation: [2, 1], padding: [[2, 0], [1, 3]], groups: 2 }),
      ], [x, w, b], { rtol: 1e-4, atol: 1e-5 });
      await check((a: tr.Tensor, k: tr.Tensor) => tr.conv1d(a, k, null, { stride: 2, padding: 2 }), [data([2, 3, 11], -1, 1, 17), data([4, 3, 3], -1, 1, 18)], { rtol: 1e-4, atol: 1e-5 });
      const nhwc: ConvP = { strides: [1, 2], padding: [[-1, 1], [2, -1]], lhsDilation: [1, 1], rhsDilation: [1, 1], featureGroupCount: 1, batchGroupCount: 1, lhsSpec: [0, 3, 1, 2], rhsSpec: [3, 2, 0, 1], outSpec: [0, 3, 1, 2] };
      await check((a: tr.Tensor, k: tr.Tensor) => convPrim(a, k, nhwc), [data([2, 7, 6, 3], -1, 1, 19), data([3, 2, 3, 5], -1, 1, 20)], { rtol: 1e-4, atol: 1e-5 });
      const wt = data([4, 3, 3, 2], -1, 1, 21);
      await check((a: tr.Tensor, k: tr.Tensor) => [
        tr.convTranspose2d(a, k, null, { stride: 2, padding: 1, outputPadding: 1 }),
        tr.convTranspose2d(a, k, null, { stride: [1, 3], dilation: 2 }),
      ], [data([2, 4, 5, 4], -1, 1, 22), wt], { rtol: 1e-4, atol: 1e-5 });
      const dil: ConvP = { strides: [2], padding: [[-1, 3]], lhsDilation: [3], rhsDilation: [1], featureGroupCount: 2, batchGroupCount: 1, lhsSpec: [0, 1, 2], rhsSpec: [0, 1, 2], outSpec: [0, 1, 2] };
      await check((a: tr.Tensor, k: tr.Tensor) => convPrim(a, k, dil), [data([1, 4, 5], -1, 1, 23), data([6, 2, 3], -1, 1, 24)], { rtol: 1e-4, atol: 1e-5 });
      await check((a: tr.Tensor) => [tr.maxPool2d(a, { kernelSize: 2 }), tr.avgPool2d(a, { kernelSize: 3, stride: 2, padding: 1 }), tr.maxPool2d(a, { kernelSize: 3, stride: 2, padding: 1 }), tr.adaptiveAvgPool2d(a, 2)], [x]);
    });

    t("gather, scatter_add (indices clamped as in Trident), sort, argsort, topk", async () => {
      const x = data([3, 5], -1, 1, 25);
      const idx = tr.tensor([[0, 4, 2], [1, 1, 3], [4, 0, 0]], { dtype: "int32" });
      await check((a: tr.Tensor, i: tr.Tensor) => [tr.takeAlongAxis(a, i, 1), tr.scatterAdd(tr.zeros([3, 5]), i, a.slice([null, [0, 3]]), 1)], [x, idx]);
      await check((a: tr.Tensor) => [tr.embedding(tr.tensor([[2, 0], [1, 2]], { dtype: "int32" }), a)], [x]);
      const s = tr.tensor([[3, 1, 2, 1, 5], [0, -1, 4, 4, 2], [7, 7, 7, 1, 0]]);
      await check((a: tr.Tensor) => [tr.sort(a, { axis: 1 }), tr.argsort(a, { axis: 1, descending: true }), tr.sort(a, { axis: 0, descending: true }), ...tr.topk(a, 2)], [s]);
    });

    t("control flow: cond, switch, scan (forward and reverse), whileLoop, fori", async () => {
      const x = data([4, 3], -1, 1, 26);
      const condFn = (a: tr.Tensor) => tr.lax.cond(a.sum().greater(0), (v: tr.Tensor) => v.mul(2).add(1), (v: tr.Tensor) => v.sin(), a) as tr.Tensor;
      await check(condFn, [x], { runs: [[x.neg()]] });
      const sw = (i: tr.Tensor, a: tr.Tensor) => tr.lax.switch(i, [(v: tr.Tensor) => v.add(1), (v: tr.Tensor) => v.mul(v), (v: tr.Tensor) => v.exp()], a) as tr.Tensor;
      const k = (n: number) => tr.tensor(n, { dtype: "int32" });
      await check(sw, [k(1), x], { runs: [[k(0), x], [k(2), x], [k(-3), x], [k(7), x]] });
      const w = data([3, 3], -0.5, 0.5, 27);
      const rnn = (xs: tr.Tensor, h0: tr.Tensor) => {
        const [h, ys] = tr.lax.scan((h: tr.Tensor, xt: tr.Tensor) => {
          const hn = tr.tanh(tr.matmul(h, w).add(xt));
          return [hn, hn.sum()];
        }, h0, xs);
        const [back] = tr.lax.scan((c: tr.Tensor, xt: tr.Tensor) => [c.mul(0.5).add(xt), null], h0, xs, { reverse: true });
        return [h as tr.Tensor, ys as tr.Tensor, back as tr.Tensor];
      };
      const scanBytes = await check(rnn, [x, data([3], -1, 1, 28)]);
      assert.ok(opTypes(scanBytes).includes("Scan"));
      // the scanned length and the predicate's operand sizes as dynamic axes
      await check(rnn, [x, data([3], -1, 1, 28)], { dynamicAxes: { input_0: { 0: "time" } }, runs: [[data([9, 3], -1, 1, 29), data([3])], [data([1, 3], -1, 1, 30), data([3])]] });
      const zeroOr = (a: tr.Tensor) => tr.lax.cond(a.sum().greater(0), (v: tr.Tensor) => tr.zerosLike(v), (v: tr.Tensor) => v.mul(tr.arange(3).astype("float32")), a) as tr.Tensor;
      await check(zeroOr, [x], { dynamicAxes: { input: { 0: "batch" } }, runs: [[x.neg()], [data([6, 3], 0, 1, 31)], [data([2, 3], -1, 0, 32)]] });
      const cube = (a: tr.Tensor) => tr.lax.fori(0, 3, (_i: tr.Tensor, y: tr.Tensor) => y.mul(a), tr.onesLike(a)) as tr.Tensor;
      await check(cube, [x]);
      const rev = (a: tr.Tensor) => tr.lax.scan((c: tr.Tensor) => [c.add(1), c.mul(a)], tr.zeros([]), null, { length: 4, reverse: true })[1] as tr.Tensor;
      await check(rev, [x]);
      const halve = (a: tr.Tensor) => tr.lax.whileLoop(([i, v]: tr.Tensor[]) => v.abs().sum().greater(1), ([i, v]: tr.Tensor[]) => [i!.add(1), v!.mul(0.5)], [tr.tensor(0, { dtype: "int32" }), a]) as tr.Tensor[];
      const wb = await check(halve, [x], { runs: [[x.mul(100)]] });
      assert.ok(opTypes(wb).includes("Loop"));
    });

    t("jit calls, customVjp and customJvp functions are inlined", async () => {
      const inner = tr.jit((a: tr.Tensor) => a.mul(a).add(tr.tensor([1, 2, 3])));
      const softclip = tr.customVjp((a: tr.Tensor) => tr.tanh(a), (a: tr.Tensor) => [tr.tanh(a), a], (_r: tr.Tensor, ct: tr.Tensor) => [ct]);
      const sq = tr.customJvp((a: tr.Tensor) => a.mul(a), ([a]: tr.Tensor[], [da]: tr.Tensor[]) => [a!.mul(a!), a!.mul(da!).mul(2)]);
      await check((a: tr.Tensor) => [inner(a), softclip(a), sq(a)], [tr.tensor([0.5, -1, 2])]);
    });

    t("dynamic batch: MLP and the MNIST CNN run at other batch sizes, parameters named by the state dict", async () => {
      const mlp = new nn.Sequential(new nn.Linear(6, 8), new nn.ReLU(), new nn.Linear(8, 3));
      const opts = { dynamicAxes: { input: { 0: "batch" } } };
      const bytes = exportModule(mlp, [data([2, 6], -1, 1, 29)], opts);
      const m = decodeModel(bytes);
      const inits = m.graph.initializers.map((i) => i.name);
      for (const k of Object.keys(mlp.stateDict())) assert.ok(inits.includes(k), `initializer ${k}`);
      assert.deepEqual(m.graph.outputs[0]!.type, { kind: "tensor", elemType: 1, shape: ["batch", 3] });
      for (const n of [1, 2, 7]) {
        const x = data([n, 6], -1, 1, 30 + n);
        compare((await runOnnx(bytes, { input: x }))["output"]!, mlp.forward(x), {}, `mlp batch ${n}`);
      }
      const cnn = mnistModel("cnn");
      const cb = exportModule(cnn, [data([1, 1, 28, 28], 0, 1, 40)], opts);
      for (const n of [1, 3]) {
        const x = data([n, 1, 28, 28], 0, 1, 41 + n);
        compare((await runOnnx(cb, { input: x }))["output"]!, (cnn as nn.Sequential).forward(x), { rtol: 1e-4, atol: 1e-5 }, `cnn batch ${n}`);
      }
      assert.ok(cnn.training, "exportModule restores training mode");
      const x4 = data([4, 1, 28, 28], 0, 1, 45);
      const back = load(cb).run({ input: x4 })["output"]!;
      assertClose(Array.from(back.dataSync()), Array.from((cnn as nn.Sequential).forward(x4).dataSync()), { rtol: 1e-4, atol: 1e-5, msg: "cnn round trip" });
    });

    t("more layers with dynamic batch: BatchNorm (eval), Dropout, pooling, GELU, LayerNorm, Softmax, Embedding, LSTM, GRU", async () => {
      const net = new nn.Sequential(new nn.Conv2d(3, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.Dropout(0.3), new nn.AdaptiveAvgPool2d(1), new nn.Flatten(), new nn.Linear(8, 4), new nn.GELU(), new nn.LayerNorm(4), new nn.Softmax(-1));
      // running statistics that are not the initial 0/1, so eval-mode normalisation is visible
      net.train();
      tr.noGrad(() => net.forward(data([6, 3, 8, 8], -1, 2, 33)));
      net.eval();
      await check((x: tr.Tensor) => net.forward(x) as tr.Tensor, [data([2, 3, 8, 8], -1, 1, 34)], { dynamicAxes: { input: { 0: "batch" } }, runs: [[data([5, 3, 8, 8], -1, 1, 35)]], rtol: 1e-4, atol: 1e-6 });
      const emb = new nn.Embedding(10, 4);
      await check((i: tr.Tensor) => emb.forward(i) as tr.Tensor, [tr.tensor([[1, 2], [3, 9]], { dtype: "int32" })], { dynamicAxes: { input: { 0: "b", 1: "s" } }, runs: [[tr.tensor([[1, 2, 5], [3, 9, 0], [0, 0, 7]], { dtype: "int32" })]] });
      const lstm = new nn.LSTM(4, 6, { batchFirst: true }), gru = new nn.GRU(4, 5, { numLayers: 2 });
      const rec = (x: tr.Tensor, y: tr.Tensor) => [(lstm.forward(x) as unknown as tr.Tensor[])[0]!, (gru.forward(y) as unknown as tr.Tensor[])[0]!];
      await check(rec, [data([2, 5, 4], -1, 1, 36), data([3, 2, 4], -1, 1, 37)], { dynamicAxes: { input_0: { 0: "batch" }, input_1: { 1: "batch" } }, runs: [[data([4, 5, 4], -1, 1, 38), data([3, 4, 4], -1, 1, 39)]], rtol: 1e-4, atol: 1e-6 });
      // the layers unroll over time in JS, so a dynamic sequence length is refused with the reason
      assert.throws(() => exportFunction(rec, [data([2, 5, 4]), data([3, 2, 4])], { dynamicAxes: { input_0: { 1: "seq" } } }), /unrolls differently at each size/);
    });

    t("a Transformer encoder layer with dynamic batch and sequence length", async () => {
      const layer = new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32, dropout: 0, batchFirst: true });
      layer.eval();
      const fn = (x: tr.Tensor) => layer.forward(x) as tr.Tensor;
      const bytes = exportModule(layer, [data([2, 5, 16], -1, 1, 50)], { dynamicAxes: { input: { 0: "batch", 1: "seq" } } });
      for (const [n, s] of [[2, 5], [3, 7], [1, 2]] as const) {
        const x = data([n, s, 16], -1, 1, 51 + n + s);
        compare((await runOnnx(bytes, { input: x }))["output"]!, fn(x), { rtol: 1e-4, atol: 1e-5 }, `encoder [${n},${s},16]`);
      }
      const stack = new nn.TransformerEncoder(new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0, normFirst: true, activation: "gelu" }), 2);
      stack.eval();
      await check((x: tr.Tensor) => stack.forward(x) as tr.Tensor, [data([4, 2, 8], -1, 1, 60)], { dynamicAxes: { input: { 1: "batch" } }, runs: [[data([4, 5, 8], -1, 1, 61)]], rtol: 1e-4, atol: 1e-5 });
    });

    t("dynamic sizes flow into full, iota, slices and reshapes (mean over the batch, arange of the length)", async () => {
      const f = (x: tr.Tensor) => {
        const n = x.shape[0]!;
        const centered = x.sub(x.mean({ axis: 0 }));
        const pos = tr.arange(n).astype("float32").reshape([n, 1]);
        return [centered.add(pos), x.reshape([-1]), x.slice([[1, null]]), tr.concatenate([x, x], 0).sum({ axis: 0 })];
      };
      await check(f, [data([3, 4], -1, 1, 70)], { dynamicAxes: { input: [0] }, runs: [[data([6, 4], -1, 1, 71)], [data([1, 4], -1, 1, 72)]] });
      const bad = (x: tr.Tensor) => x.mul(1 / x.shape[0]!);
      assert.throws(() => exportFunction(bad, [data([3, 4])], { dynamicAxes: { input: [0] } }), /not a polynomial in the dynamic sizes/);
    });

    t("opsets 13 and 21 export the CNN and scatter_add needs opset 16", async () => {
      const x = data([2, 2, 6, 6], -1, 1, 80), w = data([3, 2, 3, 3], -1, 1, 81);
      for (const opset of [13, 21]) {
        await check((a: tr.Tensor, k: tr.Tensor) => tr.maxPool2d(tr.relu(tr.conv2d(a, k)), { kernelSize: 2 }).reshape([2, -1]).max({ axis: 1 }), [x, w], { opset, dynamicAxes: { input_0: [0] }, runs: [[data([5, 2, 6, 6]), w]], rtol: 1e-4, atol: 1e-5 });
      }
      const sc = (a: tr.Tensor) => tr.scatterAdd(tr.zeros([2]), tr.tensor([0, 1, 0], { dtype: "int32" }), a, 0);
      assert.throws(() => exportFunction(sc, [tr.ones([3])], { opset: 15 }), (e: Error) => e instanceof tr.TridentError && /opset 16/.test(e.message));
    });

    t("errors name the primitive or the option", () => {
      assert.throws(() => exportFunction((x: tr.Tensor) => x.add(tr.random.normal(tr.random.key(0), [3])), [tr.ones([3])]), (e: Error) => e instanceof tr.TridentError && /threefry2x32/.test(e.message));
      assert.throws(() => exportFunction((x: tr.Tensor) => x, [tr.ones([3])], { opset: 9 }), /opset must be an integer from 13 to 22/);
      assert.throws(() => exportFunction((x: tr.Tensor) => x, [tr.ones([3])], { dynamicAxes: { nope: [0] } }), /dynamicAxes names input "nope"/);
      assert.throws(() => exportFunction((x: tr.Tensor) => x, [tr.ones([3])], { dynamicAxes: { input: [1] } }), /axis 1, out of range/);
      assert.throws(() => exportFunction((x: tr.Tensor) => x, [tr.ones([3])], { inputNames: ["a", "b"] }), /inputNames has 2 names/);
    });

    t("exportCheckpointToOnnx rebuilds the MNIST model from a checkpoint and writes a batch-dynamic model", async () => {
      const dir = mkdtempSync(join(tmpdir(), "trident-onnx-"));
      try {
        for (const kind of ["mlp", "cnn"] as const) {
          const model = mnistModel(kind);
          const ck = join(dir, `${kind}.safetensors`), out = join(dir, `${kind}.onnx`);
          await tr.io.saveCheckpoint(ck, { model: model.stateDict(), extra: { task: "mnist", model: kind } });
          await exportCheckpointToOnnx(ck, out);
          const bytes = new Uint8Array(readFileSync(out));
          const x = data([3, 1, 28, 28], 0, 1, 90);
          model.eval();
          compare((await runOnnx(bytes, { input: x }))["logits"]!, (model as nn.Sequential).forward(x), { rtol: 1e-4, atol: 1e-5 }, `${kind} from checkpoint`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
