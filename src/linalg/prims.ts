// The decompositions that cannot be compositions: each is one primitive over leading batch axes, lowered
// to the host `linalg` routine (src/backend/ref/linalg-routines.ts) on every backend. Their derivatives
// are compositions of public ops (the rules of JAX's lax.linalg), so higher derivatives come for free.
import { ShapedArray } from "../core/aval.js";
import { fail, fmtShape } from "../core/errors.js";
import { primitive, UndefPrimal, type Dim, type Primitive } from "../core/primitive.js";
import { prod } from "../core/shape.js";
import { bind } from "../core/trace.js";
import type { Tensor } from "../tensor.js";
import * as o from "../ops/index.js";

const mT = (x: Tensor): Tensor => o.swapaxes(x, -1, -2);
const mm = (a: Tensor, b: Tensor): Tensor => o.matmul(a, b);
const eyeLike = (x: Tensor): Tensor => o.eye(x.shape[x.ndim - 1]!, undefined, { dtype: x.dtype });
/** The symmetric matrix a routine sees when it reads only the lower triangle. */
const symLower = (x: Tensor): Tensor => o.add(o.tril(x), mT(o.tril(x, -1)));

function checkFloatMatrix(op: string, x: ShapedArray, square: boolean): void {
  if (x.dtype !== "float32" && x.dtype !== "float64") fail(op, `expected a float32 or float64 matrix, got dtype ${x.dtype}`);
  if (x.ndim < 2) fail(op, `expected a matrix (at least 2 dimensions), got shape ${fmtShape(x.shape)}`);
  if (square && x.shape[x.ndim - 1] !== x.shape[x.ndim - 2]) fail(op, `expected square matrices, got shape ${fmtShape(x.shape)}`);
}
const batchOf = (x: ShapedArray): number[] => x.shape.slice(0, -2);

/** Generic batching: every operand gets its batch axis in front (broadcasting unbatched ones). */
function batchFront(prim: Primitive<any>, args: Tensor[], dims: Dim[], params: object): [Tensor[], Dim[]] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const j = dims.findIndex((d) => d !== null);
  const size = args[j]!.shape[dims[j]!]!;
  const moved = args.map((a, i) => (dims[i] === null ? o.broadcastTo(a, [size, ...a.shape]) : o.moveaxis(a, dims[i]!, 0)));
  const outs = bind(prim, moved, params as Record<string, unknown>);
  return [outs, outs.map(() => 0)];
}

// ---------------- cholesky ----------------
type NoP = Record<string, never>;

export const choleskyP: Primitive<NoP> = primitive<NoP>("cholesky", {
  shape([a]) {
    checkFloatMatrix("cholesky", a!, true);
    return [a!];
  },
  routine(_p, [a]) {
    return { routine: "linalg", params: { kind: "cholesky", batch: prod(batchOf(a!)), n: a!.shape[a!.ndim - 1]! } };
  },
  jvp([a], [da]) {
    const L = cholesky(a!);
    // dL = L Phi(L^-1 dA L^-T), Phi = lower triangle with the diagonal halved
    const tmp = triangularSolve(L, symLower(da!), { lower: true });
    const X = mT(triangularSolve(L, mT(tmp), { lower: true }));
    const phi = o.sub(o.tril(X), o.mul(o.mul(X, eyeLike(X)), 0.5));
    return [[L], [mm(L, phi)]];
  },
  batch(args, dims) {
    return batchFront(choleskyP, args, dims, {});
  },
});

/** Lower Cholesky factor of the symmetric positive definite matrices in a's lower triangle. */
export function cholesky(a: Tensor): Tensor {
  return bind(choleskyP, [a], {})[0]!;
}

// ---------------- triangular solve (left side) ----------------
type TriP = { lower: boolean; transposeA: boolean; unitDiagonal: boolean };

/** The triangle (and diagonal) of a that the solve actually reads. */
function triPart(a: Tensor, { lower, unitDiagonal }: { lower: boolean; unitDiagonal: boolean }): Tensor {
  const t = lower ? o.tril(a, unitDiagonal ? -1 : 0) : o.triu(a, unitDiagonal ? 1 : 0);
  return t;
}

