import { TridentError, checkFunction, checkOptions, describeValue, fail, optionKeys } from "../core/errors.js";
import { ClosedJaxpr, traceToJaxpr } from "../core/jaxpr.js";
import { treeDefKey, treeFlatten, treeUnflatten, type TreeDef } from "../core/pytree.js";
import { isFloat } from "../core/dtype.js";
import { full } from "../core/prims/constants.js";
import { zerosLike } from "../core/prims/elementwise.js";
import { Tensor } from "../tensor.js";
import { jvpFlat } from "./jvp.js";
import { linearizeFlat, vjpFlat } from "./partial.js";
import { vmapFlat } from "./vmap.js";
import { evalJaxpr } from "../core/jaxpr.js";
import { toTensor } from "../ops/convert.js";
import { stack, reshape as reshapeOp } from "../ops/index.js";
import { paramsKey, type Dim } from "../core/primitive.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => any;

function flatArgs(args: unknown[]): [Tensor[], TreeDef] {
  const [leaves, def] = treeFlatten(args);
  return [leaves.map((l, i) => asTensor(l, `argument leaf ${i}`)), def];
}

function asTensor(l: unknown, what: string): Tensor {
  if (l instanceof Tensor) return l;
  if (typeof l === "number" || typeof l === "boolean") return toTensor(l);
  throw new TridentError(`transform: ${what} is ${typeof l === "object" ? (l as object).constructor?.name : typeof l}, expected a Tensor or number`);
}

/** Flatten f's output tree to tensors, remembering the structure. */
function flatOut(out: unknown, box: { def?: TreeDef }): Tensor[] {
  const [leaves, def] = treeFlatten(out);
  box.def = def;
  return leaves.map((l, i) => asTensor(l, `output leaf ${i}`));
}

function normArgnums(argnums: number | number[] | undefined, nargs: number, op: string): number[] {
  const list = argnums === undefined ? [0] : typeof argnums === "number" ? [argnums] : argnums;
  return list.map((a) => {
    const b = a < 0 ? a + nargs : a;
    if (b < 0 || b >= nargs) fail(op, `argnums ${a} is out of range for ${nargs} arguments`);
    return b;
  });
}

/** Split args into the differentiated leaves and a closure rebuilding the full argument list. */
function diffSplit(args: unknown[], argnums: number[]) {
  const diffTree = argnums.map((i) => args[i]);
  const [leaves, def] = treeFlatten(diffTree);
  const primals = leaves.map((l, i) => asTensor(l, `differentiated argument leaf ${i}`));
  const rebuild = (xs: Tensor[]) => {
    const parts = treeUnflatten<unknown[]>(def, xs);
    const full = [...args];
    argnums.forEach((a, k) => (full[a] = parts[k]));
    return full;
  };
  return { primals, def, rebuild };
}

export interface VjpResult<O> {
  out: O;
  vjp: (ct: unknown) => unknown[];
}

/** Reverse mode: `const [y, f] = vjp(fn, x); const [dx] = f(ct)`. */
export function vjp(f: Fn, ...primals: unknown[]): [unknown, (ct: unknown) => unknown[], unknown?] {
  checkFunction("vjp", "f", f);
  const [flat, inDef] = flatArgs(primals);
  const box: { def?: TreeDef } = {};
  const { primalsOut, fVjp } = vjpFlat((...xs) => flatOut(f(...treeUnflatten<unknown[]>(inDef, xs)), box), flat);
  const out = treeUnflatten(box.def!, primalsOut);
  const back = (ct: unknown): unknown[] => {
    const [cts, ctDef] = treeFlatten(ct);
    if (treeDefKey(ctDef) !== treeDefKey(box.def!)) fail("vjp", "the cotangent's structure differs from the output's");
    const res = fVjp(cts.map((c, i) => asTensor(c, `cotangent leaf ${i}`)));
    return treeUnflatten<unknown[]>(inDef, res.map((r, i) => r ?? zerosLike(flat[i]!)));
  };
  return [out, back];
}

