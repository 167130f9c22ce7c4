/**
 * Runs in a module Web Worker of the test page (the backends compile WebAssembly synchronously, which
 * browsers allow off the main thread only): imports each suite bundle, runs what it registered through
 * the node:test shim, and posts every result to the page, which hands it to the Node runner.
 */
import * as tr from "../../src/index.js";
import { resetRegistry, runRegistered } from "./shims/node-test.js";

/** Threads the wasm backend runs with in this worker (its pool starts asynchronously). */
async function wasmThreads(): Promise<number | string> {
  const prev = tr.getBackend().name;
  try {
    const b = (await tr.setBackend("wasm")) as { ready?(): Promise<void>; getThreads?(): number };
    await b.ready?.();
    return b.getThreads?.() ?? "?";
  } catch (e) {
    return `unavailable (${e instanceof Error ? e.message : String(e)})`;
  } finally {
    await tr.setBackend(prev);
  }
}

interface Suite {
  file: string;
  url: string;
  /** Tests that need Node: a regular expression source over "describe › … › test", and why. */
  skip: { pattern: string; why: string }[];
}

const post = (m: unknown): void => (self as unknown as { postMessage(m: unknown): void }).postMessage(m);
const text = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}\n${(e.stack ?? "").split("\n").slice(1, 6).join("\n")}` : String(e));

self.addEventListener("unhandledrejection", (e) => post({ type: "unhandled", error: text((e as PromiseRejectionEvent).reason) }));
self.addEventListener("error", (e) => post({ type: "unhandled", error: text((e as ErrorEvent).error ?? (e as ErrorEvent).message) }));

self.addEventListener("message", (e: MessageEvent) => {
  void (async () => {
    const { suites } = e.data as { suites: Suite[] };
    const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number; userAgent?: string } };
    post({ type: "env", crossOriginIsolated: g.crossOriginIsolated === true, sharedArrayBuffer: typeof SharedArrayBuffer !== "undefined", cores: g.navigator?.hardwareConcurrency ?? 0, wasmThreads: await wasmThreads(), userAgent: g.navigator?.userAgent ?? "" });
    for (const s of suites) {
      resetRegistry();
      const t0 = performance.now();
      try {
        await import(s.url);
      } catch (err) {
        post({ type: "result", file: s.file, path: [], name: "<loading the suite>", status: "fail", ms: performance.now() - t0, error: text(err) });
        post({ type: "suite", file: s.file, ms: performance.now() - t0 });
        continue;
      }
      const rules = s.skip.map((k) => ({ re: new RegExp(k.pattern), why: k.why }));
      const skip = (path: string[], name: string): string | null => rules.find((k) => k.re.test([...path, name].join(" › ")))?.why ?? null;
      await runRegistered((r) => post({ type: "result", file: s.file, ...r }), skip);
      post({ type: "suite", file: s.file, ms: performance.now() - t0 });
    }
    // chunks the wasm backend's workers handed back to this thread (a worker behind a memory growth)
    const wasm = (await tr.setBackend("wasm")) as { handedBack?: number };
    post({ type: "done", handedBack: wasm.handedBack ?? 0 });
  })();
});
post({ type: "ready" });
