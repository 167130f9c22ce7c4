// Every registered primitive, through a sample program (samples.ts): (a) reverse-mode gradients against
// central finite differences in float64, (b) jvp against vjp (⟨ct, J t⟩ = ⟨Jᵀ ct, t⟩), (c) vmap against a
// loop over examples with the batch on different axes and unbatched operands, (d) jit against eager.
// A primitive without a sample fails the suite, so new primitives cannot go untested.
import * as tr from "../../src/index.js"; // registers every primitive
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { allPrimitives } from "../../src/core/primitive.js";
import { isFloat } from "../../src/core/dtype.js";
import { BACKENDS, withBackend, assertClose } from "../helpers.js";
import { Rng, SAMPLES, type Sample } from "./samples.js";

type T = tr.Tensor;
const BATCH = 3;

const asList = (y: T | T[]): T[] => (Array.isArray(y) ? y : [y]);
const read = async (t: T): Promise<number[]> => Array.from(await t.data());

/** Primitive names bound anywhere in a closed jaxpr, including nested programs in params. */
function primsIn(j: tr.ClosedJaxpr | tr.Jaxpr, acc = new Set<string>()): Set<string> {
  const jaxpr = j instanceof tr.ClosedJaxpr ? j.jaxpr : j;
  for (const e of jaxpr.eqns) {
    acc.add(e.prim.name);
    const visit = (v: unknown): void => {
      if (v instanceof tr.ClosedJaxpr || v instanceof tr.Jaxpr) primsIn(v, acc);
      else if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach(visit);
    };
    Object.values(e.params).forEach(visit);
  }
  return acc;
}

const diffOf = (s: Sample, xs: T[]): number[] => s.diff ?? xs.flatMap((x, i) => (isFloat(x.dtype) ? [i] : []));

/** The sample as a function of its differentiable operands only, returning its float outputs. */
function restricted(s: Sample, xs: T[], diff: number[]) {
  return (...ds: T[]): T[] => {
    const full = [...xs];
    diff.forEach((k, j) => (full[k] = ds[j]!));
    return asList(s.fn(...full)).filter((o) => isFloat(o.dtype));
  };
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** A TridentError from `fn`, reported as a failure message otherwise. */
function assertTridentError(fn: () => unknown, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof tr.TridentError, `${what} should raise a TridentError`);
}

/**
 * (a) The derivative along a random direction against central finite differences of
 * L = Σ ⟨ct, f(x)⟩: by vjp (⟨∇L, v⟩) or, for forward-only primitives, by jvp (⟨ct, J v⟩).
 */
async function gradCheck(s: Sample, seed: number): Promise<void> {
  const r = new Rng(seed);
  const xs = s.args(r);
  const diff = diffOf(s, xs);
  const g = restricted(s, xs, diff);
  const primals = diff.map((k) => xs[k]!);
  const outs = g(...primals);
  assert.ok(outs.length > 0, "the sample declares differentiable operands but has no float outputs");
  const cts = outs.map((o) => r.normal(o.shape, o.dtype));
  const forward = s.modes === "forward";
  const grads = forward ? [] : (tr.vjp(g, ...primals)[1](cts) as T[]);
  const loss = async (ds: T[]) => {
    let acc = 0;
    const ys = g(...ds);
    for (let i = 0; i < ys.length; i++) acc += dot(await read(ys[i]!), await read(cts[i]!));
    return acc;
  };
  const eps = s.eps ?? 1e-5, rtol = s.rtol ?? 1e-6;
  for (let j = 0; j < diff.length; j++) {
    const x = primals[j]!;
    const v = r.normal(x.shape, x.dtype);
    const shifted = (sgn: number) => primals.map((p, k) => (k === j ? tr.add(p, tr.mul(v, tr.tensor(sgn * eps, { dtype: x.dtype }))) : p));
    const fd = ((await loss(shifted(1))) - (await loss(shifted(-1)))) / (2 * eps);
    let an: number;
    if (forward) {
      const [, touts] = tr.jvp(g, primals, primals.map((p, k) => (k === j ? v : tr.zerosLike(p)))) as [T[], T[]];
      an = 0;
      for (let i = 0; i < touts.length; i++) an += dot(await read(touts[i]!), await read(cts[i]!));
    } else an = dot(await read(grads[j]!), await read(v));
    const scale = Math.max(Math.abs(fd), Math.abs(an), 1e-3);
    assert.ok(Math.abs(fd - an) <= rtol * scale, `operand ${diff[j]}: the ${forward ? "jvp" : "vjp"} gives ${an} along a random direction but finite differences give ${fd} (rtol ${rtol})`);
  }
}

