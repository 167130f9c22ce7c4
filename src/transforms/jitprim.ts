import { ClosedJaxpr, evalJaxpr } from "../core/jaxpr.js";
import { primitive } from "../core/primitive.js";
import { bind } from "../core/trace.js";
import type { Tensor } from "../tensor.js";
import { jvpFlat } from "./jvp.js";
import { vmapFlat } from "./vmap.js";
import { backwardPass } from "./partial.js";
import { zerosLike } from "../core/prims/elementwise.js";
import { runJaxpr } from "./compile.js";

type CallP = { jaxpr: ClosedJaxpr; name: string };

/**
 * A call of a traced program. Eagerly it runs the program compiled into fused kernels (compile.ts); under
 * jvp and vmap the program is inlined
 * into the enclosing transformation, so jit(grad(f)) and grad(jit(f)) both work.
 */
export const xlaCallP = primitive<CallP>("jit", {
  shape(_a, { jaxpr }) {
    return jaxpr.jaxpr.outAvals;
  },
  impl(args, { jaxpr }) {
    return runJaxpr(jaxpr, args);
  },
  jvp(primals, tangents, { jaxpr }) {
    const [po, to] = jvpFlat((...xs) => evalJaxpr(jaxpr.jaxpr, [...jaxpr.consts, ...xs]), primals, tangents);
    return [po, to.map((t, i) => t ?? zerosLike(po[i]!))];
  },
  transpose(cts, args, { jaxpr }) {
    return backwardPass(jaxpr.jaxpr, [...jaxpr.consts, ...args], cts).slice(jaxpr.consts.length);
  },
  batch(args, dims, { jaxpr }) {
    const outs = vmapFlat((...xs) => evalJaxpr(jaxpr.jaxpr, [...jaxpr.consts, ...xs]), dims, () => [], args);
    return [outs, outs.map(() => 0)];
  },
}, (p) => `name=${p.name}`);

export function xlaCall(closed: ClosedJaxpr, args: Tensor[]): Tensor[] {
  return bind(xlaCallP, args, { jaxpr: closed, name: "jit" });
}
