/**
 * Trident's coverage of the Python Array API standard (2023.12, with its linalg and fft extensions),
 * read from the library's actual exports. `npm run docs:array-api` writes docs/array-api.md; a test
 * regenerates it and fails when the committed table is out of date.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tr from "../src/index.js";

/** The standard's functions and constants by section, in its own snake_case names. */
export const SPEC: Record<string, string[]> = {
  "Constants": ["e", "inf", "nan", "newaxis", "pi"],
  "Creation functions": ["arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like", "linspace", "meshgrid", "ones", "ones_like", "tril", "triu", "zeros", "zeros_like"],
  "Data type functions": ["astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"],
  "Element-wise functions": [
    "abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and", "bitwise_left_shift", "bitwise_invert",
    "bitwise_or", "bitwise_right_shift", "bitwise_xor", "ceil", "clip", "conj", "copysign", "cos", "cosh", "divide", "equal", "exp",
    "expm1", "floor", "floor_divide", "greater", "greater_equal", "hypot", "imag", "isfinite", "isinf", "isnan", "less", "less_equal",
    "log", "log1p", "log2", "log10", "logaddexp", "logical_and", "logical_not", "logical_or", "logical_xor", "maximum", "minimum",
    "multiply", "negative", "not_equal", "positive", "pow", "real", "remainder", "round", "sign", "signbit", "sin", "sinh", "square",
    "sqrt", "subtract", "tan", "tanh", "trunc",
  ],
  "Indexing functions": ["take"],
  "Inspection": ["__array_namespace_info__"],
  "Linear algebra functions": ["matmul", "matrix_transpose", "tensordot", "vecdot"],
  "Manipulation functions": ["broadcast_arrays", "broadcast_to", "concat", "expand_dims", "flip", "moveaxis", "permute_dims", "repeat", "reshape", "roll", "squeeze", "stack", "tile", "unstack"],
  "Searching functions": ["argmax", "argmin", "nonzero", "searchsorted", "where"],
  "Set functions": ["unique_all", "unique_counts", "unique_inverse", "unique_values"],
  "Sorting functions": ["argsort", "sort"],
  "Statistical functions": ["cumulative_sum", "max", "mean", "min", "prod", "std", "sum", "var"],
  "Utility functions": ["all", "any"],
  "linalg extension": [
    "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm", "matrix_power", "matrix_rank",
    "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm",
  ],
  "fft extension": ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"],
};

/** Names the standard defines that have no meaning in JavaScript, with the reason; they count as not applicable. */
export const NOT_APPLICABLE: Record<string, string> = {
  from_dlpack: "DLPack hands device pointers between C libraries in one process; JavaScript has no such exchange (tensors move between libraries as typed arrays: `tr.fromTypedArray`)",
};

/** Trident names that differ from the plain camelCase of the standard's name. */
const RENAMED: Record<string, string> = { __array_namespace_info__: "arrayNamespaceInfo" };

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

function lookup(section: string, name: string): string | null {
  const ns: Record<string, unknown> =
    section === "linalg extension" ? ((tr as Record<string, unknown>)["linalg"] as Record<string, unknown> | undefined) ?? {}
    : section === "fft extension" ? ((tr as Record<string, unknown>)["fft"] as Record<string, unknown> | undefined) ?? {}
    : (tr as Record<string, unknown>);
  const prefix = section === "linalg extension" ? "linalg." : section === "fft extension" ? "fft." : "";
  const js = RENAMED[name] ?? camel(name);
  const v = ns[js];
  const present = section === "Constants" ? js in ns && (typeof v === "number" || v === null) : typeof v === "function";
  return present ? `tr.${prefix}${js}` : null;
}

export interface Coverage {
  markdown: string;
  present: number;
  applicable: number;
  missing: string[];
}

/** The coverage table as Markdown, with its counts. */
export function coverage(): Coverage {
  const rows: string[] = [];
  let present = 0, applicable = 0;
  const missing: string[] = [];
  const sections: string[] = [];
  for (const [section, names] of Object.entries(SPEC)) {
    let p = 0, a = 0;
    const lines: string[] = [];
    for (const name of names) {
      const na = NOT_APPLICABLE[name];
      const found = lookup(section, name);
      if (na) lines.push(`| \`${name}\` | — | not applicable: ${na} |`);
      else {
        a++;
        if (found) p++;
        else missing.push(section.endsWith("extension") ? `${section.split(" ")[0]}.${name}` : name);
        lines.push(`| \`${name}\` | ${found ? `\`${found}\`` : "—"} | ${found ? "yes" : "**missing**"} |`);
      }
    }
    present += p;
    applicable += a;
    sections.push(`| ${section} | ${p} / ${a} |`);
    rows.push(`## ${section} (${p} / ${a})`, "", "| Array API | Trident | present |", "|---|---|---|", ...lines, "");
  }
  const pct = ((100 * present) / applicable).toFixed(1);
  const markdown = [
    "# Python Array API standard coverage",
    "",
    "Generated by `npm run docs:array-api` (scripts/array-api-coverage.ts) from the library's exports; `test/docs/array-api.test.ts`",
    "fails when this file is out of date. The standard is the 2023.12 revision with its `linalg` and `fft` extensions;",
    "Trident spells each name in camelCase (`bitwise_left_shift` → `tr.bitwiseLeftShift`).",
    "",
    `**${present} of ${applicable} applicable names (${pct} %).**`,
    "",
    "Trident has no complex dtype: `conj`, `real`, `imag` and the fft functions work on the `{ real, imag }`",
    "pair (`tr.complex(re, im)`, which `tr.fft` takes and returns; see docs/design-notes/complex.md), not on complex64/complex128 tensors.",
    "",
    "| section | present |",
    "|---|---|",
    ...sections,
    "",
    ...rows,
  ].join("\n");
  return { markdown, present, applicable, missing };
}

export const COVERAGE_PATH = fileURLToPath(new URL("../docs/array-api.md", import.meta.url));

// run as a script (not when a test imports it, in Node or in the browser runner, which has no process)
const script = (globalThis as { process?: { argv: string[] } }).process?.argv[1];
if (script && fileURLToPath(import.meta.url) === script) {
  const c = coverage();
  writeFileSync(COVERAGE_PATH, c.markdown);
  console.log(`docs/array-api.md: ${c.present} / ${c.applicable}${c.missing.length ? `; missing: ${c.missing.join(", ")}` : ""}`);
}
