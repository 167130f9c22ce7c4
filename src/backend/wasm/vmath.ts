import { Op, T, V } from "./emitter.js";
import type { Fn } from "./fn.js";

/**
 * float32 transcendentals on f32x4 lanes, written in WebAssembly so that vectorised kernels never call
 * out to JS. Each is a range reduction plus a polynomial fitted (least-squares toward minimax, in
 * float64) for ~1 ulp; special values (±0, ±inf, NaN, subnormals) follow IEEE. The same code serves
 * scalar float32 kernels (one lane), so a value does not depend on which loop computed it. Plain
 * mul/add is used even when fused multiply-add is available, so results do not depend on the engine.
 */
export const VMATH = new Set(["exp", "log", "tanh", "logistic", "erf"]);

const LOG2E = 1.4426950408889634;
// ln 2 split so that n·LN2_HI is exact for the exponents that occur (Cody–Waite)
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440054690583e-4;
const EXP_Q = [0.49999993450799124, 0.16666520680889368, 0.04166838754396012, 0.00836871065606809, 0.0013814604519692];
const LOG_Q = [0.33333331715849235, -0.25000821122768435, 0.20001226024133817, -0.16623353844079483, 0.14201776223449356, -0.13160233773155172, 0.12761468172958645, -0.0763422546236001];
const TANH_Q = [-0.3333328194507139, 0.13331442264680834, -0.05373971976927124, 0.02063910056355516, -0.00570500025766182];
const ERF_P = [1.128379165738556, -0.37612625857333815, 0.11283585411121164, -0.026853820854101235, 0.0051883424280528417, -8.0103107096935974e-4, 7.8542193350546465e-5];
// erfc(x) on [1, 4] as a polynomial in x − 2.5 (absolute error 3.4e-8, below half an ulp of erf there)
const ERFC_R = [4.069231180714464e-4, -2.1781098087172131e-3, 5.4469912014861715e-3, -8.3527040950284546e-3, 8.6131894240494902e-3, -6.1057779308232368e-3, 2.8229768662978096e-3, -5.6544799415508113e-4, -2.9133309052396372e-4, 2.7439345296704929e-4, -5.9677053804608133e-5, -1.9104429140357909e-5, 8.7484395631760952e-6, -3.1453267281353206e-7];
const SIGN = -0x80000000;
const MAGIC = 12582912; // 1.5·2^23
const MAGIC_BITS = 0x4b400000;

