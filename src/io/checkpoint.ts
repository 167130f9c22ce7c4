/**
 * Training checkpoints as one safetensors file: model tensors under `model.`, the tensor leaves of the
 * optimizer state (and of `extra`) under `optimizer.` / `extra.` by their tree path, and everything that is
 * not a tensor (tree structure, numbers, strings, the epoch) JSON-encoded in `__metadata__`. A checkpoint
 * therefore stays readable by any safetensors reader, and `safetensors.torch.load_file` sees the weights.
 */
import { fail } from "../core/errors.js";
import { treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { Tensor } from "../tensor.js";
import { setKey } from "./json.js";
import { deserialize, load, save, serialize, serializeAsync, type SafetensorsMetadata } from "./safetensors.js";

/** What a checkpoint holds. `optimizer` and `extra` are JSON-able trees whose leaves may be tensors. */
export interface Checkpoint {
  model: Record<string, Tensor>;
  optimizer?: unknown;
  epoch?: number;
  extra?: unknown;
}

/** Anything with a PyTorch-style state dict (nn.Module). */
export interface HasStateDict {
  stateDict(): Record<string, Tensor>;
}

const FORMAT = "trident.checkpoint";
const VERSION = "1";

/** A stored leaf: a tensor by file name, a JSON scalar, or a non-finite number by its name. */
type StoredLeaf = ["t", string] | ["v", string | number | boolean] | ["n", "NaN" | "Infinity" | "-Infinity"];

function leafPaths(def: TreeDef): string[] {
  const out: string[] = [];
  const walk = (d: TreeDef, path: string[]) => {
    switch (d.kind) {
      case "leaf": out.push(path.join(".")); return;
      case "none": return;
      case "array": d.children.forEach((c, i) => walk(c, [...path, String(i)])); return;
      case "object": d.children.forEach((c, i) => walk(c, [...path, d.keys[i]!])); return;
    }
  };
  walk(def, []);
  return out;
}

function packTree(op: string, section: string, tree: unknown, tensors: Record<string, Tensor>): string {
  const [leaves, def] = treeFlatten(tree);
  const paths = leafPaths(def);
  const stored: StoredLeaf[] = leaves.map((leaf, i): StoredLeaf => {
    const where = paths[i] === "" ? section : `${section}.${paths[i]}`;
    if (leaf instanceof Tensor) {
      // tree paths can collide with each other or with model keys ("a.b" vs a: {b}); the exact name is
      // recorded, so any unique name works
      let name = where;
      for (let k = 1; name in tensors; k++) name = `${where}#${k}`;
      setKey(tensors, name, leaf);
      return ["t", name];
    }
    if (typeof leaf === "number") return Number.isFinite(leaf) ? ["v", leaf] : ["n", String(leaf) as "NaN" | "Infinity" | "-Infinity"];
    if (typeof leaf === "string" || typeof leaf === "boolean") return ["v", leaf];
    return fail(op, `${where} is a ${leaf === null ? "null" : typeof leaf === "object" ? (leaf.constructor?.name ?? "object") : typeof leaf}; checkpoint trees may hold tensors, numbers, strings, booleans, null, arrays and plain objects`);
  });
  return JSON.stringify({ tree: def, leaves: stored });
}

function prepare(op: string, ckpt: Checkpoint): [Record<string, Tensor>, SafetensorsMetadata] {
  if (ckpt === null || typeof ckpt !== "object") fail(op, `expected { model, optimizer?, epoch?, extra? }, got ${ckpt === null ? "null" : typeof ckpt}`);
  const { model, optimizer, epoch, extra } = ckpt;
  if (model === null || typeof model !== "object") fail(op, `model must be a state dict (name -> Tensor), got ${model === null ? "null" : typeof model}`);
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(model)) {
    if (!(t instanceof Tensor)) fail(op, `model["${k}"] must be a Tensor, got ${t === null ? "null" : typeof t}`);
    setKey(tensors, `model.${k}`, t);
  }
  const metadata: SafetensorsMetadata = { format: FORMAT, format_version: VERSION };
  if (epoch !== undefined) {
    if (typeof epoch !== "number" || !Number.isFinite(epoch)) fail(op, `epoch must be a finite number, got ${String(epoch)}`);
    metadata["epoch"] = JSON.stringify(epoch);
  }
  if (optimizer !== undefined) metadata["optimizer"] = packTree(op, "optimizer", optimizer, tensors);
  if (extra !== undefined) metadata["extra"] = packTree(op, "extra", extra, tensors);
  return [tensors, metadata];
}

/** Encode a checkpoint as safetensors bytes (CPU backends; see serializeCheckpointAsync). */
export function serializeCheckpoint(ckpt: Checkpoint): Uint8Array {
  const [tensors, metadata] = prepare("serializeCheckpoint", ckpt);
  return serialize(tensors, metadata);
}

/** Encode a checkpoint as safetensors bytes on any backend. */
export async function serializeCheckpointAsync(ckpt: Checkpoint): Promise<Uint8Array> {
  const [tensors, metadata] = prepare("serializeCheckpoint", ckpt);
  return serializeAsync(tensors, metadata);
}

