import { TridentError } from "../core/errors.js";
import type { Backend } from "./backend.js";

type Loader = () => Backend | Promise<Backend>;

// Backends register loaders, not instances, so nothing heavy runs at import time.
const loaders = new Map<string, Loader>();
const loaded = new Map<string, Backend>();
let current: Backend | null = null;
// the design's default CPU backend; ref is the readable reference the others are tested against
let defaultName = "wasm";

export function registerBackend(name: string, loader: Loader): void {
  loaders.set(name, loader);
}

export function backendNames(): string[] {
  return [...loaders.keys()];
}

/**
 * Load (if needed) and select a backend: `await tr.setBackend("ref")`. A backend that loads synchronously
 * (ref, wasm) is selected before this returns, so code that forgets the `await` still runs on it.
 */
export function setBackend(name: string): Promise<Backend> {
  const have = loaded.get(name);
  if (have) {
    current = have;
    return Promise.resolve(have);
  }
  const loader = loaders.get(name);
  if (!loader) return Promise.reject(new TridentError(`setBackend: unknown backend "${name}"; registered: ${backendNames().join(", ")}`));
  let r: Backend | Promise<Backend>;
  try {
    r = loader();
  } catch (e) {
    return Promise.reject(e);
  }
  if (!(r instanceof Promise)) {
    loaded.set(name, r);
    current = r;
    return Promise.resolve(r);
  }
  return r.then((b) => {
    loaded.set(name, b);
    current = b;
    return b;
  });
}

/** Synchronously select an already loaded (or synchronously loadable) backend. */
export function setBackendSync(name: string): Backend {
  let b = loaded.get(name);
  if (!b) {
    const loader = loaders.get(name);
    if (!loader) throw new TridentError(`setBackend: unknown backend "${name}"; registered: ${backendNames().join(", ")}`);
    const r = loader();
    if (r instanceof Promise) throw new TridentError(`setBackend: backend "${name}" loads asynchronously; use await tr.setBackend("${name}")`);
    b = r;
    loaded.set(name, b);
  }
  current = b;
  return b;
}

export function getBackend(): Backend {
  return current ?? setBackendSync(defaultName);
}

export function loadedBackends(): Backend[] {
  return [...loaded.values()];
}
