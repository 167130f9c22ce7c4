import { ShapedArray } from "../aval.js";
import { isFloat, type DType } from "../dtype.js";
import { fail, fmtShape } from "../errors.js";
import { bin, c, type Expr } from "../../ir/expr.js";
import { primitive, type Dim, type Primitive } from "../primitive.js";
import { bind, bind1 } from "../trace.js";
import type { Tensor } from "../../tensor.js";
import { fullLike } from "./constants.js";
import { batchToFront } from "./util.js";

/**
 * Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011;
 * the Random123 library). It is a keyed bijection of 64-bit blocks, so a counter-based generator:
 * every output word depends only on (key, counter), which is what makes randomness splittable,
 * reproducible across backends, and free to compute in any order under jit and vmap.
 */
const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;
/** The key-schedule parity constant of Threefish (Skein), chosen so that no key word is all zeros. */
const PARITY = 0x1bd11bda;
const ROUNDS = 20;
const U32 = 2 ** 32;

/** Threefry-2x32 on two JS words; used to advance host-side state without tensors (the global RNG). */
export function threefry2x32Scalar(k0: number, k1: number, x0: number, x1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (PARITY ^ k0 ^ k1) >>> 0];
  let a = (x0 + ks[0]!) >>> 0;
  let b = (x1 + ks[1]!) >>> 0;
  for (let r = 0; r < ROUNDS; r++) {
    const rot = ROTATIONS[r % 8]!;
    a = (a + b) >>> 0;
    b = ((b << rot) | (b >>> (32 - rot))) >>> 0;
    b = (b ^ a) >>> 0;
    if (r % 4 === 3) {
      const s = (r + 1) / 4;
      a = (a + ks[s % 3]!) >>> 0;
      b = (b + ks[(s + 1) % 3]! + s) >>> 0;
    }
  }
  return [a, b];
}

/**
 * The two key words of a JS integer seed. Seeds in [-2^31, 2^32) give [0, seed mod 2^32], exactly as
 * `jax.random.PRNGKey` does by default; larger safe integers keep their high bits in the first word
 * (JAX's 64-bit mode) instead of colliding after truncation.
 */
export function seedWords(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed)) fail("random.key", `argument seed must be a safe integer (|seed| < 2^53), got ${seed}`);
  if (seed >= -(2 ** 31) && seed < U32) return [0, seed >>> 0];
  const hi = Math.floor(seed / U32);
  return [hi >>> 0, (seed - hi * U32) >>> 0];
}

/** The host-side split of two key words, matching `split(key, 2)` (used by the global RNG). */
export function splitWords(k0: number, k1: number): [[number, number], [number, number]] {
  // counters 0..3 form the blocks (0, 2) and (1, 3); outputs are laid out as [y0 of both, y1 of both]
  const a = threefry2x32Scalar(k0, k1, 0, 2), b = threefry2x32Scalar(k0, k1, 1, 3);
  return [[a[0], b[0]], [a[1], b[1]]];
}

/** The same cipher as an IR expression over uint32 words (the backends wrap uint32 arithmetic). */
function threefryExpr(k0: Expr, k1: Expr, x0: Expr, x1: Expr): [Expr, Expr] {
  const u = (v: number) => c(v >>> 0, "uint32");
  const add = (x: Expr, y: Expr) => bin("add", x, y, "uint32");
  const rotl = (x: Expr, r: number) => bin("or", bin("shl", x, u(r), "uint32"), bin("shr", x, u(32 - r), "uint32"), "uint32");
  const ks = [k0, k1, bin("xor", bin("xor", k0, k1, "uint32"), u(PARITY), "uint32")];
  let a = add(x0, ks[0]!);
  let b = add(x1, ks[1]!);
  for (let r = 0; r < ROUNDS; r++) {
    a = add(a, b);
    b = bin("xor", rotl(b, ROTATIONS[r % 8]!), a, "uint32");
    if (r % 4 === 3) {
      const s = (r + 1) / 4;
      a = add(a, ks[s % 3]!);
      b = add(add(b, ks[(s + 1) % 3]!), u(s));
    }
  }
  return [a, b];
}

