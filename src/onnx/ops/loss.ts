/** Loss operators: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. */
import { fail, fmtShape } from "../../core/errors.js";
import { full } from "../../core/prims/constants.js";
import * as E from "../../core/prims/elementwise.js";
import { gather } from "../../core/prims/indexing.js";
import * as R from "../../core/prims/reduce.js";
import * as S from "../../core/prims/structural.js";
import { take } from "../../ops/indexing.js";
import type { Tensor } from "../../tensor.js";
import { def, out, tin, topt, type OpCtx } from "./registry.js";
import { logSoftmax } from "./reduce.js";
import { range } from "./util.js";

/** NLL of log-probabilities [N, C, d...] at targets [N, d...], with the reference's weighting and means. */
function nll(ctx: OpCtx, logp: Tensor, target: Tensor, weight: Tensor | null): Tensor {
  const [N, C] = logp.shape as [number, number];
  const rest = logp.shape.slice(2);
  if (target.shape.join() !== [N, ...rest].join()) fail(ctx.op, `target ${fmtShape(target.shape)} must have shape ${fmtShape([N, ...rest])}`);
  const ignore = ctx.attrs.int("ignore_index");
  const red = ctx.attrs.string("reduction", "mean");
  if (!["none", "sum", "mean"].includes(red)) fail(ctx.op, `reduction "${red}" is not one of none, sum, mean`);
  const t = E.convert(target, "int32");
  const tshape = t.shape;
  const keep = ignore === undefined ? full(tshape, 1, "bool") : E.ne(t, full(tshape, ignore, "int32"));
  // ignored (and, with weights, out-of-range) targets read class 0 and are masked out
  const tc = E.max(E.min(E.select(keep, t, full(tshape, 0, "int32")), full(tshape, C - 1, "int32")), full(tshape, 0, "int32"));
  const picked = S.reshape(gather(logp, S.reshape(tc, [N, 1, ...rest]), 1), tshape);
  const zero = E.zerosLike(picked);
  let w: Tensor | null = null;
  if (weight) w = E.select(keep, S.reshape(take(E.convert(weight, logp.dtype), S.reshape(tc, [tc.size]), { axis: 0 }), tshape), zero);
  else if (ignore !== undefined) w = E.convert(keep, logp.dtype);
  let loss = E.select(keep, E.neg(picked), zero);
  if (w) loss = E.mul(loss, w);
  const all = range(loss.ndim);
  if (red === "none") return loss;
  const total = R.reduceSum(loss, all);
  if (red === "sum") return total;
  if (w) return E.div(total, R.reduceSum(w, all));
  return E.div(total, full([], loss.size, loss.dtype));
}

def("NegativeLogLikelihoodLoss", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "input"), t = tin(ins, 1, ctx, "target"), w = topt(ins, 2, ctx, "weight");
  if (x.rank < 2) fail(ctx.op, `input must be at least 2-D, got ${fmtShape(x.shape)}`);
  return [out(nll(ctx, x.t, t.t, w?.t ?? null), x.elem)];
});

def("SoftmaxCrossEntropyLoss", (ins, ctx) => {
  const x = tin(ins, 0, ctx, "scores"), t = tin(ins, 1, ctx, "labels"), w = topt(ins, 2, ctx, "weights");
  if (x.rank < 2) fail(ctx.op, `scores must be at least 2-D, got ${fmtShape(x.shape)}`);
  const logp = logSoftmax(x.t, 1);
  const loss = out(nll(ctx, logp, t.t, w?.t ?? null), x.elem);
  return ctx.nOut > 1 ? [loss, out(logp, x.elem)] : [loss];
});
