// The wasm backend's elementwise and reduction kernels (scalar, vectorised along the output, and
// vectorised along a reduction) against the ref backend, with 1 and 2 threads.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { DType, TypedArray } from "../../src/core/dtype.js";
import { bin, c, cast, idx, load, sel, un, type BinOp, type Expr, type UnOp } from "../../src/ir/expr.js";
import { compileKernelModule } from "../../src/backend/wasm/codegen.js";
import { at, checkKernel, kernel, outIx, randomData, rng } from "./wasm-harness.js";

const FLOAT_UN: [UnOp, number, number][] = [
  ["neg", -3, 3], ["abs", -3, 3], ["exp", -20, 20], ["log", 1e-3, 50], ["log1p", -0.9, 5], ["expm1", -3, 3],
  ["sqrt", 0, 9], ["rsqrt", 0.01, 9], ["sin", -7, 7], ["cos", -7, 7], ["tan", -1.4, 1.4], ["tanh", -6, 6],
  ["asin", -0.99, 0.99], ["acos", -0.99, 0.99], ["atan", -5, 5], ["sinh", -4, 4], ["cosh", -4, 4], ["asinh", -4, 4],
  ["acosh", 1, 5], ["atanh", -0.95, 0.95], ["logistic", -20, 20], ["erf", -4, 4], ["erfinv", -0.95, 0.95],
  ["sign", -2, 2], ["floor", -5, 5], ["ceil", -5, 5], ["round", -5, 5], ["recip", 0.1, 4],
];
const FLOAT_BIN: BinOp[] = ["add", "sub", "mul", "div", "rem", "pow", "max", "min", "atan2"];
const CMP: BinOp[] = ["eq", "ne", "lt", "le", "gt", "ge"];
const INT_BIN: BinOp[] = ["add", "sub", "mul", "div", "rem", "max", "min", "and", "or", "xor"];
// odd extents exercise the scalar remainder after the vector loop
const SHAPES = [[7], [3, 5], [4, 33], [2, 3, 17], [64, 9]];

function withNaN(a: TypedArray, every: number): TypedArray {
  for (let i = 3; i < a.length; i += every) a[i] = NaN;
  return a;
}

