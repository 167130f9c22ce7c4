import { TridentError } from "../../core/errors.js";
import type { Heap } from "./heap.js";

/** JS imports a worker can provide (Math only); kernels needing others run on the calling thread. */
export const WORKER_IMPORTS = new Set([
  "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
  "logistic", "pow", "atan2", "fmod",
]);

// Control block layout (int32 slots) in the shared memory.
const SEQ = 0, NEXT = 1, DONE = 2, NCHUNKS = 3, ID = 4, ROWS = 5, CHUNK = 6, NARGS = 7, ERR = 8, QUIT = 9, PAGES = 10, NFAILED = 11, ARGS = 16, SCRATCH = 96, FAILED = 256;
/** Chunks a job can hand back to the caller (see `run`); more failures than this are an error. */
const MAX_FAILED = 768;
const SLOTS = FAILED + MAX_FAILED;
const MAX_ARGS = SCRATCH - ARGS;
/** Buffers a kernel may take and still be split across threads. */
export const MAX_POOL_ARGS = MAX_ARGS;
const MAX_WORKERS = FAILED - SCRATCH;
/** NEXT is parked here between jobs so that a late worker never takes a chunk of the next job early. */
const PARKED = 1 << 30;

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";

/** Whether worker threads can share memory here (Node, or a cross-origin-isolated page). */
export function threadsPossible(): boolean {
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") return false;
  if (isNode) return true;
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof Worker !== "undefined";
}

/** Cores reported synchronously (browsers, Node ≥ 21); 0 when only an asynchronous probe can tell. */
export function defaultThreads(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === "number" && n > 0 ? n : 0;
}

// The worker body shared by both environments: take chunks of the current job until none is left.
const JOB_LOOP = `
const SEQ=${SEQ},NEXT=${NEXT},DONE=${DONE},NCHUNKS=${NCHUNKS},ID=${ID},ROWS=${ROWS},CHUNK=${CHUNK},NARGS=${NARGS},ERR=${ERR},QUIT=${QUIT},PAGES=${PAGES},NFAILED=${NFAILED},ARGS=${ARGS},SCRATCH=${SCRATCH},FAILED=${FAILED},MAX_FAILED=${MAX_FAILED};
let pages=0;
const M={exp:Math.exp,log:Math.log,log1p:Math.log1p,expm1:Math.expm1,sin:Math.sin,cos:Math.cos,tan:Math.tan,tanh:Math.tanh,
asin:Math.asin,acos:Math.acos,atan:Math.atan,sinh:Math.sinh,cosh:Math.cosh,asinh:Math.asinh,acosh:Math.acosh,atanh:Math.atanh,
logistic:(x)=>1/(1+Math.exp(-x)),pow:Math.pow,atan2:Math.atan2,fmod:(a,b)=>a%b};
const insts=new Map();
function take(msg){
  if(msg.type!=="module")return;
  const m={};for(const n of msg.imports)m[n]=M[n];
  insts.set(msg.id,new WebAssembly.Instance(msg.module,{env:{mem},m}).exports.run);
}
const argv=[];
function work(ctl,index,get){
  for(;;){
    const c=Atomics.add(ctl,NEXT,1);
    const n=Atomics.load(ctl,NCHUNKS);
    if(c>=n)return;
    // whatever happens, the chunk is counted as done so that the caller never waits forever
    try{
      // a memory grown by the calling thread may not be visible to this thread's instances yet (browsers
      // broadcast growth lazily); grow(0) brings them up to the current size
      const p=Atomics.load(ctl,PAGES);
      if(p!==pages){mem.grow(0);pages=p;}
      const run=get(Atomics.load(ctl,ID));
      const na=Atomics.load(ctl,NARGS),rows=Atomics.load(ctl,ROWS),chunk=Atomics.load(ctl,CHUNK);
      argv.length=na+3;
      for(let i=0;i<na;i++)argv[i]=Atomics.load(ctl,ARGS+i);
      argv[na]=c*chunk;argv[na+1]=Math.min(rows,(c+1)*chunk);argv[na+2]=Atomics.load(ctl,SCRATCH+index);
      run(...argv);
    }catch(e){
      // hand the chunk back: the caller runs it on its own thread, where the memory is current
      const i=Atomics.add(ctl,NFAILED,1);
      if(i<MAX_FAILED)Atomics.store(ctl,FAILED+i,c);else Atomics.store(ctl,ERR,1);
    }
    if(Atomics.add(ctl,DONE,1)+1===n)Atomics.notify(ctl,DONE);
  }
}
`;

