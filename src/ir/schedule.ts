import { itemsize, type DType } from "../core/dtype.js";
import type { Graph, Step } from "./fuse.js";

/**
 * Scheduling and buffer planning for a fused program, done once when it is compiled.
 *
 * Steps run in a topological order that follows the program's own order where it can (a step runs as
 * early as its inputs allow, ties broken by its position in the program), which keeps lifetimes short.
 * Values that only kernels read and write (intermediates) live in pooled slots: a slot is one device
 * buffer of one dtype, reused by later intermediates of the same size class (sizes within a factor of
 * two) once every reader of the previous one has run. Program outputs are fresh buffers; values read by
 * operations executed as they are (routines, control flow) are tensors of their own; inputs are never
 * written.
 */
export type Storage =
  | { kind: "input" }
  | { kind: "slot"; slot: number }
  | { kind: "tensor" };

export interface Slot {
  dtype: DType;
  /** Elements: the largest value assigned to the slot. */
  size: number;
  /** First and last step that use the slot: it is allocated before the first and freed after the last. */
  first: number;
  last: number;
}

export interface BufferPlan {
  /** Steps in execution order. */
  steps: Step[];
  storage: Map<number, Storage>;
  slots: Slot[];
  /** Per step: slots to allocate before it, slots to free and tensor values to release after it. */
  allocBefore: number[][];
  freeAfter: number[][];
  releaseAfter: number[][];
  stats: PlanStats;
}

export interface PlanStats {
  /** Largest bytes of intermediate slots live at once. */
  peakBytes: number;
  /** Largest bytes of intermediates live at once: the least any allocator could hold at the busiest step. */
  peakLiveBytes: number;
  /** Bytes of all intermediates together (what a plan freeing nothing would hold). */
  totalIntermediateBytes: number;
  intermediates: number;
}

/** The values a step reads and writes. */
export function stepIO(g: Graph, s: Step): { reads: readonly number[]; writes: readonly number[] } {
  if (s.kind === "kernel") return { reads: s.fused.inputs, writes: s.fused.outputs };
  const n = g.nodes[s.node]!;
  return { reads: n.inputs, writes: n.outputs };
}

/** Order steps topologically, each as early as possible, ties by program position. */
export function orderSteps(g: Graph, steps: readonly Step[]): Step[] {
  const producer = new Map<number, number>();
  steps.forEach((s, i) => stepIO(g, s).writes.forEach((v) => producer.set(v, i)));
  const nodeOf = new Map<number, number>();
  g.nodes.forEach((n, i) => n.outputs.forEach((v) => nodeOf.set(v, i)));
  const position = steps.map((s) => (s.kind === "node" ? s.node : Math.max(...s.fused.outputs.map((v) => nodeOf.get(v)!))));
  const deps = steps.map((s) => new Set(stepIO(g, s).reads.map((v) => producer.get(v)).filter((p): p is number => p !== undefined)));
  const users: number[][] = steps.map(() => []);
  deps.forEach((ds, i) => ds.forEach((d) => users[d]!.push(i)));
  const waiting = deps.map((d) => d.size);
  const heap = new MinHeap((a: number, b: number) => position[a]! - position[b]!);
  waiting.forEach((w, i) => w === 0 && heap.push(i));
  const out: Step[] = [];
  while (heap.size) {
    const i = heap.pop();
    out.push(steps[i]!);
    for (const u of users[i]!) if (--waiting[u]! === 0) heap.push(u);
  }
  if (out.length !== steps.length) throw new Error("schedule: the fused steps have a dependency cycle");
  return out;
}

const sizeClass = (n: number) => (n <= 1 ? 0 : Math.ceil(Math.log2(n)));

/**
 * Best fit among the free slots of one dtype in the value's size class (sizes up to the next power of
 * two, which is also how device allocators round): an exact size first, then the smallest larger slot,
 * then the largest smaller one (which grows to fit). Removes the slot from the free list.
 */
