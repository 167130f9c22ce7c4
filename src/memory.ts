/**
 * Live-memory accounting and scopes. Ops never consume inputs; `scope(fn)` frees what fn created except
 * what it returns; a FinalizationRegistry (in tensor.ts) is the safety net for the rest.
 */
import { checkFunction } from "./core/errors.js";

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const bytesByBackend = new Map<string, number>();
const buffersByBackend = new Map<string, number>();
let liveTensors = 0;

export function track(backend: string, bytes: number): void {
  bytesByBackend.set(backend, (bytesByBackend.get(backend) ?? 0) + bytes);
  buffersByBackend.set(backend, (buffersByBackend.get(backend) ?? 0) + 1);
}

/** With a tensor: one fewer live tensor. With a backend: a buffer of `bytes` was freed. */
export function untrack(backend: string | null, bytes: number, tensor?: unknown): void {
  if (tensor !== undefined) {
    liveTensors--;
    return;
  }
  if (backend === null) return;
  bytesByBackend.set(backend, (bytesByBackend.get(backend) ?? 0) - bytes);
  buffersByBackend.set(backend, (buffersByBackend.get(backend) ?? 0) - 1);
}

const scopes: Set<Disposable>[] = [];

export function onCreate(t: Disposable): void {
  liveTensors++;
  scopes[scopes.length - 1]?.add(t);
}

/** Run fn and report which tensors it created (they stay owned by the enclosing scope). */
export function trackCreated<T>(fn: () => T): [T, Set<Disposable>] {
  const s = new Set<Disposable>();
  scopes.push(s);
  try {
    return [fn(), s];
  } finally {
    removeScope(s);
    const parent = scopes[scopes.length - 1];
    if (parent) for (const t of s) parent.add(t);
  }
}

/** Remove a tensor from the enclosing scopes so it outlives them (gradients, optimizer state). */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

export interface MemoryInfo {
  /** Tensors not yet disposed (or collected). */
  numTensors: number;
  /** Device bytes held, all backends. */
  bytes: number;
  backends: Record<string, { bytes: number; buffers: number }>;
}

/** Live tensors and bytes per backend: `tr.memory().bytes`. */
export function memory(): MemoryInfo {
  const backends: MemoryInfo["backends"] = {};
  let bytes = 0;
  for (const [k, v] of bytesByBackend) {
    backends[k] = { bytes: v, buffers: buffersByBackend.get(k) ?? 0 };
    bytes += v;
  }
  return { numTensors: liveTensors, bytes, backends };
}

function collectKept(result: unknown, out: Set<unknown>, seen = new Set<unknown>()): void {
  if (result === null || typeof result !== "object" || seen.has(result)) return;
  seen.add(result);
  if ("dispose" in result && "isDisposed" in result) {
    out.add(result);
    return;
  }
  if (Array.isArray(result)) for (const r of result) collectKept(r, out, seen);
  else if (Object.getPrototypeOf(result) === Object.prototype) for (const r of Object.values(result)) collectKept(r, out, seen);
}

/** Called with what a closing scope frees and keeps (the tape uses it to drop unreachable graph nodes). */
export const scopeHooks: { beforeFree(freed: Iterable<Disposable>, kept: ReadonlySet<unknown>): void } = {
  beforeFree() {},
};

function closeScope(s: Set<Disposable>, result: unknown): void {
  const kept = new Set<unknown>();
  collectKept(result, kept);
  scopes.pop();
  scopeHooks.beforeFree([...s].filter((t) => !kept.has(t)), kept);
  const parent = scopes[scopes.length - 1];
  for (const t of s) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
}

/**
 * Run fn and free every tensor it created except those in its result (sync or async).
 * @example const y = tr.scope(() => x.mul(2).add(1)); // the intermediate x*2 is freed
 */
export function scope<T>(fn: () => T): T {
  checkFunction("scope", "fn", fn);
  const s = new Set<Disposable>();
  scopes.push(s);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(s, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    // async scopes stay open until the promise settles; tensors made meanwhile by other code also land here
    return result.then(
      (r) => {
        removeScope(s);
        closeScopeDetached(s, r);
        return r;
      },
      (e) => {
        removeScope(s);
        closeScopeDetached(s, undefined);
        throw e;
      },
    ) as T;
  }
  closeScope(s, result);
  return result;
}

function removeScope(s: Set<Disposable>): void {
  const i = scopes.lastIndexOf(s);
  if (i >= 0) scopes.splice(i, 1);
}
function closeScopeDetached(s: Set<Disposable>, result: unknown): void {
  const kept = new Set<unknown>();
  collectKept(result, kept);
  scopeHooks.beforeFree([...s].filter((t) => !kept.has(t)), kept);
  const parent = scopes[scopes.length - 1];
  for (const t of s) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
}
