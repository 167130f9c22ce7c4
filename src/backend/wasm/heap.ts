import { TridentError } from "../../core/errors.js";

const PAGE = 65536;
const ALIGN = 16;

/**
 * A size-class allocator over one WebAssembly.Memory: sizes round up to a power of two (≥ 16 bytes, so
 * SIMD loads are aligned), freed blocks go to per-class free lists, new blocks come from a bump pointer,
 * and the memory grows when the bump pointer reaches the end.
 */
export class Heap {
  readonly memory: WebAssembly.Memory;
  private top = ALIGN; // address 0 stays unused so a null pointer is never a valid buffer
  private free = new Map<number, number[]>();
  private liveBytes = 0;
  readonly maxPages: number;

  constructor(opts: { initialPages?: number; maxPages?: number; shared?: boolean } = {}) {
    this.maxPages = opts.maxPages ?? 65536;
    const initial = opts.initialPages ?? 256;
    this.memory = new WebAssembly.Memory({ initial, maximum: this.maxPages, shared: opts.shared ?? false } as WebAssembly.MemoryDescriptor);
  }

  static classOf(bytes: number): number {
    let c = ALIGN;
    while (c < bytes) c *= 2;
    return c;
  }

  malloc(bytes: number): { ptr: number; cls: number } {
    const cls = Heap.classOf(Math.max(bytes, 1));
    const list = this.free.get(cls);
    this.liveBytes += cls;
    if (list && list.length) return { ptr: list.pop()!, cls };
    const ptr = this.top;
    const end = ptr + cls;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const need = Math.ceil((end - have) / PAGE);
      // grow geometrically to keep the number of grows (and view refreshes) small
      const cur = have / PAGE;
      const want = Math.min(this.maxPages - cur, Math.max(need, Math.ceil(cur / 2)));
      try {
        if (want < need) throw new RangeError("maximum reached");
        this.memory.grow(want);
      } catch {
        this.liveBytes -= cls;
        throw new TridentError(`wasm: out of memory allocating ${bytes} bytes (heap ${(have / 2 ** 20).toFixed(0)} MiB, limit ${(this.maxPages * PAGE) / 2 ** 20} MiB); free tensors with dispose() or tr.scope`);
      }
    }
    this.top = end;
    return { ptr, cls };
  }

  release(ptr: number, cls: number): void {
    this.liveBytes -= cls;
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(ptr);
  }

  /** Bytes handed out and not yet released (including rounding). */
  get used(): number {
    return this.liveBytes;
  }
}
