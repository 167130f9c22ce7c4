// Tiny argv/env reader shared by the examples: `--quick` (or EXAMPLES_QUICK=1) picks the small sizes the
// tests use; `--name N` overrides one size.
const argv = process.argv.slice(2);

/** True when run with --quick or EXAMPLES_QUICK=1. */
export const quick = argv.includes("--quick") || process.env.EXAMPLES_QUICK === "1";

/** The number given as `--name N`, else the quick or full default. */
export function size(name: string, full: number, small: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && argv[i + 1] !== undefined) {
    const v = Number(argv[i + 1]);
    if (!Number.isFinite(v)) throw new Error(`--${name} needs a number, got ${argv[i + 1]}`);
    return v;
  }
  return quick ? small : full;
}
