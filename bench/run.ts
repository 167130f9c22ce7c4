/**
 * `npm run bench`: Trident against its peers on the same machine in one run, each runner in a fresh
 * process so threads, heaps and JIT state do not leak between them. Prints a table with Trident's
 * speed-up over each peer and writes everything to bench/results/ (git-ignored).
 *
 *   npm run bench -- [--quick] [--only matmul256,gelu] [--runners trident-wasm,ort] [--no-startup]
 *
 * Runners: trident-wasm, trident-ref (cheap rows), tfjs-wasm-1t, tfjs-wasm-mt, jax-wasm-1t,
 * jax-wasm-mt, ort, numpy, torch (the last two when some python3 has them; skipped with a note).
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join, relative } from "node:path";
import { SIZES, WORKLOADS, type Cell, type RunnerReport } from "./workloads.js";
import { fmt } from "./lib/timing.js";
import { measureStartups, type StartupResult } from "./startup.js";
import { findPython } from "./lib/python.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS = join(ROOT, "bench", "results");

interface Options {
  quick: boolean;
  only: string[] | null;
  runners: string[] | null;
  startup: boolean;
  timeoutS: number;
}

function options(argv = process.argv.slice(2)): Options {
  const o: Options = { quick: false, only: null, runners: null, startup: true, timeoutS: 1200 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") o.quick = true;
    else if (a === "--only") o.only = argv[++i]!.split(",");
    else if (a === "--runners") o.runners = argv[++i]!.split(",");
    else if (a === "--no-startup") o.startup = false;
    else if (a === "--timeout") o.timeoutS = Number(argv[++i]);
    else if (a === "--help" || a === "-h") {
      console.log("npm run bench -- [--quick] [--only ids] [--runners names] [--no-startup] [--timeout seconds-per-runner]");
      console.log(`workloads: ${WORKLOADS.map((w) => w.id).join(", ")}`);
      process.exit(0);
    } else throw new Error(`bench: unknown argument ${a}`);
  }
  return o;
}

interface RunnerSpec {
  name: string;
  cmd: string[];
}

function runnerSpecs(o: Options, notes: string[]): RunnerSpec[] {
  const tsx = [process.execPath, "--import", "tsx"];
  const peer = (f: string) => join("bench", "peers", f);
  const specs: RunnerSpec[] = [
    { name: "trident-wasm", cmd: [...tsx, peer("trident.ts"), "--backend", "wasm"] },
    { name: "trident-ref", cmd: [...tsx, peer("trident.ts"), "--backend", "ref"] },
    { name: "tfjs-wasm-1t", cmd: [...tsx, peer("tfjs.ts"), "--threads", "1"] },
    { name: "tfjs-wasm-mt", cmd: [...tsx, peer("tfjs.ts"), "--threads", "mt"] },
    { name: "jax-wasm-1t", cmd: [...tsx, peer("jax.ts"), "--threads", "1"] },
    { name: "jax-wasm-mt", cmd: [...tsx, peer("jax.ts"), "--threads", "mt"] },
    { name: "ort", cmd: [...tsx, peer("ort.ts")] },
  ];
  const wanted = (n: string) => !o.runners || o.runners.includes(n);
  for (const lib of ["numpy", "torch"]) {
    if (!wanted(lib)) continue;
    const py = findPython(lib);
    if (!py) {
      notes.push(`${lib}: skipped, no python3 on this machine imports it`);
      continue;
    }
    specs.push({ name: lib, cmd: [py, peer("python_peer.py"), "--lib", lib, "--spec", JSON.stringify(SIZES)] });
  }
  return specs.filter((s) => wanted(s.name));
}

/** Run one runner process, streaming its progress lines, and parse its RESULT line. */
function runRunner(spec: RunnerSpec, o: Options): Promise<RunnerReport> {
  const args = [...spec.cmd.slice(1)];
  if (o.quick) args.push("--quick");
  if (o.only) args.push("--only", o.only.join(","));
  return new Promise((resolve) => {
    const child = spawn(spec.cmd[0]!, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      const s = d.toString();
      err += s;
      for (const line of s.split("\n")) if (line.startsWith("  ")) process.stderr.write(`${line}\n`);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutS * 1000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (line) return resolve(JSON.parse(line.slice(7)) as RunnerReport);
      const why = signal ? `killed (${signal}${signal === "SIGKILL" ? `, over ${o.timeoutS} s` : ""})` : `exit ${code}`;
      const tail = err.trim().split("\n").filter((l) => !l.startsWith("  ")).slice(-3).join(" | ");
      resolve({ runner: spec.name, info: {}, cells: {}, skipped: { "*": `runner failed: ${why}${tail ? `: ${tail}` : ""}` } });
    });
  });
}