type NoP = Record<string, never>;
const ARG_NAMES = ["k0", "k1", "x0", "x1"] as const;

/** threefry2x32(k0, k1, x0, x1): four uint32 arrays of one shape → the two cipher words of each block. */
export const threefry2x32P: Primitive<NoP> = primitive<NoP>("threefry2x32", {
  shape(avals) {
    if (avals.length !== 4) fail("threefry2x32", `expects 4 operands (k0, k1, x0, x1), got ${avals.length}`);
    const s0 = avals[0]!.shape;
    avals.forEach((a, i) => {
      if (a.dtype !== "uint32") fail("threefry2x32", `operand ${ARG_NAMES[i]} must be uint32, got ${a.dtype}`);
      if (a.shape.length !== s0.length || a.shape.some((d, k) => d !== s0[k])) {
        fail("threefry2x32", `operand ${ARG_NAMES[i]} has shape ${fmtShape(a.shape)} but k0 has ${fmtShape(s0)}; all four must match`);
      }
    });
    const o = new ShapedArray(s0, "uint32");
    return [o, o];
  },
  lower([k0, k1, x0, x1], ix) {
    return threefryExpr(k0!(ix), k1!(ix), x0!(ix), x1!(ix));
  },
  jvp(primals) {
    // random bits are integers: nothing to differentiate
    return [bind(threefry2x32P, primals), [null, null]];
  },
  batch(args, dims) {
    return [bind(threefry2x32P, batchToFront(args, dims)), [0, 0]];
  },
});

/** Apply Threefry-2x32 elementwise; all four operands must be uint32 arrays of one shape. */
export function threefry2x32(k0: Tensor, k1: Tensor, x0: Tensor, x1: Tensor): [Tensor, Tensor] {
  const [y0, y1] = bind(threefry2x32P, [k0, k1, x0, x1]);
  return [y0!, y1!];
}

// ---------------- bitcast_convert_type ----------------
type BitcastP = { dtype: DType };
const BITCASTABLE: Record<string, readonly DType[]> = { float32: ["uint32", "int32"], uint32: ["float32", "int32"], int32: ["float32", "uint32"] };

/** Reinterpret the bits of 32-bit values as another 32-bit dtype (uint32 ↔ float32 ↔ int32). */
export const bitcastConvertTypeP: Primitive<BitcastP> = primitive<BitcastP>("bitcast_convert_type", {
  shape([x], { dtype }) {
    if (x!.dtype === dtype) return [new ShapedArray(x!.shape, dtype)];
    if (!BITCASTABLE[x!.dtype]?.includes(dtype)) {
      fail("bitcast_convert_type", `operand x has dtype ${x!.dtype}; bitcasting supports float32, uint32 and int32 to one another, got target ${dtype}`);
    }
    return [new ShapedArray(x!.shape, dtype)];
  },
  lower([x], ix, { params: { dtype }, inAvals: [a] }) {
    const v = x!(ix);
    if (a!.dtype === dtype) return [v];
    // int32 <-> uint32 is the same bit pattern; only the float boundary needs the bitcast node
    if (a!.dtype !== "float32" && dtype !== "float32") return [{ k: "cast", x: v, dt: dtype }];
    return [{ k: "bitcast", x: v, dt: dtype }];
  },
  jvp([x], _t, p) {
    const y = bind1(bitcastConvertTypeP, [x!], p);
    // a bit pattern has no derivative; a float made from bits is locally constant
    return [[y], [isFloat(p.dtype) ? fullLike(y, 0) : null]];
  },
  batch([x], [d], p) {
    return [[bind1(bitcastConvertTypeP, [x!], p)], [d as Dim]];
  },
}, (p) => `dtype=${p.dtype}`);

/** Reinterpret 32-bit values as float32, uint32 or int32 without changing their bits. */
export const bitcastConvertType = (x: Tensor, dtype: DType): Tensor => (x.dtype === dtype ? x : bind1(bitcastConvertTypeP, [x], { dtype }));
