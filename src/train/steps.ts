/**
 * The two training steps of fit. `JitStep` traces one step per batch shape: the module as a pure
 * function of its parameters (`functionalCallWithState`, so updated buffers come back as outputs), its
 * vjp, the functional form of the stateful optimizer with each group's learning rate as a tensor input
 * (schedules never re-trace), and the metrics' batch statistics. Parameters are assigned back after every
 * step (a storage swap, no copy); the optimizer's state is a pytree during an epoch and is written back to
 * the stateful optimizer at its end. `EagerStep` is the PyTorch loop. Both free every intermediate.
 */
import { isFloat, type DType } from "../core/dtype.js";
import { ConcretizationError, TridentError, fail, fmtShape } from "../core/errors.js";
import { treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { full } from "../core/prims/constants.js";
import { keep, scope } from "../memory.js";
import { functionalCallWithState, type Module } from "../nn/module.js";
import { withRng } from "../nn/rng.js";
import { astype, mul } from "../ops/core.js";
import { toTensor } from "../ops/convert.js";
import { zerosLike } from "../ops/creation.js";
import * as F from "../optim/functional.js";
import { Adagrad } from "../optim/adagrad.js";
import { Adam, AdamW } from "../optim/adam.js";
import type { GroupOptions, Optimizer, OptimizerStateDict } from "../optim/optimizer.js";
import { RMSprop } from "../optim/rmsprop.js";
import { SGD } from "../optim/sgd.js";
import { foldIn, type Key } from "../random/index.js";
import { noGrad } from "../tape.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { jit as jitFn, type Jitted } from "../transforms/api.js";
import { vjpFlat } from "../transforms/partial.js";
import { leadingDim } from "./data.js";
import { Metric } from "./metrics.js";

/** The loss value, checked to be a floating-point scalar. */
export function checkLoss(l: unknown): Tensor {
  if (!(l instanceof Tensor) || l.ndim !== 0 || !isFloat(l.dtype)) {
    fail("fit", `the loss must return a floating-point scalar, got ${l instanceof Tensor ? `${l.dtype} of shape ${fmtShape(l.shape)}` : typeof l}`);
  }
  return l;
}

/** model.forward(x) for any module (forward's parameters are typed per subclass). */
export function forward(model: Module, x: unknown): unknown {
  return (model.forward as (x: unknown) => unknown).call(model, x);
}

/** Rethrow a tracing failure with the way out (jit: false); other errors unchanged. */
export function jitError(op: string, e: unknown): never {
  if (e instanceof ConcretizationError) throw new TridentError(`${op}: the model or loss could not be traced for jit (${e.message}); pass { jit: false } to run eagerly`);
  throw e;
}

/** Modules' training flags, to restore after evaluation. */
export function modes(model: Module): () => void {
  const saved = model.modules().map((m) => [m, m.training] as const);
  return () => {
    for (const [m, t] of saved) m.training = t;
  };
}

/** The running loss: the sum of batch losses weighted by batch size, over the samples seen. */
export class LossMean extends Metric {
  batchStats(loss: Tensor, n: Tensor): Tensor[] {
    return [mul(loss, astype(n, loss.dtype)), n];
  }
  compute([s, n]: ArrayLike<number>[]): number {
    return n![0] === 0 ? 0 : s![0]! / n![0]!;
  }
}

type Kind = "sgd" | "adam" | "adamw" | "rmsprop" | "adagrad";
const KINDS = new Map<unknown, Kind>([[SGD, "sgd"], [Adam, "adam"], [AdamW, "adamw"], [RMSprop, "rmsprop"], [Adagrad, "adagrad"]]);

/** A group's hyperparameters other than the learning rate (what the trace depends on). */
function hyperOf(g: object): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(g)) if (k !== "params" && k !== "lr" && k !== "initialLr") h[k] = v;
  return h;
}

