import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, storageArray, type DType, type TypedArray } from "../../core/dtype.js";
import { kernelKey, type Kernel, type RoutineCall } from "../../ir/expr.js";
import type { Backend, DeviceBuffer, Executable } from "../backend.js";
import { erf, erfinv } from "../ref/math.js";
import { sortRoutine } from "../ref/routines.js";
import { compileKernelModule, elemBytes } from "./codegen.js";
import { Heap } from "./heap.js";

class WasmBuffer implements DeviceBuffer {
  constructor(readonly dtype: DType, readonly size: number, public ptr: number, readonly cls: number) {}
}

type RunFn = (...args: number[]) => void;
class WasmExecutable implements Executable {
  constructor(readonly kernel: Kernel, readonly run: RunFn) {}
}

const f32 = new Float32Array(1);
const mathImports = {
  exp: Math.exp, log: Math.log, log1p: Math.log1p, expm1: Math.expm1, sin: Math.sin, cos: Math.cos, tan: Math.tan,
  tanh: Math.tanh, asin: Math.asin, acos: Math.acos, atan: Math.atan, sinh: Math.sinh, cosh: Math.cosh,
  asinh: Math.asinh, acosh: Math.acosh, atanh: Math.atanh, erf, erfinv, logistic: (x: number) => 1 / (1 + Math.exp(-x)),
  pow: Math.pow, atan2: Math.atan2, fmod: (a: number, b: number) => a % b,
  f16dec: f16ToF32, f16enc: f32ToF16,
  f16round: (x: number) => f16ToF32(f32ToF16(x)),
  bf16round: (x: number) => bf16ToF32(f32ToBf16(x)),
};
void f32;

/**
 * The WebAssembly backend: kernels of the IR are emitted as WebAssembly bytecode at run time and run
 * over one linear memory that holds every tensor.
 */
export class WasmBackend implements Backend {
  readonly name = "wasm";
  readonly supportsFloat64 = true;
  readonly heap: Heap;
  private cache = new Map<string, WasmExecutable>();
  private byKernel = new WeakMap<Kernel, WasmExecutable>();

  constructor(opts: { shared?: boolean } = {}) {
    this.heap = new Heap({ shared: opts.shared ?? false });
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
    const hit = this.byKernel.get(kernel);
    if (hit) return hit;
    const key = kernelKey(kernel);
    let exe = this.cache.get(key);
    if (!exe) {
      const bytes = compileKernelModule(kernel, { minPages: 1, shared: this.heap.memory.buffer instanceof SharedArrayBufferCtor() });
      const mod = new WebAssembly.Module(bytes as BufferSource);
      const inst = new WebAssembly.Instance(mod, { env: { mem: this.heap.memory }, m: mathImports });
      exe = new WasmExecutable(kernel, inst.exports["run"] as RunFn);
      this.cache.set(key, exe);
    }
    this.byKernel.set(kernel, exe);
    return exe;
  }
  dispatch(exe: Executable, inputs: readonly DeviceBuffer[], outputs: readonly DeviceBuffer[]): void {
    const e = exe as WasmExecutable;
    const rows = e.kernel.shape.length === 0 ? 1 : e.kernel.shape[0]!;
    const ptrs = [...inputs, ...outputs].map((b) => (b as WasmBuffer).ptr);
    e.run(...ptrs, 0, rows);
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
    throw new Error(`wasm: unknown routine ${String(call.routine)}`);
  }
}

function SharedArrayBufferCtor(): typeof SharedArrayBuffer | typeof ArrayBuffer {
  return typeof SharedArrayBuffer === "undefined" ? ArrayBuffer : SharedArrayBuffer;
}
