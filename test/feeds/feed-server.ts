// A real feed server on 127.0.0.1 (HTTP, or HTTPS with a given key and certificate) for the
// sync tests: every request is recorded, and each path answers with what the test sets.

import { createServer as createHttp, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
}

/** Answers one request; n counts the requests to this path (0-based). */
export type Route = (req: IncomingMessage, res: ServerResponse, n: number) => void;

export interface FeedServer {
  url: string;
  hits: Hit[];
  route(path: string, handler: Route): void;
  /** Serves fixed text with a strong ETag and a Last-Modified, answering 304 to a matching conditional request. */
  serve(path: string, body: string | Buffer, opts?: { contentType?: string; etag?: string | false; lastModified?: string | false }): void;
  hitsTo(path: string): Hit[];
  close(): Promise<void>;
}

export async function startFeedServer(tls?: { key: string; cert: string }): Promise<FeedServer> {
  const routes = new Map<string, Route>();
  const hits: Hit[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?")[0]!;
    hits.push({ path, headers: req.headers });
    const route = routes.get(path);
    if (!route) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    route(req, res, hits.filter((h) => h.path === path).length - 1);
  };
  const server: Server = tls ? createHttps({ key: tls.key, cert: tls.cert }, handler) : createHttp(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const self: FeedServer = {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    hits,
    route: (path, h) => routes.set(path, h),
    serve(path, body, opts = {}) {
      const etag = opts.etag === false ? undefined : (opts.etag ?? `"v-${Buffer.from(body).length}-${hits.length}"`);
      const lastModified = opts.lastModified === false ? undefined : (opts.lastModified ?? "Wed, 25 Nov 2026 12:00:00 GMT");
      routes.set(path, (req, res) => {
        const inm = req.headers["if-none-match"];
        const ims = req.headers["if-modified-since"];
        if ((etag && inm === etag) || (!etag && lastModified && ims === lastModified)) {
          res.writeHead(304).end();
          return;
        }
        const headers: Record<string, string> = { "content-type": opts.contentType ?? "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)) };
        if (etag) headers.etag = etag;
        if (lastModified) headers["last-modified"] = lastModified;
        res.writeHead(200, headers).end(body);
      });
    },
    hitsTo: (path) => hits.filter((h) => h.path === path),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return self;
}

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI. */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "hv-feeds-tls-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2",
    "-subj", "/CN=hv feed test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "pipe" });
  try {
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