function functionalFor(kind: Kind, hyper: Record<string, unknown>, lr: F.LearningRate): F.FunctionalOptimizer<Record<string, unknown>> {
  const o = { ...hyper, lr } as never;
  const make = { sgd: F.sgd, adam: F.adam, adamw: F.adamw, rmsprop: F.rmsprop, adagrad: F.adagrad }[kind] as unknown as (o: never) => F.FunctionalOptimizer<Record<string, unknown>>;
  return make(o);
}

/** Why the jit path cannot take this optimizer (the eager loop is used instead), or null. */
export function jitObstacle(opt: Optimizer<GroupOptions>): string | null {
  if (!KINDS.has(opt.constructor)) return `${opt.constructor.name} has no functional form`;
  for (const g of opt.paramGroups) {
    const steps = new Set(g.params.filter((p) => p.requiresGrad).map((p) => opt.getState(p)?.step ?? 0));
    if (steps.size > 1) return "the parameters of a group have taken different numbers of steps";
  }
  return null;
}

export interface StepContext {
  model: Module;
  optimizer: Optimizer<GroupOptions>;
  loss: (p: unknown, y: unknown) => Tensor;
  metrics: Metric[];
  lossMean: Metric;
  baseKey: Key;
}

export interface TrainStep {
  beginEpoch(): void;
  run(x: unknown, y: unknown, step: number): void;
  /** Write the optimizer's state back to the stateful optimizer (and free the epoch's copy). */
  endEpoch(): void;
}

/** The PyTorch loop: zeroGrad, forward, backward, step, all inside a scope. */
export class EagerStep implements TrainStep {
  constructor(private c: StepContext) {}
  beginEpoch(): void {}
  endEpoch(): void {}
  run(x: unknown, y: unknown, step: number): void {
    const { model, optimizer, loss, metrics, lossMean, baseKey } = this.c;
    const n = leadingDim("fit", x);
    scope(() => {
      optimizer.zeroGrad();
      const pred = withRng(foldIn(baseKey, step), () => forward(model, x));
      const l = checkLoss(loss(pred, y));
      l.backward();
      optimizer.step();
      noGrad(() => {
        lossMean.accumulate(lossMean.batchStats(l, toTensor(n, "int32")));
        for (const m of metrics) m.accumulate(m.batchStats(pred as Tensor, y as Tensor));
      });
    });
  }
}

interface Group {
  kind: Kind;
  hyper: Record<string, unknown>;
  params: EagerTensor[];
  names: string[];
  /** Global indices of the params in the optimizer's state dict. */
  indices: number[];
  lr: EagerTensor | null;
  lrValue: number;
  steps: number;
}

type StepFn = (train: Tensor[][], frozen: Record<string, Tensor>, buffers: Record<string, Tensor>, states: unknown[], lrs: Tensor[], key: Tensor, step: Tensor, x: unknown, y: unknown) => unknown;

/** One traced step over the module's parameters, optimizer state and buffers as pytrees. */
export class JitStep implements TrainStep {
  private groups: Group[] = [];
  private frozen: Record<string, EagerTensor> = {};
  private buffers: [string, EagerTensor][] = [];
  private states: Record<string, unknown>[] | null = null;
  private fn: Jitted<StepFn> | null = null;
  private planKey = "";

  constructor(private c: StepContext) {}

  /** (Re)build the plan when the trainable set or non-lr hyperparameters change. */
  private plan(): void {
    const opt = this.c.optimizer;
    const trainableKey = opt.paramGroups.map((g) => g.params.map((p) => (p.requiresGrad ? 1 : 0)).join("")).join("|");
    const key = JSON.stringify([opt.paramGroups.map(hyperOf), trainableKey]);
    if (key === this.planKey && this.fn) return;
    // the state's layout may change with the hyperparameters: hand it back and re-import it
    const hadState = this.states !== null;
    if (hadState) this.endEpoch();
    this.build(key);
    if (hadState) this.importState();
  }

