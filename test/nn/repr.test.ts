// Expected strings came from torch 1.13: /usr/bin/python3 -c "import torch.nn as nn; print(nn.Conv2d(3, 8, 3, stride=2))" etc.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as nn from "../../src/nn/index.js";
import { BACKENDS, withBackend } from "../helpers.js";

const cases: [() => nn.Module, string][] = [
  [() => new nn.Sequential(new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10)), "Sequential(\n  (0): Linear(in_features=784, out_features=128, bias=True)\n  (1): ReLU()\n  (2): Linear(in_features=128, out_features=10, bias=True)\n)"],
  [() => new nn.Linear(3, 4, { bias: false }), "Linear(in_features=3, out_features=4, bias=False)"],
  [() => new nn.Conv2d(3, 8, 3, { stride: 2 }), "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2))"],
  [() => new nn.Conv1d(2, 4, 5, { padding: 2, dilation: 2, groups: 2, bias: false }), "Conv1d(2, 4, kernel_size=(5,), stride=(1,), padding=(2,), dilation=(2,), groups=2, bias=False)"],
  [() => new nn.Conv2d(3, 8, [3, 5], { padding: "same", paddingMode: "reflect" }), "Conv2d(3, 8, kernel_size=(3, 5), stride=(1, 1), padding=same, padding_mode=reflect)"],
  [() => new nn.ConvTranspose2d(4, 2, 3, { stride: 2, padding: 1, outputPadding: 1 }), "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))"],
  [() => new nn.BatchNorm1d(16), "BatchNorm1d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"],
  [() => new nn.BatchNorm2d(8, { eps: 1e-3, momentum: null, affine: false, trackRunningStats: false }), "BatchNorm2d(8, eps=0.001, momentum=None, affine=False, track_running_stats=False)"],
  [() => new nn.LayerNorm(10), "LayerNorm((10,), eps=1e-05, elementwise_affine=True)"],
  [() => new nn.GroupNorm(2, 8), "GroupNorm(2, 8, eps=1e-05, affine=True)"],
  [() => new nn.Dropout(0.1), "Dropout(p=0.1, inplace=False)"],
  [() => new nn.Embedding(10, 3, { paddingIdx: 0 }), "Embedding(10, 3, padding_idx=0)"],
  [() => new nn.MaxPool2d(3, { stride: 2, padding: 1 }), "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"],
  [() => new nn.AvgPool1d(3, { stride: 1 }), "AvgPool1d(kernel_size=(3,), stride=(1,), padding=(0,))"],
  [() => new nn.AdaptiveAvgPool2d([1, 1]), "AdaptiveAvgPool2d(output_size=(1, 1))"],
  [() => new nn.GELU({ approximate: "tanh" }), "GELU(approximate='tanh')"],
  [() => new nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"],
  [() => new nn.ELU(), "ELU(alpha=1.0)"],
  [() => new nn.Hardtanh(), "Hardtanh(min_val=-1.0, max_val=1.0)"],
  [() => new nn.Softplus({ beta: 2, threshold: 10 }), "Softplus(beta=2, threshold=10)"],
  [() => new nn.Unflatten(1, [2, 3]), "Unflatten(dim=1, unflattened_size=(2, 3))"],
  [() => new nn.LSTM(10, 20, { numLayers: 2, batchFirst: true, dropout: 0.1, bidirectional: true }), "LSTM(10, 20, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True)"],
  [() => new nn.GRU(8, 16, { bias: false }), "GRU(8, 16, bias=False)"],
  [() => new nn.GRUCell(3, 4, { bias: false }), "GRUCell(3, 4, bias=False)"],
];

for (const b of BACKENDS) {
  describe(`module toString (${b})`, () => {
    for (const [make, want] of cases) {
      test(want.split("(")[0]!, () => withBackend(b, () => assert.equal(String(make()), want)));
    }
    test("user subclass prints its class name and fields", () =>
      withBackend(b, () => {
        class Net extends nn.Module {
          fc = new nn.Linear(2, 3);
          act = new nn.ReLU();
          forward() {
            return null;
          }
        }
        assert.equal(new Net().toString(), "Net(\n  (fc): Linear(in_features=2, out_features=3, bias=True)\n  (act): ReLU()\n)");
      }));
  });
}