/** Trident's speed-up over a peer: >1 means Trident is faster. */
function speedup(unit: string, tri: Cell, peer: Cell): number {
  return unit === "GFLOP/s" ? tri.value / peer.value : peer.value / tri.value;
}

function table(reports: RunnerReport[]): string {
  const tri = reports.find((r) => r.runner === "trident-wasm");
  const rows: string[][] = [["workload", "unit", ...reports.map((r) => r.runner)]];
  for (const w of WORKLOADS) {
    const row = [w.label, w.unit];
    for (const r of reports) {
      const c = r.cells[w.id], t = tri?.cells[w.id];
      row.push(!c ? "—" : t && r !== tri ? `${fmt(c.value)} (${fmt(speedup(w.unit, t, c))}×)` : fmt(c.value));
    }
    if (row.slice(2).some((x) => x !== "—")) rows.push(row);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => (i < 2 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

function skippedNotes(reports: RunnerReport[]): string[] {
  const notes: string[] = [];
  for (const r of reports) {
    const reasons = new Map<string, string[]>();
    for (const [id, why] of Object.entries(r.skipped)) reasons.set(why, [...(reasons.get(why) ?? []), id]);
    for (const [why, ids] of reasons) notes.push(`${r.runner}: ${ids.join(", ")}: ${why}`);
  }
  return notes;
}

async function main(): Promise<void> {
  const o = options();
  const notes: string[] = [];
  const load0 = os.loadavg();
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`Trident bench — ${cpu}, ${os.availableParallelism()} threads, node ${process.version}, load ${load0.map((x) => x.toFixed(1)).join(" ")}${o.quick ? " (quick)" : ""}`);
  if (load0[0]! > os.availableParallelism() * 0.5) console.log("warning: the machine is busy; numbers will be noisy, rerun when it is quiet");
  const specs = runnerSpecs(o, notes);
  const reports: RunnerReport[] = [];
  for (const s of specs) {
    process.stderr.write(`${s.name}…\n`);
    reports.push(await runRunner(s, o));
  }
  let startup: StartupResult[] = [];
  if (o.startup && (!o.only || o.only.includes("import"))) {
    process.stderr.write("import + first op…\n");
    startup = await measureStartups(ROOT, reports.map((r) => r.runner), o.quick ? 3 : 5, notes);
    for (const st of startup) {
      const r = reports.find((x) => x.runner === st.runner);
      if (r && st.ms !== null) r.cells.import = { value: st.ms, ms: st.ms, samples: st.samples };
    }
  }
  const load1 = os.loadavg();
  console.log(`\nMedian of several runs after warm-up. (r×) = Trident-wasm's speed-up over that column: >1 Trident is faster.\n`);
  console.log(table(reports));
  const all = [...notes, ...skippedNotes(reports)];
  for (const r of reports) if (Object.keys(r.info).length) all.push(`${r.runner}: ${Object.entries(r.info).map(([k, v]) => `${k}=${v}`).join(", ")}`);
  console.log(`\nNotes:\n${all.map((n) => `  - ${n}`).join("\n")}`);
  console.log(`  - load average at start ${load0.map((x) => x.toFixed(1)).join(" ")}, at end ${load1.map((x) => x.toFixed(1)).join(" ")} on ${os.availableParallelism()} threads`);
  mkdirSync(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const data = { date: new Date().toISOString(), machine: { cpu, threads: os.availableParallelism(), node: process.version, load: { start: load0, end: load1 } }, quick: o.quick, sizes: SIZES, reports, startup, notes: all };
  const file = join(RESULTS, `bench-${stamp}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2));
  writeFileSync(join(RESULTS, "latest.json"), JSON.stringify(data, null, 2));
  console.log(`\nwrote ${relative(ROOT, file)}`);
}

await main();
