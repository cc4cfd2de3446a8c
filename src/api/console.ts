// The web console's files (web/, built into dist/web by `npm run build`), served by the API's own
// listener: / is the page, /assets/* its script and stylesheet. They are read into memory once at
// start (a few hundred KiB). Every answer of the server carries a Content-Security-Policy that
// lets the page load scripts, styles and data from hv alone, and run no inline script or style.

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";
import { sessionSettings, type ConsoleConfig } from "./config.js";
import type { SessionSettings } from "./session.js";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every answer: the CSP, no sniffing, no framing, no referrer leaving hv. */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json; charset=utf-8",
};

export interface ConsoleFile {
  body: Buffer;
  type: string;
  etag: string;
}

export interface ConsoleAssets {
  dir: string;
  index: ConsoleFile;
  /** By file name under /assets/. */
  assets: Map<string, ConsoleFile>;
}

/** dist/web: beside the compiled code (dist/src/api → dist/web), or from the sources (src/api → dist/web; web/ is the page's source). */
export function defaultConsoleDir(): string {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  return basename(root) === "dist" ? join(root, "web") : join(root, "dist", "web");
}

/** The built console, or the reason it cannot be served. */
export function loadConsoleAssets(dir = defaultConsoleDir()): ConsoleAssets | { missing: string } {
  const indexPath = join(dir, "index.html");
  if (!existsSync(indexPath)) return { missing: `the web console is not built: ${indexPath} is missing (npm run build makes it)` };
  const assets = new Map<string, ConsoleFile>();
  const assetDir = join(dir, "assets");
  if (existsSync(assetDir)) for (const name of readdirSync(assetDir)) assets.set(name, fileOf(join(assetDir, name)));
  return { dir, index: fileOf(indexPath), assets };
}

function fileOf(path: string): ConsoleFile {
  const body = readFileSync(path);
  return { body, type: TYPES[extname(path)] ?? "application/octet-stream", etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` };
}

/** GET / and GET /assets/:file. Asset names carry their content hash, so they may be cached for good. */
export function registerConsole(app: FastifyInstance, assets: ConsoleAssets): void {
  const send = (file: ConsoleFile, cache: string) => async (req: { headers: Record<string, string | string[] | undefined> }, reply: FastifyReply) => {
    void reply.header("etag", file.etag).header("cache-control", cache);
    if (req.headers["if-none-match"] === file.etag) return reply.code(304).send();
    return reply.type(file.type).send(file.body);
  };
  app.get("/", send(assets.index, "no-cache"));
  app.get<{ Params: { file: string } }>("/assets/:file", async (req, reply) => {
    const file = assets.assets.get(req.params.file);
    if (!file) return reply.code(404).send({ error: "not_found", message: `no console asset ${req.params.file.slice(0, 100)}` });
    return send(file, "public, max-age=31536000, immutable")(req, reply);
  });
}

/**
 * The console's server options from the `api.console` config: its files (unless disabled) and
 * session settings. A console that is not built is reported and left out; the API still serves.
 */
export function consoleServerOptions(c: ConsoleConfig | undefined, report: (text: string) => void, dir?: string): { console?: ConsoleAssets; sessions: SessionSettings } {
  const sessions = sessionSettings(c);
  if (c?.enabled === false) return { sessions };
  const assets = loadConsoleAssets(dir);
  if ("missing" in assets) {
    report(assets.missing);
    return { sessions };
  }
  return { console: assets, sessions };
}
