// The wasm backend's runtime: SIMD transcendental accuracy, threads, memory limits, relaxed-SIMD probing.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TridentError } from "../../src/core/errors.js";
import type { DType } from "../../src/core/dtype.js";
import { bin, c, idx, load, un, type Kernel, type UnOp } from "../../src/ir/expr.js";
import { erf } from "../../src/backend/ref/math.js";
import { WasmBackend } from "../../src/backend/wasm/index.js";
import { compileKernelModule } from "../../src/backend/wasm/codegen.js";
import { relaxedProbeModule, relaxedSimd } from "../../src/backend/wasm/probe.js";
import { Heap } from "../../src/backend/wasm/heap.js";
import { Pool } from "../../src/backend/wasm/pool.js";
import { Fn } from "../../src/backend/wasm/fn.js";
import { buildModule } from "../../src/backend/wasm/codegen.js";
import { Op } from "../../src/backend/wasm/emitter.js";
import { checkKernel, randomData, ref, rng, runOn, wasm1, wasm2 } from "./wasm-harness.js";

const MATH: Record<string, (x: number) => number> = { exp: Math.exp, log: Math.log, tanh: Math.tanh, logistic: (x) => 1 / (1 + Math.exp(-x)), erf };
const RANGE: Record<string, [number, number]> = { exp: [-87.5, 88.72], log: [1e-37, 1e37], tanh: [-12, 12], logistic: [-80, 80], erf: [-6, 6] };
const unary = (op: UnOp, n: number): Kernel => ({ name: op, inputs: ["float32"], shape: [n], outs: [{ dt: "float32", expr: un(op, load(0, idx(0), "float32")) }] });

describe("wasm SIMD transcendentals (float32)", () => {
  for (const op of Object.keys(MATH)) {
    test(`${op} matches Math in float64 to 2e-6 relative`, () => {
      const n = 20003;
      const [lo, hi] = RANGE[op]!;
      const r = rng(op.length * 7 + 1);
      const x = new Float32Array(n).map((_, i) => (op === "log" ? Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * r(0, 1)) : i < 2000 ? r(-1, 1) : r(lo, hi)));
      const [y] = runOn(wasm1, unary(op as UnOp, n), [x]);
      for (let i = 0; i < n; i++) {
        const e = MATH[op]!(x[i]!);
        const err = Math.abs(y![i]! - e);
        if (!(err <= 2e-6 * Math.abs(e) + 1e-38)) assert.fail(`${op}(${x[i]}) = ${y![i]}, expected ${e} (relative error ${err / Math.abs(e)})`);
      }
    });
  }

  test("special values follow IEEE", () => {
    const xs = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 100, -100, 1, -1];
    const x = new Float32Array(xs);
    const got = (op: UnOp) => Array.from(runOn(wasm1, unary(op, xs.length), [x])[0]!);
    const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= 2e-6 * Math.abs(b);
    const expect = (op: UnOp, f: (v: number) => number) =>
      got(op).forEach((v, i) => assert.ok(same(v, Math.fround(f(x[i]!))), `${op}(${x[i]}) = ${v}, expected ${Math.fround(f(x[i]!))}`));
    expect("exp", Math.exp);
    expect("log", Math.log); // log(0) = −inf, log(x < 0) = NaN, subnormal inputs exact
    expect("tanh", Math.tanh);
    expect("logistic", (v) => (v === -Infinity ? 0 : 1 / (1 + Math.exp(-v))));
    expect("erf", (v) => (v === 0 ? v : erf(v)));
  });

  test("subnormal results of exp round once (gradual underflow)", () => {
    const x = new Float32Array([-88, -90, -95, -100, -103, -104, -110]);
    const [y] = runOn(wasm1, unary("exp", x.length), [x]);
    x.forEach((v, i) => {
      const e = Math.fround(Math.exp(v));
      assert.ok(Math.abs(y![i]! - e) <= Math.max(2e-6 * e, 1.5e-45), `exp(${v}) = ${y![i]}, expected ${e}`);
    });
  });

  test("scalar remainder elements equal the vector lanes bit for bit", () => {
    // 4k + 3 elements: the last three take the scalar loop; give them the values of vector lanes
    const x = randomData("float32", 103, 5, -9, 9) as Float32Array;
    x.copyWithin(100, 0, 3);
    for (const op of Object.keys(MATH)) {
      const [y] = runOn(wasm1, unary(op as UnOp, 103), [op === "log" ? x.map(Math.abs) : x]);
      for (let i = 0; i < 3; i++) assert.equal(y![100 + i], y![i], `${op}: scalar and vector results differ`);
    }
  });
});

