// Tensor methods for the linalg helpers, attached once from src/ops/methods.ts.
import { Tensor } from "../tensor.js";
import { diagonal, matrixTranspose, trace } from "./basic.js";

declare module "../tensor.js" {
  interface Tensor {
    /** Sum of the k-th diagonal of the last two axes. */
    trace(opts?: { offset?: number }): Tensor;
    /** The k-th diagonal over axis1 and axis2, as the last axis. */
    diagonal(opts?: { offset?: number; axis1?: number; axis2?: number }): Tensor;
    /** Transpose of the last two axes (Array API mT). */
    readonly mT: Tensor;
  }
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
proto["trace"] = function (this: Tensor, opts?: { offset?: number }) { return trace(this, opts); };
proto["diagonal"] = function (this: Tensor, opts?: { offset?: number; axis1?: number; axis2?: number }) { return diagonal(this, opts); };
Object.defineProperty(Tensor.prototype, "mT", { get(this: Tensor) { return matrixTranspose(this); }, configurable: true });
