/**
 * A browser-style `Worker` over Node's `worker_threads`, so that libraries which only thread when
 * `globalThis.Worker` exists (jax-js's wasm pool, tfjs's Emscripten pthreads) can be measured at
 * their best in Node. Install it before importing the library: `installWorkerShim()`.
 *
 * What it covers: `new Worker(url, opts)` for `blob:` URLs made by `URL.createObjectURL`, `data:`
 * URLs, `file:` URLs and paths; classic and module sources without imports; the browser side
 * (`onmessage`/`onerror`/`addEventListener`, `{data}` events) and the Node side (`on("message")`,
 * `unref`), because Emscripten in Node drives workers with the Node API even when it got the
 * worker from the global. Blobs inside messages become `data:` URLs that the worker's
 * `importScripts` can load synchronously.
 */
import { Worker as NodeWorker, type TransferListItem } from "node:worker_threads";
import { EventEmitter } from "node:events";
import { resolveObjectURL } from "node:buffer";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";

// Runs first in every worker: browser globals, then waits for the real source as its first message.
const BOOT = String.raw`
const { parentPort } = require("worker_threads");
const fs = require("fs");
const vm = require("vm");
globalThis.self = globalThis;
globalThis.global = globalThis;
globalThis.require = require;
globalThis.postMessage = (msg, transfer) => parentPort.postMessage(msg, transfer);
globalThis.close = () => process.exit(0);
if (typeof navigator === "undefined" || !navigator.hardwareConcurrency) {
  Object.defineProperty(globalThis, "navigator", { value: { hardwareConcurrency: require("os").availableParallelism() }, configurable: true });
}
const listeners = [];
globalThis.addEventListener = (type, fn) => { if (type === "message") listeners.push(fn); };
globalThis.removeEventListener = (type, fn) => { const i = listeners.indexOf(fn); if (i >= 0) listeners.splice(i, 1); };
const runText = (text, name) => vm.runInThisContext(text, { filename: name });
function dataUrlText(url) {
  const comma = url.indexOf(",");
  const meta = url.slice(5, comma), body = url.slice(comma + 1);
  return meta.endsWith(";base64") ? Buffer.from(body, "base64").toString("utf8") : decodeURIComponent(body);
}
parentPort.once("message", ({ source, name }) => {
  const before = parentPort.listenerCount("message");
  // CommonJS names for sources written for Node workers (Emscripten's pthread worker uses them)
  const wrapped = "(function (require, __filename, __dirname, module, exports) {" + source + "\n})";
  runText(wrapped, name)(require, name, process.cwd(), { exports: {} }, {});
  const importScripts = globalThis.importScripts;
  globalThis.importScripts = (...urls) => {
    for (const u of urls) {
      if (typeof u === "string" && u.startsWith("data:")) runText(dataUrlText(u), "importScripts-data");
      else if (importScripts) importScripts(u);
      else runText(fs.readFileSync(u.startsWith("file:") ? new URL(u) : u, "utf8"), u);
    }
  };
  // a source that listens on parentPort itself is Node-style; otherwise deliver browser-style events
  if (parentPort.listenerCount("message") === before) {
    parentPort.on("message", (data) => {
      const ev = { data, target: globalThis };
      if (typeof globalThis.onmessage === "function") globalThis.onmessage(ev);
      for (const fn of listeners) fn(ev);
    });
  }
  parentPort.postMessage({ __shimReady: true });
});
`;

type Listener = (ev: { data: unknown }) => void;

async function sourceOf(url: string | URL): Promise<string> {
  const s = String(url);
  if (s.startsWith("blob:")) {
    const blob = resolveObjectURL(s);
    if (!blob) throw new Error(`Worker shim: ${s} was revoked or never created`);
    return blob.text();
  }
  if (s.startsWith("data:")) {
    const comma = s.indexOf(",");
    const meta = s.slice(5, comma), body = s.slice(comma + 1);
    return meta.endsWith(";base64") ? Buffer.from(body, "base64").toString("utf8") : decodeURIComponent(body);
  }
  return readFileSync(s.startsWith("file:") ? fileURLToPath(s) : s, "utf8");
}

function hasBlob(msg: unknown): boolean {
  if (msg instanceof Blob) return true;
  if (msg === null || typeof msg !== "object" || Object.getPrototypeOf(msg) !== Object.prototype) return false;
  return Object.values(msg).some((v) => v instanceof Blob);
}

