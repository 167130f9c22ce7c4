import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tr from "../../src/index.js";
import { fromCsv, fromJson } from "../../src/data/index.js";
import { BACKENDS, withBackend, values } from "../helpers.js";

const firstColumn = (batches: Record<string, tr.Tensor>[]) => batches.flatMap((b) => values(b["x"]!).filter((_, i) => i % 2 === 0));

for (const backend of BACKENDS) {
  describe(`data [${backend}]`, () => {
    test("DataLoader: batches, dropLast, and a seeded shuffle that is the same every run and new every epoch", () =>
      withBackend(backend, async () => {
        const n = 10;
        const x = tr.fromTypedArray(Float32Array.from({ length: 2 * n }, (_, i) => Math.floor(i / 2) + (i % 2) / 10), [n, 2]);
        const y = tr.arange(n);
        const ds = tr.Dataset.fromTensors({ x, y });
        const plain = new tr.DataLoader(ds, { batchSize: 4 });
        const bs: Record<string, tr.Tensor>[] = [];
        for await (const b of plain) bs.push(b as Record<string, tr.Tensor>);
        assert.deepEqual(bs.map((b) => b["x"]!.shape), [[4, 2], [4, 2], [2, 2]]);
        assert.deepEqual(firstColumn(bs), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert.equal(plain.length, 3);
        assert.equal(new tr.DataLoader(ds, { batchSize: 4, dropLast: true }).length, 2);

        const epochs = async (seed: number) => {
          const dl = new tr.DataLoader(ds, { batchSize: 3, shuffle: true, seed });
          const out: number[][] = [];
          for (let e = 0; e < 2; e++) {
            const bb: Record<string, tr.Tensor>[] = [];
            for await (const b of dl) bb.push(b as Record<string, tr.Tensor>);
            out.push(firstColumn(bb));
            // labels stay attached to their rows
            for (const b of bb) assert.deepEqual(values(b["y"]!), values(b["x"]!).filter((_, i) => i % 2 === 0));
          }
          return out;
        };
        const a = await epochs(7), b = await epochs(7), c = await epochs(8);
        assert.deepEqual(a, b);
        assert.notDeepEqual(a[0], a[1]);
        assert.notDeepEqual(a[0], c[0]);
        assert.deepEqual([...a[0]!].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      }));

    test("Dataset map/filter/take/skip/batch/cache and collate of pytrees", () =>
      withBackend(backend, async () => {
        const ds = tr.Dataset.fromArray([1, 2, 3, 4, 5, 6, 7]);
        assert.deepEqual(await ds.map((v) => v * 10).filter((v) => v % 20 === 0).toArray(), [20, 40, 60]);
        assert.deepEqual(await ds.skip(2).take(3).toArray(), [3, 4, 5]);
        const batched = (await ds.map((v) => ({ a: v, b: [v, tr.tensor([v, -v])] })).batch(3).toArray()) as { a: tr.Tensor; b: [tr.Tensor, tr.Tensor] }[];
        assert.equal(batched.length, 3);
        assert.deepEqual(values(batched[0]!.a), [1, 2, 3]);
        assert.equal(batched[0]!.a.dtype, "int32");
        assert.deepEqual(batched[0]!.b[1].shape, [3, 2]);
        assert.deepEqual(values(batched[2]!.b[1]), [7, -7]);
        let pulls = 0;
        const cached = tr.Dataset.fromGenerator(function* () {
          pulls++;
          yield* [1, 2];
        }).cache();
        assert.deepEqual(await cached.toArray(), [1, 2]);
        assert.deepEqual(await cached.toArray(), [1, 2]);
        assert.equal(pulls, 1);
        const sh1 = await ds.shuffle({ seed: 1 }).toArray();
        assert.deepEqual([...sh1].sort(), [1, 2, 3, 4, 5, 6, 7]);
        const streamed = await tr.Dataset.fromGenerator(() => [1, 2, 3, 4, 5, 6, 7]).shuffle({ seed: 1, bufferSize: 3 }).toArray();
        assert.deepEqual([...streamed].sort(), [1, 2, 3, 4, 5, 6, 7]);
      }));

    test("CSV and JSON tabular data", () =>
      withBackend(backend, () => {
        const ds = fromCsv('a,b,"label"\n1,2,0\n3,4.5,1\n', { label: "label" });
        assert.equal(ds.length, 2);
        const all = ds.gather([0, 1]) as Record<string, tr.Tensor>;
        assert.deepEqual(values(all["x"]!), [1, 2, 3, 4.5]);
        assert.equal(all["y"]!.dtype, "int32");
        assert.throws(() => fromCsv("a,b\n1,x\n"), /row 1, column b: "x" is not a number/);
        assert.throws(() => fromCsv("a,b\n1\n"), /row 1 has 1 fields but the header has 2/);
        const js = fromJson([{ f: 1, t: 0.5 }, { f: 2, t: 1.5 }], { label: "t" });
        assert.equal((js.gather([1]) as Record<string, tr.Tensor>)["y"]!.dtype, "float32");
      }));
  });
}

describe("bundled MNIST", () => {
  test("a fixed 8,000 / 2,000 split of the 10,000 digits, stratified", async () => {
    const { train, test } = await tr.datasets.mnist();
    assert.equal(train.length, 8000);
    assert.equal(test.length, 2000);
    const y = values((test.gather(Array.from({ length: 2000 }, (_, i) => i)) as Record<string, tr.Tensor>)["y"]!);
    const counts = Array.from({ length: 10 }, (_, d) => y.filter((v) => v === d).length);
    // every fifth sample of each class (classes have 863..1127 samples)
    assert.ok(counts.every((c) => c >= 170 && c <= 226), JSON.stringify(counts));
    const first = train.gather([0]) as Record<string, tr.Tensor>;
    assert.deepEqual(first["x"]!.shape, [1, 1, 28, 28]);
    const px = values(first["x"]!);
    assert.ok(px.every((v) => v >= 0 && v <= 1) && px.some((v) => v > 0.9));
  });
});
