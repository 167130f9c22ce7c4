import { ShapedArray } from "../aval.js";
import { fail, fmtShape } from "../errors.js";
import { idx, mul, type Expr } from "../../ir/expr.js";
import { primitive, UndefPrimal, type Dim } from "../primitive.js";
import { bind1 } from "../trace.js";
import type { Tensor } from "../../tensor.js";
import { add } from "./elementwise.js";
import { invPerm, transpose } from "./structural.js";
import { range } from "./util.js";

/**
 * XLA's DotGeneral: `contract` pairs the contracted axes of lhs and rhs, `batch` pairs the axes both
 * operands share element for element. The result is [batch..., lhs free..., rhs free...], free axes in
 * operand order.
 */
export type DotGeneralP = { contract: [number[], number[]]; batch: [number[], number[]] };

/** The axes of an operand that are neither contracted nor batch, in order. */
export const freeAxes = (ndim: number, contract: readonly number[], batch: readonly number[]): number[] =>
  range(ndim).filter((d) => !contract.includes(d) && !batch.includes(d));

function checkAxes(side: string, a: ShapedArray, axes: readonly number[]): void {
  for (const d of axes) {
    if (!Number.isInteger(d) || d < 0 || d >= a.ndim) fail("dot_general", `${side} axis ${d} is out of range for shape ${fmtShape(a.shape)}`);
  }
}

function dotShape([l, r]: readonly ShapedArray[], { contract, batch }: DotGeneralP): ShapedArray[] {
  const x = l!, y = r!;
  if (contract[0].length !== contract[1].length) fail("dot_general", `contracting axes ${JSON.stringify(contract)} must pair up one lhs axis with one rhs axis`);
  if (batch[0].length !== batch[1].length) fail("dot_general", `batch axes ${JSON.stringify(batch)} must pair up one lhs axis with one rhs axis`);
  checkAxes("lhs", x, [...contract[0], ...batch[0]]);
  checkAxes("rhs", y, [...contract[1], ...batch[1]]);
  const lAll = [...contract[0], ...batch[0]], rAll = [...contract[1], ...batch[1]];
  if (new Set(lAll).size !== lAll.length) fail("dot_general", `lhs axes ${JSON.stringify(lAll)} repeat an axis`);
  if (new Set(rAll).size !== rAll.length) fail("dot_general", `rhs axes ${JSON.stringify(rAll)} repeat an axis`);
  contract[0].forEach((a, i) => {
    const b = contract[1][i]!;
    if (x.shape[a] !== y.shape[b]) {
      fail("dot_general", `contracting lhs axis ${a} (size ${x.shape[a]}) and rhs axis ${b} (size ${y.shape[b]}) differ; lhs ${fmtShape(x.shape)}, rhs ${fmtShape(y.shape)}`);
    }
  });
  batch[0].forEach((a, i) => {
    const b = batch[1][i]!;
    if (x.shape[a] !== y.shape[b]) {
      fail("dot_general", `batch lhs axis ${a} (size ${x.shape[a]}) and rhs axis ${b} (size ${y.shape[b]}) differ; lhs ${fmtShape(x.shape)}, rhs ${fmtShape(y.shape)}`);
    }
  });
  if (x.dtype !== y.dtype) fail("dot_general", `lhs has dtype ${x.dtype} but rhs has ${y.dtype}; promote the operands first`);
  const shape = [
    ...batch[0].map((a) => x.shape[a]!),
    ...freeAxes(x.ndim, contract[0], batch[0]).map((a) => x.shape[a]!),
    ...freeAxes(y.ndim, contract[1], batch[1]).map((a) => y.shape[a]!),
  ];
  return [new ShapedArray(shape, x.dtype, x.weakType && y.weakType)];
}

