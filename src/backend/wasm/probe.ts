import { Bytes, T, V } from "./emitter.js";

/** Bytes of a module whose one function uses f32x4.relaxed_madd (used to probe engine support). */
export function relaxedProbeModule(): Uint8Array {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, fill: (b: Bytes) => void) => {
    const b = new Bytes();
    fill(b);
    out.byte(id).sized(b);
  };
  section(1, (b) => b.u32(1).byte(0x60).u32(3).bytes([T.v128, T.v128, T.v128]).u32(1).byte(T.v128));
  section(3, (b) => b.u32(1).u32(0));
  section(10, (b) => {
    const body = new Bytes().u32(0).bytes([0x20, 0, 0x20, 1, 0x20, 2]).byte(0xfd).u32(V.f32x4_relaxed_madd).byte(0x0b);
    b.u32(1).sized(body);
  });
  return out.view().slice();
}

let relaxed: boolean | undefined;
/**
 * Whether the engine accepts relaxed SIMD (fused multiply-add). Node 20 needs
 * `--experimental-wasm-relaxed-simd`; newer engines ship it. Without it kernels use mul + add.
 */
export function relaxedSimd(): boolean {
  if (relaxed === undefined) {
    try {
      relaxed = WebAssembly.validate(relaxedProbeModule() as BufferSource);
    } catch {
      relaxed = false;
    }
  }
  return relaxed;
}

/** Whether this engine validates 128-bit SIMD at all (every current engine does). */
export function simdSupported(): boolean {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const t = new Bytes().u32(1).byte(0x60).u32(0).u32(1).byte(T.v128);
  out.byte(1).sized(t);
  out.byte(3).sized(new Bytes().u32(1).u32(0));
  const body = new Bytes().u32(0).byte(0xfd).u32(V.const).bytes(new Uint8Array(16)).byte(0x0b);
  out.byte(10).sized(new Bytes().u32(1).sized(body));
  try {
    return WebAssembly.validate(out.view().slice() as BufferSource);
  } catch {
    return false;
  }
}
