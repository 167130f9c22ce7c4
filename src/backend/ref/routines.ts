import { bf16ToF32, f16ToF32, type DType, type TypedArray } from "../../core/dtype.js";

/** Stable sort along one axis, NaN as the largest value; writes values and int32 source indices. */
export function sortRoutine(
  x: TypedArray, vals: TypedArray, idxs: TypedArray,
  p: { shape: number[]; axis: number; descending: boolean }, dt: DType,
): void {
  const n = p.shape[p.axis] ?? 1;
  let inner = 1;
  for (let i = p.axis + 1; i < p.shape.length; i++) inner *= p.shape[i]!;
  const outer = x.length / Math.max(n * inner, 1);
  const dec = dt === "float16" ? f16ToF32 : dt === "bfloat16" ? bf16ToF32 : (v: number) => v;
  const order = new Array<number>(n);
  const key = new Array<number>(n);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      for (let i = 0; i < n; i++) {
        order[i] = i;
        key[i] = dec(x[base + i * inner]!);
      }
      order.sort((a, b) => {
        const ka = key[a]!, kb = key[b]!;
        const na = ka !== ka, nb = kb !== kb;
        // NaN is the largest value (PyTorch/NumPy): last ascending, first descending
        if (na || nb) return na && nb ? a - b : (na ? 1 : -1) * (p.descending ? -1 : 1);
        const d = p.descending ? kb - ka : ka - kb;
        return d !== 0 ? d : a - b;
      });
      for (let i = 0; i < n; i++) {
        vals[base + i * inner] = x[base + order[i]! * inner]!;
        idxs[base + i * inner] = order[i]!;
      }
    }
  }
}
