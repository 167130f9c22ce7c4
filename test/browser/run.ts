/**
 * `npm run test:browser`: the test suites in headless Chromium, on every backend the suites loop over
 * (ref and wasm). esbuild bundles each browser-capable suite with shims for node:test, node:assert and
 * the fixture-reading parts of node:fs/url/path; a local server on 127.0.0.1 serves them cross-origin
 * isolated; the suites run in a module Web Worker and report each result back here. Exits 1 on any
 * failure; exits 0 with a note when /usr/bin/chromium is not installed.
 *
 *   npm run test:browser -- [--only conformance/fixtures,core] [--timeout 900] [--verbose] [--chromium path]
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { serve } from "./server.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const SHIMS: Record<string, string> = {
  "node:test": "node-test.ts",
  "node:assert": "assert.ts",
  "node:assert/strict": "assert.ts",
  "node:fs": "fs.ts",
  "node:fs/promises": "fs-promises.ts",
  "node:url": "url.ts",
  "node:path": "path.ts",
};

/** Single tests that need Node inside otherwise browser-capable suites: reported as skipped, with why. */
const NODE_ONLY_TESTS: { suite: string; pattern: string; why: string }[] = [
  { suite: "data/data", pattern: "bundled MNIST", why: "the bundled MNIST loads its data files through node:module" },
];

interface Args {
  chromium: string;
  only: string[] | null;
  timeoutS: number;
  verbose: boolean;
}

function parseArgs(argv = process.argv.slice(2)): Args {
  const a: Args = { chromium: "/usr/bin/chromium", only: null, timeoutS: 900, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === "--only") a.only = argv[++i]!.split(",").filter(Boolean);
    else if (x === "--timeout") a.timeoutS = Number(argv[++i]);
    else if (x === "--chromium") a.chromium = argv[++i]!;
    else if (x === "--verbose") a.verbose = true;
    else throw new Error(`test:browser: unknown argument ${x}`);
  }
  return a;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/**
 * Why a suite cannot run in a browser, or null: a node: module without a shim among the static
 * imports it reaches (dynamic imports in src/ are Node-only branches and stay out of the way).
 */
function browserBlocker(file: string, seen = new Set<string>()): string | null {
  if (seen.has(file)) return null;
  seen.add(file);
  const src = readFileSync(file, "utf8");
  const inTests = file.startsWith(join(ROOT, "test"));
  const specs: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']/g)) specs.push(m[1]!);
  for (const m of src.matchAll(/(?:^|\n)\s*import\s*["']([^"']+)["']/g)) specs.push(m[1]!);
  if (inTests) for (const m of src.matchAll(/import\(\s*["'](node:[^"']+)["']\s*\)/g)) specs.push(m[1]!);
  for (const s of specs) {
    if (s.startsWith("node:")) {
      if (!(s in SHIMS)) return `${s} (${relative(ROOT, file)})`;
      continue;
    }
    if (!s.startsWith(".")) continue;
    const target = resolve(dirname(file), s).replace(/\.js$/, ".ts");
    if (!existsSync(target)) continue;
    const why = browserBlocker(target, seen);
    if (why) return why;
  }
  return null;
}

