import { fullLike } from "../ops/creation.js";
import type { EagerTensor, Tensor } from "../tensor.js";
import { check, Optimizer, withDefaults, type ParamsArg, type UpdateResult } from "./optimizer.js";
import { adagradRule } from "./rules.js";

/** Adagrad hyperparameters (PyTorch names in camelCase). */
export interface AdagradOptions {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
  maximize: boolean;
}

/** Throw a TridentError naming `op` and the first invalid Adagrad hyperparameter. */
export function validateAdagrad(op: string, o: AdagradOptions): void {
  check(typeof o.lr === "number" && o.lr >= 0, op, "learning rate lr: expected a number >= 0", o.lr);
  check(o.lrDecay >= 0, op, "lrDecay: expected >= 0", o.lrDecay);
  check(o.weightDecay >= 0, op, "weightDecay: expected >= 0", o.weightDecay);
  check(o.initialAccumulatorValue >= 0, op, "initialAccumulatorValue: expected >= 0", o.initialAccumulatorValue);
  check(o.eps >= 0, op, "eps: expected >= 0", o.eps);
}

/**
 * Adagrad (PyTorch 1.13: the step's lr is lr / (1 + (step - 1) * lrDecay); eps after the square root).
 * @example const opt = new optim.Adagrad(model.parameters(), { lr: 0.1 });
 */
export class Adagrad extends Optimizer<AdagradOptions> {
  constructor(params: ParamsArg<AdagradOptions>, opts: Partial<AdagradOptions> = {}) {
    super("Adagrad", params, withDefaults("Adagrad", { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false }, opts));
  }
  protected validate(o: AdagradOptions): void {
    validateAdagrad(this.name, o);
  }
  protected bufferNames(): { required: string[]; optional: string[] } {
    return { required: ["sum"], optional: [] };
  }
  protected initState(p: EagerTensor, o: AdagradOptions): Record<string, Tensor> {
    return { sum: fullLike(p, o.initialAccumulatorValue) };
  }
  protected update(p: EagerTensor, g: Tensor, step: number, b: Record<string, EagerTensor>, o: AdagradOptions): UpdateResult {
    const clr = o.lr / (1 + (step - 1) * o.lrDecay);
    const r = adagradRule(p, g, b["sum"]!, clr, o);
    return { param: r.param, buffers: { sum: r.sum } };
  }
}
