// JSON lines to a real file (append, logrotate-style reopen) and to a stream.

import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { JsonlSink } from "../../src/outputs/jsonl.js";
import { makeAlert } from "./alerts.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "hv-jsonl-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function lines(text: string): unknown[] {
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as unknown);
}

describe("jsonl sink", () => {
  it("appends one alert per line to a file, after what was there", async () => {
    const path = join(await tempDir(), "alerts.jsonl");
    await writeFile(path, '{"old":true}\n');
    const sink = new JsonlSink({ path });
    const a = makeAlert({ count: 1 });
    const b = makeAlert({ count: 2, summary: "two\nlines" });
    await sink.send(a);
    await sink.send(b);
    await sink.close();
    expect(lines(await readFile(path, "utf8"))).toEqual([{ old: true }, a, b]);
    expect(sink.stats()).toEqual({ sent: 2, failed: 0, dropped: 0, queued: 0, errors: 0 });
  });

  it("reopen() after logrotate moved the file writes to a new file under the old name", async () => {
    const dir = await tempDir();
    const path = join(dir, "alerts.jsonl");
    const sink = new JsonlSink({ path });
    cleanups.push(() => sink.close());
    await sink.send(makeAlert({ count: 1 }));
    await sink.flush();
    await rename(path, `${path}.1`);
    await sink.send(makeAlert({ count: 2 })); // still goes to the renamed file, as with any logger
    await sink.flush();
    await sink.reopen();
    await sink.send(makeAlert({ count: 3 }));
    await sink.flush();
    expect(lines(await readFile(`${path}.1`, "utf8")).map((a) => (a as { count: number }).count)).toEqual([1, 2]);
    expect(lines(await readFile(path, "utf8")).map((a) => (a as { count: number }).count)).toEqual([3]);
  });

  it("counts an unwritable file as failures, never throws", async () => {
    const sink = new JsonlSink({ path: "/nonexistent-dir/alerts.jsonl" });
    await expect(sink.send(makeAlert())).resolves.toBeUndefined();
    await sink.close();
    expect(sink.stats()).toMatchObject({ sent: 0, failed: 1, dropped: 0 });
    expect(sink.stats().lastError).toMatch(/ENOENT/);
  });

  it("writes to a stream (stdout by default)", async () => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (c: Buffer) => (text += c.toString()));
    const sink = new JsonlSink({ stream: out });
    expect(sink.name).toBe("jsonl:stdout");
    await sink.send(makeAlert());
    await sink.close();
    expect(lines(text)).toEqual([makeAlert()]);
  });

  it("drops when a stalled reader lets the buffer fill, and survives the stream's errors", async () => {
    // A reader that never takes anything: writes never complete.
    const stalled = new Writable({ highWaterMark: 1, write: () => undefined });
    const sink = new JsonlSink({ stream: stalled, delivery: { capacity: 5, maxBatch: 1, closeTimeoutMs: 100 } });
    for (let i = 0; i < 20; i++) await sink.send(makeAlert({ count: i }));
    expect(sink.stats().dropped).toBe(15);
    stalled.emit("error", new Error("EPIPE: reader went away"));
    await sink.close();
    // 15 refused at once, 4 still buffered at close; the one stuck in write() stays unaccounted.
    expect(sink.stats()).toEqual({ sent: 0, failed: 0, dropped: 19, queued: 0, errors: 0, lastError: "EPIPE: reader went away", dropReason: "still waiting when the sink closed" });
  });
});
