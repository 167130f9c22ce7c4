import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { main, type CliIO } from "../../src/cli/index.js";
import { decodePng } from "../../src/cli/png.js";
import { BACKENDS, assertClose, values } from "../helpers.js";
import * as tr from "../../src/index.js";
import { mnistModel } from "../../src/nn/models/mnist.js";

function capture(): CliIO & { lines: string[]; errors: string[] } {
  const lines: string[] = [], errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

/** A PNG written independently of the decoder: 8-bit grayscale, filter 0 on every row. */
function grayPng(w: number, h: number, px: (x: number, y: number) => number): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Uint8Array) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 255]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, data.length);
    out.set(Buffer.from(type, "ascii"), 4);
    out.set(data, 8);
    dv.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, w);
  new DataView(ihdr.buffer).setUint32(4, h);
  ihdr[8] = 8; // bit depth
  const raw = new Uint8Array(h * (w + 1));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw[y * (w + 1) + 1 + x] = px(x, y);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", new Uint8Array())];
  return Buffer.concat(parts);
}

describe("png decoding", () => {
  test("grayscale values come back in [0, 1]", async () => {
    const img = await decodePng(grayPng(3, 2, (x, y) => x * 100 + y * 10));
    assert.equal(img.width, 3);
    assert.deepEqual(Array.from(img.gray, (v) => Math.round(v * 255)), [0, 100, 200, 10, 110, 210]);
  });
  test("malformed files are rejected with a clear error", async () => {
    await assert.rejects(decodePng(new Uint8Array([1, 2, 3])), /not a PNG/);
    const good = grayPng(2, 2, () => 0);
    await assert.rejects(decodePng(good.subarray(0, 30)), /runs past the end|missing IHDR|corrupt/);
  });
});

for (const backend of BACKENDS) {
  describe(`trident CLI [${backend}]`, () => {
    const dir = mkdtempSync(join(tmpdir(), "trident-cli-"));
    const ckpt = join(dir, "mlp.safetensors");

    test("train mnist on a small subset, then eval and predict from the checkpoint", async () => {
      const io = capture();
      const logdir = join(dir, "tb");
      const code = await main(["train", "mnist", "--model", "mlp", "--epochs", "2", "--limit", "400", "--out", ckpt, "--backend", backend, "--logdir", logdir, "--quiet"], io);
      assert.equal(code, 0, io.errors.join("\n"));
      const line = io.lines.find((l) => l.startsWith("test accuracy:"));
      assert.ok(line, io.lines.join("\n"));
      const acc = Number(/test accuracy: ([\d.]+)%/.exec(line!)![1]);
      assert.ok(acc > 40, `a quick run learns something (chance is 10%; got ${acc}%)`);
      assert.ok(existsSync(ckpt));
      // Keras layout: one run per split
      assert.ok(readdirSync(join(logdir, "train")).some((f) => f.startsWith("events.out.tfevents.")));

      const io2 = capture();
      assert.equal(await main(["eval", ckpt, "--backend", backend], io2), 0, io2.errors.join("\n"));
      assert.match(io2.lines[0]!, /^mlp: test accuracy [\d.]+%/);

      // a digit drawn as a vertical bar through the middle: a "1"
      const png = join(dir, "one.png");
      writeFileSync(png, grayPng(28, 28, (x, y) => (x >= 13 && x <= 15 && y >= 4 && y <= 23 ? 255 : 0)));
      const io3 = capture();
      assert.equal(await main(["predict", ckpt, png, "--backend", backend], io3), 0, io3.errors.join("\n"));
      assert.match(io3.lines[0]!, /^digit \d \(p = [\d.]+\)$/);
      const probs = io3.lines[1]!.split(/\s+/).filter((s) => !s.endsWith(":")).map(Number);

      // export to ONNX and load it back: the imported graph gives the checkpoint's logits
      const onnxPath = join(dir, "mlp.onnx");
      const io4 = capture();
      assert.equal(await main(["export", ckpt, "--onnx", onnxPath, "--backend", backend], io4), 0, io4.errors.join("\n"));
      const imported = tr.onnx.load(readFileSync(onnxPath));
      const ck = await tr.io.loadCheckpoint(ckpt);
      const model = mnistModel("mlp");
      model.loadStateDict(ck.model);
      model.eval();
      const x = tr.random.uniform(tr.random.key(5), [3, 1, 28, 28]);
      const want = values(model.forward(x));
      const got = values(Object.values(imported.run({ [imported.inputs[0]!.name]: x }))[0]!);
      assertClose(got, want, { rtol: 1e-4, atol: 1e-5 });
      assert.equal(probs.length, 10);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-3, "probabilities sum to one");
    });

    test("same seed, same accuracy, bit for bit", async () => {
      const run = async (out: string) => {
        const io = capture();
        await main(["train", "mnist", "--model", "mlp", "--epochs", "1", "--limit", "200", "--out", out, "--backend", backend, "--quiet", "--seed", "3"], io);
        return /test accuracy: [\d.]+%/.exec(io.lines.find((l) => l.startsWith("test accuracy:"))!)![0];
      };
      assert.equal(await run(join(dir, "a.safetensors")), await run(join(dir, "b.safetensors")));
    });
  });
}

describe("trident CLI errors", () => {
  test("unknown commands and bad flags exit non-zero with a message", async () => {
    const io = capture();
    assert.equal(await main(["frobnicate"], io), 1);
    assert.match(io.errors[0]!, /unknown command/);
    const io2 = capture();
    assert.equal(await main(["train", "mnist", "--epochs", "zero"], io2), 1);
    assert.match(io2.errors[0]!, /--epochs must be an integer/);
    const io3 = capture();
    assert.equal(await main(["train", "cifar"], io3), 1);
    assert.match(io3.errors[0]!, /unknown task/);
    const io4 = capture();
    assert.equal(await main(["info"], io4), 0);
    assert.match(io4.lines.join("\n"), /backends: .*ref/);
  });
});
