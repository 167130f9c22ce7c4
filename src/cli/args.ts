import { TridentError } from "../core/errors.js";

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | boolean>;
}

/** `--name value`, `--name=value`, `--flag`, and positionals; kebab-case names are kept as given. */
export function parseArgs(argv: readonly string[], booleans: readonly string[] = []): ParsedArgs {
  const positional: string[] = [];
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) flags[name] = a.slice(eq + 1);
      else if (booleans.includes(name)) flags[name] = true;
      else {
        const v = argv[i + 1];
        if (v === undefined || v.startsWith("--")) throw new TridentError(`option --${name} needs a value`);
        flags[name] = v;
        i++;
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

export function intFlag(flags: ParsedArgs["flags"], name: string, dflt: number, min = 1): number {
  const v = flags[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new TridentError(`--${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return n;
}

export function numFlag(flags: ParsedArgs["flags"], name: string, dflt: number): number {
  const v = flags[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new TridentError(`--${name} must be a positive number, got ${String(v)}`);
  return n;
}

export function strFlag<T extends string>(flags: ParsedArgs["flags"], name: string, dflt: T, choices?: readonly T[]): T {
  const v = flags[name];
  if (v === undefined) return dflt;
  if (typeof v !== "string") throw new TridentError(`--${name} needs a value`);
  if (choices && !choices.includes(v as T)) throw new TridentError(`--${name} must be one of ${choices.join(", ")}, got ${v}`);
  return v as T;
}
