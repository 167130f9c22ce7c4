import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import * as tr from "../../src/index.js";
import { crc32c, maskedCrc32c } from "../../src/train/crc32c.js";
import { ProtoWriter, decode, readFields } from "../../src/train/protobuf.js";
import { SummaryWriter, defaultBucketLimits, encodeEvent, histogram, readEvents, readRecords } from "../../src/train/tensorboard.js";
import { withTempDir } from "./temp-dir.js";
import { BACKENDS, withBackend } from "../helpers.js";

// ---- independent oracles ----
/** Bit-at-a-time CRC-32C, straight from the definition (no table). */
function crcBitwise(bytes: ArrayLike<number>): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    c ^= bytes[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
function maskBitwise(bytes: ArrayLike<number>): number {
  const c = crcBitwise(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) % 2 ** 32 >>> 0;
}
const u32le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
function f64le(v: number): number[] {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v, true);
  return [...new Uint8Array(dv.buffer)];
}
function f32le(v: number): number[] {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, v, true);
  return [...new Uint8Array(dv.buffer)];
}
/** One TFRecord around `data`, framed by hand. */
function record(data: number[]): number[] {
  const len = [...u32le(data.length), 0, 0, 0, 0];
  return [...len, ...u32le(maskBitwise(len)), ...data, ...u32le(maskBitwise(data))];
}
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

const withDir = <T>(fn: (dir: string) => Promise<T>): Promise<T> => withTempDir("trident-tb-", fn);

describe("CRC-32C and protobuf", () => {
  test("CRC-32C known answers (iSCSI / RFC 3720 vectors)", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    // incremental use continues the same checksum
    const all = Uint8Array.from({ length: 100 }, (_, i) => (i * 37) & 0xff);
    assert.equal(crc32c(all.subarray(40), crc32c(all.subarray(0, 40))), crc32c(all));
    for (let n = 0; n < 50; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 91 + n) & 0xff);
      assert.equal(crc32c(b), crcBitwise(b));
      assert.equal(maskedCrc32c(b), maskBitwise(b));
    }
  });

  test("protobuf writer encodes varints, fixed fields and lengths; reader inverts it", () => {
    const w = new ProtoWriter().varint(1, 150).varint(2, -1).double(3, 1.5).float(4, -2).string(5, "hé").packedDoubles(6, [1, 2]);
    const b = w.finish();
    // 150 = 0x96 0x01; -1 as int64 takes ten bytes; keys are (field << 3) | wire
    assert.deepEqual([...b.subarray(0, 3)], [0x08, 0x96, 0x01]);
    assert.deepEqual([...b.subarray(3, 14)], [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert.deepEqual([...b.subarray(14, 23)], [0x19, ...f64le(1.5)]);
    assert.deepEqual([...b.subarray(23, 28)], [0x25, ...f32le(-2)]);
    assert.deepEqual([...b.subarray(28, 32)], [0x2a, 3, 0x68, 0xc3]);
    const fs = readFields(b);
    assert.deepEqual(fs.map((f) => [f.field, f.wire]), [[1, 0], [2, 0], [3, 1], [4, 5], [5, 2], [6, 2]]);
    assert.equal(decode.int64(fs[0]!), 150n);
    assert.equal(decode.int64(fs[1]!), -1n);
    assert.equal(decode.double(fs[2]!), 1.5);
    assert.equal(decode.float(fs[3]!), -2);
    assert.equal(decode.string(fs[4]!), "hé");
    assert.deepEqual(decode.doubles(fs[5]!), [1, 2]);
    assert.throws(() => readFields(Uint8Array.from([0x0a, 0x05, 1])), tr.TridentError);
    assert.throws(() => readFields(Uint8Array.from([0x08, 0x80])), tr.TridentError);
    assert.throws(() => decode.float(fs[2]!), /wire type 1, expected 5/);
  });
});

