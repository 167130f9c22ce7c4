import type { Backend } from "../backend/backend.js";
import { getBackend } from "../backend/registry.js";
import { idx, linear, load, VarGen, type Access, type Kernel } from "../ir/expr.js";
import { DataRef, EagerTensor, Tensor, bytesOf } from "../tensor.js";
import { ShapedArray } from "./aval.js";
import { storageArray, type DType, type TypedArray } from "./dtype.js";
import { TridentError } from "./errors.js";
import { paramsKey, type AnyPrimitive, type Params } from "./primitive.js";
import { shapeEq } from "./shape.js";

/** Wrap a fresh device buffer as a tensor. */
export function wrapBuffer(backend: Backend, aval: ShapedArray, buf = backend.malloc(aval.dtype, aval.size)): EagerTensor {
  return new EagerTensor(aval, new DataRef(backend, buf, bytesOf(aval)));
}

/** Upload host data (already in storage encoding) as a tensor. */
export function fromStorage(aval: ShapedArray, data: TypedArray, backend: Backend = getBackend()): EagerTensor {
  const t = wrapBuffer(backend, aval);
  backend.write(t.buffer, data);
  return t;
}

const kernelCache = new Map<string, Kernel>();

/** The kernel of one primitive application: the eager path is a jit of one primitive, cached by shape. */
export function primitiveKernel(prim: AnyPrimitive, params: Params, inAvals: readonly ShapedArray[], outAvals: readonly ShapedArray[]): Kernel {
  const key = `${prim.name}|${paramsKey(params)}|${inAvals.map((a) => a.key()).join(";")}`;
  let k = kernelCache.get(key);
  if (k) return k;
  const rules = prim.rules as { lower: (ins: Access[], ix: ReturnType<typeof idx>[], ctx: unknown) => ReturnType<typeof idx>[] };
  const shape = [...outAvals[0]!.shape];
  for (const a of outAvals) if (!shapeEq(a.shape, shape)) throw new Error(`${prim.name}: outputs of one kernel must share a shape`);
  const ins: Access[] = inAvals.map((a, i) => (ix) => load(i, linear(ix, a.shape), a.dtype));
  const ix = shape.map((_, d) => idx(d));
  const exprs = rules.lower(ins, ix, { params, inAvals, outAvals, vars: new VarGen(shape.length) });
  k = { name: prim.name, inputs: inAvals.map((a) => a.dtype), shape, outs: exprs.map((e, j) => ({ dt: outAvals[j]!.dtype, expr: e })) };
  kernelCache.set(key, k);
  return k;
}

function pickBackend(prim: AnyPrimitive, args: readonly EagerTensor[]): Backend {
  if (args.length === 0) return getBackend();
  const b = args[0]!.backend;
  for (const a of args) {
    if (a.backend !== b) {
      throw new TridentError(`${prim.name}: operands live on different backends (${b.name} and ${a.backend.name}); move one with .to()`);
    }
  }
  return b;
}

/** Run one primitive on concrete tensors. */
export function executePrimitive(prim: AnyPrimitive, args: EagerTensor[], params: Params): Tensor[] {
  const r = prim.rules as unknown as Record<string, unknown>;
  if (typeof r["impl"] === "function") return (r["impl"] as (a: Tensor[], p: Params) => Tensor[])(args, params);
  const inAvals = args.map((a) => a.aval);
  const outAvals = prim.rules.shape(inAvals, params);
  const backend = pickBackend(prim, args);
  const outs = outAvals.map((a) => wrapBuffer(backend, a));
  if (outAvals.some((a) => a.size === 0)) return outs;
  if (typeof r["routine"] === "function") {
    const call = (r["routine"] as (p: Params, a: readonly ShapedArray[]) => import("../ir/expr.js").RoutineCall)(params, inAvals);
    backend.routine(call, args.map((a) => a.buffer), outs.map((o) => o.buffer));
    return outs;
  }
  const kernel = primitiveKernel(prim, params, inAvals, outAvals);
  backend.dispatch(backend.compile(kernel), args.map((a) => a.buffer), outs.map((o) => o.buffer));
  return outs;
}

/** A constant tensor holding JS values (coerced to dtype). */
export function constant(values: ArrayLike<number>, shape: readonly number[], dtype: DType, weak = false, backend?: Backend): EagerTensor {
  const aval = new ShapedArray(shape, dtype, weak);
  const st = storageArray(dtype, aval.size);
  encodeInto(st, values, dtype);
  return fromStorage(aval, st, backend);
}

import { f32ToBf16, f32ToF16 } from "./dtype.js";
export function encodeInto(st: TypedArray, values: ArrayLike<number>, dtype: DType): void {
  const n = st.length;
  if (dtype === "float16") for (let i = 0; i < n; i++) st[i] = f32ToF16(values[i]!);
  else if (dtype === "bfloat16") for (let i = 0; i < n; i++) st[i] = f32ToBf16(values[i]!);
  else if (dtype === "bool") for (let i = 0; i < n; i++) st[i] = values[i] ? 1 : 0;
  else for (let i = 0; i < n; i++) st[i] = values[i]!;
}
