// Windowed max pooling as three primitives over the trailing `kernel.length` axes (leading axes pass
// through): the arg-max of each window, a gather of one element per window, and its transpose, a
// gather-form scatter. max-pool = window_gather(x, stop_gradient(window_argmax(x))); its gradient
// routes each cotangent to its window's arg-max (the first maximum, as PyTorch does) in one kernel that
// reads each input position's few candidate windows, with no scatter over the whole input.
import { ShapedArray } from "../aval.js";
import { isInt } from "../dtype.js";
import { fail, fmtShape } from "../errors.js";
import { add, bin, c, idx, mul, sel, sub, unravel, type Expr } from "../../ir/expr.js";
import { primitive, UndefPrimal, type Primitive } from "../primitive.js";
import { bind1 } from "../trace.js";
import type { Tensor } from "../../tensor.js";
import { batchToFront } from "./util.js";

/** Window geometry on the trailing axes: out[o] covers in[o·stride + a·dilation − padLo], a < kernel. */
export type WindowP = { kernel: number[]; stride: number[]; dilation: number[]; padLo: number[]; inShape: number[]; outShape: number[] };

export const lowest = (dt: ShapedArray["dtype"]): number => (isInt(dt) ? (dt === "int32" ? -(2 ** 31) : dt === "int8" ? -128 : 0) : -Infinity);
const clampTo = (e: Expr, n: number): Expr => bin("max", bin("min", e, c(n - 1)), c(0));

function checkGeometry(op: string, a: ShapedArray, p: WindowP, spatial: "in" | "out"): number {
  const nsp = p.kernel.length;
  const lead = a.ndim - nsp;
  const want = spatial === "in" ? p.inShape : p.outShape;
  if (lead < 0 || a.shape.slice(lead).join() !== want.join()) {
    fail(op, `operand ${fmtShape(a.shape)} must end in the window's ${spatial === "in" ? "input" : "output"} shape ${fmtShape(want)}`);
  }
  return lead;
}

/** The input position of window offset a in window o along axis s, and whether it is inside the input. */
function source(p: WindowP, s: number, o: Expr, a: Expr): [Expr, Expr] {
  const pos = sub(add(mul(o, c(p.stride[s]!)), mul(a, c(p.dilation[s]!))), c(p.padLo[s]!));
  // unpadded windows that end inside the input need no bounds check (most pooling layers)
  const last = (p.outShape[s]! - 1) * p.stride[s]! + p.dilation[s]! * (p.kernel[s]! - 1) - p.padLo[s]!;
  if (p.padLo[s] === 0 && last < p.inShape[s]!) return [pos, c(1, "bool")];
  return [pos, bin("and", bin("ge", pos, c(0)), bin("lt", pos, c(p.inShape[s]!)))];
}
const inside = (p: WindowP, s: number) => p.padLo[s] === 0 && (p.outShape[s]! - 1) * p.stride[s]! + p.dilation[s]! * (p.kernel[s]! - 1) < p.inShape[s]!;

export const windowArgmaxP: Primitive<WindowP> = primitive<WindowP>("window_argmax", {
  shape([x], p) {
    const lead = checkGeometry("window_argmax", x!, p, "in");
    return [new ShapedArray([...x!.shape.slice(0, lead), ...p.outShape], "int32")];
  },
  lower([x], ix, { params: p, inAvals: [a], vars }) {
    const nsp = p.kernel.length, lead = a!.ndim - nsp;
    const ids = vars.fresh(nsp);
    let inb: Expr = c(1, "bool");
    const at = ix.slice(0, lead).concat(ix.slice(lead).map((o, s) => {
      const [pos, ok] = source(p, s, o, idx(ids[s]!));
      inb = bin("and", inb, ok);
      return inside(p, s) ? pos : clampTo(pos, p.inShape[s]!);
    }));
    // padding never wins: it reads as the dtype's lowest value (an all-padding window cannot occur)
    const body = sel(inb, x!(at), c(lowest(a!.dtype), a!.dtype));
    return [{ k: "reduce", op: "argmax", vars: ids, ext: [...p.kernel], body, dt: "int32" }];
  },
  jvp([x], _t, p) {
    return [[windowArgmax(x!, p)], [null]];
  },
  batch([x], [d], p) {
    return [[windowArgmax(batchToFront([x!], [d!])[0]!, p)], [0]];
  },
}, showWindow);

