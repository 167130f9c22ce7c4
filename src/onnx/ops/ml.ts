/**
 * Host-evaluated classic-ML operators (TfIdfVectorizer, ai.onnx.ml TreeEnsemble): their outputs are
 * piecewise constant in the inputs, so nothing is lost by computing them on concrete values.
 */
import { fail, fmtShape } from "../../core/errors.js";
import { unsupported } from "../errors.js";
import { TVal } from "../values.js";
import { def, tin } from "./registry.js";
import { DataType, guardShape, hostValues } from "./util.js";

interface Gram {
  id: number;
  next: Map<number, Gram>;
}

def("TfIdfVectorizer", {
  check(attrs) {
    if (attrs.has("pool_strings")) unsupported(attrs.op, "string n-gram pools are not supported");
  },
  run(ins, ctx) {
    const xv = tin(ins, 0, ctx, "X");
    const a = ctx.attrs;
    const mode = a.string("mode", "TF");
    if (!["TF", "IDF", "TFIDF"].includes(mode)) fail(ctx.op, `mode "${mode}" is not one of TF, IDF, TFIDF`);
    const minN = a.int("min_gram_length", 1), maxN = a.int("max_gram_length", 1);
    const counts = a.ints("ngram_counts", []), indexes = a.ints("ngram_indexes", []), pool = a.ints("pool_int64s", []);
    const weights = a.floats("weights", []);
    const outSize = Math.max(-1, ...indexes) + 1;
    guardShape(ctx, [xv.rank === 2 ? xv.shape[0]! : 1, outSize]);
    // the n-gram trie: ids number every pool n-gram in order, 1-based, sizes outside [min, max] skipped
    const root: Gram = { id: 0, next: new Map() };
    let id = 1;
    counts.forEach((start, i) => {
      const n = i + 1;
      const end = i + 1 < counts.length ? counts[i + 1]! : pool.length;
      const grams = Math.floor((end - start) / n);
      if (n < minN || n > maxN) {
        id += grams;
        return;
      }
      for (let g = 0; g < grams; g++) {
        let node = root;
        for (let k = 0; k < n; k++) {
          const v = pool[start + g * n + k]!;
          let child = node.next.get(v);
          if (!child) node.next.set(v, (child = { id: 0, next: new Map() }));
          node = child;
        }
        node.id = id++;
      }
    });
    const x = hostValues(ctx, xv, "X");
    if (xv.rank > 2) fail(ctx.op, `X must be 1-D or 2-D, got ${fmtShape(xv.shape)}`);
    const rows = xv.rank === 2 ? xv.shape[0]! : 1, C = xv.rank === 0 ? 1 : xv.shape[xv.rank - 1]!;
    // a skip of C or more fits no n-gram of two items: larger counts change nothing
    const maxSkip = Math.min(a.int("max_skip_count", 0), C);
    const freq = new Array<number>(rows * outSize).fill(0);
    for (let r = 0; r < rows; r++) {
      let startN = minN;
      for (let d = 1; d <= maxSkip + 1; d++) {
        for (let s = 0; s < C; s++) {
          if (s + d * (startN - 1) >= C) break;
          let node = root, size = 1, item = s;
          while (node.next.size && size <= maxN && item < C) {
            const child = node.next.get(x[r * C + item]!);
            if (!child) break;
            if (size >= startN && child.id) freq[r * outSize + indexes[child.id - 1]!]!++;
            node = child;
            size++;
            item += d;
          }
        }
        // unigrams are counted on the first pass only
        if (startN === 1) {
          startN++;
          if (startN > maxN) break;
        }
      }
    }
    const y = freq.map((f, p) => {
      const w = weights.length ? weights[p % outSize]! : 1;
      if (mode === "TF") return f;
      if (mode === "IDF") return f > 0 ? w : 0;
      return weights.length ? w * f : f;
    });
    const shape = xv.rank === 2 ? [rows, outSize] : [outSize];
    return [new TVal(DataType.FLOAT, shape, undefined, Float32Array.from(y))];
  },
});