export interface GradOptions {
  argnums?: number | number[];
  hasAux?: boolean;
}
const GRAD_KEYS = optionKeys<GradOptions>({ argnums: true, hasAux: true });

/**
 * Value and gradient of a scalar function. With argnums a list, the gradient is a list.
 * @example const [loss, g] = tr.valueAndGrad(f)(x)
 */
export function valueAndGrad<F extends Fn>(f: F, opts?: { argnums?: number; hasAux?: false }): (...args: Parameters<F>) => [Tensor, Parameters<F>[0]];
export function valueAndGrad<F extends Fn>(f: F, opts: GradOptions): (...args: Parameters<F>) => [unknown, unknown];
export function valueAndGrad(f: Fn, opts: GradOptions = {}) {
  checkFunction("valueAndGrad", "f", f);
  checkOptions("valueAndGrad", opts, GRAD_KEYS);
  return (...args: unknown[]): [unknown, unknown] => {
    const argnums = normArgnums(opts.argnums, args.length, "grad");
    const { primals, def, rebuild } = diffSplit(args, argnums);
    for (const p of primals) if (!isFloat(p.dtype)) fail("grad", `differentiated inputs must be floating point, got ${p.dtype}; pass integer arguments outside argnums`);
    // aux tensors leave the differentiated trace as extra outputs (with no cotangent), so they come back as values, not tracers
    const auxBox: { def?: TreeDef; leaves: unknown[]; tensorAt: number[] } = { leaves: [], tensorAt: [] };
    const fFlat = (...xs: Tensor[]) => {
      let r = f(...rebuild(xs));
      if (opts.hasAux) {
        if (!Array.isArray(r) || r.length !== 2) fail("grad", "with hasAux the function must return [output, aux]");
        [auxBox.leaves, auxBox.def] = treeFlatten(r[1]);
        auxBox.tensorAt = auxBox.leaves.flatMap((l, i) => (l instanceof Tensor ? [i] : []));
        r = r[0];
      }
      const y = asTensor(r, "output");
      if (y.size !== 1 || y.ndim !== 0) fail("grad", `the function must return a scalar (shape []), got shape [${y.shape}]; use vjp or jacrev for non-scalar outputs`);
      if (!isFloat(y.dtype)) fail("grad", `the function must return a float, got ${y.dtype}`);
      return [y, ...auxBox.tensorAt.map((i) => auxBox.leaves[i] as Tensor)];
    };
    const { primalsOut, fVjp } = vjpFlat(fFlat, primals);
    const y = primalsOut[0]!;
    auxBox.tensorAt.forEach((i, k) => (auxBox.leaves[i] = primalsOut[1 + k]));
    const aux = auxBox.def ? treeUnflatten(auxBox.def, auxBox.leaves) : undefined;
    const cts = fVjp([full([], 1, y.dtype), ...auxBox.tensorAt.map(() => null)]);
    const grads = treeUnflatten<unknown[]>(def, cts.map((c, i) => c ?? zerosLike(primals[i]!)));
    const g = typeof opts.argnums === "object" ? grads : grads[0];
    return [opts.hasAux ? [y, aux] : y, g];
  };
}

/** Gradient of a scalar function: `tr.grad(f)(x)` has x's structure; with hasAux returns [grad, aux]. */
export function grad<F extends Fn>(f: F, opts?: { argnums?: number; hasAux?: false }): (...args: Parameters<F>) => Parameters<F>[0];
export function grad<F extends Fn>(f: F, opts: GradOptions): (...args: Parameters<F>) => unknown;
export function grad(f: Fn, opts: GradOptions = {}) {
  checkFunction("grad", "f", f);
  checkOptions("grad", opts, GRAD_KEYS);
  const vg = valueAndGrad(f, opts);
  return (...args: unknown[]): unknown => {
    const [v, g] = vg(...args);
    return opts.hasAux ? [g, (v as unknown[])[1]] : g;
  };
}

