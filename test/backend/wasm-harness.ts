// Shared helpers of the wasm backend tests: run hand-built kernels on the ref backend (the oracle) and
// on wasm backends, with deterministic random inputs.
import { f32ToBf16, f32ToF16, storageArray, type DType, type TypedArray } from "../../src/core/dtype.js";
import { idx, linear, load, type Expr, type Kernel } from "../../src/ir/expr.js";
import type { Backend } from "../../src/backend/backend.js";
import { RefBackend } from "../../src/backend/ref/index.js";
import { WasmBackend } from "../../src/backend/wasm/index.js";
import { assertClose } from "../helpers.js";

export const ref = new RefBackend();
/** Single-threaded wasm. */
export const wasm1 = new WasmBackend({ threads: 1 });
/** Two threads, and every kernel split across them however small. */
export const wasm2 = new WasmBackend({ threads: 2, parallelWork: 0 });

/** A deterministic generator of floats in [lo, hi). */
export function rng(seed: number): (lo?: number, hi?: number) => number {
  let s = seed >>> 0 || 1;
  return (lo = -1, hi = 1) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return lo + ((s >>> 0) / 4294967296) * (hi - lo);
  };
}

/** Random data of a dtype (floats in [lo, hi), integers in a range that exercises signs and wrapping). */
export function randomData(dt: DType, n: number, seed: number, lo = -2, hi = 2): TypedArray {
  const r = rng(seed);
  const a = storageArray(dt, n);
  for (let i = 0; i < n; i++) {
    switch (dt) {
      case "bool": a[i] = r(0, 1) < 0.5 ? 1 : 0; break;
      case "int8": a[i] = Math.floor(r(-128, 128)); break;
      case "uint8": a[i] = Math.floor(r(0, 256)); break;
      case "int32": a[i] = Math.floor(r(-1000, 1000)); break;
      case "uint32": a[i] = Math.floor(r(0, 4294967295)); break;
      default: a[i] = r(lo, hi);
    }
  }
  if (dt === "float16" || dt === "bfloat16") {
    // storage holds the bits
    const enc = dt === "float16" ? f32ToF16 : f32ToBf16;
    for (let i = 0; i < n; i++) a[i] = enc(r(lo, hi));
  }
  return a;
}

/** Run a kernel on a backend with host inputs; returns the outputs read back. */
export function runOn(b: Backend, k: Kernel, inputs: readonly TypedArray[]): TypedArray[] {
  const size = k.shape.reduce((p, x) => p * x, 1);
  const ins = inputs.map((data, i) => {
    const buf = b.malloc(k.inputs[i]!, data.length);
    b.write(buf, data);
    return buf;
  });
  const outs = k.outs.map((o) => b.malloc(o.dt, size));
  b.dispatch(b.compile(k), ins, outs);
  const res = outs.map((o) => b.readSync!(o));
  for (const x of [...ins, ...outs]) b.free(x);
  return res;
}

/** Run on ref and on both wasm backends; assert wasm matches ref (tolerance) and 1 vs 2 threads exactly. */
export function checkKernel(k: Kernel, inputs: readonly TypedArray[], opts: { rtol?: number; atol?: number } = {}): TypedArray[] {
  const expected = runOn(ref, k, inputs);
  const one = runOn(wasm1, k, inputs);
  const two = runOn(wasm2, k, inputs);
  k.outs.forEach((o, j) => {
    const exact = !(o.dt === "float32" || o.dt === "float64" || o.dt === "float16" || o.dt === "bfloat16");
    assertClose(one[j]!, expected[j]!, exact ? { rtol: 0, atol: 0, msg: `${k.name} out ${j}` } : { rtol: opts.rtol ?? 1e-5, atol: opts.atol ?? 1e-6, msg: `${k.name} out ${j}` });
    assertClose(two[j]!, one[j]!, { rtol: 0, atol: 0, msg: `${k.name} out ${j}: 2 threads vs 1` });
  });
  return one;
}

/** Loads of argument `arg` (shape `inShape`) at output index ix through an index map. */
export const at = (arg: number, dt: DType, inShape: readonly number[], ix: readonly Expr[]): Expr => load(arg, linear(ix, inShape), dt);

/** The output index variables of a shape. */
export const outIx = (shape: readonly number[]): Expr[] => shape.map((_, d) => idx(d));

/** A one-output kernel. */
export const kernel = (name: string, inputs: DType[], shape: number[], dt: DType, expr: Expr): Kernel => ({ name, inputs, shape, outs: [{ dt, expr }] });
