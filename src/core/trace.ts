import { EagerTensor, Tensor, concretizationError } from "../tensor.js";
import type { ShapedArray } from "./aval.js";
import { TridentError } from "./errors.js";
import type { AnyPrimitive, Params } from "./primitive.js";

/** One active transformation (an interpreter level), as in Autodidax's MainTrace. */
export class MainTrace {
  constructor(
    readonly level: number,
    readonly traceType: new (main: MainTrace) => Trace,
    readonly globalData: unknown,
  ) {}
}

export abstract class Trace {
  constructor(readonly main: MainTrace) {}
  /** Box a value from outside any transformation. */
  abstract pure(val: Tensor): Tensor;
  /** Box a tracer of a lower level. */
  abstract lift(val: Tensor): Tensor;
  abstract processPrimitive(prim: AnyPrimitive, tracers: Tensor[], params: Params): Tensor[];
}

export abstract class Tracer extends Tensor {
  abstract readonly _trace: Trace;
  override get isTracer(): boolean {
    return true;
  }
  /** The value with every boxing that carries no information removed. */
  fullLower(): Tensor {
    return this;
  }
  [Symbol.toPrimitive](): never {
    return concretizationError(`converting a traced value ${this.aval} to a JS number/boolean/string`);
  }
  override toString(): string {
    return `Tracer<${this.aval}>(${this._trace.constructor.name})`;
  }
}

/** Level 0: evaluate primitives on concrete tensors. */
export class EvalTrace extends Trace {
  pure(val: Tensor): Tensor {
    return val;
  }
  lift(val: Tensor): Tensor {
    return val;
  }
  processPrimitive(prim: AnyPrimitive, args: Tensor[], params: Params): Tensor[] {
    return evalHooks.apply(prim, args as EagerTensor[], params);
  }
}

/** Filled in by the eager executor and the autograd tape (they live above this module). */
export const evalHooks: {
  apply(prim: AnyPrimitive, args: EagerTensor[], params: Params): Tensor[];
} = {
  apply() {
    throw new Error("eager executor not installed");
  },
};

export const traceStack: MainTrace[] = [new MainTrace(0, EvalTrace, null)];
let dynamicTrace: MainTrace | null = null;

/** Run fn with a new transformation level on the stack. */
export function newMain<T>(traceType: new (main: MainTrace) => Trace, globalData: unknown, fn: (main: MainTrace) => T): T {
  const main = new MainTrace(traceStack.length, traceType, globalData);
  traceStack.push(main);
  try {
    return fn(main);
  } finally {
    traceStack.pop();
  }
}

/** Like newMain, but every primitive (even on constants) is staged into this level (omnistaging for jit). */
export function newDynamic<T>(main: MainTrace, fn: () => T): T {
  const prev = dynamicTrace;
  dynamicTrace = main;
  try {
    return fn();
  } finally {
    dynamicTrace = prev;
  }
}

function findTopTrace(xs: readonly Tensor[]): Trace {
  let top = traceStack[0]!;
  for (const x of xs) {
    if (x instanceof Tracer) {
      const m = x._trace.main;
      if (m.level > top.level) top = m;
    }
  }
  if (dynamicTrace && dynamicTrace.level > top.level) top = dynamicTrace;
  return new top.traceType(top);
}

export function fullRaise(trace: Trace, val: Tensor): Tensor {
  if (!(val instanceof Tracer)) return trace.pure(val);
  const m = val._trace.main;
  if (traceStack[m.level] !== m) {
    throw new TridentError(
      `tracer leak: a value traced by an earlier transformation (${val._trace.constructor.name}, ${val.aval}) ` +
        `was used after that transformation finished. Return values from the function instead of storing them ` +
        `in outer variables.`,
    );
  }
  if (m === trace.main) return val;
  if (m.level < trace.main.level) return trace.lift(val);
  throw new TridentError(`tracer from a higher level (${val._trace.constructor.name}) reached a lower one; this is a bug or a leak`);
}

export function fullLower(x: Tensor): Tensor {
  return x instanceof Tracer ? x.fullLower() : x;
}

/** Apply a primitive at the innermost transformation that owns one of its operands. */
export function bind(prim: AnyPrimitive, args: readonly Tensor[], params: Params = {}): Tensor[] {
  const trace = findTopTrace(args);
  const tracers = args.map((a) => fullRaise(trace, a));
  const outs = trace.processPrimitive(prim, tracers, params);
  return outs.map(fullLower);
}

export function bind1(prim: AnyPrimitive, args: readonly Tensor[], params: Params = {}): Tensor {
  return bind(prim, args, params)[0]!;
}

export function getAval(x: Tensor): ShapedArray {
  return x.aval;
}

/** Whether any transformation (other than eager evaluation) is active. */
export function isTracing(): boolean {
  return traceStack.length > 1 || dynamicTrace !== null;
}
