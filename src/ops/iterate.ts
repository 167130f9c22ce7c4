import { TridentError } from "../core/errors.js";
import { Tensor } from "../tensor.js";
import { slice } from "./shape.js";

declare module "../tensor.js" {
  interface Tensor {
    /** Iterate over the first axis, as PyTorch and NumPy do: `for (const row of t)`, `const [a, b] = t`. */
    [Symbol.iterator](): Iterator<Tensor>;
  }
}

// Under vmap the tracer's aval is the per-example shape, so the batch axis is never iterated.
(Tensor.prototype as unknown as { [Symbol.iterator]: () => Iterator<Tensor> })[Symbol.iterator] = function* (this: Tensor): Generator<Tensor> {
  if (this.ndim === 0) throw new TridentError(`iteration over a 0-d tensor (shape []): use item() for its value`);
  const n = this.shape[0]!;
  for (let i = 0; i < n; i++) yield slice(this, [i]);
};
