// The Open Inference Protocol's gRPC front end: the service inference.GRPCInferenceService of the spec's
// open_inference_grpc.proto (loaded at run time with @grpc/proto-loader), translating its messages to and
// from the InferenceCore's. Tensor data comes in typed `contents` or in `raw_input_contents`; outputs go
// out in `raw_output_contents` unless the request asks for typed contents (see `wantsRawOutputs`).
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { InferenceCore } from "./core.js";
import { decodeBinary, encodeBinary, isDatatype } from "./tensors.js";
import { ServeError, type HostData, type InferRequest, type InferResponse, type InferTensor, type OipDatatype } from "./types.js";

/** The spec's proto, shipped beside this module (the build copies src/serve/*.proto to dist/serve/). */
export const OIP_PROTO_PATH = fileURLToPath(new URL("./open_inference_grpc.proto", import.meta.url));

/** proto-loader options of server and clients: int64 as decimal strings (exact), defaults filled in, oneofs named. */
export const OIP_PROTO_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** Default limit of a received or sent message (bytes). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

let pkg: grpc.GrpcObject | undefined;

/** The proto's `inference` package (cached): `GRPCInferenceService` is a client constructor with `.service`. */
export function loadOipPackage(): grpc.GrpcObject {
  pkg ??= grpc.loadPackageDefinition(protoLoader.loadSync(OIP_PROTO_PATH, OIP_PROTO_OPTIONS)).inference as grpc.GrpcObject;
  return pkg;
}

// ---- wire messages as proto-loader decodes them (keepCase, longs as strings, defaults, oneofs) ----

type ParamChoice = "bool_param" | "int64_param" | "string_param" | "double_param" | "uint64_param";
export interface WireParam {
  parameter_choice?: ParamChoice;
  bool_param?: boolean;
  int64_param?: string | number;
  string_param?: string;
  double_param?: number;
  uint64_param?: string | number;
}
export type WireParams = Record<string, WireParam>;

export interface WireContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: (string | number)[];
  uint_contents: number[];
  uint64_contents: (string | number)[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Uint8Array[];
}

export interface WireInput {
  name: string;
  datatype: string;
  shape: (string | number)[];
  parameters: WireParams;
  contents: Partial<WireContents> | null;
}

export interface WireInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: WireParams;
  inputs: WireInput[];
  outputs: { name: string; parameters: WireParams }[];
  raw_input_contents: Uint8Array[];
}

export interface WireOutput {
  name: string;
  datatype: string;
  shape: number[];
  parameters: WireParams;
  contents: Partial<WireContents> | null;
}

export interface WireInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: WireParams;
  outputs: WireOutput[];
  raw_output_contents: Uint8Array[];
}

// ---- parameters (InferParameter's oneof) ----

function longValue(v: string | number): number | bigint {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : BigInt(v);
}

/** Wire parameters as plain values (int64/uint64 as numbers when safe, else bigint); undefined when none. */
export function fromWireParams(p: WireParams | undefined): Record<string, unknown> | undefined {
  const keys = Object.keys(p ?? {});
  if (keys.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = p![k]!;
    const choice = v.parameter_choice;
    if (!choice) continue; // a parameter with no value set
    const x = v[choice];
    out[k] = choice === "int64_param" || choice === "uint64_param" ? longValue(x as string | number) : x;
  }
  return out;
}

/** Plain values as wire parameters: booleans, integers (int64, or uint64 past int64's range), other numbers (double), strings. */
export function toWireParams(p: Record<string, unknown> | undefined): WireParams {
  const out: WireParams = {};
  for (const [k, v] of Object.entries(p ?? {})) {
    if (typeof v === "boolean") out[k] = { bool_param: v };
    else if (typeof v === "string") out[k] = { string_param: v };
    else if (typeof v === "number") out[k] = Number.isSafeInteger(v) ? { int64_param: String(v) } : { double_param: v };
    else if (typeof v === "bigint") out[k] = v > 0x7fffffffffffffffn ? { uint64_param: String(v) } : { int64_param: String(v) };
    else if (v !== undefined && v !== null) out[k] = { string_param: JSON.stringify(v) };
  }
  return out;
}