class VM {
  constructor(private f: Fn) {}
  tmp(): number {
    return this.f.local(T.v128);
  }
  /**
   * Σ c[i]·x^i with x in a local, left on the stack. Estrin's scheme (pairs combined with x², x⁴, …)
   * keeps the dependency chain logarithmic in the degree, so independent lanes of work overlap.
   */
  horner(x: number, c: readonly number[]): void {
    const f = this.f;
    // terms of the current level, each either a constant or a local
    let terms: ({ k: number } | { l: number })[] = c.map((k) => ({ k }));
    let pw = x;
    const push = (t: { k: number } | { l: number }) => ("k" in t ? f.vsplatF(t.k) : f.get(t.l));
    while (terms.length > 1) {
      const next: ({ k: number } | { l: number })[] = [];
      for (let i = 0; i < terms.length; i += 2) {
        const lo = terms[i]!, hi = terms[i + 1];
        if (!hi) {
          next.push(lo);
          continue;
        }
        const l = this.tmp();
        // lo + pw·hi
        push(hi);
        f.get(pw).v(V.f32x4_mul);
        push(lo);
        f.v(V.f32x4_add).set(l);
        next.push({ l });
      }
      terms = next;
      if (terms.length > 1) {
        const sq = this.tmp();
        f.get(pw).get(pw).v(V.f32x4_mul).set(sq);
        pw = sq;
      }
    }
    push(terms[0]!);
  }
  exp(x: number): number {
    const f = this.f;
    const t = this.tmp(), n = this.tmp(), r = this.tmp(), p = this.tmp(), ni = this.tmp(), e1 = this.tmp(), out = this.tmp();
    /** p = e^r for the reduced argument, from x (a local, maybe clamped); t keeps n in its low bits. */
    const core = (xc: number) => {
      // n = round(x·log2 e): adding 1.5·2^23 rounds to an integer and leaves it in the low mantissa bits
      f.get(xc).vsplatF(LOG2E).v(V.f32x4_mul).vsplatF(MAGIC).v(V.f32x4_add).set(t);
      f.get(t).vsplatF(MAGIC).v(V.f32x4_sub).set(n);
      f.get(xc).get(n).vsplatF(LN2_HI).v(V.f32x4_mul).v(V.f32x4_sub);
      f.get(n).vsplatF(LN2_LO).v(V.f32x4_mul).v(V.f32x4_sub).set(r);
      // p = 1 + r + r²·Q(r)
      this.horner(r, EXP_Q);
      f.get(r).get(r).v(V.f32x4_mul).v(V.f32x4_mul);
      f.get(r).v(V.f32x4_add).vsplatF(1).v(V.f32x4_add).set(p);
    };
    // Results in the normal range (the common case) scale by 2^n in one step: its exponent bits are
    // t's low bits shifted into place. Vectors with a lane beyond take the general path below.
    f.get(x).vsplatF(-87.3).v(V.f32x4_lt).get(x).vsplatF(88).v(V.f32x4_gt).v(V.or).v(V.any_true);
    f.op(Op.if, T.void);
    {
      // clamp so that 2^n stays in range (exp(89) overflows, exp(−104) underflows to 0); pmin/pmax are
      // single instructions and pass NaN through
      const xc = this.tmp();
      f.get(x).vsplatF(-104).v(V.f32x4_pmax).vsplatF(89).v(V.f32x4_pmin).set(xc);
      core(xc);
      // scale by 2^n in two halves (2^(n>>1) · 2^(n−(n>>1))) so that subnormal results round once and
      // large ones overflow to inf
      f.get(t).vsplatI(MAGIC_BITS).v(V.i32x4_sub).set(ni);
      f.get(ni).i32(1).v(V.i32x4_shr_s).i32(23).v(V.i32x4_shl).set(e1);
      f.get(p).get(e1).vsplatI(127 << 23).v(V.i32x4_add).v(V.f32x4_mul);
      f.get(ni).i32(23).v(V.i32x4_shl).get(e1).v(V.i32x4_sub).vsplatI(127 << 23).v(V.i32x4_add).v(V.f32x4_mul);
      f.set(out);
    }
    f.op(Op.else);
    core(x);
    // (t − MAGIC_BITS + 127) << 23 = (t << 23) + (127 − MAGIC_BITS) << 23 (mod 2^32)
    f.get(p).get(t).i32(23).v(V.i32x4_shl).vsplatI(((127 - MAGIC_BITS) << 23) | 0).v(V.i32x4_add).v(V.f32x4_mul).set(out);
    f.op(Op.end);
    return out;
  }
  log(x: number): number {
    const f = this.f;
    const den = this.tmp(), bits = this.tmp(), e = this.tmp(), m = this.tmp(), big = this.tmp(), fr = this.tmp(), z = this.tmp(), y = this.tmp(), ef = this.tmp();
    // subnormal inputs are scaled by 2^23 first
    f.get(x).vsplatF(1.1754943508222875e-38).v(V.f32x4_lt).set(den);
    f.get(x).vsplatF(8388608).v(V.f32x4_mul).get(x).get(den).v(V.bitselect).set(bits);
    f.get(bits).i32(23).v(V.i32x4_shr_u).vsplatI(0xff).v(V.and).vsplatI(-127).v(V.i32x4_add);
    f.vsplatI(-23).get(den).v(V.and).v(V.i32x4_add).set(e);
    f.get(bits).vsplatI(0x007fffff).v(V.and).vsplatI(0x3f800000).v(V.or).set(m);
    // mantissa in [√½, √2)
    f.get(m).vsplatF(Math.SQRT2).v(V.f32x4_gt).set(big);
    f.get(m).vsplatF(0.5).v(V.f32x4_mul).get(m).get(big).v(V.bitselect).set(m);
    f.get(e).get(big).v(V.i32x4_sub).set(e);
    f.get(m).vsplatF(1).v(V.f32x4_sub).set(fr);
    f.get(fr).get(fr).v(V.f32x4_mul).set(z);
    this.horner(fr, LOG_Q);
    f.get(fr).v(V.f32x4_mul).get(z).v(V.f32x4_mul).set(y);
    f.get(e).v(V.f32x4_convert_i32x4_s).set(ef);
    // log = e·ln2 + f − z/2 + f³Q(f), summed small terms first
    f.get(y).get(ef).vsplatF(LN2_LO).v(V.f32x4_mul).v(V.f32x4_add);
    f.get(z).vsplatF(0.5).v(V.f32x4_mul).v(V.f32x4_sub);
    f.get(fr).v(V.f32x4_add);
    f.get(ef).vsplatF(LN2_HI).v(V.f32x4_mul).v(V.f32x4_add).set(y);
    // log(±0) = −inf, log(x < 0) = NaN, log(inf) = inf, log(NaN) = NaN
    f.vsplatF(-Infinity).get(y).get(x).vsplatF(0).v(V.f32x4_eq).v(V.bitselect).set(y);
    f.vsplatF(NaN).get(y).get(x).vsplatF(0).v(V.f32x4_lt).v(V.bitselect).set(y);
    f.get(x).get(y).get(x).get(x).v(V.f32x4_ne).get(x).vsplatF(Infinity).v(V.f32x4_eq).v(V.or).v(V.bitselect).set(y);
    return y;
  }
  tanh(x: number): number {
    const f = this.f;
    const ax = this.tmp(), z = this.tmp(), small = this.tmp(), big = this.tmp();
    f.get(x).v(V.f32x4_abs).set(ax);
    f.get(x).get(x).v(V.f32x4_mul).set(z);
    // |x| < 0.625: x + x³·Q(x²)
    this.horner(z, TANH_Q);
    f.get(z).v(V.f32x4_mul).get(x).v(V.f32x4_mul).get(x).v(V.f32x4_add).set(small);
    // otherwise 1 − 2/(e^{2|x|} + 1) with the sign of x
    f.get(ax).get(ax).v(V.f32x4_add).set(big);
    const e = this.exp(big);
    f.vsplatF(1).vsplatF(2).get(e).vsplatF(1).v(V.f32x4_add).v(V.f32x4_div).v(V.f32x4_sub);
    f.get(x).vsplatI(SIGN).v(V.and).v(V.or).set(big);
    f.get(small).get(big).get(ax).vsplatF(0.625).v(V.f32x4_lt).v(V.bitselect).set(big);
    return big;
  }
  logistic(x: number): number {
    const f = this.f;
    const t = this.tmp(), out = this.tmp();
    // e = exp(−|x|) never overflows; σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e) below, one rounding each
    f.get(x).v(V.f32x4_abs).v(V.f32x4_neg).set(t);
    const e = this.exp(t);
    f.vsplatF(1).get(e).get(x).vsplatF(0).v(V.f32x4_ge).v(V.bitselect);
    f.get(e).vsplatF(1).v(V.f32x4_add).v(V.f32x4_div).set(out);
    return out;
  }
  erf(x: number): number {
    const f = this.f;
    const ax = this.tmp(), z = this.tmp(), t = this.tmp(), small = this.tmp(), big = this.tmp();
    f.get(x).v(V.f32x4_abs).set(ax);
    f.get(x).get(x).v(V.f32x4_mul).set(z);
    // |x| < 1: x·P(x²)
    this.horner(z, ERF_P);
    f.get(x).v(V.f32x4_mul).set(small);
    // 1 ≤ |x|: 1 − erfc(|x|), erfc clamped at |x| = 4 where erf rounds to 1
    f.get(ax).vsplatF(4).v(V.f32x4_min).vsplatF(2.5).v(V.f32x4_sub).set(t);
    f.vsplatF(1);
    this.horner(t, ERFC_R);
    f.v(V.f32x4_sub).get(x).vsplatI(SIGN).v(V.and).v(V.or).set(big);
    f.get(small).get(big).get(ax).vsplatF(1).v(V.f32x4_lt).v(V.bitselect).set(big);
    return big;
  }
}

/** Apply `op` (one of VMATH) to the f32x4 in local x; returns the local holding the result. */
export function vmath(fn: Fn, op: string, x: number): number {
  const vm = new VM(fn);
  switch (op) {
    case "exp": return vm.exp(x);
    case "log": return vm.log(x);
    case "tanh": return vm.tanh(x);
    case "logistic": return vm.logistic(x);
    case "erf": return vm.erf(x);
  }
  throw new Error(`wasm vmath: no vector ${op}`);
}