export const triangularSolveP: Primitive<TriP> = primitive<TriP>("triangular_solve", {
  shape([a, b]) {
    checkFloatMatrix("triangularSolve", a!, true);
    if (b!.dtype !== a!.dtype) fail("triangularSolve", `a has dtype ${a!.dtype} but b has dtype ${b!.dtype}`);
    if (b!.ndim !== a!.ndim || b!.shape[b!.ndim - 2] !== a!.shape[a!.ndim - 1] || batchOf(a!).some((d, i) => d !== b!.shape[i])) {
      fail("triangularSolve", `b of shape ${fmtShape(b!.shape)} does not match a of shape ${fmtShape(a!.shape)}`);
    }
    return [b!];
  },
  routine(p, [a, b]) {
    return { routine: "linalg", params: { kind: "trsolve", batch: prod(batchOf(a!)), n: a!.shape[a!.ndim - 1]!, k: b!.shape[b!.ndim - 1]!, ...p } };
  },
  jvp([a, b], [da, db], p) {
    const x = bind(triangularSolveP, [a!, b!], p)[0]!;
    const dA = triPart(da!, p);
    const opdA = p.transposeA ? mT(dA) : dA;
    return [[x], [bind(triangularSolveP, [a!, o.sub(db!, mm(opdA, x))], p)[0]!]];
  },
  transpose([ct], [a, b], p) {
    if (a instanceof UndefPrimal || !(b instanceof UndefPrimal)) throw new Error("triangular_solve transpose: only linear in b");
    if (ct === null) return [null, null];
    return [null, bind(triangularSolveP, [a, ct], { ...p, transposeA: !p.transposeA })[0]!];
  },
  batch(args, dims, p) {
    return batchFront(triangularSolveP, args, dims, p);
  },
}, (p) => `lower=${p.lower} transposeA=${p.transposeA} unitDiagonal=${p.unitDiagonal}`);

/** Solve op(a) x = b (left) or x op(a) = b (right) for triangular a; batch axes of a and b must agree. */
export function triangularSolve(a: Tensor, b: Tensor, opts: { lower?: boolean; left?: boolean; transposeA?: boolean; unitDiagonal?: boolean } = {}): Tensor {
  const lower = opts.lower ?? true, left = opts.left ?? true, transposeA = opts.transposeA ?? false, unitDiagonal = opts.unitDiagonal ?? false;
  if (left) return bind(triangularSolveP, [a, b], { lower, transposeA, unitDiagonal })[0]!;
  // x op(a) = b  <=>  op(a)^T x^T = b^T
  return mT(bind(triangularSolveP, [a, mT(b)], { lower, transposeA: !transposeA, unitDiagonal })[0]!);
}

// ---------------- LU ----------------
export const luP: Primitive<NoP> = primitive<NoP>("lu", {
  shape([a]) {
    checkFloatMatrix("lu", a!, true);
    return [a!, new ShapedArray(a!.shape.slice(0, -1), "int32")];
  },
  routine(_p, [a]) {
    return { routine: "linalg", params: { kind: "lu", batch: prod(batchOf(a!)), n: a!.shape[a!.ndim - 1]! } };
  },
  jvp([a], [da]) {
    const [lu, perm] = luFactor(a!);
    const n = a!.shape[a!.ndim - 1]!;
    const P = o.oneHot(perm, n, a!.dtype);
    const L = o.add(o.tril(lu, -1), eyeLike(lu)), U = o.triu(lu);
    const la = triangularSolve(L, mm(P, da!), { lower: true, unitDiagonal: true });
    const lau = triangularSolve(U, la, { lower: false, left: false });
    const dlu = o.add(mm(L, o.tril(lau, -1)), mm(o.triu(lau), U));
    return [[lu, perm], [dlu, null]];
  },
  batch(args, dims) {
    return batchFront(luP, args, dims, {});
  },
});

/** Packed LU with partial pivoting: P a = L U with unit-lower L below the diagonal; perm[i] is the source row of row i. */
export function luFactor(a: Tensor): [Tensor, Tensor] {
  const [lu, perm] = bind(luP, [a], {});
  return [lu!, perm!];
}

// ---------------- QR ----------------
type QrP = { complete: boolean };

export const qrP: Primitive<QrP> = primitive<QrP>("qr", {
  shape([a], { complete }) {
    checkFloatMatrix("qr", a!, false);
    const m = a!.shape[a!.ndim - 2]!, n = a!.shape[a!.ndim - 1]!, k = complete ? m : Math.min(m, n);
    return [new ShapedArray([...batchOf(a!), m, k], a!.dtype), new ShapedArray([...batchOf(a!), k, n], a!.dtype)];
  },
  routine({ complete }, [a]) {
    return { routine: "linalg", params: { kind: "qr", batch: prod(batchOf(a!)), m: a!.shape[a!.ndim - 2]!, n: a!.shape[a!.ndim - 1]!, complete } };
  },
  jvp([a], [da], p) {
    const [q, r] = bind(qrP, [a!], p) as [Tensor, Tensor];
    const m = a!.shape[a!.ndim - 2]!, n = a!.shape[a!.ndim - 1]!;
    if (m < n || (p.complete && m !== n)) fail("qr", `derivative needs m >= n and mode "reduced" (or a square matrix), got shape ${fmtShape(a!.shape)}`);
    const dxRinv = triangularSolve(r, da!, { lower: false, left: false });
    const qtdx = mm(mT(q), dxRinv);
    const low = o.tril(qtdx, -1);
    const dom = o.sub(low, mT(low));
    const dq = o.add(mm(q, o.sub(dom, qtdx)), dxRinv);
    const dr = mm(o.sub(qtdx, dom), r);
    return [[q, r], [dq, dr]];
  },
  batch(args, dims, p) {
    return batchFront(qrP, args, dims, p);
  },
}, (p) => `complete=${p.complete}`);

