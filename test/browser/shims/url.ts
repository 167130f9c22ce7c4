/** `node:url` for the browser run: file URLs and paths, as the suites use them to locate fixtures. */

export function fileURLToPath(u: string | URL): string {
  const x = typeof u === "string" ? new URL(u) : u;
  if (x.protocol !== "file:") throw new TypeError(`The URL must be of scheme file, got ${x.href}`);
  return decodeURIComponent(x.pathname);
}

export function pathToFileURL(path: string): URL {
  return new URL(`file://${encodeURI(path)}`);
}

const URLCtor = globalThis.URL;
export { URLCtor as URL };
export default { fileURLToPath, pathToFileURL, URL: URLCtor };
