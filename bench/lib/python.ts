/** Finding a Python for the NumPy/PyTorch rows without requiring one. */
import { spawnSync } from "node:child_process";

const found = new Map<string, string | null>();

/** The first interpreter on this machine that can import `mod`, or null. */
export function findPython(mod: string): string | null {
  if (found.has(mod)) return found.get(mod)!;
  let hit: string | null = null;
  for (const py of ["python3", "/usr/bin/python3", "python"]) {
    const r = spawnSync(py, ["-c", `import ${mod}`], { stdio: "ignore", timeout: 60_000 });
    if (r.status === 0) {
      hit = py;
      break;
    }
  }
  found.set(mod, hit);
  return hit;
}
