// The protocol-independent server: validates a request against the model's signature, runs it through an
// executor, and shapes the response. The REST, gRPC and TF Serving front ends all call this.
import { scope } from "../memory.js";
import type { Tensor } from "../tensor.js";
import type { ModelRepository } from "./repository.js";
import type { ServedModel } from "./model.js";
import { fromModelTensor, shapeMatches, toModelTensor } from "./tensors.js";
import { ServeError, type InferRequest, type InferResponse, type InferTensor, type ModelMetadata } from "./types.js";

/**
 * Runs validated inputs through a model. The in-process executor runs on the calling thread; dynamic
 * batching and worker-thread instances are executors too, wrapping or replacing it.
 */
export interface Executor {
  execute(model: ServedModel, inputs: InferTensor[]): Promise<InferTensor[]>;
  /** Forget per-model state (queues, workers) of a model version being unloaded. */
  close?(): Promise<void>;
}

/** Runs on this thread: wire tensors to Trident tensors, the jitted forward, and back, in one scope. */
export const inProcess: Executor = {
  async execute(model, inputs) {
    return scope(() => {
      const feeds: Record<string, Tensor> = {};
      for (const t of inputs) feeds[t.name] = toModelTensor(model.inputs.find((s) => s.name === t.name)!, t);
      const outs = model.run(feeds);
      return model.outputs.map((s) => fromModelTensor(s.name, s, outs[s.name]!)).concat(
        Object.keys(outs).filter((k) => !model.outputs.some((s) => s.name === k)).map((k) => fromModelTensor(k, undefined, outs[k]!)),
      );
    });
  },
};

export interface ServerInfo {
  name: string;
  version: string;
  extensions: string[];
}

export class InferenceCore {
  /** False once draining starts, so readiness fails first and load balancers stop sending. */
  accepting = true;

  constructor(
    readonly repository: ModelRepository,
    readonly executor: Executor = inProcess,
    readonly info: ServerInfo = { name: "trident", version: "0.1.0", extensions: ["binary_tensor_data", "model_repository"] },
  ) {}

  isLive(): boolean {
    return true;
  }
  isReady(): boolean {
    const index = this.repository.index();
    return this.accepting && this.repository.modelNames().every((m) => this.repository.isReady(m) || index.some((e) => e.name === m && e.reason === "unloaded"));
  }
  modelReady(name: string, version?: string): boolean {
    if (!this.repository.modelNames().includes(name)) throw new ServeError(404, `unknown model "${name}"`);
    return this.accepting && this.repository.isReady(name, version);
  }

  modelMetadata(name: string, version?: string): ModelMetadata {
    const lease = this.repository.acquire(name, version);
    try {
      const m = lease.model;
      return { name, versions: this.repository.readyVersions(name), platform: m.platform, inputs: m.inputs, outputs: m.outputs };
    } finally {
      lease.release();
    }
  }

  /** Validate, run and shape one inference request. */
  async infer(name: string, version: string | undefined, req: InferRequest): Promise<InferResponse> {
    if (!this.accepting) throw new ServeError(503, "the server is shutting down");
    const lease = this.repository.acquire(name, version);
    try {
      const m = lease.model;
      checkInputs(m, req.inputs);
      const wanted = req.outputs?.map((o) => o.name);
      for (const w of wanted ?? []) if (!m.outputs.some((s) => s.name === w)) throw new ServeError(400, `unknown output "${w}"; the model's outputs are ${m.outputs.map((s) => s.name).join(", ")}`);
      const outs = await this.executor.execute(m, req.inputs);
      const chosen = wanted ? wanted.map((w) => outs.find((o) => o.name === w)!) : outs;
      const res: InferResponse = { modelName: name, modelVersion: m.version, outputs: chosen };
      if (req.id !== undefined) res.id = req.id;
      return res;
    } finally {
      lease.release();
    }
  }
}

function checkInputs(m: ServedModel, inputs: InferTensor[]): void {
  const seen = new Set<string>();
  for (const t of inputs) {
    if (seen.has(t.name)) throw new ServeError(400, `input "${t.name}" is given twice`);
    seen.add(t.name);
    const spec = m.inputs.find((s) => s.name === t.name);
    if (!spec) throw new ServeError(400, `unknown input "${t.name}"; the model's inputs are ${m.inputs.map((s) => s.name).join(", ")}`);
    if (t.datatype !== spec.datatype) throw new ServeError(400, `input "${t.name}": expected datatype ${spec.datatype}, got ${t.datatype}`);
    if (!shapeMatches(spec.shape, t.shape)) throw new ServeError(400, `input "${t.name}": expected shape [${spec.shape}] (-1: any size), got [${t.shape}]`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new ServeError(400, `input "${t.name}": data has ${t.data.length} elements but shape [${t.shape}] needs ${n}`);
  }
  for (const s of m.inputs) if (!seen.has(s.name)) throw new ServeError(400, `missing input "${s.name}" (${s.datatype} [${s.shape}])`);
  const max = m.config.maxBatchSize;
  if (max !== undefined && max > 0) {
    for (const t of inputs) if ((t.shape[0] ?? 0) > max) throw new ServeError(400, `input "${t.name}": batch ${t.shape[0]} exceeds the model's maxBatchSize ${max}`);
  }
}
