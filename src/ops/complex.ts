/**
 * Complex values as a pair of real tensors. Trident has no complex dtype; a plain object
 * `{ real, imag }` is a pytree of two leaves, so grad/vjp/vmap/jit carry it with no special support.
 */
import { fail, fmtShape } from "../core/errors.js";
import { isFloat } from "../core/dtype.js";
import * as E from "../core/prims/elementwise.js";
import { Tensor } from "../tensor.js";

/** A complex tensor: real and imaginary parts of one shape and one floating dtype. */
export interface Complex {
  real: Tensor;
  imag: Tensor;
}

/** True for a `{ real, imag }` pair of tensors (a Complex), false for a plain Tensor. */
export function isComplex(x: unknown): x is Complex {
  return typeof x === "object" && x !== null && !(x instanceof Tensor) && (x as Complex).real instanceof Tensor && (x as Complex).imag instanceof Tensor;
}

/** Check that a Complex's parts agree in shape and dtype; returns it. */
export function checkComplex(op: string, z: Complex): Complex {
  const { real: re, imag: im } = z;
  if (re.shape.length !== im.shape.length || re.shape.some((d, i) => d !== im.shape[i]))
    fail(op, `real and imaginary parts must have one shape, got real ${fmtShape(re.shape)} and imag ${fmtShape(im.shape)}`);
  if (re.dtype !== im.dtype) fail(op, `real and imaginary parts must have one dtype, got real ${re.dtype} and imag ${im.dtype}`);
  return z;
}

/**
 * A complex value from its real and imaginary parts (imag defaults to zeros).
 * @example
 * const z = tr.complex(tr.tensor([1, 2]), tr.tensor([0, -1])); // 1+0i, 2-1i
 */
export function complex(re: Tensor, im?: Tensor): Complex {
  if (!isFloat(re.dtype)) fail("complex", `the real part must be floating point, got ${re.dtype}`);
  return checkComplex("complex", { real: re, imag: im ?? E.zerosLike(re) });
}

/** The real part (a real tensor is its own real part). */
export function real(z: Tensor | Complex): Tensor {
  return isComplex(z) ? z.real : z;
}

/** The imaginary part (zeros for a real tensor). */
export function imag(z: Tensor | Complex): Tensor {
  return isComplex(z) ? z.imag : E.zerosLike(z);
}

/** The complex conjugate (a real tensor is returned as is). */
export function conj(z: Tensor | Complex): Tensor | Complex {
  return isComplex(z) ? { real: z.real, imag: E.neg(z.imag) } : z;
}

/** |z| = sqrt(re² + im²), a real tensor (|x| for a real tensor). */
export function complexAbs(z: Tensor | Complex): Tensor {
  if (!isComplex(z)) return E.abs(z);
  checkComplex("complexAbs", z);
  return E.sqrt(E.add(E.mul(z.real, z.real), E.mul(z.imag, z.imag)));
}

/** The argument atan2(im, re) in radians (0 or π for a real tensor). */
export function angle(z: Tensor | Complex): Tensor {
  if (!isComplex(z)) {
    if (!isFloat(z.dtype)) fail("angle", `expected a floating-point tensor, got ${z.dtype}`);
    return E.atan2(E.zerosLike(z), z);
  }
  checkComplex("angle", z);
  return E.atan2(z.imag, z.real);
}
