/** `node:path` (POSIX) for the browser run: the few functions the suites use to build fixture paths. */

export const sep = "/";

export function normalize(p: string): string {
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
    } else out.push(part);
  }
  const s = out.join("/");
  return abs ? `/${s}` : s || ".";
}

export const join = (...parts: string[]): string => normalize(parts.filter(Boolean).join("/"));

export function resolve(...parts: string[]): string {
  let p = "";
  for (const x of parts) p = x.startsWith("/") ? x : `${p}/${x}`;
  return normalize(p.startsWith("/") ? p : `/${p}`);
}

const trimEnd = (p: string): string => {
  let e = p.length;
  while (e > 1 && p[e - 1] === "/") e--;
  return p.slice(0, e);
};

/** As Node's: no normalisation, trailing slashes ignored. */
export function dirname(p: string): string {
  const t = trimEnd(p);
  const i = t.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : t.slice(0, i);
}

export function basename(p: string, ext?: string): string {
  const t = trimEnd(p);
  const b = t === "/" ? "" : t.slice(t.lastIndexOf("/") + 1);
  return ext && b.endsWith(ext) && b !== ext ? b.slice(0, -ext.length) : b;
}

export function extname(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf(".");
  return i <= 0 ? "" : b.slice(i);
}

export default { sep, normalize, join, resolve, dirname, basename, extname };
