import { TridentError, fail, fmtShape } from "../core/errors.js";
import type { DType } from "../core/dtype.js";
import { isFloat } from "../core/dtype.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { keep, scope } from "../memory.js";
import { noGrad } from "../tape.js";
import { setBackend } from "../backend/registry.js";
import { fromStorage } from "../core/execute.js";
import { convert } from "../core/prims/elementwise.js";
import { stopGradient } from "../core/prims/structural.js";
import { moduleSummary, type SummaryInput } from "./summary.js";

const BUFFERS = Symbol("buffers");
const NON_PERSISTENT = Symbol("nonPersistent");
const PARAM_FIELDS = Symbol("paramFields");

/** Tensors made by `parameter()`: they stay parameters when frozen (requiresGrad = false), as in PyTorch. */
const marked = new WeakSet<Tensor>();

/** One tensor-valued field: its state-dict key, the field name, and whether it is a parameter or a buffer. */
interface Slot {
  key: string;
  field: string;
  tensor: Tensor;
}

/**
 * Base class of layers and models (PyTorch semantics). Parameters are the fields holding tensors made
 * by `parameter()` (or that require grad), buffers are registered with `registerBuffer`, children are
 * fields holding modules (or arrays / plain objects of modules), all discovered from the fields in
 * declaration order.
 * @example class Net extends nn.Module { fc = new nn.Linear(784, 10); forward(x: Tensor) { return this.fc.forward(x); } }
 */
export abstract class Module {
  training = true;
  private [BUFFERS] = new Set<string>();
  private [NON_PERSISTENT] = new Set<string>();
  private [PARAM_FIELDS] = new Set<string>();

  abstract forward(...args: never[]): unknown;

  /** Same as forward (the PyTorch `model(x)` call). */
  call<A extends unknown[], R>(this: Module & { forward(...args: A): R }, ...args: A): R {
    return this.forward(...args);
  }

  /**
   * The state-dict name of a field. Built-in layers override it to give PyTorch's snake_case names
   * (`runningMean` → `running_mean`) so that PyTorch checkpoints load unchanged.
   */
  protected stateKey(field: string): string {
    return field;
  }

  /** Register a tensor that is state but not a parameter (saved in stateDict unless persistent is false). */
  registerBuffer(name: string, value: Tensor | null, persistent = true): void {
    (this as unknown as Record<string, unknown>)[name] = value;
    this[BUFFERS].add(name);
    if (!persistent) this[NON_PERSISTENT].add(name);
    if (value instanceof EagerTensor) keep(value);
  }

  /**
   * Give buffers new values computed by fn (e.g. BatchNorm's running statistics). Eagerly the buffers
   * are overwritten in place without autograd and fn's intermediates are freed; inside
   * `functionalCallWithState` the new values are collected and returned instead, so nothing traced is
   * stored on the module. Anywhere else inside a transformation this throws, since an in-place update
   * of a concrete buffer with a traced value would leak the tracer.
   */
  updateBuffers(fn: () => Record<string, Tensor>): void {
    const rec = this as unknown as Record<string, unknown>;
    const check = (vals: Record<string, Tensor>) => {
      for (const [f, v] of Object.entries(vals)) {
        if (!this[BUFFERS].has(f)) fail(`${this.constructor.name}.updateBuffers`, `"${f}" is not a registered buffer`);
        const cur = rec[f];
        if (cur instanceof Tensor && (cur.shape.join() !== v.shape.join())) {
          fail(`${this.constructor.name}.updateBuffers`, `buffer "${f}" has shape ${fmtShape(cur.shape)} but the new value has shape ${fmtShape(v.shape)}`);
        }
      }
    };
    if (collector) {
      const vals = noGrad(fn);
      check(vals);
      for (const [f, v] of Object.entries(vals)) collector.record(this, f, rec[f], stopGradient(v));
      for (const [f, v] of Object.entries(vals)) rec[f] = collector.latest(this, f) ?? v;
      return;
    }
    scope(() =>
      noGrad(() => {
        const vals = fn();
        check(vals);
        // all or nothing: every buffer is checked before the first is written
        for (const [f, v] of Object.entries(vals)) {
          if (!(rec[f] instanceof EagerTensor) || !(v instanceof EagerTensor)) {
            throw new TridentError(
              `${this.constructor.name}: cannot update buffer "${this.stateKey(f)}" in place inside a transformation (grad, vmap, jit): ` +
                `use nn.functionalCallWithState(model, params, buffers, ...args), which returns the new buffers, or call model.eval()`,
            );
          }
        }
        for (const [f, v] of Object.entries(vals)) {
          const cur = rec[f] as EagerTensor;
          cur.assign(v.dtype === cur.dtype ? (v as EagerTensor) : (convert(v, cur.dtype) as EagerTensor));
        }
      }),
    );
  }

