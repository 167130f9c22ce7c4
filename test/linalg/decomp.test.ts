import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { BACKENDS, withBackend, assertClose, values, randomTensors, checkGrads } from "../helpers.js";

const L = tr.linalg;
const mT = (x: tr.Tensor) => tr.swapaxes(x, -1, -2);
/** A well-conditioned symmetric positive definite matrix with distinct eigenvalues. */
function spd(rand: (s: number[]) => tr.Tensor, n: number, batch: number[] = []): tr.Tensor {
  const x = rand([...batch, n, n]);
  const d = tr.tensor(Array.from({ length: n }, (_, i) => i + 1), "float64");
  return tr.add(tr.matmul(x, mT(x)), tr.mul(tr.eye(n, undefined, { dtype: "float64" }), tr.reshape(d, [n, 1])));
}

for (const backend of BACKENDS) {
  describe(`linalg decompositions [${backend}]`, () => {
    for (const dtype of ["float64", "float32"] as const) {
      const tol = dtype === "float64" ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-4, atol: 1e-4 };
      test(`reconstructions and orthogonality ${dtype}`, () => withBackend(backend, () => {
        const rand = randomTensors(3);
        const a = rand([2, 5, 3]).astype(dtype), w = rand([3, 5]).astype(dtype);
        // rank 1: U's columns for the zero singular values must still complete an orthonormal basis
        const r1 = tr.outer([1, 2, 3, 4], [1, -1, 2]).astype(dtype);
        for (const m of [a, w, r1, mT(r1)]) {
          for (const full of [false, true]) {
            const { U, S, Vh } = L.svd(m, { fullMatrices: full });
            const k = Math.min(m.shape[m.ndim - 1]!, m.shape[m.ndim - 2]!);
            const Uk = tr.slice(U, [...m.shape.slice(0, -2).map(() => null), null, [0, k]]);
            const Vk = tr.slice(Vh, [...m.shape.slice(0, -2).map(() => null), [0, k]]);
            assertClose(values(tr.matmul(tr.mul(Uk, tr.expandDims(S, -2)), Vk)), values(m), tol);
            const I = (n: number) => values(tr.broadcastTo(tr.eye(n, undefined, { dtype }), [...m.shape.slice(0, -2), n, n]));
            assertClose(values(tr.matmul(mT(U), U)), I(U.shape[U.ndim - 1]!), tol);
            assertClose(values(tr.matmul(Vh, mT(Vh))), I(Vh.shape[Vh.ndim - 2]!), tol);
            const sv = values(S);
            for (let i = 1; i < sv.length; i++) if (i % k !== 0) assert.ok(sv[i - 1]! >= sv[i]!, "singular values descending");
          }
          for (const mode of ["reduced", "complete"] as const) {
            const { Q, R } = L.qr(m, { mode });
            assertClose(values(tr.matmul(Q, R)), values(m), tol);
            assertClose(values(tr.tril(R, -1)), values(tr.zerosLike(R)), tol);
          }
        }
        const s = spd(rand, 4, [2]).astype(dtype);
        const { eigenvalues: ev, eigenvectors: V } = L.eigh(s);
        assertClose(values(tr.matmul(tr.mul(V, tr.expandDims(ev, -2)), mT(V))), values(s), tol);
        const c = L.cholesky(s), cu = L.cholesky(s, { upper: true });
        assertClose(values(tr.matmul(c, mT(c))), values(s), tol);
        assertClose(values(tr.matmul(mT(cu), cu)), values(s), tol);
        assertClose(values(tr.matmul(s, L.inv(s))), values(tr.broadcastTo(tr.eye(4, undefined, { dtype }), [2, 4, 4])), tol);
        // a non positive definite matrix gives NaN, as JAX does
        assert.ok(values(L.cholesky(tr.tensor([[1, 2], [2, 1]], dtype))).every(Number.isNaN));
      }));
    }

    test("gradients against float64 finite differences", () => withBackend(backend, () => {
      const rand = randomTensors(5);
      const sq = tr.add(rand([3, 3]), tr.mul(tr.eye(3, undefined, { dtype: "float64" }), 3));
      const b = rand([3, 2]);
      const s = spd(rand, 3);
      const tall = rand([4, 3]), wide = rand([3, 4]);
      const cases: [string, (...xs: tr.Tensor[]) => tr.Tensor, tr.Tensor[]][] = [
        ["det", (x) => L.det(x!), [sq]],
        ["slogdet", (x) => L.slogdet(x!).logabsdet, [sq]],
        ["inv", (x) => L.inv(x!), [sq]],
        ["solve", (x, y) => L.solve(x!, y!), [sq, b]],
        ["cholesky", (x) => L.cholesky(x!), [s]],
        ["triangularSolve", (x, y) => L.triangularSolve(x!, y!, { lower: true }), [sq, b]],
        ["triangularSolve right upper transposed", (x, y) => L.triangularSolve(x!, y!, { upper: true, left: false, transposeA: true }), [sq, mT(b)]],
        ["triangularSolve unit", (x, y) => L.triangularSolve(x!, y!, { upper: true, unitDiagonal: true }), [sq, b]],
        ["qr Q", (x) => L.qr(x!).Q, [tall]],
        ["qr R", (x) => L.qr(x!).R, [tall]],
        ["qr square complete", (x) => tr.add(L.qr(x!, { mode: "complete" }).Q, L.qr(x!, { mode: "complete" }).R), [sq]],
        ["eigvalsh", (x) => L.eigvalsh(x!), [s]],
        // eigenvectors are defined up to sign: |v| and v v^T are sign-free
        ["eigh vectors", (x) => { const V = L.eigh(x!).eigenvectors; return tr.mul(V, tr.slice(V, [[0, 1]])); }, [s]],
        ["svdvals tall", (x) => L.svdvals(x!), [tall]],
        ["svdvals wide", (x) => L.svdvals(x!), [wide]],
        ["svd U Vh (sign-free products)", (x) => { const { U, Vh } = L.svd(x!, { fullMatrices: false }); return tr.matmul(tr.mul(U, tr.slice(U, [[0, 1]])), tr.mul(Vh, tr.slice(tr.swapaxes(Vh, 0, 1), [[0, 1]]).reshape([3, 1]))); }, [tall]],
        ["svd wide U Vh", (x) => { const { U, Vh } = L.svd(x!, { fullMatrices: false }); return tr.matmul(mT(U), tr.matmul(tr.mul(U, tr.slice(U, [[0, 1]])), Vh)); }, [wide]],
        ["pinv", (x) => L.pinv(x!), [tall]],
        ["lstsq", (x, y) => L.lstsq(x!, y!).solution, [tall, rand([4, 2])]],
        ["matrixNorm nuc", (x) => L.matrixNorm(x!, { ord: "nuc" }), [tall]],
        ["matrixNorm 2", (x) => L.matrixNorm(x!, { ord: 2 }), [tall]],
        ["matrixNorm fro", (x) => L.matrixNorm(x!), [tall]],
        ["vectorNorm 3", (x) => L.vectorNorm(x!, { ord: 3, axis: -1 }), [tall]],
        ["matrixPower -2", (x) => L.matrixPower(x!, -2), [sq]],
        ["matrixPower 3", (x) => L.matrixPower(x!, 3), [sq]],
        ["trace", (x) => tr.trace(x!, { offset: 1 }), [tall]],
        ["diagonal", (x) => tr.diagonal(x!, { offset: -1 }), [tall]],
        ["diag vector", (x) => tr.diag(tr.reshape(x!, [-1]), 1), [b]],
        ["cross", (x, y) => tr.cross(x!, y!, { axis: 0 }), [b, rand([3, 2])]],
        ["kron", (x, y) => tr.kron(x!, y!), [b, sq]],
        ["vecdot", (x, y) => tr.vecdot(x!, y!, { axis: 0 }), [b, rand([3, 2])]],
      ];
      for (const [name, f, args] of cases) {
        try { checkGrads(f, args, 11); } catch (e) { throw new Error(`${name}: ${(e as Error).message}`); }
      }
    }));

    for (const dtype of ["float64", "float32"] as const) test(`vmap matches a loop and jit matches eager ${dtype}`, () => withBackend(backend, () => {
      const rand = randomTensors(7);
      const a = tr.add(rand([3, 4, 4]), tr.mul(tr.eye(4, undefined, { dtype: "float64" }), 3)).astype(dtype);
      const b = rand([4, 2]).astype(dtype);
      const s = spd(rand, 4, [3]).astype(dtype);
      const tl = dtype === "float64" ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-5, atol: 1e-5 };
      const fns: [string, (x: tr.Tensor) => tr.Tensor, tr.Tensor][] = [
        ["solve", (x) => L.solve(x, b), a],
        ["det", (x) => L.det(x), a],
        ["inv", (x) => L.inv(x), a],
        ["cholesky", (x) => L.cholesky(x), s],
        ["eigvalsh", (x) => L.eigvalsh(x), s],
        ["qr", (x) => L.qr(x).R, a],
        ["svdvals", (x) => L.svdvals(x), a],
        ["pinv", (x) => L.pinv(x), a],
        ["triangularSolve", (x) => L.triangularSolve(x, b, { upper: true }), a],
        ["trace", (x) => tr.trace(x), a],
      ];
      for (const [name, f, x] of fns) {
        const loop = tr.stack([0, 1, 2].map((i) => f(tr.slice(x, [i]))), 0);
        assertClose(values(tr.vmap(f)(x) as tr.Tensor), values(loop), { ...tl, msg: `vmap ${name}` });
        // vmap over a non-leading axis and a batched second operand
        assertClose(values(tr.vmap(f, { inAxes: 2 } as never)(tr.moveaxis(x, 0, 2)) as tr.Tensor), values(loop), { ...tl, msg: `vmap axis 2 ${name}` });
        assertClose(values(tr.jit(f)(x) as tr.Tensor), values(f(x)), { ...tl, msg: `jit ${name}` });
      }
      const bs = rand([3, 4, 2]).astype(dtype);
      const vs = tr.vmap((x: tr.Tensor, y: tr.Tensor) => L.triangularSolve(x, y))(a, bs) as tr.Tensor;
      const loop = tr.stack([0, 1, 2].map((i) => L.triangularSolve(tr.slice(a, [i]), tr.slice(bs, [i]))), 0);
      assertClose(values(vs), values(loop), { rtol: 1e-10, atol: 1e-10 });
      // gradient through jit
      const g = tr.grad((x: tr.Tensor) => tr.sum(L.inv(x)))(tr.slice(a, [0])) as tr.Tensor;
      const gj = tr.jit(tr.grad((x: tr.Tensor) => tr.sum(L.inv(x))))(tr.slice(a, [0])) as tr.Tensor;
      assert.equal(gj.dtype, dtype);
      assertClose(values(gj), values(g), { rtol: 1e-5, atol: 1e-6 });
    }));

    test("errors name the op, the argument and the shape or dtype", () => withBackend(backend, () => {
      const e = (f: () => unknown, re: RegExp) => assert.throws(f, (err: Error) => err instanceof tr.TridentError && re.test(err.message));
      e(() => L.inv(tr.ones([2, 3], "float64")), /inv: expected square matrices.*\[2,3\]/);
      e(() => L.det(tr.ones([3], "float64")), /det: expected a matrix .*\[3\]/);
      e(() => L.cholesky(tr.ones([2, 2], "int32")), /cholesky: expected a float32 or float64 tensor, got dtype int32/);
      e(() => L.svd(tr.ones([2, 2], "float16")), /svd: expected a float32 or float64 tensor, got dtype float16/);
      e(() => L.solve(tr.ones([2, 3, 3], "float64"), tr.ones([4, 3, 1], "float64")), /solve: batch dimensions/);
      e(() => L.solve(tr.ones([3, 3], "float64"), tr.ones([2, 1], "float64")), /solve: .*needs 3 rows/);
      e(() => L.solve(tr.ones([3, 3], "float64"), tr.ones([3, 1], "float32")), /solve: b has dtype float32 but a has dtype float64/);
      e(() => L.triangularSolve(tr.ones([3, 3], "float64"), tr.ones([2, 2], "float64")), /triangularSolve: .*rows must be 3/);
      e(() => L.qr(tr.ones([3, 3], "float64"), { mode: "r" as "reduced" }), /qr: mode must be/);
      e(() => L.matrixNorm(tr.ones([3, 3], "float64"), { ord: 3 }), /matrixNorm: ord must be/);
      e(() => L.matrixPower(tr.ones([3, 3], "float64"), 1.5), /matrixPower: n must be an integer/);
      e(() => tr.cross(tr.ones([2]), tr.ones([2])), /cross: axis -1 must have length 3/);
      e(() => tr.diag(tr.ones([2, 2, 2])), /diag: expected a 1-D or 2-D input/);
      e(() => tr.diagonal(tr.ones([2, 2]), { axis1: 1, axis2: -1 }), /diagonal: axis1 and axis2 must differ/);
      e(() => tr.vecdot(tr.ones([2]), tr.ones([3])), /vecdot: axis -1 has length 2/);
    }));

    test("Tensor methods and top-level helpers", () => withBackend(backend, () => {
      const x = tr.tensor([[1, 2, 3], [4, 5, 6]], "float64");
      assert.equal(x.trace().item(), 6);
      assert.deepEqual(values(x.diagonal({ offset: 1 })), [2, 6]);
      assert.deepEqual(x.mT.shape, [3, 2]);
      assert.deepEqual(values(tr.matrixTranspose(x)), [1, 4, 2, 5, 3, 6]);
      assert.deepEqual(values(tr.vecdot(x, x)), [14, 77]);
      assert.deepEqual(values(tr.diag([1, 2], 1)), [0, 1, 0, 0, 0, 2, 0, 0, 0]);
      assert.equal(L.det(tr.tensor([[0, 1], [1, 0]], "float64")).item(), -1);
      assert.ok(L.det(tr.tensor([[1, 2], [2, 4]], "float64")).item() === 0);
      const sl = L.slogdet(tr.tensor([[0, 2], [3, 0]], "float64"));
      assert.equal(sl.sign.item(), -1);
      assertClose([sl.logabsdet.item()], [Math.log(6)], { rtol: 1e-14 });
      assert.equal(L.matrixRank(tr.tensor([[1, 2], [2, 4]], "float64")).item(), 1);
      assertClose(values(L.outer([1, 2], [3, 4])), [3, 4, 6, 8]);
    }));
  });
}
