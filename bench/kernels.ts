// Kernel benchmarks of the wasm backend against its targets. Run:
//   node --import tsx bench/kernels.ts [threads]
//   node --experimental-wasm-relaxed-simd --import tsx bench/kernels.ts [threads]
// Numbers are the best of several runs after warm-up (the engine tiers kernels up after first use).
import * as tr from "../src/index.js";
import type { Kernel, Expr } from "../src/ir/expr.js";
import { bin, c, idx, load, un } from "../src/ir/expr.js";
import type { WasmBackend } from "../src/backend/wasm/index.js";
import { compileKernelModule } from "../src/backend/wasm/codegen.js";

const threads = Number(process.argv[2] ?? 0);
await tr.setBackend("wasm");
const be = tr.getBackend() as unknown as WasmBackend;
be.setThreads(threads);
await be.ready();
console.log(`wasm backend: ${be.getThreads()} thread(s), fused multiply-add ${be.relaxed ? "on (relaxed SIMD)" : "off"}`);

/** CPU time of the process per run (all threads), next to wall time: tells a loaded machine from a slow kernel. */
let lastCpu = 0;
function time(fn: () => void, reps: number, minMs = 300): number {
  for (let i = 0; i < 3; i++) fn();
  let best = Infinity;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let r = 0;
  for (; r < reps || performance.now() - t0 < minMs; r++) {
    const s = performance.now();
    fn();
    best = Math.min(best, performance.now() - s);
  }
  const cu = process.cpuUsage(c0);
  lastCpu = (cu.user + cu.system) / 1000 / r;
  return best;
}
const report = (name: string, ms: number, extra = "", target = "") =>
  console.log(`${name.padEnd(44)} ${ms.toFixed(3).padStart(9)} ms (cpu ${lastCpu.toFixed(2).padStart(8)} ms/run)  ${extra.padEnd(16)} ${target}`);
const plan = (k: Kernel) => compileKernelModule(k, { shared: true, relaxed: be.relaxed }).plan;

// ---- matmul 1024² (one dot_general kernel) ----
for (const n of [256, 512, 1024]) {
  const a = tr.randn([n, n]), b = tr.randn([n, n]);
  const ms = time(() => a.matmul(b).dispose(), n === 1024 ? 5 : 20);
  report(`matmul ${n}x${n}x${n}`, ms, `${(2 * n ** 3 / ms / 1e6).toFixed(1)} GFLOP/s`, n === 1024 ? "target >= 60 GFLOP/s" : "");
  a.dispose(); b.dispose();
}

// ---- conv2d N32 C32->64 28x28 k3 p1 ----
{
  const x = tr.randn([32, 32, 28, 28]), w = tr.randn([64, 32, 3, 3]);
  const ms = time(() => tr.conv2d(x, w, null, { padding: 1 }).dispose(), 5);
  const flops = 2 * 32 * 64 * 28 * 28 * 32 * 9;
  report("conv2d N32 C32->64 28x28 k3 p1", ms, `${(flops / ms / 1e6).toFixed(1)} GFLOP/s`, "target <= 20 ms");
}

// ---- gelu(x*1.5+0.5), tanh form, 4M elements ----
const N4M = 4 * 1024 * 1024;
const gx = tr.randn([N4M]);
{
  const f = tr.jit((x: tr.Tensor) => tr.gelu(x.mul(1.5).add(0.5), { approximate: "tanh" }));
  const ms = time(() => (f(gx) as tr.Tensor).dispose(), 5);
  report("gelu_tanh(x*1.5+0.5) 4M, jit", ms, "", "target <= 15 ms");
  const e = time(() => tr.gelu(gx.mul(1.5).add(0.5), { approximate: "tanh" }).dispose(), 5);
  report("gelu_tanh(x*1.5+0.5) 4M, eager ops", e);
}
{
  // the same computation as one hand-fused kernel: what the vectorised elementwise path does alone
  const x = bin("add", bin("mul", load(0, idx(0), "float32"), c(1.5, "float32")), c(0.5, "float32"));
  const inner = bin("mul", c(0.7978845608028654, "float32"), bin("add", x, bin("mul", c(0.044715, "float32"), bin("mul", x, bin("mul", x, x)))));
  const y = bin("mul", bin("mul", c(0.5, "float32"), x), bin("add", c(1, "float32"), un("tanh", inner)));
  const k: Kernel = { name: "gelu", inputs: ["float32"], shape: [N4M], outs: [{ dt: "float32", expr: y }] };
  const exe = be.compile(k);
  const out = be.malloc("float32", N4M);
  const inb = (gx as unknown as { buffer: never }).buffer;
  const ms = time(() => be.dispatch(exe, [inb], [out]), 10);
  report("gelu_tanh(x*1.5+0.5) 4M, one fused kernel", ms, plan(k));
  be.free(out);
}

// ---- softmax over [4096, 1024] ----
{
  const R = 4096, C = 1024;
  const sx = tr.randn([R, C]);
  const f = tr.jit((x: tr.Tensor) => tr.softmax(x, -1));
  report("softmax [4096,1024], jit", time(() => (f(sx) as tr.Tensor).dispose(), 5), "", "target <= 3.5 ms");
  report("softmax [4096,1024], eager ops", time(() => tr.softmax(sx, -1).dispose(), 5));
  // three hand-fused kernels: row max, row sum of exp(x − max), exp(x − max) / sum
  const xi = (i: Expr, k: Expr) => load(0, bin("add", bin("mul", i, c(C)), k), "float32");
  const kmax: Kernel = { name: "max", inputs: ["float32"], shape: [R], outs: [{ dt: "float32", expr: { k: "reduce", op: "max", vars: [1], ext: [C], body: xi(idx(0), idx(1)), dt: "float32" } }] };
  const ksum: Kernel = { name: "sum", inputs: ["float32", "float32"], shape: [R], outs: [{ dt: "float32", expr: { k: "reduce", op: "sum", vars: [1], ext: [C], body: un("exp", bin("sub", xi(idx(0), idx(1)), load(1, idx(0), "float32"))), dt: "float32" } }] };
  const kdiv: Kernel = { name: "div", inputs: ["float32", "float32", "float32"], shape: [R, C], outs: [{ dt: "float32", expr: bin("div", un("exp", bin("sub", xi(idx(0), idx(1)), load(1, idx(0), "float32"))), load(2, idx(0), "float32")) }] };
  const m = be.malloc("float32", R), s = be.malloc("float32", R), o = be.malloc("float32", R * C);
  const inb = (sx as unknown as { buffer: never }).buffer;
  const [e1, e2, e3] = [kmax, ksum, kdiv].map((k) => be.compile(k));
  const ms = time(() => {
    be.dispatch(e1!, [inb], [m]);
    be.dispatch(e2!, [inb, m], [s]);
    be.dispatch(e3!, [inb, m, s], [o]);
  }, 10);
  report("softmax [4096,1024], three fused kernels", ms, [kmax, ksum, kdiv].map(plan).join("/"));
  for (const b of [m, s, o]) be.free(b);
}

// ---- eager dispatch of a small op ----
{
  const x = tr.tensor([1, 2, 3, 4]), y = tr.tensor([5, 6, 7, 8]);
  const n = 20000;
  const ms = time(() => { for (let i = 0; i < n; i++) tr.add(x, y).dispose(); }, 3);
  lastCpu /= n;
  report("eager tr.add on [4] (per op)", ms / n, "", "target <= 0.010 ms");
}
be.close();
