/**
 * The browser run's static server on 127.0.0.1: the page, the esbuild output, and read-only files
 * under the allowed roots (the suites' fixtures) at /fs/<absolute path>. Every response carries
 * COOP/COEP so the page is cross-origin isolated (SharedArrayBuffer, wasm threads).
 */
import { createServer, type Server } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
};

const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

const within = (file: string, root: string): boolean => file === root || file.startsWith(root.endsWith(sep) ? root : root + sep);

export interface Served {
  server: Server;
  origin: string;
  close(): Promise<void>;
}

/** Serve `page` at /, `bundleDir` at /bundle/, and files under `roots` at /fs/. */
export async function serve(page: string, bundleDir: string, roots: string[]): Promise<Served> {
  const allowed = roots.map((r) => resolve(r));
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const path = decodeURIComponent(url.pathname);
      let file: string | null = null;
      if (path === "/" || path === "/index.html") {
        res.writeHead(200, { ...ISOLATION, "Content-Type": TYPES[".html"] });
        res.end(page);
        return;
      }
      if (path.startsWith("/bundle/")) {
        const f = normalize(join(bundleDir, path.slice("/bundle/".length)));
        if (within(f, bundleDir)) file = f;
      } else if (path.startsWith("/fs/")) {
        const f = normalize(path.slice("/fs".length));
        if (allowed.some((r) => within(f, r))) file = f;
      }
      try {
        if (!file || !(await stat(file)).isFile()) throw new Error("not found");
        const body = req.method === "HEAD" ? null : await readFile(file);
        res.writeHead(200, { ...ISOLATION, "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
        res.end(body);
      } catch {
        res.writeHead(404, { ...ISOLATION, "Content-Type": TYPES[".txt"] });
        res.end("not found");
      }
    })();
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