function boolParam(where: string, p: WireParams | undefined, key: string): boolean | undefined {
  const v = p?.[key];
  if (!v?.parameter_choice) return undefined;
  if (v.parameter_choice !== "bool_param") throw new ServeError(400, `${where}parameter "${key}" must be a bool_param, got ${v.parameter_choice}`);
  return v.bool_param === true;
}

/**
 * Whether the response carries its outputs in `raw_output_contents` (true) or in each output's typed
 * `contents` (false). The spec leaves the choice to the server and forbids mixing the two in one response.
 * Raw is the default (as Triton does; what its clients expect); the request asks for typed contents with the
 * binary tensor extension's parameters: `binary_data_output: false` on the request, or `binary_data: false`
 * on each requested output (a per-output value overrides the request's). Requested outputs that disagree are
 * an INVALID_ARGUMENT.
 */
export function wantsRawOutputs(req: Pick<WireInferRequest, "parameters" | "outputs">): boolean {
  const all = boolParam("", req.parameters, "binary_data_output");
  const per = (req.outputs ?? []).map((o) => boolParam(`output "${o.name}": `, o.parameters, "binary_data") ?? all ?? true);
  if (per.length === 0) return all ?? true;
  if (per.some((x) => x) && per.some((x) => !x)) {
    throw new ServeError(400, `requested outputs mix binary_data true and false, but a gRPC response carries either raw_output_contents for every output or contents for every output`);
  }
  return per[0]!;
}

// ---- tensors ----

type TypedDatatype = Exclude<OipDatatype, "BYTES" | "FP16">;
type ContentsField = Exclude<keyof WireContents, "bytes_contents">;

/** The typed `contents` field of each datatype (FP16 has none: it goes raw). */
export const CONTENTS_FIELD: Record<TypedDatatype, ContentsField> = {
  BOOL: "bool_contents", INT8: "int_contents", INT16: "int_contents", INT32: "int_contents", INT64: "int64_contents",
  UINT8: "uint_contents", UINT16: "uint_contents", UINT32: "uint_contents", UINT64: "uint64_contents", FP32: "fp32_contents", FP64: "fp64_contents",
};
const ALL_FIELDS: (keyof WireContents)[] = ["bool_contents", "int_contents", "int64_contents", "uint_contents", "uint64_contents", "fp32_contents", "fp64_contents", "bytes_contents"];

const RANGE: Partial<Record<OipDatatype, [number, number]>> = { INT8: [-128, 127], INT16: [-32768, 32767], UINT8: [0, 255], UINT16: [0, 65535] };

function parseShape(where: string, shape: (string | number)[]): number[] {
  return shape.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw new ServeError(400, `${where}: shape [${shape}] must hold non-negative integers`);
    return n;
  });
}

const nonEmpty = (c: Partial<WireContents> | null | undefined) => ALL_FIELDS.filter((f) => (c?.[f]?.length ?? 0) > 0);

/** Typed `contents` as host data, checked: the field that matches the datatype, its count, its range. */
export function fromContents(where: string, datatype: OipDatatype, shape: readonly number[], contents: Partial<WireContents> | null | undefined): HostData {
  if (datatype === "BYTES") throw new ServeError(400, `${where}: datatype BYTES is not supported by Trident's models`);
  if (datatype === "FP16") throw new ServeError(400, `${where}: FP16 data must be sent in raw_input_contents (the proto has no 16-bit contents field)`);
  const field = CONTENTS_FIELD[datatype];
  const stray = nonEmpty(contents).filter((f) => f !== field);
  if (stray.length) throw new ServeError(400, `${where}: ${datatype} data goes in contents.${field}, got contents.${stray.join(", contents.")}`);
  const values = (contents?.[field] ?? []) as readonly unknown[];
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new ServeError(400, `${where}: contents.${field} has ${values.length} elements but shape [${shape}] needs ${n}`);
  const range = RANGE[datatype];
  if (range) {
    const i = (values as number[]).findIndex((v) => v < range[0] || v > range[1]);
    if (i >= 0) throw new ServeError(400, `${where}: value ${values[i]} at element ${i} is out of ${datatype}'s range`);
  }
  switch (datatype) {
    case "BOOL": return values as boolean[];
    case "INT8": return Int8Array.from(values as number[]);
    case "INT16": return Int16Array.from(values as number[]);
    case "INT32": return Int32Array.from(values as number[]);
    case "UINT8": return Uint8Array.from(values as number[]);
    case "UINT16": return Uint16Array.from(values as number[]);
    case "UINT32": return Uint32Array.from(values as number[]);
    case "INT64": return BigInt64Array.from(values as (string | number)[], (v) => BigInt(v));
    case "UINT64": return BigUint64Array.from(values as (string | number)[], (v) => BigInt(v));
    case "FP32": return Float32Array.from(values as number[]);
    case "FP64": return Float64Array.from(values as number[]);
  }
}

