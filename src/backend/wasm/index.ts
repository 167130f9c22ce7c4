import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, storageArray, type DType, type TypedArray } from "../../core/dtype.js";
import { fail, TridentError } from "../../core/errors.js";
import type { Kernel, RoutineCall } from "../../ir/expr.js";
import { KernelCache } from "../kernel-cache.js";
import type { Backend, DeviceBuffer, Executable } from "../backend.js";
import { erf, erfinv } from "../ref/math.js";
import { sortRoutine } from "../ref/routines.js";
import { linalgRoutine, type LinalgParams } from "../ref/linalg-routines.js";
import { compileKernelModule, elemBytes, type CompiledKernel } from "./codegen.js";
import { Heap } from "./heap.js";
import { MAX_POOL_ARGS, Pool, WORKER_IMPORTS, defaultThreads, threadsPossible } from "./pool.js";
import { relaxedSimd } from "./probe.js";

class WasmBuffer implements DeviceBuffer {
  constructor(readonly dtype: DType, readonly size: number, public ptr: number, readonly cls: number) {}
}

type RunFn = (...args: number[]) => void;

/** A compiled kernel: its module (sent to worker threads on first parallel use) and this thread's instance. */
export class WasmExecutable implements Executable {
  /** Argument buffer reused by every dispatch: pointers, start, end, scratch. */
  readonly args: number[];
  readonly workerSafe: boolean;
  /** Large dispatches so far that were cut into chunks (see `dispatch`). */
  calls = 0;
  constructor(readonly kernel: Kernel, readonly id: number, readonly module: WebAssembly.Module, readonly run: RunFn, readonly info: CompiledKernel) {
    this.args = new Array<number>(kernel.inputs.length + kernel.outs.length + 3).fill(0);
    this.workerSafe = info.imports.every((n) => WORKER_IMPORTS.has(n));
  }
}

const mathImports: Record<string, (...a: number[]) => number> = {
  exp: Math.exp, log: Math.log, log1p: Math.log1p, expm1: Math.expm1, sin: Math.sin, cos: Math.cos, tan: Math.tan,
  tanh: Math.tanh, asin: Math.asin, acos: Math.acos, atan: Math.atan, sinh: Math.sinh, cosh: Math.cosh,
  asinh: Math.asinh, acosh: Math.acosh, atanh: Math.atanh, erf, erfinv, logistic: (x: number) => 1 / (1 + Math.exp(-x)),
  pow: Math.pow, atan2: Math.atan2, fmod: (a: number, b: number) => a % b,
  f16dec: f16ToF32, f16enc: f32ToF16,
  f16round: (x: number) => f16ToF32(f32ToF16(x)),
  bf16round: (x: number) => bf16ToF32(f32ToBf16(x)),
};

/** Large single-threaded dispatches of a kernel that are cut into chunks while the engine optimises it. */
const TIERED_CALLS = 4;
/** Work (estimated scalar operations) below which a kernel runs on the calling thread alone. */
const PARALLEL_WORK = 1 << 17;

export interface WasmBackendOptions {
  /** Use a shared memory (needed for threads); default: when SharedArrayBuffer is usable. */
  shared?: boolean;
  /** Threads, the calling one included; default: the number of cores. */
  threads?: number;
  /** Memory limit in 64 KiB pages (default 65536 = 4 GiB). */
  maxPages?: number;
  /** Estimated operations above which a kernel is split across threads (default 2^17; 0 splits every kernel). */
  parallelWork?: number;
}

/**
 * The WebAssembly backend: kernels of the IR are emitted as WebAssembly (SIMD) bytecode at run time and
 * run over one linear memory that holds every tensor; large kernels split their rows (or tiles) across
 * worker threads that share the memory.
 */
