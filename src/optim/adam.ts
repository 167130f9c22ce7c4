import { zerosLike } from "../ops/creation.js";
import type { EagerTensor, Tensor } from "../tensor.js";
import { check, Optimizer, withDefaults, type ParamsArg, type UpdateResult } from "./optimizer.js";
import { adamRule } from "./rules.js";

/** Adam / AdamW hyperparameters (PyTorch names in camelCase). */
export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

/** Throw a TridentError naming `op` and the first invalid Adam hyperparameter. */
export function validateAdam(op: string, o: AdamOptions): void {
  check(typeof o.lr === "number" && o.lr >= 0, op, "learning rate lr: expected a number >= 0", o.lr);
  check(o.eps >= 0, op, "eps: expected >= 0", o.eps);
  check(Array.isArray(o.betas) && o.betas.length === 2, op, "betas: expected [beta1, beta2]", o.betas);
  o.betas.forEach((b, i) => check(b >= 0 && b < 1, op, `beta parameter at index ${i}: expected 0 <= beta < 1`, b));
  check(o.weightDecay >= 0, op, "weightDecay: expected >= 0", o.weightDecay);
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;
  protected validate(o: AdamOptions): void {
    validateAdam(this.name, o);
  }
  protected bufferNames(o: AdamOptions): { required: string[]; optional: string[] } {
    return o.amsgrad ? { required: ["expAvg", "expAvgSq", "maxExpAvgSq"], optional: [] } : { required: ["expAvg", "expAvgSq"], optional: ["maxExpAvgSq"] };
  }
  protected initState(p: EagerTensor, o: AdamOptions): Record<string, Tensor> {
    const s: Record<string, Tensor> = { expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
    if (o.amsgrad) s["maxExpAvgSq"] = zerosLike(p);
    return s;
  }
  protected update(p: EagerTensor, g: Tensor, step: number, b: Record<string, EagerTensor>, o: AdamOptions): UpdateResult {
    const [beta1, beta2] = o.betas;
    // amsgrad switched on after some steps: the running maximum starts at zero, as in PyTorch
    const maxExpAvgSq = o.amsgrad ? (b["maxExpAvgSq"] ?? zerosLike(p)) : null;
    const r = adamRule(
      p,
      g,
      { expAvg: b["expAvg"]!, expAvgSq: b["expAvgSq"]!, maxExpAvgSq },
      { stepSize: o.lr / (1 - beta1 ** step), bc2Sqrt: Math.sqrt(1 - beta2 ** step) },
      { beta1, beta2, eps: o.eps, weightDecay: o.weightDecay, amsgrad: o.amsgrad, maximize: o.maximize, decoupled: this.decoupled, lr: o.lr },
    );
    return { param: r.param, buffers: { expAvg: r.expAvg, expAvgSq: r.expAvgSq, maxExpAvgSq: r.maxExpAvgSq } };
  }
}

/**
 * Adam (PyTorch 1.13: L2 weight decay enters the gradient; bias-corrected, eps added after the
 * corrected square root; optional AMSGrad).
 * @example const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
 */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super("Adam", params, withDefaults("Adam", { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false }, opts));
  }
}

/**
 * AdamW: Adam with decoupled weight decay (the parameter is first multiplied by 1 - lr * weightDecay).
 * @example const opt = new optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
 */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super("AdamW", params, withDefaults("AdamW", { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false }, opts));
  }
}
