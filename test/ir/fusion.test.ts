// jit compiles a program into fused kernels: results equal eager execution (each primitive its own
// kernel), the kernel counts are small, buffers are reused, and repeated calls keep memory flat.
import * as tr from "../../src/index.js";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";
import { compileJaxpr, describeKernels, type CompiledProgram } from "../../src/transforms/compile.js";
import type { Expr } from "../../src/ir/expr.js";
import { setFusionCosts } from "../../src/ir/fuse.js";

type T = tr.Tensor;
type Fn = (...args: never[]) => unknown;
const CLOSE = { rtol: 1e-5, atol: 1e-6 };

const program = (f: Fn, ...args: unknown[]): CompiledProgram => compileJaxpr(tr.makeJaxpr(f as (...a: unknown[]) => unknown)(...args));
const leaves = (x: unknown): T[] => tr.treeFlatten(x)[0] as T[];

/** jit(f) equals f on these arguments, leaf by leaf. */
function jitMatchesEager(f: Fn, ...args: unknown[]): void {
  const g = f as (...a: unknown[]) => unknown;
  const eager = leaves(g(...args));
  const jitted = leaves((tr.jit(g) as (...a: unknown[]) => unknown)(...args));
  assert.equal(jitted.length, eager.length);
  jitted.forEach((t, i) => {
    assert.deepEqual(t.shape, eager[i]!.shape, `output ${i} shape`);
    assert.equal(t.dtype, eager[i]!.dtype, `output ${i} dtype`);
    assertClose(values(t), values(eager[i]!), { ...CLOSE, msg: `output ${i}` });
  });
}

const randn = (shape: number[], seed: number, scale = 1) => tr.random.normal(tr.random.key(seed), shape).mul(scale);

function loadsOf(p: CompiledProgram): Expr[] {
  const out: Expr[] = [];
  const seen = new Set<Expr>();
  const walk = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.k === "load") out.push(e);
    for (const ch of Object.values(e)) if (ch && typeof ch === "object" && "k" in ch) walk(ch as Expr);
  };
  for (const s of p.plan.steps) if (s.kind === "kernel") s.fused.kernel.outs.forEach((o) => walk(o.expr));
  return out;
}
/** Occurrences of a unary op across the kernels of a program (each shared node once). */
function countOps(p: CompiledProgram, op: string): number {
  let n = 0;
  const seen = new Set<Expr>();
  const walk = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.k === "un" && e.op === op) n++;
    for (const ch of Object.values(e)) if (ch && typeof ch === "object" && "k" in ch) walk(ch as Expr);
  };
  for (const s of p.plan.steps) if (s.kind === "kernel") s.fused.kernel.outs.forEach((o) => walk(o.expr));
  return n;
}
/** Whether the current backend merges row reductions into their consumers (ir/rowfuse.ts). */
const rowFusion = (): boolean => (tr.getBackend() as { fusionOptions?: { rowFusion?: boolean } }).fusionOptions?.rowFusion === true;
const hasDivRem = (e: Expr): boolean =>
  (e.k === "bin" && (e.op === "div" || e.op === "rem")) || Object.values(e).some((ch) => ch && typeof ch === "object" && "k" in ch && hasDivRem(ch as Expr));

type Params = { w1: T; b1: T; w2: T; b2: T };
const mlp = (p: Params, x: T) => tr.relu(x.matmul(p.w1).add(p.b1)).matmul(p.w2).add(p.b2);
const mlpLoss = (p: Params, x: T, y: T) => tr.crossEntropy(mlp(p, x), y);
const mlpParams = (): Params => ({ w1: randn([12, 24], 1, 0.3), b1: randn([24], 2, 0.1), w2: randn([24, 5], 3, 0.3), b2: randn([5], 4, 0.1) });

