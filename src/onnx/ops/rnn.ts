/**
 * Recurrent operators (RNN, GRU, LSTM), unrolled over the static sequence length with Trident ops, so
 * they differentiate and batch like everything else. sequence_lens masks finished batch entries: their
 * state stops changing and their outputs are zero, as the spec says.
 */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import { gather } from "../../core/prims/indexing.js";
import * as S from "../../core/prims/structural.js";
import { matmul } from "../../ops/linalg.js";
import type { Tensor } from "../../tensor.js";
import { unsupported } from "../errors.js";
import { def, out, tin, topt, type OpCtx } from "./registry.js";
import { bcastTo, lit, range } from "./util.js";

type Act = (x: Tensor) => Tensor;

function activation(ctx: OpCtx, name: string, alpha: number | undefined, beta: number | undefined): Act {
  const a = (d: number) => alpha ?? d, b = (d: number) => beta ?? d;
  switch (name.toLowerCase()) {
    case "sigmoid": return E.logistic;
    case "tanh": return E.tanh;
    case "relu": return (x) => E.max(x, lit(x, 0));
    case "affine": return (x) => E.add(E.mul(x, lit(x, a(1))), lit(x, b(0)));
    case "leakyrelu": return (x) => E.select(E.less(x, lit(x, 0)), E.mul(x, lit(x, a(0.01))), x);
    case "thresholdedrelu": return (x) => E.select(E.greater(x, lit(x, a(1))), x, lit(x, 0));
    case "scaledtanh": return (x) => E.mul(E.tanh(E.mul(x, lit(x, b(1)))), lit(x, a(1)));
    case "hardsigmoid": return (x) => E.max(lit(x, 0), E.min(lit(x, 1), E.add(E.mul(x, lit(x, a(0.2))), lit(x, b(0.5)))));
    case "elu": return (x) => E.select(E.less(x, lit(x, 0)), E.mul(E.expm1(E.min(x, lit(x, 0))), lit(x, a(1))), x);
    case "softsign": return (x) => E.div(x, E.add(E.abs(x), lit(x, 1)));
    case "softplus": return (x) => E.log1p(E.exp(x));
  }
  return unsupported(ctx.op, `activation "${name}" is not supported`);
}

/** Activations per direction: `perDir` functions each, defaults used where the attribute has none. */
function activations(ctx: OpCtx, dirs: number, defaults: string[]): Act[][] {
  const names = ctx.attrs.strings("activations") ?? [];
  const alphas = ctx.attrs.floats("activation_alpha") ?? [];
  const betas = ctx.attrs.floats("activation_beta") ?? [];
  const n = defaults.length;
  const all = range(dirs * n).map((i) => names[i] ?? (names.length === n ? names[i % n]! : defaults[i % n]!));
  // alpha/beta are consumed in order by the activations that take them
  let ai = 0, bi = 0;
  const takesAlpha = new Set(["affine", "leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu"]);
  const takesBeta = new Set(["affine", "scaledtanh", "hardsigmoid"]);
  const fns = all.map((name) => {
    const l = name.toLowerCase();
    const alpha = takesAlpha.has(l) ? alphas[ai++] : undefined;
    const beta = takesBeta.has(l) ? betas[bi++] : undefined;
    return activation(ctx, name, alpha, beta);
  });
  return range(dirs).map((d) => fns.slice(d * n, d * n + n));
}

interface Common {
  x: Tensor; // [T, B, I]
  w: Tensor; // [D, G*H, I]
  r: Tensor; // [D, G*H, H]
  b: Tensor | null; // [D, 2*G*H]
  lens: Tensor | null; // [B] int32
  h0: Tensor | null; // [D, B, H]
  H: number;
  dirs: number;
  reverse: boolean[];
  clip: number | undefined;
  layout: number;
  elem: number;
}

function common(ins: Parameters<typeof tin>[0], ctx: OpCtx, gates: number): Common {
  const xv = tin(ins, 0, ctx, "X");
  const layout = ctx.attrs.int("layout", 0);
  let x = xv.t;
  if (x.ndim !== 3) fail(ctx.op, `X must be 3-D, got ${fmtShape(x.shape)}`);
  if (layout) x = S.transpose(x, [1, 0, 2]);
  const w = E.convert(tin(ins, 1, ctx, "W").t, x.dtype), r = E.convert(tin(ins, 2, ctx, "R").t, x.dtype);
  const bv = topt(ins, 3, ctx, "B"), lv = topt(ins, 4, ctx, "sequence_lens"), hv = topt(ins, 5, ctx, "initial_h");
  const H = ctx.attrs.int("hidden_size") ?? r.shape[2]!;
  const dir = ctx.attrs.string("direction", "forward");
  if (!["forward", "reverse", "bidirectional"].includes(dir)) fail(ctx.op, `direction "${dir}" is not supported`);
  const dirs = dir === "bidirectional" ? 2 : 1;
  if (w.shape[0] !== dirs || w.shape[1] !== gates * H) fail(ctx.op, `W ${fmtShape(w.shape)} must be [${dirs}, ${gates * H}, input_size]`);
  let h0 = hv ? E.convert(hv.t, x.dtype) : null;
  if (h0 && layout) h0 = S.transpose(h0, [1, 0, 2]);
  return {
    x, w, r, b: bv ? E.convert(bv.t, x.dtype) : null, lens: lv ? E.convert(lv.t, "int32") : null, h0, H, dirs,
    reverse: dir === "bidirectional" ? [false, true] : [dir === "reverse"], clip: ctx.attrs.float("clip"), layout, elem: xv.elem,
  };
}