const NODE_WORKER = `
const wt=require("node:worker_threads");
const {mem,ctlPtr,index,port}=wt.workerData;
${JOB_LOOP}
const ctl=new Int32Array(mem.buffer,ctlPtr,${SLOTS});
function get(id){
  let r=insts.get(id);
  while(!r){
    const m=wt.receiveMessageOnPort(port);
    if(m)take(m.message);else Atomics.wait(ctl,QUIT,0,1);
    r=insts.get(id);
  }
  return r;
}
wt.parentPort.postMessage("ready");
let seen=-1;
for(;;){
  let s=Atomics.load(ctl,SEQ);
  for(let i=0;i<20000&&s===seen;i++)s=Atomics.load(ctl,SEQ);
  if(s===seen){Atomics.wait(ctl,SEQ,seen);continue;}
  seen=s;
  if(Atomics.load(ctl,QUIT))break;
  work(ctl,index,get);
}
`;

const BROWSER_WORKER = `
let mem,ctl,index;
${JOB_LOOP}
const tick=()=>new Promise((r)=>setTimeout(r,0));
async function loop(){
  let seen=-1;
  for(;;){
    const s=Atomics.load(ctl,SEQ);
    if(s===seen){
      if(Atomics.waitAsync){const w=Atomics.waitAsync(ctl,SEQ,seen);if(w.async)await w.value;}
      else{Atomics.wait(ctl,SEQ,seen,2);await tick();}
      continue;
    }
    seen=s;
    if(Atomics.load(ctl,QUIT))return;
    // a job may need a module whose message has not been handled yet: yield until it is
    const id=Atomics.load(ctl,ID);
    while(Atomics.load(ctl,NEXT)<Atomics.load(ctl,NCHUNKS)&&!insts.has(id))await tick();
    work(ctl,index,(i)=>{const r=insts.get(i);if(!r)throw new Error("module "+i+" missing");return r;});
  }
}
onmessage=(ev)=>{const m=ev.data;if(m.type==="init"){mem=m.mem;index=m.index;ctl=new Int32Array(mem.buffer,m.ctlPtr,${SLOTS});postMessage("ready");loop();}else take(m);};
`;

interface WorkerLike {
  post(msg: unknown): void;
  terminate(): void;
}

/** The parts of an executable the pool needs. */
export interface PoolJob {
  readonly id: number;
  readonly module: WebAssembly.Module;
  readonly run: (...a: number[]) => void;
  readonly args: number[];
  readonly info: { rows: number; grain: number; imports: string[] };
}

/**
 * Worker threads over the backend's shared memory. A job is a kernel whose [0, rows) range is cut into
 * chunks; every thread (the caller too) takes chunks with an atomic counter until none is left, and the
 * caller waits for the count of finished chunks with Atomics.wait. Workers sleep in Atomics.wait on a
 * sequence number. Modules are posted to each worker once and instantiated there on first use.
 */
export class Pool {
  private ctl: Int32Array;
  private ctlBlock: { ptr: number; cls: number };
  private workers: WorkerLike[] = [];
  private modules = new Map<number, { type: "module"; id: number; module: WebAssembly.Module; imports: string[] }>();
  private started: Promise<void>;
  private closed = false;
  private canBlock = isNode;
  /** Worker count once started (the constructor's request, or cores − 1 when it was 0). */
  size: number;
  /** Chunks so far that a worker could not run and the caller ran instead. */
  handedBack = 0;

  constructor(private heap: Heap, workers: number) {
    this.ctlBlock = heap.malloc(SLOTS * 4);
    this.ctl = new Int32Array(heap.memory.buffer, this.ctlBlock.ptr, SLOTS);
    this.ctl.fill(0);
    this.ctl[NEXT] = PARKED;
    this.size = workers;
    // a pool that cannot start leaves the backend single-threaded (kernels never wait for workers)
    this.started = this.start(workers).catch((e: unknown) => {
      this.error = e;
      for (const w of this.workers) w.terminate();
      this.workers = [];
      this.size = 0;
    });
  }
  /** Why the workers could not start, if they could not. */
  error: unknown = null;

