// Module mechanics: discovery, state dicts, modes, containers, functional calls under grad/jit/vmap.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import * as nn from "../../src/nn/index.js";
import { BACKENDS, withBackend, assertClose, values } from "../helpers.js";

type T = tr.Tensor;

class MLP extends nn.Module {
  fc1: nn.Linear;
  fc2: nn.Linear;
  constructor(dtype: tr.DType = "float32") {
    super();
    this.fc1 = new nn.Linear(3, 4, { dtype });
    this.fc2 = new nn.Linear(4, 2, { dtype });
  }
  forward(x: T): T {
    return this.fc2.forward(this.fc1.forward(x).tanh());
  }
}

class SmallCNN extends nn.Module {
  conv1 = new nn.Conv2d(1, 8, 3, { padding: 1 });
  bn1 = new nn.BatchNorm2d(8);
  conv2 = new nn.Conv2d(8, 16, 3, { bias: false });
  pool = new nn.AdaptiveAvgPool2d(1);
  head = new nn.Sequential(new nn.Flatten(), new nn.Linear(16, 10));
  forward(x: T): T {
    const y = this.bn1.forward(this.conv1.forward(x)).relu();
    return this.head.forward(this.pool.forward(this.conv2.forward(y)));
  }
}

const mseOf = (y: T, t: T) => y.sub(t).square().mean();

