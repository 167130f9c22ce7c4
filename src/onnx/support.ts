import { registered } from "./ops/registry.js";
import "./ops/index.js";

/** The operators the importer implements, as "Op" (default domain) or "domain.Op", sorted. */
export function supportedOperators(): string[] {
  return registered().map(([d, o]) => (d ? `${d}.${o}` : o)).sort();
}
