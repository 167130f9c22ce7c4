import { UndefPrimal, type AnyPrimitive, type Params } from "./core/primitive.js";
import { evalHooks } from "./core/trace.js";
import { executePrimitive } from "./core/execute.js";
import { isFloat } from "./core/dtype.js";
import { TridentError, checkFunction, checkOptions } from "./core/errors.js";
import { postorder } from "./core/graph.js";
import { keep, scope, scopeHooks, trackCreated } from "./memory.js";
import { EagerTensor, Tensor, type TapeNode } from "./tensor.js";
import { backwardPass, linearizeFlat } from "./transforms/partial.js";
import { add, convert } from "./core/prims/elementwise.js";
import { full } from "./core/prims/constants.js";
import type { Jaxpr } from "./core/jaxpr.js";

/**
 * PyTorch-style autograd. An eager op on a tensor that requires grad is linearized as it runs (the same
 * JVP rules, partial evaluation and transposition that `grad` uses); the node keeps the linear jaxpr and
 * its residuals, and `backward()` transposes the nodes in reverse order.
 */
let gradEnabled = true;

/** Run fn without recording operations for autograd: `tr.noGrad(() => p.assign(p.sub(g)))`. */
export function noGrad<T>(fn: () => T): T {
  checkFunction("noGrad", "fn", fn);
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}
export function isGradEnabled(): boolean {
  return gradEnabled;
}

class LinearNode implements TapeNode {
  private versions: number[];
  constructor(
    public inputs: EagerTensor[],
    private jaxpr: Jaxpr | null,
    private consts: Tensor[],
    private owned: Tensor[],
    private unknownOut: boolean[],
    readonly nOut: number,
  ) {
    this.versions = consts.map((c) => (c instanceof EagerTensor ? c._version : 0));
  }
  vjp(cts: (Tensor | null)[]): (Tensor | null)[] {
    if (!this.jaxpr) throw new TridentError("backward: this graph was already freed by an earlier backward(); pass { retainGraph: true } to backward twice");
    this.consts.forEach((c, i) => {
      if (c instanceof EagerTensor && c._version !== this.versions[i]) {
        throw new TridentError(`backward: a tensor ${c.aval} saved for the gradient was modified in place (assign) after it was used; compute the update after backward(), or use a copy`);
      }
    });
    const j = this.jaxpr;
    const args = [...this.consts, ...j.inBinders.slice(this.consts.length).map((v) => new UndefPrimal(v.aval))];
    const res = backwardPass(j, args, cts.filter((_, i) => this.unknownOut[i]));
    return res.slice(this.consts.length);
  }
  release(): void {
    this.jaxpr = null;
    for (const c of this.owned) c.dispose();
    this.consts = [];
    this.owned = [];
  }
}

function record(prim: AnyPrimitive, args: EagerTensor[], params: Params): Tensor[] {
  const diff = args.map((a) => a.tracked && isFloat(a.dtype));
  const diffArgs = args.filter((_, i) => diff[i]);
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const f = (...xs: Tensor[]) => {
      let k = 0;
      const full = args.map((a, i) => (diff[i] ? xs[k++]! : a));
      return evalBind(prim, full, params);
    };
    const [{ primalsOut, jaxpr, consts, tangentPvals }, created] = trackCreated(() => linearizeFlat(f, diffArgs));
    const unknownOut = tangentPvals.map((p) => p.known === null);
    // an op may hand back an operand unchanged (identity jit, a cond branch, a loop that never runs): give that
    // output its own tensor sharing the data, so the operand itself is never marked with this node
    const outs = (primalsOut as EagerTensor[]).map((o) => (args.includes(o) ? new EagerTensor(o.aval, o.ref.retain()) : o));
    // residuals made here belong to the node (freed by backward or with it); pre-existing ones stay the user's
    // an output that doubles as a residual (exp's jvp reuses exp(x)) is the user's: the node holds an alias
    const outSet = new Set<unknown>(outs);
    const nodeConsts = consts.map((c) => (outSet.has(c) ? new EagerTensor(c.aval, (c as EagerTensor).ref.retain()) : c));
    const owned = nodeConsts.filter((c, i) => created.has(c) || c !== consts[i]);
    for (const c of owned) keep(c);
    const keepSet = new Set<unknown>([...owned, ...outs]);
    for (const t of created) if (!keepSet.has(t)) t.dispose();
    if (!unknownOut.some((u) => u)) {
      for (const c of owned) c.dispose();
      return outs;
    }
    const node = new LinearNode(diffArgs, jaxpr, nodeConsts, owned, unknownOut, outs.length);
    outs.forEach((o, i) => {
      if (unknownOut[i] && isFloat(o.dtype)) {
        o._node = node;
        o._outIndex = i;
      }
    });
    return outs;
  } finally {
    gradEnabled = prev;
  }
}