def("ai.onnx.ml:TreeEnsemble", {
  check(attrs) {
    const pt = attrs.int("post_transform", 0);
    if (pt !== 0) unsupported(attrs.op, `post_transform ${pt} is not supported`);
  },
  run(ins, ctx) {
    const xv = tin(ins, 0, ctx, "X");
    const a = ctx.attrs;
    const splits = a.tensor("nodes_splits")?.values(ctx.op, "nodes_splits") ?? [];
    const feats = a.ints("nodes_featureids", []), modes = a.tensor("nodes_modes")?.values(ctx.op, "nodes_modes") ?? [];
    const tIds = a.ints("nodes_truenodeids", []), fIds = a.ints("nodes_falsenodeids", []);
    const tLeaf = a.ints("nodes_trueleafs", []), fLeaf = a.ints("nodes_falseleafs", []);
    const leafT = a.ints("leaf_targetids", []), leafW = a.tensor("leaf_weights")?.values(ctx.op, "leaf_weights") ?? [];
    const roots = a.ints("tree_roots", []);
    const missing = a.ints("nodes_missing_value_tracks_true") ?? [];
    const members = a.tensor("membership_values")?.values(ctx.op, "membership_values") ?? [];
    const agg = a.int("aggregate_function", 1);
    const nTargets = a.int("n_targets", 1);
    // membership sets are listed in node order, each terminated by NaN
    const memberSets = new Map<number, Set<number>>();
    let mi = 0;
    modes.forEach((m, i) => {
      if (m !== 6) return;
      const set = new Set<number>();
      while (mi < members.length && !Number.isNaN(members[mi]!)) set.add(members[mi++]!);
      mi++;
      memberSets.set(i, set);
    });
    guardShape(ctx, [xv.rank === 2 ? xv.shape[0]! : 1, nTargets]);
    const x = hostValues(ctx, xv, "X");
    const [N, F] = xv.rank === 2 ? (xv.shape as [number, number]) : [1, xv.size];
    const test = (node: number, v: number): boolean => {
      if (Number.isNaN(v) && missing[node]) return true;
      const s = splits[node]!;
      switch (modes[node]) {
        case 0: return v <= s;
        case 1: return v < s;
        case 2: return v >= s;
        case 3: return v > s;
        case 4: return v === s;
        case 5: return v !== s;
        case 6: return memberSets.get(node)!.has(v);
      }
      return fail(ctx.op, `unknown node mode ${modes[node]}`);
    };
    const predict = (root: number, row: number): [number, number] => {
      if (tLeaf[root] && fLeaf[root] && tIds[root] === fIds[root]) return [leafW[tIds[root]!]!, leafT[tIds[root]!]!];
      let node = root;
      // a path longer than the node count revisits a node: the tree is malformed
      for (let depth = 0; depth <= modes.length; depth++) {
        const go = test(node, x[row * F + feats[node]!]!);
        const nxt = go ? tIds[node]! : fIds[node]!;
        if (go ? tLeaf[node] : fLeaf[node]) return [leafW[nxt]!, leafT[nxt]!];
        node = nxt;
      }
      return fail(ctx.op, "a tree does not terminate");
    };
    // the reference starts min/max at the dtype's finite extremes
    const big = xv.elem === DataType.DOUBLE ? 1.7976931348623157e308 : 3.4028234663852886e38;
    const init = agg === 2 ? big : agg === 3 ? -big : 0;
    const res = new Float64Array(N * nTargets).fill(init);
    for (let r = 0; r < N; r++) {
      for (const root of roots) {
        const [w, t] = predict(root, r);
        const k = r * nTargets + t;
        if (agg === 1) res[k]! += w;
        else if (agg === 0) res[k]! += w / roots.length;
        else if (agg === 2) res[k] = Math.min(res[k]!, w);
        else if (agg === 3) res[k] = Math.max(res[k]!, w);
        else fail(ctx.op, `aggregate_function ${agg} is not supported`);
      }
    }
    return [new TVal(xv.elem, [N, nTargets], undefined, res)];
  },
});