/** Row `d` of a [D, ...] parameter. */
const pick = (t: Tensor, d: number): Tensor => S.reshape(S.slice(t, t.shape.map((_, i) => (i === 0 ? d : 0)), t.shape.map((n, i) => (i === 0 ? d + 1 : n))), t.shape.slice(1));
/** Columns [k*H, (k+1)*H) of the last axis. */
const gate = (t: Tensor, k: number, H: number): Tensor => S.slice(t, t.shape.map((_, i) => (i === t.ndim - 1 ? k * H : 0)), t.shape.map((n, i) => (i === t.ndim - 1 ? (k + 1) * H : n)));

/** Reverse each batch entry's first len[b] steps (all T steps without sequence_lens). */
function reverseSeq(x: Tensor, lens: Tensor | null): Tensor {
  if (!lens) return S.rev(x, [0]);
  const l = S.broadcastInDim(lens, x.shape, [1]);
  const t = S.iota(x.shape, 0, "int32");
  const src = E.select(E.less(t, l), E.sub(E.sub(l, full(x.shape, 1, "int32")), t), t);
  return gather(x, src, 0);
}

type Cell = (xw: Tensor, state: Tensor[], d: number) => Tensor[];

/** Run a cell over time for each direction; returns Y [T, D, B, H] and the final states [D, B, H] each. */
function runRnn(c: Common, nStates: number, init: (d: number) => Tensor[], cell: Cell): { y: Tensor; finals: Tensor[] } {
  const [T, B] = c.x.shape as [number, number];
  const ys: Tensor[] = [];
  const finals: Tensor[][] = range(nStates).map(() => []);
  for (let d = 0; d < c.dirs; d++) {
    const xs = c.reverse[d] ? reverseSeq(c.x, c.lens) : c.x;
    // the input projection of every step at once: [T, B, G*H]
    const wd = pick(c.w, d);
    let xw = matmul(xs, S.transpose(wd, [1, 0]));
    if (c.b) {
      const bd = pick(c.b, d);
      const G = wd.shape[0]!;
      const bias = E.add(S.slice(bd, [0], [G]), S.slice(bd, [G], [2 * G]));
      xw = E.add(xw, bcastTo(bias, xw.shape));
    }
    let state = init(d);
    const outs: Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const xt = S.reshape(S.slice(xw, [t, 0, 0], [t + 1, B, xw.shape[2]!]), [B, xw.shape[2]!]);
      const next = cell(xt, state, d);
      if (c.lens) {
        // finished entries keep their state and output zeros
        const live = S.broadcastInDim(E.less(full([B], t, "int32"), c.lens), [B, c.H], [0]);
        state = next.map((s, k) => E.select(live, s, state[k]!));
        outs.push(E.select(live, next[0]!, E.zerosLike(next[0]!)));
      } else {
        state = next;
        outs.push(next[0]!);
      }
    }
    let y = T ? S.concatenate(outs.map((o) => S.reshape(o, [1, B, c.H])), 0) : full([0, B, c.H], 0, c.x.dtype);
    if (c.reverse[d]) y = reverseSeq(y, c.lens);
    ys.push(S.reshape(y, [T, 1, B, c.H]));
    state.forEach((s, k) => finals[k]!.push(S.reshape(s, [1, B, c.H])));
  }
  return { y: S.concatenate(ys, 1), finals: finals.map((f) => S.concatenate(f, 0)) };
}

function outputs(c: Common, y: Tensor, finals: Tensor[]): ReturnType<typeof out>[] {
  const Y = c.layout ? S.transpose(y, [2, 0, 1, 3]) : y;
  const fs = finals.map((f) => (c.layout ? S.transpose(f, [1, 0, 2]) : f));
  return [out(Y, c.elem), ...fs.map((f) => out(f, c.elem))];
}

const clipped = (t: Tensor, clip: number | undefined): Tensor => (clip === undefined ? t : E.max(E.min(t, lit(t, clip)), lit(t, -clip)));

