import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tr from "../../src/index.js";
import * as io from "../../src/io/index.js";
import { BACKENDS, withBackend, values } from "../helpers.js";

// ---- independent encoders, written from the format description ----
const enc = new TextEncoder();
function u64le(n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) out.push(Math.floor(n / 2 ** (8 * i)) % 256);
  return out;
}
function f32le(xs: number[]): number[] {
  const dv = new DataView(new ArrayBuffer(4 * xs.length));
  xs.forEach((x, i) => dv.setFloat32(4 * i, x, true));
  return [...new Uint8Array(dv.buffer)];
}
function i8(xs: number[]): number[] {
  return xs.map((x) => x & 0xff);
}
/** A file from a header string (padded with spaces to a multiple of 8 unless told not to) and data bytes. */
function file(header: string, data: ArrayLike<number> = [], pad = true): Uint8Array {
  let h = header;
  if (pad) while (enc.encode(h).length % 8) h += " ";
  const hb = enc.encode(h);
  return Uint8Array.from([...u64le(hb.length), ...hb, ...Array.from(data)]);
}
function info(dtype: string, shape: unknown[], begin: number, end: number): string {
  return `{"dtype":"${dtype}","shape":[${shape.join(",")}],"data_offsets":[${begin},${end}]}`;
}
/** IEEE half decode, independent of the engine's. */
function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}
function bf16ToNumber(h: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, h << 16);
  return dv.getFloat32(0);
}

function rejects(bytes: Uint8Array, re: RegExp): void {
  assert.throws(() => io.deserialize(bytes), (e: unknown) => {
    assert.ok(e instanceof tr.TridentError, `expected TridentError, got ${String(e)}`);
    assert.match(e.message, /^safetensors\.deserialize: /);
    assert.match(e.message, re);
    return true;
  });
}