/** window_gather's params: positions outside the input read as `fill` (0 keeps it linear in x). */
type GatherP = WindowP & { fill: number };

export const windowGatherP: Primitive<GatherP> = primitive<GatherP>("window_gather", {
  shape([x, i], p) {
    const lead = checkGeometry("window_gather", x!, p, "in");
    const want = [...x!.shape.slice(0, lead), ...p.outShape];
    if (i!.dtype !== "int32" || i!.shape.join() !== want.join()) fail("window_gather", `indices must be int32 ${fmtShape(want)}, got ${i}`);
    return [new ShapedArray(want, x!.dtype, x!.weakType)];
  },
  lower([x, i], ix, { params: p, inAvals: [a] }) {
    const nsp = p.kernel.length, lead = a!.ndim - nsp;
    const offs = unravel(i!(ix), p.kernel);
    let inb: Expr = c(1, "bool");
    const at = ix.slice(0, lead).concat(ix.slice(lead).map((o, s) => {
      const [pos, ok] = source(p, s, o, offs[s]!);
      inb = bin("and", inb, ok);
      return inside(p, s) ? pos : clampTo(pos, p.inShape[s]!);
    }));
    return [sel(inb, x!(at), c(p.fill, a!.dtype))];
  },
  jvp([x, i], [dx], p) {
    // the fill is a constant: tangents read 0 there
    return [[windowGather(x!, i!, p, p.fill)], [windowGather(dx!, i!, p)]];
  },
  transpose([ct], [x, i], p) {
    if (i instanceof UndefPrimal) throw new Error("window_gather transpose: the indices cannot be a linear input");
    if (p.fill !== 0) throw new Error("window_gather transpose: only the zero-filled gather is linear");
    if (!(x instanceof UndefPrimal) || ct === null) return [null, null];
    return [windowScatter(ct!, i!, p), null];
  },
  batch(args, dims, p) {
    const [x, i] = batchToFront(args, dims);
    return [[windowGather(x!, i!, p, p.fill)], [0]];
  },
}, (p) => `${showWindow(p)} fill=${p.fill}`);

