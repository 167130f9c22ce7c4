/**
 * A main-thread probe of the page (the suites run in a worker): whether the wasm backend works where
 * browsers refuse synchronous WebAssembly compilation of modules over 4 KB. Reported, not asserted.
 */
import * as tr from "../../src/index.js";

export async function probeMainThread(): Promise<{ ok: boolean; detail: string }> {
  try {
    await tr.setBackend("wasm");
    const a = tr.tensor([[1, 2], [3, 4]]);
    const small = Array.from(a.mul(2).add(1).dataSync()).join(",");
    const n = 64;
    const m = tr.ones([n, n]);
    const big = tr.matmul(m, m).sum().dataSync()[0];
    return { ok: small === "3,5,7,9" && big === n * n * n, detail: `elementwise ${small}, 64×64 matmul sum ${big}` };
  } catch (e) {
    return { ok: false, detail: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}
