import { isFloat } from "../core/dtype.js";
import type { AnyPrimitive, Params } from "../core/primitive.js";
import { Trace, Tracer, bind, fullRaise, newMain, type MainTrace } from "../core/trace.js";
import { zerosLike } from "../core/prims/elementwise.js";
import type { Tensor } from "../tensor.js";

/** Forward mode: each value carries its tangent; `null` is a symbolic zero (nothing depends on the input). */
export class JVPTracer extends Tracer {
  constructor(readonly _trace: JVPTrace, readonly primal: Tensor, readonly tangent: Tensor | null) {
    super();
  }
  get aval() {
    return this.primal.aval;
  }
}

export class JVPTrace extends Trace {
  pure(val: Tensor): Tensor {
    return new JVPTracer(this, val, null);
  }
  lift(val: Tensor): Tensor {
    return new JVPTracer(this, val, null);
  }
  processPrimitive(prim: AnyPrimitive, tracers: Tensor[], params: Params): Tensor[] {
    const ts = tracers as JVPTracer[];
    const primals = ts.map((t) => t.primal);
    if (ts.every((t) => t.tangent === null)) return bind(prim, primals, params).map((p) => new JVPTracer(this, p, null));
    const tangents = ts.map((t) => t.tangent ?? zerosLike(t.primal));
    const [po, to] = prim.rules.jvp(primals, tangents, params);
    return po.map((p, i) => new JVPTracer(this, p, isFloat(p.dtype) ? (to[i] ?? null) : null));
  }
}

/** jvp of a flat function: (primals, tangents) → (primal outputs, tangent outputs or null for zero). */
export function jvpFlat(
  f: (...xs: Tensor[]) => Tensor[],
  primals: readonly Tensor[],
  tangents: readonly (Tensor | null)[],
): [Tensor[], (Tensor | null)[]] {
  return newMain(JVPTrace, null, (main: MainTrace) => {
    const trace = new JVPTrace(main);
    const ins = primals.map((p, i) => new JVPTracer(trace, p, tangents[i] ?? null));
    const outs = f(...ins).map((o) => fullRaise(trace, o) as JVPTracer);
    return [outs.map((o) => o.primal), outs.map((o) => o.tangent)];
  });
}
