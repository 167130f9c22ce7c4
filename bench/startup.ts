/**
 * "import + first op": wall time from spawning a fresh process to the first result read back, the
 * runtime's own start-up included (the bare runtime's start-up is reported alongside). Trident is
 * measured from an esbuild bundle of src/index.ts, what an application would load, rather than
 * through tsx's on-the-fly TypeScript compilation.
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { findPython } from "./lib/python.js";
import { encodeModel } from "./lib/onnx.js";

export interface StartupResult {
  runner: string;
  ms: number | null;
  samples: number;
  note?: string;
}

// y = x + x, serialised here so that the child process loads nothing but onnxruntime
const ADD_MODEL = Buffer.from(encodeModel({ nodes: [{ op: "Add", inputs: ["x", "x"], outputs: ["y"] }], inputs: [{ name: "x", shape: [3] }], outputs: [{ name: "y", shape: [3] }] })).toString("base64");

function snippets(bundle: string): Record<string, { cmd: string; args: string[] } | null> {
  const node = (code: string) => ({ cmd: process.execPath, args: ["--input-type=module", "-e", code] });
  const done = "console.log('STARTUP ' + (Date.now() - Number(process.env.BENCH_T0)));";
  const numpy = findPython("numpy"), torch = findPython("torch");
  const py = (bin: string | null, code: string) => (bin ? { cmd: bin, args: ["-c", `import os, time\n${code}\nprint('STARTUP', time.time() * 1000 - float(os.environ['BENCH_T0']))`] } : null);
  return {
    "node (bare)": node(done),
    "trident-wasm": node(`const tr = await import(${JSON.stringify(bundle)}); await tr.setBackend("wasm"); tr.tensor([1, 2, 3]).mul(2).dataSync(); ${done}`),
    // tfjs-core rather than the @tensorflow/tfjs umbrella (layers, converter, webgl): the lightest wasm setup
    "tfjs-wasm-1t": node(`const tf = await import("@tensorflow/tfjs-core"); await import("@tensorflow/tfjs-backend-wasm"); await tf.setBackend("wasm"); tf.mul(tf.tensor([1, 2, 3]), 2).dataSync(); ${done}`),
    "jax-wasm-1t": node(`const { numpy: np } = await import("@jax-js/jax"); await np.array([1, 2, 3]).mul(2).data(); ${done}`),
    ort: node(`const ort = await import("onnxruntime-node"); const s = await ort.InferenceSession.create(Buffer.from("${ADD_MODEL}", "base64")); ` +
      `(await s.run({ x: new ort.Tensor("float32", new Float32Array([1, 2, 3]), [3]) })).y.data; ${done}`),
    "python (bare)": py(numpy ?? torch, ""),
    numpy: py(numpy, "import numpy as np\n(np.array([1, 2, 3], dtype=np.float32) * 2).tolist()"),
    torch: py(torch, "import torch\n(torch.tensor([1.0, 2.0, 3.0]) * 2).tolist()"),
  };
}

function once(cmd: string, args: string[], cwd: string): Promise<number | string> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, BENCH_T0: String(t0) }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("close", () => {
      clearTimeout(timer);
      const m = /STARTUP ([\d.]+)/.exec(out);
      resolve(m ? Number(m[1]) : `failed: ${err.trim().split("\n").slice(-1)[0] ?? "no output"}`);
    });
  });
}

/** Build the Trident bundle that the start-up row imports. */
async function bundleTrident(root: string): Promise<string> {
  const { build } = await import("esbuild");
  const dir = join(root, "bench", "results", ".build");
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, "trident.mjs");
  await build({ entryPoints: [join(root, "src", "index.ts")], bundle: true, format: "esm", platform: "node", target: "node20", outfile, logLevel: "error" });
  return outfile;
}

/** Median start-up per runner present in this run, plus the bare runtimes for reference. */
export async function measureStartups(root: string, runners: string[], runs: number, notes: string[]): Promise<StartupResult[]> {
  const bundle = await bundleTrident(root);
  const all = snippets(bundle);
  const results: StartupResult[] = [];
  const usesPython = runners.includes("numpy") || runners.includes("torch");
  const names = Object.keys(all).filter((n) => runners.includes(n) || n === "node (bare)" || (n === "python (bare)" && usesPython));
  for (const name of names) {
    const s = all[name];
    if (!s) continue;
    const times: number[] = [];
    let failure = "";
    for (let i = 0; i < runs; i++) {
      const r = await once(s.cmd, s.args, root);
      if (typeof r === "string") {
        failure = r;
        break;
      }
      times.push(r);
    }
    times.sort((a, b) => a - b);
    const ms = times.length ? times[times.length >> 1]! : null;
    results.push({ runner: name, ms, samples: times.length, note: failure || undefined });
    if (failure) notes.push(`import + first op, ${name}: ${failure}`);
    process.stderr.write(`  startup ${name}: ${ms === null ? failure : `${ms.toFixed(0)} ms`}\n`);
  }
  const bare = results.filter((r) => r.runner.includes("(bare)") && r.ms !== null).map((r) => `${r.runner} ${r.ms!.toFixed(0)} ms`);
  if (bare.length) notes.push(`import + first op includes the runtime's own start-up: ${bare.join(", ")}; Trident is an esbuild bundle of src/index.ts`);
  return results;
}