function takeSlot(free: number[] | undefined, slots: readonly Slot[], n: number): number | undefined {
  if (!free) return undefined;
  const cls = sizeClass(n);
  let best = -1, bestScore = Infinity;
  free.forEach((s, i) => {
    const cap = slots[s]!.size;
    if (sizeClass(cap) !== cls) return;
    const score = cap === n ? 0 : cap > n ? cap - n : 2 ** 31 + (n - cap);
    if (score < bestScore) {
      bestScore = score;
      best = i;
    }
  });
  return best < 0 ? undefined : free.splice(best, 1)[0];
}
const elems = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Plan storage for every value of an ordered program. */
export function planBuffers(g: Graph, steps: Step[]): BufferPlan {
  const storage = new Map<number, Storage>();
  for (const v of g.inputs) storage.set(v, { kind: "input" });
  const isOutput = new Set(g.outputs);
  const def = new Map<number, number>();
  const lastUse = new Map<number, number>();
  const readByNode = new Set<number>();
  steps.forEach((s, i) => {
    const { reads, writes } = stepIO(g, s);
    for (const v of reads) {
      lastUse.set(v, i);
      if (s.kind === "node") readByNode.add(v);
    }
    for (const v of writes) def.set(v, i);
  });
  for (const [v, i] of def) {
    const pooled = steps[i]!.kind === "kernel" && !isOutput.has(v) && !readByNode.has(v);
    if (!pooled) storage.set(v, { kind: "tensor" });
  }

  const slots: Slot[] = [];
  const free = new Map<DType, number[]>();
  const allocBefore: number[][] = steps.map(() => []);
  const freeAfter: number[][] = steps.map(() => []);
  const releaseAfter: number[][] = steps.map(() => []);
  const endings: number[][] = steps.map(() => []);
  for (const [v, i] of def) endings[lastUse.get(v) ?? i]!.push(v);
  let total = 0, count = 0;
  // bytes that start (+) and stop (−) being live at each step, summed into a profile afterwards
  const liveDelta = new Array<number>(steps.length + 1).fill(0);
  const slotDelta = new Array<number>(steps.length + 1).fill(0);
  steps.forEach((s, i) => {
    for (const v of stepIO(g, s).writes) {
      if (storage.has(v)) continue;
      const val = g.values[v]!;
      const n = elems(val.shape);
      let slot = takeSlot(free.get(val.dtype), slots, n);
      if (slot === undefined) {
        slot = slots.length;
        slots.push({ dtype: val.dtype, size: 0, first: i, last: i });
      }
      slots[slot]!.size = Math.max(slots[slot]!.size, n);
      storage.set(v, { kind: "slot", slot });
      const bytes = n * itemsize[val.dtype];
      total += bytes;
      count++;
      liveDelta[i]! += bytes;
      liveDelta[(lastUse.get(v) ?? i) + 1]! -= bytes;
    }
    for (const v of endings[i]!) {
      const st = storage.get(v)!;
      if (st.kind === "slot") {
        const sl = slots[st.slot]!;
        sl.last = Math.max(sl.last, i);
        const list = free.get(sl.dtype);
        if (list) list.push(st.slot);
        else free.set(sl.dtype, [st.slot]);
      } else if (st.kind === "tensor" && !isOutput.has(v)) releaseAfter[i]!.push(v);
    }
  });
  slots.forEach((sl, k) => {
    allocBefore[sl.first]!.push(k);
    freeAfter[sl.last]!.push(k);
    slotDelta[sl.first]! += sl.size * itemsize[sl.dtype];
    slotDelta[sl.last + 1]! -= sl.size * itemsize[sl.dtype];
  });
  const peakOf = (delta: number[]) => {
    let cur = 0, peak = 0;
    for (const d of delta) peak = Math.max(peak, (cur += d));
    return peak;
  };
  return {
    steps,
    storage,
    slots,
    allocBefore,
    freeAfter,
    releaseAfter,
    stats: { peakBytes: peakOf(slotDelta), peakLiveBytes: peakOf(liveDelta), totalIntermediateBytes: total, intermediates: count },
  };
}

class MinHeap {
  private a: number[] = [];
  constructor(private less: (x: number, y: number) => number) {}
  get size(): number {
    return this.a.length;
  }
  push(x: number): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
