// The PyTorch-named aliases and in-place methods against PyTorch 1.13 (test/fixtures/torch_aliases.json):
// values, gradients of every output piece, jit equivalence, and the errors PyTorch users meet.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";

interface T { dtype: tr.DType; shape: number[]; data: number[] }
interface Case { op: string; x: T; args: unknown[]; extra: T[]; outs: T[]; cotangents: T[]; grads: T[] }
interface Chain { x: T; steps: [string, unknown][]; states: T[] }
const FX = JSON.parse(readFileSync(new URL("../fixtures/torch_aliases.json", import.meta.url), "utf8")) as { cases: Case[]; inplace: Chain[] };

const ten = (t: T, dtype: tr.DType = t.dtype) => tr.tensor(t.data, { dtype, shape: t.shape });
const list = (r: tr.Tensor | tr.Tensor[]) => (Array.isArray(r) ? r : [r]);

/** The fixture's op as a Trident call, through the function where PyTorch has one and the method otherwise. */
function call(c: Case, x: tr.Tensor, extra: tr.Tensor[], viaMethod: boolean): tr.Tensor | tr.Tensor[] {
  const a = c.args as never[];
  switch (c.op) {
    case "chunk": return viaMethod ? x.chunk(a[0], a[1]) : tr.chunk(x, a[0], a[1]);
    case "split": return x.split(a[0], a[1]);
    case "tensorSplit": return viaMethod ? x.tensorSplit(a[0], a[1]) : tr.tensorSplit(x, a[0], a[1]);
    case "unbind": return viaMethod ? x.unbind(a[0]) : tr.unbind(x, a[0]);
    case "narrow": return viaMethod ? x.narrow(a[0], a[1], a[2]) : tr.narrow(x, a[0], a[1], a[2]);
    case "t": return viaMethod ? x.t() : tr.t(x);
    case "maskedFill": {
      const m = tr.tensor(a[0] as boolean[], "bool");
      return viaMethod ? x.maskedFill(m, a[1]) : tr.maskedFill(x, m, a[1]);
    }
    case "addmm": return tr.addmm(x, extra[0]!, extra[1]!, a[0]);
    case "repeatInterleave": return viaMethod ? x.repeatInterleave(a[0], a[1]) : tr.repeatInterleave(x, a[0], a[1]);
    case "expand": return x.expand(a[0]);
    case "repeat": return x.repeat(a[0]);
    case "clone": return viaMethod ? x.clone() : tr.clone(x);
  }
  throw new Error(`unknown op ${c.op}`);
}