  private build(key: string): void {
    const opt = this.c.optimizer;
    const kind = KINDS.get(opt.constructor)!;
    const named = this.c.model.namedParameters();
    const nameOf = new Map<Tensor, string>(named.map(([n, t]) => [t, n]));
    const trained = new Set<Tensor>();
    let index = 0;
    const prevLr = this.groups;
    this.groups = opt.paramGroups.map((g, gi) => {
      const grp: Group = { kind, hyper: hyperOf(g), params: [], names: [], indices: [], lr: prevLr[gi]?.lr ?? null, lrValue: prevLr[gi]?.lrValue ?? NaN, steps: 0 };
      for (const p of g.params) {
        const name = nameOf.get(p);
        if (name !== undefined && p.requiresGrad && !trained.has(p)) {
          grp.params.push(p);
          grp.names.push(name);
          grp.indices.push(index);
          trained.add(p);
        }
        index++;
      }
      return grp;
    });
    for (const g of prevLr.slice(this.groups.length)) g.lr?.dispose();
    if (trained.size === 0) fail("fit", "none of the optimizer's parameters belongs to the model and requires grad");
    this.frozen = {};
    for (const [n, t] of named) if (!trained.has(t)) this.frozen[n] = t as EagerTensor;
    this.buffers = this.c.model.namedBuffers() as [string, EagerTensor][];
    this.fn = jitFn(this.body());
    this.planKey = key;
  }

  private body(): StepFn {
    const { model, loss, metrics } = this.c;
    const groups = this.groups.map((g) => ({ kind: g.kind, hyper: g.hyper, names: g.names }));
    const names = groups.flatMap((g) => g.names);
    return (train, frozen, buffers, states, lrs, key, step, x, y) => {
      const flat = train.flat();
      let predDef: TreeDef | null = null;
      let nPred = 0;
      let bufKeys: string[] = [];
      const fwd = (...leaves: Tensor[]): Tensor[] => {
        const p: Record<string, Tensor> = { ...frozen };
        names.forEach((n, i) => (p[n] = leaves[i]!));
        const [pred, nb] = withRng(foldIn(key, step), () => functionalCallWithState(model as Module & { forward(...a: never[]): unknown }, p, buffers, x));
        const l = checkLoss(loss(pred, y));
        const [pl, pd] = treeFlatten(pred);
        predDef = pd;
        nPred = pl.length;
        bufKeys = Object.keys(nb);
        return [l, ...(pl as Tensor[]), ...bufKeys.map((k) => nb[k]!)];
      };
      const { primalsOut, fVjp } = vjpFlat(fwd, flat);
      const l = primalsOut[0]!;
      const grads = fVjp(primalsOut.map((_, i) => (i === 0 ? full([], 1, l.dtype) : null))).map((g, i) => g ?? zerosLike(flat[i]!));
      let off = 0;
      const newTrain: unknown[] = [];
      const newStates: unknown[] = [];
      groups.forEach((g, gi) => {
        const k = train[gi]!.length;
        const fo = functionalFor(g.kind, g.hyper, () => lrs[gi]!);
        const [np, ns] = fo.update(grads.slice(off, off + k), states[gi] as Record<string, unknown>, train[gi]!);
        off += k;
        newTrain.push(np);
        newStates.push(ns);
      });
      const pred = treeUnflatten(predDef!, primalsOut.slice(1, 1 + nPred));
      const bufVals = primalsOut.slice(1 + nPred);
      const nT = toTensor(leadingDim("fit", x), "int32");
      const lossStats = [mul(l, astype(nT, l.dtype)), nT];
      const stats = metrics.map((m) => m.batchStats(pred as Tensor, y as Tensor));
      return [newTrain, newStates, Object.fromEntries(bufKeys.map((k, i) => [k, bufVals[i]!])), lossStats, stats];
    };
  }

  beginEpoch(): void {
    this.plan();
    if (!this.states) this.importState();
  }

