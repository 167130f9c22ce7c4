// The Open Inference Protocol's (KServe v2) request and response shapes, shared by the REST, gRPC and TF
// Serving front ends, which only translate their wire formats into these.

/** OIP tensor datatypes (Tensor Data Types in the OIP REST specification). */
export type OipDatatype = "BOOL" | "UINT8" | "UINT16" | "UINT32" | "UINT64" | "INT8" | "INT16" | "INT32" | "INT64" | "FP16" | "FP32" | "FP64" | "BYTES";

/** Host values of one tensor, row-major: a typed array, or JS numbers/booleans. */
export type HostData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | readonly number[] | readonly boolean[];

/** A model input or output as a signature declares it; -1 marks a variable dimension. */
export interface TensorSpec {
  name: string;
  datatype: OipDatatype;
  shape: number[];
}

/** One tensor of a request or response, its data already decoded from JSON or binary. */
export interface InferTensor {
  name: string;
  datatype: OipDatatype;
  shape: number[];
  data: HostData;
  parameters?: Record<string, unknown>;
}

/** A requested output (absent: all outputs). */
export interface RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: InferTensor[];
  outputs?: RequestedOutput[];
}

export interface InferResponse {
  modelName: string;
  modelVersion: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: InferTensor[];
}

/** The model metadata response of OIP. */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** One row of the repository extension's index. */
export interface RepositoryEntry {
  name: string;
  version?: string;
  state: "UNAVAILABLE" | "LOADING" | "READY" | "UNLOADING";
  reason: string;
}

/**
 * A failure with the status a front end reports: HTTP status codes, which the gRPC front end maps to its
 * codes (400 → INVALID_ARGUMENT, 404 → NOT_FOUND, 503 → UNAVAILABLE, 504 → DEADLINE_EXCEEDED, …).
 */
export class ServeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ServeError";
  }
}
