/** Activation functions as layers (for Sequential), with PyTorch's constructor arguments. */
import type { Tensor } from "../tensor.js";
import { greater, sigmoid, tanh, where, mul } from "../ops/core.js";
import { elu, gelu, hardTanh, leakyRelu, logSoftmax, mish, relu, silu, softmax, softplus, type GeluOpts } from "../ops/nn.js";
import { Module } from "./module.js";
import { fail } from "../core/errors.js";

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** x·Φ(x); `{ approximate: "tanh" }` for the tanh form. */
export class GELU extends Module {
  readonly approximate: "none" | "tanh";
  constructor(opts: GeluOpts = {}) {
    super();
    this.approximate = opts.approximate ?? "none";
  }
  forward(x: Tensor): Tensor {
    return gelu(x, { approximate: this.approximate });
  }
}

/** x·sigmoid(x). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** 1 / (1 + exp(−x)). */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** tanh(x). */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Softmax along `dim` (default -1). */
export class Softmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return softmax(x, { axis: this.dim });
  }
}

/** Log-softmax along `dim` (default -1). */
export class LogSoftmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return logSoftmax(x, { axis: this.dim });
  }
}

/** x for x > 0, negativeSlope·x otherwise (default slope 0.01). */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

/** x for x > 0, alpha·(exp(x) − 1) otherwise. */
export class ELU extends Module {
  constructor(readonly alpha = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return elu(x, this.alpha);
  }
}

/** softplus(βx)/β, reverting to x where βx > threshold (PyTorch's defaults β = 1, threshold = 20). */
export class Softplus extends Module {
  readonly beta: number;
  readonly threshold: number;
  constructor(opts: { beta?: number; threshold?: number } = {}) {
    super();
    this.beta = opts.beta ?? 1;
    this.threshold = opts.threshold ?? 20;
    if (!(this.beta > 0)) fail("Softplus", `beta must be positive, got ${this.beta}`);
  }
  forward(x: Tensor): Tensor {
    return where(greater(mul(x, this.beta), this.threshold), x, softplus(x, { beta: this.beta }));
  }
}

/** x·tanh(softplus(x)). */
export class Mish extends Module {
  forward(x: Tensor): Tensor {
    return mish(x);
  }
}

/** Clamp to [minVal, maxVal] (default [−1, 1]). */
export class Hardtanh extends Module {
  constructor(readonly minVal = -1, readonly maxVal = 1) {
    super();
    if (!(maxVal > minVal)) fail("Hardtanh", `maxVal (${maxVal}) must be greater than minVal (${minVal})`);
  }
  forward(x: Tensor): Tensor {
    return hardTanh(x, this.minVal, this.maxVal);
  }
}