/** (b) ⟨ct, J t⟩ = ⟨Jᵀ ct, t⟩; for one-mode primitives, the other mode raises a TridentError. */
async function jvpVjpCheck(s: Sample, seed: number): Promise<void> {
  const r = new Rng(seed);
  const xs = s.args(r);
  const diff = diffOf(s, xs);
  const g = restricted(s, xs, diff);
  const primals = diff.map((k) => xs[k]!);
  const tangents = primals.map((p) => r.normal(p.shape, p.dtype));
  if (s.modes === "reverse") return assertTridentError(() => tr.jvp(g, primals, tangents), "jvp of a reverse-only primitive");
  if (s.modes === "forward") return assertTridentError(() => tr.vjp(g, ...primals)[1](g(...primals)), "vjp of a forward-only primitive");
  const [outs, touts] = tr.jvp(g, primals, tangents) as [T[], T[]];
  const cts = outs.map((o) => r.normal(o.shape, o.dtype));
  const [, back] = tr.vjp(g, ...primals);
  const grads = back(cts) as T[];
  let fwd = 0, rev = 0;
  for (let i = 0; i < outs.length; i++) fwd += dot(await read(cts[i]!), await read(touts[i]!));
  for (let j = 0; j < primals.length; j++) rev += dot(await read(grads[j]!), await read(tangents[j]!));
  const rtol = Math.max(1e-9, s.rtol ?? 0);
  assert.ok(Math.abs(fwd - rev) <= rtol * Math.max(1, Math.abs(fwd)), `⟨ct, J t⟩ = ${fwd} but ⟨Jᵀ ct, t⟩ = ${rev} (rtol ${rtol})`);
}

/** In-axis layouts to try: all leading, all trailing, mixed with unbatched operands. */
function axisConfigs(xs: T[], unbatched: readonly number[] = []): (number | null)[][] {
  const n = xs.length;
  const cfgs: (number | null)[][] = [xs.map(() => 0), xs.map((x) => x.ndim)];
  if (n >= 2) {
    cfgs.push(xs.map((_, i) => (i === 0 ? null : 0)));
    cfgs.push(xs.map((x, i) => (i === 0 ? Math.min(1, x.ndim) : null)));
  } else if (xs[0]!.ndim >= 2) cfgs.push([1]);
  const seen = new Set<string>();
  return cfgs
    .map((c) => c.map((a, i) => (unbatched.includes(i) ? null : a)))
    .filter((c) => c.some((a) => a !== null) && !seen.has(c.join()) && !!seen.add(c.join()));
}