export const dotGeneralP = primitive<DotGeneralP>(
  "dot_general",
  {
    shape: dotShape,
    lower([x, y], ix, { params: { contract, batch }, inAvals: [a, b], outAvals: [o], vars }) {
      const nb = batch[0].length;
      const lFree = freeAxes(a!.ndim, contract[0], batch[0]);
      const rFree = freeAxes(b!.ndim, contract[1], batch[1]);
      const ids = vars.fresh(contract[0].length);
      const lix: Expr[] = new Array(a!.ndim), rix: Expr[] = new Array(b!.ndim);
      batch[0].forEach((d, i) => (lix[d] = ix[i]!));
      batch[1].forEach((d, i) => (rix[d] = ix[i]!));
      lFree.forEach((d, i) => (lix[d] = ix[nb + i]!));
      rFree.forEach((d, i) => (rix[d] = ix[nb + lFree.length + i]!));
      contract[0].forEach((d, i) => (lix[d] = idx(ids[i]!)));
      contract[1].forEach((d, i) => (rix[d] = idx(ids[i]!)));
      const dt = o!.dtype;
      const body = mul(castTo(x!(lix), dt), castTo(y!(rix), dt));
      if (ids.length === 0) return [body];
      return [{ k: "reduce", op: "sum", vars: ids, ext: contract[0].map((d) => a!.shape[d]!), body, dt }];
    },
    jvp([x, y], [dx, dy], p) {
      return [[dotGeneral(x!, y!, p)], [add(dotGeneral(dx!, y!, p), dotGeneral(x!, dy!, p))]];
    },
    transpose([ct], [x, y], p) {
      if (ct === null || ct === undefined) return [null, null];
      const ux = x instanceof UndefPrimal, uy = y instanceof UndefPrimal;
      if (ux && uy) throw new Error("dot_general transpose: both operands are linear (the program is not linear)");
      return [ux ? transposeLhs(ct, x.aval, y as Tensor, p) : null, uy ? transposeRhs(ct, x as Tensor, y.aval, p) : null];
    },
    batch([x, y], [dx, dy], { contract, batch }) {
      // operand axis a of the unbatched program is axis a (< d) or a + 1 of the batched operand
      const sh = (d: Dim) => (a: number) => (d === null || a < d ? a : a + 1);
      const sl = sh(dx!), sr = sh(dy!);
      const c: [number[], number[]] = [contract[0].map(sl), contract[1].map(sr)];
      const b: [number[], number[]] = [batch[0].map(sl), batch[1].map(sr)];
      if (dx !== null && dy !== null) {
        // both mapped: the mapped axis becomes a leading batch axis of the product
        return [[dotGeneral(x!, y!, { contract: c, batch: [[dx!, ...b[0]], [dy!, ...b[1]]] })], [0]];
      }
      if (dx !== null) {
        // lhs mapped: it is a free lhs axis; free axes keep their order in the output
        const pos = freeAxes(x!.ndim, c[0], b[0]).indexOf(dx!);
        return [[dotGeneral(x!, y!, { contract: c, batch: b })], [b[0].length + pos]];
      }
      const pos = freeAxes(y!.ndim, c[1], b[1]).indexOf(dy!);
      const nlf = x!.ndim - c[0].length - b[0].length;
      return [[dotGeneral(x!, y!, { contract: c, batch: b })], [b[0].length + nlf + pos]];
    },
  },
  (p) => `contract=${JSON.stringify(p.contract)} batch=${JSON.stringify(p.batch)}`,
);

const castTo = (e: Expr, dt: ShapedArray["dtype"]): Expr => (e.dt === dt ? e : { k: "cast", x: e, dt });

/** Generalised tensor contraction (XLA DotGeneral); operands must share a dtype. */
export function dotGeneral(x: Tensor, y: Tensor, p: DotGeneralP): Tensor {
  return bind1(dotGeneralP, [x, y], { contract: [[...p.contract[0]], [...p.contract[1]]], batch: [[...p.batch[0]], [...p.batch[1]]] });
}

/** Order of `idxs` by the values of `key` (argsort of key applied to idxs). */
const sortBy = (idxs: readonly number[], key: readonly number[]): number[] =>
  range(idxs.length).sort((i, j) => key[i]! - key[j]!).map((i) => idxs[i]!);

/**
 * Cotangent of the lhs: contract ct's rhs-free axes with y's free axes, keeping the batch pairing. The
 * product comes out as [batch, lhs free, lhs contracted (in the order of y's contracted axes)]; a
 * transpose puts the axes back where x has them.
 */
function transposeLhs(ct: Tensor, xa: ShapedArray, y: Tensor, { contract, batch }: DotGeneralP): Tensor {
  const nb = batch[0].length;
  const xFree = freeAxes(xa.ndim, contract[0], batch[0]);
  const yFree = freeAxes(y.ndim, contract[1], batch[1]);
  const ctRhsFree = yFree.map((_, i) => nb + xFree.length + i);
  const r = dotGeneral(ct, y, { contract: [ctRhsFree, yFree], batch: [range(nb), batch[1]] });
  const order = [...batch[0], ...xFree, ...sortBy(contract[0], contract[1])];
  return transpose(r, invPerm(order));
}

/**
 * Cotangent of the rhs: the mirror image of transposeLhs, with x on the left so that the common case
 * (the weight of x @ w) needs no transpose: [batch, rhs contracted (in x's order), rhs free].
 */
function transposeRhs(ct: Tensor, x: Tensor, ya: ShapedArray, { contract, batch }: DotGeneralP): Tensor {
  const nb = batch[0].length;
  const xFree = freeAxes(x.ndim, contract[0], batch[0]);
  const yFree = freeAxes(ya.ndim, contract[1], batch[1]);
  const ctLhsFree = xFree.map((_, i) => nb + i);
  const r = dotGeneral(x, ct, { contract: [xFree, ctLhsFree], batch: [batch[0], range(nb)] });
  const order = [...batch[1], ...sortBy(contract[1], contract[0]), ...yFree];
  return transpose(r, invPerm(order));
}