for (const backend of BACKENDS) {
  const it = (name: string, fn: () => void | Promise<void>) => test(name, () => withBackend(backend, fn));

  describe(`jit fusion (${backend})`, () => {
    describe("elementwise chains", () => {
      it("a chain with broadcasts and scalars is one kernel", () => {
        const f = (x: T, b: T, s: T) => tr.tanh(tr.exp(x.mul(b).add(s)).sub(x.mul(0.5))).mul(b.reshape([1, 5]));
        const args = [randn([4, 5], 1), randn([5], 2), randn([], 3)];
        jitMatchesEager(f, ...args);
        assert.equal(program(f, ...args).numKernels, 1);
      });
      it("gelu(x*1.5+0.5) (tanh form) is one kernel", () => {
        const f = (x: T) => tr.gelu(x.mul(1.5).add(0.5), { approximate: "tanh" });
        const x = randn([6, 7], 4);
        jitMatchesEager(f, x);
        const p = program(f, x);
        assert.equal(p.numKernels, 1);
        assert.ok(p.numPrimitives >= 15, `the chain has ${p.numPrimitives} primitives`);
      });
      it("outputs sharing an iteration space come from one multi-output kernel", () => {
        const f = (x: T) => {
          const e = tr.exp(x);
          return [e, e.mul(2).add(1), tr.sin(x)];
        };
        const x = randn([3, 4], 5);
        jitMatchesEager(f, x);
        const p = program(f, x);
        assert.equal(p.numKernels, 1);
        const k = p.plan.steps[0]!;
        assert.equal(k.kind === "kernel" && k.fused.kernel.outs.length, 3);
      });
      it("integer and boolean programs fuse and keep their dtypes", () => {
        const f = (a: T, b: T) => [tr.where(tr.greater(a, b), a.mul(3), b.sub(1)), tr.logicalAnd(tr.greater(a, 0), tr.less(b, 2))];
        const a = tr.tensor([[1, -2, 3], [4, 0, -6]], { dtype: "int32" }), b = tr.tensor([2, -3, 3], { dtype: "int32" });
        jitMatchesEager(f, a, b);
        assert.equal(program(f, a, b).numKernels, 1);
      });
      it("movement ops compose into affine loads (no div/rem left)", () => {
        // attention's head split: [B, L, H·D] -> [B, L, H, D] -> [B, H, L, D], and a flatten of contiguous axes
        const f = (x: T) => tr.exp(x.reshape([2, 3, 4, 5]).transpose([0, 2, 1, 3]).reshape([8, 3, 5]).reshape([2, 4, 3, 5]));
        const x = randn([2, 3, 20], 6);
        jitMatchesEager(f, x);
        const p = program(f, x);
        assert.equal(p.numKernels, 1);
        for (const l of loadsOf(p)) assert.ok(l.k === "load" && !hasDivRem(l.at), "a load index still divides");
      });
      it("slices, pads, concatenation and reversal fuse", () => {
        const f = (x: T) => tr.concatenate([tr.flip(tr.slice(x, [null, [1, 4]]), 1), tr.pad(x, [[0, 0], [1, 0]]).mul(2)], 1);
        const x = randn([3, 5], 7);
        jitMatchesEager(f, x);
        assert.equal(program(f, x).numKernels, 1);
      });
    });

    describe("reductions with prologues and epilogues", () => {
      const x = () => randn([6, 9], 8, 3);
      it("softmax is 4 kernels computing exp once per element (CPU costs), 3 recomputing it (GPU-like costs); 1 with row fusion", () => {
        const f = (x: T) => tr.softmax(x, { axis: -1 });
        jitMatchesEager(f, x());
        const cpu = program(f, x());
        if (rowFusion()) {
          // max, exp-and-sum and the division in one pass per row (exp appears twice; the code generator stashes it)
          assert.equal(cpu.numKernels, 1);
          assert.equal(countOps(cpu, "exp"), 2);
        } else {
          assert.ok(cpu.numKernels <= 4);
          assert.equal(countOps(cpu, "exp"), 1);
        }
        const prev = setFusionCosts({ transcendental: 4 });
        try {
          const gpu = program(f, x());
          assert.ok(gpu.numKernels <= 3);
          assert.equal(countOps(gpu, "exp"), 2);
          const out = gpu.run([x()])[0]!;
          assertClose(values(out), values(f(x())), CLOSE);
        } finally {
          setFusionCosts(prev);
        }
      });
      it("logsumexp is 2 kernels (max, then log(sum(exp(x − max))) + max)", () => {
        const f = (x: T) => tr.logsumexp(x, { axis: -1 });
        jitMatchesEager(f, x());
        assert.equal(program(f, x()).numKernels, rowFusion() ? 1 : 2);
      });
      it("logSoftmax is at most 3 kernels", () => {
        const f = (x: T) => tr.logSoftmax(x, { axis: -1 });
        jitMatchesEager(f, x());
        assert.ok(program(f, x()).numKernels <= 3);
      });
      it("layerNorm with weight and bias is at most 3 kernels", () => {
        const f = (x: T, w: T, b: T) => tr.layerNorm(x, w, b);
        const args = [x(), randn([9], 9), randn([9], 10)];
        jitMatchesEager(f, ...args);
        assert.ok(program(f, ...args).numKernels <= 3);
      });
      it("crossEntropy against labels is at most 5 kernels", () => {
        const f = (x: T, y: T) => tr.crossEntropy(x, y);
        const y = tr.tensor([0, 8, 3, 3, 1, 7], { dtype: "int32" });
        jitMatchesEager(f, x(), y);
        const p = program(f, x(), y);
        assert.ok(p.numKernels <= 5, describeKernels(tr.makeJaxpr(f)(x(), y)));
      });
      it("a reduction's elementwise epilogue is in the reduction's kernel", () => {
        const f = (x: T) => tr.sqrt(tr.sum(x.mul(x), { axis: 0 })).add(1);
        jitMatchesEager(f, x());
        assert.equal(program(f, x()).numKernels, 1);
      });
    });

    describe("contractions", () => {
      it("MLP forward: matmul + bias + relu and matmul + bias, one kernel per layer", () => {
        const p = mlpParams(), xb = randn([7, 12], 11);
        jitMatchesEager(mlp, p, xb);
        assert.equal(program(mlp, p, xb).numKernels, 2);
      });
      it("a matmul reads its operands as plain loads; an elementwise producer is stored first", () => {
        const f = (a: T, b: T) => tr.exp(a).matmul(b.transpose()).add(1);
        const a = randn([4, 6], 12), b = randn([5, 6], 13);
        jitMatchesEager(f, a, b);
        const p = program(f, a, b);
        assert.equal(p.numKernels, 2);
        const last = p.plan.steps[p.plan.steps.length - 1]!;
        assert.ok(last.kind === "kernel" && last.fused.contraction);
        // the transpose of b is folded into the load; exp(a) is loaded from its own buffer
        for (const l of loadsOf(p)) assert.ok(l.k === "load" && !hasDivRem(l.at));
      });
      it("grad of an MLP loss: jit equals eager, in far fewer kernels than primitives", () => {
        const p = mlpParams(), xb = randn([7, 12], 14), y = tr.tensor([0, 1, 2, 3, 4, 0, 1], { dtype: "int32" });
        const g = tr.grad(mlpLoss);
        jitMatchesEager(g, p, xb, y);
        const prog = program(g, p, xb, y);
        assert.ok(prog.numKernels <= 14, prog.toString());
        assert.ok(prog.numKernels * 5 <= prog.numPrimitives, `${prog.numKernels} kernels for ${prog.numPrimitives} primitives`);
      });
      it("an SGD training step (value and grad, update) fuses the update into few kernels", () => {
        const step = (p: Params, x: T, y: T) => {
          const [loss, g] = tr.valueAndGrad(mlpLoss)(p, x, y) as [T, Params];
          return { loss, p: { w1: p.w1.sub(g.w1.mul(0.1)), b1: p.b1.sub(g.b1.mul(0.1)), w2: p.w2.sub(g.w2.mul(0.1)), b2: p.b2.sub(g.b2.mul(0.1)) } };
        };
        const p = mlpParams(), xb = randn([7, 12], 15), y = tr.tensor([4, 3, 2, 1, 0, 0, 1], { dtype: "int32" });
        jitMatchesEager(step, p, xb, y);
        const prog = program(step, p, xb, y);
        assert.ok(prog.numKernels <= 16, prog.toString());
      });
      it("conv2d + bias + relu is one kernel", () => {
        const f = (x: T, w: T, b: T) => tr.relu(tr.conv2d(x, w, b, { padding: 1 }));
        const args = [randn([2, 3, 5, 5], 16), randn([4, 3, 3, 3], 17, 0.5), randn([4], 18)];
        jitMatchesEager(f, ...args);
        assert.equal(program(f, ...args).numKernels, 1);
      });
      it("attention (softmax(q kᵀ/√d) v) is at most 6 kernels", () => {
        const f = (q: T, k: T, v: T) => tr.attention(q, k, v, { causal: true });
        const args = [randn([2, 5, 4], 19), randn([2, 6, 4], 20), randn([2, 6, 3], 21)];
        jitMatchesEager(f, ...args);
        assert.ok(program(f, ...args).numKernels <= 6);
      });
    });

    describe("programs with operations that have no lowering", () => {
      it("a sort runs between fused kernels", () => {
        const f = (x: T) => tr.sort(tr.exp(x).mul(2), { axis: -1 }).add(1).sqrt();
        const x = randn([3, 6], 22);
        jitMatchesEager(f, x);
        const p = program(f, x);
        assert.equal(p.numOps, 1);
        assert.equal(p.numKernels, 2);
      });
      it("control flow inside jit runs as it is", () => {
        const f = (x: T) => tr.lax.cond(tr.greater(tr.sum(x), 0), (a: T) => a.mul(2), (a: T) => a.neg(), x).add(1);
        jitMatchesEager(f, tr.tensor([1, 2, -0.5]));
        jitMatchesEager(f, tr.tensor([-1, -2, 0.5]));
      });
      it("nested jit is inlined, so fusion crosses it", () => {
        const inner = tr.jit((x: T) => tr.exp(x).mul(3));
        const f = (x: T) => tr.tanh(inner(x)).add(1);
        const x = randn([4], 23);
        jitMatchesEager(f, x);
        assert.equal(program(f, x).numKernels, 1);
      });
    });

    describe("outputs and buffers", () => {
      it("outputs are fresh tensors even when they are inputs, repeats or constants", () => {
        const f = (x: T) => [x, tr.exp(x), tr.exp(x), tr.ones([2])];
        const x = tr.tensor([0.5, 1]);
        const jf = tr.jit(f);
        const outs = jf(x) as T[];
        outs.forEach((o) => o.dispose());
        // disposing the outputs freed none of the input, the constants or each other
        assert.deepEqual(values(x), [0.5, 1]);
        const again = jf(x) as T[];
        assertClose(values(again[1]!), [Math.exp(0.5), Math.exp(1)], CLOSE);
        assert.deepEqual(values(again[3]!), [1, 1]);
        again.forEach((o) => o.dispose());
      });
      it("the buffer plan reuses freed intermediates", () => {
        // every hidden activation is a matmul operand, so each is stored; a chain needs only two at a time
        const f = (x: T, w: T) => {
          let h = x;
          for (let i = 0; i < 6; i++) h = tr.tanh(h.matmul(w));
          return h.sum();
        };
        const x = randn([16, 32], 24), w = randn([32, 32], 25, 0.2);
        jitMatchesEager(f, x, w);
        const st = program(f, x, w).stats;
        const layer = 16 * 32 * 4;
        // the last layer's activation is summed in the kernel that computes it
        const p = program(f, x, w);
        assert.equal(st.intermediates, 5);
        assert.equal(st.totalIntermediateBytes, 5 * layer);
        assert.equal(p.plan.slots.length, 2);
        assert.ok(st.peakBytes <= 2 * layer, `peak ${st.peakBytes}`);
        assert.ok(st.peakBytes < st.totalIntermediateBytes);
      });
      it("memory stays flat over repeated jitted training steps", () => {
        const step = tr.jit((p: Params, x: T, y: T) => {
          const g = tr.grad(mlpLoss)(p, x, y) as Params;
          return { w1: p.w1.sub(g.w1.mul(0.1)), b1: p.b1.sub(g.b1.mul(0.1)), w2: p.w2.sub(g.w2.mul(0.1)), b2: p.b2.sub(g.b2.mul(0.1)) };
        });
        let p = mlpParams();
        const xb = randn([7, 12], 26), y = tr.tensor([0, 1, 2, 3, 4, 0, 1], { dtype: "int32" });
        const readings: number[] = [];
        for (let i = 0; i < 6; i++) {
          const next = step(p, xb, y) as Params;
          leaves(p).forEach((t) => t.dispose());
          p = next;
          readings.push(tr.memory().bytes);
        }
        assert.ok(readings.every((r) => r === readings[0]), `bytes per step: ${readings.join(", ")}`);
        assert.equal(step.cacheSize, 1);
      });
      it("an error inside a compiled program frees what it allocated", () => {
        const f = (x: T) => tr.exp(x).sum().add(tr.lax.cond(tr.greater(x.sum(), 0), (a: T) => a.sum(), (a: T) => a.sum(), x));
        const x = tr.tensor([1, 2]);
        const jf = tr.jit(f);
        jf(x).dispose();
        const before = tr.memory().bytes;
        x.dispose();
        assert.throws(() => jf(x), /after dispose/);
        assert.equal(tr.memory().bytes, before - 8);
      });
      it("zero-size arrays flow through", () => {
        const f = (x: T) => [tr.exp(x), tr.sum(x, { axis: 0 }).add(1)];
        jitMatchesEager(f, tr.zeros([0, 3]));
      });
    });

    describe("compilation", () => {
      it("a program is compiled once per traced signature and listed one line per kernel", () => {
        const f = (x: T) => tr.softmax(x.mul(2), { axis: -1 });
        const closed = tr.makeJaxpr(f)(randn([2, 3], 27));
        const p = compileJaxpr(closed);
        assert.equal(compileJaxpr(closed), p);
        const text = describeKernels(closed);
        const lines = text.split("\n");
        assert.equal(lines.length, 1 + p.numKernels);
        assert.match(lines[0]!, /primitives -> \d+ kernels/);
        assert.match(lines[1]!, /^k0: \(in0:f32\[2,3\]\) -> .*\[.*reduce_max.*\]/);
      });
    });
  });
}
