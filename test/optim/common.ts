// Shared pieces of the optim tests: the PyTorch 1.13 trajectories in test/fixtures/optim.json.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tr from "../../src/index.js";
import * as optim from "../../src/optim/index.js";

export interface FixTensor {
  shape: number[];
  data: number[];
}
export interface OptCase {
  id: string;
  optimizer: "sgd" | "adam" | "adamw" | "rmsprop" | "adagrad";
  options: Record<string, number | boolean | number[]>;
  init: FixTensor;
  steps: { grad: FixTensor; param: FixTensor }[];
}
export interface SchedCase {
  id: string;
  base_lr: number;
  options: Record<string, number | string | boolean>;
  lrs: number[];
}

const FILE = fileURLToPath(new URL("../fixtures/optim.json", import.meta.url));
export const FIX = JSON.parse(readFileSync(FILE, "utf8")) as { optimizers: OptCase[]; schedules: SchedCase[] };

/** PyTorch's snake_case keyword arguments as Trident's camelCase options. */
export function camelOptions(o: Record<string, unknown>): Record<string, never> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return out as Record<string, never>;
}

export function fixTensor(t: FixTensor, dtype: tr.DType): tr.EagerTensor {
  return tr.tensor(t.data, { dtype }).reshape(t.shape) as tr.EagerTensor;
}

type Ctor = new (params: tr.Tensor[], opts: Record<string, never>) => optim.Optimizer<optim.GroupOptions>;
export const STATEFUL: Record<OptCase["optimizer"], Ctor> = {
  sgd: optim.SGD as unknown as Ctor,
  adam: optim.Adam as unknown as Ctor,
  adamw: optim.AdamW as unknown as Ctor,
  rmsprop: optim.RMSprop as unknown as Ctor,
  adagrad: optim.Adagrad as unknown as Ctor,
};

export const FUNCTIONAL: Record<OptCase["optimizer"], (o: Record<string, never>) => optim.functional.FunctionalOptimizer<unknown>> = {
  sgd: (o) => optim.functional.sgd(o) as optim.functional.FunctionalOptimizer<unknown>,
  adam: (o) => optim.functional.adam(o) as optim.functional.FunctionalOptimizer<unknown>,
  adamw: (o) => optim.functional.adamw(o) as optim.functional.FunctionalOptimizer<unknown>,
  rmsprop: (o) => optim.functional.rmsprop(o) as optim.functional.FunctionalOptimizer<unknown>,
  adagrad: (o) => optim.functional.adagrad(o) as optim.functional.FunctionalOptimizer<unknown>,
};

/** Fixture tolerance per dtype: float64 runs the same arithmetic as PyTorch; float32 rounds each op. */
export const TOL: Record<"float64" | "float32", { rtol: number; atol: number }> = {
  float64: { rtol: 1e-10, atol: 1e-12 },
  float32: { rtol: 1e-5, atol: 1e-5 },
};
