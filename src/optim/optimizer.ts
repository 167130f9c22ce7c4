/**
 * The stateful (PyTorch-style) optimizer base: parameter groups with per-group hyperparameters, lazily
 * created per-parameter state, in-place updates, and a JSON-friendly state dict.
 */
import { isFloat } from "../core/dtype.js";
import { checkOptions, fail, fmtShape } from "../core/errors.js";
import { keep, scope } from "../memory.js";
import { astype } from "../ops/core.js";
import { tensor as makeTensor, type NestedNumbers } from "../ops/convert.js";
import { noGrad } from "../tape.js";
import { EagerTensor, Tensor } from "../tensor.js";

/** A hyperparameter value: what a parameter group may hold besides its tensors. */
export type Hyper = number | boolean | readonly number[];

/** What every optimizer's options have in common. */
export interface GroupOptions {
  lr: number;
}

/** A parameter group: the tensors and the hyperparameters that apply to them. */
export type ParamGroup<O extends GroupOptions> = O & {
  params: EagerTensor[];
  /** The lr the first scheduler attached to this optimizer started from (PyTorch's `initial_lr`). */
  initialLr?: number;
};

/** A parameter group as given to a constructor: tensors plus any hyperparameters to override. */
export type ParamGroupSpec<O extends GroupOptions> = Partial<O> & { params: Iterable<Tensor> };

/** Parameters as given to a constructor: tensors (one group) or a list of groups. */
export type ParamsArg<O extends GroupOptions> = Iterable<Tensor> | readonly ParamGroupSpec<O>[];

/** Per-parameter state: how many updates it has received and its buffers (moments, momentum...). */
export interface ParamState {
  step: number;
  buffers: Record<string, EagerTensor>;
}

/** A parameter's saved state: the step count and one tensor per buffer. */
export interface ParamStateDict {
  step: number;
  [buffer: string]: Tensor | NestedNumbers[] | number;
}

/** A saved parameter group: hyperparameters and the global indices of its parameters. */
export interface GroupStateDict {
  params: number[];
  [hyper: string]: Hyper | undefined;
}

/** What `stateDict()` returns and `loadStateDict()` accepts (JSON-serialisable apart from tensors). */
export interface OptimizerStateDict {
  state: Record<string, ParamStateDict>;
  paramGroups: GroupStateDict[];
}

/** The result of one parameter's update: its new value and its new buffers (null: unchanged). */
export interface UpdateResult {
  param: Tensor;
  buffers: Record<string, Tensor | null>;
}

/** A tensor sharing `t`'s data that outlives every enclosing scope (state is replaced by `assign`, never written into). */
function own(t: Tensor, op: string): EagerTensor {
  if (!(t instanceof EagerTensor)) fail(op, `expected a concrete tensor, got a traced value ${t.aval} (optimizers run outside jit; use optim.functional inside transformations)`);
  return keep(new EagerTensor(t.aval.strong(), t.ref.retain()));
}

/** Merge options over defaults, rejecting names the optimizer does not know (e.g. snake_case). */
export function withDefaults<O extends object>(op: string, defaults: O, opts: object): O {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  const { params: _params, ...rest } = opts as Record<string, unknown>;
  checkOptions(op, rest, Object.keys(defaults));
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) out[k] = v;
  return out as O;
}

/** Throw a TridentError naming the optimizer and the option unless `ok`. */
export function check(ok: boolean, op: string, what: string, value: unknown): void {
  if (!ok) fail(op, `invalid ${what}, got ${JSON.stringify(value)}`);
}

/**
 * Base class of the stateful optimizers. Subclasses give their hyperparameter checks, the names of
 * their state buffers, how those buffers start, and the update of one parameter.
 */
export abstract class Optimizer<O extends GroupOptions> {
  /** The parameter groups; hyperparameters may be changed between steps (schedulers do). */
  readonly paramGroups: ParamGroup<O>[] = [];
  protected readonly state = new Map<EagerTensor, ParamState>();

