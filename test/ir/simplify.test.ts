// Kernel simplification: index arithmetic rewritten by ranges must compute the same values as the
// original expression at every index (checked exhaustively by direct evaluation), composed reshapes
// become affine, constants round to their dtype, and equal subexpressions become one node.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { bin, c, idx, linear, load, sel, unravel, type Expr, type Kernel } from "../../src/ir/expr.js";
import { Simplifier, simplifyKernel } from "../../src/ir/simplify.js";
import { mulberry32 } from "../helpers.js";

/** Evaluate an int32/bool index expression with the IR's semantics (truncating division, wrapping). */
function evalInt(e: Expr, env: readonly number[]): number {
  switch (e.k) {
    case "const": return e.v | 0;
    case "idx": return env[e.id]!;
    case "sel": return evalInt(e.c, env) ? evalInt(e.x, env) : evalInt(e.y, env);
    case "bin": {
      const a = evalInt(e.x, env), b = evalInt(e.y, env);
      switch (e.op) {
        case "add": return (a + b) | 0;
        case "sub": return (a - b) | 0;
        case "mul": return Math.imul(a, b);
        case "div": return b === 0 ? 0 : Math.trunc(a / b) | 0;
        case "rem": return b === 0 ? 0 : a % b | 0;
        case "min": return Math.min(a, b) | 0;
        case "max": return Math.max(a, b) | 0;
        case "lt": return a < b ? 1 : 0;
        case "le": return a <= b ? 1 : 0;
        case "gt": return a > b ? 1 : 0;
        case "ge": return a >= b ? 1 : 0;
        case "eq": return a === b ? 1 : 0;
        case "ne": return a !== b ? 1 : 0;
        case "and": return a & b;
        case "or": return a | b;
      }
    }
  }
  throw new Error(`evalInt: unsupported ${e.k}`);
}

function randomIndexExpr(r: () => number, depth: number, nVars: number): Expr {
  const pick = (n: number) => Math.floor(r() * n);
  if (depth === 0 || r() < 0.2) return r() < 0.7 ? idx(pick(nVars)) : c(pick(7) - 2);
  const sub = () => randomIndexExpr(r, depth - 1, nVars);
  switch (pick(8)) {
    case 0: return bin("add", sub(), sub());
    case 1: return bin("sub", sub(), sub());
    case 2: return bin("mul", sub(), c(pick(6) + 1));
    case 3: return bin("div", sub(), c(pick(7) + 1));
    case 4: return bin("rem", sub(), c(pick(7) + 1));
    case 5: return bin(r() < 0.5 ? "min" : "max", sub(), sub());
    case 6: return sel(bin(["lt", "le", "gt", "ge", "eq", "ne"][pick(6)] as "lt", sub(), sub()), sub(), sub());
    default: return bin("add", bin("mul", sub(), c(pick(5) + 1)), sub());
  }
}

const walkHas = (e: Expr, pred: (x: Expr) => boolean): boolean =>
  pred(e) || Object.values(e).some((ch) => ch && typeof ch === "object" && "k" in ch && walkHas(ch as Expr, pred));
const hasDivRem = (e: Expr) => walkHas(e, (x) => x.k === "bin" && (x.op === "div" || x.op === "rem"));

describe("kernel simplification", () => {
  test("random index expressions keep their value at every index", () => {
    const ext = [4, 3, 5];
    const extents = new Map(ext.map((n, i) => [i, n]));
    const r = mulberry32(12345);
    for (let trial = 0; trial < 1500; trial++) {
      const e = randomIndexExpr(r, 5, ext.length);
      const s = new Simplifier(extents).simplify(e);
      for (let a = 0; a < ext[0]!; a++) {
        for (let b = 0; b < ext[1]!; b++) {
          for (let d = 0; d < ext[2]!; d++) {
            const env = [a, b, d];
            assert.equal(evalInt(s, env), evalInt(e, env), `trial ${trial} at [${env}]`);
          }
        }
      }
    }
  });

  test("a reshape of a transpose of a reshape reads through an affine index", () => {
    // x [6, 20] viewed as [6, 4, 5], transposed to [4, 6, 5]: index (i0, i1, i2) reads x at i1*20 + i0*5 + i2
    const ix = [idx(0), idx(1), idx(2)];
    const src = [ix[1]!, ix[0]!, ix[2]!];
    const at = linear(unravel(linear(src, [6, 4, 5]), [6, 20]), [6, 20]);
    const k: Kernel = { name: "t", inputs: ["float32"], shape: [4, 6, 5], outs: [{ dt: "float32", expr: load(0, at, "float32") }] };
    const out = simplifyKernel(k).outs[0]!.expr;
    assert.ok(out.k === "load" && !hasDivRem(out.at));
    for (let a = 0; a < 4; a++) for (let b = 0; b < 6; b++) for (let d = 0; d < 5; d++) {
      assert.equal(evalInt((out as Extract<Expr, { k: "load" }>).at, [a, b, d]), b * 20 + a * 5 + d);
    }
  });

  test("splitting a flat index into [rows, cols] and flattening again gives the index back", () => {
    const flat = idx(0);
    const at = linear(unravel(flat, [12, 7]), [12, 7]);
    const s = new Simplifier(new Map([[0, 84]])).simplify(at);
    assert.equal(s.k, "idx");
  });

  test("clamps and masks proven by ranges disappear; others stay", () => {
    const s = new Simplifier(new Map([[0, 10], [1, 4]]));
    assert.equal(s.simplify(bin("max", bin("min", idx(0), c(9)), c(0))).k, "idx");
    const kept = s.simplify(bin("max", bin("min", bin("sub", idx(0), c(1)), c(9)), c(0)));
    assert.equal(kept.k, "bin");
    const always = s.simplify(bin("and", bin("ge", idx(1), c(0)), bin("lt", idx(1), c(4)), "bool"));
    assert.deepEqual([always.k, always.k === "const" && always.v], ["const", 1]);
  });

  test("constants round to their dtype; equal subexpressions become one node", () => {
    const s = new Simplifier(new Map());
    const k = s.simplify(c(0.1, "float32"));
    assert.equal(k.k === "const" && k.v, Math.fround(0.1));
    const i8 = s.simplify(c(200, "int8"));
    assert.equal(i8.k === "const" && i8.v, -56);
    const a = bin("mul", load(0, idx(0), "float32"), c(2, "float32"));
    const b = bin("mul", load(0, idx(0), "float32"), c(2, "float32"));
    assert.equal(s.simplify(a), s.simplify(b));
  });

  test("float arithmetic is left alone (x + 0 is not x for x = -0)", () => {
    const s = new Simplifier(new Map());
    const e = s.simplify(bin("add", load(0, idx(0), "float32"), c(0, "float32")));
    assert.equal(e.k, "bin");
  });
});
