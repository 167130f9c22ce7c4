// A model version ready to serve: its signature and one jitted forward through Trident's own engine.
// Two sources: an ONNX file (imported with onnx.load), or a Trident checkpoint with a config that names
// the architecture (the MNIST models of the CLI, or a JS module exporting a factory).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { jit } from "../transforms/api.js";
import { load as loadOnnx } from "../onnx/model.js";
import { loadCheckpoint } from "../io/checkpoint.js";
import { load as loadSafetensors } from "../io/safetensors.js";
import { mnistModel } from "../nn/models/mnist.js";
import { Module } from "../nn/module.js";
import { Tensor } from "../tensor.js";
import { ServeError, type OipDatatype, type TensorSpec } from "./types.js";
import { isDatatype } from "./tensors.js";

/** Per-model settings (Triton's config.pbtxt, as JSON in `config.json` beside the versions). */
export interface ModelConfig {
  /** "onnx" or "trident" (default: from the files found). */
  platform?: "onnx" | "trident";
  /** For trident checkpoints: "mnist-mlp", "mnist-cnn", or a module path (relative to the model directory) exporting `build()`. */
  model?: string;
  /** The export of `model` to call (default "build"); it returns an nn.Module. */
  export?: string;
  /** The signature; required for trident checkpoints, optional for ONNX (read from the file). */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
  /** Largest batch a request or a dynamic batch may have; 0 disables batching along axis 0 (Triton's max_batch_size). */
  maxBatchSize?: number;
  dynamicBatching?: { preferredBatchSize?: number[]; maxQueueDelayMicroseconds?: number; maxQueueSize?: number } | null;
  /** Worker threads running this model (each with its own engine). */
  instanceCount?: number;
  /** Versions kept loaded: the newest N, all of them, or the listed ones. */
  versionPolicy?: { latest: number } | { all: true } | { specific: number[] };
}

/** A loaded model version. */
export interface ServedModel {
  readonly name: string;
  readonly version: string;
  readonly platform: string;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  readonly config: ModelConfig;
  /** Run the jitted forward on inputs by name; outputs by name. */
  run(inputs: Record<string, Tensor>): Record<string, Tensor>;
  dispose(): void;
}

const ONNX_TYPES: Record<string, OipDatatype> = {
  float: "FP32", double: "FP64", float16: "FP16", int8: "INT8", uint8: "UINT8", int16: "INT16", uint16: "UINT16", int32: "INT32",
  uint32: "UINT32", int64: "INT64", uint64: "UINT64", bool: "BOOL", string: "BYTES",
};

/** Read `<dir>/config.json` (absent: {}), rejecting malformed files with the path and the field. */
export function readConfig(dir: string): ModelConfig {
  const p = join(dir, "config.json");
  if (!existsSync(p)) return {};
  let c: unknown;
  try {
    c = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw new ServeError(400, `${p}: not valid JSON (${(e as Error).message})`);
  }
  if (c === null || typeof c !== "object" || Array.isArray(c)) throw new ServeError(400, `${p}: must hold a JSON object`);
  const cfg = c as ModelConfig;
  for (const k of ["inputs", "outputs"] as const) {
    const v = cfg[k];
    if (v === undefined) continue;
    if (!Array.isArray(v)) throw new ServeError(400, `${p}: "${k}" must be an array of { name, datatype, shape }`);
    v.forEach((s, i) => {
      if (typeof s?.name !== "string" || !isDatatype(s.datatype) || !Array.isArray(s.shape) || !s.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= -1)) {
        throw new ServeError(400, `${p}: ${k}[${i}] must be { name: string, datatype: an OIP datatype, shape: integers (-1 for any) }`);
      }
    });
  }
  if (cfg.maxBatchSize !== undefined && !(Number.isInteger(cfg.maxBatchSize) && cfg.maxBatchSize >= 0)) throw new ServeError(400, `${p}: "maxBatchSize" must be a non-negative integer`);
  if (cfg.instanceCount !== undefined && !(Number.isInteger(cfg.instanceCount) && cfg.instanceCount >= 1)) throw new ServeError(400, `${p}: "instanceCount" must be a positive integer`);
  return cfg;
}

/** Load version `version` of model `name` from `dir` (the version directory, or a single ONNX file). */
export async function loadServedModel(name: string, version: string, path: string, config: ModelConfig): Promise<ServedModel> {
  const files = path.endsWith(".onnx") ? [path] : readdirSync(path).map((f) => join(path, f));
  const onnxFile = files.find((f) => f.endsWith(".onnx"));
  const ckptFile = files.find((f) => f.endsWith(".safetensors"));
  const platform = config.platform ?? (onnxFile ? "onnx" : ckptFile ? "trident" : null);
  if (platform === "onnx") {
    if (!onnxFile) throw new ServeError(400, `model ${name} version ${version}: no .onnx file in ${path}`);
    return onnxModel(name, version, onnxFile, config);
  }
  if (platform === "trident") {
    if (!ckptFile) throw new ServeError(400, `model ${name} version ${version}: no .safetensors file in ${path}`);
    return tridentModel(name, version, ckptFile, config, join(path, ".."));
  }
  throw new ServeError(400, `model ${name} version ${version}: ${path} holds neither an .onnx file nor a .safetensors checkpoint`);
}

