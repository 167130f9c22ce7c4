import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { dotGeneral, type DotGeneralP } from "../../src/core/prims/linalg.js";
import { BACKENDS, withBackend, assertClose, values, randomTensors, checkGrads as checkGradsFd } from "../helpers.js";
import { assertCase, opCases } from "../op-fixtures.js";

const FIXTURE_CASES = await opCases(["matmul", "einsum", "attention"]);

// ---------------- oracles ----------------
/** Vjp and jvp against central differences in float64 along random directions. */
const checkGrads = (f: (...xs: tr.Tensor[]) => tr.Tensor, args: tr.Tensor[]) => checkGradsFd(f, args, 7);

/** Naive loops: out[i..., k] = sum_j a[i..., j] b[j, k...] style contraction used as an independent oracle. */
function naiveMatmul2(a: number[], b: number[], m: number, k: number, n: number): number[] {
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) out[i * n + j]! += a[i * k + p]! * b[p * n + j]!;
  return out;
}

const stack = (xs: tr.Tensor[]) => tr.stack(xs, 0);

for (const backend of BACKENDS) {
  describe(`linalg ops [${backend}]`, () => {
    for (const c of FIXTURE_CASES) test(`fixture ${c.id} forward and vjp`, () => assertCase(c, { backend }));

    test("dot_general: forward against loops and gradients against finite differences", () =>
      withBackend(backend, () => {
        const rand = randomTensors(1);
        // plain matrix product
        const a = rand([3, 4]), b = rand([4, 5]);
        const mm = (x: tr.Tensor, y: tr.Tensor) => dotGeneral(x, y, { contract: [[1], [0]], batch: [[], []] });
        assertClose(values(mm(a, b)), naiveMatmul2(values(a), values(b), 3, 4, 5), { rtol: 1e-12, atol: 1e-12 });
        const cases: [number[], number[], DotGeneralP][] = [
          [[3, 4], [4, 5], { contract: [[1], [0]], batch: [[], []] }],
          [[2, 3, 4], [2, 4, 5], { contract: [[2], [1]], batch: [[0], [0]] }],
          // batch axes not leading, two contracting axes paired out of order, free axes on both sides
          [[4, 2, 3, 5], [5, 6, 3, 2], { contract: [[3, 2], [0, 2]], batch: [[1], [3]] }],
          // no contraction (outer product with a batch axis)
          [[2, 3], [3, 2, 4], { contract: [[], []], batch: [[1], [0]] }],
          // everything contracted
          [[3, 4], [4, 3], { contract: [[0, 1], [1, 0]], batch: [[], []] }],
        ];
        for (const [sa, sb, p] of cases) {
          const x = rand(sa), y = rand(sb);
          checkGrads((u, v) => dotGeneral(u!, v!, p), [x, y]);
        }
        // the general case against an einsum-free loop: out[b, i, j, k] = sum_{p,q} x[i, b, q, p] y[p, k, q, b]
        const x = rand([4, 2, 3, 5]), y = rand([5, 6, 3, 2]);
        const out = dotGeneral(x, y, cases[2]![2]);
        assert.deepEqual(out.shape, [2, 4, 6]);
        const xv = values(x), yv = values(y), ref: number[] = [];
        for (let bb = 0; bb < 2; bb++)
          for (let i = 0; i < 4; i++)
            for (let k = 0; k < 6; k++) {
              let s = 0;
              for (let p = 0; p < 5; p++) for (let q = 0; q < 3; q++) s += xv[((i * 2 + bb) * 3 + q) * 5 + p]! * yv[((p * 6 + k) * 3 + q) * 2 + bb]!;
              ref.push(s);
            }
        assertClose(values(out), ref, { rtol: 1e-12, atol: 1e-12 });
      }));

    test("dot_general: vmap over either or both operands equals a loop", () =>
      withBackend(backend, () => {
        const rand = randomTensors(2);
        const p: DotGeneralP = { contract: [[2, 0], [0, 1]], batch: [[1], [2]] };
        const f = (x: tr.Tensor, y: tr.Tensor) => dotGeneral(x, y, p);
        const x = rand([4, 2, 3]), y = rand([3, 4, 2, 5]);
        const xs = rand([4, 2, 6, 3]), ys = rand([3, 4, 2, 5, 6]);
        const loop = (g: (i: number) => tr.Tensor) => stack([0, 1, 2, 3, 4, 5].map(g));
        const sl = (t: tr.Tensor, axis: number, i: number) => tr.squeeze(tr.slice(t, t.shape.map((_, a) => (a === axis ? [i, i + 1] : null))), axis);
        assertClose(values(tr.vmap(f, { inAxes: [2, null] })(xs, y) as tr.Tensor), values(loop((i) => f(sl(xs, 2, i), y))));
        assertClose(values(tr.vmap(f, { inAxes: [null, 4] })(x, ys) as tr.Tensor), values(loop((i) => f(x, sl(ys, 4, i)))));
        assertClose(values(tr.vmap(f, { inAxes: [2, 4] })(xs, ys) as tr.Tensor), values(loop((i) => f(sl(xs, 2, i), sl(ys, 4, i)))));
        // vmap of a gradient (per-example gradients) through the transpose rules
        const g = tr.vmap(tr.grad((u: tr.Tensor, v: tr.Tensor) => tr.sum(tr.sin(f(u, v)))), { inAxes: [2, null] })(xs, y) as tr.Tensor;
        const gl = loop((i) => tr.grad((u: tr.Tensor, v: tr.Tensor) => tr.sum(tr.sin(f(u, v))))(sl(xs, 2, i), y) as tr.Tensor);
        assertClose(values(g), values(gl), { rtol: 1e-10, atol: 1e-12 });
      }));

    test("dot_general: shape and dtype errors", () =>
      withBackend(backend, () => {
        const a = tr.zeros([2, 3]), b = tr.zeros([4, 5]);
        assert.throws(() => dotGeneral(a, b, { contract: [[1], [0]], batch: [[], []] }), /dot_general: contracting lhs axis 1 \(size 3\) and rhs axis 0 \(size 4\) differ/);
        assert.throws(() => dotGeneral(a, tr.zeros([3, 2], "int32"), { contract: [[1], [0]], batch: [[], []] }), /dot_general: lhs has dtype float32 but rhs has int32/);
        assert.throws(() => dotGeneral(a, b, { contract: [[2], [0]], batch: [[], []] }), /dot_general: lhs axis 2 is out of range for shape \[2,3\]/);
      }));

    test("matmul: NumPy semantics (1-D promotion, batch broadcasting) against loops", () =>
      withBackend(backend, () => {
        const rand = randomTensors(3);
        const a = rand([3, 4]), b = rand([4, 5]);
        const ref = naiveMatmul2(values(a), values(b), 3, 4, 5);
        assertClose(values(tr.matmul(a, b)), ref, { rtol: 1e-12 });
        assertClose(values(a.matmul(b)), ref, { rtol: 1e-12 });
        // [2, 1, 3, 4] @ [5, 4, 2] broadcasts to [2, 5, 3, 2]
        const x = rand([2, 1, 3, 4]), y = rand([5, 4, 2]);
        const out = tr.matmul(x, y);
        assert.deepEqual(out.shape, [2, 5, 3, 2]);
        const xv = values(x), yv = values(y), exp: number[] = [];
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 5; j++) exp.push(...naiveMatmul2(xv.slice(i * 12, i * 12 + 12), yv.slice(j * 8, j * 8 + 8), 3, 4, 2));
        assertClose(values(out), exp, { rtol: 1e-12 });
        // a single matrix on the left of a batch, and vectors on either side
        const m = rand([3, 4]), bt = rand([2, 4, 5]);
        assert.deepEqual(tr.matmul(m, bt).shape, [2, 3, 5]);
        assertClose(values(tr.matmul(m, bt)), [0, 1].flatMap((i) => naiveMatmul2(values(m), values(bt).slice(i * 20, i * 20 + 20), 3, 4, 5)), { rtol: 1e-12 });
        const v = rand([4]);
        assert.deepEqual(tr.matmul(v, bt).shape, [2, 5]);
        assert.deepEqual(tr.matmul(bt.T, v).shape, [2, 5]);
        assert.deepEqual(tr.matmul(v, v).shape, []);
        assertClose([tr.matmul(v, v).item()], [values(v).reduce((s, t) => s + t * t, 0)], { rtol: 1e-12 });
        checkGrads((p, q) => tr.matmul(p!, q!), [x, y]);
        checkGrads((p, q) => tr.matmul(p!, q!), [m, bt]);
        checkGrads((p, q) => tr.matmul(p!, q!), [v, bt]);
        // promotion, int and bool products
        assert.equal(tr.matmul(tr.tensor([[1, 2]], "int32"), tr.tensor([[3], [4]], "int32")).dtype, "int32");
        assert.deepEqual(values(tr.matmul(tr.tensor([[1, 2]], "int32"), tr.tensor([[3], [4]], "int32"))), [11]);
        assert.equal(tr.matmul(tr.tensor([[1, 2]], "int32"), tr.tensor([[3], [4]])).dtype, "float32");
        const bm = tr.matmul(tr.tensor([[true, false], [false, false]]), tr.tensor([[true], [true]]));
        assert.equal(bm.dtype, "bool");
        assert.deepEqual(values(bm), [1, 0]);
      }));

    test("matmul: error messages name the shapes", () =>
      withBackend(backend, () => {
        assert.throws(() => tr.matmul(tr.zeros([2, 3]), tr.zeros([4, 5])), (e: Error) => {
          assert.equal(e.name, "TridentError");
          assert.equal(e.message, "matmul: a has shape [2,3] but b has shape [4,5]; inner dimensions 3 and 4 differ");
          return true;
        });
        assert.throws(() => tr.matmul(tr.zeros([3]), tr.zeros([4])), /matmul: a has shape \[3\] but b has shape \[4\]; inner dimensions 3 and 4 differ/);
        assert.throws(() => tr.matmul(tr.zeros([2, 2, 3]), tr.zeros([3, 3, 1])), /matmul: batch dimensions of a \[2,2,3\] and b \[3,3,1\] cannot be broadcast together \(2 vs 3\)/);
        assert.throws(() => tr.matmul(tr.tensor(1), tr.zeros([3])), /matmul: operands must have at least 1 dimension/);
      }));

    test("dot, inner, tensordot, outer against loops", () =>
      withBackend(backend, () => {
        const rand = randomTensors(4);
        const a = rand([2, 3, 4]), b = rand([5, 4, 6]);
        // dot(a, b)[i, j, k, m] = sum_p a[i, j, p] b[k, p, m]
        const d = tr.dot(a, b);
        assert.deepEqual(d.shape, [2, 3, 5, 6]);
        const av = values(a), bv = values(b), ref: number[] = [];
        for (let i = 0; i < 6; i++)
          for (let k = 0; k < 5; k++)
            for (let m = 0; m < 6; m++) {
              let s = 0;
              for (let p = 0; p < 4; p++) s += av[i * 4 + p]! * bv[(k * 4 + p) * 6 + m]!;
              ref.push(s);
            }
        assertClose(values(d), ref, { rtol: 1e-12 });
        assert.deepEqual(tr.dot(a, rand([4])).shape, [2, 3]);
        assert.deepEqual(values(tr.dot(tr.tensor([1, 2]), 3)), [3, 6]);
        assert.throws(() => tr.dot(a, rand([3, 6])), /dot: a has shape \[2,3,4\] but b has shape \[3,6\]/);
        // tensordot with the default 2 axes and with explicit axes; inner; outer
        const t = tr.tensordot(a, rand([3, 4, 7]), 2);
        assert.deepEqual(t.shape, [2, 7]);
        const c = rand([4, 2]);
        assertClose(values(tr.tensordot(a, c, [[2, 0], [0, 1]])), values(tr.einsum("ijk,ki->j", a, c)), { rtol: 1e-12 });
        const u = rand([3]), w = rand([4]);
        const o = tr.outer(u, w);
        assert.deepEqual(o.shape, [3, 4]);
        assertClose(values(o), values(u).flatMap((x) => values(w).map((y) => x * y)), { rtol: 1e-12 });
        assert.throws(() => tr.tensordot(a, c, [[2], [1]]), /tensordot: a's axis 2 \(4\) and b's axis 1 \(2\) differ/);
      }));

    test("inner equals a sum of products over the last axes", () =>
      withBackend(backend, () => {
        const rand = randomTensors(5);
        const a = rand([2, 4]), b = rand([3, 4]);
        const av = values(a), bv = values(b);
        const ref = [0, 1].flatMap((i) => [0, 1, 2].map((j) => [0, 1, 2, 3].reduce((s, k) => s + av[i * 4 + k]! * bv[j * 4 + k]!, 0)));
        assertClose(values(tr.inner(a, b)), ref, { rtol: 1e-12 });
      }));

    test("einsum: implicit output, diagonals, sums, ellipsis, three operands", () =>
      withBackend(backend, () => {
        const rand = randomTensors(6);
        const a = rand([3, 3]), b = rand([3, 4]), c = rand([4, 2]);
        const av = values(a);
        // trace, diagonal, transposition, total sum, row sums
        assertClose([tr.einsum("ii", a).item()], [av[0]! + av[4]! + av[8]!], { rtol: 1e-12 });
        assertClose([tr.einsum("ii->", a).item()], [av[0]! + av[4]! + av[8]!], { rtol: 1e-12 });
        assertClose(values(tr.einsum("ii->i", a)), [av[0]!, av[4]!, av[8]!], { rtol: 1e-12 });
        assertClose(values(tr.einsum("ji", b)), values(tr.transpose(b)), { rtol: 1e-12 });
        assertClose([tr.einsum("ij->", b).item()], [values(b).reduce((s, x) => s + x, 0)], { rtol: 1e-12 });
        assertClose(values(tr.einsum("ij->i", b)), values(tr.sum(b, { axis: 1 })), { rtol: 1e-12 });
        // implicit output is alphabetical: "ij,jk" is a matrix product, "jk,ij" is also [i, k]
        assertClose(values(tr.einsum("ij,jk", b, c)), values(tr.matmul(b, c)), { rtol: 1e-12 });
        assertClose(values(tr.einsum("jk,ij", c, b)), values(tr.matmul(b, c)), { rtol: 1e-12 });
        // chains of three operands, with repeated output ordering
        assertClose(values(tr.einsum("ij,jk,kl->li", a, b, c)), values(tr.transpose(tr.matmul(tr.matmul(a, b), c))), { rtol: 1e-12 });
        const [p1, p2, p3] = [rand([5]), rand([5]), rand([5])];
        assertClose([tr.einsum("i,i,i->", p1, p2, p3).item()], [[0, 1, 2, 3, 4].reduce((s, i) => s + values(p1)[i]! * values(p2)[i]! * values(p3)[i]!, 0)], { rtol: 1e-12 });
        // ellipsis with broadcasting: batch matmul over [2, 1] x [3] leading axes
        const x = rand([2, 1, 3, 4]), y = rand([3, 4, 5]);
        assertClose(values(tr.einsum("...ij,...jk->...ik", x, y)), values(tr.matmul(x, y)), { rtol: 1e-12 });
        assertClose(values(tr.einsum("...ij,...jk", x, y)), values(tr.matmul(x, y)), { rtol: 1e-12 });
        // batch diagonal and a sum-only index
        const bd = rand([2, 3, 3]), bdv = values(bd);
        assertClose(values(tr.einsum("bii->bi", bd)), [0, 1].flatMap((n) => [0, 1, 2].map((i) => bdv[n * 9 + i * 4]!)), { rtol: 1e-12 });
        const [e1, e2] = [rand([2, 3, 4]), rand([2, 4, 5])];
        assertClose(values(tr.einsum("bij,bjk->b", e1, e2)), values(tr.sum(tr.matmul(e1, e2), { axis: [1, 2] })), { rtol: 1e-12 });
        checkGrads((p, q, r) => tr.einsum("ij,jk,kl->li", p!, q!, r!), [a, b, c]);
        checkGrads((p) => tr.einsum("bii->bi", p!), [bd]);
        checkGrads((p, q) => tr.einsum("...ij,...jk->...ik", p!, q!), [x, y]);
      }));

    test("einsum: errors", () =>
      withBackend(backend, () => {
        const a = tr.zeros([2, 3]);
        assert.throws(() => tr.einsum("ij,jk->ik", a), /einsum: equation 'ij,jk->ik' has 2 operand terms but 1 operands were given/);
        assert.throws(() => tr.einsum("ijk->i", a), /einsum: operand 0 subscripts 'ijk' names 3 axes but the operand has rank 2/);
        assert.throws(() => tr.einsum("ij->ii", a), /einsum: output subscript 'i' appears more than once/);
        assert.throws(() => tr.einsum("ij->k", a), /einsum: output subscript 'k' does not appear in any operand/);
        assert.throws(() => tr.einsum("ij,ij->i", a, tr.zeros([2, 4])), /einsum: subscript 'j' has size 3 at axis 1 of operand 0 but size 4 at axis 1 of operand 1 \(shapes \[2,3\], \[2,4\]\)/);
        assert.throws(() => tr.einsum("ii->i", a), /einsum: subscript 'i' has size 2 at axis 0 of operand 0 but size 3 at axis 1 of operand 0/);
        assert.throws(() => tr.einsum("i1->i", a), /einsum: operand 0 subscripts 'i1' has the invalid character '1'/);
      }));

    test("attention: masks and scale against a loop oracle", () =>
      withBackend(backend, () => {
        const rand = randomTensors(8);
        const q = rand([2, 3, 4]), k = rand([2, 5, 4]), v = rand([2, 5, 6]);
        const mask = tr.tensor([[true, true, false, true, false], [true, false, false, false, false], [false, true, true, true, true]]);
        const bias = rand([3, 5]);
        // reference: loops with a max-shifted softmax
        const ref = (scale: number, keep: (i: number, j: number) => boolean, add: (i: number, j: number) => number) => {
          const qv = values(q), kv = values(k), vv = values(v), out: number[] = [];
          for (let b = 0; b < 2; b++)
            for (let i = 0; i < 3; i++) {
              const s = [0, 1, 2, 3, 4].map((j) => {
                let d = 0;
                for (let t = 0; t < 4; t++) d += qv[(b * 3 + i) * 4 + t]! * kv[(b * 5 + j) * 4 + t]!;
                return keep(i, j) ? d * scale + add(i, j) : -Infinity;
              });
              const m = Math.max(...s);
              const e = s.map((x) => Math.exp(x - m));
              const z = e.reduce((p, x) => p + x, 0);
              for (let c = 0; c < 6; c++) out.push(e.reduce((p, x, j) => p + (x / z) * vv[(b * 5 + j) * 6 + c]!, 0));
            }
          return out;
        };
        const mv = values(mask), bv = values(bias);
        const all = () => true, none = () => 0;
        assertClose(values(tr.attention(q, k, v)), ref(0.5, all, none), { rtol: 1e-10 });
        assertClose(values(tr.attention(q, k, v, { scale: 0.3 })), ref(0.3, all, none), { rtol: 1e-10 });
        assertClose(values(tr.attention(q, k, v, { causal: true })), ref(0.5, (i, j) => j <= i, none), { rtol: 1e-10 });
        assertClose(values(tr.attention(q, k, v, { mask })), ref(0.5, (i, j) => mv[i * 5 + j] === 1, none), { rtol: 1e-10 });
        assertClose(values(tr.attention(q, k, v, { mask: bias })), ref(0.5, all, (i, j) => bv[i * 5 + j]!), { rtol: 1e-10 });
        checkGrads((a, b, c) => tr.attention(a!, b!, c!, { causal: true, mask }), [q, k, v]);
        assert.throws(() => tr.attention(q, rand([2, 5, 3]), v), /attention: q has shape \[2,3,4\] but k has shape \[2,5,3\]; feature sizes 4 and 3 differ/);
        assert.throws(() => tr.attention(q, k, rand([2, 4, 6])), /attention: k has shape \[2,5,4\] but v has shape \[2,4,6\]; key counts 5 and 4 differ/);
      }));

    test("vmap of matmul equals a loop; jit equals eager; tape backward", () =>
      withBackend(backend, () => {
        const rand = randomTensors(9);
        const xs = rand([4, 3, 5]), w = rand([5, 2]), ws = rand([4, 5, 2]);
        const loop = (g: (i: number) => tr.Tensor) => stack([0, 1, 2, 3].map(g));
        const row = (t: tr.Tensor, i: number) => tr.squeeze(tr.slice(t, [[i, i + 1]]), 0);
        const mm = (a: tr.Tensor, b: tr.Tensor) => tr.matmul(a, b);
        assertClose(values(tr.vmap(mm, { inAxes: [0, null] })(xs, w) as tr.Tensor), values(loop((i) => mm(row(xs, i), w))), { rtol: 1e-12 });
        assertClose(values(tr.vmap(mm, { inAxes: [0, 0] })(xs, ws) as tr.Tensor), values(loop((i) => mm(row(xs, i), row(ws, i)))), { rtol: 1e-12 });
        assertClose(values(tr.vmap(mm, { inAxes: [null, 0] })(row(xs, 0), ws) as tr.Tensor), values(loop((i) => mm(row(xs, 0), row(ws, i)))), { rtol: 1e-12 });
        const f = (a: tr.Tensor, b: tr.Tensor) => tr.attention(a, b, b, { causal: true }).matmul(tr.einsum("ij->ji", b.reshape([-1, 5]).slice([[0, 5]])));
        const q = rand([2, 5, 5]), kk = rand([2, 5, 5]);
        assertClose(values(tr.jit(f)(q, kk) as tr.Tensor), values(f(q, kk)), { rtol: 1e-12 });
        const gj = tr.jit(tr.grad((a: tr.Tensor, b: tr.Tensor) => tr.sum(f(a, b))))(q, kk) as tr.Tensor;
        assertClose(values(gj), values(tr.grad((a: tr.Tensor, b: tr.Tensor) => tr.sum(f(a, b)))(q, kk) as tr.Tensor), { rtol: 1e-12 });
        // PyTorch-style autograd goes through the same rules
        const a = tr.tensor([[1, 2], [3, 4]], { requiresGrad: true });
        tr.matmul(a, tr.tensor([[1, 0], [1, 1]])).sum().backward();
        assert.deepEqual(values(a.grad!), [1, 2, 1, 2]);
      }));
  });
}
