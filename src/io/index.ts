/**
 * File formats: safetensors (the interchange format of PyTorch, JAX and Hugging Face weights) and
 * training checkpoints stored as safetensors.
 * @example
 * await tr.io.save("w.safetensors", { weight: tr.ones([2, 2]) });
 * const { tensors } = await tr.io.load("w.safetensors");
 */
// subpath entries wire the engine up too (backends, tensor methods, the tape)
import "../setup.js";
export {
  serialize, serializeAsync, deserialize, readHeader, save, load, loadHeader, stripPrefix, addPrefix,
  safetensorsDType, MAX_HEADER_BYTES,
  type SafetensorsDType, type SafetensorsMetadata, type Deserialized, type Header, type TensorInfo,
} from "./safetensors.js";
export {
  saveCheckpoint, loadCheckpoint, serializeCheckpoint, serializeCheckpointAsync, deserializeCheckpoint,
  saveModel, loadModel, type Checkpoint, type HasStateDict,
} from "./checkpoint.js";
