import { Tensor } from "../tensor.js";

/** A nested structure of arrays, plain objects, and leaves (tensors, numbers, null). */
export type PyTree<T = unknown> = T | PyTree<T>[] | { [k: string]: PyTree<T> } | null | undefined;

export type TreeDef =
  | { kind: "leaf" }
  | { kind: "none"; value: null | undefined }
  | { kind: "array"; children: TreeDef[] }
  | { kind: "object"; keys: string[]; children: TreeDef[] };

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== "object") return false;
  const p = Object.getPrototypeOf(x);
  return p === Object.prototype || p === null;
}

/** Leaves are everything but arrays, plain objects, null and undefined. */
export function treeFlatten(tree: unknown): [unknown[], TreeDef] {
  const leaves: unknown[] = [];
  const walk = (t: unknown): TreeDef => {
    if (t === null || t === undefined) return { kind: "none", value: t };
    if (Array.isArray(t)) return { kind: "array", children: t.map(walk) };
    if (isPlainObject(t)) {
      const keys = Object.keys(t).sort();
      return { kind: "object", keys, children: keys.map((k) => walk(t[k])) };
    }
    leaves.push(t);
    return { kind: "leaf" };
  };
  const def = walk(tree);
  return [leaves, def];
}

export function treeUnflatten<T = unknown>(def: TreeDef, leaves: readonly unknown[]): T {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case "leaf": return leaves[i++];
      case "none": return d.value;
      case "array": return d.children.map(build);
      case "object": {
        const o: Record<string, unknown> = {};
        d.keys.forEach((k, j) => (o[k] = build(d.children[j]!)));
        return o;
      }
    }
  };
  const out = build(def);
  if (i !== leaves.length) throw new Error(`treeUnflatten: structure has ${i} leaves but ${leaves.length} were given`);
  return out as T;
}

export function treeDefKey(d: TreeDef): string {
  switch (d.kind) {
    case "leaf": return "*";
    case "none": return d.value === null ? "N" : "U";
    case "array": return `[${d.children.map(treeDefKey).join(",")}]`;
    case "object": return `{${d.keys.map((k, i) => `${JSON.stringify(k)}:${treeDefKey(d.children[i]!)}`).join(",")}}`;
  }
}

export function treeLeafCount(d: TreeDef): number {
  switch (d.kind) {
    case "leaf": return 1;
    case "none": return 0;
    default: return d.children.reduce((a, c) => a + treeLeafCount(c), 0);
  }
}

/** Map a function over the tensor leaves of a tree (other leaves pass through). */
export function treeMap<T>(tree: T, fn: (t: Tensor) => unknown): T {
  const [leaves, def] = treeFlatten(tree);
  return treeUnflatten(def, leaves.map((l) => (l instanceof Tensor ? fn(l) : l)));
}
