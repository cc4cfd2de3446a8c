// The sinks config: what it accepts, and that a mistake names its field.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AlertmanagerSink } from "../../src/outputs/alertmanager.js";
import { createSinks, parseSinksConfig, SinkConfigError } from "../../src/outputs/config.js";
import { JsonlSink } from "../../src/outputs/jsonl.js";
import { SyslogSink } from "../../src/outputs/syslog.js";
import { WebhookSink } from "../../src/outputs/webhook.js";
import { makeAlert } from "./alerts.js";
import { startHttpServer } from "./http-server.js";

function errorOf(input: unknown): string {
  try {
    parseSinksConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(SinkConfigError);
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

describe("sinks config", () => {
  it("builds every kind of sink, with defaults", async () => {
    const sinks = createSinks([
      { type: "jsonl" },
      { type: "jsonl", path: "/tmp/hv-never-written.jsonl", name: "file" },
      { type: "syslog", transport: "tcp", host: "127.0.0.1", port: 6514 },
      { type: "syslog", transport: "unix", path: "/run/syslog.sock", facility: "authpriv" },
      { type: "webhook", url: "https://hooks.example.com/x", format: "slack" },
      { type: "alertmanager", url: "http://127.0.0.1:9093" },
    ]);
    expect(sinks.map((s) => s.constructor)).toEqual([JsonlSink, JsonlSink, SyslogSink, SyslogSink, WebhookSink, AlertmanagerSink]);
    expect(sinks.map((s) => s.name)).toEqual([
      "jsonl:stdout",
      "file",
      "syslog:tcp://127.0.0.1:6514",
      "syslog:unix:/run/syslog.sock",
      "webhook:hooks.example.com",
      "alertmanager:127.0.0.1:9093",
    ]);
    for (const s of sinks) await s.close();
    expect(parseSinksConfig([{ type: "syslog" }])[0]).toMatchObject({ transport: "udp", host: "127.0.0.1", port: 514, facility: "local0", sdId: "hv@32473" });
  });

  it("names the bad field", () => {
    expect(errorOf([{ type: "jsonl" }, { type: "kafka" }])).toContain("sinks[1].type: Invalid discriminator value. Expected 'jsonl' | 'syslog' | 'webhook' | 'alertmanager'");
    expect(errorOf([{ type: "webhook", url: "ftp://x" }])).toContain("sinks[0].url: must be an http:// or https:// URL");
    expect(errorOf([{ type: "syslog", port: 70000 }])).toContain("sinks[0].port: Too big");
    expect(errorOf([{ type: "syslog", facility: "local9" }])).toContain("sinks[0].facility: Invalid option");
    expect(errorOf([{ type: "syslog", transport: "unix" }])).toContain('sinks[0].path: is required when transport is "unix"');
    expect(errorOf([{ type: "syslog", sdId: "hv" }])).toContain("sinks[0].sdId: must be name@<private enterprise number>");
    expect(errorOf([{ type: "syslog", maxMessageBytes: 100 }])).toContain("sinks[0].maxMessageBytes: Too small");
    expect(errorOf([{ type: "alertmanager", url: "http://a", bearerToken: "t", bearerTokenFile: "/f" }])).toContain("sinks[0].bearerTokenFile: set bearerToken or bearerTokenFile, not both");
    expect(errorOf([{ type: "jsonl", pth: "/x" }])).toContain('sinks[0]: Unrecognized key: "pth"');
    expect(errorOf([{ type: "jsonl", name: "a" }, { type: "jsonl", name: "a" }])).toContain('sinks[1].name: duplicate sink name "a"');
    expect(errorOf({ type: "jsonl" })).toContain("sinks: Invalid input: expected array");
    // Every problem at once, not just the first.
    expect(errorOf([{ type: "syslog", port: 0, facility: "x" }]).split("\n")).toHaveLength(3);
  });

  it("reads a bearer token from a file and sends it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hv-sinks-"));
    try {
      await writeFile(join(dir, "token"), "s3cret\n");
      const rx = await startHttpServer();
      const [sink] = createSinks([{ type: "webhook", url: rx.url, bearerTokenFile: join(dir, "token"), headers: { "x-hv": "1" } }]);
      await sink?.send(makeAlert());
      await sink?.close();
      await rx.close();
      expect(rx.received[0]?.headers).toMatchObject({ authorization: "Bearer s3cret", "x-hv": "1" });
      expect(() => createSinks([{ type: "webhook", url: rx.url, bearerTokenFile: join(dir, "missing") }])).toThrow(/sinks\[0\]\.bearerTokenFile: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
