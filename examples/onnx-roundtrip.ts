// ONNX out and back in: train a small CNN with `fit`, export it with `onnx.exportModule`, load the bytes
// with Trident's importer, and compare both with ONNX Runtime (onnxruntime-node, when it loads).
// Run: node --import tsx examples/onnx-roundtrip.ts [--quick] [--epochs N] [--train N] [--out model.onnx]
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import * as tr from "../src/index.js";
import { nn, onnx } from "../src/index.js";
import { quick, size } from "./args.js";

type Split = Record<"x" | "y", tr.Tensor>;
const epochs = size("epochs", 3, 1);
const nTrain = size("train", 8000, 600);
tr.setBackend(process.env.TRIDENT_BACKEND ?? "wasm");
tr.manualSeed(0);

const { train, test } = await tr.datasets.mnist();
const order = Array.from(tr.randperm(train.length).dataSync());
const trainData = train.gather(order.slice(0, nTrain)) as Split;
// ten test digits spread over the split (it is ordered by class)
const probe = test.gather(Array.from({ length: 10 }, (_, i) => i * 200)) as Split;

const model = new nn.Sequential(
  new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Flatten(), new nn.Linear(16 * 7 * 7, 10),
);
console.log(`training a CNN on ${nTrain} digits for ${epochs} epoch(s)${quick ? " (quick)" : ""}`);
await tr.fit(model, trainData, { optimizer: "adam", lr: 2e-3, loss: "crossEntropy", metrics: ["accuracy"], epochs, batchSize: 32, seed: 0, verbose: 2 });
model.eval();

const bytes = onnx.exportModule(model, probe.x, { inputNames: ["image"], outputNames: ["logits"] });
const outArg = process.argv.indexOf("--out");
if (outArg >= 0) writeFileSync(process.argv[outArg + 1]!, bytes);
console.log(`exported ${bytes.length} bytes of ONNX`);

const eager = tr.noGrad(() => model.forward(probe.x) as tr.Tensor);
const imported = onnx.load(bytes);
console.log(`imported: inputs ${imported.inputs.map((i) => `${i.name}[${i.shape}]`).join(", ")}`);
const back = imported.run({ image: probe.x }).logits!;
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const eagerData = eager.dataSync() as Float32Array;
console.log(`trident eager vs trident importer: max |diff| ${maxDiff(eagerData, back.dataSync() as Float32Array).toExponential(2)}`);
console.log(`predicted classes: ${Array.from(tr.argmax(back, { axis: 1 }).dataSync()).join(" ")}  labels: ${Array.from(probe.y.dataSync()).join(" ")}`);

interface OrtTensor { data: ArrayLike<number>; dims: readonly number[] }
interface Ort {
  Tensor: new (type: string, data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(bytes: Uint8Array): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}
let ort: Ort | null = null;
try {
  ort = createRequire(import.meta.url)("onnxruntime-node") as Ort;
} catch (e) {
  console.log(`onnxruntime-node is not available (${(e as Error).message.split("\n")[0]}); skipping the comparison`);
}
if (ort) {
  const session = await ort.InferenceSession.create(bytes);
  const res = await session.run({ image: new ort.Tensor("float32", probe.x.dataSync() as Float32Array, probe.x.shape) });
  const o = res.logits!;
  console.log(`onnxruntime output dims [${o.dims}]`);
  console.log(`trident eager vs onnxruntime: max |diff| ${maxDiff(eagerData, o.data).toExponential(2)}`);
}