/** Host data as typed `contents` (64-bit integers as decimal strings). */
export function toContents(t: InferTensor): Partial<WireContents> {
  if (t.datatype === "BYTES" || t.datatype === "FP16") throw new ServeError(400, `output "${t.name}": ${t.datatype} has no typed contents field; ask for raw outputs`);
  const field = CONTENTS_FIELD[t.datatype];
  const d = t.data;
  const values = d instanceof BigInt64Array || d instanceof BigUint64Array ? Array.from(d, String) : Array.from(d as ArrayLike<number | boolean>);
  return { [field]: t.datatype === "BOOL" ? values.map(Boolean) : values };
}

/** A decoded ModelInferRequest as the core's request. */
export function toInferRequest(r: WireInferRequest): InferRequest {
  const raw = r.raw_input_contents ?? [];
  const inputs = r.inputs ?? [];
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw new ServeError(400, `raw_input_contents has ${raw.length} entries but the request has ${inputs.length} inputs (one entry per input, in order)`);
  }
  const tensors = inputs.map((t, i): InferTensor => {
    const where = `input "${t.name}"`;
    if (!isDatatype(t.datatype)) throw new ServeError(400, `${where}: unknown datatype "${t.datatype}"`);
    const shape = parseShape(where, t.shape ?? []);
    let data: HostData;
    if (raw.length > 0) {
      if (nonEmpty(t.contents).length) throw new ServeError(400, `${where}: contents must not be given when raw_input_contents is used`);
      data = decodeBinary(where, t.datatype, shape, raw[i]!);
    } else {
      data = fromContents(where, t.datatype, shape, t.contents);
    }
    const out: InferTensor = { name: t.name, datatype: t.datatype, shape, data };
    const params = fromWireParams(t.parameters);
    if (params) out.parameters = params;
    return out;
  });
  const req: InferRequest = { inputs: tensors };
  if (r.id) req.id = r.id;
  const params = fromWireParams(r.parameters);
  if (params) req.parameters = params;
  if ((r.outputs ?? []).length > 0) {
    req.outputs = r.outputs.map((o) => {
      const p = fromWireParams(o.parameters);
      return p ? { name: o.name, parameters: p } : { name: o.name };
    });
  }
  return req;
}

/** The core's response as a ModelInferResponse, with raw or typed output data. */
export function toWireResponse(res: InferResponse, raw: boolean): WireInferResponse {
  return {
    model_name: res.modelName,
    model_version: res.modelVersion,
    id: res.id ?? "",
    parameters: toWireParams(res.parameters),
    outputs: res.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, parameters: toWireParams(o.parameters), contents: raw ? null : toContents(o) })),
    raw_output_contents: raw
      ? res.outputs.map((o) => {
          const b = encodeBinary(o);
          return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
        })
      : [],
  };
}

// ---- the service ----

/** The gRPC status of a ServeError's HTTP-like status. */
export function grpcCode(status: number): grpc.status {
  switch (status) {
    case 400: return grpc.status.INVALID_ARGUMENT;
    case 404: return grpc.status.NOT_FOUND;
    case 413: return grpc.status.RESOURCE_EXHAUSTED;
    case 503: return grpc.status.UNAVAILABLE;
    case 504: return grpc.status.DEADLINE_EXCEEDED;
    default: return grpc.status.INTERNAL;
  }
}

