/**
 * A main-thread probe of the page (the suites run in a worker): whether the wasm backend works where
 * browsers refuse synchronous WebAssembly compilation of modules over 4 KB. Reported, not asserted.
 */
import * as tr from "../../src/index.js";

/** Whether this thread may compile a module of `bytes` bytes synchronously (a custom section pads it). */
function syncCompiles(bytes: number): string {
  const pad = bytes - 16;
  const size = [pad & 0x7f | 0x80, (pad >> 7) & 0x7f | 0x80, (pad >> 14) & 0x7f];
  const mod = new Uint8Array(8 + 1 + 3 + pad);
  mod.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, ...size, 1, 0x78]);
  try {
    new WebAssembly.Module(mod);
    return `sync compile of ${mod.length} B allowed`;
  } catch (e) {
    return `sync compile of ${mod.length} B refused (${e instanceof Error ? e.message : String(e)})`;
  }
}

export async function probeMainThread(): Promise<{ ok: boolean; detail: string }> {
  const limit = syncCompiles(1 << 20);
  try {
    await tr.setBackend("wasm");
    const a = tr.tensor([[1, 2], [3, 4]]);
    const small = Array.from(a.mul(2).add(1).dataSync()).join(",");
    const n = 64;
    const m = tr.ones([n, n]);
    const big = tr.matmul(m, m).sum().dataSync()[0];
    return { ok: small === "3,5,7,9" && big === n * n * n, detail: `elementwise ${small}, 64×64 matmul sum ${big}; ${limit}` };
  } catch (e) {
    return { ok: false, detail: `${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}; ${limit}` };
  }
}