  private async start(n: number): Promise<void> {
    if (isNode) {
      // module names in variables keep browser bundlers from trying to resolve Node built-ins
      const wtName = "node:worker_threads", osName = "node:os";
      const wt = (await import(/* @vite-ignore */ wtName)) as typeof import("node:worker_threads");
      if (n <= 0) n = ((await import(/* @vite-ignore */ osName)) as typeof import("node:os")).availableParallelism() - 1;
      n = Math.min(n, MAX_WORKERS);
      this.size = n;
      const ready: Promise<void>[] = [];
      for (let i = 0; i < n && !this.closed; i++) {
        const { port1, port2 } = new wt.MessageChannel();
        const w = new wt.Worker(NODE_WORKER, { eval: true, execArgv: [], workerData: { mem: this.heap.memory, ctlPtr: this.ctlBlock.ptr, index: i, port: port2 }, transferList: [port2] });
        ready.push(new Promise<void>((res, rej) => {
          w.once("message", () => {
            w.unref();
            res();
          });
          w.once("error", rej);
        }));
        for (const m of this.modules.values()) port1.postMessage(m);
        this.workers.push({ post: (m) => port1.postMessage(m), terminate: () => void w.terminate() });
      }
      await Promise.all(ready);
      return;
    }
    n = Math.min(n <= 0 ? Math.max(1, defaultThreads() - 1) : n, MAX_WORKERS);
    this.size = n;
    const url = URL.createObjectURL(new Blob([BROWSER_WORKER], { type: "text/javascript" }));
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(url);
      ready.push(new Promise<void>((res) => w.addEventListener("message", () => res(), { once: true })));
      w.postMessage({ type: "init", mem: this.heap.memory, ctlPtr: this.ctlBlock.ptr, index: i });
      for (const m of this.modules.values()) w.postMessage(m);
      this.workers.push({ post: (m) => w.postMessage(m), terminate: () => w.terminate() });
    }
    await Promise.all(ready);
  }

  ready(): Promise<void> {
    return this.started;
  }

  /** Run job e over its rows on every thread; `n` is the number of pointer arguments in e.args. */
  run(e: PoolJob, n: number, scratchOf: (thread: number) => number): void {
    if (n > MAX_ARGS) throw new TridentError(`wasm: a kernel with ${n} buffers exceeds the thread pool's ${MAX_ARGS}`);
    const nScratch = this.workers.length;
    for (let w = 0; w < nScratch; w++) scratchOf(w + 1);
    if (!this.modules.has(e.id)) {
      const msg = { type: "module" as const, id: e.id, module: e.module, imports: e.info.imports };
      this.modules.set(e.id, msg);
      for (const w of this.workers) w.post(msg);
    }
    // the memory may have grown since the view was made
    if (this.ctl.buffer !== this.heap.memory.buffer) this.ctl = new Int32Array(this.heap.memory.buffer, this.ctlBlock.ptr, SLOTS);
    const ctl = this.ctl;
    const { rows, grain } = e.info;
    const threads = this.workers.length + 1;
    let chunk = Math.ceil(rows / (threads * 4));
    chunk = Math.ceil(chunk / grain) * grain;
    const nChunks = Math.ceil(rows / chunk);
    const args = e.args;
    for (let i = 0; i < n; i++) ctl[ARGS + i] = args[i]!;
    for (let w = 0; w < this.workers.length; w++) ctl[SCRATCH + w] = scratchOf(w + 1);
    ctl[ID] = e.id;
    ctl[PAGES] = this.heap.memory.buffer.byteLength >>> 16;
    ctl[ROWS] = rows;
    ctl[CHUNK] = chunk;
    ctl[NARGS] = n;
    Atomics.store(ctl, NCHUNKS, nChunks);
    Atomics.store(ctl, NFAILED, 0);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, NEXT, 0);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    let failure: unknown = null;
    const runChunk = (c: number): void => {
      args[n] = c * chunk;
      args[n + 1] = Math.min(rows, (c + 1) * chunk);
      try {
        e.run(...args);
      } catch (err) {
        failure = err;
      }
    };
    for (;;) {
      const c = Atomics.add(ctl, NEXT, 1);
      if (c >= nChunks) break;
      runChunk(c);
      Atomics.add(ctl, DONE, 1);
    }
    for (let spin = 0; ; spin++) {
      const d = Atomics.load(ctl, DONE);
      if (d >= nChunks) break;
      if (spin > 2000 && this.canBlock) {
        try {
          Atomics.wait(ctl, DONE, d, 50);
        } catch {
          this.canBlock = false;
        }
      }
    }
    Atomics.store(ctl, NEXT, PARKED);
    // Chunks a worker could not run (a browser worker that has not yet seen a memory growth traps on the
    // new pages; a module it has not received) are run here. Kernels write their outputs without reading
    // them first (outputs never alias inputs), so a partly written chunk is simply written again.
    const nFailed = Math.min(Atomics.load(ctl, NFAILED), MAX_FAILED);
    this.handedBack += nFailed;
    for (let i = 0; i < nFailed && !failure; i++) runChunk(ctl[FAILED + i]!);
    if (failure) throw failure;
    if (Atomics.load(ctl, ERR)) {
      Atomics.store(ctl, ERR, 0);
      throw new TridentError(`wasm: more than ${MAX_FAILED} chunks of a kernel failed on worker threads`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.heap.release(this.ctlBlock.ptr, this.ctlBlock.cls);
  }
}
