/**
 * `node:fs` for the browser run: the suites read fixture files by absolute path, which the test
 * server serves under /fs/. Reads are synchronous XHRs, which browsers allow in workers (the suites
 * run in one).
 */

const url = (path: string | URL): string => {
  const p = typeof path === "string" ? (path.startsWith("file:") ? new URL(path).pathname : path) : path.pathname;
  return `/fs${decodeURIComponent(p)}`;
};

function request(path: string | URL, binary: boolean, method = "GET"): XMLHttpRequest {
  const xhr = new XMLHttpRequest();
  xhr.open(method, url(path), false);
  if (binary) xhr.responseType = "arraybuffer";
  xhr.send();
  return xhr;
}

const encodingOf = (o: unknown): string | undefined => (typeof o === "string" ? o : (o as { encoding?: string } | undefined)?.encoding);

const notFound = (path: string | URL): Error =>
  Object.assign(new Error(`ENOENT: no such file or directory, open '${String(path)}'`), { code: "ENOENT" });

/** Text with an encoding, bytes without. */
export function readFileSync(path: string | URL, options?: string | { encoding?: string }): string | Uint8Array {
  const enc = encodingOf(options);
  const xhr = request(path, !enc);
  if (xhr.status !== 200) throw notFound(path);
  return enc ? (xhr.responseText as string) : new Uint8Array(xhr.response as ArrayBuffer);
}

export function existsSync(path: string | URL): boolean {
  return request(path, false, "HEAD").status === 200;
}

const unavailable = (name: string) => (): never => {
  throw new Error(`fs.${name} is not available in the browser test run`);
};
export const writeFileSync = unavailable("writeFileSync");
export const mkdirSync = unavailable("mkdirSync");
export const mkdtempSync = unavailable("mkdtempSync");
export const rmSync = unavailable("rmSync");
export const readdirSync = unavailable("readdirSync");

export default { readFileSync, existsSync, writeFileSync, mkdirSync, mkdtempSync, rmSync, readdirSync };
