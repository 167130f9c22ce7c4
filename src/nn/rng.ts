/**
 * Where layers get randomness (Dropout): an explicit key, a key scoped over a block with `withRng`, or
 * the global generator of `tr.manualSeed`. A key drawn from the global generator while a function is
 * being staged by jit would be frozen into the compiled program (the same mask on every call), so that
 * case is refused with a message saying how to pass a key.
 */
import { fail } from "../core/errors.js";
import { JaxprTrace } from "../core/jaxpr.js";
import { traceStack } from "../core/trace.js";
import { foldIn, type Key } from "../random/index.js";
import { nextKey } from "../random/global.js";

interface RngFrame {
  key: Key;
  count: number;
}
const frames: RngFrame[] = [];

/**
 * Run fn with `key` as the source of randomness for the layers it calls: the i-th random draw uses
 * `foldIn(key, i)`. Works inside jit with a traced key (fresh masks on every call).
 * @example const y = nn.withRng(key, () => model.forward(x));
 */
export function withRng<T>(key: Key, fn: () => T): T {
  if (!key || key.dtype !== "uint32" || key.shape.join() !== "2") {
    fail("nn.withRng", `argument key must be a uint32 tensor of shape [2] from tr.random.key(seed), got ${key ? String(key.aval) : key}`);
  }
  frames.push({ key, count: 0 });
  try {
    return fn();
  } finally {
    frames.pop();
  }
}

/** Whether a jit (or control-flow body) trace is being recorded, so host-side draws would be frozen. */
function staging(): boolean {
  return traceStack.some((m) => m.traceType === JaxprTrace);
}

/** The key for one random draw by `op`: the explicit one, else the innermost withRng block, else the global generator. */
export function drawKey(op: string, explicit?: Key | null): Key {
  if (explicit) return explicit;
  const top = frames[frames.length - 1];
  if (top) return foldIn(top.key, top.count++);
  if (staging()) {
    fail(
      op,
      "needs a random key inside jit (a key from the global generator would be fixed when the function is traced): " +
        "pass { key } to forward, wrap the call in nn.withRng(key, () => ...), or call model.eval()",
    );
  }
  return nextKey();
}