import { bind } from "./core/trace.js";
const evalBind = (prim: AnyPrimitive, args: Tensor[], params: Params) => bind(prim, args, params);

evalHooks.apply = (prim, args, params) => {
  if (gradEnabled && args.some((a) => a.tracked)) return record(prim, args, params);
  return executePrimitive(prim, args, params);
};

/** loss.backward(): accumulate d(loss)/d(leaf) into `.grad` of every leaf that requires grad. */
export function backward(root: Tensor, gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
  checkOptions("backward", opts, ["retainGraph"]);
  if (!(root instanceof EagerTensor)) throw new TridentError("backward: can only be called on a concrete tensor, not inside a transformation");
  if (!root.tracked) throw new TridentError("backward: this tensor does not require grad and has no grad_fn (did you set requiresGrad on the inputs?)");
  if (!gradient && root.size !== 1) {
    throw new TridentError(`backward: grad can be implicitly created only for scalar outputs; this output has shape [${root.shape}], pass a cotangent`);
  }
  if (gradient && gradient.shape.join() !== root.shape.join()) {
    throw new TridentError(`backward: gradient has shape [${gradient.shape}] but the output has shape [${root.shape}]`);
  }
  const prev = gradEnabled;
  gradEnabled = false;
  // every cotangent made here is freed at the end except the gradients stored on leaves (kept)
  try {
    scope(() => backwardNodes(root, gradient ?? full(root.shape, 1, root.dtype), opts));
  } finally {
    gradEnabled = prev;
  }
}

function backwardNodes(root: EagerTensor, seed: Tensor, opts: { retainGraph?: boolean }): void {
  {
    if (!root._node) {
      accumulate(root, seed);
      return;
    }
    // walked backwards below: reverse topological order over nodes
    const order = postorder([root._node], (m) => m.inputs.map((i) => i._node));
    const cts = new Map<TapeNode, (Tensor | null)[]>();
    cts.set(root._node, Array.from({ length: root._node.nOut }, (_, i) => (i === root._outIndex ? seed : null)));
    for (let k = order.length - 1; k >= 0; k--) {
      const node = order[k]!;
      const outCts = cts.get(node);
      cts.delete(node);
      if (!outCts || outCts.every((c) => c === null)) continue;
      const inCts = node.vjp(outCts);
      node.inputs.forEach((inp, i) => {
        const ct = inCts[i];
        if (!ct) return;
        if (inp._node) {
          const list = cts.get(inp._node) ?? Array.from({ length: inp._node.nOut }, () => null);
          const prevCt = list[inp._outIndex];
          list[inp._outIndex] = prevCt ? add(prevCt, ct) : ct;
          cts.set(inp._node, list);
        } else if (inp.requiresGrad) {
          accumulate(inp, ct);
        }
      });
      if (!opts.retainGraph) node.release();
    }
  }
}

function accumulate(leaf: EagerTensor, ct: Tensor): void {
  const c = ct.dtype === leaf.dtype ? ct : convert(ct, leaf.dtype);
  const old = leaf.grad;
  // the first gradient is an alias: the cotangent object itself may flow on to other nodes and leaves
  leaf.grad = keep(old ? (add(old, c) as EagerTensor) : new EagerTensor(c.aval, (c as EagerTensor).ref.retain()));
  old?.dispose();
}

/** Free and clear the gradients of these tensors (PyTorch's zero_grad(set_to_none=True)). */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}

// When a scope frees graph outputs, the residuals of nodes that no kept tensor can reach are freed too
// (otherwise a forward pass without backward() would hold them until garbage collection).
scopeHooks.beforeFree = (freed, kept) => {
  const reachable = new Set<TapeNode>();
  const stack: TapeNode[] = [];
  for (const k of kept) if (k instanceof EagerTensor && k._node) stack.push(k._node);
  while (stack.length) {
    const n = stack.pop()!;
    if (reachable.has(n)) continue;
    reachable.add(n);
    for (const i of n.inputs) if (i._node && !reachable.has(i._node)) stack.push(i._node);
  }
  for (const t of freed) {
    if (t instanceof EagerTensor && t._node && !reachable.has(t._node)) t._node.release();
  }
};
