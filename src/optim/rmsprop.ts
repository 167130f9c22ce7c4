import { zerosLike } from "../ops/creation.js";
import type { EagerTensor, Tensor } from "../tensor.js";
import { check, Optimizer, withDefaults, type ParamsArg, type UpdateResult } from "./optimizer.js";
import { rmspropRule } from "./rules.js";

/** RMSprop hyperparameters (PyTorch names in camelCase). */
export interface RMSpropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
}

/** Throw a TridentError naming `op` and the first invalid RMSprop hyperparameter. */
export function validateRmsprop(op: string, o: RMSpropOptions): void {
  check(typeof o.lr === "number" && o.lr >= 0, op, "learning rate lr: expected a number >= 0", o.lr);
  check(o.eps >= 0, op, "eps: expected >= 0", o.eps);
  check(o.momentum >= 0, op, "momentum: expected >= 0", o.momentum);
  check(o.weightDecay >= 0, op, "weightDecay: expected >= 0", o.weightDecay);
  check(o.alpha >= 0, op, "alpha: expected >= 0", o.alpha);
}

/**
 * RMSprop (PyTorch 1.13: eps is added after the square root; the centered variant subtracts the
 * squared running mean of the gradient; momentum accumulates grad / avg).
 * @example const opt = new optim.RMSprop(model.parameters(), { lr: 0.01, centered: true });
 */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsArg<RMSpropOptions>, opts: Partial<RMSpropOptions> = {}) {
    super("RMSprop", params, withDefaults("RMSprop", { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false }, opts));
  }
  protected validate(o: RMSpropOptions): void {
    validateRmsprop(this.name, o);
  }
  protected bufferNames(o: RMSpropOptions): { required: string[]; optional: string[] } {
    const required = ["squareAvg"];
    if (o.momentum > 0) required.push("momentumBuffer");
    if (o.centered) required.push("gradAvg");
    return { required, optional: ["momentumBuffer", "gradAvg"].filter((n) => !required.includes(n)) };
  }
  protected initState(p: EagerTensor, o: RMSpropOptions): Record<string, Tensor> {
    const s: Record<string, Tensor> = { squareAvg: zerosLike(p) };
    if (o.momentum > 0) s["momentumBuffer"] = zerosLike(p);
    if (o.centered) s["gradAvg"] = zerosLike(p);
    return s;
  }
  protected update(p: EagerTensor, g: Tensor, _step: number, b: Record<string, EagerTensor>, o: RMSpropOptions): UpdateResult {
    // a buffer for an option switched on mid-training starts at zero (PyTorch would fail on the missing key)
    const r = rmspropRule(
      p,
      g,
      {
        squareAvg: b["squareAvg"]!,
        gradAvg: o.centered ? (b["gradAvg"] ?? zerosLike(p)) : null,
        momentumBuffer: o.momentum > 0 ? (b["momentumBuffer"] ?? zerosLike(p)) : null,
      },
      o,
    );
    return { param: r.param, buffers: { squareAvg: r.squareAvg, gradAvg: r.gradAvg, momentumBuffer: r.momentumBuffer } };
  }
}
