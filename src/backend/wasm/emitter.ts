/**
 * A minimal WebAssembly binary writer: LEB128, sections, and the handful of instructions kernels use.
 * Kernels are emitted straight to bytecode at run time; there is no toolchain.
 */
export const enum T {
  i32 = 0x7f,
  i64 = 0x7e,
  f32 = 0x7d,
  f64 = 0x7c,
  v128 = 0x7b,
  void = 0x40,
}

export class Bytes {
  private buf = new Uint8Array(256);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  byte(b: number): this {
    this.ensure(1);
    this.buf[this.length++] = b & 0xff;
    return this;
  }
  bytes(bs: ArrayLike<number>): this {
    this.ensure(bs.length);
    for (let i = 0; i < bs.length; i++) this.buf[this.length++] = bs[i]! & 0xff;
    return this;
  }
  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }
  f32(v: number): this {
    const a = new Uint8Array(new Float32Array([v]).buffer);
    return this.bytes(a);
  }
  f64(v: number): this {
    const a = new Uint8Array(new Float64Array([v]).buffer);
    return this.bytes(a);
  }
  /** A 16-byte v128 immediate from four 32-bit lanes given as float32 or int32 bit patterns. */
  v128(lanes: readonly number[], float: boolean): this {
    const a = float ? new Float32Array(lanes) : new Int32Array(lanes);
    return this.bytes(new Uint8Array(a.buffer));
  }
  str(s: string): this {
    const e = new TextEncoder().encode(s);
    this.u32(e.length);
    return this.bytes(e);
  }
  /** Append another buffer prefixed by its length (sections, function bodies). */
  sized(inner: Bytes): this {
    this.u32(inner.length);
    return this.bytes(inner.view());
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface FuncType {
  params: T[];
  results: T[];
}

/** One module: imported memory and functions, defined functions, exports by name. */
export class ModuleBuilder {
  private types: FuncType[] = [];
  private typeKeys = new Map<string, number>();
  private imports: { module: string; name: string; type: number }[] = [];
  private funcs: { type: number; body: Bytes; export?: string }[] = [];
  constructor(private memory: { module: string; name: string; minPages: number; maxPages?: number; shared: boolean }) {}

  typeIndex(t: FuncType): number {
    const key = `${t.params.join(",")}>${t.results.join(",")}`;
    let i = this.typeKeys.get(key);
    if (i === undefined) {
      i = this.types.length;
      this.types.push(t);
      this.typeKeys.set(key, i);
    }
    return i;
  }
  /** Import a function; returns its function index (imports come first). */
  importFunc(module: string, name: string, t: FuncType): number {
    if (this.funcs.length) throw new Error("wasm builder: imports must precede definitions");
    this.imports.push({ module, name, type: this.typeIndex(t) });
    return this.imports.length - 1;
  }
  /** Add a defined function with its complete body (locals + code + end). */
  addFunc(t: FuncType, body: Bytes, exportName?: string): number {
    this.funcs.push({ type: this.typeIndex(t), body, export: exportName });
    return this.imports.length + this.funcs.length - 1;
  }
  build(): Uint8Array {
    const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const section = (id: number, fill: (b: Bytes) => void) => {
      const b = new Bytes();
      fill(b);
      out.byte(id).sized(b);
    };
    section(1, (b) => {
      b.u32(this.types.length);
      for (const t of this.types) {
        b.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
      }
    });
    section(2, (b) => {
      b.u32(this.imports.length + 1);
      const m = this.memory;
      b.str(m.module).str(m.name).byte(0x02);
      if (m.shared) b.byte(0x03).u32(m.minPages).u32(m.maxPages ?? 65536);
      else if (m.maxPages !== undefined) b.byte(0x01).u32(m.minPages).u32(m.maxPages);
      else b.byte(0x00).u32(m.minPages);
      for (const im of this.imports) b.str(im.module).str(im.name).byte(0x00).u32(im.type);
    });
    section(3, (b) => {
      b.u32(this.funcs.length);
      for (const f of this.funcs) b.u32(f.type);
    });
    const exported = this.funcs.map((f, i) => [f, i] as const).filter(([f]) => f.export);
    section(7, (b) => {
      b.u32(exported.length);
      for (const [f, i] of exported) b.str(f.export!).byte(0x00).u32(this.imports.length + i);
    });
    section(10, (b) => {
      b.u32(this.funcs.length);
      for (const f of this.funcs) b.sized(f.body);
    });
    return out.view().slice();
  }
}

/** Opcodes used by the code generator. */
export const Op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_if: 0x0d, return: 0x0f, call: 0x10,
  drop: 0x1a, select: 0x1b,
  local_get: 0x20, local_set: 0x21, local_tee: 0x22,
  i32_load: 0x28, f32_load: 0x2a, f64_load: 0x2b, i32_load8_s: 0x2c, i32_load8_u: 0x2d, i32_load16_u: 0x2f,
  i32_store: 0x36, f32_store: 0x38, f64_store: 0x39, i32_store8: 0x3a, i32_store16: 0x3b,
  i32_const: 0x41, f32_const: 0x43, f64_const: 0x44,
  i32_eqz: 0x45, i32_eq: 0x46, i32_ne: 0x47, i32_lt_s: 0x48, i32_lt_u: 0x49, i32_gt_s: 0x4a, i32_gt_u: 0x4b,
  i32_le_s: 0x4c, i32_le_u: 0x4d, i32_ge_s: 0x4e, i32_ge_u: 0x4f,
  f32_eq: 0x5b, f32_ne: 0x5c, f32_lt: 0x5d, f32_gt: 0x5e, f32_le: 0x5f, f32_ge: 0x60,
  f64_eq: 0x61, f64_ne: 0x62, f64_lt: 0x63, f64_gt: 0x64, f64_le: 0x65, f64_ge: 0x66,
  i32_add: 0x6a, i32_sub: 0x6b, i32_mul: 0x6c, i32_div_s: 0x6d, i32_div_u: 0x6e, i32_rem_s: 0x6f, i32_rem_u: 0x70,
  i32_and: 0x71, i32_or: 0x72, i32_xor: 0x73, i32_shl: 0x74, i32_shr_s: 0x75, i32_shr_u: 0x76,
  f32_abs: 0x8b, f32_neg: 0x8c, f32_ceil: 0x8d, f32_floor: 0x8e, f32_trunc: 0x8f, f32_nearest: 0x90, f32_sqrt: 0x91,
  f32_add: 0x92, f32_sub: 0x93, f32_mul: 0x94, f32_div: 0x95, f32_min: 0x96, f32_max: 0x97,
  f64_abs: 0x99, f64_neg: 0x9a, f64_ceil: 0x9b, f64_floor: 0x9c, f64_trunc: 0x9d, f64_nearest: 0x9e, f64_sqrt: 0x9f,
  f64_add: 0xa0, f64_sub: 0xa1, f64_mul: 0xa2, f64_div: 0xa3, f64_min: 0xa4, f64_max: 0xa5,
  i32_trunc_f32_s: 0xa8, i32_trunc_f64_s: 0xaa,
  f32_convert_i32_s: 0xb2, f32_convert_i32_u: 0xb3, f32_demote_f64: 0xb6,
  f64_convert_i32_s: 0xb7, f64_convert_i32_u: 0xb8, f64_promote_f32: 0xbb,
  i32_reinterpret_f32: 0xbc, f32_reinterpret_i32: 0xbe,
  prefix_fc: 0xfc, prefix_simd: 0xfd,
} as const;