for (const backend of BACKENDS) {
  describe(`safetensors [${backend}]`, () => {
    test("byte-exact layout of a small file: order, offsets, header JSON, padding, little-endian data", () =>
      withBackend(backend, () => {
        const bytes = io.serialize(
          { b: tr.tensor([1.5, -2]), a: tr.tensor([1, -1, 127], "int8"), c: tr.tensor(0.25) },
          { format: "pt" },
        );
        // F32 outranks I8 in alignment, so b and c (by name) come first, then a
        const header = `{"__metadata__":{"format":"pt"},"b":${info("F32", [2], 0, 8)},"c":${info("F32", [], 8, 12)},"a":${info("I8", [3], 12, 15)}}`;
        const expected = file(header, [...f32le([1.5, -2]), ...f32le([0.25]), ...i8([1, -1, 127])]);
        assert.equal((expected.length - 15 - 8) % 8, 0);
        assert.deepEqual([...bytes], [...expected]);
      }));

    test("matches the reference crate's own serialization example (attn.0, F32 [1,2,3])", () =>
      withBackend(backend, () => {
        const bytes = io.serialize({ "attn.0": tr.tensor([[[0, 1, 2], [3, 4, 5]]]) });
        const header = `{"attn.0":${info("F32", [1, 2, 3], 0, 24)}}`;
        assert.equal(header.length, 64); // already aligned: no padding, header length 64 as in the crate's test
        assert.deepEqual([...bytes], [...file(header, f32le([0, 1, 2, 3, 4, 5]))]);
        assert.deepEqual([...io.serialize({})], [...file("{}")]);
        assert.deepEqual([...io.serialize({}, { framework: "pt" })], [...file(`{"__metadata__":{"framework":"pt"}}`)]);
      }));

    test("data is ordered by descending dtype alignment, then by name, with no holes", () =>
      withBackend(backend, () => {
        const ts: Record<string, tr.Tensor> = {};
        const dts: tr.DType[] = ["bool", "uint8", "int8", "float16", "bfloat16", "int32", "uint32", "float32", "float64"];
        for (const dt of dts) {
          ts[`z_${dt}`] = tr.tensor([1, 0, 1], dt);
          ts[`a_${dt}`] = tr.tensor([1], dt);
        }
        const h = io.readHeader(io.serialize(ts));
        const order = ["F64", "F32", "U32", "I32", "BF16", "F16", "I8", "U8", "BOOL"];
        assert.deepEqual(h.tensors.map((t) => t.code), order.flatMap((c) => [c, c]));
        for (let i = 0; i < h.tensors.length; i += 2) assert.ok(h.tensors[i]!.name < h.tensors[i + 1]!.name);
        let pos = 0;
        for (const t of h.tensors) {
          assert.equal(t.begin, pos);
          // every tensor starts aligned to its item size
          assert.equal((h.dataStart + t.begin) % (t.end - t.begin === 0 ? 1 : (t.end - t.begin) / t.shape.reduce((a, b) => a * b, 1)), 0);
          pos = t.end;
        }
      }));

    test("round trip of every dtype is exact", () =>
      withBackend(backend, () => {
        const cases: [tr.DType, number[]][] = [
          ["bool", [1, 0, 1, 1]],
          ["uint8", [0, 1, 128, 255]],
          ["int8", [-128, -1, 0, 127]],
          ["int32", [-(2 ** 31), -1, 0, 2 ** 31 - 1]],
          ["uint32", [0, 1, 2 ** 31, 2 ** 32 - 1]],
          ["float16", [0, -0, 65504, 6e-8, -1.5, Infinity, NaN, 0.1]],
          ["bfloat16", [0, -0, 3.0e38, -1.5, Infinity, NaN, 0.1, 1e-39]],
          ["float32", [0, -0, 3.4028234663852886e38, 1e-45, -1.5, Infinity, NaN, 0.1]],
          ["float64", [0, -0, Number.MAX_VALUE, 5e-324, -1.5, -Infinity, NaN, 0.1]],
        ];
        const ts: Record<string, tr.Tensor> = {};
        for (const [dt, v] of cases) ts[dt] = tr.tensor(v, dt).reshape([2, v.length / 2]);
        const bytes = io.serialize(ts, { note: "ünïcødé ✓", empty: "" });
        const { tensors, metadata } = io.deserialize(bytes);
        assert.deepEqual(metadata, { note: "ünïcødé ✓", empty: "" });
        assert.deepEqual(Object.keys(tensors).sort(), cases.map(([d]) => d).sort());
        for (const [dt] of cases) {
          const a = ts[dt]!, b = tensors[dt]!;
          assert.equal(b.dtype, dt);
          assert.deepEqual(b.shape, a.shape);
          assert.deepEqual(values(b).map((x) => (Object.is(x, -0) ? "-0" : x)), values(a).map((x) => (Object.is(x, -0) ? "-0" : x)), dt);
        }
        // and writing what was read gives the same bytes
        assert.deepEqual([...io.serialize(tensors, metadata)], [...bytes]);
      }));

    test("16-bit float and float32 bit patterns (NaN payloads, subnormals, -0) survive a round trip", () =>
      withBackend(backend, () => {
        const half = [0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe37, 0x3555];
        const data16 = half.flatMap((h) => [h & 0xff, h >> 8]);
        const f32bits = [0x7fc00001, 0xffbfffff, 0x00000001, 0x80000000];
        const data32 = f32bits.flatMap((b) => [b & 0xff, (b >>> 8) & 0xff, (b >>> 16) & 0xff, b >>> 24]);
        const n = half.length;
        const header = `{"a":${info("F32", [4], 0, 16)},"b":${info("BF16", [n], 16, 16 + 2 * n)},"h":${info("F16", [n], 16 + 2 * n, 16 + 4 * n)}}`;
        const bytes = file(header, [...data32, ...data16, ...data16]);
        const { tensors } = io.deserialize(bytes);
        assert.equal(tensors["h"]!.dtype, "float16");
        assert.equal(tensors["b"]!.dtype, "bfloat16");
        // values decode as IEEE half / bfloat16 would
        values(tensors["h"]!).forEach((v, i) => assert.ok(Object.is(v, halfToNumber(half[i]!)) || (Number.isNaN(v) && Number.isNaN(halfToNumber(half[i]!))), `half ${half[i]}`));
        values(tensors["b"]!).forEach((v, i) => assert.ok(Object.is(v, bf16ToNumber(half[i]!)) || (Number.isNaN(v) && Number.isNaN(bf16ToNumber(half[i]!))), `bf16 ${half[i]}`));
        // and the raw bits, NaN payloads included, are written back unchanged
        assert.deepEqual([...io.serialize(tensors)], [...bytes]);
      }));

    test("zero-size tensors, scalars, and awkward names", () =>
      withBackend(backend, () => {
        const ts: Record<string, tr.Tensor> = {};
        Object.defineProperty(ts, "__proto__", { value: tr.tensor([7]), enumerable: true });
        ts["empty"] = tr.zeros([0, 3]);
        ts["also empty"] = tr.zeros([2, 0], "int32");
        ts["scalar"] = tr.tensor(3, "int32");
        ts['quote"\\\n\u0001/名前'] = tr.tensor([1, 2]);
        const { tensors } = io.deserialize(io.serialize(ts));
        assert.deepEqual(Object.keys(tensors).sort(), Object.keys(ts).sort());
        assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
        assert.deepEqual(values(tensors["__proto__"]!), [7]);
        assert.deepEqual(tensors["empty"]!.shape, [0, 3]);
        assert.deepEqual(tensors["also empty"]!.shape, [2, 0]);
        assert.deepEqual(tensors["scalar"]!.shape, []);
        assert.deepEqual(values(tensors["scalar"]!), [3]);
        assert.deepEqual(values(tensors['quote"\\\n\u0001/名前']!), [1, 2]);
      }));

    test("I16, U16, I64, U64 load widened into Trident dtypes; out-of-range 64-bit values are refused", () =>
      withBackend(backend, () => {
        const dv = new DataView(new ArrayBuffer(8 * 3 + 8 * 2 + 2 * 3 + 2 * 2));
        [-(2n ** 31n), -1n, 2n ** 31n - 1n].forEach((v, i) => dv.setBigInt64(8 * i, v, true));
        [0n, 2n ** 32n - 1n].forEach((v, i) => dv.setBigUint64(24 + 8 * i, v, true));
        [-32768, -1, 32767].forEach((v, i) => dv.setInt16(40 + 2 * i, v, true));
        [0, 65535].forEach((v, i) => dv.setUint16(46 + 2 * i, v, true));
        const header = `{"i64":${info("I64", [3], 0, 24)},"u64":${info("U64", [2], 24, 40)},"i16":${info("I16", [3], 40, 46)},"u16":${info("U16", [2], 46, 50)}}`;
        const { tensors } = io.deserialize(file(header, new Uint8Array(dv.buffer)));
        assert.equal(tensors["i64"]!.dtype, "int32");
        assert.deepEqual(values(tensors["i64"]!), [-(2 ** 31), -1, 2 ** 31 - 1]);
        assert.equal(tensors["u64"]!.dtype, "uint32");
        assert.deepEqual(values(tensors["u64"]!), [0, 2 ** 32 - 1]);
        assert.equal(tensors["i16"]!.dtype, "int32");
        assert.deepEqual(values(tensors["i16"]!), [-32768, -1, 32767]);
        assert.deepEqual(values(tensors["u16"]!), [0, 65535]);
        const big = new DataView(new ArrayBuffer(8));
        big.setBigInt64(0, 2n ** 40n, true);
        rejects(file(`{"x":${info("I64", [1], 0, 8)}}`, new Uint8Array(big.buffer)), /I64 value 1099511627776 at flat index 0 does not fit int32/);
        rejects(file(`{"x":${info("F8_E4M3", [1], 0, 1)}}`, [0]), /dtype F8_E4M3 has no Trident counterpart/);
      }));

    test("bool bytes other than 0/1 load as true", () =>
      withBackend(backend, () => {
        const { tensors } = io.deserialize(file(`{"m":${info("BOOL", [3], 0, 3)}}`, [0, 1, 7]));
        assert.deepEqual(tensors["m"]!.arraySync(), [false, true, true]);
      }));

    test("malformed files are rejected with a TridentError that says what is wrong", () =>
      withBackend(backend, () => {
        const good = `{"a":${info("F32", [2], 0, 8)}}`;
        const data8 = f32le([1, 2]);
        io.deserialize(file(good, data8)); // sanity: the base case is valid
        const hl = Math.ceil(good.length / 8) * 8;
        rejects(new Uint8Array(0), /truncated: 0 bytes/);
        rejects(new Uint8Array(7), /truncated: 7 bytes/);
        rejects(file(good, data8).subarray(0, 20), new RegExp(`truncated: header length says ${hl} bytes but only 12 follow`));
        rejects(file(good, data8).subarray(0, 8 + hl + 5), /truncated: tensors need 8 data bytes but only 5 follow the header/);
        rejects(Uint8Array.from([...u64le(2 ** 40), ...enc.encode("{}      ")]), /header length 1099511627776 is absurdly large/);
        rejects(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7b, 0x7d]), /absurdly large/);
        rejects(Uint8Array.from([...u64le(100_000_001), ...enc.encode("{}")]), /header length 100000001 is absurdly large/);
        rejects(file("{", [], false), /invalid JSON header/);
        rejects(file(`{"a":1,}`), /invalid JSON header/);
        rejects(file(`{"a":${info("F32", [2], 0, 8)}} x`, data8), /trailing characters/);
        rejects(file("[1, 2]"), /header must be a JSON object, got an array/);
        rejects(file("42"), /header must be a JSON object, got a number/);
        rejects(Uint8Array.from([...u64le(8), 0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/);
        rejects(file(`{"a":"F32"}`), /tensor "a": expected an object \{dtype, shape, data_offsets\}, got a string/);
        rejects(file(`{"a":${info("F7", [2], 0, 8)}}`, data8), /tensor "a": unknown dtype "F7"/);
        rejects(file(`{"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}}`, data8), /"dtype" must be a string, got a number/);
        rejects(file(`{"a":${info("F32", [-2], 0, 8)}}`, data8), /shape \[-2\] must hold non-negative integers/);
        rejects(file(`{"a":${info("F32", [1.5], 0, 8)}}`, data8), /shape \[1.5\] must hold non-negative integers/);
        rejects(file(`{"a":${info("F32", ['"2"'], 0, 8)}}`, data8), /must hold non-negative integers/);
        rejects(file(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, data8), /"shape" must be an array/);
        rejects(file(`{"a":{"dtype":"F32","shape":[2]}}`, data8), /"data_offsets" must be \[begin, end\]/);
        rejects(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, data8), /"data_offsets" must be \[begin, end\]/);
        rejects(file(`{"a":${info("F32", [2], 8, 0)}}`, data8), /data_offsets \[8,0\] must be integers with 0 <= begin <= end/);
        rejects(file(`{"a":${info("F32", [2], -8, 0)}}`, data8), /must be integers with 0 <= begin <= end/);
        rejects(file(`{"a":${info("F32", [2], 8, 16)}}`, data8), /starts at data offset 8 but the previous tensor ends at 0: the data has a hole/);
        rejects(file(`{"a":${info("F32", [2], 0, 8)},"b":${info("F32", [1], 4, 8)}}`, data8), /tensor "b" data_offsets \[4,8\] overlap the previous tensor/);
        rejects(file(`{"a":${info("F32", [1], 0, 4)},"b":${info("F32", [1], 8, 12)}}`, [...data8, 0, 0, 0, 0]), /data has a hole/);
        rejects(file(`{"a":${info("F32", [2], 0, 8)}}`, [...data8, 0]), /1 trailing bytes after the last tensor/);
        rejects(file(`{"a":${info("F32", [3], 0, 8)}}`, data8), /data_offsets \[0,8\] hold 8 bytes but dtype F32 with shape \[3\] needs 12 bytes/);
        rejects(file(`{"a":${info("F32", [2 ** 40, 2 ** 40], 0, 8)}}`, data8), /needs an absurd number of bytes/);
        rejects(file(`{"a":${info("F32", [2], 0, 8)},"a":${info("F32", [2], 0, 8)}}`, data8), /duplicate key "a"/);
        rejects(file(`{"__metadata__":{"k":1},"a":${info("F32", [2], 0, 8)}}`, data8), /"__metadata__"\["k"\] must be a string, got a number/);
        rejects(file(`{"__metadata__":["x"]}`), /"__metadata__" must be an object of string -> string, got an array/);
        rejects(file(`{"__metadata__":{"k":"v","k":"w"}}`), /duplicate key "k"/);
        rejects(file("[".repeat(10_000)), /nesting deeper than/);
      }));

    test("fuzz: mutated and truncated files fail only with TridentError, and quickly", { timeout: 60_000 }, () =>
      withBackend(backend, () => {
        const base = io.serialize(
          { w: tr.tensor([[1, 2], [3, 4]]), b: tr.tensor([1, 2, 3], "int8"), h: tr.tensor([0.5, 1], "float16"), n: tr.tensor(true), e: tr.zeros([0]) },
          { format: "pt", step: "12" },
        );
        let seed = 12345;
        const rand = () => {
          // mulberry32
          seed = (seed + 0x6d2b79f5) | 0;
          let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
          t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
          return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
        };
        const ri = (n: number) => Math.floor(rand() * n);
        const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
        let ok = 0, refused = 0;
        const t0 = Date.now();
        for (let iter = 0; iter < 3000; iter++) {
          let b: Uint8Array = base.slice();
          const kind = iter % 6;
          if (kind === 0) b = b.subarray(0, ri(b.length));
          else if (kind === 1) for (let k = 0, m = 1 + ri(4); k < m; k++) b[ri(b.length)] = ri(256);
          else if (kind === 2) b[ri(8)] = ri(256); // the length field
          else if (kind === 3) {
            // digits in the header: changes shapes and offsets while keeping the JSON valid
            const digits = [...b.subarray(8, headerEnd).keys()].filter((i) => b[8 + i]! >= 0x30 && b[8 + i]! <= 0x39);
            for (let k = 0, m = 1 + ri(3); k < m; k++) b[8 + digits[ri(digits.length)]!] = 0x30 + ri(10);
          } else if (kind === 4) {
            const at = ri(b.length);
            b = Uint8Array.from([...b.subarray(0, at), ...Array.from({ length: 1 + ri(9) }, () => ri(256)), ...b.subarray(at)]);
          } else {
            const at = ri(b.length);
            b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + ri(9))]);
          }
          try {
            const { tensors } = io.deserialize(b);
            for (const t of Object.values(tensors)) t.dispose();
            ok++;
          } catch (e) {
            if (!(e instanceof tr.TridentError)) assert.fail(`iteration ${iter} (kind ${kind}) threw a non-TridentError: ${String(e)}`);
            refused++;
          }
        }
        assert.ok(refused > 1000, `only ${refused} mutations were refused`);
        assert.ok(ok > 0, "some mutations (data bytes, equal digits) should still parse");
        assert.ok(Date.now() - t0 < 30_000);
      }));

    test("writing refuses bad input", () =>
      withBackend(backend, () => {
        const x = tr.tensor([1]);
        const bad = (fn: () => unknown, re: RegExp) =>
          assert.throws(fn, (e: unknown) => e instanceof tr.TridentError && re.test(e.message));
        bad(() => io.serialize({ __metadata__: x }), /"__metadata__" is reserved/);
        bad(() => io.serialize({ a: [1, 2] as unknown as tr.Tensor }), /tensors\["a"\] must be a Tensor, got object/);
        bad(() => io.serialize({ a: x }, { k: 3 as unknown as string }), /metadata\["k"\] must be a string, got number/);
        bad(() => io.serialize(null as unknown as Record<string, tr.Tensor>), /tensors must be an object/);
        const traced = tr.makeJaxpr((t: tr.Tensor) => {
          bad(() => io.serialize({ t }), /tensors\["t"\] is a traced value/);
          return t;
        });
        traced(x);
        const d = tr.tensor([1]);
        d.dispose();
        bad(() => io.serialize({ d }), /used after dispose/);
      }));

    test("save / load / loadHeader on disk; serializeAsync matches serialize", () =>
      withBackend(backend, async () => {
        const dir = await mkdtemp(join(tmpdir(), "trident-st-"));
        try {
          const ts = { weight: tr.tensor([[1, 2], [3, 4]]), bias: tr.tensor([0.5, -0.5], "float16") };
          assert.deepEqual([...(await io.serializeAsync(ts, { a: "b" }))], [...io.serialize(ts, { a: "b" })]);
          const p = join(dir, "m.safetensors");
          await io.save(p, ts, { a: "b" });
          assert.deepEqual([...(await readFile(p))], [...io.serialize(ts, { a: "b" })]);
          const { tensors, metadata } = await io.load(p);
          assert.deepEqual(metadata, { a: "b" });
          assert.deepEqual(tensors["weight"]!.arraySync(), [[1, 2], [3, 4]]);
          assert.deepEqual(values(tensors["bias"]!), [0.5, -0.5]);
          const h = await io.loadHeader(p);
          assert.deepEqual(h.tensors.map((t) => [t.name, t.dtype, t.shape]), [["weight", "float32", [2, 2]], ["bias", "float16", [2]]]);
          await writeFile(p, (await readFile(p)).subarray(0, 50));
          await assert.rejects(io.load(p), tr.TridentError);
          await assert.rejects(io.loadHeader(p), /loadHeader: file is truncated/);
          await writeFile(p, new Uint8Array(3));
          await assert.rejects(io.loadHeader(p), /loadHeader: file is truncated: 3 bytes/);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }));

    test("prefix helpers for state dicts", () => {
      const a = tr.tensor([1]), b = tr.tensor([2]);
      const sd = io.addPrefix({ a, b }, "model.");
      assert.deepEqual(Object.keys(sd), ["model.a", "model.b"]);
      const back = io.stripPrefix({ ...sd, "other.c": a }, "model.");
      assert.deepEqual(Object.keys(back), ["a", "b"]);
      assert.equal(back["a"], a);
    });
  });
}
