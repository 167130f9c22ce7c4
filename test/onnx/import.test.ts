// ONNX import: hand-built models run against manual computations, gradients against finite differences,
// jit/vmap against eager runs, and malformed or hostile files against clear errors.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tr from "../../src/index.js";
import * as onnx from "../../src/onnx/index.js";
import { BACKENDS, assertClose, values, withBackend } from "../helpers.js";

const P = onnx.proto;
const B = P.build;
const DT = P.DataType;

/** A deterministic pseudo-random sequence (no shared RNG state between tests). */
function seq(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31 - 0.5;
  });
}

function doubleTensor(name: string, dims: number[], vals: number[]): import("../../src/onnx/proto.js").OnnxTensorProto {
  return { name, dims, dataType: DT.DOUBLE, doubleData: vals };
}

/** y = relu(x @ W + b), W [3, 4], b [4]. */
function mlpModel(elem: number, W: number[], b: number[]): Uint8Array {
  const init = elem === DT.DOUBLE ? [doubleTensor("W", [3, 4], W), doubleTensor("b", [4], b)] : [B.floatTensor("W", [3, 4], W), B.floatTensor("b", [4], b)];
  const g = B.graph("mlp", [
    B.node("MatMul", ["x", "W"], ["h"], [], "matmul"),
    B.node("Add", ["h", "b"], ["a"], [], "add"),
    B.node("Relu", ["a"], ["y"], [], "relu"),
  ], [B.valueInfo("x", elem, ["batch", 3])], [B.valueInfo("y", elem, ["batch", 4])], init);
  return P.encodeModel(B.model(g, 17));
}

/** The same computation by hand, in float64. */
function mlpManual(x: number[], rows: number, W: number[], b: number[]): number[] {
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < 4; j++) {
      let acc = b[j]!;
      for (let k = 0; k < 3; k++) acc += x[r * 3 + k]! * W[k * 4 + j]!;
      y.push(Math.max(acc, 0));
    }
  }
  return y;
}

const W0 = seq(12, 1), b0 = seq(4, 2), x0 = seq(6, 3).map((v) => 3 * v);

