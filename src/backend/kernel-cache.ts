import { kernelKey, type Kernel } from "../ir/expr.js";

/**
 * A backend's compiled kernels. Looked up by kernel object first, because a jitted program dispatches
 * the same kernel objects on every call and computing `kernelKey` is not free; then by `kernelKey`, so
 * equal kernels built separately (eager ops, other programs) share one compilation.
 */
export class KernelCache<E extends object> {
  private byKey = new Map<string, E>();
  private byKernel = new WeakMap<Kernel, E>();

  /** The executable for `kernel`, made by `build` the first time its key is seen. */
  get(kernel: Kernel, build: (kernel: Kernel) => E): E {
    const hit = this.byKernel.get(kernel);
    if (hit) return hit;
    const key = kernelKey(kernel);
    let exe = this.byKey.get(key);
    if (!exe) {
      exe = build(kernel);
      this.byKey.set(key, exe);
    }
    this.byKernel.set(kernel, exe);
    return exe;
  }
}
