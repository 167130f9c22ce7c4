// Reads test/fixtures/nn.json (PyTorch 1.13 reference values; see test/fixtures/gen/nn_reference.py).
import { readFileSync } from "node:fs";
import * as tr from "../../src/index.js";
import { assertClose, values } from "../helpers.js";
import { fixtureToTensor } from "../../src/testing/index.js";

export interface FixTensor {
  dtype: "float64" | "int32" | "bool";
  shape: number[];
  data: (number | boolean)[];
}
export interface NnCase {
  id: string;
  module: string;
  opts: Record<string, unknown>;
  state: Record<string, FixTensor>;
  inputs: Record<string, FixTensor | FixTensor[] | null | boolean>;
  outputs: (FixTensor | null)[];
  cotangents?: FixTensor[];
  inputGrads?: (FixTensor | null)[];
  paramGrads?: Record<string, FixTensor | null>;
  stateAfter?: Record<string, FixTensor>;
}

const file = JSON.parse(readFileSync(new URL("../fixtures/nn.json", import.meta.url), "utf8")) as { cases: NnCase[] };

/** The reference case with this id. */
export function fixture(id: string): NnCase {
  const c = file.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no nn fixture ${id}`);
  return c;
}

/** A fixture tensor as a Trident tensor (float64 stays float64). */
export function T(f: FixTensor): tr.Tensor {
  return fixtureToTensor(f);
}

/** A fixture state dict as tensors. */
export function stateOf(c: NnCase): Record<string, tr.Tensor> {
  return Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, T(v)]));
}

/** Assert a tensor equals a fixture tensor (shape and values; float64 tolerance by default). */
export function assertFix(actual: tr.Tensor, expected: FixTensor, msg: string, tol = { rtol: 1e-9, atol: 1e-10 }): void {
  if (actual.shape.join() !== expected.shape.join()) throw new Error(`${msg}: shape [${actual.shape}] != [${expected.shape}]`);
  assertClose(values(actual), expected.data.map(Number), { ...tol, msg });
}