describe("wasm elementwise kernels", () => {
  for (const dt of ["float32", "float64"] as DType[]) {
    for (const [op, lo, hi] of FLOAT_UN) {
      test(`${dt} ${op}`, () => {
        for (const shape of SHAPES) {
          const ix = outIx(shape);
          const n = shape.reduce((a, b) => a * b, 1);
          const x = randomData(dt, n, n * 31 + 7, lo, hi);
          // exact integers and halves make floor/ceil/round tie cases
          if (op === "round") for (let i = 0; i < n; i += 3) x[i] = Math.round(Number(x[i]) * 2) / 2;
          checkKernel(kernel(op, [dt], shape, dt, un(op, at(0, dt, shape, ix))), [x], { rtol: 2e-6, atol: 1e-7 });
        }
      });
    }
    test(`${dt} binary ops with NaN`, () => {
      for (const op of FLOAT_BIN) {
        for (const shape of SHAPES) {
          const ix = outIx(shape);
          const n = shape.reduce((a, b) => a * b, 1);
          const x = withNaN(randomData(dt, n, 5, 0.1, 3), 7), y = withNaN(randomData(dt, n, 9, 0.1, 3), 11);
          checkKernel(kernel(op, [dt, dt], shape, dt, bin(op, at(0, dt, shape, ix), at(1, dt, shape, ix))), [x, y], { rtol: 2e-6, atol: 1e-7 });
        }
      }
    });
  }

  test("float32 isnan / isinf / comparisons give bool", () => {
    const shape = [5, 13];
    const ix = outIx(shape);
    const x = withNaN(randomData("float32", 65, 3), 5), y = randomData("float32", 65, 4);
    x[1] = Infinity;
    x[2] = -Infinity;
    y[7] = x[7]!;
    checkKernel(kernel("isnan", ["float32"], shape, "bool", un("isnan", at(0, "float32", shape, ix), "bool")), [x]);
    checkKernel(kernel("isinf", ["float32"], shape, "bool", un("isinf", at(0, "float32", shape, ix), "bool")), [x]);
    for (const op of CMP) checkKernel(kernel(op, ["float32", "float32"], shape, "bool", bin(op, at(0, "float32", shape, ix), at(1, "float32", shape, ix))), [x, y]);
  });

  for (const dt of ["int32", "uint32", "int8", "uint8"] as DType[]) {
    test(`${dt} arithmetic, bit ops, shifts and comparisons (wrapping as the ref backend)`, () => {
      for (const shape of SHAPES) {
        const ix = outIx(shape);
        const n = shape.reduce((a, b) => a * b, 1);
        const x = randomData(dt, n, 17), y = randomData(dt, n, 23);
        y[0] = 0; // division by zero gives 0
        const X = at(0, dt, shape, ix), Y = at(1, dt, shape, ix);
        for (const op of INT_BIN) checkKernel(kernel(op, [dt, dt], shape, dt, bin(op, X, Y)), [x, y]);
        for (const op of CMP) checkKernel(kernel(op, [dt, dt], shape, "bool", bin(op, X, Y)), [x, y]);
        for (const op of ["neg", "abs", "not", "sign"] as UnOp[]) {
          if (dt === "uint32" && (op === "abs" || op === "neg")) continue;
          checkKernel(kernel(op, [dt], shape, dt, un(op, X)), [x]);
        }
        // shifts by a uniform amount (vector shift) and by a per-element amount (lane by lane)
        checkKernel(kernel("shl", [dt], shape, dt, bin("shl", X, c(3, dt))), [x]);
        checkKernel(kernel("shr", [dt], shape, dt, bin("shr", X, c(2, dt))), [x]);
        const amt = bin("and", Y, c(7, dt));
        checkKernel(kernel("shlv", [dt, dt], shape, dt, bin("shl", X, amt)), [x, y]);
      }
    });
  }

  test("bool logic and select", () => {
    const shape = [6, 19];
    const ix = outIx(shape);
    const a = randomData("bool", 114, 1), b = randomData("bool", 114, 2);
    const x = randomData("float32", 114, 3), y = randomData("float32", 114, 4);
    const A = at(0, "bool", shape, ix), B = at(1, "bool", shape, ix);
    for (const op of ["and", "or", "xor", "eq", "ne", "lt", "ge"] as BinOp[]) checkKernel(kernel(op, ["bool", "bool"], shape, "bool", bin(op, A, B, "bool")), [a, b]);
    checkKernel(kernel("not", ["bool"], shape, "bool", un("not", A)), [a]);
    checkKernel(kernel("where", ["bool", "float32", "float32"], shape, "float32", sel(A, at(1, "float32", shape, ix), at(2, "float32", shape, ix))), [a, x, y]);
    checkKernel(kernel("where_i", ["bool", "int32"], shape, "int32", sel(A, at(1, "int32", shape, ix), c(-5, "int32"))), [a, randomData("int32", 114, 5)]);
  });

  test("casts between every pair of dtypes", () => {
    const dts: DType[] = ["float32", "float64", "int32", "uint32", "int8", "uint8", "bool", "float16", "bfloat16"];
    const shape = [3, 21];
    const ix = outIx(shape);
    for (const from of dts) {
      // values the ref backend and the hardware convert alike (in range, non-negative for unsigned)
      const x = randomData(from, 63, 41, 0, 100);
      for (const to of dts) {
        if (from === to) continue;
        checkKernel(kernel(`${from}->${to}`, [from], shape, to, cast(at(0, from, shape, ix), to)), [x]);
      }
    }
  });

  test("float32 bitcast round trip", () => {
    const shape = [2, 9];
    const ix = outIx(shape);
    const x = randomData("float32", 18, 8);
    const bits: Expr = { k: "bitcast", x: at(0, "float32", shape, ix), dt: "int32" };
    checkKernel(kernel("bitcast", ["float32"], shape, "int32", bits), [x]);
    checkKernel(kernel("bitcast2", ["float32"], shape, "float32", { k: "bitcast", x: bin("add", bits, c(1)), dt: "float32" }), [x]);
  });

  test("broadcast, transposed and reshaped operands", () => {
    const shape = [5, 12];
    const ix = outIx(shape);
    const row = randomData("float32", 12, 1), col = randomData("float32", 5, 2), full = randomData("float32", 60, 3);
    // row broadcast (stride 0 along the outer axis), column broadcast (stride 0 along the inner one)
    const e1 = bin("add", at(0, "float32", [1, 12], [c(0), ix[1]!]), at(1, "float32", [5, 1], [ix[0]!, c(0)]));
    checkKernel(kernel("bcast", ["float32", "float32"], shape, "float32", e1), [row, col]);
    // transposed read: stride 5 along the inner axis (gathered lanes)
    checkKernel(kernel("transpose", ["float32"], shape, "float32", un("exp", at(0, "float32", [12, 5], [ix[1]!, ix[0]!]))), [full]);
    // a reshape [60] → [5,12] read through div/rem of a flat index (not affine)
    const flat = bin("add", bin("mul", ix[1]!, c(5)), ix[0]!);
    const q = [bin("div", flat, c(12)), bin("rem", flat, c(12))];
    checkKernel(kernel("reshape", ["float32"], shape, "float32", at(0, "float32", [5, 12], q)), [full]);
    // iota: the index itself as a value
    checkKernel(kernel("iota", [], shape, "int32", bin("add", bin("mul", ix[0]!, c(100)), ix[1]!)), []);
    checkKernel(kernel("iotaf", [], [37], "float32", cast(idx(0), "float32")), []);
  });

  test("rank-0 kernels and multiple outputs", () => {
    checkKernel(kernel("scalar", ["float32"], [], "float32", un("exp", load(0, c(0), "float32"))), [new Float32Array([0.5])]);
    const shape = [4, 10];
    const ix = outIx(shape);
    const x = at(0, "float32", shape, ix);
    const k = { name: "two", inputs: ["float32"] as DType[], shape, outs: [{ dt: "float32" as DType, expr: un("tanh", x) }, { dt: "bool" as DType, expr: bin("gt", x, c(0, "float32")) }] };
    checkKernel(k, [randomData("float32", 40, 6)]);
  });

  test("16-bit floats take the scalar path", () => {
    for (const dt of ["float16", "bfloat16"] as DType[]) {
      const shape = [3, 11];
      const ix = outIx(shape);
      const X = at(0, dt, shape, ix), Y = at(1, dt, shape, ix);
      checkKernel(kernel("h", [dt, dt], shape, dt, bin("add", bin("mul", X, Y), X)), [randomData(dt, 33, 1), randomData(dt, 33, 2)], { rtol: 1e-2, atol: 1e-3 });
      assert.equal(compileKernelModule(kernel("h", [dt, dt], shape, dt, bin("add", X, Y)), { shared: false, relaxed: false }).plan, "scalar");
    }
  });

  test("the planner vectorises what it should", () => {
    const plan = (k: ReturnType<typeof kernel>) => compileKernelModule(k, { shared: false, relaxed: false }).plan;
    const ix = outIx([64, 128]);
    assert.equal(plan(kernel("e", ["float32"], [64, 128], "float32", un("exp", at(0, "float32", [64, 128], ix)))), "vector");
    const body = at(0, "float32", [64, 128], [idx(0), idx(1)]);
    assert.equal(plan(kernel("rs", ["float32"], [64], "float32", { k: "reduce", op: "sum", vars: [1], ext: [128], body, dt: "float32" })), "reduce");
    const bodyT = at(0, "float32", [64, 128], [idx(1), idx(0)]);
    assert.equal(plan(kernel("cs", ["float32"], [128], "float32", { k: "reduce", op: "sum", vars: [1], ext: [64], body: bodyT, dt: "float32" })), "vector");
    assert.equal(plan(kernel("f64", ["float64"], [64, 128], "float64", un("exp", at(0, "float64", [64, 128], ix)))), "scalar");
  });
});

