// Contractions on the wasm backend: dot_general and conv kernels (as their primitives lower them) and
// hand-fused kernels with epilogues, against the ref backend, with 1 and 2 threads.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ShapedArray } from "../../src/core/aval.js";
import type { DType } from "../../src/core/dtype.js";
import { primitiveKernel } from "../../src/core/execute.js";
import type { AnyPrimitive, Params } from "../../src/core/primitive.js";
import { convP, type ConvP } from "../../src/core/prims/conv.js";
import { dotGeneralP, type DotGeneralP } from "../../src/core/prims/linalg.js";
import { bin, c, cast, idx, load, un, type Expr, type Kernel } from "../../src/ir/expr.js";
import { compileKernelModule } from "../../src/backend/wasm/codegen.js";
import { checkKernel, randomData } from "./wasm-harness.js";

/** The kernel a primitive lowers to for these operand shapes. */
function primKernel(prim: AnyPrimitive, params: Params, shapes: number[][], dt: DType = "float32"): Kernel {
  const ins = shapes.map((s) => new ShapedArray(s, dt));
  const outs = prim.rules.shape(ins, params);
  return primitiveKernel(prim, params, ins, outs);
}
const plan = (k: Kernel) => compileKernelModule(k, { shared: false, relaxed: false }).plan;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function checkPrim(prim: AnyPrimitive, params: Params, shapes: number[][], dt: DType = "float32", seed = 1): Kernel {
  const k = primKernel(prim, params, shapes, dt);
  const inputs = shapes.map((s, i) => randomData(dt, size(s), seed + 13 * i));
  checkKernel(k, inputs, { rtol: 2e-4, atol: 2e-5 });
  return k;
}

const dot = (lc: number[], rc: number[], lb: number[] = [], rb: number[] = []): DotGeneralP => ({ contract: [lc, rc], batch: [lb, rb] });

describe("wasm matmul (dot_general)", () => {
  test("plain, odd and remainder sizes", () => {
    for (const [M, K, N] of [[4, 8, 8], [5, 7, 9], [33, 17, 45], [64, 64, 64], [127, 65, 131], [8, 300, 8], [200, 9, 70]]) {
      const k = checkPrim(dotGeneralP, dot([1], [0]), [[M, K], [K, N]]);
      if (M * N * K >= 32768 && M >= 4 && N >= 8) assert.equal(plan(k), "gemm", `${M}x${K}x${N} should tile`);
    }
  });

  test("transposed operands", () => {
    const [M, K, N] = [37, 29, 41];
    // A^T·B, A·B^T, A^T·B^T: the contracted axis is the outer one of an operand
    checkPrim(dotGeneralP, dot([0], [0]), [[K, M], [K, N]]);
    checkPrim(dotGeneralP, dot([1], [1]), [[M, K], [N, K]]);
    const k = checkPrim(dotGeneralP, dot([0], [1]), [[K, M], [N, K]]);
    assert.equal(plan(k), "gemm");
  });

  test("batched, with batch axes anywhere and broadcast operands", () => {
    checkPrim(dotGeneralP, dot([2], [1], [0], [0]), [[3, 20, 30], [3, 30, 25]]);
    checkPrim(dotGeneralP, dot([1], [2], [0], [0]), [[2, 30, 17], [2, 19, 30]]);
    checkPrim(dotGeneralP, dot([2], [2], [1], [0]), [[9, 4, 16], [4, 33, 16]]);
    // an unbatched rhs shared by every row of a 3-d lhs (x @ W)
    const k = checkPrim(dotGeneralP, dot([2], [0]), [[4, 25, 32], [32, 40]]);
    assert.equal(plan(k), "gemm");
  });

  test("several contracted axes and matrix-vector products", () => {
    checkPrim(dotGeneralP, dot([1, 2], [0, 1]), [[21, 6, 7], [6, 7, 19]]);
    checkPrim(dotGeneralP, dot([1], [0]), [[70, 50], [50]]);
    checkPrim(dotGeneralP, dot([0], [0]), [[50], [50, 70]]);
  });

  test("float64 and int32 contractions take the generic paths", () => {
    const k64 = checkPrim(dotGeneralP, dot([1], [0]), [[20, 30], [30, 40]], "float64");
    assert.notEqual(plan(k64), "gemm");
    checkPrim(dotGeneralP, dot([1], [0]), [[20, 30], [30, 40]], "int32");
  });
});

