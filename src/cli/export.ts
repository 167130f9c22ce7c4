/**
 * `trident export <checkpoint> --onnx out.onnx`: the CLI knows which MNIST models it trains, so the
 * choice of model lives here and the ONNX exporter stays generic (it takes a Module).
 */
import { fail } from "../core/errors.js";
import type { Tensor } from "../tensor.js";
import { loadCheckpoint } from "../io/checkpoint.js";
import { mnistModel, type MnistModel } from "../nn/models/mnist.js";
import { zeros } from "../ops/creation.js";
import { exportModule } from "../onnx/export.js";

/**
 * The CLI's `trident export <checkpoint> --onnx out.onnx`: rebuild the MNIST model a checkpoint was
 * trained with (its `extra.model` names "mlp" or "cnn"; otherwise the weights' shapes tell), load the
 * weights and export it with input "input" [batch, 1, 28, 28] and output "logits".
 */
export async function exportCheckpointToOnnx(checkpointPath: string, outPath: string, opts: { opset?: number } = {}): Promise<void> {
  const ckpt = await loadCheckpoint(checkpointPath);
  try {
    const kind = mnistKind(ckpt.extra, ckpt.model, checkpointPath);
    const model = mnistModel(kind);
    model.loadStateDict(ckpt.model);
    exportModule(model, [zeros([1, 1, 28, 28])], outPath, {
      inputNames: ["input"],
      outputNames: ["logits"],
      dynamicAxes: { input: { 0: "batch" } },
      opset: opts.opset,
      metadata: { "trident.model": kind },
    });
  } finally {
    for (const t of Object.values(ckpt.model)) t.dispose();
  }
}

function mnistKind(extra: unknown, sd: Record<string, Tensor>, path: string): MnistModel {
  if (extra !== null && typeof extra === "object") {
    const e = extra as Record<string, unknown>;
    for (const key of ["model", "modelKind", "kind"]) {
      const v = e[key];
      if (v === "mlp" || v === "cnn") return v;
      if (v !== undefined) fail("trident export", `${path}: extra.${key} is ${JSON.stringify(v)}, expected "mlp" or "cnn"`);
    }
  }
  // the two models have different first layers: a [16,1,5,5] conv kernel or a [256,784] matrix
  if (sd["0.weight"]?.ndim === 4) return "cnn";
  if (sd["1.weight"]?.ndim === 2) return "mlp";
  return fail("trident export", `${path} names no MNIST model kind (extra.model) and its weights match neither "mlp" nor "cnn"`);
}
