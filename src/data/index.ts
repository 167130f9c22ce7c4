// subpath entries wire the engine up too (backends, tensor methods, the tape)
import "../setup.js";
export { Dataset, TensorDataset, defaultCollate } from "./dataset.js";
export { DataLoader, type DataLoaderOptions } from "./loader.js";
export { fromCsv, fromJson, type TabularOptions } from "./csv.js";
import { mnist } from "./mnist.js";
/** Bundled datasets. */
export const datasets = { mnist };
