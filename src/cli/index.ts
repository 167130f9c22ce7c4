/**
 * The `trident` command: train, evaluate and query the bundled MNIST models, export them, describe the
 * engine. Flags map onto `tr.config`; the library itself reads no environment.
 */
import * as tr from "../index.js";
import { TridentError } from "../core/errors.js";
import { intFlag, numFlag, parseArgs, strFlag, type ParsedArgs } from "./args.js";
import { mnistModel, type MnistModel } from "../nn/models/mnist.js";
import { decodePng } from "./png.js";
import { shifted } from "./augment.js";

const USAGE = `usage: trident <command> [options]

commands:
  train mnist [--model mlp|cnn] [--epochs N] [--batch-size N] [--lr X] [--backend NAME]
              [--threads N] [--logdir DIR] [--out FILE.safetensors] [--seed N] [--augment PIXELS]
              [--limit N] [--quiet]
        train a digit classifier on the 10,000 MNIST digits bundled with the mnist package
        (a fixed 8,000/2,000 split), print the test accuracy, save a checkpoint
  eval <checkpoint> [--backend NAME]            test accuracy of a saved MNIST checkpoint
  predict <checkpoint> <image.png|image.json>   classify a 28x28 digit (PNG, or JSON of 784 numbers)
  export <checkpoint> --onnx out.onnx           write the model as ONNX
  info                                          version, backends, threads, SIMD support`;

export interface CliIO {
  out(line: string): void;
  err(line: string): void;
}
const stdio: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l) };

const DEFAULTS: Record<MnistModel, { epochs: number; lr: number; batchSize: number; augment: number }> = {
  mlp: { epochs: 15, lr: 1e-3, batchSize: 64, augment: 1 },
  cnn: { epochs: 5, lr: 3e-3, batchSize: 64, augment: 1 },
};

async function setup(flags: ParsedArgs["flags"]): Promise<void> {
  const backend = strFlag(flags, "backend", "wasm");
  const threads = intFlag(flags, "threads", 0, 0);
  await tr.config({ backend, threads });
}

async function trainMnist(flags: ParsedArgs["flags"], io: CliIO): Promise<number> {
  const kind = strFlag<MnistModel>(flags, "model", "cnn", ["mlp", "cnn"]);
  const d = DEFAULTS[kind];
  const epochs = intFlag(flags, "epochs", d.epochs);
  const batchSize = intFlag(flags, "batch-size", d.batchSize);
  const lr = numFlag(flags, "lr", d.lr);
  const seed = intFlag(flags, "seed", 0, 0);
  const limit = flags["limit"] === undefined ? undefined : intFlag(flags, "limit", 8000);
  const out = strFlag(flags, "out", `mnist-${kind}.safetensors`);
  const shift = intFlag(flags, "augment", d.augment, 0);
  const logdir = flags["logdir"] === undefined ? undefined : strFlag(flags, "logdir", "");
  await setup(flags);
  const t0 = performance.now();
  tr.manualSeed(seed);
  let { train, test } = await tr.datasets.mnist();
  if (limit !== undefined) {
    // a subset for quick runs (CI): the first examples of a fixed shuffle of each split
    train = subset(train, limit, seed);
    test = subset(test, Math.max(1, Math.floor(limit / 4)), seed);
  }
  const model = mnistModel(kind);
  const loader = new tr.DataLoader(train, { batchSize, shuffle: true, seed });
  const testLoader = new tr.DataLoader(test, { batchSize: 500 });
  const callbacks: tr.train.Callback[] = [];
  if (logdir) callbacks.push(new tr.train.TensorBoard(logdir));
  if (!flags["quiet"]) io.out(`training ${kind} on ${train.length} digits (${model.numParameters().toLocaleString("en-US")} parameters, backend ${tr.getBackend().name}), ${epochs} epochs, batch ${batchSize}, lr ${lr}, seed ${seed}`);
  const optimizer = new tr.optim.Adam(model.parameters(), { lr });
  const schedule = new tr.optim.CosineAnnealingLR(optimizer, { tMax: epochs });
  callbacks.push(new tr.train.LearningRateScheduler(schedule));
  const data = shift > 0 ? shifted(loader as tr.DataLoader<unknown, Record<string, tr.Tensor>>, shift, seed) : loader;
  await tr.fit(model, data, {
    disposeBatches: true,
    optimizer,
    loss: "crossEntropy",
    metrics: ["accuracy"],
    epochs,
    validationData: testLoader,
    callbacks,
    verbose: flags["quiet"] ? 0 : 1,
  });
  const res = await tr.evaluate(model, testLoader, { loss: "crossEntropy", metrics: ["accuracy"] });
  const acc = Number(res["accuracy"]);
  await tr.io.saveCheckpoint(out, {
    model: model.stateDict(),
    optimizer: optimizer.stateDict(),
    epoch: epochs,
    extra: { task: "mnist", model: kind, seed, testAccuracy: acc, backend: tr.getBackend().name },
  });
  const secs = (performance.now() - t0) / 1000;
  io.out(`test accuracy: ${(acc * 100).toFixed(2)}% on ${test.length} held-out digits (${secs.toFixed(1)} s); saved ${out}`);
  if (logdir) io.out(`TensorBoard logs in ${logdir}`);
  return 0;
}

