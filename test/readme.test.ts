// The README's examples run as written (with the package import pointed at the sources).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";

test("the README's first example runs and prints the same gradient from grad and backward()", async () => {
  const readme = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const src = pathToFileURL(resolve(import.meta.dirname, "../src/index.ts")).href;
  const file = join(mkdtempSync(join(tmpdir(), "trident-readme-")), "example.ts");
  const lines: string[] = [];
  writeFileSync(file, block.replace('from "trident"', `from ${JSON.stringify(src)}`).replaceAll("console.log(", "__log("));
  (globalThis as { __log?: (...a: unknown[]) => void }).__log = (...a) => lines.push(a.map(String).join(" "));
  await import(pathToFileURL(file).href);
  assert.equal(lines[0], "tensor([ 8., 16.], dtype=float32)");
  assert.match(lines[1]!, /dot_general/);
  const [fromBackward, fromGrad] = lines[2]!.split(/(?=tensor\()/);
  assert.equal(fromBackward!.trim(), fromGrad!.trim());
});
