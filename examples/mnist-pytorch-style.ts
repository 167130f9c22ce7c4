// The MNIST CNN written the PyTorch way: an nn.Module subclass, a DataLoader, and the explicit
// zeroGrad / backward / step loop, then accuracy on the held-out digits.
// Run: node --import tsx examples/mnist-pytorch-style.ts [--quick] [--epochs N] [--train N] [--batch N]
import * as tr from "../src/index.js";
import { nn, optim } from "../src/index.js";
import { quick, size } from "./args.js";

class Net extends nn.Module {
  conv1 = new nn.Conv2d(1, 8, 5, { padding: 2 });
  conv2 = new nn.Conv2d(8, 16, 5, { padding: 2 });
  pool = new nn.MaxPool2d(2);
  fc1 = new nn.Linear(16 * 7 * 7, 64);
  fc2 = new nn.Linear(64, 10);

  forward(x: tr.Tensor): tr.Tensor {
    x = this.pool.forward(tr.relu(this.conv1.forward(x)));
    x = this.pool.forward(tr.relu(this.conv2.forward(x)));
    x = tr.relu(this.fc1.forward(x.reshape([x.shape[0]!, -1])));
    return this.fc2.forward(x);
  }
}

type Batch = Record<"x" | "y", tr.Tensor>;

const epochs = size("epochs", 3, 1);
const nTrain = size("train", 8000, 512);
const nTest = size("test", 2000, 500);
const batchSize = size("batch", 64, 32);

// the wasm backend (SIMD kernels) is much faster than the reference one; TRIDENT_BACKEND=ref to compare
tr.setBackend(process.env.TRIDENT_BACKEND ?? "wasm");
tr.manualSeed(0);
const { train, test } = await tr.datasets.mnist();
// a random, fixed subset (the quick run trains on fewer digits)
const subset = (ds: tr.TensorDataset, n: number) => new tr.TensorDataset(ds.gather(Array.from(tr.randperm(ds.length).dataSync()).slice(0, n)) as Record<string, tr.Tensor>);
const trainSet = subset(train, Math.min(nTrain, train.length));
const testSet = subset(test, Math.min(nTest, test.length));
const loader = new tr.DataLoader(trainSet, { batchSize, shuffle: true, seed: 0 });

const model = new Net();
const optimizer = new optim.Adam(model.parameters(), { lr: 2e-3 });
console.log(`MNIST CNN, ${trainSet.length} training / ${testSet.length} test digits, batch ${batchSize}${quick ? " (quick)" : ""}`);

function accuracy(): number {
  model.eval();
  let correct = 0;
  tr.noGrad(() => {
    for (let i = 0; i < testSet.length; i += 250) {
      const rows = Array.from({ length: Math.min(250, testSet.length - i) }, (_, j) => i + j);
      const { x, y } = testSet.gather(rows) as Batch;
      const pred = tr.argmax(model.forward(x), { axis: 1 });
      correct += tr.sum(tr.astype(tr.equal(pred, y), "int32")).item();
    }
  });
  return correct / testSet.length;
}

console.log(`epoch 0: test accuracy ${(100 * accuracy()).toFixed(1)}%`);
for (let epoch = 1; epoch <= epochs; epoch++) {
  model.train();
  const t0 = performance.now();
  let total = 0;
  let batches = 0;
  for await (const batch of loader) {
    const { x, y } = batch as Batch;
    tr.scope(() => {
      optimizer.zeroGrad();
      const loss = nn.functional.crossEntropy(model.forward(x), y);
      loss.backward();
      optimizer.step();
      total += loss.item();
    });
    batches++;
  }
  const secs = (performance.now() - t0) / 1000;
  const acc = accuracy();
  console.log(`epoch ${epoch}: loss ${(total / batches).toFixed(4)}  test accuracy ${(100 * acc).toFixed(1)}%  ${(trainSet.length / secs).toFixed(0)} samples/s`);
}