/** Forward mode: `const [y, dy] = tr.jvp(f, [x], [dx])`. */
export function jvp(f: Fn, primals: unknown[], tangents: unknown[]): [unknown, unknown] {
  checkFunction("jvp", "f", f);
  if (!Array.isArray(primals) || !Array.isArray(tangents)) fail("jvp", `primals and tangents must be arrays (tr.jvp(f, [x], [dx])), got ${describeValue(primals)} and ${describeValue(tangents)}`);
  const [ps, def] = flatArgs(primals);
  const [ts, tdef] = flatArgs(tangents);
  if (treeDefKey(def) !== treeDefKey(tdef)) fail("jvp", "primals and tangents have different structures");
  ps.forEach((p, i) => {
    if (p.shape.join() !== ts[i]!.shape.join()) fail("jvp", `tangent ${i} has shape [${ts[i]!.shape}] but its primal has [${p.shape}]`);
  });
  const box: { def?: TreeDef } = {};
  const [po, to] = jvpFlat((...xs) => flatOut(f(...treeUnflatten<unknown[]>(def, xs)), box), ps, ts);
  return [treeUnflatten(box.def!, po), treeUnflatten(box.def!, to.map((t, i) => t ?? zerosLike(po[i]!)))];
}

/** Linearize: the outputs and a function computing the jvp at these primals from tangents alone. */
export function linearize(f: Fn, ...primals: unknown[]): [unknown, (...tangents: unknown[]) => unknown] {
  checkFunction("linearize", "f", f);
  const [ps, def] = flatArgs(primals);
  const box: { def?: TreeDef } = {};
  const { primalsOut, jaxpr, consts, tangentPvals } = linearizeFlat((...xs) => flatOut(f(...treeUnflatten<unknown[]>(def, xs)), box), ps);
  const fLin = (...tangents: unknown[]) => {
    const [ts] = flatArgs(tangents);
    const outs = evalJaxpr(jaxpr, [...consts, ...ts]);
    let k = 0;
    return treeUnflatten(box.def!, tangentPvals.map((p) => p.known ?? outs[k++]!));
  };
  return [treeUnflatten(box.def!, primalsOut), fLin];
}

export interface VmapOptions {
  inAxes?: number | null | (number | null | unknown)[];
  outAxes?: number | null | (number | null)[];
}

/** Vectorising map: `tr.vmap(f, { inAxes: [0, null] })(xs, w)`. */
export function vmap<F extends Fn>(f: F, opts: VmapOptions = {}): (...args: Parameters<F>) => ReturnType<F> {
  checkFunction("vmap", "f", f);
  checkOptions("vmap", opts, optionKeys<VmapOptions>({ inAxes: true, outAxes: true }));
  return ((...args: unknown[]): unknown => {
    const inAxes = opts.inAxes ?? 0;
    // inAxes is a prefix tree of args: a number applies to every leaf below it
    const perArg = Array.isArray(inAxes) ? inAxes : args.map(() => inAxes);
    if (perArg.length !== args.length) fail("vmap", `inAxes has ${perArg.length} entries but the function got ${args.length} arguments`);
    const leafAxes: Dim[] = [];
    const leaves: Tensor[] = [];
    args.forEach((a, i) => {
      const ax = perArg[i];
      const [ls] = treeFlatten(a);
      const axLeaves = prefixAxes(ax ?? null, a, `inAxes[${i}]`);
      if (axLeaves.length !== ls.length) fail("vmap", `inAxes[${i}] does not match the structure of argument ${i}`);
      ls.forEach((l, k) => {
        const t = asTensor(l, `argument ${i}`);
        let dim = axLeaves[k] as Dim;
        if (dim !== null && dim < 0) dim += t.ndim;
        leaves.push(t);
        leafAxes.push(dim);
      });
    });
    const [, def] = treeFlatten(args);
    const box: { def?: TreeDef } = {};
    const outAx = opts.outAxes ?? 0;
    const outs = vmapFlat(
      (...xs) => flatOut(f(...treeUnflatten<unknown[]>(def, xs)), box),
      leafAxes,
      (n) => (Array.isArray(outAx) ? outAx : Array.from({ length: n }, () => outAx)),
      leaves,
    );
    return treeUnflatten(box.def!, outs);
  }) as (...args: Parameters<F>) => ReturnType<F>;
}

