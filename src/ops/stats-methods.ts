// Tensor methods for the everyday ops in stats.ts (imported once from methods.ts).
import { Tensor } from "../tensor.js";
import * as S from "./stats.js";
import type { TensorLike } from "./convert.js";
import type { ReduceOpts } from "./core.js";

declare module "../tensor.js" {
  interface Tensor {
    nonzero(opts?: S.SizeOpts): Tensor; argwhere(opts?: S.SizeOpts): Tensor; cumprod(opts?: { axis?: number | null }): Tensor;
    cummax(axis: number): { values: Tensor; indices: Tensor }; cummin(axis: number): { values: Tensor; indices: Tensor };
    diff(opts?: { n?: number; axis?: number; prepend?: TensorLike; append?: TensorLike }): Tensor;
    quantile(q: number | readonly number[], opts?: { axis?: number | null; keepdims?: boolean; method?: S.QuantileMethod }): Tensor;
    nanquantile(q: number | readonly number[], opts?: { axis?: number | null; keepdims?: boolean }): Tensor;
    nansum(opts?: ReduceOpts): Tensor; nanmean(opts?: ReduceOpts): Tensor; nanprod(opts?: ReduceOpts): Tensor;
    nanmax(opts?: ReduceOpts): Tensor; nanmin(opts?: ReduceOpts): Tensor; nanmedian(opts?: { axis?: number | null; keepdims?: boolean }): Tensor;
    isclose(other: TensorLike, opts?: { rtol?: number; atol?: number; equalNan?: boolean }): Tensor;
    allclose(other: TensorLike, opts?: { rtol?: number; atol?: number; equalNan?: boolean }): boolean;
    countNonzero(opts?: ReduceOpts): Tensor; bincount(opts?: { weights?: TensorLike; minlength?: number; length?: number }): Tensor;
    histc(opts?: { bins?: number; min?: number; max?: number }): Tensor;
  }
}

const P = Tensor.prototype;
P.nonzero = function (opts) { return S.nonzero(this, { ...opts, asTuple: false }); };
P.argwhere = function (opts) { return S.argwhere(this, opts); };
P.cumprod = function (opts) { return S.cumprod(this, opts); };
P.cummax = function (axis) { return S.cummax(this, axis); };
P.cummin = function (axis) { return S.cummin(this, axis); };
P.diff = function (opts) { return S.diff(this, opts); };
P.quantile = function (q, opts) { return S.quantile(this, q, opts); };
P.nanquantile = function (q, opts) { return S.nanquantile(this, q, opts); };
P.nansum = function (opts) { return S.nansum(this, opts); };
P.nanmean = function (opts) { return S.nanmean(this, opts); };
P.nanprod = function (opts) { return S.nanprod(this, opts); };
P.nanmax = function (opts) { return S.nanmax(this, opts); };
P.nanmin = function (opts) { return S.nanmin(this, opts); };
P.nanmedian = function (opts) { return S.nanmedian(this, opts); };
P.isclose = function (other, opts) { return S.isclose(this, other, opts); };
P.allclose = function (other, opts) { return S.allclose(this, other, opts); };
P.countNonzero = function (opts) { return S.countNonzero(this, opts); };
P.bincount = function (opts) { return S.bincount(this, opts); };
P.histc = function (opts) { return S.histc(this, opts); };
