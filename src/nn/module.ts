import { TridentError } from "../core/errors.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { keep } from "../memory.js";
import { noGrad } from "../tape.js";
import { setBackend } from "../backend/registry.js";
import { fromStorage } from "../core/execute.js";

/** Marks a tensor field as a buffer (saved in the state dict, never trained), e.g. BatchNorm's running mean. */
const BUFFERS = Symbol("buffers");
const NON_PERSISTENT = Symbol("nonPersistent");

/**
 * Base class of layers and models (PyTorch semantics). Parameters are the fields holding tensors that
 * require grad, buffers are registered with `registerBuffer`, children are fields holding modules (or
 * arrays / plain objects of modules), all discovered from the fields in declaration order.
 * @example class Net extends nn.Module { fc = new nn.Linear(784, 10); forward(x: Tensor) { return this.fc.forward(x); } }
 */
export abstract class Module {
  training = true;
  private [BUFFERS] = new Set<string>();
  private [NON_PERSISTENT] = new Set<string>();

  abstract forward(...args: never[]): unknown;

  /** Same as forward (the PyTorch `model(x)` call). */
  call<A extends unknown[], R>(this: Module & { forward(...args: A): R }, ...args: A): R {
    return this.forward(...args);
  }

  /** Register a tensor that is state but not a parameter (saved in stateDict unless persistent is false). */
  registerBuffer(name: string, value: Tensor | null, persistent = true): void {
    (this as unknown as Record<string, unknown>)[name] = value;
    this[BUFFERS].add(name);
    if (!persistent) this[NON_PERSISTENT].add(name);
    if (value instanceof EagerTensor) keep(value);
  }

  /** Direct children with their field names (arrays and objects of modules are flattened as `name.i`). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) collectModules(k, v, out);
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

  /** Own parameter fields (tensors that require grad and are not buffers). */
  protected ownParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (v instanceof Tensor && !this[BUFFERS].has(k) && (v.requiresGrad || !(v instanceof EagerTensor))) out.push([k, v]);
    }
    return out;
  }
  protected ownBuffers(persistentOnly = false): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const k of this[BUFFERS]) {
      if (persistentOnly && this[NON_PERSISTENT].has(k)) continue;
      const v = (this as unknown as Record<string, unknown>)[k];
      if (v instanceof Tensor) out.push([k, v]);
    }
    return out;
  }

  /** Parameters with dotted names, e.g. `fc1.weight`. */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([prefix ? `${prefix}.${k}` : k, p]);
      }
    }
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  namedBuffers(persistentOnly = false): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [k, b] of m.ownBuffers(persistentOnly)) out.push([prefix ? `${prefix}.${k}` : k, b]);
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
      if (src.shape.join() !== t.shape.join()) throw new TridentError(`loadStateDict: ${k} has shape [${src.shape}] in the state dict but [${t.shape}] in the model`);
      if (!(t instanceof EagerTensor) || !(src instanceof EagerTensor)) throw new TridentError(`loadStateDict: ${k} must be a concrete tensor`);
      noGrad(() => t.assign(src.dtype === t.dtype ? src : (src.astype(t.dtype) as EagerTensor)));
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Move every parameter and buffer to a backend (copies the data). */
  async to(backend: string): Promise<this> {
    const b = await setBackend(backend);
    for (const m of this.modules()) {
      const rec = m as unknown as Record<string, unknown>;
      for (const [k, t] of [...m.ownParameters(), ...m.ownBuffers()]) {
        if (!(t instanceof EagerTensor) || t.backend === b) continue;
        const data = await t.backend.read(t.buffer);
        const moved = keep(fromStorage(t.aval, data, b));
        moved.requiresGrad = t.requiresGrad;
        rec[k] = moved;
      }
    }
    return this;
  }

  /** A Keras-like table of layers, output-free: name, type, parameter shapes and counts. */
  summary(): string {
    const rows: [string, string, string, string][] = [["Layer", "Type", "Parameters", "#"]];
    for (const [name, m] of this.namedModules()) {
      const ps = m.ownParameters();
      if (name && ps.length === 0 && m.children().length > 0) continue;
      rows.push([name || "(root)", m.constructor.name, ps.map(([k, p]) => `${k}[${p.shape.join("x")}]`).join(" "), String(ps.reduce((a, [, p]) => a + p.size, 0))]);
    }
    const total = this.numParameters();
    const trainable = this.parameters().filter((p) => p.requiresGrad || !(p instanceof EagerTensor)).reduce((a, p) => a + p.size, 0);
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    const line = "─".repeat(widths.reduce((a, w) => a + w + 3, -3));
    const fmt = (r: string[]) => r.map((s, c) => (c === 3 ? s.padStart(widths[c]!) : s.padEnd(widths[c]!))).join("   ");
    return [fmt(rows[0]!), line, ...rows.slice(1).map(fmt), line, `Total params: ${total.toLocaleString("en-US")}`, `Trainable params: ${trainable.toLocaleString("en-US")}`].join("\n");
  }
}

function collectModules(name: string, v: unknown, out: [string, Module][]): void {
  if (v instanceof Module) out.push([name, v]);
  else if (Array.isArray(v)) v.forEach((x, i) => collectModules(`${name}.${i}`, x, out));
  else if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) collectModules(`${name}.${k}`, x, out);
  }
}

/** Make a trainable parameter from a tensor (a leaf that requires grad and survives scopes). */
export function parameter(t: Tensor): Tensor {
  if (!(t instanceof EagerTensor)) throw new TridentError("parameter: needs a concrete tensor");
  const p = t._node ? (t.detach() as EagerTensor) : t;
  p.requiresGrad = true;
  return keep(p);
}

/**
 * Call a module as a pure function of its parameters (and buffers): fields are swapped for the given
 * values during the call, so the module works under grad, vmap and jit.
 * @example tr.grad((p) => lossFn(nn.functionalCall(model, p, x), y))(model.stateDict())
 */
export function functionalCall<R>(module: Module & { forward(...a: never[]): R }, params: Record<string, Tensor>, ...args: unknown[]): R {
  const slots: { owner: Record<string, unknown>; key: string; old: unknown }[] = [];
  const byName = new Map<string, [Record<string, unknown>, string]>();
  for (const [prefix, m] of module.namedModules()) {
    for (const [k, v] of Object.entries(m)) if (v instanceof Tensor) byName.set(prefix ? `${prefix}.${k}` : k, [m as unknown as Record<string, unknown>, k]);
  }
  for (const [name, value] of Object.entries(params)) {
    const slot = byName.get(name);
    if (!slot) throw new TridentError(`functionalCall: the module has no parameter or buffer named "${name}"`);
    const [owner, key] = slot;
    slots.push({ owner, key, old: owner[key] });
    owner[key] = value;
  }
  try {
    return (module.forward as (...a: unknown[]) => R)(...args);
  } finally {
    for (const s of slots.reverse()) s.owner[s.key] = s.old;
  }
}
