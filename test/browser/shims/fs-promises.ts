/** `node:fs/promises` for the browser run: readFile through fetch from the test server's /fs/. */

export async function readFile(path: string | URL, options?: string | { encoding?: string }): Promise<string | Uint8Array> {
  const p = typeof path === "string" ? (path.startsWith("file:") ? new URL(path).pathname : path) : path.pathname;
  const res = await fetch(`/fs${decodeURIComponent(p)}`);
  if (!res.ok) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${String(path)}'`), { code: "ENOENT" });
  const enc = typeof options === "string" ? options : options?.encoding;
  return enc ? res.text() : new Uint8Array(await res.arrayBuffer());
}

export default { readFile };