for (const backend of BACKENDS) {
  describe(`PyTorch aliases [${backend}]`, () => {
    test("values and gradients match PyTorch (functions and methods, float32 and float64)", () =>
      withBackend(backend, () => {
        for (const c of FX.cases) {
          for (const dtype of ["float64", "float32"] as const) {
            for (const viaMethod of [false, true]) {
              const tol = dtype === "float32" ? { rtol: 1e-5, atol: 1e-5 } : { rtol: 1e-12, atol: 1e-12 };
              const x = ten(c.x, dtype), extra = c.extra.map((e) => ten(e, dtype));
              const outs = list(call(c, x, extra, viaMethod));
              const msg = `${c.op}(${JSON.stringify(c.args)}) ${dtype}`;
              assert.equal(outs.length, c.outs.length, `${msg}: number of pieces`);
              outs.forEach((o, i) => {
                assert.deepEqual(o.shape, c.outs[i]!.shape, `${msg} piece ${i} shape`);
                assertClose(values(o), c.outs[i]!.data, { ...tol, msg: `${msg} piece ${i}` });
              });
              const loss = (...xs: tr.Tensor[]) =>
                list(call(c, xs[0]!, xs.slice(1), viaMethod)).reduce((s, o, i) => tr.add(s, tr.sum(tr.mul(o, ten(c.cotangents[i]!, dtype)))), tr.tensor(0, dtype));
              const grads = tr.grad(loss, { argnums: [...Array(1 + extra.length).keys()] })(x, ...extra) as tr.Tensor[];
              grads.forEach((g, i) => assertClose(values(g), c.grads[i]!.data, { ...tol, msg: `${msg} grad ${i}` }));
              const jitted = tr.jit((...xs: tr.Tensor[]) => list(call(c, xs[0]!, xs.slice(1), viaMethod)))(x, ...extra);
              jitted.forEach((o, i) => assertClose(values(o), c.outs[i]!.data, { ...tol, msg: `${msg} jit piece ${i}` }));
            }
          }
        }
      }));

    test("in-place chains match PyTorch, step by step, and bump the version each time", () =>
      withBackend(backend, () => {
        for (const ch of FX.inplace) {
          const x = ten(ch.x) as tr.EagerTensor;
          ch.steps.forEach(([name, args], i) => {
            const v0 = x._version;
            const a = args as never[];
            const arg = (v: unknown) => (Array.isArray(v) ? tr.tensor(v as number[], x.dtype === "int32" && name !== "copy_" ? "int32" : "float64") : v);
            let r: tr.Tensor;
            if (name === "clamp_") r = x.clamp_(args as { min: number; max: number });
            else if (name === "add_" || name === "sub_") r = x[name](arg(a[0]) as tr.TensorLike, { alpha: a[1] });
            else if (name === "maskedFill_") r = x.maskedFill_(tr.tensor(a[0] as boolean[], "bool"), a[1]);
            else r = (x as unknown as Record<string, (...v: unknown[]) => tr.Tensor>)[name]!(...a.map(arg));
            assert.equal(r, x, `${name} returns the tensor itself`);
            assert.equal(x.dtype, ch.x.dtype, `${name} keeps the dtype`);
            assert.deepEqual(x.shape, ch.states[i]!.shape);
            assertClose(values(x), ch.states[i]!.data, { rtol: 1e-12, atol: 1e-12, msg: `step ${i} ${name}(${JSON.stringify(args)})` });
            assert.equal(x._version, v0 + 1, `${name} bumps the version`);
          });
        }
      }));

    test("a clone is independent: writing into one leaves the other", () =>
      withBackend(backend, () => {
        const x = tr.tensor([1, 2, 3]);
        const y = x.clone();
        y.add_(10);
        assert.deepEqual(values(x), [1, 2, 3]);
        assert.deepEqual(values(y), [11, 12, 13]);
        const d = x.detach();
        d.zero_();
        assert.deepEqual(values(x), [1, 2, 3], "detach shares values, but a write replaces only the written tensor's storage");
      }));

    test("random fills: uniform_ / normal_ follow the key and keep shape and dtype", () =>
      withBackend(backend, () => {
        const key = tr.random.key(3);
        const a = tr.zeros([2000]).uniform_(-2, 3, { key });
        assert.deepEqual(values(a), values(tr.random.uniform(key, [2000], { minval: -2, maxval: 3 })));
        assert.ok(Math.min(...values(a)) >= -2 && Math.max(...values(a)) < 3);
        const n = tr.zeros([4000], "float64").normal_(1, 2);
        assert.equal(n.dtype, "float64");
        const m = tr.mean(n).item(), s = tr.std(n).item();
        assert.ok(Math.abs(m - 1) < 0.15 && Math.abs(s - 2) < 0.15, `mean ${m} std ${s}`);
      }));

    test("autograd rules: leaves need noGrad, graph tensors are refused, saved values are checked", () =>
      withBackend(backend, () => {
        const w = tr.tensor([1, 2, 3]).requiresGrad_();
        assert.throws(() => w.add_(1), /add_: a leaf tensor that requires grad cannot be modified in place; wrap the update in tr.noGrad/);
        const y = w.mul(2);
        assert.throws(() => y.relu_(), /relu_: the tensor f32\[3\] is part of an autograd graph/);
        const z = tr.zeros([3]);
        assert.throws(() => z.add_(w), /add_: .*depends on one/);
        // an optimizer-style update under noGrad, after the tensor was saved for backward: backward refuses
        const loss = tr.sum(tr.mul(w, w));
        tr.noGrad(() => w.sub_(tr.tensor([0.1, 0.1, 0.1]), { alpha: 1 }));
        assert.deepEqual(values(w).map((v) => +v.toFixed(4)), [0.9, 1.9, 2.9]);
        assert.throws(() => loss.backward(), /modified in place/);
        // after backward, the update is what SGD does
        const w2 = tr.tensor([1, 2]).requiresGrad_();
        tr.sum(tr.mul(w2, w2)).backward();
        tr.noGrad(() => w2.sub_(w2.grad!, { alpha: 0.5 }));
        assert.deepEqual(values(w2), [0, 0]);
      }));

    test("errors name the op, the argument and the shapes or dtypes", () =>
      withBackend(backend, () => {
        const x = tr.zeros([2, 3]);
        assert.throws(() => x.add_(tr.zeros([4, 2, 3])), /add_: the result has shape \[4,2,3\] but the tensor written in place has \[2,3\]/);
        assert.throws(() => tr.zeros([2], "int32").add_(1.5), /add_: the result type float32 cannot be cast to the tensor's dtype int32 in place/);
        assert.throws(() => tr.zeros([2], "int32").uniform_(), /uniform_: needs a floating-point tensor, got int32/);
        assert.throws(() => x.fill_(tr.zeros([2])), /fill_: value must be a number or a 0-d tensor, got shape \[2\]/);
        assert.throws(() => tr.jit((a: tr.Tensor) => a.mul_(2))(x), /mul_: writes in place and needs a concrete tensor, not a traced value .*x\.mul\(/);
        assert.throws(() => tr.chunk(x, 0), /chunk: chunks must be a positive integer, got 0/);
        assert.throws(() => x.split([1, 1], 1), /split: split sizes \[1,1\] must be non-negative integers summing to axis 1's size 3 \(sum 2\)/);
        assert.throws(() => tr.narrow(x, 1, 2, 2), /narrow: start 2 \+ length 2 exceeds axis 1 of size 3/);
        assert.throws(() => tr.t(tr.zeros([2, 2, 2])), /t: expects a tensor with at most 2 axes, got shape \[2,2,2\]/);
        assert.throws(() => tr.maskedFill(x, tr.tensor([1, 0, 1]), 0), /maskedFill: mask must be bool, got float32/);
        assert.throws(() => tr.maskedFill(x, tr.zeros([3, 3], "bool"), 0), /maskedFill: .*\[3,3\]/);
        assert.throws(() => tr.addmm(x, tr.zeros([3]), tr.zeros([3, 2])), /addmm: m1 and m2 must be matrices, got shapes \[3\] and \[3,2\]/);
        assert.throws(() => tr.repeatInterleave(x, [1, 2], 1), /repeatInterleave: repeats has 2 counts but axis 1 has size 3/);
        assert.throws(() => tr.jit((a: tr.Tensor, r: tr.Tensor) => tr.repeatInterleave(a, r, 0))(x, tr.tensor([1, 1], "int32")), /repeatInterleave: per-element repeats decide the output's size/);
        assert.throws(() => x.expand(3), /expand: the number of sizes \(1\) must be at least the number of axes \(2\)/);
        assert.throws(() => x.expand(-1, 2, 3), /expand: -1 is not allowed for the new leading axis 0/);
        assert.throws(() => x.repeat(2), /repeat: the number of repeats \(1\) must be at least the number of axes \(2\)/);
      }));
  });
}
