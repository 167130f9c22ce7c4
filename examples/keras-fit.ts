// Keras-style training: `fit` with validation data and callbacks (EarlyStopping, ModelCheckpoint,
// TensorBoard), then `evaluate` and `predict`; the best checkpoint is reloaded into a fresh model.
// Run: node --import tsx examples/keras-fit.ts [--quick] [--epochs N] [--train N]
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tr from "../src/index.js";
import { io, nn, train as T } from "../src/index.js";
import { quick, size } from "./args.js";

type Split = Record<"x" | "y", tr.Tensor>;
const epochs = size("epochs", 20, 4);
const nTrain = size("train", 6000, 1500);
tr.setBackend(process.env.TRIDENT_BACKEND ?? "wasm");
tr.manualSeed(0);

const { train, test } = await tr.datasets.mnist({ flatten: true });
const rows = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const order = Array.from(tr.randperm(train.length).dataSync());
const trainData = train.gather(order.slice(0, nTrain)) as Split;
const valData = train.gather(order.slice(train.length - 1000)) as Split;
const testData = test.gather(rows(0, test.length)) as Split;

const makeModel = () => new nn.Sequential(new nn.Linear(784, 128), new nn.ReLU(), new nn.Dropout(0.1), new nn.Linear(128, 10));
const model = makeModel();
const dir = mkdtempSync(join(tmpdir(), "trident-keras-"));
const early = new T.EarlyStopping({ monitor: "val_loss", patience: 3, restoreBestWeights: true });
const ckptPath = join(dir, "best.safetensors");
console.log(`MLP on ${nTrain} digits (validation 1000, test ${testData.y.shape[0]}), up to ${epochs} epochs${quick ? " (quick)" : ""}; logs in ${dir}`);

const t0 = performance.now();
const history = await tr.fit(model, trainData, {
  optimizer: "adam", lr: 1e-3, loss: "crossEntropy", metrics: ["accuracy"], epochs, batchSize: 64, seed: 0,
  validationData: valData, verbose: 2,
  callbacks: [early, new T.ModelCheckpoint(ckptPath, { monitor: "val_loss", saveBestOnly: true }), new T.TensorBoard(join(dir, "tb"))],
});
const secs = (performance.now() - t0) / 1000;
const ran = history.epoch.length;
console.log(`trained ${ran} epochs in ${secs.toFixed(1)} s (${((ran * nTrain) / secs).toFixed(0)} samples/s)${early.stoppedEpoch ? `, stopped early at epoch ${early.stoppedEpoch + 1}` : ""}`);
for (const [k, v] of Object.entries(history.history)) console.log(`  ${k}: ${v.map((x) => x.toFixed(4)).join(" ")}`);

const scores = await tr.evaluate(model, testData, { loss: "crossEntropy", metrics: ["accuracy"] });
console.log(`evaluate: test loss ${scores.loss!.toFixed(4)}  test accuracy ${(100 * scores.accuracy!).toFixed(1)}%`);

const fresh = makeModel();
await io.loadModel(ckptPath, fresh);
const reloaded = await tr.evaluate(fresh, testData, { loss: "crossEntropy", metrics: ["accuracy"] });
console.log(`best checkpoint reloaded: test accuracy ${(100 * reloaded.accuracy!).toFixed(1)}%`);

// the test split is ordered by class: one digit of each
const pick = tr.tensor(Array.from({ length: 10 }, (_, i) => i * 200), { dtype: "int32" });
const probs = tr.softmax(await tr.predict(model, tr.take(testData.x, pick, { axis: 0 })), { axis: 1 });
const guesses = Array.from(tr.argmax(probs, { axis: 1 }).dataSync());
console.log(`predict (one test digit per class): ${guesses.join(" ")}  labels: ${Array.from(tr.take(testData.y, pick, { axis: 0 }).dataSync()).join(" ")}`);

const tbFiles = readdirSync(join(dir, "tb"), { recursive: true }).map(String).filter((f) => f.includes("tfevents"));
const events = tbFiles.flatMap((f) => T.readEvents(new Uint8Array(readFileSync(join(dir, "tb", f)))));
const scalars = events.flatMap((e) => e.summary?.value ?? []).length;
console.log(`TensorBoard: ${tbFiles.length} event file(s), ${scalars} summary values`);
