// Every script in examples/ runs, in its quick mode, as a user would run it (a child process), and does
// what it says: the loss falls, accuracy is well above chance (10 % for ten digits).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

async function example(name: string): Promise<string> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", `examples/${name}.ts`, "--quick"], { cwd: ROOT, timeout: 120_000 });
  return stdout;
}
const numbers = (out: string, re: RegExp): number[] => [...out.matchAll(re)].map((m) => Number(m[1]));

test("examples/mnist-pytorch-style.ts: the CNN learns (test accuracy well above chance, rising)", async () => {
  const out = await example("mnist-pytorch-style");
  const acc = numbers(out, /test accuracy ([\d.]+)%/g);
  assert.ok(acc.length >= 2, out);
  assert.ok(acc.at(-1)! > 35 && acc.at(-1)! > acc[0]! + 15, `accuracies ${acc}`);
});

test("examples/jax-functional.ts: loss falls, per-example gradients average to the batch gradient", async () => {
  const out = await example("jax-functional");
  const losses = numbers(out, /batch loss ([\d.]+)/g);
  assert.ok(losses.length >= 2 && losses.at(-1)! < 0.7 * losses[0]!, `losses ${losses}`);
  assert.ok(Number(/final: held-out loss [\d.]+\s+accuracy ([\d.]+)%/.exec(out)![1]) > 60, out);
  const gap = Number(/grad gap \(w2\): ([\d.e+-]+)/.exec(out)![1]);
  assert.ok(gap < 1e-4, `per-example vs batch gradient gap ${gap}`);
  assert.equal(/per-example grad norms: (.*)/.exec(out)![1]!.trim().split(/\s+/).length, 8);
});

test("examples/keras-fit.ts: fit with callbacks, evaluate, the best checkpoint and TensorBoard files", async () => {
  const out = await example("keras-fit");
  const val = /val_loss: (.*)/.exec(out)![1]!.trim().split(/\s+/).map(Number);
  assert.ok(val.at(-1)! < val[0]!, `val_loss ${val}`);
  const testAcc = Number(/evaluate: test loss [\d.]+\s+test accuracy ([\d.]+)%/.exec(out)![1]);
  assert.ok(testAcc > 70, out);
  assert.ok(Number(/best checkpoint reloaded: test accuracy ([\d.]+)%/.exec(out)![1]) > 70, out);
  assert.ok(Number(/TensorBoard: (\d+) event file/.exec(out)![1]) >= 1, out);
});

test("examples/onnx-roundtrip.ts: the exported model runs in Trident's importer and in onnxruntime with the same logits", async () => {
  const out = await example("onnx-roundtrip");
  assert.ok(Number(/exported (\d+) bytes of ONNX/.exec(out)![1]) > 1000, out);
  assert.ok(Number(/eager vs trident importer: max \|diff\| ([\d.e+-]+)/.exec(out)![1]) < 1e-5, out);
  // onnxruntime-node is a devDependency; when its binary loads, it is the independent oracle
  const ort = /eager vs onnxruntime: max \|diff\| ([\d.e+-]+)/.exec(out);
  if (ort) assert.ok(Number(ort[1]) < 1e-4, out);
  else assert.match(out, /onnxruntime-node is not available/);
  const [pred, labels] = [/predicted classes: ([\d ]+?)\s+labels/, /labels: ([\d ]+)/].map((re) => re.exec(out)![1]!.trim().split(/\s+/).map(Number));
  assert.equal(pred!.length, 10);
  assert.ok(pred!.filter((p, i) => p === labels![i]).length >= 3, out);
});
