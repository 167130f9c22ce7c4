import * as nn from "../index.js";

export type MnistModel = "mlp" | "cnn";

/** The MNIST models `trident train mnist` knows, by name (the name is stored in checkpoints). */
export function mnistModel(kind: MnistModel): nn.Sequential {
  if (kind === "mlp") {
    return new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 512), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(512, 256), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(256, 10));
  }
  return new nn.Sequential(
    new nn.Conv2d(1, 16, 5, { padding: 2 }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(16, 32, 5, { padding: 2 }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(32 * 7 * 7, 128),
    new nn.ReLU(),
    new nn.Linear(128, 10),
  );
}
