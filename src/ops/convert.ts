import { ShapedArray } from "../core/aval.js";
import { isDType, type DType, type TypedArray } from "../core/dtype.js";
import { TridentError, checkOptions } from "../core/errors.js";
import { constant } from "../core/execute.js";
import { convert } from "../core/prims/elementwise.js";
import { reshape as reshapeOp } from "../core/prims/structural.js";
import { Tensor } from "../tensor.js";

/** What ops accept as an array: a tensor, a JS number/boolean, or nested arrays of them. */
export type NestedNumbers = number | boolean | NestedNumbers[];
export type TensorLike = Tensor | number | boolean | NestedNumbers[] | TypedArray;

function dtypeOfTyped(a: TypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint32Array) return "uint32";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof Uint8Array) return "uint8";
  throw new TridentError("tensor: Uint16Array data is ambiguous; use fromTypedArray(data, shape, 'float16')");
}

function flattenNested(x: NestedNumbers[], op: string): { flat: number[]; shape: number[]; allBool: boolean } {
  const shape: number[] = [];
  let cur: unknown = x;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  const flat: number[] = [];
  let allBool = true;
  const walk = (v: unknown, d: number) => {
    if (d === shape.length) {
      if (typeof v === "boolean") flat.push(v ? 1 : 0);
      else if (typeof v === "number") {
        allBool = false;
        flat.push(v);
      } else throw new TridentError(`${op}: nested array is ragged or holds a ${typeof v} at depth ${d} (expected shape [${shape}])`);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) throw new TridentError(`${op}: nested array is ragged: expected length ${shape[d]} at depth ${d}, got ${Array.isArray(v) ? v.length : typeof v}`);
    for (const e of v) walk(e, d + 1);
  };
  walk(x, 0);
  if (flat.length === 0) allBool = false;
  return { flat, shape, allBool };
}

/**
 * Make a tensor from JS data. Numbers default to float32, booleans to bool.
 * @example tr.tensor([[1, 2], [3, 4]]); tr.tensor([1, 2], { dtype: "int32" })
 */
export function tensor(
  data: TensorLike,
  opts: { dtype?: DType; requiresGrad?: boolean; shape?: readonly number[] } | DType | readonly number[] = {},
): Tensor {
  const o: { dtype?: DType; requiresGrad?: boolean; shape?: readonly number[] } =
    typeof opts === "string" ? { dtype: opts } : Array.isArray(opts) ? { shape: opts as readonly number[] } : (opts as object);
  checkOptions("tensor", o, ["dtype", "requiresGrad", "shape"]);
  if (o.dtype !== undefined && !isDType(o.dtype)) throw new TridentError(`tensor: unknown dtype ${String(o.dtype)}`);
  if (o.shape !== undefined) {
    const t0 = tensor(data, o.dtype ? { dtype: o.dtype } : {});
    const n = o.shape.reduce((a, b) => a * b, 1);
    if (!o.shape.every((d) => Number.isInteger(d) && d >= 0) || n !== t0.size) {
      throw new TridentError(`tensor: data has ${t0.size} elements but shape [${o.shape}] needs ${n}`);
    }
    const r = reshapeOp(t0, o.shape);
    if (o.requiresGrad) r.requiresGrad = true;
    return r;
  }
  let t: Tensor;
  if (data instanceof Tensor) t = o.dtype ? convert(data, o.dtype) : data;
  else if (typeof data === "number") t = constant([data], [], o.dtype ?? "float32");
  else if (typeof data === "boolean") t = constant([data ? 1 : 0], [], o.dtype ?? "bool");
  else if (ArrayBuffer.isView(data)) t = constant(data, [data.length], o.dtype ?? dtypeOfTyped(data));
  else if (Array.isArray(data)) {
    const { flat, shape, allBool } = flattenNested(data, "tensor");
    t = constant(flat, shape, o.dtype ?? (allBool ? "bool" : "float32"));
  } else throw new TridentError(`tensor: cannot make a tensor from ${typeof data}`);
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Wrap a typed array with a shape (copied): `fromTypedArray(new Float32Array(6), [2, 3])`. */
export function fromTypedArray(data: TypedArray, shape: readonly number[], dtype?: DType): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new TridentError(`fromTypedArray: data has ${data.length} elements but shape [${shape}] needs ${n}`);
  return constant(data, shape, dtype ?? dtypeOfTyped(data));
}

/** Coerce an op argument: JS numbers become weakly typed scalars (they adopt the other operand's dtype). */
export function toTensor(x: TensorLike, dtype?: DType): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x === "number") {
    if (dtype) return constant([x], [], dtype);
    // JAX's weak types: an integer-valued number is a weak int, others a weak float
    const int = Number.isInteger(x) && Math.abs(x) < 2 ** 31 && !Object.is(x, -0);
    return constant([x], [], int ? "int32" : "float32", true);
  }
  if (typeof x === "boolean") return constant([x ? 1 : 0], [], "bool", dtype === undefined);
  return tensor(x, dtype ? { dtype } : {});
}

export { ShapedArray };
