/**
 * A strict JSON parser for file headers. `JSON.parse` silently keeps the last of duplicate keys and
 * treats "__proto__" specially on assignment, and a malformed file must fail with a TridentError, so
 * headers go through this parser instead: objects become Maps, duplicates and deep nesting are errors.
 */
import { TridentError } from "../core/errors.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

/** Parse RFC 8259 JSON; objects become Maps. Throws TridentError (prefixed with `op`) on any defect. */
export function parseStrictJson(text: string, op: string, maxDepth = 32): JsonValue {
  let i = 0;
  const n = text.length;
  const err = (msg: string): never => {
    throw new TridentError(`${op}: invalid JSON header at character ${i}: ${msg}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const str = (): string => {
    // caller saw the opening quote
    i++;
    let out = "";
    let start = i;
    while (true) {
      if (i >= n) err("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) err(`unescaped control character 0x${c.toString(16)} in string`);
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      i++;
      const e = text[i];
      i++;
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) err(`bad \\u escape "${hex}"`);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default: err(`bad escape "\\${e ?? "<end>"}"`);
      }
      start = i;
    }
  };
  const num = (): number => {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) return err("bad number");
    i += m[0].length;
    return Number(m[0]);
  };
  const lit = (word: string, v: JsonValue): JsonValue => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return v;
    }
    return err(`unexpected token ${JSON.stringify(text.slice(i, i + 8))}`);
  };
  const value = (depth: number): JsonValue => {
    if (depth > maxDepth) err(`nesting deeper than ${maxDepth}`);
    ws();
    if (i >= n) err("unexpected end");
    const c = text[i]!;
    if (c === "{") {
      i++;
      const obj: JsonObject = new Map();
      ws();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      while (true) {
        ws();
        if (text[i] !== '"') err("expected a string key");
        const k = str();
        if (obj.has(k)) err(`duplicate key ${JSON.stringify(k)}`);
        ws();
        if (text[i] !== ":") err("expected ':'");
        i++;
        obj.set(k, value(depth + 1));
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return obj;
        } else err("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      while (true) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return arr;
        } else err("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (c === "t") return lit("true", true);
    if (c === "f") return lit("false", false);
    if (c === "n") return lit("null", null);
    return num();
  };
  const v = value(0);
  ws();
  if (i !== n) err("trailing characters after the top-level value");
  return v;
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return v instanceof Map;
}

/** Describe a JSON value's kind for error messages. */
export function jsonKind(v: JsonValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Map) return "an object";
  return `a ${typeof v}`;
}

/** Set an own enumerable property; plain assignment to "__proto__" would replace the prototype instead. */
export function setKey<V>(obj: Record<string, V>, k: string, v: V): void {
  Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
}