describe("wasm contraction epilogues", () => {
  const M = 30, K = 40, N = 53;
  const base = primKernel(dotGeneralP, dot([1], [0]), [[M, K], [K, N]]);
  const R = base.outs[0]!.expr;
  const A = randomData("float32", M * K, 1), B = randomData("float32", K * N, 2);
  const bias = randomData("float32", N, 3), rowScale = randomData("float32", M, 4), resid = randomData("float32", M * N, 5);
  const k = (name: string, inputs: DType[], dt: DType, expr: Expr): Kernel => ({ name, inputs, shape: [M, N], outs: [{ dt, expr }] });
  const biasJ = load(2, idx(1), "float32");

  test("bias and relu", () => {
    const e = k("relu", ["float32", "float32", "float32"], "float32", bin("max", bin("add", R, biasJ), c(0, "float32")));
    assert.equal(plan(e), "gemm");
    checkKernel(e, [A, B, bias], { rtol: 2e-4, atol: 2e-5 });
  });

  test("gelu with a per-row scale and a residual", () => {
    const x = bin("mul", bin("add", R, biasJ), load(3, idx(0), "float32"));
    const g = bin("mul", bin("mul", c(0.5, "float32"), x), bin("add", c(1, "float32"), un("erf", bin("mul", x, c(Math.SQRT1_2, "float32")))));
    const e = k("gelu", ["float32", "float32", "float32", "float32", "float32"], "float32", bin("add", g, load(4, bin("add", bin("mul", idx(0), c(N)), idx(1)), "float32")));
    assert.equal(plan(e), "gemm");
    checkKernel(e, [A, B, bias, rowScale, resid], { rtol: 2e-4, atol: 2e-5 });
  });

  test("epilogues that change the dtype or read the indices", () => {
    checkKernel(k("gt", ["float32", "float32"], "bool", bin("gt", R, c(0, "float32"))), [A, B]);
    checkKernel(k("toint", ["float32", "float32"], "int32", cast(bin("mul", R, c(10, "float32")), "int32")), [A, B], { rtol: 0, atol: 1 });
    checkKernel(k("f64", ["float32", "float32"], "float64", cast(R, "float64")), [A, B], { rtol: 2e-4, atol: 2e-5 });
    checkKernel(k("iota", ["float32", "float32"], "float32", bin("add", R, cast(bin("sub", idx(1), idx(0)), "float32"))), [A, B], { rtol: 2e-4, atol: 2e-5 });
  });

  test("a masked product (causal attention scores)", () => {
    const e = k("causal", ["float32", "float32"], "float32", { k: "sel", c: bin("le", idx(1), idx(0)), x: R, y: c(-Infinity, "float32"), dt: "float32" });
    checkKernel(e, [A, B], { rtol: 2e-4, atol: 2e-5 });
  });
});

describe("wasm convolution", () => {
  const conv = (over: Partial<ConvP> & { strides: number[] }): ConvP => {
    const nsp = over.strides.length;
    const canon = Array.from({ length: nsp + 2 }, (_, i) => i);
    return {
      padding: Array.from({ length: nsp }, () => [0, 0] as [number, number]),
      lhsDilation: Array(nsp).fill(1), rhsDilation: Array(nsp).fill(1),
      featureGroupCount: 1, batchGroupCount: 1, lhsSpec: canon, rhsSpec: canon, outSpec: canon, ...over,
    };
  };

  test("2-d with padding, stride and dilation", () => {
    const k = checkPrim(convP, conv({ strides: [1, 1], padding: [[1, 1], [1, 1]] }), [[2, 8, 14, 14], [16, 8, 3, 3]]);
    assert.equal(plan(k), "gemm");
    checkPrim(convP, conv({ strides: [2, 2], padding: [[1, 1], [1, 1]] }), [[2, 8, 15, 13], [12, 8, 3, 3]]);
    checkPrim(convP, conv({ strides: [1, 2], padding: [[2, 0], [1, 3]], rhsDilation: [2, 1] }), [[3, 5, 11, 12], [9, 5, 3, 2]]);
  });

  test("groups, 1-d and 3-d", () => {
    checkPrim(convP, conv({ strides: [1, 1], padding: [[1, 1], [1, 1]], featureGroupCount: 4 }), [[2, 8, 9, 9], [12, 2, 3, 3]]);
    checkPrim(convP, conv({ strides: [1, 1], padding: [[1, 1], [1, 1]], featureGroupCount: 8 }), [[2, 8, 9, 9], [8, 1, 3, 3]]);
    checkPrim(convP, conv({ strides: [1], padding: [[2, 2]] }), [[4, 6, 40], [10, 6, 5]]);
    checkPrim(convP, conv({ strides: [1, 1, 1], padding: [[1, 1], [0, 0], [1, 1]] }), [[2, 3, 5, 6, 7], [4, 3, 3, 2, 3]]);
  });

  test("gradient-shaped convolutions (input dilation, batch groups, channels-last specs)", () => {
    // the lhs cotangent of a strided conv: lhs dilation
    checkPrim(convP, conv({ strides: [1, 1], padding: [[2, 2], [2, 2]], lhsDilation: [2, 2] }), [[2, 6, 7, 7], [5, 6, 3, 3]]);
    // the rhs cotangent of a grouped conv: batch groups, the batch playing the feature role
    checkPrim(convP, conv({ strides: [1, 1], padding: [[1, 1], [1, 1]], batchGroupCount: 2, lhsSpec: [1, 0, 2, 3], rhsSpec: [1, 0, 2, 3], outSpec: [1, 0, 2, 3] }), [[6, 4, 8, 8], [6, 4, 8, 8]]);
    // NHWC activations with HWIO weights
    const k = checkPrim(convP, conv({ strides: [1, 1], padding: [[1, 1], [1, 1]], lhsSpec: [0, 3, 1, 2], rhsSpec: [3, 2, 0, 1], outSpec: [0, 3, 1, 2] }), [[2, 10, 10, 8], [3, 3, 8, 16]]);
    assert.equal(plan(k), "gemm");
  });
});