describe("wasm threads", () => {
  test("two threads give bitwise the results of one", () => {
    const n = 1 << 16;
    const x = randomData("float32", n, 3, -5, 5);
    const k: Kernel = { name: "mix", inputs: ["float32"], shape: [256, 256], outs: [{ dt: "float32", expr: un("tanh", bin("mul", load(0, bin("add", bin("mul", idx(0), c(256)), idx(1)), "float32"), c(1.5, "float32"))) }] };
    const a = runOn(wasm1, k, [x])[0]!, b = runOn(wasm2, k, [x])[0]!;
    assert.deepEqual(Array.from(b), Array.from(a));
  });

  test("setThreads, getThreads and ready", async () => {
    const be = new WasmBackend({ threads: 3, parallelWork: 0 });
    await be.ready();
    assert.equal(be.getThreads(), 3);
    be.setThreads(1);
    assert.equal(be.getThreads(), 1);
    be.setThreads(2);
    // kernels dispatched before the workers are up run on the calling thread
    const x = randomData("float32", 4096, 9);
    const k = unary("exp", 4096);
    assert.deepEqual(Array.from(runOn(be, k, [x])[0]!), Array.from(runOn(wasm1, k, [x])[0]!));
    await be.ready();
    assert.equal(be.getThreads(), 2);
    assert.deepEqual(Array.from(runOn(be, k, [x])[0]!), Array.from(runOn(wasm1, k, [x])[0]!));
    assert.throws(() => be.setThreads(-1), TridentError);
    assert.throws(() => be.setThreads(1.5), /setThreads: threads must be a non-negative integer/);
    be.close();
    assert.equal(be.getThreads(), 1);
    assert.deepEqual(Array.from(runOn(be, k, [x])[0]!), Array.from(runOn(wasm1, k, [x])[0]!));
  });

  test("memory grown after the workers started is visible to them", async () => {
    const be = new WasmBackend({ threads: 2, parallelWork: 0 });
    await be.ready();
    const before = be.heap.memory.buffer.byteLength;
    const big = be.malloc("float32", 8 << 20); // 32 MiB: forces the shared memory to grow
    assert.ok(be.heap.memory.buffer.byteLength > before);
    const n = 1 << 15;
    const x = randomData("float32", n, 2);
    const k = unary("logistic", n);
    assert.deepEqual(Array.from(runOn(be, k, [x])[0]!), Array.from(runOn(wasm1, k, [x])[0]!));
    be.free(big);
    be.close();
  });

  test("chunks a worker cannot run (a trap there) are run by the calling thread", async () => {
    // the workers' module traps at once (as a browser worker that has not yet seen a memory growth
    // does); the caller's own function writes each row's index, slowly at first so that workers take chunks
    const heap = new Heap({ shared: true });
    const pool = new Pool(heap, 1);
    await pool.ready();
    const f = new Fn(4, false);
    f.op(Op.unreachable);
    const module = new WebAssembly.Module(buildModule(f, { shared: true, relaxed: false }, 4) as BufferSource);
    const rows = 64;
    const out = heap.malloc(rows * 4);
    let calls = 0;
    const run = (ptr: number, start: number, end: number): void => {
      if (calls++ === 0) for (const t0 = Date.now(); Date.now() - t0 < 30; );
      const v = new Int32Array(heap.memory.buffer, ptr, rows);
      for (let r = start; r < end; r++) v[r] = r + 1;
    };
    const job = { id: 1, module, run, args: [out.ptr, 0, 0, 0], info: { rows, grain: 1, imports: [] } };
    pool.run(job, 1, () => 0);
    assert.ok(pool.handedBack > 0, "no worker took a chunk");
    assert.deepEqual(Array.from(new Int32Array(heap.memory.buffer, out.ptr, rows)), Array.from({ length: rows }, (_, r) => r + 1));
    pool.close();
  });

  test("a large matmul splits its tiles across threads", () => {
    const M = 160, K = 96, N = 100;
    const k: Kernel = {
      name: "mm", inputs: ["float32", "float32"], shape: [M, N],
      outs: [{ dt: "float32", expr: { k: "reduce", op: "sum", vars: [2], ext: [K], dt: "float32", body: bin("mul", load(0, bin("add", bin("mul", idx(0), c(K)), idx(2)), "float32"), load(1, bin("add", bin("mul", idx(2), c(N)), idx(1)), "float32")) } }],
    };
    assert.ok(compileKernelModule(k, { shared: true, relaxed: false }).rows > 1);
    checkKernel(k, [randomData("float32", M * K, 1), randomData("float32", K * N, 2)], { rtol: 2e-4, atol: 2e-5 });
  });
});

