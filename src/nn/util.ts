/** Small helpers shared by the layers. */
import { fail } from "../core/errors.js";
import type { DType } from "../core/dtype.js";
import { isFloat } from "../core/dtype.js";
import type { Module } from "./module.js";

/** PyTorch's attribute name of a camelCase field: `runningMean` → `running_mean`, `weightIhL0` → `weight_ih_l0`. */
export const torchKey = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A positive integer argument of a layer constructor. */
export function posInt(op: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) fail(op, `${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** A non-negative integer argument. */
export function natInt(op: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) fail(op, `${name} must be a non-negative integer, got ${String(v)}`);
  return v;
}

/** The floating-point dtype of a layer's parameters (float32 unless asked). */
export function paramDtype(op: string, dtype: DType | undefined): DType {
  const d = dtype ?? "float32";
  if (!isFloat(d)) fail(op, `dtype must be a floating-point dtype, got ${d}`);
  return d;
}

/** A probability argument in [0, 1]. */
export function prob(op: string, name: string, p: number): number {
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) fail(op, `${name} must be a probability in [0, 1], got ${String(p)}`);
  return p;
}

/** Call a child module's forward with arguments the base type cannot know. */
export function callModule(m: Module, ...args: unknown[]): unknown {
  return (m.forward as (...a: unknown[]) => unknown).apply(m, args);
}

/** Options shared by layers that own parameters. */
export interface DtypeOpts {
  /** Parameter dtype (default float32; float64 works on CPU backends). */
  dtype?: DType;
}
