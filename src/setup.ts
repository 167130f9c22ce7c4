// Wires the layers together at import: the eager executor and tape, tensor methods, and backend loaders.
import "./tape.js";
import "./ops/methods.js";
import { registerBackend } from "./backend/registry.js";
import { RefBackend } from "./backend/ref/index.js";
import { WasmBackend } from "./backend/wasm/index.js";

registerBackend("ref", () => new RefBackend());
registerBackend("wasm", () => new WasmBackend());
