import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { mkdtemp, rm, writeFile, appendFile, rename, truncate, stat, readFile, readdir, readlink } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileLines, type ResumeOutcome } from "../../src/collectors/audit/sources/file.js";
import { readUnixSocketLines, type SocketStatus } from "../../src/collectors/audit/sources/socket.js";
import { readStreamLines } from "../../src/collectors/audit/sources/stdin.js";
import type { SourceLine } from "../../src/collectors/audit/sources/line.js";

let dir: string;
let log: string;
let controller: AbortController;
let started: Array<AsyncGenerator<SourceLine>> = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hv-sources-"));
  log = join(dir, "audit.log");
  controller = new AbortController();
  started = [];
});

afterEach(async () => {
  controller.abort();
  // A generator left suspended at a yield only runs its cleanup (closing fds) when resumed.
  await Promise.all(started.map((g) => g.return(undefined)));
  await rm(dir, { recursive: true, force: true });
});

async function inodeOf(path: string): Promise<string> {
  return (await stat(path, { bigint: true })).ino.toString();
}

async function all(lines: AsyncIterable<SourceLine>): Promise<SourceLine[]> {
  const out: SourceLine[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

/** The next n lines, failing if they do not come in time (a follow reader never ends by itself). */
async function take(it: AsyncIterator<SourceLine>, n: number, ms = 5000): Promise<SourceLine[]> {
  const out: SourceLine[] = [];
  while (out.length < n) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${out.length} of ${n} lines: ${JSON.stringify(out.map((l) => l.text))}`)), ms);
    });
    try {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done) break;
      out.push(r.value);
    } finally {
      clearTimeout(timer);
    }
  }
  return out;
}

/** Registers a reader so that afterEach finishes it. */
function track(g: AsyncGenerator<SourceLine>): AsyncGenerator<SourceLine> {
  started.push(g);
  return g;
}

const texts = (lines: SourceLine[]): string[] => lines.map((l) => l.text);

/** Bytes of the file between a line's start and end: the line itself plus its "\n". */
async function bytesAt(line: SourceLine): Promise<Buffer> {
  const file = await readFile(line.pos?.file ?? "");
  return file.subarray(line.pos?.start, line.pos?.end);
}

async function openFdsTo(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(join("/proc/self/fd", fd)).catch(() => "");
    if (target.startsWith(path)) n++;
  }
  return n;
}

describe("readFileLines", () => {
  it("reads every line with exact byte positions, multi-byte and invalid UTF-8 included", async () => {
    const content = Buffer.concat([
      Buffer.from("type=A msg=audit(1.0:1): x\n"),
      Buffer.from("héllo wörld 日本語 🙂\r\n"),
      Buffer.from([0x61, 0xff, 0xfe, 0x62, 0x0a]),
      Buffer.from("\n"),
      Buffer.from("last without newline"),
    ]);
    await writeFile(log, content);
    const lines = await all(readFileLines(log, { signal: controller.signal }));
    expect(texts(lines)).toEqual(["type=A msg=audit(1.0:1): x", "héllo wörld 日本語 🙂", "a\uFFFD\uFFFDb", "", "last without newline"]);
    expect(lines.map((l) => l.lineNo)).toEqual([1, 2, 3, 4, 5]);
    const inode = await inodeOf(log);
    let expectedStart = 0;
    for (const line of lines) {
      expect(line.pos?.inode).toBe(inode);
      expect(line.pos?.file).toBe(log);
      expect(line.pos?.start).toBe(expectedStart);
      expectedStart = line.pos?.end ?? -1;
    }
    expect(expectedStart).toBe(content.length);
    expect((await bytesAt(lines[1] as SourceLine)).toString("utf8")).toBe("héllo wörld 日本語 🙂\r\n");
    expect(lines[1]?.pos?.end).toBe(27 + Buffer.byteLength("héllo wörld 日本語 🙂\r\n"));
  });

  it("resumes from a saved offset in the same file", async () => {
    await writeFile(log, "one\ntwö\nthree\nfour\n");
    const first = await all(readFileLines(log, { signal: controller.signal }));
    const saved = first[1]?.pos;
    expect(saved).toBeDefined();
    const outcomes: ResumeOutcome[] = [];
    const rest = await all(readFileLines(log, { signal: controller.signal, from: { inode: saved?.inode ?? "", offset: saved?.end ?? 0 }, onResume: (o) => outcomes.push(o) }));
    expect(texts(rest)).toEqual(["three", "four"]);
    expect(rest[0]?.pos?.start).toBe(saved?.end);
    expect(rest.map((l) => l.lineNo)).toEqual([1, 2]);
    expect(outcomes).toEqual([{ kind: "same-file", inode: saved?.inode, offset: saved?.end }]);
  });

  it("starts at 0 and says so when the saved inode is nowhere to be found", async () => {
    await writeFile(log, "a\nb\n");
    const outcomes: ResumeOutcome[] = [];
    const lines = await all(readFileLines(log, { signal: controller.signal, from: { inode: "1", offset: 2 }, onResume: (o) => outcomes.push(o) }));
    expect(texts(lines)).toEqual(["a", "b"]);
    expect(outcomes[0]?.kind).toBe("restart");
  });

  it("starts at 0 when the file is now shorter than the saved offset", async () => {
    await writeFile(log, "a\n");
    const outcomes: ResumeOutcome[] = [];
    const lines = await all(readFileLines(log, { signal: controller.signal, from: { inode: await inodeOf(log), offset: 100 }, onResume: (o) => outcomes.push(o) }));
    expect(texts(lines)).toEqual(["a"]);
    expect(outcomes[0]?.kind).toBe("restart");
  });

  it("resumes into a rotated file through its inode, then reads the new file from 0", async () => {
    await writeFile(log, "old-1\nold-2\nold-3\n");
    const oldInode = await inodeOf(log);
    const [first] = await all(readFileLines(log, { signal: controller.signal }));
    await rename(log, `${log}.1`);
    await writeFile(log, "new-1\nnew-2\n");
    const outcomes: ResumeOutcome[] = [];
    const lines = await all(readFileLines(log, { signal: controller.signal, from: { inode: oldInode, offset: first?.pos?.end ?? 0 }, onResume: (o) => outcomes.push(o) }));
    expect(texts(lines)).toEqual(["old-2", "old-3", "new-1", "new-2"]);
    expect(lines[0]?.pos).toEqual({ file: `${log}.1`, inode: oldInode, start: 6, end: 12 });
    expect(lines[2]?.pos).toEqual({ file: log, inode: await inodeOf(log), start: 0, end: 6 });
    expect(outcomes).toEqual([{ kind: "rotated", file: `${log}.1`, inode: oldInode, offset: 6 }]);
  });

  it("holds back a partial line while following until its newline arrives", async () => {
    await writeFile(log, "a\nbc");
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 20 }));
    expect(texts(await take(it, 1))).toEqual(["a"]);
    const pending = it.next();
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(log, "d");
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(log, "é\nnext\n");
    const completed = await pending;
    expect(completed.value).toEqual({ text: "bcdé", lineNo: 2, pos: { file: log, inode: await inodeOf(log), start: 2, end: 8 } });
    expect(texts(await take(it, 1))).toEqual(["next"]);
    controller.abort();
    expect((await it.next()).done).toBe(true);
  });

  it("follows appends", async () => {
    await writeFile(log, "");
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 20 }));
    const got = take(it, 3);
    await appendFile(log, "1\n");
    await appendFile(log, "2\n3\n");
    expect(texts(await got)).toEqual(["1", "2", "3"]);
    const more = take(it, 100);
    for (let i = 0; i < 100; i++) await appendFile(log, `line ${i}\n`);
    expect(texts(await more)).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i}`));
  });

  it("waits for a file that does not exist yet", async () => {
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 20 }));
    const got = take(it, 2);
    await new Promise((r) => setTimeout(r, 100));
    await writeFile(log, "born\nalive\n");
    expect(texts(await got)).toEqual(["born", "alive"]);
  });

  it("fails on a missing file when not following", async () => {
    await expect(all(readFileLines(log, { signal: controller.signal }))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("survives rename rotation without losing or repeating a line", async () => {
    await writeFile(log, "old-1\n");
    const oldInode = await inodeOf(log);
    const rotations: Array<{ oldInode: string; newInode: string }> = [];
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 50, onRotate: (e) => rotations.push(e) }));
    expect(texts(await take(it, 1))).toEqual(["old-1"]);
    const rest = take(it, 6);
    // Written to the old file just before the rename, then (by a writer that still holds it) after.
    await appendFile(log, "old-2\nold-3\n");
    await rename(log, `${log}.1`);
    await appendFile(`${log}.1`, "old-4\n");
    await writeFile(log, "new-1\n");
    await appendFile(log, "new-2\nnew-3\n");
    const lines = await rest;
    expect(texts(lines)).toEqual(["old-2", "old-3", "old-4", "new-1", "new-2", "new-3"]);
    const newInode = await inodeOf(log);
    expect(lines.map((l) => l.pos?.inode)).toEqual([oldInode, oldInode, oldInode, newInode, newInode, newInode]);
    expect(lines[3]?.pos?.start).toBe(0);
    expect(lines[3]?.lineNo).toBe(1);
    expect(rotations).toEqual([{ path: log, oldInode, newInode }]);
    // The rotated file is closed once finished.
    expect(await openFdsTo(`${log}.1`)).toBe(0);
  });

  it("keeps reading the renamed file while no new file exists yet", async () => {
    await writeFile(log, "a\n");
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 20 }));
    expect(texts(await take(it, 1))).toEqual(["a"]);
    const rest = take(it, 4);
    await rename(log, `${log}.1`);
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(`${log}.1`, "b\nc");
    await new Promise((r) => setTimeout(r, 100));
    // The writer finishes its line in the old file, then reopens the path.
    await appendFile(`${log}.1`, "\n");
    await new Promise((r) => setTimeout(r, 100));
    await writeFile(log, "d\n");
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(log, "e\n");
    const lines = await rest;
    expect(texts(lines)).toEqual(["b", "c", "d", "e"]);
    expect(lines.map((l) => l.pos?.start)).toEqual([2, 4, 0, 2]);
  });

  it("survives several rotations in a row while lines keep coming", async () => {
    await writeFile(log, "");
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 10 }));
    const got = take(it, 60, 10_000);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) {
        await appendFile(log, `r${round}-${i}\n`);
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 30));
      await rename(log, `${log}.${round + 1}`);
      await writeFile(log, "");
    }
    const expected = [0, 1, 2].flatMap((round) => Array.from({ length: 20 }, (_, i) => `r${round}-${i}`));
    expect(texts(await got)).toEqual(expected);
  });

  it("restarts at 0 after truncation", async () => {
    await writeFile(log, "first line\nsecond line\n");
    const truncations: Array<{ size: number; offset: number }> = [];
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 20, onTruncate: (e) => truncations.push(e) }));
    expect(texts(await take(it, 2))).toEqual(["first line", "second line"]);
    const next = take(it, 2);
    await truncate(log, 0);
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(log, "x\ny\n");
    const lines = await next;
    expect(texts(lines)).toEqual(["x", "y"]);
    expect(lines[0]?.pos?.start).toBe(0);
    expect(lines[0]?.lineNo).toBe(1);
    expect(truncations).toHaveLength(1);
    expect(truncations[0]).toMatchObject({ offset: 23 });
  });

  it("caps very long lines but keeps their positions exact", async () => {
    const long = "x".repeat(25);
    await writeFile(log, `short\n${long}\nafter\n`);
    const lines = await all(readFileLines(log, { signal: controller.signal, maxLineBytes: 10 }));
    expect(texts(lines)).toEqual(["short", "x".repeat(10), "after"]);
    expect(lines[1]?.truncatedBytes).toBe(15);
    expect(lines[1]?.pos).toMatchObject({ start: 6, end: 32 });
    expect(lines[2]?.pos?.start).toBe(32);
    expect(lines[0]?.truncatedBytes).toBeUndefined();
  });

  it("caps a 3 MiB line at 1 MiB by default", async () => {
    await writeFile(log, `${"y".repeat(3 * 1024 * 1024)}\nok\n`);
    const lines = await all(readFileLines(log, { signal: controller.signal }));
    expect(lines[0]?.text.length).toBe(1024 * 1024);
    expect(lines[0]?.truncatedBytes).toBe(2 * 1024 * 1024);
    expect(lines[1]).toMatchObject({ text: "ok", pos: { start: 3 * 1024 * 1024 + 1 } });
  });

  it("stops when the signal aborts and closes its file", async () => {
    await writeFile(log, "a\n");
    const it = track(readFileLines(log, { signal: controller.signal, follow: true, pollMs: 20 }));
    await take(it, 1);
    const pending = it.next();
    await new Promise((r) => setTimeout(r, 50));
    expect(await openFdsTo(log)).toBe(1);
    controller.abort();
    expect((await pending).done).toBe(true);
    expect(await openFdsTo(log)).toBe(0);
  });
});