export const windowScatterP: Primitive<WindowP> = primitive<WindowP>("window_scatter", {
  shape([ct, i], p) {
    const lead = checkGeometry("window_scatter", ct!, p, "out");
    if (i!.dtype !== "int32" || i!.shape.join() !== ct!.shape.join()) fail("window_scatter", `indices must be int32 ${fmtShape(ct!.shape)}, got ${i}`);
    return [new ShapedArray([...ct!.shape.slice(0, lead), ...p.inShape], ct!.dtype, ct!.weakType)];
  },
  lower([ct, i], ix, { params: p, inAvals: [a], vars }) {
    // dx[pos] = Σ over window offsets a whose window o = (pos + pad − a·d) / stride exists and picked a.
    // Along an axis where windows do not overlap (stride ≥ span) at most one does: o and a follow from
    // pos directly, with no loop (pooling with stride = kernel, the common case).
    const nsp = p.kernel.length, lead = a!.ndim - nsp;
    const overlap = p.kernel.map((k, s) => p.stride[s]! < p.dilation[s]! * (k - 1) + 1);
    const ids = vars.fresh(overlap.filter(Boolean).length);
    let r = 0;
    let ok: Expr = c(1, "bool");
    let flat: Expr = c(0);
    const o = ix.slice(lead).map((pos, s) => {
      const st = p.stride[s]!, d = p.dilation[s]!, k = p.kernel[s]!;
      const shifted = add(pos, c(p.padLo[s]!));
      let w: Expr, off: Expr;
      if (overlap[s]) {
        off = idx(ids[r++]!);
        const q = sub(shifted, mul(off, c(d)));
        w = st === 1 ? q : bin("div", q, c(st));
        ok = bin("and", ok, bin("and", bin("ge", q, c(0)), bin("lt", w, c(p.outShape[s]!))));
        if (st !== 1) ok = bin("and", ok, bin("eq", bin("rem", q, c(st)), c(0)));
      } else {
        // shifted ≥ 0 always (pad ≥ 0), so integer division is floor division here
        w = st === 1 ? shifted : bin("div", shifted, c(st));
        const within = sub(shifted, mul(w, c(st)));
        off = d === 1 ? within : bin("div", within, c(d));
        // both bounds are often known statically: every position lies in some window slot
        if (Math.floor((p.inShape[s]! - 1 + p.padLo[s]!) / st) >= p.outShape[s]!) ok = bin("and", ok, bin("lt", w, c(p.outShape[s]!)));
        if (Math.floor((st - 1) / d) >= k) ok = bin("and", ok, bin("lt", off, c(k)));
        if (d !== 1) ok = bin("and", ok, bin("eq", bin("rem", within, c(d)), c(0)));
      }
      flat = add(mul(flat, c(k)), off);
      return overlap[s] || Math.floor((p.inShape[s]! - 1 + p.padLo[s]!) / st) >= p.outShape[s]! ? clampTo(w, p.outShape[s]!) : w;
    });
    const at = ix.slice(0, lead).concat(o);
    const picked = bin("and", ok, bin("eq", i!(at), flat));
    const body = sel(picked, ct!(at), c(0, a!.dtype));
    if (ids.length === 0) return [body];
    return [{ k: "reduce", op: "sum", vars: ids, ext: p.kernel.filter((_, s) => overlap[s]), body, dt: a!.dtype }];
  },
  jvp([ct, i], [dct], p) {
    return [[windowScatter(ct!, i!, p)], [windowScatter(dct!, i!, p)]];
  },
  transpose([g], [ct, i], p) {
    if (i instanceof UndefPrimal) throw new Error("window_scatter transpose: the indices cannot be a linear input");
    if (!(ct instanceof UndefPrimal) || g === null) return [null, null];
    return [windowGather(g!, i!, p), null];
  },
  batch(args, dims, p) {
    const [ct, i] = batchToFront(args, dims);
    return [[windowScatter(ct!, i!, p)], [0]];
  },
}, showWindow);

function showWindow(p: WindowP): string {
  return `kernel=${p.kernel} stride=${p.stride} dilation=${p.dilation} pad=${p.padLo} in=${p.inShape} out=${p.outShape}`;
}

/** Flat offset (row-major over the kernel) of each window's first maximum. */
export const windowArgmax = (x: Tensor, p: WindowP): Tensor => {
  const { kernel, stride, dilation, padLo, inShape, outShape } = p;
  return bind1(windowArgmaxP, [x], { kernel, stride, dilation, padLo, inShape, outShape });
};
/**
 * One element per window: the one at flat kernel offset idx; `fill` outside the input (max-pool passes the
 * lowest value, so an all −∞ window at the border gives −∞ even when its first maximum is padding).
 */
export const windowGather = (x: Tensor, i: Tensor, p: WindowP, fill = 0): Tensor => {
  const { kernel, stride, dilation, padLo, inShape, outShape } = p;
  return bind1(windowGatherP, [x, i], { kernel, stride, dilation, padLo, inShape, outShape, fill });
};
/** The transpose of windowGather: each window's value added at the input position its index picks. */
export const windowScatter = (ct: Tensor, i: Tensor, p: WindowP): Tensor => {
  const { kernel, stride, dilation, padLo, inShape, outShape } = p;
  return bind1(windowScatterP, [ct, i], { kernel, stride, dilation, padLo, inShape, outShape });
};