function firstOfShuffle(n: number, k: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  let s = (seed * 2654435761 + 1) >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, Math.min(k, n));
}
function subset(ds: tr.TensorDataset, k: number, seed: number): tr.TensorDataset {
  return new tr.TensorDataset(ds.gather(firstOfShuffle(ds.length, k, seed)));
}

async function loadMnistCheckpoint(path: string): Promise<{ model: tr.nn.Sequential; kind: MnistModel }> {
  const ck = await tr.io.loadCheckpoint(path);
  const extra = (ck.extra ?? {}) as { model?: string };
  const kind = extra.model;
  if (kind !== "mlp" && kind !== "cnn") throw new TridentError(`${path}: not a trident MNIST checkpoint (metadata names model ${JSON.stringify(kind)})`);
  const model = mnistModel(kind);
  model.loadStateDict(ck.model);
  model.eval();
  return { model, kind };
}

async function evalCmd(args: ParsedArgs, io: CliIO): Promise<number> {
  const path = args.positional[1];
  if (!path) throw new TridentError("eval: give a checkpoint path");
  await setup(args.flags);
  const { model, kind } = await loadMnistCheckpoint(path);
  const { test } = await tr.datasets.mnist();
  const res = await tr.evaluate(model, new tr.DataLoader(test, { batchSize: 500 }), { loss: "crossEntropy", metrics: ["accuracy"] });
  io.out(`${kind}: test accuracy ${(Number(res["accuracy"]) * 100).toFixed(2)}%, loss ${Number(res["loss"]).toFixed(4)} on ${test.length} digits`);
  return 0;
}