/** Expand an inAxes prefix tree (numbers and nulls at any level) to one axis per leaf of `arg`. */
function prefixAxes(ax: unknown, arg: unknown, where: string): Dim[] {
  if (ax === null || typeof ax === "number") return treeFlatten(arg)[0].map(() => ax as Dim);
  if (Array.isArray(ax)) {
    if (!Array.isArray(arg) || arg.length !== ax.length) fail("vmap", `${where} is an array of ${ax.length} but the argument is not an array of that length`);
    return ax.flatMap((a, i) => prefixAxes(a, arg[i], `${where}[${i}]`));
  }
  if (ax && typeof ax === "object") {
    if (!arg || typeof arg !== "object" || Array.isArray(arg)) fail("vmap", `${where} is an object but the argument is not`);
    const keys = Object.keys(arg as object).sort();
    const axo = ax as Record<string, unknown>;
    for (const k of Object.keys(axo)) if (!keys.includes(k)) fail("vmap", `${where} has key "${k}" that the argument lacks`);
    return keys.flatMap((k) => prefixAxes(axo[k] ?? null, (arg as Record<string, unknown>)[k], `${where}.${k}`));
  }
  return fail("vmap", `${where} must be a number, null, or a tree of them`);
}

/** Jacobian by forward mode (one jvp per input element, batched with vmap). */
export function jacfwd(f: Fn, opts: { argnums?: number } = {}) {
  checkFunction("jacfwd", "f", f);
  checkOptions("jacfwd", opts, ["argnums"]);
  return (...args: unknown[]): Tensor => {
    const an = normArgnums(opts.argnums ?? 0, args.length, "jacfwd")[0]!;
    const x = asTensor(args[an], "argument");
    const n = x.size;
    const eyeT = basis(n, x);
    const pushfwd = (t: Tensor) => {
      const [, dy] = jvp((xx: Tensor) => f(...args.map((a, i) => (i === an ? xx : a))), [x], [reshapeOp(t, x.shape)]);
      return dy as Tensor;
    };
    // one jvp per basis vector, the batch axis last: [...outShape, n] → [...outShape, ...xShape]
    const cols = vmap(pushfwd, { inAxes: [0], outAxes: -1 })(eyeT);
    return reshapeOp(cols, [...cols.shape.slice(0, -1), ...x.shape]);
  };
}

/** Jacobian by reverse mode (one vjp per output element, batched with vmap). */
export function jacrev(f: Fn, opts: { argnums?: number } = {}) {
  checkFunction("jacrev", "f", f);
  checkOptions("jacrev", opts, ["argnums"]);
  return (...args: unknown[]): Tensor => {
    const an = normArgnums(opts.argnums ?? 0, args.length, "jacrev")[0]!;
    const x = asTensor(args[an], "argument");
    const [y, back] = vjp((xx: Tensor) => f(...args.map((a, i) => (i === an ? xx : a))), x);
    const yt = y as Tensor;
    const m = yt.size;
    const rows = vmap((ct: Tensor) => (back(reshapeOp(ct, yt.shape)) as Tensor[])[0]!)(basis(m, yt)) as Tensor;
    return reshapeOp(rows, [...yt.shape, ...x.shape]);
  };
}

/** Hessian = jacfwd(jacrev(f)). */
export function hessian(f: Fn, opts: { argnums?: number } = {}) {
  return jacfwd(jacrev(f, opts), opts);
}