def("RNN", (ins, ctx) => {
  const c = common(ins, ctx, 1);
  const acts = activations(ctx, c.dirs, ["Tanh"]);
  const B = c.x.shape[1]!;
  const { y, finals } = runRnn(c, 1, (d) => [c.h0 ? pick(c.h0, d) : full([B, c.H], 0, c.x.dtype)], (xt, [h], d) => {
    const rT = S.transpose(pick(c.r, d), [1, 0]);
    return [acts[d]![0]!(clipped(E.add(xt, matmul(h!, rT)), c.clip))];
  });
  return outputs(c, y, finals);
});

def("GRU", (ins, ctx) => {
  const c = common(ins, ctx, 3);
  const acts = activations(ctx, c.dirs, ["Sigmoid", "Tanh"]);
  const lbr = ctx.attrs.int("linear_before_reset", 0) !== 0;
  const B = c.x.shape[1]!, H = c.H;
  // the recurrent bias of the h gate sits inside the reset product when linear_before_reset is set
  const rb = (d: number, k: number) => (c.b ? S.slice(pick(c.b, d), [3 * H + k * H], [3 * H + (k + 1) * H]) : null);
  const { y, finals } = runRnn(c, 1, (d) => [c.h0 ? pick(c.h0, d) : full([B, H], 0, c.x.dtype)], (xt, [h], d) => {
    const [f, g] = acts[d]! as [Act, Act];
    const r = pick(c.r, d);
    const rT = S.transpose(r, [1, 0]); // [H, 3H]
    const hr = matmul(h!, rT); // [B, 3H]
    const z = f(clipped(E.add(gate(xt, 0, H), gate(hr, 0, H)), c.clip));
    const rg = f(clipped(E.add(gate(xt, 1, H), gate(hr, 1, H)), c.clip));
    let hh: Tensor;
    if (lbr) hh = E.add(gate(xt, 2, H), E.mul(rg, gate(hr, 2, H)));
    else {
      // xt already holds Wb_h + Rb_h; the reset applies to h before Rh, with Rb_h outside
      const rhT = S.transpose(S.slice(r, [2 * H, 0], [3 * H, H]), [1, 0]);
      hh = E.add(gate(xt, 2, H), matmul(E.mul(rg, h!), rhT));
    }
    if (lbr && c.b) {
      // Rb_h must be multiplied by the reset gate too: xt has it added unscaled, so correct it
      const rbh = bcastTo(rb(d, 2)!, [B, H]);
      hh = E.add(E.sub(hh, rbh), E.mul(rg, rbh));
    }
    const ht = g(clipped(hh, c.clip));
    const one = lit(z, 1);
    return [E.add(E.mul(E.sub(one, z), ht), E.mul(z, h!))];
  });
  return outputs(c, y, finals);
});

def("LSTM", (ins, ctx) => {
  const c = common(ins, ctx, 4);
  const acts = activations(ctx, c.dirs, ["Sigmoid", "Tanh", "Tanh"]);
  const cv = topt(ins, 6, ctx, "initial_c"), pv = topt(ins, 7, ctx, "P");
  const inputForget = ctx.attrs.int("input_forget", 0) !== 0;
  const B = c.x.shape[1]!, H = c.H;
  let c0 = cv ? E.convert(cv.t, c.x.dtype) : null;
  if (c0 && c.layout) c0 = S.transpose(c0, [1, 0, 2]);
  const P = pv ? E.convert(pv.t, c.x.dtype) : null;
  const { y, finals } = runRnn(c, 2, (d) => [c.h0 ? pick(c.h0, d) : full([B, H], 0, c.x.dtype), c0 ? pick(c0, d) : full([B, H], 0, c.x.dtype)], (xt, [h, cPrev], d) => {
    const [f, g, hAct] = acts[d]! as [Act, Act, Act];
    const gates = E.add(xt, matmul(h!, S.transpose(pick(c.r, d), [1, 0])));
    const peep = (k: number, s: Tensor) => (P ? E.mul(bcastTo(S.slice(pick(P, d), [k * H], [(k + 1) * H]), [B, H]), s) : null);
    const withPeep = (t: Tensor, p: Tensor | null) => (p ? E.add(t, p) : t);
    let i = f(clipped(withPeep(gate(gates, 0, H), peep(0, cPrev!)), c.clip));
    const fg = f(clipped(withPeep(gate(gates, 2, H), peep(2, cPrev!)), c.clip));
    if (inputForget) i = E.sub(lit(fg, 1), fg);
    const cc = g(clipped(gate(gates, 3, H), c.clip));
    const ct = E.add(E.mul(fg, cPrev!), E.mul(i, cc));
    const o = f(clipped(withPeep(gate(gates, 1, H), peep(1, ct)), c.clip));
    return [E.mul(o, hAct(ct)), ct];
  });
  return outputs(c, y, finals);
});