// Blobs cannot be read synchronously in the worker, so they travel as data: URLs.
async function materialiseBlobs(msg: unknown): Promise<unknown> {
  if (msg === null || typeof msg !== "object" || ArrayBuffer.isView(msg) || msg instanceof ArrayBuffer) return msg;
  if (msg instanceof Blob) return `data:text/javascript;base64,${Buffer.from(await msg.arrayBuffer()).toString("base64")}`;
  if (Object.getPrototypeOf(msg) !== Object.prototype) return msg;
  const out: Record<string, unknown> = {};
  let changed = false;
  for (const [k, v] of Object.entries(msg)) {
    out[k] = v instanceof Blob ? await materialiseBlobs(v) : v;
    changed ||= out[k] !== v;
  }
  return changed ? out : msg;
}

/** A `Worker` with the browser's constructor and events, backed by a `worker_threads` worker. */
export class ShimWorker extends EventEmitter {
  onmessage: Listener | null = null;
  onerror: ((e: { message: string; error: unknown }) => void) | null = null;
  onmessageerror: Listener | null = null;
  private readonly w: NodeWorker;
  private readonly browserListeners = new Set<Listener>();
  private queue: Promise<void>;
  // posts wait behind the source and behind Blob reads; otherwise they go out synchronously,
  // because Emscripten's main thread may block on Atomics right after posting "run"
  private pending = 0;

  constructor(url: string | URL, _opts?: { type?: string; name?: string }) {
    super();
    this.w = new NodeWorker(BOOT, { eval: true });
    const ready = new Promise<void>((resolve) => {
      const first = (m: unknown) => {
        if ((m as { __shimReady?: boolean } | null)?.__shimReady) {
          this.w.off("message", first);
          this.w.on("message", (d) => this.deliver(d));
          resolve();
        }
      };
      this.w.on("message", first);
    });
    this.w.on("error", (error: Error) => {
      if (this.listenerCount("error") > 0) this.emit("error", error);
      else if (this.onerror) this.onerror({ message: error.message, error });
      else console.error("worker error:", error);
    });
    // sources load asynchronously, so messages posted meanwhile wait in order behind them
    this.pending++;
    this.queue = sourceOf(url).then((source) => {
      this.w.postMessage({ source, name: String(url) });
      return ready;
    }).finally(() => { this.pending--; });
    this.queue.catch((e: unknown) => this.onerror?.({ message: String(e), error: e }));
  }

  private deliver(data: unknown): void {
    // Node-style users (Emscripten) attach "message" listeners and route events themselves
    if (this.listenerCount("message") > 0) {
      this.emit("message", data);
      return;
    }
    const ev = { data, target: this };
    this.onmessage?.(ev);
    for (const fn of this.browserListeners) fn(ev);
  }

  postMessage(msg: unknown, transfer?: readonly TransferListItem[] | { transfer?: TransferListItem[] }): void {
    const list = Array.isArray(transfer) ? transfer : (transfer as { transfer?: TransferListItem[] } | undefined)?.transfer;
    if (this.pending === 0 && !hasBlob(msg)) {
      this.w.postMessage(msg, list);
      return;
    }
    this.pending++;
    this.queue = this.queue.then(async () => this.w.postMessage(await materialiseBlobs(msg), list)).finally(() => { this.pending--; });
  }

  addEventListener(type: string, fn: Listener): void {
    if (type === "message") this.browserListeners.add(fn);
    else if (type === "error") this.on("error", fn);
  }

  removeEventListener(type: string, fn: Listener): void {
    if (type === "message") this.browserListeners.delete(fn);
    else if (type === "error") this.off("error", fn);
  }

  terminate(): Promise<number> {
    return this.w.terminate();
  }

  unref(): this {
    this.w.unref();
    return this;
  }

  ref(): this {
    this.w.ref();
    return this;
  }
}

/**
 * Make `Worker` (and `navigator.hardwareConcurrency`) global. The binding ignores later writes,
 * because Emscripten's Node path assigns `worker_threads.Worker` over the global when it starts.
 */
export function installWorkerShim(): void {
  Object.defineProperty(globalThis, "Worker", { get: () => ShimWorker, set: () => {}, configurable: true });
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (!nav?.hardwareConcurrency) {
    Object.defineProperty(globalThis, "navigator", { value: { ...nav, hardwareConcurrency: availableParallelism() }, configurable: true });
  }
}

/** Workers keep Node alive; benchmarks end their children with this once results are printed. */
export function exitSoon(code = 0): void {
  setTimeout(() => process.exit(code), 10).unref();
}
