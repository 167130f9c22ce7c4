/**
 * Runs in a module Web Worker of the test page (the backends compile WebAssembly synchronously, which
 * browsers allow off the main thread only): imports each suite bundle, runs what it registered through
 * the node:test shim, and posts every result to the page, which hands it to the Node runner.
 */
import { resetRegistry, runRegistered } from "./shims/node-test.js";

interface Suite {
  file: string;
  url: string;
}

const post = (m: unknown): void => (self as unknown as { postMessage(m: unknown): void }).postMessage(m);
const text = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}\n${(e.stack ?? "").split("\n").slice(1, 6).join("\n")}` : String(e));

self.addEventListener("unhandledrejection", (e) => post({ type: "unhandled", error: text((e as PromiseRejectionEvent).reason) }));
self.addEventListener("error", (e) => post({ type: "unhandled", error: text((e as ErrorEvent).error ?? (e as ErrorEvent).message) }));

self.addEventListener("message", (e: MessageEvent) => {
  void (async () => {
    const { suites } = e.data as { suites: Suite[] };
    const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number; userAgent?: string } };
    post({ type: "env", crossOriginIsolated: g.crossOriginIsolated === true, sharedArrayBuffer: typeof SharedArrayBuffer !== "undefined", cores: g.navigator?.hardwareConcurrency ?? 0, userAgent: g.navigator?.userAgent ?? "" });
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
      await runRegistered((r) => post({ type: "result", file: s.file, ...r }));
      post({ type: "suite", file: s.file, ms: performance.now() - t0 });
    }
    post({ type: "done" });
  })();
});
post({ type: "ready" });
