/**
 * The part of `node:test` the suites use (describe/it/test with options, .skip/.todo/.only, hooks,
 * subtests through the context), for running them in a browser. Registration happens while a suite
 * module is imported; `runRegistered` then runs what was registered, one test at a time, in order.
 */

export interface TestOptions {
  skip?: boolean | string;
  todo?: boolean | string;
  only?: boolean;
  timeout?: number;
  concurrency?: number | boolean;
}

type Hook = () => unknown;
type TestFn = (t: TestContext) => unknown;
type SuiteFn = (s: unknown) => unknown;

interface Suite {
  name: string;
  children: (Suite | Case)[];
  before: Hook[];
  after: Hook[];
  beforeEach: Hook[];
  afterEach: Hook[];
  skip: string | null;
  pending: Promise<unknown>[];
}

interface Case {
  name: string;
  fn: TestFn | null;
  skip: string | null;
  todo: string | null;
}

export interface TestResult {
  path: string[];
  name: string;
  status: "pass" | "fail" | "skip" | "todo";
  ms: number;
  error?: string;
}

const newSuite = (name: string, skip: string | null): Suite => ({ name, children: [], before: [], after: [], beforeEach: [], afterEach: [], skip, pending: [] });
let root = newSuite("", null);
let stack: Suite[] = [root];
const current = (): Suite => stack[stack.length - 1]!;

function parse<F>(args: unknown[]): { name: string; opts: TestOptions; fn: F | null } {
  let name = "<anonymous>", opts: TestOptions = {}, fn: F | null = null;
  for (const a of args) {
    if (typeof a === "string") name = a;
    else if (typeof a === "function") fn = a as F;
    else if (a && typeof a === "object") opts = a as TestOptions;
  }
  if (name === "<anonymous>" && fn && (fn as unknown as { name?: string }).name) name = (fn as unknown as { name: string }).name;
  return { name, opts, fn };
}

const reason = (v: boolean | string | undefined, word: string): string | null => (v ? (typeof v === "string" ? v : word) : null);

function addSuite(args: unknown[], forced: Partial<TestOptions> = {}): void {
  const { name, opts, fn } = parse<SuiteFn>(args);
  const s = newSuite(name, reason(forced.skip ?? opts.skip ?? opts.todo, "skipped"));
  current().children.push(s);
  stack.push(s);
  try {
    const r = fn?.(s);
    if (r instanceof Promise) s.pending.push(r);
  } finally {
    stack.pop();
  }
}

function addTest(args: unknown[], forced: Partial<TestOptions> = {}): void {
  const { name, opts, fn } = parse<TestFn>(args);
  current().children.push({ name, fn, skip: reason(forced.skip ?? opts.skip, "skipped"), todo: reason(forced.todo ?? opts.todo, "todo") });
}

/** The call forms node:test accepts: (name, fn), (name, options, fn), (fn), with .skip/.todo/.only. */
interface Register<F> {
  (name: string, fn?: F): void;
  (name: string, options: TestOptions, fn?: F): void;
  (fn: F): void;
}
type Registrar<F> = Register<F> & { skip: Register<F>; todo: Register<F>; only: Register<F> };
function registrar<F>(add: (args: unknown[], f?: Partial<TestOptions>) => void): Registrar<F> {
  const r = (...a: unknown[]) => add(a);
  return Object.assign(r as Register<F>, {
    skip: ((...a: unknown[]) => add(a, { skip: true })) as Register<F>,
    todo: ((...a: unknown[]) => add(a, { todo: true })) as Register<F>,
    only: ((...a: unknown[]) => add(a)) as Register<F>,
  });
}

/** `describe(name, [options], fn)` */
export const describe = registrar<SuiteFn>(addSuite);
export const suite = describe;
/** `test(name, [options], fn)` */
export const test = registrar<TestFn>(addTest);
export const it = test;
export const before = (fn: Hook): void => void current().before.push(fn);
export const after = (fn: Hook): void => void current().after.push(fn);
export const beforeEach = (fn: Hook): void => void current().beforeEach.push(fn);
export const afterEach = (fn: Hook): void => void current().afterEach.push(fn);

