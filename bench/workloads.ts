/**
 * The benchmark's workloads, their sizes and units: one list that every runner (Trident, the JS peers
 * and, through `--spec`, the Python peers) reads, so that a row means the same computation everywhere.
 */

export type Unit = "GFLOP/s" | "ms" | "µs/op";

export interface Workload {
  id: string;
  label: string;
  unit: Unit;
  /** Floating-point operations of one run, for GFLOP/s rows. */
  flops?: number;
}

/** Sizes shared by every runner (also passed to the Python peers as JSON). */
export const SIZES = {
  matmul: [256, 512, 1024],
  conv: { n: 32, cin: 32, cout: 64, h: 28, w: 28, k: 3, pad: 1 },
  gelu: 4 * 1024 * 1024,
  softmax: [4096, 1024] as [number, number],
  mlp: { batch: 128, dims: [784, 512, 512, 10], lr: 1e-3 },
  // LeNet-5 with "same" padding on the first conv, as in the usual MNIST variant
  cnn: { batch: 64, classes: 10, lr: 1e-3 },
  dispatch: { ops: 200, size: 8 },
} as const;

export const WORKLOADS: Workload[] = [
  ...SIZES.matmul.map((n) => ({ id: `matmul${n}`, label: `matmul ${n}×${n}`, unit: "GFLOP/s" as const, flops: 2 * n ** 3 })),
  { id: "conv2d", label: "conv2d N32 C32→64 28×28 k3 p1", unit: "ms" },
  { id: "gelu", label: "gelu(x*1.5+0.5) tanh, 4M (jit)", unit: "ms" },
  { id: "softmax", label: "softmax [4096,1024] axis -1 (jit)", unit: "ms" },
  { id: "mlp_eager", label: "MLP 784-512-512-10 b128 Adam step, eager", unit: "ms" },
  { id: "mlp_jit", label: "MLP 784-512-512-10 b128 Adam step, jit", unit: "ms" },
  { id: "cnn_eager", label: "LeNet b64 Adam step, eager", unit: "ms" },
  { id: "cnn_jit", label: "LeNet b64 Adam step, jit", unit: "ms" },
  { id: "dispatch", label: "small-op dispatch ([8] add, 200 ops)", unit: "µs/op" },
  { id: "import", label: "import + first op (fresh process)", unit: "ms" },
];

export const workload = (id: string): Workload => {
  const w = WORKLOADS.find((x) => x.id === id);
  if (!w) throw new Error(`unknown workload ${id}`);
  return w;
};

/** One measured cell. `value` is in the workload's unit; `ms` is the median wall time of one run. */
export interface Cell {
  value: number;
  ms: number;
  samples: number;
  note?: string;
}

/** What a runner process prints as its last line, after `RESULT `. */
export interface RunnerReport {
  runner: string;
  info: Record<string, string | number | boolean>;
  cells: Record<string, Cell>;
  skipped: Record<string, string>;
}

/** Deterministic float32 data in [-1, 1): every runner builds the same inputs from the same seed. */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** One-hot float32 targets [batch, classes] with class (i * 7) % classes for row i. */
export function oneHot(batch: number, classes: number): Float32Array {
  const out = new Float32Array(batch * classes);
  for (let i = 0; i < batch; i++) out[i * classes + ((i * 7) % classes)] = 1;
  return out;
}

/** He-style scale for a layer with `fanIn` inputs, so training steps stay finite. */
export const initScale = (fanIn: number): number => Math.sqrt(6 / fanIn);