/**
 * SIMD opcodes (after the 0xFD prefix, LEB128-encoded). Relaxed-SIMD ones (≥ 0x100) are used only
 * when the engine validates them (see `relaxedSimd` in codegen).
 */
export const V = {
  load: 0x00, load32_splat: 0x09, store: 0x0b, const: 0x0c, shuffle: 0x0d,
  i32x4_splat: 0x11, f32x4_splat: 0x13,
  i32x4_extract_lane: 0x1b, i32x4_replace_lane: 0x1c, f32x4_extract_lane: 0x1f, f32x4_replace_lane: 0x20,
  i32x4_eq: 0x37, i32x4_ne: 0x38, i32x4_lt_s: 0x39, i32x4_lt_u: 0x3a, i32x4_gt_s: 0x3b, i32x4_gt_u: 0x3c,
  i32x4_le_s: 0x3d, i32x4_le_u: 0x3e, i32x4_ge_s: 0x3f, i32x4_ge_u: 0x40,
  f32x4_eq: 0x41, f32x4_ne: 0x42, f32x4_lt: 0x43, f32x4_gt: 0x44, f32x4_le: 0x45, f32x4_ge: 0x46,
  not: 0x4d, and: 0x4e, andnot: 0x4f, or: 0x50, xor: 0x51, bitselect: 0x52, any_true: 0x53,
  store8_lane: 0x58, store32_lane: 0x5a, load32_zero: 0x5c,
  i8x16_narrow_i16x8_s: 0x65, i8x16_narrow_i16x8_u: 0x66,
  f32x4_ceil: 0x67, f32x4_floor: 0x68, f32x4_trunc: 0x69, f32x4_nearest: 0x6a,
  i16x8_narrow_i32x4_s: 0x85, i16x8_narrow_i32x4_u: 0x86,
  i16x8_extend_low_i8x16_s: 0x87, i16x8_extend_low_i8x16_u: 0x89,
  i32x4_abs: 0xa0, i32x4_neg: 0xa1, i32x4_extend_low_i16x8_s: 0xa7, i32x4_extend_low_i16x8_u: 0xa9,
  i32x4_shl: 0xab, i32x4_shr_s: 0xac, i32x4_shr_u: 0xad, i32x4_add: 0xae, i32x4_sub: 0xb1, i32x4_mul: 0xb5,
  i32x4_min_s: 0xb6, i32x4_min_u: 0xb7, i32x4_max_s: 0xb8, i32x4_max_u: 0xb9,
  f32x4_abs: 0xe0, f32x4_neg: 0xe1, f32x4_sqrt: 0xe3, f32x4_add: 0xe4, f32x4_sub: 0xe5, f32x4_mul: 0xe6,
  f32x4_div: 0xe7, f32x4_min: 0xe8, f32x4_max: 0xe9, f32x4_pmin: 0xea, f32x4_pmax: 0xeb,
  i32x4_trunc_sat_f32x4_s: 0xf8, i32x4_trunc_sat_f32x4_u: 0xf9, f32x4_convert_i32x4_s: 0xfa, f32x4_convert_i32x4_u: 0xfb,
  f32x4_relaxed_madd: 0x105,
} as const;