for (const backend of BACKENDS) {
  describe(`nn.Module [${backend}]`, () => {
    test("parameters, buffers and children are discovered from fields, with PyTorch names", () =>
      withBackend(backend, () => {
        class Net extends nn.Module {
          a = new nn.Linear(2, 3);
          bn = new nn.BatchNorm1d(3);
          blocks = [new nn.Linear(3, 3), new nn.Linear(3, 3, { bias: false })];
          extra = { proj: new nn.Linear(3, 1) };
          scale = nn.parameter(tr.ones([1]));
          constant = tr.ones([2]); // a plain tensor is not state
          forward(x: T): T {
            return x;
          }
        }
        const net = new Net();
        assert.deepEqual(net.namedParameters().map(([k]) => k), [
          "scale", "a.weight", "a.bias", "bn.weight", "bn.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "extra.proj.weight", "extra.proj.bias",
        ]);
        assert.deepEqual(net.namedBuffers().map(([k]) => k), ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]);
        assert.deepEqual(net.namedChildren().map(([k]) => k), ["a", "bn", "blocks.0", "blocks.1", "extra.proj"]);
        assert.equal(net.numParameters(), 1 + 6 + 3 + 3 + 3 + 12 + 9 + 3 + 1);
        assert.ok(!Object.keys(net.stateDict()).includes("constant"));
        assert.equal(net.bn.runningMean, net.stateDict()["bn.running_mean"]);
      }));

    test("stateDict round trip reproduces outputs; loaded parameters stay independent", () =>
      withBackend(backend, () => {
        tr.manualSeed(1);
        const a = new MLP();
        tr.manualSeed(2);
        const b = new MLP();
        const x = tr.tensor([[0.5, -1, 2], [1, 0, -0.5]]);
        assert.notDeepEqual(values(a.forward(x)), values(b.forward(x)));
        const res = b.loadStateDict(a.stateDict());
        assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [] });
        assert.deepEqual(values(b.forward(x)), values(a.forward(x)));
        // changing b's parameter (as an optimizer does) leaves a unchanged
        const before = values(a.fc1.weight);
        tr.noGrad(() => (b.fc1.weight as tr.EagerTensor).assign(b.fc1.weight.mul(0) as tr.EagerTensor));
        assert.deepEqual(values(a.fc1.weight), before);
        assert.ok(values(b.fc1.weight).every((v) => v === 0));
        // dtype conversion on load
        const c = new MLP("float64");
        c.loadStateDict(a.stateDict());
        assert.equal(c.fc1.weight.dtype, "float64");
        assertClose(values(c.fc1.weight), before, { rtol: 0, atol: 0 });
      }));

    test("loadStateDict: strict missing/unexpected keys, shape mismatch", () =>
      withBackend(backend, () => {
        const m = new MLP();
        const sd = { ...m.stateDict() };
        delete sd["fc2.bias"];
        sd["fc3.weight"] = tr.ones([1]);
        assert.throws(() => m.loadStateDict(sd), (e: Error) => e instanceof tr.TridentError && /missing keys: fc2\.bias/.test(e.message) && /unexpected keys: fc3\.weight/.test(e.message));
        const r = m.loadStateDict(sd, { strict: false });
        assert.deepEqual(r, { missingKeys: ["fc2.bias"], unexpectedKeys: ["fc3.weight"] });
        const bad = { ...m.stateDict(), "fc1.weight": tr.ones([3, 4]) };
        assert.throws(() => m.loadStateDict(bad), /loadStateDict: fc1\.weight has shape \[3,4\] in the state dict but \[4,3\] in the model/);
        assert.throws(() => m.loadStateDict(bad, { strict: false }), /fc1\.weight has shape/);
        // nothing was written by the failed load
        assert.notDeepEqual(values(m.fc1.weight), new Array(12).fill(1));
      }));

    test("summary() counts the parameters of a small CNN", () =>
      withBackend(backend, () => {
        const net = new SmallCNN();
        const conv1 = 8 * 1 * 3 * 3 + 8, bn1 = 8 + 8, conv2 = 16 * 8 * 3 * 3, fc = 16 * 10 + 10;
        assert.equal(net.numParameters(), conv1 + bn1 + conv2 + fc);
        const s = net.summary();
        assert.match(s, new RegExp(`Total params: ${(conv1 + bn1 + conv2 + fc).toLocaleString("en-US")}`));
        const row = (name: string) => s.split("\n").find((l) => l.startsWith(name + " "))!;
        assert.match(row("conv1"), /Conv2d\s+weight\[8x1x3x3\] bias\[8\]\s+80$/);
        assert.match(row("conv2"), /weight\[16x8x3x3\]\s+1152$/);
        assert.match(row("head.1"), /Linear\s+weight\[10x16\] bias\[10\]\s+170$/);
        net.conv2.weight.requiresGrad = false;
        assert.match(net.summary(), new RegExp(`Trainable params: ${(conv1 + bn1 + fc).toLocaleString("en-US")}`));
        // frozen parameters remain parameters and state
        assert.ok(net.parameters().includes(net.conv2.weight));
        assert.ok("conv2.weight" in net.stateDict());
        net.requiresGrad_(true);
        assert.ok(net.parameters().every((p) => p.requiresGrad));
      }));

    test("summary(inputShape) adds each layer's output shape, as the eager forward produces it", () =>
      withBackend(backend, () => {
        const net = new SmallCNN();
        const before = values(net.bn1.runningMean!);
        const s = net.summary([5, 1, 12, 12]);
        const row = (name: string) => s.split("\n").find((l) => l.startsWith(name + " "))!;
        // conv1 keeps 12x12 (padding 1), conv2 (no padding) gives 10x10, the pool 1x1, Linear 10 classes
        assert.match(row("conv1"), /Conv2d\s+\[5, 8, 12, 12\]\s+weight\[8x1x3x3\] bias\[8\]\s+80$/);
        assert.match(row("bn1"), /\[5, 8, 12, 12\]/);
        assert.match(row("conv2"), /\[5, 16, 10, 10\]/);
        assert.match(row("pool"), /\[5, 16, 1, 1\]/);
        assert.match(row("head.0"), /Flatten\s+\[5, 16\]/);
        assert.match(row("head.1"), /Linear\s+\[5, 10\]/);
        assert.match(row("(root)"), /SmallCNN\s+\[5, 10\]/);
        // the shapes agree with a real eager call, and tracing changed nothing in the model
        const y = tr.noGrad(() => net.eval().forward(tr.ones([5, 1, 12, 12])));
        assert.deepEqual(y.shape, [5, 10]);
        net.train();
        assert.deepEqual(values(net.bn1.runningMean!), before);
        assert.equal(Object.prototype.hasOwnProperty.call(net.conv1, "forward"), false);
        assert.equal(net.training, true);
        // several inputs, dtypes, and a layer the forward never calls
        class Two extends nn.Module {
          emb = new nn.Embedding(7, 4);
          fc = new nn.Linear(4, 2);
          unused = new nn.Linear(1, 1);
          forward(ids: T, scale: T): T {
            return this.fc.forward(this.emb.forward(ids).mul(scale));
          }
        }
        const t = new Two().summary([{ shape: [3, 6], dtype: "int32" }, [3, 6, 1]]);
        assert.match(t, /emb\s+Embedding\s+\[3, 6, 4\]/);
        assert.match(t, /fc\s+Linear\s+\[3, 6, 2\]/);
        assert.match(t, /unused\s+Linear\s+\(not called\)/);
        assert.throws(() => net.summary([2, -1, 3]), /summary: input 0 has shape \[2,-1,3\]/);
        assert.throws(() => net.summary([2, 3, 3, 3]), /conv/i);
      }));

    test("train()/eval() propagate to every descendant", () =>
      withBackend(backend, () => {
        const net = new SmallCNN();
        assert.ok(net.modules().every((m) => m.training));
        net.eval();
        assert.ok(net.modules().every((m) => !m.training));
        assert.equal(net.modules().length, 8);
        net.head.train();
        assert.ok(net.head.at(1).training && net.head.at(0).training && !net.conv1.training);
        net.train();
        assert.ok(net.modules().every((m) => m.training));
      }));

    test("containers name children like PyTorch", () =>
      withBackend(backend, () => {
        const seq = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 1));
        assert.deepEqual(Object.keys(seq.stateDict()), ["0.weight", "0.bias", "2.weight", "2.bias"]);
        assert.equal(seq.length, 3);
        assert.ok(seq.at(-1) instanceof nn.Linear);
        const x = tr.tensor([[1, 2]]);
        const l0 = seq.at(0) as nn.Linear, l2 = seq.at(2) as nn.Linear;
        assertClose(values(seq.forward(x)), values(l2.forward(l0.forward(x).relu())));
        const named = new nn.Sequential({ enc: new nn.Linear(2, 2), act: new nn.Tanh() });
        assert.deepEqual(Object.keys(named.stateDict()), ["enc.weight", "enc.bias"]);
        class WithList extends nn.Module {
          layers = new nn.ModuleList([new nn.Linear(2, 2), new nn.Linear(2, 2)]);
          heads = new nn.ModuleDict({ a: new nn.Linear(2, 1) });
          forward(x: T) {
            let y = x;
            for (const l of this.layers) y = l.forward(y);
            return this.heads.get("a").forward(y);
          }
        }
        const w = new WithList();
        w.layers.append(new nn.Linear(2, 2));
        assert.deepEqual(Object.keys(w.stateDict()), [
          "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias", "heads.a.weight", "heads.a.bias",
        ]);
        assert.throws(() => w.layers.forward(), /ModuleList: has no forward/);
        assert.throws(() => w.heads.get("b"), /no module named "b"/);
        assert.throws(() => new nn.Sequential(3 as unknown as nn.Module), /argument 0 must be a Module/);
      }));

    test("clone() makes independent deep copies", () =>
      withBackend(backend, () => {
        const a = new nn.Sequential(new nn.Linear(2, 2), new nn.BatchNorm1d(2));
        const b = a.clone();
        assert.notEqual(b.at(0), a.at(0));
        assert.deepEqual(values((b.at(0) as nn.Linear).weight), values((a.at(0) as nn.Linear).weight));
        tr.noGrad(() => ((b.at(0) as nn.Linear).weight as tr.EagerTensor).assign(tr.zeros([2, 2]) as tr.EagerTensor));
        assert.ok(values((a.at(0) as nn.Linear).weight).some((v) => v !== 0));
        assert.deepEqual(Object.keys(b.stateDict()), Object.keys(a.stateDict()));
        assert.ok(b.parameters().every((p, i) => p !== a.parameters()[i] && p.requiresGrad));
      }));

    test("astype converts parameters and buffers; to() moves them between backends", () =>
      withBackend(backend, async () => {
        const m = new nn.Sequential(new nn.Linear(2, 2), new nn.BatchNorm1d(2));
        const w = values((m.at(0) as nn.Linear).weight);
        m.astype("float64");
        assert.ok(m.parameters().every((p) => p.dtype === "float64" && p.requiresGrad));
        assert.equal((m.at(1) as nn.BatchNorm1d).runningVar!.dtype, "float64");
        assert.equal((m.at(1) as nn.BatchNorm1d).numBatchesTracked!.dtype, "int32");
        assertClose(values((m.at(0) as nn.Linear).weight), w, { rtol: 0, atol: 0 });
        const x = tr.tensor([[1, 2], [3, -1]], { dtype: "float64" });
        const y = values(m.eval().forward(x));
        for (const other of BACKENDS) {
          await m.to(other);
          assert.ok([...m.parameters(), ...m.buffers()].every((t) => (t as tr.EagerTensor).backend.name === other));
          assert.ok(m.parameters().every((p) => p.requiresGrad));
          const y2 = await withBackend(other, () => values(m.forward(tr.tensor([[1, 2], [3, -1]], { dtype: "float64" }))));
          assertClose(y2, y, { rtol: 1e-12 });
        }
        await m.to(backend);
        assert.equal(m.parameters().length, 4);
      }));

    test("nn.functionalCall under jit(grad) equals eager loss.backward() gradients", () =>
      withBackend(backend, () => {
        tr.manualSeed(3);
        const net = new MLP();
        const x = tr.tensor([[0.5, -1, 2], [1, 0, -0.5], [0.1, 0.2, 0.3]]);
        const y = tr.tensor([[1, 0], [0, 1], [0.5, 0.5]]);
        const loss = mseOf(net.forward(x), y);
        loss.backward();
        const eager = Object.fromEntries(net.namedParameters().map(([k, p]) => [k, values(p.grad!)]));
        const params = net.stateDict();
        const lossFn = (p: Record<string, T>, xb: T, yb: T) => mseOf(nn.functionalCall(net, p, xb), yb);
        const g1 = tr.grad(lossFn)(params, x, y) as Record<string, T>;
        const jitted = tr.jit((p: Record<string, T>, xb: T, yb: T) => tr.grad(lossFn)(p, xb, yb));
        const g2 = jitted(params, x, y) as Record<string, T>;
        const g3 = jitted(params, x, y) as Record<string, T>;
        assert.equal(jitted.cacheSize, 1);
        for (const k of Object.keys(eager)) {
          assertClose(values(g1[k]!), eager[k]!, { msg: `grad ${k}` });
          assertClose(values(g2[k]!), eager[k]!, { msg: `jit grad ${k}` });
          assertClose(values(g3[k]!), eager[k]!, { msg: `jit grad (cached) ${k}` });
        }
        // the module's own fields are concrete again: no tracer leaked
        assert.ok(net.parameters().every((p) => p instanceof tr.EagerTensor));
        net.zeroGrad();
        assert.ok(net.parameters().every((p) => p.grad === null));
      }));

    test("per-example gradients: vmap(grad) through functionalCall equals one grad per example", () =>
      withBackend(backend, () => {
        tr.manualSeed(4);
        const net = new MLP("float64");
        const xs = tr.randn([4, 3], { dtype: "float64" });
        const ys = tr.randn([4, 2], { dtype: "float64" });
        const params = net.stateDict();
        const one = (p: Record<string, T>, x: T, y: T) => mseOf(nn.functionalCall(net, p, x.reshape([1, 3])), y.reshape([1, 2]));
        const per = tr.vmap(tr.grad(one), { inAxes: [null, 0, 0] })(params, xs, ys) as Record<string, T>;
        for (let i = 0; i < 4; i++) {
          const gi = tr.grad(one)(params, xs.slice([i]), ys.slice([i])) as Record<string, T>;
          for (const k of Object.keys(params)) {
            assert.deepEqual(per[k]!.shape, [4, ...params[k]!.shape]);
            assertClose(values(per[k]!.slice([i])), values(gi[k]!), { rtol: 1e-10, atol: 1e-12, msg: `example ${i} ${k}` });
          }
        }
      }));

    test("functionalCall errors name the parameter", () =>
      withBackend(backend, () => {
        const net = new MLP();
        assert.throws(() => nn.functionalCall(net, { "fc9.weight": tr.ones([1]) }, tr.ones([1, 3])), /functionalCall: the module has no parameter or buffer named "fc9.weight"/);
        assert.throws(() => nn.functionalCall(net, { "fc1.weight": tr.ones([3, 3]) }, tr.ones([1, 3])), /"fc1.weight" has shape \[4,3\] in the module but \[3,3\] was given/);
      }));
  });

  describe(`buffers under transformations [${backend}]`, () => {
    class BNNet extends nn.Module {
      fc = new nn.Linear(3, 4, { dtype: "float64" });
      bn = new nn.BatchNorm1d(4, { dtype: "float64" });
      forward(x: T): T {
        return this.bn.forward(this.fc.forward(x)).tanh().sum({ axis: 1 });
      }
    }

    test("functionalCallWithState returns updated buffers and leaves the module untouched", () =>
      withBackend(backend, () => {
        tr.manualSeed(5);
        const net = new BNNet();
        const x = tr.randn([6, 3], { dtype: "float64" });
        const params = Object.fromEntries(net.namedParameters());
        const buffers = Object.fromEntries(net.namedBuffers());
        const rm0 = values(net.bn.runningMean!);
        const [out, nb] = nn.functionalCallWithState(net, params, buffers, x);
        assert.deepEqual(Object.keys(nb).sort(), Object.keys(buffers).sort());
        assert.deepEqual(values(net.bn.runningMean!), rm0, "module buffers unchanged");
        assert.equal(net.bn.runningMean, buffers["bn.running_mean"]);
        // the eager, in-place path computes the same statistics
        const eagerOut = net.forward(x);
        assertClose(values(out), values(eagerOut), { rtol: 1e-12 });
        for (const k of Object.keys(nb)) assertClose(values(nb[k]!), values(buffers[k]!), { rtol: 1e-12, msg: k });
        assert.equal(net.bn.numBatchesTracked!.item(), 1);
        // under jit: buffers in, buffers out, no tracer stored on the module
        const step = tr.jit((p: Record<string, T>, b: Record<string, T>, xb: T) => nn.functionalCallWithState(net, p, b, xb));
        const [o2, b2] = step(params, Object.fromEntries(net.namedBuffers()), x) as [T, Record<string, T>];
        net.forward(x);
        assertClose(values(o2), values(eagerOut), { rtol: 1e-12 });
        for (const k of Object.keys(b2)) assertClose(values(b2[k]!), values(net.stateDict()[k]!), { rtol: 1e-12, msg: `jit ${k}` });
        assert.ok(net.buffers().every((b) => b instanceof tr.EagerTensor));
        assert.ok(net.parameters().every((b) => b instanceof tr.EagerTensor));
      }));

    test("gradients through a training-mode BatchNorm: jit(grad) with state equals loss.backward()", () =>
      withBackend(backend, () => {
        tr.manualSeed(6);
        const net = new BNNet();
        const x = tr.randn([5, 3], { dtype: "float64" });
        const params = Object.fromEntries(net.namedParameters());
        const buffers = Object.fromEntries(net.namedBuffers());
        const lossFn = (p: Record<string, T>, b: Record<string, T>, xb: T): [T, Record<string, T>] => {
          const [out, nb] = nn.functionalCallWithState(net, p, b, xb);
          return [out.square().mean(), nb];
        };
        const [[, nb], g] = tr.jit((p: Record<string, T>, b: Record<string, T>, xb: T) => tr.valueAndGrad(lossFn, { hasAux: true })(p, b, xb))(params, buffers, x) as [[T, Record<string, T>], Record<string, T>];
        net.forward(x).square().mean().backward();
        for (const [k, p] of net.namedParameters()) assertClose(values(g[k]!), values(p.grad!), { rtol: 1e-10, atol: 1e-12, msg: k });
        assertClose(values(nb["bn.running_var"]!), values(net.bn.runningVar!), { rtol: 1e-12 });
      }));

    test("an in-place buffer update inside a transformation without state is refused", () =>
      withBackend(backend, () => {
        const net = new BNNet();
        const x = tr.ones([4, 3], "float64").mul(tr.arange(4).reshape([4, 1]));
        const params = Object.fromEntries(net.namedParameters());
        const f = (p: Record<string, T>) => nn.functionalCall(net, p, x).sum();
        assert.throws(() => tr.grad(f)(params), (e: Error) => e instanceof tr.TridentError && /BatchNorm1d: cannot update buffer "running_mean" in place inside a transformation/.test(e.message) && /functionalCallWithState/.test(e.message));
        assert.ok(net.buffers().every((b) => b instanceof tr.EagerTensor));
        assert.equal(net.bn.numBatchesTracked!.item(), 0);
        net.eval();
        const g = tr.grad(f)(params) as Record<string, T>;
        assert.deepEqual(g["fc.weight"]!.shape, [4, 3]);
      }));

    test("eager BatchNorm updates do not grow memory", () =>
      withBackend(backend, () => {
        const bn = new nn.BatchNorm2d(3);
        const x = tr.randn([2, 3, 2, 2]);
        // inference-style calls, and training steps whose backward releases the graph
        const runs = [
          () => tr.scope(() => tr.noGrad(() => void bn.forward(x))),
          () => {
            tr.scope(() => bn.forward(x).square().sum().backward());
            bn.zeroGrad();
          },
        ];
        for (const run of runs) {
          run();
          const before = tr.memory();
          for (let i = 0; i < 5; i++) run();
          const after = tr.memory();
          assert.equal(after.numTensors, before.numTensors);
          assert.equal(after.bytes, before.bytes);
        }
        assert.equal(bn.numBatchesTracked!.item(), 12);
      }));

    test("Dropout: key, withRng (fresh masks under jit), refused without a key inside jit", () =>
      withBackend(backend, () => {
        const d = new nn.Dropout(0.5);
        const x = tr.ones([64]);
        const f = tr.jit((k: T, xb: T) => nn.withRng(k, () => d.forward(xb)));
        const a = values(f(tr.random.key(1), x) as T), b = values(f(tr.random.key(2), x) as T);
        assert.notDeepEqual(a, b);
        assert.deepEqual(values(f(tr.random.key(1), x) as T), a);
        assert.deepEqual(values(d.forward(x, { key: tr.random.key(1) })), values(d.forward(x, { key: tr.random.key(1) })));
        assert.throws(() => tr.jit((xb: T) => d.forward(xb))(x), /dropout: needs a random key inside jit/);
        d.eval();
        assert.deepEqual(values(tr.jit((xb: T) => d.forward(xb))(x) as T), values(x));
      }));
  });
}
