// Every ```ts block in docs/**/*.md runs as written: the "trident" import is pointed at the sources, the
// block is written to a temp file and run in its own node process (a snippet may set the backend, seed the
// global generator or leave tensors alive without affecting the others). A block fails the test when its
// process exits non-zero, so snippets assert what they show (node:assert, or throw). The same blocks are
// also type-checked in one tsc run, since a snippet that runs but does not compile misleads TypeScript users.
// Blocks fenced as ```ts no-run (fragments) and other languages are skipped.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = resolve(import.meta.dirname, "../..");
const DOCS = join(ROOT, "docs");

interface Block {
  /** The markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the block's first code line. */
  line: number;
  code: string;
}

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    // docs/api is typedoc's generated output (gitignored), not hand-written documentation
    if (e.isDirectory() && relative(DOCS, p) !== "api") out.push(...markdownFiles(p));
    else if (e.isFile() && e.name.endsWith(".md")) out.push(p);
  }
  return out.sort();
}

/** The runnable blocks of one markdown file: fences whose info string is `ts` or `typescript` without `no-run`. */
export function extractBlocks(file: string, text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const info = open[3]!.trim().split(/\s+/);
    let j = i + 1;
    while (j < lines.length && !(lines[j]!.trim().startsWith(fence) && lines[j]!.trim().replace(/[`~]/g, "") === "")) j++;
    if ((info[0] === "ts" || info[0] === "typescript") && !info.includes("no-run")) {
      blocks.push({ file, line: i + 2, code: lines.slice(i + 1, j).join("\n") + "\n" });
    }
    i = j;
  }
  return blocks;
}

/**
 * Point `"trident"` and `"trident/<sub>"` at the sources (src/index.ts, src/<sub>/index.ts), and other bare
 * package specifiers (onnxruntime-node) at the repository's node_modules, as they would resolve in a project
 * that depends on them; the temp file itself lives outside the repository.
 */
function toSources(code: string): string {
  return code.replace(/(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(["'])([^"'\n]+)\2/g, (m, pre: string, _q: string, spec: string) => {
    const t = /^trident(?:\/([a-z]+))?$/.exec(spec);
    if (t) return pre + JSON.stringify(pathToFileURL(join(ROOT, "src", t[1] ?? "", "index.ts")).href);
    if (/^(\.|\/|node:|file:|data:)/.test(spec)) return m;
    return pre + JSON.stringify(import.meta.resolve(spec));
  });
}

const blocks = markdownFiles(DOCS).flatMap((f) => extractBlocks(relative(ROOT, f), readFileSync(f, "utf8")));
const slug = (b: Block) => `${b.file.replace(/[^A-Za-z0-9]+/g, "_")}_L${b.line}`;

function run(cmd: string, args: string[], opts: { cwd: string; timeout: number }): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { ...opts, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? null) : 0;
      res({ code: typeof code === "number" ? code : null, out: `${stdout}${stderr}${err && typeof (err as { code?: unknown }).code !== "number" ? `\n${err.message}` : ""}` });
    });
  });
}

// a temp folder that is an ES module package, so top-level await works in the .ts files
const runDir = mkdtempSync(join(tmpdir(), "trident-docs-"));
writeFileSync(join(runDir, "package.json"), '{ "type": "module" }\n');

test("the guides exist, hold runnable examples, and the index links them", () => {
  const index = readFileSync(join(DOCS, "README.md"), "utf8");
  for (const g of ["pytorch-users.md", "jax-users.md", "keras-tfjs-users.md", "memory.md", "jit.md", "onnx.md"]) {
    assert.ok(blocks.some((b) => b.file === join("docs", "guides", g)), `docs/guides/${g} has no runnable ts block`);
    assert.ok(index.includes(`(guides/${g})`), `docs/README.md does not link guides/${g}`);
  }
  assert.ok(blocks.length >= 20, `only ${blocks.length} runnable blocks found`);
});

test("relative links between the docs point at files that exist", () => {
  for (const f of markdownFiles(DOCS)) {
    for (const [, target] of readFileSync(f, "utf8").matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      assert.ok(existsSync(resolve(dirname(f), target!)), `${relative(ROOT, f)} links to missing ${target}`);
    }
  }
});

describe("docs code blocks run", { concurrency: Math.max(2, Math.min(4, availableParallelism())) }, () => {
  for (const b of blocks) {
    test(`${b.file}:${b.line}`, async () => {
      const path = join(runDir, `${slug(b)}.ts`);
      writeFileSync(path, toSources(b.code));
      // cwd is the repository, so `--import tsx` resolves from its node_modules
      const { code, out } = await run(process.execPath, ["--import", "tsx", path], { cwd: ROOT, timeout: 60_000 });
      assert.equal(code, 0, `${b.file}:${b.line}: the block exited with ${code}\n${out}`);
    });
  }

  test("docs code blocks type-check", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trident-docs-tsc-"));
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    for (const b of blocks) writeFileSync(join(dir, `${slug(b)}.ts`), b.code);
    // other packages (onnxruntime-node) resolve as in a project that depends on them
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
    const tsconfig = {
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "ESNext.Disposable", "DOM"],
        strict: true, noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true,
        types: ["node"], typeRoots: [join(ROOT, "node_modules", "@types")],
        paths: { trident: [join(ROOT, "src", "index.ts")], "trident/*": [join(ROOT, "src", "*", "index.ts")] },
      },
      include: ["*.ts"],
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    const { code, out } = await run(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(dir, "tsconfig.json")], { cwd: dir, timeout: 120_000 });
    // tsc reports "<slug>.ts(line,col): error ..."; map each back to the markdown line
    const bySlug = new Map(blocks.map((b) => [`${slug(b)}.ts`, b]));
    const mapped = out.replace(/^(\S+\.ts)\((\d+),(\d+)\)/gm, (m, f: string, l: string) => {
      const b = bySlug.get(f);
      return b ? `${b.file}:${b.line + Number(l) - 1}` : m;
    });
    assert.equal(code, 0, `the docs' code blocks do not type-check:\n${mapped}`);
  });
});