for (const backend of BACKENDS) {
  describe(`TensorBoard SummaryWriter [${backend}]`, () => {
    test("the event file is byte-identical to a hand-encoded one", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          const w = new SummaryWriter(dir);
          w.addScalar("loss", 0.5, 3, 1234.5);
          w.addScalar("acc", 0, 0, 1234.75);
          await w.close();
          const files = await readdir(dir);
          assert.equal(files.length, 1);
          assert.match(files[0]!, new RegExp(`^events\\.out\\.tfevents\\.\\d{10}\\.${hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
          const got = await readFile(join(dir, files[0]!));
          // the first event's wall time is the writer's creation time: read it where the format puts it
          const t0 = new DataView(got.buffer, got.byteOffset + 13, 8).getFloat64(0, true);
          assert.ok(Math.abs(t0 - Date.now() / 1000) < 60);
          assert.equal(files[0]!.split(".")[3], String(Math.floor(t0)));
          // Event{wall_time=1 (fixed64 double), file_version=3 (string)}
          const ev0 = [0x09, ...f64le(t0), 0x1a, 13, ...ascii("brain.Event:2")];
          // Event{wall_time, step=2 (varint), summary=5 {value=1 {tag=1, simple_value=2 (fixed32 float)}}}
          const val1 = [0x0a, 4, ...ascii("loss"), 0x15, ...f32le(0.5)];
          const ev1 = [0x09, ...f64le(1234.5), 0x10, 3, 0x2a, val1.length + 2, 0x0a, val1.length, ...val1];
          // step 0 is proto3's default and is omitted; simple_value 0 is kept (it is in a oneof)
          const val2 = [0x0a, 3, ...ascii("acc"), 0x15, ...f32le(0)];
          const ev2 = [0x09, ...f64le(1234.75), 0x2a, val2.length + 2, 0x0a, val2.length, ...val2];
          const expected = [...record(ev0), ...record(ev1), ...record(ev2)];
          assert.deepEqual([...got], expected);

          const events = readEvents(got);
          assert.deepEqual(events, [
            { wallTime: t0, step: 0, fileVersion: "brain.Event:2" },
            { wallTime: 1234.5, step: 3, summary: { value: [{ tag: "loss", simpleValue: 0.5 }] } },
            { wallTime: 1234.75, step: 0, summary: { value: [{ tag: "acc", simpleValue: 0 }] } },
          ]);
        })));

    test("histograms parse back with the right bucket counts", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          let s = 7;
          const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 6 - 3;
          const vals = Array.from({ length: 500 }, rand);
          vals.push(0, 0, -0, 1e-13, 2.5);
          const w = new SummaryWriter(dir);
          const edges = [-2, -1, 0, 0.5, 1, 3];
          w.addHistogram("explicit", vals, 1, edges, 10);
          w.addHistogram("tf", tr.tensor(vals, "float64"), 2, "tensorflow", 11);
          w.addHistogram("ten", tr.tensor(vals), 3, 10, 12);
          await w.close();
          const [, e1, e2, e3] = readEvents(await readFile(await w.fileName()));
          const sum = vals.reduce((a, b) => a + b, 0), sq = vals.reduce((a, b) => a + b * b, 0);

          const h1 = e1!.summary!.value[0]!.histo!;
          assert.equal(e1!.summary!.value[0]!.tag, "explicit");
          assert.equal(e1!.step, 1);
          assert.equal(h1.num, vals.length);
          assert.equal(h1.min, Math.min(...vals));
          assert.equal(h1.max, Math.max(...vals));
          assert.ok(Math.abs(h1.sum - sum) < 1e-9 && Math.abs(h1.sumSquares - sq) < 1e-9);
          assert.deepEqual(h1.bucketLimit, edges.slice(1));
          // numpy.histogram: [e_i, e_{i+1}) with the last bin closed, values outside dropped
          const brute = edges.slice(1).map((hi, i) => vals.filter((v) => v >= edges[i]! && (i === edges.length - 2 ? v <= hi : v < hi)).length);
          assert.deepEqual(h1.bucket, brute);

          // TensorFlow buckets: bucket i covers [limit[i-1], limit[i]), runs of empty buckets merged
          const h2 = e2!.summary!.value[0]!.histo!;
          assert.equal(h2.num, vals.length);
          assert.equal(h2.bucket.reduce((a, b) => a + b, 0), vals.length);
          assert.equal(h2.bucketLimit.at(-1), Number.MAX_VALUE);
          h2.bucketLimit.forEach((hi, i) => {
            const lo = i === 0 ? -Infinity : h2.bucketLimit[i - 1]!;
            assert.equal(h2.bucket[i], vals.filter((v) => v >= lo && v < hi).length, `bucket ${i} [${lo}, ${hi})`);
            if (i > 0 && h2.bucket[i] === 0) assert.ok(h2.bucket[i - 1]! > 0, "empty buckets are merged");
          });
          // every limit is one of TensorFlow's: ±1e-12·1.1^k, 0, ±DBL_MAX
          const tfl = new Set(defaultBucketLimits());
          assert.ok(h2.bucketLimit.every((l) => tfl.has(l)));
          assert.equal(defaultBucketLimits()[defaultBucketLimits().length / 2 - 0.5], 0);
          let v = 1e-12, npos = 0;
          while (v < 1e20) (v *= 1.1), npos++;
          assert.equal(defaultBucketLimits().length, 2 * (npos + 1) + 1);

          // a bin count: equal-width bins over [min, max] of the float32 values
          const f32 = Array.from(new Float32Array(vals));
          const h3 = e3!.summary!.value[0]!.histo!;
          assert.equal(h3.bucket.length, 10);
          assert.equal(h3.bucket.reduce((a, b) => a + b, 0), vals.length);
          const lo = Math.min(...f32), hi = Math.max(...f32);
          assert.ok(Math.abs(h3.bucketLimit[9]! - hi) === 0);
          const lims = [lo, ...h3.bucketLimit];
          for (let i = 0; i < 10; i++) assert.ok(Math.abs(lims[i + 1]! - lims[i]! - (hi - lo) / 10) < 1e-9);
          assert.deepEqual(h3.bucket, h3.bucketLimit.map((b, i) => f32.filter((x) => x >= lims[i]! && (i === 9 ? x <= b : x < b)).length));
        })));

    test("addScalars writes one run per key; tensors, negative steps and many events", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          const w = new SummaryWriter(dir, { maxQueue: 3 });
          w.addScalars("loss", { train: 1, val: tr.tensor(2) }, 5, 100);
          w.addScalar("t", tr.tensor([0.25]), -7, 101);
          for (let i = 0; i < 25; i++) w.addScalar("i", i, i, 200 + i);
          await w.close();
          const names = (await readdir(dir)).sort();
          assert.equal(names.length, 3);
          assert.deepEqual(names.slice(1), ["loss_train", "loss_val"]);
          const main = readEvents(await readFile(join(dir, names[0]!)));
          assert.equal(main.length, 1 + 1 + 25);
          assert.deepEqual(main[1], { wallTime: 101, step: -7, summary: { value: [{ tag: "t", simpleValue: 0.25 }] } });
          assert.deepEqual(main.slice(2).map((e) => e.step), Array.from({ length: 25 }, (_, i) => i));
          for (const [sub, v] of [["loss_train", 1], ["loss_val", 2]] as const) {
            const files = await readdir(join(dir, sub));
            const evs = readEvents(await readFile(join(dir, sub, files[0]!)));
            assert.deepEqual(evs[1], { wallTime: 100, step: 5, summary: { value: [{ tag: "loss", simpleValue: v }] } });
          }
          assert.throws(() => w.addScalar("x", 1), /closed/);
        })));

    test("two writers in the same directory and second get separate files", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          const a = new SummaryWriter(dir), b = new SummaryWriter(dir);
          a.addScalar("x", 1, 1, 1);
          b.addScalar("x", 2, 1, 1);
          await Promise.all([a.close(), b.close()]);
          const files = await readdir(dir);
          assert.equal(new Set([await a.fileName(), await b.fileName()]).size, 2);
          for (const f of files) assert.equal(readEvents(await readFile(join(dir, f))).length, 2);
        })));

    test("bad input and corrupt files raise TridentError", () =>
      withBackend(backend, () =>
        withDir(async (dir) => {
          const w = new SummaryWriter(dir);
          assert.throws(() => w.addScalar("x", 1, 1.5), /step must be an integer, got 1.5/);
          assert.throws(() => w.addScalar("x", tr.tensor([1, 2])), /one-element tensor, got shape \[2\]/);
          assert.throws(() => w.addHistogram("h", []), /values are empty/);
          assert.throws(() => w.addHistogram("h", [1, NaN]), /values must be finite, got NaN at flat index 1/);
          assert.throws(() => w.addHistogram("h", [1], 0, [1, 1]), /strictly increasing/);
          assert.throws(() => w.addHistogram("h", [1], 0, 0), /bins must be a positive integer/);
          // a tensor histogram is built at flush time: its error surfaces there, other events are still written
          w.addHistogram("bad", tr.tensor([1, Infinity]), 1);
          w.addScalar("good", 1, 2, 3);
          await assert.rejects(w.flush(), /values must be finite, got Infinity/);
          await w.close();
          const evs = readEvents(await readFile(await w.fileName()));
          assert.deepEqual(evs.map((e) => e.summary?.value[0]?.tag), [undefined, "good"]);

          const good = Uint8Array.from(record([0x10, 5]));
          assert.deepEqual(readEvents(good), [{ wallTime: 0, step: 5 }]);
          const flipData = good.slice();
          flipData[13] ^= 1;
          assert.throws(() => readRecords(flipData), /data CRC mismatch/);
          const flipLen = good.slice();
          flipLen[0] ^= 1;
          assert.throws(() => readRecords(flipLen), /length CRC mismatch/);
          assert.throws(() => readRecords(good.subarray(0, 10)), /truncated record header/);
          assert.throws(() => readRecords(good.subarray(0, 15)), /claims 2 bytes but only 0 remain/);
          assert.throws(() => encodeEvent({ wallTime: 0, step: 0.5 }), tr.TridentError);
          assert.throws(() => histogram([1], "numpy" as unknown as number), /bins must be/);
        })));
  });
}
