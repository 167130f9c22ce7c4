#!/usr/bin/env node
// The `trident` command. Enables relaxed SIMD (fused multiply-add) in Node 20 before any wasm compiles,
// then runs the compiled CLI (dist/, built by `npm install`), or the TypeScript sources through tsx.
import v8 from "node:v8";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
const dist = new URL("../dist/cli/index.js", import.meta.url);
let cli;
if (existsSync(fileURLToPath(dist))) cli = await import(dist.href);
else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(new URL("../src/cli/index.ts", import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
