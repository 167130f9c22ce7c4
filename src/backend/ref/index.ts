import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, storageArray, type DType, type TypedArray } from "../../core/dtype.js";
import type { Kernel, RoutineCall } from "../../ir/expr.js";
import type { Backend, DeviceBuffer, Executable } from "../backend.js";
import { KernelCache } from "../kernel-cache.js";
import { compileKernel, type Helpers, type KernelFn } from "./codegen.js";
import { erf, erfinv, rint } from "./math.js";
import { sortRoutine } from "./routines.js";
import { linalgRoutine, type LinalgParams } from "./linalg-routines.js";

class RefBuffer implements DeviceBuffer {
  constructor(readonly dtype: DType, readonly size: number, public data: TypedArray) {}
}
class RefExecutable implements Executable {
  constructor(readonly kernel: Kernel, readonly fn: KernelFn) {}
}

const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);
const helpers: Helpers = {
  erf, erfinv, rint,
  f16: (x) => f16ToF32(f32ToF16(x)),
  bf16: (x) => bf16ToF32(f32ToBf16(x)),
  f16dec: f16ToF32, f16enc: f32ToF16, bf16dec: bf16ToF32, bf16enc: f32ToBf16,
  f2u: (x) => { f[0] = x; return u[0]!; },
  u2f: (x) => { u[0] = x; return f[0]!; },
};

/**
 * The reference backend: kernels of the IR compiled to plain JavaScript. Exact float64, simple enough to
 * trust, and the oracle every other backend is tested against.
 */
export class RefBackend implements Backend {
  readonly name = "ref";
  readonly supportsFloat64 = true;
  private kernels = new KernelCache<RefExecutable>();

  malloc(dtype: DType, size: number): DeviceBuffer {
    return new RefBuffer(dtype, size, storageArray(dtype, size));
  }
  free(buf: DeviceBuffer): void {
    (buf as RefBuffer).data = storageArray(buf.dtype, 0);
  }
  write(buf: DeviceBuffer, data: TypedArray): void {
    (buf as RefBuffer).data.set(data);
  }
  read(buf: DeviceBuffer): Promise<TypedArray> {
    return Promise.resolve(this.readSync(buf));
  }
  readSync(buf: DeviceBuffer): TypedArray {
    return (buf as RefBuffer).data.slice();
  }
  compile(kernel: Kernel): Executable {
    return this.kernels.get(kernel, (k) => new RefExecutable(k, compileKernel(k)));
  }
  dispatch(exe: Executable, inputs: readonly DeviceBuffer[], outputs: readonly DeviceBuffer[]): void {
    const e = exe as RefExecutable;
    e.fn(inputs.map((b) => (b as RefBuffer).data), outputs.map((b) => (b as RefBuffer).data), helpers);
  }
  routine(call: RoutineCall, inputs: readonly DeviceBuffer[], outputs: readonly DeviceBuffer[]): void {
    const ins = inputs as RefBuffer[], outs = outputs as RefBuffer[];
    if (call.routine === "sort") {
      sortRoutine(ins[0]!.data, outs[0]!.data, outs[1]!.data, call.params as { shape: number[]; axis: number; descending: boolean }, ins[0]!.dtype);
      return;
    }
    if (call.routine === "linalg") {
      linalgRoutine(call.params as LinalgParams, ins.map((b) => b.data), outs.map((b) => b.data));
      return;
    }
    throw new Error(`ref: unknown routine ${String(call.routine)}`);
  }
}
