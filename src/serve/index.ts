/**
 * Model serving: a model repository (TF Serving / Triton layout), the protocol-independent inference core,
 * and the front ends that speak KServe's Open Inference Protocol and TF Serving's REST API.
 */
// subpath entries wire the engine up too (backends, tensor methods, the tape)
import "../setup.js";
export { ModelRepository, type RepositoryOptions, type Lease } from "./repository.js";
export { InferenceCore, inProcess, type Executor, type ServerInfo } from "./core.js";
export { loadServedModel, readConfig, type ModelConfig, type ServedModel } from "./model.js";
export * from "./types.js";
export {
  startGrpcServer, oipHandlers, loadOipPackage, wantsRawOutputs, grpcCode, OIP_PROTO_PATH, OIP_PROTO_OPTIONS, DEFAULT_MAX_MESSAGE_BYTES,
  type GrpcServer, type GrpcServerOptions, type GrpcServiceOptions,
} from "./grpc.js";
