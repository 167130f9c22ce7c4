import { TridentError } from "./core/errors.js";
import { getBackend, loadedBackends, setBackend } from "./backend/registry.js";

export interface Config {
  /** The backend new tensors are created on ("ref", "wasm", ...). */
  backend: string;
  /** Worker threads for backends that use them (0 = one per core). */
  threads: number;
}

const state: Config = { backend: "", threads: 0 };

interface Threaded {
  setThreads(n: number): void | Promise<void>;
}
const threaded = (b: unknown): b is Threaded => typeof (b as Partial<Threaded>).setThreads === "function";

/**
 * Read or change settings: `await tr.config({ backend: "wasm", threads: 2 })`. Configuration is an
 * explicit object; the library reads no environment variables.
 */
export async function config(update: Partial<Config> = {}): Promise<Config> {
  for (const k of Object.keys(update)) {
    if (!(k in state)) throw new TridentError(`config: unknown option "${k}" (known: ${Object.keys(state).join(", ")})`);
  }
  if (update.threads !== undefined) {
    if (!Number.isInteger(update.threads) || update.threads < 0) throw new TridentError(`config: threads must be a non-negative integer, got ${update.threads}`);
    state.threads = update.threads;
  }
  if (update.backend !== undefined) await setBackend(update.backend);
  if (update.threads !== undefined) for (const b of loadedBackends()) if (threaded(b)) await b.setThreads(state.threads);
  return { ...state, backend: getBackend().name };
}