async function assertSameOutputs(got: T[], want: T[], what: string, rtol = 1e-10): Promise<void> {
  assert.equal(got.length, want.length, `${what}: ${got.length} outputs, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    assert.deepEqual(got[i]!.shape, want[i]!.shape, `${what}: output ${i} shape`);
    assert.equal(got[i]!.dtype, want[i]!.dtype, `${what}: output ${i} dtype`);
    const exact = !isFloat(want[i]!.dtype);
    assertClose(await read(got[i]!), await read(want[i]!), { rtol: exact ? 0 : rtol, atol: exact ? 0 : 1e-12, msg: `${what}: output ${i}` });
  }
}

async function vmapCheck(s: Sample, seed: number): Promise<void> {
  const r = new Rng(seed);
  const examples = Array.from({ length: BATCH }, () => s.args(r));
  for (const axes of axisConfigs(examples[0]!, s.unbatched)) {
    const batched = axes.map((a, i) => (a === null ? examples[0]![i]! : tr.stack(examples.map((e) => e[i]!), a)));
    const got = asList(tr.vmap((...xs: T[]) => s.fn(...xs), { inAxes: axes })(...batched) as T | T[]);
    const per = examples.map((e) => asList(s.fn(...e.map((x, i) => (axes[i] === null ? examples[0]![i]! : x)))));
    const want = per[0]!.map((_, k) => tr.stack(per.map((p) => p[k]!), 0));
    await assertSameOutputs(got, want, `vmap with inAxes [${axes.map(String)}]`);
  }
}

async function jitCheck(s: Sample, seed: number): Promise<void> {
  const r = new Rng(seed);
  const xs = s.args(r);
  const f = (...a: T[]) => s.fn(...a);
  await assertSameOutputs(asList(tr.jit(f)(...xs)), asList(f(...xs)), "jit");
  const diff = diffOf(s, xs);
  if (diff.length === 0 || s.modes === "forward") return;
  // the backward program compiled by jit equals the eager one
  const g = restricted(s, xs, diff);
  const primals = diff.map((k) => xs[k]!);
  const cts = g(...primals).map((o) => r.normal(o.shape, o.dtype));
  const vjpOf = (...ps: T[]) => (tr.vjp(g, ...ps)[1](cts) as T[]);
  await assertSameOutputs(tr.jit(vjpOf)(...primals), vjpOf(...primals), "jit of vjp");
}

function appears(s: Sample, name: string, seed: number): boolean {
  const xs = s.args(new Rng(seed));
  if ((s.appearsIn ?? "forward") === "forward") return primsIn(tr.makeJaxpr((...a: T[]) => s.fn(...a))(...xs)).has(name);
  const diff = diffOf(s, xs);
  const g = restricted(s, xs, diff);
  const lin = (...ps: T[]) => (tr.linearize(g, ...ps)[1] as (...t: T[]) => T[])(...ps);
  return primsIn(tr.makeJaxpr(lin)(...diff.map((k) => xs[k]!))).has(name);
}

describe("primitive coverage", () => {
  test("every registered primitive has a sample", () => {
    const missing = allPrimitives().map((p) => p.name).filter((n) => !(n in SAMPLES) || SAMPLES[n]!.length === 0);
    assert.deepEqual(missing, [], `primitives without a sample in test/conformance/samples.ts: ${missing.join(", ")}`);
  });
  test("every sample names a registered primitive", () => {
    const names = new Set(allPrimitives().map((p) => p.name));
    const stale = Object.keys(SAMPLES).filter((n) => !names.has(n));
    assert.deepEqual(stale, [], `samples for unknown primitives: ${stale.join(", ")}`);
  });
});

for (const backend of BACKENDS) {
  describe(`primitives (${backend})`, () => {
    for (const prim of allPrimitives()) {
      const samples = SAMPLES[prim.name] ?? [];
      samples.forEach((s, k) => {
        const label = `${prim.name}${s.label ? ` [${s.label}]` : samples.length > 1 ? ` #${k}` : ""}`;
        const seed = 1000 + 17 * k + [...prim.name].reduce((a, ch) => a * 31 + ch.charCodeAt(0), 7) % 9973;
        // which operands are differentiated decides which checks apply
        const diff = diffOf(s, s.args(new Rng(seed)));
        describe(label, () => {
          test("binds the primitive", () => withBackend(backend, () => assert.ok(appears(s, prim.name, seed), `the sample does not bind ${prim.name}`)));
          if (diff.length > 0) {
            test("gradient matches finite differences", () => withBackend(backend, () => tr.scope(() => gradCheck(s, seed))));
            test(s.modes === "reverse" ? "jvp raises (reverse-mode only)" : s.modes === "forward" ? "vjp raises (forward-mode only)" : "jvp agrees with vjp", () => withBackend(backend, () => tr.scope(() => jvpVjpCheck(s, seed))));
          }
          test("vmap equals a loop", () => withBackend(backend, () => tr.scope(() => vmapCheck(s, seed))));
          test("jit equals eager", () => withBackend(backend, () => tr.scope(() => jitCheck(s, seed))));
        });
      });
    }
  });
}