  /** Direct children with their names (arrays and objects of modules are flattened as `name.i`). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) collectModules(this.stateKey(k), v, out);
    return out;
  }
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }
  /** This module and all descendants, depth first. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this.namedChildren()) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Own parameter fields: made by `parameter()`, requiring grad, or traced (inside functionalCall). */
  protected ownParameterSlots(): Slot[] {
    const out: Slot[] = [];
    const known = this[PARAM_FIELDS];
    for (const [k, v] of Object.entries(this)) {
      if (!(v instanceof Tensor) || this[BUFFERS].has(k)) continue;
      if (known.has(k) || marked.has(v) || v.requiresGrad || !(v instanceof EagerTensor)) {
        known.add(k);
        out.push({ key: this.stateKey(k), field: k, tensor: v });
      }
    }
    return out;
  }
  protected ownBufferSlots(persistentOnly = false): Slot[] {
    const out: Slot[] = [];
    for (const k of this[BUFFERS]) {
      if (persistentOnly && this[NON_PERSISTENT].has(k)) continue;
      const v = (this as unknown as Record<string, unknown>)[k];
      if (v instanceof Tensor) out.push({ key: this.stateKey(k), field: k, tensor: v });
    }
    return out;
  }

  /** Parameters with dotted names, e.g. `fc1.weight` (a tensor shared by two layers is listed once). */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const { key, tensor } of m.ownParameterSlots()) {
        if (seen.has(tensor)) continue;
        seen.add(tensor);
        out.push([prefix ? `${prefix}.${key}` : key, tensor]);
      }
    }
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  namedBuffers(persistentOnly = false): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const { key, tensor } of m.ownBufferSlots(persistentOnly)) out.push([prefix ? `${prefix}.${key}` : key, tensor]);
    }
    return out;
  }
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }
  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((a, p) => a + p.size, 0);
  }

  /** Set training mode (Dropout, BatchNorm) on this module and its descendants. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Apply fn to every module (children first, then this), e.g. for initialisation. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Free and clear the gradients of every parameter (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Freeze (false) or unfreeze (true) every parameter; frozen parameters stay in parameters() and stateDict(). */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) {
      if (p instanceof EagerTensor) p.requiresGrad = flag;
    }
    return this;
  }

  /** Parameters and persistent buffers by dotted name. */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    for (const [k, p] of this.namedParameters()) sd[k] = p;
    for (const [k, b] of this.namedBuffers(true)) sd[k] = b;
    return sd;
  }

  /** Copy values in by name; strict mode rejects missing and unexpected keys, always rejects shape mismatches. */
  loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(", ")}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(", ")}`);
      throw new TridentError(`loadStateDict: ${parts.join("; ")}`);
    }
    for (const [k, t] of Object.entries(own)) {
      const src = sd[k];
      if (!src) continue;
      if (src.shape.join() !== t.shape.join()) fail("loadStateDict", `${k} has shape ${fmtShape(src.shape)} in the state dict but ${fmtShape(t.shape)} in the model`);
      if (!(t instanceof EagerTensor) || !(src instanceof EagerTensor)) fail("loadStateDict", `${k} must be a concrete tensor, not a traced value`);
    }
    for (const [k, t] of Object.entries(own)) {
      const src = sd[k];
      if (!src) continue;
      // the target shares the source's storage (writes replace storage, so neither can change the other)
      if (src.dtype === t.dtype) (t as EagerTensor).assign(src as EagerTensor);
      else scope(() => noGrad(() => (t as EagerTensor).assign(convert(src, t.dtype) as EagerTensor)));
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Move every parameter and buffer to a backend (copies the data). */
  async to(backend: string): Promise<this> {
    const b = await setBackend(backend);
    for (const m of this.modules()) {
      const rec = m as unknown as Record<string, unknown>;
      for (const { field, tensor: t } of [...m.ownParameterSlots(), ...m.ownBufferSlots()]) {
        if (!(t instanceof EagerTensor) || t.backend === b) continue;
        const data = await t.backend.read(t.buffer);
        const moved = keep(fromStorage(t.aval, data, b));
        moved.requiresGrad = t.requiresGrad;
        if (marked.has(t)) marked.add(moved);
        rec[field] = moved;
      }
    }
    return this;
  }

  /** Convert every floating-point parameter and buffer to dtype (e.g. "float64" for gradient checks). */
  astype(dtype: DType): this {
    if (!isFloat(dtype)) fail("Module.astype", `dtype must be a floating-point dtype, got ${dtype}`);
    for (const m of this.modules()) {
      const rec = m as unknown as Record<string, unknown>;
      for (const { field, tensor: t } of [...m.ownParameterSlots(), ...m.ownBufferSlots()]) {
        if (!(t instanceof EagerTensor) || !isFloat(t.dtype) || t.dtype === dtype) continue;
        const c = keep(noGrad(() => convert(t, dtype)) as EagerTensor);
        c.requiresGrad = t.requiresGrad;
        if (marked.has(t)) marked.add(c);
        rec[field] = c;
      }
    }
    return this;
  }

  /** A deep copy: same structure and values, independent parameters (PyTorch's copy.deepcopy). */
  clone(): this {
    return cloneValue(this, new Map()) as this;
  }

  /** The text inside this module's parentheses in toString (PyTorch's extra_repr); layers override it. */
  extraRepr(): string {
    return "";
  }

  /**
   * The module tree as PyTorch prints it: `Name(extra)` for a leaf, children by name, indented.
   * @example String(new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU()))
   */
  toString(): string {
    const extra = this.extraRepr();
    const kids = this.namedChildren();
    if (kids.length === 0) return `${this.constructor.name}(${extra})`;
    const lines = extra ? extra.split("\n") : [];
    for (const [n, m] of kids) lines.push(`(${n}): ${String(m).split("\n").join("\n  ")}`);
    return `${this.constructor.name}(\n  ${lines.join("\n  ")}\n)`;
  }

  /**
   * A Keras-like table of layers: name, type, parameter shapes and counts, and, given the input shape(s)
   * (batch included), each layer's output shape, found by tracing forward once (nothing is computed).
   * @example console.log(model.summary([32, 1, 28, 28]))
   */
  summary(input?: SummaryInput): string {
    return moduleSummary(this, input);
  }

}

function collectModules(name: string, v: unknown, out: [string, Module][]): void {
  if (v instanceof Module) out.push([name, v]);
  else if (Array.isArray(v)) v.forEach((x, i) => collectModules(`${name}.${i}`, x, out));
  else if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) collectModules(`${name}.${k}`, x, out);
  }
}

/** Deep copy of module trees: tensors get fresh handles (sharing storage is safe: writes replace storage). */
function cloneValue(v: unknown, seen: Map<unknown, unknown>): unknown {
  if (v === null || typeof v !== "object") return v;
  if (seen.has(v)) return seen.get(v);
  if (v instanceof EagerTensor) {
    const c = keep(v.detach() as EagerTensor);
    c.requiresGrad = v.requiresGrad;
    if (marked.has(v)) marked.add(c);
    seen.set(v, c);
    return c;
  }
  if (v instanceof Tensor) fail("Module.clone", "cannot copy a module holding traced values; clone it outside transformations");
  if (v instanceof Set) {
    const s = new Set<unknown>();
    seen.set(v, s);
    for (const x of v) s.add(cloneValue(x, seen));
    return s;
  }
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    seen.set(v, m);
    for (const [k, x] of v) m.set(k, cloneValue(x, seen));
    return m;
  }
  if (Array.isArray(v)) {
    const a: unknown[] = [];
    seen.set(v, a);
    for (const x of v) a.push(cloneValue(x, seen));
    return a;
  }
  const proto = Object.getPrototypeOf(v);
  if (v instanceof Module || proto === Object.prototype || proto === null) {
    const o = Object.create(proto) as Record<PropertyKey, unknown>;
    seen.set(v, o);
    for (const k of Reflect.ownKeys(v)) o[k] = cloneValue((v as Record<PropertyKey, unknown>)[k], seen);
    return o;
  }
  // other objects (class instances used as settings) are shared, as configuration
  return v;
}

/** Make a trainable parameter from a tensor (a leaf that requires grad and survives scopes). */
export function parameter(t: Tensor): Tensor {
  if (!(t instanceof EagerTensor)) fail("parameter", "needs a concrete tensor, not a traced value");
  const p = t._node ? (t.detach() as EagerTensor) : t;
  p.requiresGrad = true;
  marked.add(p);
  return keep(p);
}

// ---------------- functional calls ----------------

/** Buffer writes made during `functionalCallWithState`, and how to undo them on the module. */
class StateCollector {
  private updates = new Map<Module, Map<string, { original: unknown; value: Tensor }>>();
  record(m: Module, field: string, current: unknown, value: Tensor): void {
    let per = this.updates.get(m);
    if (!per) this.updates.set(m, (per = new Map()));
    const prev = per.get(field);
    per.set(field, { original: prev ? prev.original : current, value });
  }
  latest(m: Module, field: string): Tensor | undefined {
    return this.updates.get(m)?.get(field)?.value;
  }
  /** New values by dotted name, given each module's prefix. */
  named(prefixes: Map<Module, string>, keyOf: (m: Module, field: string) => string): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [m, per] of this.updates) {
      const prefix = prefixes.get(m);
      if (prefix === undefined) continue;
      for (const [field, { value }] of per) {
        const key = keyOf(m, field);
        out.set(prefix ? `${prefix}.${key}` : key, value);
      }
    }
    return out;
  }
  restore(): void {
    for (const [m, per] of this.updates) for (const [field, { original }] of per) (m as unknown as Record<string, unknown>)[field] = original;
  }
}
let collector: StateCollector | null = null;

/** Field slots of every module by dotted state-dict name. */
function slotsByName(module: Module): Map<string, [Record<string, unknown>, string]> {
  const byName = new Map<string, [Record<string, unknown>, string]>();
  for (const [prefix, m] of module.namedModules()) {
    const keyOf = (f: string) => (m as unknown as { stateKey(f: string): string }).stateKey(f);
    for (const [k, v] of Object.entries(m)) {
      if (v instanceof Tensor || v === null) byName.set(prefix ? `${prefix}.${keyOf(k)}` : keyOf(k), [m as unknown as Record<string, unknown>, k]);
    }
  }
  return byName;
}

/**
 * Call a module as a pure function of its parameters (and buffers): fields are swapped for the given
 * values during the call, so the module works under grad, vmap and jit. Names not given keep the
 * module's own tensors. In training mode, layers that update buffers (BatchNorm) need
 * `functionalCallWithState` inside transformations.
 * @example tr.grad((p) => lossFn(nn.functionalCall(model, p, x), y))(model.stateDict())
 */
export function functionalCall<R>(module: Module & { forward(...a: never[]): R }, params: Record<string, Tensor>, ...args: unknown[]): R {
  return withSwapped("functionalCall", module, params, () => (module.forward as (...a: unknown[]) => R)(...args));
}

/** Run fn with the module's fields swapped for the given tensors, restoring them afterwards. */
function withSwapped<R>(op: string, module: Module, params: Record<string, Tensor>, fn: () => R): R {
  const slots: { owner: Record<string, unknown>; key: string; old: unknown }[] = [];
  const byName = slotsByName(module);
  try {
    for (const [name, value] of Object.entries(params)) {
      const slot = byName.get(name);
      if (!slot) fail(op, `the module has no parameter or buffer named "${name}"`);
      if (!(value instanceof Tensor)) fail(op, `the value for "${name}" must be a Tensor, got ${value === null ? "null" : typeof value}`);
      const [owner, key] = slot;
      const old = owner[key];
      if (old instanceof Tensor && old.shape.join() !== value.shape.join()) {
        fail(op, `"${name}" has shape ${fmtShape(old.shape)} in the module but ${fmtShape(value.shape)} was given`);
      }
      slots.push({ owner, key, old });
      owner[key] = value;
    }
    return fn();
  } finally {
    for (const s of slots.reverse()) s.owner[s.key] = s.old;
  }
}

/**
 * `functionalCall` that also returns the buffers the call updated, without storing anything on the
 * module: `[output, newBuffers]`, where newBuffers has every key of `buffers` (updated or passed
 * through) plus any other buffer the call updated. This is the pure form of a training step of a
 * model with BatchNorm, safe under grad / vmap / jit.
 * @example
 * const step = tr.jit((p, b, x) => nn.functionalCallWithState(model, p, b, x));
 * const [y, b2] = step(params, buffers, x);
 */
export function functionalCallWithState<R>(
  module: Module & { forward(...a: never[]): R },
  params: Record<string, Tensor>,
  buffers: Record<string, Tensor>,
  ...args: unknown[]
): [R, Record<string, Tensor>] {
  for (const k of Object.keys(buffers)) if (k in params) fail("functionalCallWithState", `"${k}" is given both as a parameter and as a buffer`);
  const prefixes = new Map<Module, string>(module.namedModules().map(([n, m]) => [m, n]));
  const prev = collector;
  const mine = new StateCollector();
  collector = mine;
  let out: R;
  let updated: Map<string, Tensor>;
  try {
    // buffer writes are undone before the swapped fields are restored, so the module ends as it began
    [out, updated] = withSwapped("functionalCallWithState", module, { ...params, ...buffers }, () => {
      try {
        const r = (module.forward as (...a: unknown[]) => R)(...args);
        return [r, mine.named(prefixes, (m, f) => (m as unknown as { stateKey(f: string): string }).stateKey(f))] as const;
      } finally {
        mine.restore();
      }
    });
  } finally {
    collector = prev;
  }
  const newBuffers: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(buffers)) newBuffers[k] = updated.get(k) ?? v;
  for (const [k, v] of updated) if (!(k in newBuffers)) newBuffers[k] = v;
  return [out, newBuffers];
}