export class WasmBackend implements Backend {
  readonly name = "wasm";
  readonly supportsFloat64 = true;
  readonly heap: Heap;
  /** Whether kernels use fused multiply-add (relaxed SIMD). */
  readonly relaxed: boolean;
  /** Kernels compute row-invariant reductions once per row (codegen.ts), so the fuser may merge row chains. */
  readonly fusionOptions = { rowFusion: true };
  private kernels = new KernelCache<WasmExecutable>();
  private nextId = 1;
  private need = 0;
  private parallelWork: number;
  private scratchOf: (t: number) => number;
  private pool: Pool | null = null;
  private requested = -1;
  /** Chunks handed back by pools closed since (see handedBack). */
  private handedBackBefore = 0;
  /** Per-thread scratch (packed panels), index 0 for the calling thread. */
  private scratch: ({ ptr: number; cls: number; bytes: number } | undefined)[] = [];

  constructor(opts: WasmBackendOptions = {}) {
    const shared = opts.shared ?? threadsPossible();
    this.heap = new Heap({ shared, maxPages: opts.maxPages });
    this.relaxed = relaxedSimd();
    this.parallelWork = opts.parallelWork ?? PARALLEL_WORK;
    this.setThreads(opts.threads ?? defaultThreads());
    this.scratchOf = (t) => this.scratchFor(t, this.need);
  }

  private get shared(): boolean {
    return typeof SharedArrayBuffer !== "undefined" && this.heap.memory.buffer instanceof SharedArrayBuffer;
  }

  /**
   * Use n threads (the calling one included) for large kernels; 1 turns threading off, 0 means one per
   * core. Needs a shared memory; without one (browsers that are not cross-origin isolated) the backend
   * stays single-threaded.
   */
  setThreads(n: number): void {
    if (!Number.isInteger(n) || n < 0) fail("setThreads", `threads must be a non-negative integer (0 = one per core), got ${n}`);
    if (n === this.requested && (this.pool !== null) === (n !== 1 && this.shared)) return;
    this.requested = n;
    this.handedBackBefore += this.pool?.handedBack ?? 0;
    this.pool?.close();
    this.pool = null;
    if (!this.shared || n === 1) return;
    this.pool = new Pool(this.heap, n === 0 ? 0 : n - 1);
  }

  /** Threads in use (the calling one included); with the default, final once `ready()` resolves. */
  getThreads(): number {
    return this.pool ? this.pool.size + 1 : 1;
  }

  /** Kernel chunks so far that worker threads could not run and the calling thread ran instead. */
  get handedBack(): number {
    return this.handedBackBefore + (this.pool?.handedBack ?? 0);
  }

  /** Resolves when every worker thread has started (kernels run without them until then). */
  ready(): Promise<void> {
    return this.pool ? this.pool.ready() : Promise.resolve();
  }

  /** Release worker threads (the backend stays usable, single-threaded). */
  close(): void {
    this.handedBackBefore += this.pool?.handedBack ?? 0;
    this.pool?.close();
    this.pool = null;
    this.requested = 1;
  }

  /** Scratch pointer of thread t with at least `bytes` bytes (grown by reallocating; no job is running). */
  private scratchFor(t: number, bytes: number): number {
    const s = this.scratch[t];
    if (s && s.bytes >= bytes) return s.ptr;
    if (s) this.heap.release(s.ptr, s.cls);
    this.scratch[t] = undefined;
    const { ptr, cls } = this.heap.malloc(Math.max(bytes, 1 << 16));
    this.scratch[t] = { ptr, cls, bytes: cls };
    return ptr;
  }

  malloc(dtype: DType, size: number): DeviceBuffer {
    const { ptr, cls } = this.heap.malloc(size * elemBytes[dtype]);
    return new WasmBuffer(dtype, size, ptr, cls);
  }
  free(buf: DeviceBuffer): void {
    const b = buf as WasmBuffer;
    if (b.ptr === 0) return;
    this.heap.release(b.ptr, b.cls);
    b.ptr = 0;
  }
  private view(b: WasmBuffer): TypedArray {
    const a = storageArray(b.dtype, 0);
    const Ctor = a.constructor as new (buf: ArrayBufferLike, off: number, len: number) => TypedArray;
    return new Ctor(this.heap.memory.buffer, b.ptr, b.size);
  }
  write(buf: DeviceBuffer, data: TypedArray): void {
    this.view(buf as WasmBuffer).set(data);
  }
  read(buf: DeviceBuffer): Promise<TypedArray> {
    return Promise.resolve(this.readSync(buf));
  }
  readSync(buf: DeviceBuffer): TypedArray {
    const b = buf as WasmBuffer;
    const out = storageArray(b.dtype, b.size);
    out.set(this.view(b));
    return out;
  }

