import type { Kernel } from "../../ir/expr.js";
import type { CodegenOptions, CompiledKernel } from "./codegen.js";
export function compileGemm(_k: Kernel, _o: CodegenOptions): CompiledKernel | null {
  return null;
}