async function predictCmd(args: ParsedArgs, io: CliIO): Promise<number> {
  const [, ckpt, image] = args.positional;
  if (!ckpt || !image) throw new TridentError("predict: usage: trident predict <checkpoint> <image.png|image.json>");
  await setup(args.flags);
  const { model } = await loadMnistCheckpoint(ckpt);
  const fs = await import("node:fs");
  const bytes = fs.readFileSync(image);
  let pixels: Float32Array;
  if (image.toLowerCase().endsWith(".json")) {
    const v: unknown = JSON.parse(bytes.toString("utf8"));
    const flat = (Array.isArray(v) ? v.flat(2) : []) as unknown[];
    if (flat.length !== 784 || !flat.every((x) => typeof x === "number")) throw new TridentError(`predict: ${image} must hold 784 numbers (28x28, 0..1 or 0..255)`);
    const nums = flat as number[];
    const scale = Math.max(...nums) > 1 ? 255 : 1;
    pixels = Float32Array.from(nums, (x) => x / scale);
  } else {
    const img = await decodePng(new Uint8Array(bytes));
    if (img.width !== 28 || img.height !== 28) throw new TridentError(`predict: the image is ${img.width}x${img.height}; MNIST digits are 28x28`);
    pixels = img.gray;
  }
  const x = tr.fromTypedArray(pixels, [1, 1, 28, 28]);
  const probs = tr.noGrad(() => tr.softmax(model.forward(x), { axis: -1 }));
  const p = Array.from(probs.dataSync());
  const best = p.indexOf(Math.max(...p));
  io.out(`digit ${best} (p = ${p[best]!.toFixed(4)})`);
  io.out(p.map((v, i) => `${i}: ${v.toFixed(4)}`).join("  "));
  return 0;
}

async function exportCmd(args: ParsedArgs, io: CliIO): Promise<number> {
  const ckpt = args.positional[1];
  const out = args.flags["onnx"];
  if (!ckpt || typeof out !== "string") throw new TridentError("export: usage: trident export <checkpoint> --onnx out.onnx");
  await setup(args.flags);
  const { exportCheckpointToOnnx } = await import("./export.js");
  await exportCheckpointToOnnx(ckpt, out);
  io.out(`wrote ${out}`);
  return 0;
}

async function infoCmd(io: CliIO): Promise<number> {
  const { createRequire } = await import("node:module");
  const os = await import("node:os");
  const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };
  const simd = WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
  const relaxed = probeRelaxedSimd();
  io.out(`trident ${pkg.version}`);
  io.out(`node ${process.versions.node}, v8 ${process.versions.v8}`);
  io.out(`backends: ${tr.backendNames().join(", ")} (default for the CLI: wasm)`);
  io.out(`threads: ${os.availableParallelism?.() ?? os.cpus().length} cores available`);
  io.out(`wasm SIMD: ${simd ? "yes" : "no"}; relaxed SIMD (fused multiply-add): ${relaxed ? "yes" : "no"}`);
  io.out(`float64: ref and wasm`);
  return 0;
}

/** Whether the engine accepts relaxed-SIMD instructions (f32x4.relaxed_madd). */
export function probeRelaxedSimd(): boolean {
  // (func (result v128) v128.const 0 v128.const 0 v128.const 0 f32x4.relaxed_madd)
  const zero16 = new Array(16).fill(0);
  const body = [0x00, ...[0xfd, 0x0c, ...zero16], ...[0xfd, 0x0c, ...zero16], ...[0xfd, 0x0c, ...zero16], 0xfd, 0x85, 0x02, 0x0b];
  const bytes = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, body.length + 2, 1, body.length, ...body];
  try {
    return WebAssembly.validate(new Uint8Array(bytes));
  } catch {
    return false;
  }
}

/** Run the CLI with argv (without node and script); returns the exit code. */
export async function main(argv: readonly string[], io: CliIO = stdio): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, ["quiet", "help"]);
  } catch (e) {
    io.err(String((e as Error).message));
    return 2;
  }
  const [cmd, sub] = args.positional;
  try {
    if (!cmd || args.flags["help"] || cmd === "help") {
      io.out(USAGE);
      return cmd ? 0 : 2;
    }
    if (cmd === "train") {
      if (sub !== "mnist") throw new TridentError(`train: unknown task ${JSON.stringify(sub)}; available: mnist`);
      return await trainMnist(args.flags, io);
    }
    if (cmd === "eval") return await evalCmd(args, io);
    if (cmd === "predict") return await predictCmd(args, io);
    if (cmd === "export") return await exportCmd(args, io);
    if (cmd === "info") return await infoCmd(io);
    throw new TridentError(`unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
  } catch (e) {
    if (e instanceof TridentError) {
      io.err(`trident: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