for (const backend of BACKENDS) {
  describe(`onnx import [${backend}]`, () => {
    test("a hand-built MatMul+Add+Relu model matches the manual computation", () =>
      withBackend(backend, () => {
        const m = onnx.load(mlpModel(DT.FLOAT, W0, b0));
        assert.deepEqual(m.inputs, [{ name: "x", kind: "tensor", dtype: "float", shape: ["batch", 3] }]);
        assert.deepEqual(m.outputs, [{ name: "y", kind: "tensor", dtype: "float", shape: ["batch", 4] }]);
        assert.deepEqual(Object.keys(m.initializers).sort(), ["W", "b"]);
        const { y } = m.run({ x: tr.tensor([x0.slice(0, 3), x0.slice(3)]) });
        assert.deepEqual(y!.shape, [2, 4]);
        assertClose(values(y!), mlpManual(x0, 2, W0, b0), { rtol: 1e-6, atol: 1e-6 });
        // host data with a shape works as a feed too
        const y2 = m.run({ x: { data: Float32Array.from(x0), shape: [2, 3] } }).y!;
        assertClose(values(y2), values(y!), { rtol: 0, atol: 0 });
      }));

    test("grad through an imported model matches central finite differences (float64)", () =>
      withBackend(backend, () => {
        const m = onnx.load(mlpModel(DT.DOUBLE, W0, b0));
        const x = tr.tensor([x0.slice(0, 3), x0.slice(3)], { dtype: "float64" });
        const loss = (p: Record<string, tr.Tensor>) => m.fn({ x }, p).y!.square().sum();
        const g = tr.grad(loss)(m.initializers) as Record<string, tr.Tensor>;
        for (const name of ["W", "b"]) {
          const base = Array.from(m.initializers[name]!.dataSync());
          const shape = m.initializers[name]!.shape;
          const fd = base.map((_, i) => {
            const h = 1e-6;
            const at = (d: number) => {
              const v = [...base];
              v[i]! += d;
              const p = { ...m.initializers, [name]: tr.fromTypedArray(Float64Array.from(v), shape, "float64") };
              return loss(p).item();
            };
            return (at(h) - at(-h)) / (2 * h);
          });
          assertClose(values(g[name]!), fd, { rtol: 1e-6, atol: 1e-7, msg: `d loss / d ${name}` });
        }
      }));

    test("jit(model.fn) equals run, and vmap over examples equals the batched run", () =>
      withBackend(backend, () => {
        const m = onnx.load(mlpModel(DT.FLOAT, W0, b0));
        const x = tr.tensor([x0.slice(0, 3), x0.slice(3)]);
        const eager = values(m.run({ x }).y!);
        const jf = tr.jit((x: tr.Tensor) => m.fn({ x }).y!);
        assertClose(values(jf(x)), eager, { rtol: 1e-6, atol: 1e-6 });
        // parameters as jit arguments
        const jp = tr.jit((p: Record<string, tr.Tensor>, x: tr.Tensor) => m.fn({ x }, p).y!);
        assertClose(values(jp(m.initializers, x)), eager, { rtol: 1e-6, atol: 1e-6 });
        const vm = tr.vmap((row: tr.Tensor) => m.fn({ x: row.reshape([1, 3]) }).y!.reshape([4]));
        assertClose(values(vm(x)), eager, { rtol: 1e-6, atol: 1e-6 });
      }));

    test("shape subgraphs fold at trace time, so a dynamic-batch Reshape stays jittable", () =>
      withBackend(backend, () => {
        const g = B.graph("shapes", [
          B.node("Shape", ["x"], ["s"]),
          B.node("Gather", ["s", "zero"], ["n"], [B.attrInt("axis", 0)]),
          B.node("Unsqueeze", ["n", "axes0"], ["n1"]),
          B.node("Concat", ["n1", "minus1"], ["shape"], [B.attrInt("axis", 0)]),
          B.node("Reshape", ["x", "shape"], ["flat"]),
          B.node("Mul", ["flat", "flat"], ["y"]),
        ], [B.valueInfo("x", DT.FLOAT, ["n", 2, 3])], [B.valueInfo("y", DT.FLOAT, ["n", 6])], [
          B.int64Tensor("zero", [], [0]), B.int64Tensor("axes0", [1], [0]), B.int64Tensor("minus1", [1], [-1]),
        ]);
        const m = onnx.load(P.encodeModel(B.model(g, 13)));
        const x = tr.tensor([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]);
        const jaxpr = tr.makeJaxpr((x: tr.Tensor) => m.fn({ x }).y!)(x).toString();
        // only the data computation is staged: no gather/concatenate of shape values
        assert.ok(!jaxpr.includes("gather") && !jaxpr.includes("concatenate"), jaxpr);
        const y = tr.jit((x: tr.Tensor) => m.fn({ x }).y!)(x);
        assert.deepEqual(y.shape, [2, 6]);
        assert.deepEqual(values(y), Array.from({ length: 12 }, (_, i) => (i + 1) ** 2));
      }));

    test("If with a traced condition maps to lax.cond under jit", () =>
      withBackend(backend, () => {
        const thenG = B.graph("then", [B.node("Mul", ["x", "two"], ["t"])], [], [B.valueInfo("t", DT.FLOAT, [3])]);
        const elseG = B.graph("else", [B.node("Neg", ["x"], ["e"])], [], [B.valueInfo("e", DT.FLOAT, [3])]);
        const g = B.graph("if", [
          B.node("ReduceSum", ["x"], ["s"], [B.attrInt("keepdims", 0)]),
          B.node("Greater", ["s", "zero"], ["c"]),
          B.node("If", ["c"], ["y"], [{ name: "then_branch", type: P.AttrType.GRAPH, g: thenG }, { name: "else_branch", type: P.AttrType.GRAPH, g: elseG }]),
        ], [B.valueInfo("x", DT.FLOAT, [3])], [B.valueInfo("y", DT.FLOAT, [3])], [B.floatTensor("two", [], [2]), B.floatTensor("zero", [], [0])]);
        const m = onnx.load(P.encodeModel(B.model(g, 13)));
        const f = tr.jit((x: tr.Tensor) => m.fn({ x }).y!);
        assert.deepEqual(values(f(tr.tensor([1, 2, 3]))), [2, 4, 6]);
        assert.deepEqual(values(f(tr.tensor([-1, -2, 0]))), [1, 2, -0]);
        assert.ok(tr.makeJaxpr((x: tr.Tensor) => m.fn({ x }).y!)(tr.tensor([1, 2, 3])).toString().includes("cond"));
        assert.deepEqual(values(m.run({ x: tr.tensor([-1, 1, -3]) }).y!), [1, -1, 3]);
      }));

    test("Scan with traced inputs maps to lax.scan and matches the eager run", () =>
      withBackend(backend, () => {
        // running sum: state' = state + x_t, y_t = state'
        const body = B.graph("body", [B.node("Add", ["s_in", "x_t"], ["s_out"]), B.node("Identity", ["s_out"], ["y_t"])],
          [B.valueInfo("s_in", DT.FLOAT, [2]), B.valueInfo("x_t", DT.FLOAT, [2])], [B.valueInfo("s_out", DT.FLOAT, [2]), B.valueInfo("y_t", DT.FLOAT, [2])]);
        const g = B.graph("scan", [B.node("Scan", ["s0", "xs"], ["sf", "ys"], [{ name: "body", type: P.AttrType.GRAPH, g: body }, B.attrInt("num_scan_inputs", 1)])],
          [B.valueInfo("s0", DT.FLOAT, [2]), B.valueInfo("xs", DT.FLOAT, [3, 2])], [B.valueInfo("sf", DT.FLOAT, [2]), B.valueInfo("ys", DT.FLOAT, [3, 2])]);
        const m = onnx.load(P.encodeModel(B.model(g, 16)));
        const s0 = tr.tensor([0, 10]), xs = tr.tensor([[1, 2], [3, 4], [5, 6]]);
        const eager = m.run({ s0, xs });
        assert.deepEqual(values(eager.ys!), [1, 12, 4, 16, 9, 22]);
        const jf = tr.jit((s0: tr.Tensor, xs: tr.Tensor) => m.fn({ s0, xs }));
        const r = jf(s0, xs) as Record<string, tr.Tensor>;
        assert.deepEqual(values(r.ys!), values(eager.ys!));
        assert.deepEqual(values(r.sf!), [9, 22]);
        // and it is differentiable: d sum(ys) / d xs[t] = (T - t)
        const gx = tr.grad((xs: tr.Tensor) => m.fn({ s0, xs }).ys!.sum())(xs);
        assert.deepEqual(values(gx), [3, 3, 2, 2, 1, 1]);
      }));

    test("Loop unrolls under jit and grad with a static trip count", () =>
      withBackend(backend, () => {
        // acc' = acc + 1, scan output acc'^2, three iterations
        const body = B.graph("body", [B.node("Add", ["acc", "one"], ["acc2"]), B.node("Identity", ["c"], ["c2"]), B.node("Mul", ["acc2", "acc2"], ["sq"])],
          [B.valueInfo("i", DT.INT64, []), B.valueInfo("c", DT.BOOL, []), B.valueInfo("acc", DT.FLOAT, [2])],
          [B.valueInfo("c2", DT.BOOL, []), B.valueInfo("acc2", DT.FLOAT, [2]), B.valueInfo("sq", DT.FLOAT, [2])], [B.floatTensor("one", [], [1])]);
        const g = B.graph("loop", [B.node("Loop", ["M", "", "x"], ["fin", "sqs"], [{ name: "body", type: P.AttrType.GRAPH, g: body }])],
          [B.valueInfo("x", DT.FLOAT, [2])], [B.valueInfo("fin", DT.FLOAT, [2]), B.valueInfo("sqs", DT.FLOAT, [3, 2])], [B.int64Tensor("M", [], [3])]);
        const m = onnx.load(P.encodeModel(B.model(g, 17)));
        const x = tr.tensor([1, 2]);
        const expected = [1, 2, 3].flatMap((k) => [(1 + k) ** 2, (2 + k) ** 2]);
        assert.deepEqual(values(m.run({ x }).sqs!), expected);
        assert.deepEqual(values((tr.jit((x: tr.Tensor) => m.fn({ x }))(x) as Record<string, tr.Tensor>).sqs!), expected);
        // d/dx sum_k (x + k)^2 = sum_k 2 (x + k)
        assert.deepEqual(values(tr.grad((x: tr.Tensor) => m.fn({ x }).sqs!.sum())(x)), [18, 24]);
      }));

    test("operators the conformance suite leaves out: ConcatFromSequence, SequenceErase, GlobalLpPool", () =>
      withBackend(backend, () => {
        const g = B.graph("seq", [
          B.node("SequenceConstruct", ["a", "b", "c"], ["s"]),
          B.node("SequenceErase", ["s", "one"], ["s2"]),
          B.node("ConcatFromSequence", ["s2"], ["cat"], [B.attrInt("axis", 0), B.attrInt("new_axis", 1)]),
          B.node("GlobalLpPool", ["img"], ["lp"], [B.attrInt("p", 3)]),
        ], [B.valueInfo("a", DT.FLOAT, [2]), B.valueInfo("b", DT.FLOAT, [2]), B.valueInfo("c", DT.FLOAT, [2]), B.valueInfo("img", DT.FLOAT, [1, 2, 2, 2])],
        [B.valueInfo("cat", DT.FLOAT, [2, 2]), B.valueInfo("lp", DT.FLOAT, [1, 2, 1, 1])], [B.int64Tensor("one", [], [1])]);
        const m = onnx.load(P.encodeModel(B.model(g, 17)));
        const img = [1, -2, 3, 0.5, 2, 2, -1, 4];
        const r = m.run({ a: tr.tensor([1, 2]), b: tr.tensor([3, 4]), c: tr.tensor([5, 6]), img: tr.tensor(img).reshape([1, 2, 2, 2]) });
        assert.deepEqual(r.cat!.shape, [2, 2]);
        assert.deepEqual(values(r.cat!), [1, 2, 5, 6]);
        const lp = (xs: number[]) => Math.cbrt(xs.reduce((s, v) => s + Math.abs(v) ** 3, 0));
        assertClose(values(r.lp!), [lp(img.slice(0, 4)), lp(img.slice(4))], { rtol: 1e-6 });
      }));

    test("int64 values are exact: static uses read the file's numbers, outputs come back as BigInt64Array", () =>
      withBackend(backend, () => {
        // Slice with the INT64_MAX "to the end" sentinel fed as an input, and an int64 arithmetic output
        const g = B.graph("i64", [
          B.node("Slice", ["data", "starts", "ends"], ["sl"]),
          B.node("Add", ["idx", "idx"], ["twice"]),
        ], [B.valueInfo("data", DT.FLOAT, [5]), B.valueInfo("starts", DT.INT64, [1]), B.valueInfo("ends", DT.INT64, [1]), B.valueInfo("idx", DT.INT64, [3])],
        [B.valueInfo("sl", DT.FLOAT, [null]), B.valueInfo("twice", DT.INT64, [3])]);
        const m = onnx.load(P.encodeModel(B.model(g, 13)));
        const out = m.runNative({
          data: { data: Float32Array.of(1, 2, 3, 4, 5), shape: [5] },
          starts: { data: BigInt64Array.of(2n), shape: [1] },
          ends: { data: BigInt64Array.of(2n ** 63n - 1n), shape: [1] },
          idx: { data: BigInt64Array.of(-5n, 7n, 1_000_000_000n), shape: [3] },
        });
        assert.deepEqual(Array.from((out.sl as onnx.NativeTensor).data as Float32Array), [3, 4, 5]);
        const twice = out.twice as onnx.NativeTensor;
        assert.equal(twice.dtype, "int64");
        assert.ok(twice.data instanceof BigInt64Array);
        assert.deepEqual(Array.from(twice.data as BigInt64Array), [-10n, 14n, 2_000_000_000n]);
        // a value that needs more than 32 bits in a tensor computation is refused, not wrapped
        assert.throws(
          () => m.runNative({ data: { data: new Float32Array(5), shape: [5] }, starts: { data: BigInt64Array.of(0n), shape: [1] }, ends: { data: BigInt64Array.of(1n), shape: [1] }, idx: { data: BigInt64Array.of(2n ** 40n, 0n, 0n), shape: [3] } }),
          (e: unknown) => e instanceof onnx.OnnxUnsupportedError && /outside \[-2147483648, 2147483647\]/.test((e as Error).message),
        );
      }));

    test("external tensor data is read relative to the model file", () =>
      withBackend(backend, () => {
        const dir = mkdtempSync(join(tmpdir(), "trident-onnx-"));
        const w = Float32Array.from(W0);
        writeFileSync(join(dir, "weights.bin"), Buffer.concat([Buffer.alloc(8), Buffer.from(w.buffer)]));
        const ext: import("../../src/onnx/proto.js").OnnxTensorProto = {
          name: "W", dims: [3, 4], dataType: DT.FLOAT, dataLocation: 1,
          externalData: [{ key: "location", value: "weights.bin" }, { key: "offset", value: "8" }, { key: "length", value: String(w.byteLength) }],
        };
        const g = B.graph("ext", [B.node("MatMul", ["x", "W"], ["y"])], [B.valueInfo("x", DT.FLOAT, [1, 3])], [B.valueInfo("y", DT.FLOAT, [1, 4])], [ext]);
        writeFileSync(join(dir, "model.onnx"), P.encodeModel(B.model(g, 13)));
        const m = onnx.load(join(dir, "model.onnx"));
        const y = m.run({ x: tr.tensor([x0.slice(0, 3)]) }).y!;
        assertClose(values(y), [0, 1, 2, 3].map(mlpRaw), { rtol: 1e-6, atol: 1e-6 });
        // and a location outside the folder is refused
        const bad = { ...ext, externalData: [{ key: "location", value: "../escape.bin" }] };
        writeFileSync(join(dir, "bad.onnx"), P.encodeModel(B.model(B.graph("ext", [B.node("MatMul", ["x", "W"], ["y"])], [B.valueInfo("x", DT.FLOAT, [1, 3])], [B.valueInfo("y", DT.FLOAT, [1, 4])], [bad]), 13)));
        assert.throws(() => onnx.load(join(dir, "bad.onnx")), /outside the model's folder/);
      }));
  });
}

/** x0[0:3] @ W0 without the relu, for the external-data test. */
function mlpRaw(j: number): number {
  let acc = 0;
  for (let k = 0; k < 3; k++) acc += x0[k]! * W0[k * 4 + j]!;
  return acc;
}

describe("onnx import: malformed and hostile files", () => {
  const good = mlpModel(DT.FLOAT, W0, b0);
  const isTrident = (re?: RegExp) => (e: unknown) => e instanceof tr.TridentError && (!re || re.test((e as Error).message));

  test("empty, truncated and garbage bytes raise TridentError", () => {
    assert.throws(() => onnx.load(new Uint8Array(0)), isTrident(/empty/));
    for (const cut of [1, 7, 20, good.length >> 1, good.length - 1]) assert.throws(() => onnx.load(good.slice(0, cut)), isTrident(), `cut at ${cut}`);
    assert.throws(() => onnx.load(new TextEncoder().encode("definitely not a protobuf")), isTrident());
  });

  test("wrong wire types and absurd lengths are reported, not trusted", () => {
    // field 7 (graph) as a varint
    assert.throws(() => onnx.load(Uint8Array.of(0x38, 0x01)), isTrident(/wire type/));
    // field 7 with a length of 2^40
    assert.throws(() => onnx.load(Uint8Array.of(0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20)), isTrident(/runs past the end/));
    // an over-long varint
    assert.throws(() => onnx.load(Uint8Array.of(0x08, ...Array<number>(11).fill(0xff))), isTrident(/varint/));
    // a raw_data payload whose size does not match dims
    const t = { ...B.floatTensor("W", [3, 4], W0), rawData: new Uint8Array(7) };
    const g = B.graph("g", [B.node("MatMul", ["x", "W"], ["y"])], [B.valueInfo("x", DT.FLOAT, [1, 3])], [B.valueInfo("y", DT.FLOAT, [1, 4])], [t]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(g))), isTrident(/raw_data has 7 bytes/));
  });

  test("messages nested beyond the limit are refused", () => {
    let g = B.graph("leaf", [], [], []);
    for (let i = 0; i < 80; i++) g = B.graph(`g${i}`, [B.node("If", ["c"], [], [{ name: "then_branch", type: P.AttrType.GRAPH, g }])], [], []);
    assert.throws(() => onnx.load(P.encodeModel(B.model(g))), isTrident(/nested more than/));
  });

  test("graph cycles, missing inputs and duplicate outputs are structural errors", () => {
    const cyc = B.graph("cyc", [B.node("Relu", ["b"], ["a"], [], "n1"), B.node("Relu", ["a"], ["b"], [], "n2"), B.node("Relu", ["x"], ["y"])],
      [B.valueInfo("x", DT.FLOAT, [1])], [B.valueInfo("y", DT.FLOAT, [1])]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(cyc))), isTrident(/cycle through nodes "n1", "n2"/));
    const missing = B.graph("m", [B.node("Add", ["x", "nowhere"], ["y"], [], "adder")], [B.valueInfo("x", DT.FLOAT, [1])], [B.valueInfo("y", DT.FLOAT, [1])]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(missing))), isTrident(/"adder" \(Add\) reads "nowhere"/));
    const dup = B.graph("d", [B.node("Relu", ["x"], ["y"]), B.node("Neg", ["x"], ["y"])], [B.valueInfo("x", DT.FLOAT, [1])], [B.valueInfo("y", DT.FLOAT, [1])]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(dup))), isTrident(/produced more than once/));
  });

  test("unsupported operators are listed at load time with the nodes that use them", () => {
    const g = B.graph("u", [
      B.node("FancyOp", ["x"], ["a"], [], "first"),
      B.node("FancyOp", ["a"], ["b"], [], "second"),
      B.node("Relu", ["b"], ["c"]),
      { ...B.node("Weird", ["c"], ["y"], [], "third"), domain: "com.example" },
    ], [B.valueInfo("x", DT.FLOAT, [1])], [B.valueInfo("y", DT.FLOAT, [1])]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(g))), (e: unknown) => {
      assert.ok(e instanceof onnx.OnnxUnsupportedError);
      assert.match(e.message, /FancyOp \(opset 17; nodes "first", "second"\)/);
      assert.match(e.message, /com\.example\.Weird/);
      assert.deepEqual(e.missing.map((m) => m.opType), ["FancyOp", "Weird"]);
      return true;
    });
  });

  test("unknown and unrepresentable data types are unsupported, never misread", () => {
    const strIn = B.graph("s", [B.node("Identity", ["x"], ["y"])], [B.valueInfo("x", DT.STRING, [1])], [B.valueInfo("y", DT.STRING, [1])]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(strIn))), (e: unknown) => e instanceof onnx.OnnxUnsupportedError && /type string/.test((e as Error).message));
    const weird = B.graph("w", [B.node("Identity", ["t"], ["y"])], [], [B.valueInfo("y", DT.FLOAT, [1])], [{ name: "t", dims: [1], dataType: 99, rawData: new Uint8Array(4) }]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(weird))), (e: unknown) => e instanceof onnx.OnnxUnsupportedError && /dtype 99/.test((e as Error).message));
    const seg = B.graph("seg", [B.node("Identity", ["t"], ["y"])], [], [B.valueInfo("y", DT.FLOAT, [1])], [{ ...B.floatTensor("t", [1], [1]), segment: { begin: 0, end: 1 } }]);
    assert.throws(() => onnx.load(P.encodeModel(B.model(seg))), (e: unknown) => e instanceof onnx.OnnxUnsupportedError && /segmented/.test((e as Error).message));
  });

  test("random corruptions of a valid model never escape as anything but TridentError", () => {
    let s = 7;
    const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 300; i++) {
      const m = good.slice();
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      try {
        const model = onnx.load(m);
        model.run({ x: { data: Float32Array.from(x0), shape: [2, 3] } });
      } catch (e) {
        assert.ok(e instanceof tr.TridentError, `corruption ${i} threw ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  });

  test("bad feeds name the input and what was expected", () => {
    const m = onnx.load(good);
    assert.throws(() => m.run({}), isTrident(/missing input "x"/));
    assert.throws(() => m.run({ x: tr.tensor([[1, 2]]) }), isTrident(/input "x" must have shape \[batch,3\]/));
    assert.throws(() => m.run({ x: tr.tensor([[1, 2, 3]], { dtype: "int32" }) }), isTrident(/has type float.*int32/));
    assert.throws(() => m.run({ x: tr.tensor([[1, 2, 3]]), z: tr.tensor(1) }), isTrident(/"z" is not an input/));
  });
});