async function build(suites: string[], outdir: string): Promise<Record<string, string>> {
  const esbuild = await import("esbuild");
  const shimDir = join(HERE, "shims");
  const entries: Record<string, string> = { harness: join(HERE, "harness.ts"), probe: join(HERE, "probe.ts") };
  const urls: Record<string, string> = {};
  suites.forEach((f, i) => {
    const name = `suites/s${i}`;
    entries[name] = f;
    urls[f] = `/bundle/${name}.js`;
  });
  await esbuild.build({
    entryPoints: entries,
    bundle: true,
    // module reprs print class names (PyTorch style); keep them through bundling
    keepNames: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outdir,
    chunkNames: "chunks/[name]-[hash]",
    sourcemap: "linked",
    logLevel: "error",
    plugins: [
      {
        name: "trident-browser-tests",
        setup(b) {
          b.onResolve({ filter: /^node:/ }, (a) => {
            const shim = SHIMS[a.path];
            if (shim) return { path: join(shimDir, shim) };
            // Node-only branches import builtins lazily; they never run in the page
            if (a.kind === "dynamic-import") return { path: a.path, external: true };
            return { path: a.path, namespace: "node-stub" };
          });
          b.onLoad({ filter: /.*/, namespace: "node-stub" }, (a) => ({
            loader: "js",
            contents: `module.exports = new Proxy({}, { get: (_, k) => typeof k === "symbol" || k === "__esModule" || k === "default" || k === "then" ? undefined : () => { throw new Error(${JSON.stringify(`${a.path} is not available in the browser`)}); } });`,
          }));
          // each file keeps its own location, so relative fixture paths resolve as under Node
          b.onLoad({ filter: /\.ts$/ }, (a) => {
            if (a.path.includes(`${"/"}node_modules${"/"}`)) return undefined;
            const src = readFileSync(a.path, "utf8");
            if (!src.includes("import.meta.url")) return undefined;
            return { loader: "ts", contents: src.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(a.path).href)) };
          });
        },
      },
    ],
  });
  return urls;
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Trident browser tests</title>
<script type="module">
const report = (m) => window.__report(m);
window.__probe = async () => (await import("/bundle/probe.js")).probeMainThread();
window.__start = (suites) => {
  const w = new Worker("/bundle/harness.js", { type: "module" });
  w.onmessage = (e) => {
    if (e.data.type === "ready") w.postMessage({ suites });
    else report(e.data);
  };
  w.onerror = (e) => report({ type: "fatal", error: e.message || "the test worker failed to load" });
};
</script>
`;

interface Result {
  type: "result";
  file: string;
  path: string[];
  name: string;
  status: "pass" | "fail" | "skip" | "todo";
  ms: number;
  error?: string;
}

const backendOf = (r: Result): string => {
  for (const p of [...r.path, r.name]) {
    const m = /[[(](ref|wasm|webgpu)[\])]/.exec(p);
    if (m) return m[1]!;
  }
  return "—";
};

async function main(): Promise<number> {
  const args = parseArgs();
  if (!existsSync(args.chromium)) {
    console.log(`test:browser: skipped, ${args.chromium} is not installed (apt-get install -y chromium)`);
    return 0;
  }
  const all = walk(join(ROOT, "test")).filter((f) => f.endsWith(".test.ts") && !f.startsWith(HERE)).sort();
  const suites: string[] = [];
  const excluded: string[] = [];
  for (const f of all) {
    const rel = relative(join(ROOT, "test"), f).replace(/\.test\.ts$/, "");
    if (args.only && !args.only.some((o) => rel.includes(o))) continue;
    const why = browserBlocker(f);
    if (why) excluded.push(`${rel}: imports ${why}`);
    else suites.push(f);
  }
  if (excluded.length) console.log(`Node-only suites left out:\n${excluded.map((e) => `  - ${e}`).join("\n")}`);
  if (!suites.length) {
    console.log("test:browser: no suite selected");
    return 1;
  }
  const outdir = mkdtempSync(join(tmpdir(), "trident-browser-"));
  const t0 = performance.now();
  let failures = 0;
  const counts = new Map<string, Record<Result["status"], number>>();
  const perFile = new Map<string, { pass: number; fail: number; skip: number }>();
  const failed: Result[] = [];
  const unhandled: string[] = [];
  try {
    const urls = await build(suites, outdir);
    console.log(`bundled ${suites.length} suites in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const site = await serve(PAGE, outdir, [ROOT]);
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: args.chromium,
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      page.on("pageerror", (e) => unhandled.push(`page: ${e.message}`));
      if (args.verbose) page.on("console", (m) => console.log(`  [browser ${m.type()}] ${m.text()}`));
      let finish!: (why: string) => void;
      const finished = new Promise<string>((ok) => (finish = ok));
      await page.exposeFunction("__report", (m: { type: string } & Record<string, unknown>) => {
        if (m.type === "env") {
          console.log(`${String(m.userAgent).match(/Chrome\/[\d.]+/)?.[0] ?? "browser"}: crossOriginIsolated=${m.crossOriginIsolated}, SharedArrayBuffer=${m.sharedArrayBuffer}, cores=${m.cores}, wasm backend threads=${m.wasmThreads}; suites run in a module worker`);
        } else if (m.type === "result") {
          const r = m as unknown as Result;
          const b = backendOf(r);
          const c = counts.get(b) ?? { pass: 0, fail: 0, skip: 0, todo: 0 };
          c[r.status]++;
          counts.set(b, c);
          const f = perFile.get(r.file) ?? { pass: 0, fail: 0, skip: 0 };
          if (r.status === "pass") f.pass++;
          else if (r.status === "fail") f.fail++;
          else f.skip++;
          perFile.set(r.file, f);
          if (r.status === "fail") {
            failures++;
            failed.push(r);
            console.log(`  ✗ ${relative(ROOT, r.file)} › ${[...r.path, r.name].join(" › ")}\n      ${(r.error ?? "").split("\n").join("\n      ")}`);
          } else if (args.verbose || r.error) console.log(`  ${r.status === "pass" ? "✓" : "-"} ${relative(ROOT, r.file)} › ${[...r.path, r.name].join(" › ")}${r.error ? ` (skipped: ${r.error})` : ""}`);
        } else if (m.type === "suite") {
          const f = perFile.get(m.file as string) ?? { pass: 0, fail: 0, skip: 0 };
          console.log(`${f.fail ? "FAIL" : "ok  "} ${relative(ROOT, m.file as string)}  ${f.pass} passed, ${f.fail} failed${f.skip ? `, ${f.skip} skipped` : ""}  (${((m.ms as number) / 1000).toFixed(1)} s)`);
        } else if (m.type === "unhandled") {
          unhandled.push(String(m.error));
        } else if (m.type === "fatal") {
          unhandled.push(`worker: ${String(m.error)}`);
          finish("fatal");
        } else if (m.type === "done") {
          console.log(`wasm worker threads handed ${m.handedBack} kernel chunk(s) back to the calling thread`);
          finish("done");
        }
      });
      await page.goto(`${site.origin}/`);
      const probe = (await page.evaluate("window.__probe()")) as { ok: boolean; detail: string };
      console.log(`main-thread probe of the wasm backend: ${probe.ok ? "works" : "fails"} (${probe.detail})`);
      const skipsOf = (f: string) => NODE_ONLY_TESTS.filter((k) => relative(join(ROOT, "test"), f).replace(/\.test\.ts$/, "") === k.suite);
      await page.evaluate(`window.__start(${JSON.stringify(suites.map((f) => ({ file: f, url: urls[f], skip: skipsOf(f) })))})`);
      const timer = setTimeout(() => finish("timeout"), args.timeoutS * 1000);
      const how = await finished;
      clearTimeout(timer);
      if (how === "timeout") unhandled.push(`timed out after ${args.timeoutS} s`);
    } finally {
      await browser.close();
      await site.close();
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
  const total = { pass: 0, fail: 0, skip: 0, todo: 0 };
  console.log("\nper backend:");
  for (const [b, c] of [...counts].sort()) {
    console.log(`  ${b.padEnd(6)} ${c.pass} passed, ${c.fail} failed, ${c.skip + c.todo} skipped`);
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += c[k];
  }
  for (const u of unhandled) console.log(`error outside a test: ${u}`);
  console.log(`\n${total.pass} passed, ${total.fail} failed, ${total.skip + total.todo} skipped in ${perFile.size} suites (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  return failures || unhandled.length || total.pass === 0 ? 1 : 0;
}

process.exitCode = await main();