/** What a test function receives as `t`. */
export class TestContext {
  readonly subtests: { name: string; fn: TestFn; opts: TestOptions }[] = [];
  skipped: string | null = null;
  constructor(readonly name: string) {}
  skip(message = "skipped"): void {
    this.skipped = message;
  }
  todo(message = "todo"): void {
    this.skipped = message;
  }
  diagnostic(message: string): void {
    console.log(`# ${this.name}: ${message}`);
  }
  test(...args: unknown[]): Promise<void> {
    const { name, opts, fn } = parse<TestFn>(args);
    if (fn) this.subtests.push({ name, fn, opts });
    return Promise.resolve();
  }
}

const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}${e.stack ? `\n${e.stack.split("\n").slice(1, 6).join("\n")}` : ""}` : String(e));

/** Says why a test must not run here (it needs Node), or null. */
export type SkipRule = (path: string[], name: string) => string | null;
let skipRule: SkipRule = () => null;

async function runCase(c: Case, path: string[], hooks: { beforeEach: Hook[]; afterEach: Hook[] }, report: (r: TestResult) => void): Promise<void> {
  const ruled = skipRule(path, c.name);
  if (c.skip || c.todo || !c.fn || ruled) {
    report({ path, name: c.name, status: c.todo ? "todo" : "skip", ms: 0, error: ruled ?? undefined });
    return;
  }
  const t0 = performance.now();
  const ctx = new TestContext(c.name);
  try {
    for (const h of hooks.beforeEach) await h();
    await c.fn(ctx);
    for (const h of hooks.afterEach) await h();
  } catch (e) {
    report({ path, name: c.name, status: "fail", ms: performance.now() - t0, error: message(e) });
    return;
  }
  report({ path, name: c.name, status: ctx.skipped ? "skip" : "pass", ms: performance.now() - t0 });
  for (const s of ctx.subtests) {
    await runCase({ name: s.name, fn: s.fn, skip: reason(s.opts.skip, "skipped"), todo: reason(s.opts.todo, "todo") }, [...path, c.name], { beforeEach: [], afterEach: [] }, report);
  }
}

async function runSuite(s: Suite, path: string[], outer: { beforeEach: Hook[]; afterEach: Hook[] }, report: (r: TestResult) => void): Promise<void> {
  await Promise.all(s.pending);
  const here = s.name ? [...path, s.name] : path;
  const hooks = { beforeEach: [...outer.beforeEach, ...s.beforeEach], afterEach: [...s.afterEach, ...outer.afterEach] };
  const skipAll = (x: Suite | Case, p: string[]): void => {
    if ("children" in x) for (const y of x.children) skipAll(y, [...p, x.name]);
    else report({ path: p, name: x.name, status: "skip", ms: 0 });
  };
  if (s.skip) {
    for (const c of s.children) skipAll(c, here);
    return;
  }
  try {
    for (const h of s.before) await h();
  } catch (e) {
    report({ path: here, name: "before hook", status: "fail", ms: 0, error: message(e) });
    return;
  }
  for (const c of s.children) {
    if ("children" in c) await runSuite(c, here, hooks, report);
    else await runCase(c, here, hooks, report);
  }
  try {
    for (const h of s.after) await h();
  } catch (e) {
    report({ path: here, name: "after hook", status: "fail", ms: 0, error: message(e) });
  }
}

/** Forget what was registered (before importing the next suite module). */
export function resetRegistry(): void {
  root = newSuite("", null);
  stack = [root];
}

/** Run everything registered since the last reset, reporting each test as it ends. */
export async function runRegistered(report: (r: TestResult) => void, skip: SkipRule = () => null): Promise<void> {
  skipRule = skip;
  try {
    await runSuite(root, [], { beforeEach: [], afterEach: [] }, report);
  } finally {
    skipRule = () => null;
  }
}

export default test;
