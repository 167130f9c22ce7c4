import type { EagerTensor, Tensor } from "../tensor.js";
import { check, Optimizer, withDefaults, type ParamsArg, type UpdateResult } from "./optimizer.js";
import { sgdRule } from "./rules.js";

/** SGD hyperparameters (PyTorch names in camelCase). */
export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  maximize: boolean;
}

const SGD_DEFAULTS: Omit<SGDOptions, "lr"> = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false };

/** Throw a TridentError naming `op` and the first invalid SGD hyperparameter. */
export function validateSgd(op: string, o: SGDOptions): void {
  check(typeof o.lr === "number" && o.lr >= 0, op, "learning rate lr: expected a number >= 0", o.lr);
  check(o.momentum >= 0, op, "momentum: expected >= 0", o.momentum);
  check(o.weightDecay >= 0, op, "weightDecay: expected >= 0", o.weightDecay);
  if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
    check(false, op, "nesterov: Nesterov momentum requires momentum > 0 and dampening = 0", { momentum: o.momentum, dampening: o.dampening });
  }
}

/**
 * Stochastic gradient descent with optional momentum (PyTorch 1.13 semantics: the momentum buffer
 * starts as a copy of the first gradient, dampening applies from the second step on).
 * @example const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsArg<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    check(opts !== undefined && typeof opts.lr === "number", "SGD", "options: lr is required, e.g. { lr: 0.01 }", opts?.lr);
    super("SGD", params, withDefaults("SGD", { lr: opts.lr, ...SGD_DEFAULTS }, opts));
  }
  protected validate(o: SGDOptions): void {
    validateSgd(this.name, o);
  }
  protected bufferNames(): { required: string[]; optional: string[] } {
    return { required: [], optional: ["momentumBuffer"] };
  }
  protected initState(): Record<string, Tensor> {
    return {};
  }
  protected update(p: EagerTensor, g: Tensor, _step: number, b: Record<string, EagerTensor>, o: SGDOptions): UpdateResult {
    let buf: Tensor | null = b["momentumBuffer"] ?? null;
    // a buffer loaded while momentum was 0 is meaningless; PyTorch ignores it too
    if (o.momentum === 0) buf = null;
    const r = sgdRule(p, g, buf, null, o);
    return { param: r.param, buffers: { momentumBuffer: r.buf } };
  }
}