function basis(n: number, like: Tensor): Tensor {
  const rows: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Float64Array(n);
    v[i] = 1;
    rows.push(toTensor(Array.from(v), like.dtype));
  }
  return n === 0 ? full([0, 0], 0, like.dtype) : stack(rows, 0);
}

// ---------------- jit ----------------
export interface JitOptions {
  staticArgnums?: number[];
  /** Print the fused kernels each time a new signature is traced ("expressions" adds their IR). */
  debug?: boolean | "expressions";
}

interface CacheEntry {
  closed: ClosedJaxpr;
  outDef: TreeDef;
}

/** A jitted function: traced once per argument signature to a jaxpr, then executed. */
export interface Jitted<F extends Fn> {
  (...args: Parameters<F>): ReturnType<F>;
  /** Number of distinct signatures traced so far. */
  readonly cacheSize: number;
  /** The closed jaxpr for these arguments (traces if needed). */
  lower(...args: Parameters<F>): ClosedJaxpr;
  /** The fused kernels these arguments compile to, one line each (inputs, output shapes, fused primitives). */
  lowerKernels(...args: Parameters<F>): string;
  /** Run these arguments a few times and list each kernel's median time, slowest first (a profiler). */
  profile(...args: Parameters<F>): string;
}

export function jit<F extends Fn>(f: F, opts: JitOptions = {}): Jitted<F> {
  checkFunction("jit", "f", f);
  checkOptions("jit", opts, optionKeys<JitOptions>({ staticArgnums: true, debug: true }));
  const cache = new Map<string, CacheEntry>();
  const statics = new Set(opts.staticArgnums ?? []);
  const prepare = (args: unknown[]) => {
    const dyn = args.filter((_, i) => !statics.has(i));
    const st = args.map((a, i) => (statics.has(i) ? a : undefined));
    const [flat, def] = flatArgs(dyn);
    let key: string;
    try {
      key = `${treeDefKey(def)}|${flat.map((t) => t.aval.key()).join(";")}|${paramsKey(st)}`;
    } catch {
      throw new TridentError("jit: static arguments must be JSON-serialisable (they key the cache)");
    }
    let entry = cache.get(key);
    if (!entry) {
      const box: { def?: TreeDef } = {};
      const closed = traceToJaxpr((...xs) => {
        const dynArgs = treeUnflatten<unknown[]>(def, xs);
        let k = 0;
        const all = args.map((a, i) => (statics.has(i) ? a : dynArgs[k++]));
        return flatOut(f(...all), box);
      }, flat.map((t) => t.aval));
      entry = { closed, outDef: box.def! };
      cache.set(key, entry);
      if (opts.debug) console.log(describeKernels(closed, { expressions: opts.debug === "expressions" }));
    }
    return { entry, flat };
  };
  const run = (...args: unknown[]) => {
    const { entry, flat } = prepare(args);
    const outs = callJaxpr(entry.closed, flat);
    return treeUnflatten(entry.outDef, outs);
  };
  Object.defineProperty(run, "cacheSize", { get: () => cache.size });
  (run as unknown as { lower: unknown }).lower = (...args: unknown[]) => prepare(args).entry.closed;
  (run as unknown as { lowerKernels: unknown }).lowerKernels = (...args: unknown[]) => describeKernels(prepare(args).entry.closed);
  (run as unknown as { profile: unknown }).profile = (...args: unknown[]) => {
    const { entry, flat } = prepare(args);
    return profileKernels(entry.closed, flat);
  };
  return run as unknown as Jitted<F>;
}

import { xlaCall } from "./jitprim.js";
import { describeKernels, profileKernels } from "./compile.js";
function callJaxpr(closed: ClosedJaxpr, args: Tensor[]): Tensor[] {
  return xlaCall(closed, args);
}

/** The traced program of f at these arguments: `console.log(tr.makeJaxpr(f)(x).toString())`. */
export function makeJaxpr(f: Fn, opts: JitOptions = {}) {
  return (...args: unknown[]): ClosedJaxpr => (jit(f, opts) as Jitted<Fn>).lower(...args);
}