function onnxModel(name: string, version: string, file: string, config: ModelConfig): ServedModel {
  let m;
  try {
    m = loadOnnx(file);
  } catch (e) {
    throw new ServeError(400, `model ${name} version ${version}: ${(e as Error).message}`);
  }
  const spec = (io: { name: string; dtype: string | null; shape: (number | string | null)[] | null }): TensorSpec => ({
    name: io.name,
    datatype: ONNX_TYPES[io.dtype ?? "float"] ?? "FP32",
    shape: (io.shape ?? []).map((d) => (typeof d === "number" && d >= 0 ? d : -1)),
  });
  const inputs = config.inputs ?? m.inputs.map(spec);
  const outputs = config.outputs ?? m.outputs.map(spec);
  const fn = jit((feeds: Record<string, Tensor>) => m.fn(feeds));
  return {
    name, version, platform: "onnxruntime_onnx", inputs, outputs, config,
    run: (feeds) => fn(feeds),
    dispose: () => {
      for (const t of Object.values(m.initializers)) t.dispose();
    },
  };
}

async function buildModule(name: string, config: ModelConfig, modelDir: string): Promise<Module> {
  const kind = config.model;
  if (kind === "mnist-mlp" || kind === "mnist-cnn") return mnistModel(kind === "mnist-mlp" ? "mlp" : "cnn");
  if (typeof kind !== "string") throw new ServeError(400, `model ${name}: config.json must name the architecture in "model" ("mnist-mlp", "mnist-cnn" or a module path)`);
  const mod = (await import(pathToFileURL(resolve(modelDir, kind)).href)) as Record<string, unknown>;
  const factory = mod[config.export ?? "build"];
  if (typeof factory !== "function") throw new ServeError(400, `model ${name}: ${kind} does not export a function "${config.export ?? "build"}"`);
  const m = await (factory as () => unknown)();
  if (!(m instanceof Module)) throw new ServeError(400, `model ${name}: ${kind}'s ${config.export ?? "build"}() did not return an nn.Module`);
  return m;
}

const DEFAULT_MNIST: Pick<ModelConfig, "inputs" | "outputs"> = {
  inputs: [{ name: "input", datatype: "FP32", shape: [-1, 1, 28, 28] }],
  outputs: [{ name: "logits", datatype: "FP32", shape: [-1, 10] }],
};

async function tridentModel(name: string, version: string, file: string, config: ModelConfig, modelDir: string): Promise<ServedModel> {
  const module = await buildModule(name, config, modelDir);
  const mnist = config.model?.startsWith("mnist-");
  const inputs = config.inputs ?? (mnist ? DEFAULT_MNIST.inputs : undefined);
  const outputs = config.outputs ?? (mnist ? DEFAULT_MNIST.outputs : undefined);
  if (!inputs || !outputs) throw new ServeError(400, `model ${name}: config.json must give "inputs" and "outputs" for a trident checkpoint`);
  // a checkpoint from saveCheckpoint keeps the weights under model.*; a plain safetensors file is the state dict
  let sd: Record<string, Tensor>;
  try {
    const ck = await loadCheckpoint(file);
    sd = ck.model;
  } catch {
    sd = (await loadSafetensors(file)).tensors;
  }
  try {
    module.loadStateDict(sd);
  } catch (e) {
    throw new ServeError(400, `model ${name} version ${version}: ${(e as Error).message}`);
  } finally {
    for (const t of Object.values(sd)) t.dispose();
  }
  module.eval();
  const fwd = jit((...xs: Tensor[]) => module.forward(...(xs as never[])) as Tensor | Tensor[]);
  return {
    name, version, platform: "trident", inputs, outputs, config,
    run: (feeds) => {
      const r = fwd(...inputs.map((s) => feeds[s.name]!));
      const outs = Array.isArray(r) ? r : [r];
      if (outs.length !== outputs.length) throw new ServeError(500, `model ${name}: forward returned ${outs.length} outputs but the config declares ${outputs.length}`);
      return Object.fromEntries(outputs.map((s, i) => [s.name, outs[i]!]));
    },
    dispose: () => {
      for (const p of [...module.parameters(), ...module.buffers()]) p.dispose();
    },
  };
}