  /** The functional optimizer state, continuing from the stateful optimizer's (sharing storage). */
  private importState(): void {
    const opt = this.c.optimizer;
    this.states = this.groups.map((g) => {
      const steps = g.params.map((p) => opt.getState(p)?.step ?? 0);
      g.steps = steps[0] ?? 0;
      const fo = functionalFor(g.kind, g.hyper, 0);
      const st = scope(() => fo.init(g.params)) as Record<string, unknown>;
      (st["step"] as Tensor).dispose();
      st["step"] = toTensor(g.steps, "int32");
      // continue from the stateful optimizer's buffers where it has them (views of the same storage)
      for (const [field, v] of Object.entries(st)) {
        if (!Array.isArray(v)) continue;
        v.forEach((zero: Tensor, i: number) => {
          const b = opt.getState(g.params[i]!)?.buffers[field];
          if (b && b.shape.join() === zero.shape.join()) {
            zero.dispose();
            v[i] = b.dtype === zero.dtype ? new EagerTensor(b.aval, b.ref.retain()) : noGrad(() => astype(b, zero.dtype));
          }
        });
      }
      for (const l of treeFlatten(st)[0]) keep(l as EagerTensor);
      return st;
    });
  }

  private lrTensor(g: Group, value: number): Tensor {
    if (g.lr === null || g.lrValue !== value) {
      g.lr?.dispose();
      g.lr = keep(toTensor(value, (g.params[0]?.dtype ?? "float32") as DType) as EagerTensor);
      g.lrValue = value;
    }
    return g.lr;
  }

  run(x: unknown, y: unknown, step: number): void {
    this.beginEpoch();
    const { optimizer, metrics, lossMean, baseKey } = this.c;
    const old = this.states!;
    scope(() => {
      const lrs = this.groups.map((g, gi) => this.lrTensor(g, optimizer.paramGroups[gi]!.lr));
      let out: [Tensor[][], Record<string, unknown>[], Record<string, Tensor>, Tensor[], Tensor[][]];
      try {
        // the parameters require grad: without noGrad the eager tape would record the call and hold its residuals
        const args = [this.groups.map((g) => g.params), this.frozen, Object.fromEntries(this.buffers), old, lrs, baseKey, toTensor(step, "int32"), x, y] as const;
        out = noGrad(() => this.fn!(...args)) as typeof out;
      } catch (e) {
        jitError("fit", e);
      }
      const [newTrain, newStates, newBuf, lossStats, stats] = out;
      this.groups.forEach((g, gi) => {
        g.params.forEach((p, i) => p.assign(newTrain[gi]![i]!));
        g.steps++;
      });
      for (const [k, b] of this.buffers) {
        const v = newBuf[k];
        if (v) b.assign(v.dtype === b.dtype ? v : noGrad(() => astype(v, b.dtype)));
      }
      for (const l of treeFlatten(newStates)[0]) keep(l as EagerTensor);
      this.states = newStates;
      lossMean.accumulate(lossStats);
      metrics.forEach((m, i) => m.accumulate(stats[i]!));
    });
    const fresh = new Set(treeFlatten(this.states)[0]);
    for (const l of treeFlatten(old)[0]) if (!fresh.has(l)) (l as Tensor).dispose();
  }

  endEpoch(): void {
    const states = this.states;
    if (!states) return;
    this.states = null;
    const opt = this.c.optimizer;
    const sd: OptimizerStateDict = opt.stateDict();
    const snapshots = Object.values(sd.state).flatMap((s) => Object.values(s).filter((v): v is Tensor => v instanceof Tensor));
    try {
      this.groups.forEach((g, gi) => {
        const st = states[gi]!;
        g.indices.forEach((idx, i) => {
          const entry: OptimizerStateDict["state"][string] = { step: g.steps };
          for (const [field, v] of Object.entries(st)) if (Array.isArray(v)) entry[field] = v[i] as Tensor;
          sd.state[String(idx)] = entry;
        });
      });
      if (this.groups.some((g) => g.steps > 0)) opt.loadStateDict(sd);
    } finally {
      for (const t of snapshots) t.dispose();
      for (const l of treeFlatten(states)[0]) (l as Tensor).dispose();
    }
  }

  dispose(): void {
    for (const g of this.groups) g.lr?.dispose();
  }
}