describe("readUnixSocketLines", () => {
  async function serve(path: string, onConnection: (socket: Socket) => void): Promise<Server> {
    const server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, resolve);
    });
    return server;
  }

  async function shutdown(server: Server, clients: Socket[]): Promise<void> {
    for (const c of clients) c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(server.address() as string, { force: true }).catch(() => {});
  }

  it("reads lines, reconnects when the server goes away, and gets everything sent after it is back", async () => {
    const sock = join(dir, "audispd.sock");
    const statuses: SocketStatus[] = [];
    const it = track(readUnixSocketLines(sock, { signal: controller.signal, reconnectMs: 20, maxReconnectMs: 100, onStatus: (s) => statuses.push(s) }));
    // Nothing listens yet: the reader keeps trying.
    const firstBatch = take(it, 3);
    await new Promise((r) => setTimeout(r, 150));
    const clients: Socket[] = [];
    let server = await serve(sock, (c) => {
      clients.push(c);
      // One line split across writes, one with CRLF, one with a multi-byte char split in two.
      c.write("type=A msg=audit(1.0:1): one\ntype=B ");
      setTimeout(() => c.write(Buffer.concat([Buffer.from("two\r\nthr"), Buffer.from("é", "utf8").subarray(0, 1)])), 20);
      setTimeout(() => c.write(Buffer.concat([Buffer.from("é", "utf8").subarray(1), Buffer.from("e\n")])), 40);
    });
    expect(texts(await firstBatch)).toEqual(["type=A msg=audit(1.0:1): one", "type=B two", "thrée"]);
    expect(statuses.filter((s) => s.state === "disconnected").length).toBeGreaterThan(0);

    await shutdown(server, clients);
    const secondBatch = take(it, 3);
    await new Promise((r) => setTimeout(r, 150));
    server = await serve(sock, (c) => {
      clients.push(c);
      c.write("after-1\nafter-2\n");
      setTimeout(() => c.end("after-3\n"), 20);
    });
    const lines = await secondBatch;
    expect(texts(lines)).toEqual(["after-1", "after-2", "after-3"]);
    expect(lines[0]?.lineNo).toBe(1);
    expect(statuses.filter((s) => s.state === "connected")).toHaveLength(2);
    controller.abort();
    expect((await it.next()).done).toBe(true);
    await shutdown(server, clients);
  });

  it("stops promptly when aborted while connected and idle", async () => {
    const sock = join(dir, "idle.sock");
    const clients: Socket[] = [];
    const server = await serve(sock, (c) => {
      clients.push(c);
      c.write("hello\n");
    });
    const it = track(readUnixSocketLines(sock, { signal: controller.signal }));
    expect(texts(await take(it, 1))).toEqual(["hello"]);
    const pending = it.next();
    setTimeout(() => controller.abort(), 50);
    expect((await pending).done).toBe(true);
    await shutdown(server, clients);
  });
});

describe("readStreamLines", () => {
  it("splits chunks into lines and emits the last unterminated one at the end", async () => {
    const stream = new PassThrough();
    const got = all(readStreamLines(stream, { signal: controller.signal }));
    stream.write("a\r\nb");
    stream.write(Buffer.from("ö", "utf8").subarray(0, 1));
    stream.write(Buffer.concat([Buffer.from("ö", "utf8").subarray(1), Buffer.from("\n\nlast")]));
    stream.end();
    const lines = await got;
    expect(lines).toEqual([
      { text: "a", lineNo: 1 },
      { text: "bö", lineNo: 2 },
      { text: "", lineNo: 3 },
      { text: "last", lineNo: 4 },
    ]);
  });

  it("stops when aborted while the stream is idle", async () => {
    const stream = new PassThrough();
    const it = track(readStreamLines(stream, { signal: controller.signal }));
    stream.write("x\n");
    expect(texts(await take(it, 1))).toEqual(["x"]);
    const pending = it.next();
    setTimeout(() => controller.abort(), 20);
    expect((await pending).done).toBe(true);
    expect(stream.destroyed).toBe(true);
  });
});
