// Module.summary: Keras's model.summary() table, with output shapes found by tracing forward once.
import { fail } from "../core/errors.js";
import type { DType } from "../core/dtype.js";
import { EagerTensor, Tensor } from "../tensor.js";
import { treeFlatten } from "../core/pytree.js";
import { makeJaxpr } from "../transforms/api.js";
import { zeros } from "../ops/creation.js";
import type { Module } from "./module.js";

/** One input of a summary: its shape (batch included), optionally with a dtype (float32 by default). */
export type SummaryInputSpec = readonly number[] | { shape: readonly number[]; dtype?: DType };
/** The input(s) `summary` traces forward with: one spec, or an array of specs for several arguments. */
export type SummaryInput = SummaryInputSpec | readonly SummaryInputSpec[];

type Forward = (...a: unknown[]) => unknown;

function specs(input: SummaryInput): { shape: readonly number[]; dtype: DType }[] {
  const one = (s: unknown): s is SummaryInputSpec => (Array.isArray(s) && s.every((d) => typeof d === "number")) || (typeof s === "object" && s !== null && "shape" in s);
  const list = one(input) ? [input] : (input as readonly unknown[]);
  return list.map((s, i) => {
    if (!one(s)) fail("summary", `input ${i} must be a shape (number[]) or { shape, dtype }, got ${JSON.stringify(s)}`);
    const shape = Array.isArray(s) ? s : (s as { shape: readonly number[] }).shape;
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) fail("summary", `input ${i} has shape [${shape}], which is not a list of non-negative integers`);
    return { shape, dtype: Array.isArray(s) ? "float32" : ((s as { dtype?: DType }).dtype ?? "float32") };
  });
}

/** The output shapes of every submodule's (first) call, by tracing `root.forward` on zeros of the input shapes. */
function outputShapes(root: Module, input: SummaryInput): Map<Module, string> {
  const shapes = new Map<Module, string>();
  const mods = root.modules();
  const modes = mods.map((m) => m.training);
  const own = mods.map((m) => Object.prototype.hasOwnProperty.call(m, "forward"));
  // an instance property shadows the class's forward, so parents calling child.forward(...) are seen
  mods.forEach((m) => {
    const f = (m as unknown as { forward: Forward }).forward;
    (m as unknown as { forward: Forward }).forward = function (this: Module, ...a: unknown[]) {
      const out = f.apply(this, a);
      if (!shapes.has(m)) {
        const [leaves] = treeFlatten(out);
        const ts = leaves.filter((l): l is Tensor => l instanceof Tensor);
        shapes.set(m, ts.map((t) => `[${t.shape.join(", ")}]`).join(" "));
      }
      return out;
    };
  });
  const args = specs(input).map(({ shape, dtype }) => zeros(shape, dtype));
  try {
    // eval mode: a trace must not update BatchNorm's running statistics
    root.eval();
    makeJaxpr((...xs: unknown[]) => (root.forward as Forward)(...xs))(...args);
  } finally {
    mods.forEach((m, i) => {
      if (!own[i]) delete (m as unknown as { forward?: Forward }).forward;
      m.training = modes[i]!;
    });
    for (const a of args) a.dispose();
  }
  return shapes;
}

export function moduleSummary(root: Module, input?: SummaryInput): string {
  const shapes = input === undefined ? null : outputShapes(root, input);
  const header = ["Layer", "Type", ...(shapes ? ["Output shape"] : []), "Parameters", "#"];
  const rows: string[][] = [header];
  for (const [name, m] of root.namedModules()) {
    const kids = m.namedChildren().map(([k]) => `${k}.`);
    const ps = m.namedParameters().filter(([k]) => !kids.some((p) => k.startsWith(p)));
    // containers without parameters of their own add no information, unless they are the only row
    if (name && ps.length === 0 && kids.length > 0) continue;
    const row = [name || "(root)", m.constructor.name];
    if (shapes) row.push(shapes.get(m) ?? "(not called)");
    row.push(ps.map(([k, t]) => `${k}[${t.shape.join("x")}]`).join(" "), String(ps.reduce((a, [, t]) => a + t.size, 0)));
    rows.push(row);
  }
  const total = root.numParameters();
  const trainable = root.parameters().filter((p) => p.requiresGrad || !(p instanceof EagerTensor)).reduce((a, p) => a + p.size, 0);
  const last = header.length - 1;
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = "─".repeat(widths.reduce((a, w) => a + w + 3, -3));
  const fmt = (r: string[]) => r.map((s, c) => (c === last ? s.padStart(widths[c]!) : s.padEnd(widths[c]!))).join("   ").trimEnd();
  return [fmt(header), line, ...rows.slice(1).map(fmt), line, `Total params: ${total.toLocaleString("en-US")}`, `Trainable params: ${trainable.toLocaleString("en-US")}`].join("\n");
}
