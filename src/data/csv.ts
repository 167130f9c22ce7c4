import { TridentError } from "../core/errors.js";
import { TensorDataset } from "./dataset.js";

export interface TabularOptions {
  /** Column(s) used as the target `y`; the others become the features `x`. */
  label?: string | number;
  /** Whether the first line names the columns (default true). */
  header?: boolean;
  delimiter?: string;
  /** Only these feature columns (names or indices), in this order. */
  columns?: (string | number)[];
  /** dtype of y: int32 for class labels (default when all labels are integers), float32 otherwise. */
  labelDtype?: "int32" | "float32";
}

/** Parse CSV text into `{ x: float32 [N, F], y }` (numbers only; quoted fields allowed). */
export function fromCsv(text: string, opts: TabularOptions = {}): TensorDataset {
  const delim = opts.delimiter ?? ",";
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const parse = (line: string) => splitCsv(line, delim);
  const header = opts.header ?? true;
  const names = header ? parse(lines[0] ?? "") : parse(lines[0] ?? "").map((_, i) => String(i));
  const rows = (header ? lines.slice(1) : lines).map((l, r) => {
    const cells = parse(l);
    if (cells.length !== names.length) throw new TridentError(`fromCsv: row ${r + 1} has ${cells.length} fields but the header has ${names.length}`);
    return cells.map((c, k) => {
      const v = Number(c);
      if (c.trim() === "" || Number.isNaN(v)) throw new TridentError(`fromCsv: row ${r + 1}, column ${names[k]}: "${c}" is not a number`);
      return v;
    });
  });
  return tabular(rows, names, opts);
}

/** Rows of objects (e.g. parsed JSON) into `{ x, y }` like fromCsv. */
export function fromJson(records: readonly Record<string, number>[], opts: TabularOptions = {}): TensorDataset {
  if (records.length === 0) throw new TridentError("fromJson: no records");
  const names = Object.keys(records[0]!);
  const rows = records.map((r, i) =>
    names.map((n) => {
      const v = r[n];
      if (typeof v !== "number") throw new TridentError(`fromJson: record ${i} field ${n} is ${typeof v}, expected a number`);
      return v;
    }),
  );
  return tabular(rows, names, opts);
}

function tabular(rows: number[][], names: string[], opts: TabularOptions): TensorDataset {
  const colIndex = (c: string | number) => {
    const i = typeof c === "number" ? c : names.indexOf(c);
    if (i < 0 || i >= names.length) throw new TridentError(`tabular: no column ${JSON.stringify(c)} (columns: ${names.join(", ")})`);
    return i;
  };
  const li = opts.label === undefined ? -1 : colIndex(opts.label);
  const feats = opts.columns ? opts.columns.map(colIndex) : names.map((_, i) => i).filter((i) => i !== li);
  const n = rows.length;
  const x = new Float32Array(n * feats.length);
  rows.forEach((r, i) => feats.forEach((f, j) => (x[i * feats.length + j] = r[f]!)));
  const fields: Parameters<typeof TensorDataset.fromHost>[0] = { x: { data: x, shape: [n, feats.length] } };
  if (li >= 0) {
    const ys = rows.map((r) => r[li]!);
    const intLabels = opts.labelDtype ? opts.labelDtype === "int32" : ys.every(Number.isInteger);
    fields["y"] = intLabels ? { data: Int32Array.from(ys), shape: [n] } : { data: Float32Array.from(ys), shape: [n] };
  }
  return TensorDataset.fromHost(fields);
}

function splitCsv(line: string, delim: string): string[] {
  const out: string[] = [];
  let cur = "", q = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (q) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') q = false;
      else cur += ch;
    } else if (ch === '"') q = true;
    else if (ch === delim) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}