  protected constructor(readonly name: string, params: ParamsArg<O>, readonly defaults: O) {
    this.validate(defaults);
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<O>>)];
    if (list.length === 0) fail(name, "got an empty parameter list");
    const isGroups = list.every((x) => !(x instanceof Tensor) && typeof x === "object" && x !== null && "params" in x);
    if (isGroups) for (const g of list as ParamGroupSpec<O>[]) this.addParamGroup(g);
    else {
      if (list.some((x) => !(x instanceof Tensor))) fail(name, "params must be tensors or parameter groups { params, ...options }, not a mix");
      this.addParamGroup({ params: list as Tensor[] } as unknown as ParamGroupSpec<O>);
    }
  }

  /** Check a group's hyperparameters (throws a TridentError naming the bad one). */
  protected abstract validate(o: O): void;
  /** Buffer names of a parameter's state: those created at its first step, and others it may hold. */
  protected abstract bufferNames(o: O): { required: string[]; optional: string[] };
  /** The buffers a parameter starts with (exactly `bufferNames(o).required`). */
  protected abstract initState(p: EagerTensor, o: O): Record<string, Tensor>;
  /** One parameter's update; `step` counts this update (1 on the first). */
  protected abstract update(p: EagerTensor, g: Tensor, step: number, buffers: Record<string, EagerTensor>, o: O): UpdateResult;

  /** Add a group of parameters with its own hyperparameters (defaults fill the rest). */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    const op = `${this.name}.addParamGroup`;
    if (!spec || typeof spec !== "object" || !("params" in spec)) fail(op, "a parameter group needs a params field");
    const params = [...spec.params];
    if (params.length === 0) fail(op, `parameter group ${this.paramGroups.length} has no parameters`);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof EagerTensor)) fail(op, `parameter ${i} must be a concrete tensor, got ${p instanceof Tensor ? `a traced value ${p.aval}` : typeof p}`);
      if (p.isDisposed) fail(op, `parameter ${i} (${p.aval}) was disposed`);
      if (!isFloat(p.dtype)) fail(op, `parameter ${i} must have a floating-point dtype, got ${p.dtype}`);
      if (p._node !== null) fail(op, `parameter ${i} (${p.aval}) is not a leaf (it was computed from tensors that require grad); optimize the leaf, or detach() it`);
      if (seen.has(p)) fail(op, `parameter ${i} (${p.aval}) appears in more than one parameter group`);
      seen.add(p);
    });
    const hyper = withDefaults(op, this.defaults, spec);
    this.validate(hyper);
    this.paramGroups.push({ ...hyper, params: params as EagerTensor[] });
  }

  /** The first group's learning rate. */
  get lr(): number {
    return this.paramGroups[0]!.lr;
  }
  /** Set every group's learning rate. */
  set lr(v: number) {
    check(typeof v === "number" && v >= 0, this.name, "learning rate: expected a number >= 0", v);
    for (const g of this.paramGroups) g.lr = v;
  }

  /** All parameters, group by group. */
  parameters(): EagerTensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** Free and clear every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Update every parameter that has a gradient, in place. The optional closure re-evaluates the loss
   * first (as PyTorch's `step(closure)`) and its result is returned.
   */
  step<T = undefined>(closure?: () => T): T | undefined {
    const loss = closure ? closure() : undefined;
    const op = `${this.name}.step`;
    noGrad(() => {
      this.paramGroups.forEach((group, gi) => {
        this.validate(group);
        group.params.forEach((p, pi) => {
          const g = p.grad;
          if (!g) return;
          if (!(g instanceof EagerTensor)) fail(op, `the gradient of parameter ${pi} of group ${gi} is a traced value`);
          if (g.shape.join() !== p.shape.join()) fail(op, `the gradient of parameter ${pi} of group ${gi} has shape ${fmtShape(g.shape)} but the parameter has ${fmtShape(p.shape)}`);
          scope(() => {
            let st = this.state.get(p);
            if (!st) {
              const init = this.initState(p, group);
              st = { step: 0, buffers: Object.fromEntries(Object.entries(init).map(([k, v]) => [k, own(v, op)])) };
              this.state.set(p, st);
            }
            const grad = g.dtype === p.dtype ? g : astype(g, p.dtype);
            const t = st.step + 1;
            const { param, buffers } = this.update(p, grad, t, st.buffers, group);
            for (const [k, v] of Object.entries(buffers)) {
              if (!v) continue;
              const old = st.buffers[k];
              if (old) old.assign(v as EagerTensor);
              else st.buffers[k] = own(v, op);
            }
            p.assign(param as EagerTensor);
            st.step = t;
          });
        });
      });
    });
    return loss;
  }

  /**
   * The optimizer's state: per-parameter step counts and buffers (keyed by the parameter's index over
   * all groups), and each group's hyperparameters. The tensors are snapshots that later steps leave alone.
   */
  stateDict(): OptimizerStateDict {
    const state: Record<string, ParamStateDict> = {};
    const paramGroups: GroupStateDict[] = [];
    let index = 0;
    for (const g of this.paramGroups) {
      const ids: number[] = [];
      for (const p of g.params) {
        const st = this.state.get(p);
        if (st) {
          const entry: ParamStateDict = { step: st.step };
          for (const [k, b] of Object.entries(st.buffers)) entry[k] = new EagerTensor(b.aval, b.ref.retain());
          state[String(index)] = entry;
        }
        ids.push(index++);
      }
      const hyper: GroupStateDict = { params: ids };
      for (const [k, v] of Object.entries(g)) if (k !== "params" && v !== undefined) hyper[k] = Array.isArray(v) ? [...(v as number[])] : (v as Hyper);
      paramGroups.push(hyper);
    }
    return { state, paramGroups };
  }

  /**
   * Restore a state dict from `stateDict()` (tensors, or nested arrays after a JSON round trip).
   * Everything is validated before anything changes.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (!sd || typeof sd !== "object" || !Array.isArray(sd.paramGroups) || typeof sd.state !== "object" || sd.state === null) {
      fail(op, "expected { state, paramGroups } as returned by stateDict()");
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      fail(op, `the state dict has ${sd.paramGroups.length} parameter groups but the optimizer has ${this.paramGroups.length}`);
    }
    const params = this.parameters();
    const groupOf = new Map<number, ParamGroup<O>>();
    const newHyper: O[] = [];
    let index = 0;
    sd.paramGroups.forEach((sg, gi) => {
      const group = this.paramGroups[gi]!;
      if (!Array.isArray(sg.params) || sg.params.length !== group.params.length) {
        fail(op, `parameter group ${gi} has ${Array.isArray(sg.params) ? sg.params.length : "no"} parameters in the state dict but ${group.params.length} in the optimizer`);
      }
      const merged: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(group)) if (k !== "params") merged[k] = v;
      for (const [k, v] of Object.entries(sg)) {
        if (k === "params") continue;
        if (k === "initialLr") {
          check(typeof v === "number", op, `initialLr of group ${gi}: expected a number`, v);
          merged[k] = v;
          continue;
        }
        if (!(k in this.defaults)) fail(op, `parameter group ${gi} has hyperparameter "${k}", which ${this.name} does not have (known: ${Object.keys(this.defaults).join(", ")})`);
        const want = (this.defaults as Record<string, unknown>)[k];
        const sameKind = Array.isArray(want) ? Array.isArray(v) && v.length === want.length && v.every((e) => typeof e === "number") : typeof v === typeof want;
        if (!sameKind) fail(op, `hyperparameter "${k}" of group ${gi}: expected ${Array.isArray(want) ? `an array of ${want.length} numbers` : `a ${typeof want}`}, got ${JSON.stringify(v)}`);
        merged[k] = Array.isArray(v) ? [...v] : v;
      }
      this.validate(merged as unknown as O);
      newHyper.push(merged as unknown as O);
      for (let i = 0; i < group.params.length; i++) groupOf.set(index++, group);
    });
    const newState = new Map<EagerTensor, { step: number; buffers: Record<string, Tensor> }>();
    for (const [key, entry] of Object.entries(sd.state)) {
      const idx = Number(key);
      if (!Number.isInteger(idx) || idx < 0 || idx >= params.length) fail(op, `state entry "${key}" is not a parameter index in [0, ${params.length})`);
      const p = params[idx]!;
      const group = newHyper[this.paramGroups.indexOf(groupOf.get(idx)!)]!;
      if (!entry || typeof entry !== "object") fail(op, `state entry ${idx} must be an object`);
      const step = entry.step;
      check(typeof step === "number" && Number.isInteger(step) && step >= 0, op, `step count of parameter ${idx}: expected an integer >= 0`, step);
      const { required, optional } = this.bufferNames(group);
      const buffers: Record<string, Tensor> = {};
      for (const [name, v] of Object.entries(entry)) {
        if (name === "step") continue;
        if (!required.includes(name) && !optional.includes(name)) {
          fail(op, `state of parameter ${idx} has buffer "${name}", which ${this.name} does not use (expected ${[...required, ...optional].join(", ") || "none"})`);
        }
        let t: Tensor;
        if (v instanceof Tensor) {
          if (!(v instanceof EagerTensor)) fail(op, `buffer "${name}" of parameter ${idx} is a traced value`);
          if (v.isDisposed) fail(op, `buffer "${name}" of parameter ${idx} was disposed`);
          t = v;
        } else if (Array.isArray(v) || typeof v === "number") t = makeTensor(v, { dtype: p.dtype });
        else fail(op, `buffer "${name}" of parameter ${idx} must be a tensor or nested array, got ${typeof v}`);
        if (t.shape.join() !== p.shape.join()) {
          fail(op, `buffer "${name}" of parameter ${idx} has shape ${fmtShape(t.shape)} but the parameter has shape ${fmtShape(p.shape)}`);
        }
        buffers[name] = t;
      }
      for (const name of required) if (!(name in buffers)) fail(op, `state of parameter ${idx} is missing buffer "${name}"`);
      newState.set(p, { step, buffers });
    }
    // validated: commit
    this.paramGroups.forEach((g, gi) => {
      for (const k of Object.keys(g)) if (k !== "params") delete (g as unknown as Record<string, unknown>)[k];
      Object.assign(g, newHyper[gi]);
    });
    this.clearState();
    noGrad(() =>
      scope(() => {
        for (const [p, { step, buffers }] of newState) {
          const owned: Record<string, EagerTensor> = {};
          for (const [k, t] of Object.entries(buffers)) owned[k] = own(t.dtype === p.dtype ? t : astype(t, p.dtype), op);
          this.state.set(p, { step, buffers: owned });
        }
      }),
    );
  }

  /** Free every state buffer (the optimizer starts afresh at its next step). */
  clearState(): void {
    for (const st of this.state.values()) for (const b of Object.values(st.buffers)) b.dispose();
    this.state.clear();
  }

  /** The state of one parameter (step count and buffers), or undefined before its first update. */
  getState(p: Tensor): Readonly<ParamState> | undefined {
    return this.state.get(p as EagerTensor);
  }
}