  compile(kernel: Kernel): Executable {
    return this.kernels.get(kernel, (k) => {
      let info = compileKernelModule(k, { shared: this.shared, relaxed: this.relaxed });
      let mod: WebAssembly.Module;
      try {
        mod = new WebAssembly.Module(info.bytes as BufferSource);
      } catch (err) {
        // a specialised plan the engine rejects is a code generator bug: the scalar plan still runs
        if (info.plan === "scalar") throw err;
        info = compileKernelModule(k, { shared: this.shared, relaxed: this.relaxed, scalarOnly: true });
        mod = new WebAssembly.Module(info.bytes as BufferSource);
      }
      const m: Record<string, (...a: number[]) => number> = {};
      for (const n of info.imports) m[n] = mathImports[n]!;
      const inst = new WebAssembly.Instance(mod, { env: { mem: this.heap.memory }, m });
      return new WasmExecutable(k, this.nextId++, mod, inst.exports["run"] as RunFn, info);
    });
  }

  dispatch(exe: Executable, inputs: readonly DeviceBuffer[], outputs: readonly DeviceBuffer[]): void {
    const e = exe as WasmExecutable;
    const args = e.args;
    const nIn = inputs.length, nOut = outputs.length;
    for (let i = 0; i < nIn; i++) args[i] = (inputs[i] as WasmBuffer).ptr;
    for (let j = 0; j < nOut; j++) args[nIn + j] = (outputs[j] as WasmBuffer).ptr;
    const info = e.info;
    const n = nIn + nOut;
    args[n + 2] = info.scratch > 0 ? this.scratchFor(0, info.scratch) : 0;
    if (this.pool && info.work >= this.parallelWork && info.rows > 1 && e.workerSafe && n <= MAX_POOL_ARGS) {
      this.need = info.scratch;
      this.pool.run(e, n, info.scratch > 0 ? this.scratchOf : noScratch);
      return;
    }
    if (info.work < this.parallelWork || info.rows < 2 || e.calls >= TIERED_CALLS) {
      args[n] = 0;
      args[n + 1] = info.rows;
      callRun(e.run, args);
      return;
    }
    // The engine runs a new module's first calls in baseline code and optimises it in the background,
    // switching at the next call: the first large dispatches are cut into several calls so that most of
    // the work already runs optimised.
    e.calls++;
    const chunk = Math.ceil(Math.ceil(info.rows / 16) / info.grain) * info.grain;
    for (let s0 = 0; s0 < info.rows; s0 += chunk) {
      args[n] = s0;
      args[n + 1] = Math.min(info.rows, s0 + chunk);
      callRun(e.run, args);
    }
  }

  routine(call: RoutineCall, inputs: readonly DeviceBuffer[], outputs: readonly DeviceBuffer[]): void {
    if (call.routine === "sort") {
      const x = this.readSync(inputs[0]!);
      const vals = storageArray(outputs[0]!.dtype, outputs[0]!.size);
      const idx = storageArray(outputs[1]!.dtype, outputs[1]!.size);
      sortRoutine(x, vals, idx, call.params as { shape: number[]; axis: number; descending: boolean }, inputs[0]!.dtype);
      this.write(outputs[0]!, vals);
      this.write(outputs[1]!, idx);
      return;
    }
    if (call.routine === "linalg") {
      const outs = outputs.map((o) => storageArray(o.dtype, o.size));
      linalgRoutine(call.params as LinalgParams, inputs.map((b) => this.readSync(b)), outs);
      outputs.forEach((o, i) => this.write(o, outs[i]!));
      return;
    }
    throw new TridentError(`wasm: unknown routine ${String(call.routine)}`);
  }
}

const noScratch = (): number => 0;

/** Call run without spreading an array for the common arities. */
export function callRun(run: RunFn, a: number[]): void {
  switch (a.length) {
    case 4: return run(a[0]!, a[1]!, a[2]!, a[3]!);
    case 5: return run(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!);
    case 6: return run(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!);
    case 7: return run(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!);
    default: return run(...a);
  }
}
