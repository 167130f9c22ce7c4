import { fail, fmtShape } from "./errors.js";

export type Shape = readonly number[];

export const prod = (s: Shape): number => s.reduce((a, b) => a * b, 1);

export function stridesOf(s: Shape): number[] {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s[i]!;
  }
  return st;
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalise a possibly negative axis, naming the op on failure. */
export function normAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= Math.max(ndim, 1) && !(ndim === 0 && axis === 0)) {
    fail(op, `axis ${axis} is out of range for an array of rank ${ndim}`);
  }
  return axis < 0 ? axis + ndim : axis;
}

export function normAxes(op: string, axis: number | readonly number[] | null | undefined, ndim: number): number[] {
  if (axis === null || axis === undefined) return [...Array(ndim).keys()];
  const list = typeof axis === "number" ? [axis] : [...axis];
  const out = list.map((a) => normAxis(op, a, ndim));
  if (new Set(out).size !== out.length) fail(op, `repeated axis in ${JSON.stringify(axis)}`);
  return out.sort((a, b) => a - b);
}

export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const n = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(n).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = n - s.length + i;
      const d = s[i]!;
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        fail(op, `shapes ${shapes.map(fmtShape).join(" and ")} cannot be broadcast together (dimension ${d} vs ${out[j]})`);
      }
    }
  }
  return out;
}
