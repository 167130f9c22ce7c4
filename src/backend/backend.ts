import type { DType, TypedArray } from "../core/dtype.js";
import type { Kernel, RoutineCall } from "../ir/expr.js";

/** An allocation on a device. Opaque to everything above the backend. */
export interface DeviceBuffer {
  readonly dtype: DType;
  readonly size: number;
}

/** A compiled kernel, ready to dispatch. */
export interface Executable {
  readonly kernel: Kernel;
}

/**
 * The device contract. It is small on purpose: allocate, copy in, read out (asynchronously, so a GPU
 * can map buffers), compile a kernel of the IR, dispatch it. Dispatch is ordered: reads observe every
 * dispatch issued before them.
 */
export interface Backend {
  readonly name: string;
  /** Whether float64 arithmetic is exact (CPU) or unavailable. */
  readonly supportsFloat64: boolean;
  malloc(dtype: DType, size: number): DeviceBuffer;
  free(buf: DeviceBuffer): void;
  write(buf: DeviceBuffer, data: TypedArray): void;
  read(buf: DeviceBuffer): Promise<TypedArray>;
  /** Synchronous read; CPU backends only. */
  readSync?(buf: DeviceBuffer): TypedArray;
  compile(kernel: Kernel): Executable;
  dispatch(exe: Executable, inputs: readonly DeviceBuffer[], outputs: readonly DeviceBuffer[]): void;
  routine(call: RoutineCall, inputs: readonly DeviceBuffer[], outputs: readonly DeviceBuffer[]): void;
}
