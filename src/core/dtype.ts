/** Element types. float16/bfloat16 are storage types: arithmetic runs in float32. */
export type DType = "bool" | "int8" | "uint8" | "int32" | "uint32" | "float16" | "bfloat16" | "float32" | "float64";

export const DTYPES: readonly DType[] = ["bool", "int8", "uint8", "int32", "uint32", "float16", "bfloat16", "float32", "float64"];

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array | Int8Array | Uint16Array;

export const itemsize: Record<DType, number> = {
  bool: 1, int8: 1, uint8: 1, int32: 4, uint32: 4, float16: 2, bfloat16: 2, float32: 4, float64: 8,
};

export function isFloat(dt: DType): boolean {
  return dt === "float16" || dt === "bfloat16" || dt === "float32" || dt === "float64";
}
export function isInt(dt: DType): boolean {
  return dt === "int8" || dt === "uint8" || dt === "int32" || dt === "uint32";
}
export function isDType(x: unknown): x is DType {
  return typeof x === "string" && (DTYPES as readonly string[]).includes(x);
}

/** Typed array used to store a dtype (16-bit floats are stored as raw bits). */
export function storageArray(dt: DType, n: number): TypedArray {
  switch (dt) {
    case "float32": return new Float32Array(n);
    case "float64": return new Float64Array(n);
    case "int32": return new Int32Array(n);
    case "uint32": return new Uint32Array(n);
    case "int8": return new Int8Array(n);
    case "uint8": case "bool": return new Uint8Array(n);
    case "float16": case "bfloat16": return new Uint16Array(n);
  }
}

// --- 16-bit float conversion (round to nearest even) ---
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** Coerce a JS number to what a dtype can hold (wrap ints, round floats). */
export function coerce(dt: DType, v: number): number {
  switch (dt) {
    case "bool": return v !== 0 && !Number.isNaN(v) ? 1 : 0;
    case "int32": return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
    case "uint32": return Number.isFinite(v) ? Math.trunc(v) >>> 0 : 0;
    case "int8": return (Math.trunc(v) << 24) >> 24;
    case "uint8": return Math.trunc(v) & 0xff;
    case "float32": return Math.fround(v);
    case "float16": return f16ToF32(f32ToF16(v));
    case "bfloat16": return bf16ToF32(f32ToBf16(v));
    case "float64": return v;
  }
}

// --- JAX-style type promotion with weak types ---
// Lattice edges (JAX, with 64-bit ints canonicalised to 32-bit): each dtype lists what it promotes to directly.
type Node = DType | "i*" | "f*";
const edges: Record<Node, Node[]> = {
  bool: ["i*"],
  "i*": ["uint8", "int8"],
  uint8: ["int32", "uint32"],
  int8: ["int32"],
  uint32: ["f*"],
  int32: ["f*"],
  "f*": ["float16", "bfloat16"],
  float16: ["float32"],
  bfloat16: ["float32"],
  float32: ["float64"],
  float64: [],
};
const upper = new Map<Node, Set<Node>>();
function ub(n: Node): Set<Node> {
  let s = upper.get(n);
  if (s) return s;
  s = new Set([n]);
  for (const m of edges[n]) for (const u of ub(m)) s.add(u);
  upper.set(n, s);
  return s;
}
const order: Node[] = ["bool", "i*", "uint8", "int8", "int32", "uint32", "f*", "float16", "bfloat16", "float32", "float64"];
function join(a: Node, b: Node): Node {
  const ua = ub(a), uB = ub(b);
  const common = order.filter((n) => ua.has(n) && uB.has(n));
  // the least upper bound is the common bound that every other common bound is above
  for (const c of common) if (common.every((d) => ub(c).has(d))) return c;
  return "float64";
}
/** uint32 ∨ int32 is int64 in JAX; with 32-bit canonicalisation it is int32. */
function canon(n: Node, weakFloat: boolean): DType {
  if (n === "i*") return "int32";
  if (n === "f*") return weakFloat ? "float32" : "float32";
  return n;
}

export interface TypeLike { dtype: DType; weak: boolean }

/** Result dtype of combining operands; a weak (JS number) operand never widens a strong one of its kind. */
export function promoteTypes(...xs: TypeLike[]): TypeLike {
  let acc: Node | null = null;
  let allWeak = true;
  for (const x of xs) {
    let n: Node = x.dtype;
    if (x.weak) n = isFloat(x.dtype) ? "f*" : isInt(x.dtype) ? "i*" : "bool";
    else allWeak = false;
    if (acc === null) acc = n;
    else if ((acc === "uint32" && n === "int32") || (acc === "int32" && n === "uint32")) acc = "int32";
    else acc = join(acc, n);
  }
  if (acc === null) return { dtype: "float32", weak: true };
  return { dtype: canon(acc, true), weak: allWeak };
}