describe("wasm reductions", () => {
  const R = 13, C = 37;
  const inner = (dt: DType, body: (i: Expr, k: Expr) => Expr, op: "sum" | "prod" | "max" | "min" | "argmax" | "argmin", odt: DType) =>
    kernel(`${op}-inner`, [dt], [R], odt, { k: "reduce", op, vars: [1], ext: [C], body: body(idx(0), idx(1)), dt: odt });
  const outer = (dt: DType, body: (k: Expr, j: Expr) => Expr, op: "sum" | "prod" | "max" | "min" | "argmax" | "argmin", odt: DType) =>
    kernel(`${op}-outer`, [dt], [C], odt, { k: "reduce", op, vars: [1], ext: [R], body: body(idx(1), idx(0)), dt: odt });

  for (const dt of ["float32", "float64", "int32", "uint32"] as DType[]) {
    test(`${dt} sum/prod/max/min/argmax/argmin over the inner and the outer axis`, () => {
      const isF = dt === "float32" || dt === "float64";
      const x = randomData(dt, R * C, 77, 0.5, 1.5);
      if (isF) withNaN(x, 101);
      // the ref backend multiplies integers in float64: keep products exact (|x| ≤ 2) so both wrap alike
      if (!isF) for (let i = 0; i < x.length; i++) x[i] = (dt === "uint32" ? [1, 2, 1, 1] : [1, 2, -1, -2])[Math.abs(Number(x[i])) % 4]!;
      const ld = (i: Expr, k: Expr) => load(0, bin("add", bin("mul", i, c(C)), k), dt);
      for (const op of ["sum", "prod", "max", "min", "argmax", "argmin"] as const) {
        const odt = op === "argmax" || op === "argmin" ? "int32" : dt;
        const tol = { rtol: op === "prod" ? 1e-4 : 2e-5, atol: 1e-6 };
        checkKernel(inner(dt, ld, op, odt), [x], tol);
        checkKernel(outer(dt, ld, op, odt), [x], tol);
      }
    });
  }

  test("bool any/all as max/min", () => {
    const x = randomData("bool", R * C, 5);
    for (let i = 0; i < C; i++) x[2 * C + i] = 1; // a row of all true
    for (let i = 0; i < C; i++) x[3 * C + i] = 0;
    const ld = (i: Expr, k: Expr) => load(0, bin("add", bin("mul", i, c(C)), k), "bool");
    for (const op of ["max", "min"] as const) {
      checkKernel(inner("bool", ld, op, "bool"), [x]);
      checkKernel(outer("bool", ld, op, "bool"), [x]);
    }
  });

  test("softmax-shaped fused reductions and epilogues", () => {
    const rows = 9, cols = 70;
    const x = randomData("float32", rows * cols, 3, -4, 4);
    const xi = (i: Expr, k: Expr) => load(0, bin("add", bin("mul", i, c(cols)), k), "float32");
    const max = checkKernel(kernel("max", ["float32"], [rows, 1], "float32", { k: "reduce", op: "max", vars: [2], ext: [cols], body: xi(idx(0), idx(2)), dt: "float32" }), [x])[0]!;
    // Σ exp(x − max) with the max broadcast from another input, then log of it (an epilogue)
    const body = un("exp", bin("sub", xi(idx(0), idx(1)), load(1, idx(0), "float32")));
    const lse = kernel("lse", ["float32", "float32"], [rows], "float32", bin("add", un("log", { k: "reduce", op: "sum", vars: [1], ext: [cols], body, dt: "float32" }), load(1, idx(0), "float32")));
    checkKernel(lse, [x, max], { rtol: 1e-5 });
    // the same max computed inside the kernel (not hoistable by the scalar path, hoisted by the vector one)
    const inlineMax: Expr = { k: "reduce", op: "max", vars: [2], ext: [cols], body: xi(idx(0), idx(2)), dt: "float32" };
    const sm = kernel("softmax", ["float32"], [rows, cols], "float32", un("exp", bin("sub", xi(idx(0), idx(1)), inlineMax)));
    checkKernel(sm, [x], { rtol: 1e-5 });
  });

  test("nested and multi-variable reductions", () => {
    const A = 6, B = 5, D = 11;
    const x = randomData("float32", A * B * D, 8, 0.5, 1.5);
    const ld = (a: Expr, b: Expr, d: Expr) => load(0, bin("add", bin("mul", bin("add", bin("mul", a, c(B)), b), c(D)), d), "float32");
    // sum over two axes at once
    checkKernel(kernel("sum2", ["float32"], [A], "float32", { k: "reduce", op: "sum", vars: [1, 2], ext: [B, D], body: ld(idx(0), idx(1), idx(2)), dt: "float32" }), [x]);
    checkKernel(kernel("sum2o", ["float32"], [D], "float32", { k: "reduce", op: "sum", vars: [1, 2], ext: [A, B], body: ld(idx(1), idx(2), idx(0)), dt: "float32" }), [x]);
    // max over d of a sum over b
    const inner: Expr = { k: "reduce", op: "sum", vars: [3], ext: [B], body: ld(idx(0), idx(3), idx(2)), dt: "float32" };
    checkKernel(kernel("nested", ["float32"], [A], "float32", { k: "reduce", op: "max", vars: [2], ext: [D], body: inner, dt: "float32" }), [x]);
  });

  test("large rows split across threads give identical results", () => {
    const r = rng(4);
    const rows = 300, cols = 1000;
    const x = new Float32Array(rows * cols).map(() => r());
    const ld = (i: Expr, k: Expr) => load(0, bin("add", bin("mul", i, c(cols)), k), "float32");
    checkKernel(kernel("rowsum", ["float32"], [rows], "float32", { k: "reduce", op: "sum", vars: [1], ext: [cols], body: ld(idx(0), idx(1)), dt: "float32" }), [x], { rtol: 1e-4, atol: 1e-4 });
    checkKernel(kernel("colsum", ["float32"], [cols], "float32", { k: "reduce", op: "sum", vars: [1], ext: [rows], body: ld(idx(1), idx(0)), dt: "float32" }), [x], { rtol: 1e-4, atol: 1e-4 });
    checkKernel(kernel("flat", ["float32"], [rows * cols], "float32", un("logistic", load(0, idx(0), "float32"))), [x], { rtol: 2e-6 });
  });
});