function isTreeDef(v: unknown, depth = 0): v is TreeDef {
  if (depth > 256 || v === null || typeof v !== "object") return false;
  const d = v as Record<string, unknown>;
  switch (d["kind"]) {
    case "leaf": return true;
    case "none": return d["value"] === null || d["value"] === undefined;
    case "array": return Array.isArray(d["children"]) && d["children"].every((c) => isTreeDef(c, depth + 1));
    case "object": {
      const keys = d["keys"], ch = d["children"];
      return Array.isArray(keys) && Array.isArray(ch) && keys.length === ch.length && keys.every((k) => typeof k === "string") && ch.every((c) => isTreeDef(c, depth + 1));
    }
    default: return false;
  }
}

function unpackTree(op: string, section: string, json: string, tensors: Record<string, Tensor>, used: Set<string>): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return fail(op, `metadata "${section}" is not valid JSON`);
  }
  const p = parsed as { tree?: unknown; leaves?: unknown } | null;
  if (p === null || typeof p !== "object" || !isTreeDef(p.tree) || !Array.isArray(p.leaves)) {
    return fail(op, `metadata "${section}" must be {tree, leaves} as written by saveCheckpoint`);
  }
  const leaves = p.leaves.map((l: unknown, i: number) => {
    if (!Array.isArray(l) || l.length !== 2) return fail(op, `metadata "${section}" leaf ${i} is malformed: ${JSON.stringify(l)}`);
    const [tag, v] = l as [unknown, unknown];
    if (tag === "t" && typeof v === "string") {
      if (!Object.prototype.hasOwnProperty.call(tensors, v)) fail(op, `${section} refers to tensor "${v}", which the file does not contain`);
      used.add(v);
      return tensors[v];
    }
    if (tag === "v" && (typeof v === "number" || typeof v === "string" || typeof v === "boolean")) return v;
    if (tag === "n" && (v === "NaN" || v === "Infinity" || v === "-Infinity")) return Number(v);
    return fail(op, `metadata "${section}" leaf ${i} is malformed: ${JSON.stringify(l)}`);
  });
  try {
    return treeUnflatten(p.tree as TreeDef, leaves);
  } catch {
    return fail(op, `metadata "${section}": its tree structure and its ${leaves.length} leaves do not match`);
  }
}

/** Decode checkpoint bytes written by serializeCheckpoint/saveCheckpoint. */
export function deserializeCheckpoint(bytes: Uint8Array): Checkpoint {
  const { tensors, metadata } = deserialize(bytes);
  return fromParts(tensors, metadata);
}

function fromParts(tensors: Record<string, Tensor>, metadata: SafetensorsMetadata): Checkpoint {
  try {
    return unpack(tensors, metadata);
  } catch (e) {
    for (const t of Object.values(tensors)) t.dispose();
    throw e;
  }
}

function unpack(tensors: Record<string, Tensor>, metadata: SafetensorsMetadata): Checkpoint {
  const op = "loadCheckpoint";
  if (metadata["format"] !== FORMAT) {
    fail(op, `not a Trident checkpoint: __metadata__.format is ${JSON.stringify(metadata["format"] ?? null)}, expected "${FORMAT}" (use safetensors.load for plain safetensors files)`);
  }
  if (metadata["format_version"] !== VERSION) fail(op, `checkpoint format_version ${JSON.stringify(metadata["format_version"] ?? null)} is not supported (expected "${VERSION}")`);
  const used = new Set<string>();
  const out: Checkpoint = { model: {} };
  if (metadata["optimizer"] !== undefined) out.optimizer = unpackTree(op, "optimizer", metadata["optimizer"], tensors, used);
  if (metadata["extra"] !== undefined) out.extra = unpackTree(op, "extra", metadata["extra"], tensors, used);
  if (metadata["epoch"] !== undefined) {
    const e = Number(metadata["epoch"]);
    if (!Number.isFinite(e) || metadata["epoch"].trim() === "") fail(op, `metadata "epoch" must be a number, got ${JSON.stringify(metadata["epoch"])}`);
    out.epoch = e;
  }
  for (const [name, t] of Object.entries(tensors)) {
    if (used.has(name)) continue;
    if (!name.startsWith("model.")) fail(op, `tensor "${name}" belongs to no section (expected a "model." prefix or a reference from optimizer/extra)`);
    setKey(out.model, name.slice("model.".length), t);
  }
  return out;
}

/**
 * Save model and optimizer state (plus epoch and any JSON-able extra) to one safetensors file.
 * @example await tr.io.saveCheckpoint("ckpt.safetensors", { model: net.stateDict(), optimizer: opt.stateDict(), epoch: 3 });
 */
export async function saveCheckpoint(path: string, ckpt: Checkpoint): Promise<void> {
  const [tensors, metadata] = prepare("saveCheckpoint", ckpt);
  await save(path, tensors, metadata);
}

/** Load a checkpoint written by saveCheckpoint. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = await load(path);
  return fromParts(tensors, metadata);
}

/** Write a module's state dict as a plain safetensors file (keys as in stateDict, readable by PyTorch). */
export async function saveModel(path: string, model: HasStateDict, metadata?: SafetensorsMetadata): Promise<void> {
  await save(path, model.stateDict(), metadata);
}

/** Load a plain safetensors file into a module with its loadStateDict (strict by default). */
export async function loadModel<R>(path: string, model: { loadStateDict(sd: Record<string, Tensor>, opts?: { strict?: boolean }): R }, opts: { strict?: boolean } = {}): Promise<R> {
  const { tensors } = await load(path);
  try {
    return model.loadStateDict(tensors, opts);
  } finally {
    // the module copied what it needed; the loaded buffers are ours to free
    for (const t of Object.values(tensors)) t.dispose();
  }
}
