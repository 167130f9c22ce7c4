/** Gradient clipping over the `.grad` of parameters (PyTorch's torch.nn.utils.clip_grad_*). */
import { fail } from "../core/errors.js";
import { scope } from "../memory.js";
import { toTensor } from "../ops/convert.js";
import { abs, add, astype, clip, div, max, maximum, min, minimum, mul, pow, sqrt, sum } from "../ops/core.js";
import { noGrad } from "../tape.js";
import { EagerTensor, Tensor } from "../tensor.js";

function gradsOf(op: string, params: Iterable<Tensor> | Tensor): EagerTensor[] {
  const list = params instanceof Tensor ? [params] : [...params];
  const out: EagerTensor[] = [];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) fail(op, `parameter ${i} is not a tensor (${typeof p})`);
    if (!p.grad) return;
    if (!(p.grad instanceof EagerTensor)) fail(op, `the gradient of parameter ${i} is a traced value; clip inside transformations with optim.functional.clipByGlobalNorm`);
    out.push(p.grad);
  });
  return out;
}

/** The p-norm of all the tensors together, as if concatenated (p may be Infinity or -Infinity). */
export function globalNorm(op: string, ts: readonly Tensor[], normType: number): Tensor {
  if (typeof normType !== "number" || Number.isNaN(normType) || normType === 0 || (normType < 0 && normType !== -Infinity)) {
    fail(op, `normType must be a positive number, Infinity or -Infinity, got ${normType}`);
  }
  const dt = ts.some((t) => t.dtype === "float64") ? "float64" : "float32";
  const parts = ts.map((t) => abs(t.dtype === dt ? t : astype(t, dt)));
  if (normType === Infinity) return parts.map((a) => max(a)).reduce((a, b) => maximum(a, b));
  if (normType === -Infinity) return parts.map((a) => min(a)).reduce((a, b) => minimum(a, b));
  if (normType === 2) return sqrt(parts.map((a) => sum(mul(a, a))).reduce((a, b) => add(a, b)));
  if (normType === 1) return parts.map((a) => sum(a)).reduce((a, b) => add(a, b));
  const pw = (x: Tensor, e: number) => pow(x, toTensor(e, dt));
  return pw(parts.map((a) => sum(pw(a, normType))).reduce((a, b) => add(a, b)), 1 / normType);
}

/**
 * Scale the gradients in place so that their global `normType`-norm is at most `maxNorm`
 * (coefficient maxNorm / (norm + 1e-6), clamped to 1). Returns the norm before clipping.
 * @example loss.backward(); optim.clipGradNorm(model.parameters(), 1.0); opt.step();
 */
export function clipGradNorm(params: Iterable<Tensor> | Tensor, maxNorm: number, normType = 2, opts: { errorIfNonfinite?: boolean } = {}): Tensor {
  const op = "clipGradNorm";
  if (typeof maxNorm !== "number" || !(maxNorm >= 0)) fail(op, `maxNorm must be a number >= 0, got ${maxNorm}`);
  const grads = gradsOf(op, params);
  return noGrad(() =>
    scope(() => {
      if (grads.length === 0) return toTensor(0, "float32");
      const total = globalNorm(op, grads, normType);
      if (opts.errorIfNonfinite && !Number.isFinite(total.item())) {
        fail(op, `the total norm of order ${normType} of the gradients is ${total.item()}, so they cannot be clipped; pass errorIfNonfinite: false to allow it`);
      }
      const coef = minimum(div(toTensor(maxNorm, total.dtype), add(total, toTensor(1e-6, total.dtype))), toTensor(1, total.dtype));
      for (const g of grads) g.assign(mul(g, g.dtype === coef.dtype ? coef : astype(coef, g.dtype)) as EagerTensor);
      return total;
    }),
  );
}

/** Clamp every gradient to [-clipValue, clipValue] in place. */
export function clipGradValue(params: Iterable<Tensor> | Tensor, clipValue: number): void {
  const op = "clipGradValue";
  if (typeof clipValue !== "number" || !(clipValue >= 0)) fail(op, `clipValue must be a number >= 0, got ${clipValue}`);
  const grads = gradsOf(op, params);
  noGrad(() =>
    scope(() => {
      for (const g of grads) g.assign(clip(g, toTensor(-clipValue, g.dtype), toTensor(clipValue, g.dtype)) as EagerTensor);
    }),
  );
}
