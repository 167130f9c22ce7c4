import { TridentError } from "../core/errors.js";

/** One operator the importer lacks, with the nodes that use it. */
export interface MissingOperator {
  domain: string;
  opType: string;
  version: number;
  nodes: string[];
}

/**
 * The model uses something Trident cannot represent or run (an operator, an attribute value, a data
 * type such as string or float8). Raised at load time where the model says so, otherwise as soon as the
 * value appears; never a wrong answer.
 */
export class OnnxUnsupportedError extends TridentError {
  constructor(message: string, readonly missing: MissingOperator[] = []) {
    super(message);
    this.name = "OnnxUnsupportedError";
  }
}

/** Throw an OnnxUnsupportedError prefixed with the op name. */
export function unsupported(op: string, message: string): never {
  throw new OnnxUnsupportedError(`${op}: ${message}`);
}
