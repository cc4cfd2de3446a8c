// A real HTTP server on 127.0.0.1 for the HTTP sink tests: records every request and answers
// with whatever the test's handler says.

import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** Answers request number n (0-based); default 200. */
export type Handler = (n: number, req: Received, res: ServerResponse) => void;

export interface TestServer {
  url: string;
  port: number;
  received: Received[];
  handler: Handler;
  close(): Promise<void>;
}

export async function startHttpServer(handler: Handler = (_n, _req, res) => res.end()): Promise<TestServer> {
  const received: Received[] = [];
  const state: TestServer = { url: "", port: 0, received, handler, close: () => Promise.resolve() };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      const r: Received = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: text ? JSON.parse(text) : undefined };
      received.push(r);
      state.handler(received.length - 1, r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  state.port = typeof address === "object" && address ? address.port : 0;
  state.url = `http://127.0.0.1:${state.port}`;
  state.close = () =>
    new Promise((resolve) => {
      // fetch keeps connections alive; close them or close() waits for their idle timeout.
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** A port on which nothing listens (it was just freed). */
export async function closedPort(): Promise<number> {
  const s = await startHttpServer();
  await s.close();
  return s.port;
}