function toServiceError(e: unknown): grpc.ServerErrorResponse {
  const message = e instanceof Error ? e.message : String(e);
  const code = e instanceof ServeError ? grpcCode(e.status) : grpc.status.INTERNAL;
  return { name: "ServeError", message, details: message, code };
}

export interface GrpcServiceOptions {
  /** Called with errors that are not a ServeError (bugs, engine failures) before they go out as INTERNAL. */
  onError?: (rpc: string, err: unknown) => void;
}

/** The handlers of inference.GRPCInferenceService over a core (to add to a grpc.Server of your own). */
export function oipHandlers(core: InferenceCore, opts: GrpcServiceOptions = {}): grpc.UntypedServiceImplementation {
  // every handler answers through its callback: a throw or a rejection becomes a status, never a crash
  const unary = (rpc: string, fn: (req: any) => unknown): grpc.handleUnaryCall<any, any> => (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (e: unknown) => {
          if (!(e instanceof ServeError)) opts.onError?.(rpc, e);
          callback(toServiceError(e));
        },
      );
  };
  const version = (v: string | undefined) => (v ? v : undefined);
  const needName = (n: string | undefined, field: string) => {
    if (!n) throw new ServeError(400, `${field} is required`);
    return n;
  };
  return {
    ServerLive: unary("ServerLive", () => ({ live: core.isLive() })),
    ServerReady: unary("ServerReady", () => ({ ready: core.isReady() })),
    ModelReady: unary("ModelReady", (r: { name: string; version: string }) => ({ ready: core.modelReady(needName(r.name, "name"), version(r.version)) })),
    ServerMetadata: unary("ServerMetadata", () => ({ name: core.info.name, version: core.info.version, extensions: core.info.extensions })),
    ModelMetadata: unary("ModelMetadata", (r: { name: string; version: string }) => {
      const m = core.modelMetadata(needName(r.name, "name"), version(r.version));
      const spec = (s: { name: string; datatype: string; shape: number[] }) => ({ name: s.name, datatype: s.datatype, shape: s.shape });
      return { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs.map(spec), outputs: m.outputs.map(spec), properties: {} };
    }),
    ModelInfer: unary("ModelInfer", async (r: WireInferRequest) => {
      const name = needName(r.model_name, "model_name");
      const raw = wantsRawOutputs(r);
      const res = await core.infer(name, version(r.model_version), toInferRequest(r));
      return toWireResponse(res, raw);
    }),
  };
}

export interface GrpcServerOptions extends GrpcServiceOptions {
  core: InferenceCore;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8001; 0 picks a free port. */
  port?: number;
  /** Largest message received or sent, bytes (default 64 MiB); larger requests fail with RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
}

export interface GrpcServer {
  /** The bound port. */
  readonly port: number;
  /** Stop now, cancelling calls in flight. */
  close(): Promise<void>;
  /** Refuse new calls, let calls in flight finish for up to `graceMs` (default 10 s), then stop the rest. */
  drain(graceMs?: number): Promise<void>;
}

/** Serve inference.GRPCInferenceService (Open Inference Protocol v2) over a core, insecure (put TLS in front). */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const { core, host = "127.0.0.1", port = 8001, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES } = opts;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes <= 0) throw new ServeError(400, `maxMessageBytes must be a positive integer, got ${maxMessageBytes}`);
  const server = new grpc.Server({ "grpc.max_receive_message_length": maxMessageBytes, "grpc.max_send_message_length": maxMessageBytes });
  const Service = loadOipPackage().GRPCInferenceService as grpc.ServiceClientConstructor;
  server.addService(Service.service, oipHandlers(core, opts));
  const address = `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  let stopped: Promise<void> | null = null;
  const drain = (graceMs = 10_000): Promise<void> =>
    (stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, Math.max(0, graceMs));
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }));
  return {
    port: bound,
    drain,
    close: () => {
      server.forceShutdown();
      return (stopped ??= Promise.resolve());
    },
  };
}
