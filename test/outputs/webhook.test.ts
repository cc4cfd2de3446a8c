// Webhooks against a real HTTP server on 127.0.0.1.

import { afterEach, describe, expect, it } from "vitest";
import { WebhookSink, slackText, type SlackMessage } from "../../src/outputs/webhook.js";
import { makeAlert, until } from "./alerts.js";
import { closedPort, startHttpServer, type TestServer } from "./http-server.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(...args: Parameters<typeof startHttpServer>): Promise<TestServer> {
  const s = await startHttpServer(...args);
  cleanups.push(() => s.close());
  return s;
}

function sink(opts: ConstructorParameters<typeof WebhookSink>[0]): WebhookSink {
  const s = new WebhookSink(opts);
  cleanups.push(() => s.close());
  return s;
}

describe("webhook sink", () => {
  it("POSTs the alert as JSON with the configured headers", async () => {
    const rx = await server();
    const s = sink({ url: `${rx.url}/hook`, headers: { authorization: "Bearer s3cret" } });
    const alert = makeAlert({ id: 7 });
    await s.send(alert);
    await s.flush();
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0]).toMatchObject({ method: "POST", url: "/hook", body: alert });
    expect(rx.received[0]?.headers.authorization).toBe("Bearer s3cret");
    expect(rx.received[0]?.headers["content-type"]).toBe("application/json");
    expect(s.stats()).toEqual({ sent: 1, failed: 0, dropped: 0, queued: 0, errors: 0 });
  });

  it("sends a Slack-compatible message", async () => {
    const rx = await server();
    const s = sink({ url: rx.url, format: "slack" });
    await s.send(makeAlert({ entity: { kind: "ip", id: "203.0.113.5" }, summary: "<!channel> & friends" }));
    await s.flush();
    const body = rx.received[0]?.body as SlackMessage;
    expect(body.text).toBe("[HIGH] Reverse shell from a guest — vm web-1, ip 203.0.113.5 (3×)");
    expect(body.blocks[0]).toEqual({
      type: "section",
      text: { type: "mrkdwn", text: "*[HIGH] Reverse shell from a guest — vm web-1, ip 203.0.113.5 (3×)*\n&lt;!channel&gt; &amp; friends" },
    });
    expect(JSON.stringify(body.blocks[1])).toContain("T1059.004");
    expect(slackText(makeAlert({ count: 1, vm: undefined, entity: { kind: "host", id: "host-a" } }))).toBe("[HIGH] Reverse shell from a guest — host host-a");
  });

  it("retries after a 500 and then succeeds", async () => {
    const rx = await server((n, _req, res) => {
      res.statusCode = n === 0 ? 500 : 200;
      res.end(n === 0 ? "database on fire" : "");
    });
    const s = sink({ url: rx.url, delivery: { backoffMs: 20 } });
    await s.send(makeAlert());
    await s.flush();
    expect(rx.received).toHaveLength(2);
    expect(rx.received[1]?.body).toEqual(rx.received[0]?.body);
    expect(s.stats()).toMatchObject({ sent: 1, failed: 0, dropped: 0 });
    expect(s.stats().lastError).toBe(`POST ${rx.url}: HTTP 500: database on fire`);
  });

  it("does not retry a 400, and keeps the URL's path (a secret in Slack URLs) out of errors", async () => {
    const rx = await server((_n, _req, res) => {
      res.statusCode = 400;
      res.end("bad payload");
    });
    const s = sink({ url: `${rx.url}/services/T000/B000/SECRET`, delivery: { backoffMs: 20 } });
    await s.send(makeAlert());
    await s.flush();
    expect(rx.received).toHaveLength(1);
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1 });
    expect(s.stats().lastError).toBe(`POST ${rx.url}: HTTP 400: bad payload`);
  });

  it("times out a server that does not answer", async () => {
    const rx = await server(() => undefined); // never responds
    const s = sink({ url: rx.url, timeoutMs: 200, delivery: { retries: 1, backoffMs: 10 } });
    const t0 = Date.now();
    await s.send(makeAlert());
    await s.flush();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(rx.received).toHaveLength(2);
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1, dropped: 0 });
    expect(s.stats().lastError).toMatch(/timeout after 200 ms/);
  });

  it("counts failures and drops while the server is down", async () => {
    const port = await closedPort();
    const s = sink({ url: `http://127.0.0.1:${port}/`, delivery: { capacity: 2, retries: 0 } });
    // All ten arrive in one turn of the event loop, before the worker starts: two fit the buffer.
    for (let i = 0; i < 10; i++) await s.send(makeAlert({ count: i }));
    expect(s.stats().dropped).toBe(8);
    await s.flush();
    expect(s.stats()).toMatchObject({ sent: 0, failed: 2, dropped: 8 });
    expect(s.stats().lastError).toMatch(/ECONNREFUSED/);
  });

  it("close() gives up on retries after its timeout and counts what was left", async () => {
    const port = await closedPort();
    const s = new WebhookSink({ url: `http://127.0.0.1:${port}/`, delivery: { retries: 100, backoffMs: 5000, closeTimeoutMs: 200 } });
    for (let i = 0; i < 3; i++) await s.send(makeAlert({ count: i }));
    await until(() => s.stats().lastError !== undefined, 2000, "the first attempt");
    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(1500);
    await s.send(makeAlert());
    // The batch in flight failed; the two waiting and the one sent after close were dropped.
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1, dropped: 3 });
  });

  it("delivers again once the server is back", async () => {
    let up = false;
    const rx = await server((_n, _req, res) => {
      res.statusCode = up ? 200 : 503;
      res.end();
    });
    const s = sink({ url: rx.url, delivery: { retries: 10, backoffMs: 20, maxBackoffMs: 50 } });
    await s.send(makeAlert());
    await until(() => rx.received.length >= 2, 2000, "two attempts");
    up = true;
    await s.flush();
    expect(s.stats()).toMatchObject({ sent: 1, failed: 0 });
  });
});