// ---------------- symmetric eigendecomposition ----------------
export const eighP: Primitive<NoP> = primitive<NoP>("eigh", {
  shape([a]) {
    checkFloatMatrix("eigh", a!, true);
    return [new ShapedArray(a!.shape.slice(0, -1), a!.dtype), a!];
  },
  routine(_p, [a]) {
    return { routine: "linalg", params: { kind: "eigh", batch: prod(batchOf(a!)), n: a!.shape[a!.ndim - 1]! } };
  },
  jvp([a], [da]) {
    const [w, v] = bind(eighP, [a!], {}) as [Tensor, Tensor];
    const vdv = mm(mT(v), mm(symLower(da!), v));
    const I = eyeLike(v);
    const diff = o.sub(o.expandDims(w, -2), o.expandDims(w, -1)); // w_j - w_i
    // off-diagonal 1 / (w_j - w_i); eigenvalues are assumed distinct
    const F = o.sub(o.div(1, o.add(diff, I)), I);
    const dw = o.sum(o.mul(vdv, I), { axis: -1 });
    return [[w, v], [dw, mm(v, o.mul(F, vdv))]];
  },
  batch(args, dims) {
    return batchFront(eighP, args, dims, {});
  },
});

// ---------------- SVD ----------------
type SvdP = { full: boolean };

export const svdP: Primitive<SvdP> = primitive<SvdP>("svd", {
  shape([a], { full }) {
    checkFloatMatrix("svd", a!, false);
    const m = a!.shape[a!.ndim - 2]!, n = a!.shape[a!.ndim - 1]!, k = Math.min(m, n), b = batchOf(a!);
    return [new ShapedArray([...b, m, full ? m : k], a!.dtype), new ShapedArray([...b, k], a!.dtype), new ShapedArray([...b, full ? n : k, n], a!.dtype)];
  },
  routine({ full }, [a]) {
    return { routine: "linalg", params: { kind: "svd", batch: prod(batchOf(a!)), m: a!.shape[a!.ndim - 2]!, n: a!.shape[a!.ndim - 1]!, full } };
  },
  jvp([a], [da], p) {
    const [U0, s, Vh0] = bind(svdP, [a!], p) as [Tensor, Tensor, Tensor];
    const m = a!.shape[a!.ndim - 2]!, n = a!.shape[a!.ndim - 1]!, k = Math.min(m, n);
    if (p.full && m !== n) fail("svd", `derivative with fullMatrices needs a square matrix, got shape ${fmtShape(a!.shape)}`);
    const U = p.full ? U0 : U0, Vh = Vh0;
    const V = mT(Vh);
    const dS = mm(mT(U), mm(da!, V));
    const I = o.eye(k, undefined, { dtype: a!.dtype });
    const ds = o.sum(o.mul(dS, I), { axis: -1 });
    const sRow = o.expandDims(s, -2), sCol = o.expandDims(s, -1);
    const sDiff = o.mul(o.add(sRow, sCol), o.sub(sRow, sCol));
    const F = o.sub(o.div(1, o.add(sDiff, I)), I);
    const dSS = o.mul(sRow, dS), SdS = o.mul(sCol, dS);
    let dU = mm(U, o.mul(F, o.add(dSS, mT(dSS))));
    let dV = mm(V, o.mul(F, o.add(SdS, mT(SdS))));
    if (m > n) {
      const dAV = mm(da!, V);
      dU = o.add(dU, o.div(o.sub(dAV, mm(U, mm(mT(U), dAV))), sRow));
    }
    if (n > m) {
      const dAU = mm(mT(da!), U);
      dV = o.add(dV, o.div(o.sub(dAU, mm(V, mm(Vh, dAU))), sRow));
    }
    return [[U, s, Vh], [dU, ds, mT(dV)]];
  },
  batch(args, dims, p) {
    return batchFront(svdP, args, dims, p);
  },
}, (p) => `full=${p.full}`);
