/** Sequential, ModuleList and ModuleDict: children named by position or key, as in PyTorch's state dicts. */
import { fail } from "../core/errors.js";
import type { Tensor } from "../tensor.js";
import { Module } from "./module.js";
import { callModule } from "./util.js";

function checkModule(op: string, what: string, m: unknown): Module {
  if (!(m instanceof Module)) fail(op, `${what} must be a Module, got ${m === null ? "null" : typeof m === "object" ? (m as object).constructor?.name : typeof m}`);
  return m;
}

function index(op: string, i: number, n: number): number {
  if (!Number.isInteger(i) || i < -n || i >= n) fail(op, `index ${i} is out of range for ${n} modules`);
  return i < 0 ? i + n : i;
}

/**
 * Modules applied in order, each to the previous one's output; children are named "0", "1", ... (or by
 * the keys of an object), so state dicts match PyTorch's.
 * @example const net = new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 2));
 */
export class Sequential extends Module {
  private entries: [string, Module][];
  constructor(...modules: Module[] | [Record<string, Module>]) {
    super();
    const first = modules[0];
    if (modules.length === 1 && first && !(first instanceof Module) && typeof first === "object") {
      this.entries = Object.entries(first).map(([k, m]) => [k, checkModule("Sequential", `entry "${k}"`, m)]);
    } else {
      this.entries = (modules as unknown[]).map((m, i) => [String(i), checkModule("Sequential", `argument ${i}`, m)]);
    }
  }
  override namedChildren(): [string, Module][] {
    return [...this.entries];
  }
  get length(): number {
    return this.entries.length;
  }
  /** The i-th module (negative counts from the end). */
  at(i: number): Module {
    return this.entries[index("Sequential.at", i, this.entries.length)]![1];
  }
  /** Append a module (named by its position). */
  append(m: Module): this {
    this.entries.push([String(this.entries.length), checkModule("Sequential.append", "argument", m)]);
    return this;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.entries.map(([, m]) => m)[Symbol.iterator]();
  }
  forward(x: Tensor): Tensor {
    let y: unknown = x;
    for (const [, m] of this.entries) y = callModule(m, y);
    return y as Tensor;
  }
}

/** A list of modules whose parameters belong to the parent (named "0", "1", ...); it has no forward. */
export class ModuleList<M extends Module = Module> extends Module {
  private items: M[] = [];
  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }
  override namedChildren(): [string, Module][] {
    return this.items.map((m, i) => [String(i), m]);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[index("ModuleList.at", i, this.items.length)]!;
  }
  append(m: M): this {
    this.items.push(checkModule("ModuleList.append", "argument", m) as M);
    return this;
  }
  extend(ms: Iterable<M>): this {
    for (const m of ms) this.append(m);
    return this;
  }
  insert(i: number, m: M): this {
    const n = this.items.length;
    const j = i < 0 ? Math.max(0, i + n) : Math.min(i, n);
    this.items.splice(j, 0, checkModule("ModuleList.insert", "argument", m) as M);
    return this;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
  forward(): never {
    return fail("ModuleList", "has no forward; iterate over it and call the modules");
  }
}

/** Modules by name, whose parameters belong to the parent (named by key); it has no forward. */
export class ModuleDict<M extends Module = Module> extends Module {
  private items = new Map<string, M>();
  constructor(modules: Record<string, M> = {}) {
    super();
    for (const [k, m] of Object.entries(modules)) this.set(k, m);
  }
  override namedChildren(): [string, Module][] {
    return [...this.items];
  }
  get size(): number {
    return this.items.size;
  }
  get(key: string): M {
    const m = this.items.get(key);
    if (!m) fail("ModuleDict.get", `no module named "${key}" (have ${[...this.items.keys()].join(", ") || "none"})`);
    return m;
  }
  set(key: string, m: M): this {
    if (key.includes(".")) fail("ModuleDict.set", `key "${key}" must not contain "."`);
    this.items.set(key, checkModule("ModuleDict.set", `entry "${key}"`, m) as M);
    return this;
  }
  has(key: string): boolean {
    return this.items.has(key);
  }
  delete(key: string): boolean {
    return this.items.delete(key);
  }
  keys(): string[] {
    return [...this.items.keys()];
  }
  values(): M[] {
    return [...this.items.values()];
  }
  entries(): [string, M][] {
    return [...this.items];
  }
  forward(): never {
    return fail("ModuleDict", "has no forward; look modules up with get() and call them");
  }
}
