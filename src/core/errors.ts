/** The one error type users catch: messages name the op, the argument, and expected vs actual. */
export class TridentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TridentError";
  }
}

/** Raised when a traced (abstract) value is asked for a concrete JS value. */
export class ConcretizationError extends TridentError {
  constructor(what: string) {
    super(
      `${what}: this value is abstract because it is being traced (inside jit, grad, vmap or a control-flow ` +
        `body), so it has no concrete value yet. Use tr.lax.cond / tr.lax.whileLoop / tr.where instead of JS ` +
        `if/while on tensor values, or mark the argument static with jit(f, { staticArgnums: [...] }).`,
    );
    this.name = "ConcretizationError";
  }
}

export function fail(op: string, message: string): never {
  throw new TridentError(`${op}: ${message}`);
}

export const fmtShape = (s: readonly number[]): string => `[${s.join(",")}]`;