describe("wasm memory", () => {
  test("running out of memory is a TridentError that says how much was asked", () => {
    const be = new WasmBackend({ threads: 1, maxPages: 512 });
    assert.throws(() => be.malloc("float32", 50_000_000), (e: unknown) => e instanceof TridentError && /out of memory allocating 200000000 bytes/.test(e.message));
    // the backend stays usable
    const b = be.malloc("float32", 16);
    be.write(b, new Float32Array(16).fill(2));
    assert.equal(be.readSync(b)[3], 2);
  });

  test("freed buffers are reused", () => {
    const be = new WasmBackend({ threads: 1 });
    const a = be.malloc("float32", 1000);
    const used = be.heap.used;
    be.free(a);
    const b = be.malloc("float32", 1000);
    assert.equal(be.heap.used, used);
    be.free(b);
  });
});

describe("wasm relaxed SIMD", () => {
  const M = 32, K = 33, N = 40;
  const mm: Kernel = {
    name: "mm", inputs: ["float32", "float32"], shape: [M, N],
    outs: [{ dt: "float32", expr: { k: "reduce", op: "sum", vars: [2], ext: [K], dt: "float32", body: bin("mul", load(0, bin("add", bin("mul", idx(0), c(K)), idx(2)), "float32"), load(1, bin("add", bin("mul", idx(2), c(N)), idx(1)), "float32")) } }],
  };

  test("the probe agrees with the engine and kernels without FMA always validate", () => {
    assert.equal(WebAssembly.validate(relaxedProbeModule() as BufferSource), relaxedSimd());
    const plain = compileKernelModule(mm, { shared: false, relaxed: false });
    assert.equal(plain.plan, "gemm");
    assert.ok(WebAssembly.validate(plain.bytes as BufferSource));
    const fused = compileKernelModule(mm, { shared: false, relaxed: true });
    assert.equal(WebAssembly.validate(fused.bytes as BufferSource), relaxedSimd());
    const A = randomData("float32", M * K, 1), B = randomData("float32", K * N, 2);
    checkKernel(mm, [A, B], { rtol: 2e-4, atol: 2e-5 });
  });

  test("with --experimental-wasm-relaxed-simd the fused kernels run and agree", () => {
    const here = fileURLToPath(new URL("./wasm-harness.ts", import.meta.url));
    const code = `
      import { relaxedSimd } from ${JSON.stringify(fileURLToPath(new URL("../../src/backend/wasm/probe.ts", import.meta.url)))};
      import { WasmBackend } from ${JSON.stringify(fileURLToPath(new URL("../../src/backend/wasm/index.ts", import.meta.url)))};
      import { runOn, ref, randomData } from ${JSON.stringify(here)};
      const k = ${JSON.stringify(mm)};
      const be = new WasmBackend({ threads: 1 });
      const A = randomData("float32", ${M * K}, 1), B = randomData("float32", ${K * N}, 2);
      const got = runOn(be, k, [A, B])[0], want = runOn(ref, k, [A, B])[0];
      let err = 0; for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
      console.log(JSON.stringify({ relaxed: relaxedSimd(), fma: be.relaxed, err }));
      process.exit(0);`;
    const out = execFileSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8" });
    const res = JSON.parse(out.trim().split("\n").pop()!) as { relaxed: boolean; fma: boolean; err: number };
    assert.equal(res.relaxed, true);
    assert.equal(res.fma, true);
    assert.ok(res.err < 1e-4, `fused matmul differs from ref by ${res.err}`);
  });
});

void ref;
void (0 as unknown as DType);
