// startPipeline end to end on a real SQLite file: a file source is held back by a tiny queue and
// loses nothing; a live source that cannot be paused loses exactly what it is told it lost; a
// re-read file stores nothing twice and downstream sees each event once; a real unix socket
// delivers everything.
import { statSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startPipeline, type RunningPipeline } from "../../src/agent/pipeline.js";
import { AuditCollector } from "../../src/collectors/audit/collector.js";
import type { Collector, Envelope } from "../../src/events/collector.js";
import type { HvEvent } from "../../src/events/event.js";
import { BoundedQueue } from "../../src/events/queue.js";
import { getCheckpoint } from "../../src/store/checkpoints.js";
import { countEvents, listEvents } from "../../src/store/events.js";
import { openStore } from "../../src/store/open.js";
import { makeEvent } from "../helpers/events.js";
import { tempDir } from "../store/tmp.js";

const BASE_SEC = 1_700_000_000;

/** One audit event as auditd 3 logs it (no EOE): SYSCALL, EXECVE, PROCTITLE under serial n. */
function auditEvent(n: number): string {
  const t = `${BASE_SEC + Math.floor(n / 1000)}.${String(n % 1000).padStart(3, "0")}`;
  const title = Buffer.from(`/bin/x\0arg-${n}`).toString("hex");
  return (
    `type=SYSCALL msg=audit(${t}:${n}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=0 ppid=1 pid=${n} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/bin/x" key=(null)\n` +
    `type=EXECVE msg=audit(${t}:${n}): argc=2 a0="/bin/x" a1="arg-${n}"\n` +
    `type=PROCTITLE msg=audit(${t}:${n}): proctitle=${title}\n`
  );
}

/** The expected event id of auditEvent(n) (see normalize.ts eventId). */
function auditId(n: number): string {
  return `audit::${BASE_SEC + Math.floor(n / 1000)}.${String(n % 1000).padStart(3, "0")}:${n}`;
}

function writeAuditLog(path: string, count: number): { size: number; lastEventStart: number } {
  const parts: string[] = [];
  for (let n = 1; n <= count; n++) parts.push(auditEvent(n));
  const text = parts.join("");
  writeFileSync(path, text);
  const size = Buffer.byteLength(text);
  return { size, lastEventStart: size - Buffer.byteLength(parts[parts.length - 1]!) };
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with `p`, or rejects if it takes longer than `ms` (a hung pipeline fails fast, with a reason). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Counts pushes into any BoundedQueue, and how many found it full (backpressure engaged). */
function watchPushes(): { pushes: number; intoFullQueue: number; maxLength: number } {
  const watch = { pushes: 0, intoFullQueue: 0, maxLength: 0 };
  const realPush = BoundedQueue.prototype.push;
  vi.spyOn(BoundedQueue.prototype, "push").mockImplementation(function (this: BoundedQueue<unknown>, item: unknown) {
    watch.pushes++;
    if (this.length >= this.capacity) watch.intoFullQueue++;
    watch.maxLength = Math.max(watch.maxLength, this.length);
    return realPush.call(this, item);
  });
  return watch;
}

const openDbs: Database.Database[] = [];
function db(path: string): Database.Database {
  const d = openStore(path);
  openDbs.push(d);
  return d;
}
afterEach(() => {
  for (const d of openDbs.splice(0)) d.close();
  vi.restoreAllMocks();
});

/** Runs a pipeline to completion, collecting what downstream saw and any errors. */
async function runToEnd(
  database: Database.Database,
  collectors: Collector[],
  opts: { queueCapacity?: number; batchSize?: number; seen?: HvEvent[] } = {},
): Promise<{ pipeline: RunningPipeline; seen: HvEvent[]; errors: Array<[unknown, string]> }> {
  const seen = opts.seen ?? [];
  const errors: Array<[unknown, string]> = [];
  const pipeline = startPipeline(
    {
      db: database,
      collectors,
      ...(opts.queueCapacity !== undefined ? { queueCapacity: opts.queueCapacity } : {}),
      batchSize: opts.batchSize ?? 100,
      flushIntervalMs: 10,
      onEvents: (events) => seen.push(...events),
      onError: (err, where) => errors.push([err, where]),
    },
    new AbortController().signal,
  );
  await within(pipeline.done, 8000, "pipeline");
  return { pipeline, seen, errors };
}

describe("startPipeline with a file source (backpressure)", () => {
  it("stores every event of a file exactly once through a capacity-4 queue, with no drops, and stores the checkpoint", async () => {
    const dir = tempDir();
    const log = join(dir, "audit.log");
    const COUNT = 3000;
    const { lastEventStart } = writeAuditLog(log, COUNT);
    const database = db(join(dir, "hv.db"));

    const watch = watchPushes();

    const collector = new AuditCollector({ kind: "file", path: log, follow: false });
    expect(collector.live).toBe(false);
    const { pipeline, seen, errors } = await runToEnd(database, [collector], { queueCapacity: 4 });

    expect(errors).toEqual([]);
    // A file source goes through push(), never offer(). (It spends more turns of the event loop
    // per event than the synchronous consumer does, so the queue rarely fills here; the
    // test collectors below make sure the waiting path is taken.)
    expect(watch.pushes).toBe(COUNT);
    expect(watch.maxLength).toBeLessThanOrEqual(4);
    expect(pipeline.stats()).toEqual({ accepted: COUNT, queued: 0, stored: COUNT, duplicates: 0, drops: {} });

    expect(countEvents(database)).toBe(COUNT);
    const stored = listEvents(database);
    const ids = stored.map((e) => e.event.id);
    expect(new Set(ids).size).toBe(COUNT);
    expect(ids).toEqual(Array.from({ length: COUNT }, (_, i) => auditId(i + 1)));
    // Whole events, not fragments: each has its command line from EXECVE and its pid from SYSCALL.
    expect(stored[41]!.process?.args).toEqual(["/bin/x", "arg-42"]);
    expect(stored[41]!.process?.pid).toBe(42);
    expect(stored.every((e) => e.event.partial !== true)).toBe(true);

    // Downstream saw exactly what was stored, once, in order.
    expect(seen.map((e) => e.event.id)).toEqual(ids);

    // The checkpoint is in the store: the file's inode, and the start of the last event, which was
    // only closed by end of input (no EOE, no following record), so a restart re-reads just that.
    expect(getCheckpoint(database, collector.name)).toEqual({
      source: collector.name,
      inode: String(statSync(log).ino),
      offset: lastEventStart,
    });
  });

  /** A source that can wait (like a file), emitting as fast as the queue lets it: it outruns the consumer. */
  class FastPausableCollector implements Collector {
    readonly live = false;
    constructor(
      readonly name: string,
      private readonly count: number,
    ) {}
    async run(emit: (item: Envelope) => Promise<void> | void): Promise<void> {
      for (let i = 0; i < this.count; i++) {
        const event = makeEvent(i, { event: { id: `${this.name}-${i}` } });
        await emit({ event, checkpoint: { source: this.name, inode: "1", offset: i + 1 } });
      }
    }
  }

  it("holds back pausable sources that outrun the consumer, losing nothing, with several waiting on the queue at once", async () => {
    const dir = tempDir();
    const database = db(join(dir, "hv.db"));
    const watch = watchPushes();
    const PER = 4000;
    const collectors = ["fa", "fb", "fc"].map((name) => new FastPausableCollector(name, PER));
    const { pipeline, seen, errors } = await runToEnd(database, collectors, { queueCapacity: 4, batchSize: 250 });

    expect(errors).toEqual([]);
    // Backpressure really engaged: many pushes found the queue full and had to wait.
    expect(watch.intoFullQueue).toBeGreaterThan(100);
    expect(watch.maxLength).toBeLessThanOrEqual(4);
    expect(pipeline.stats()).toEqual({ accepted: 3 * PER, queued: 0, stored: 3 * PER, duplicates: 0, drops: {} });
    expect(countEvents(database)).toBe(3 * PER);
    expect(seen.length).toBe(3 * PER);
    // Each source's events arrive in its own order, and its last position is the checkpoint.
    for (const c of collectors) {
      const mine = seen.filter((e) => e.event.id.startsWith(`${c.name}-`)).map((e) => Number(e.event.id.slice(c.name.length + 1)));
      expect(mine).toEqual(Array.from({ length: PER }, (_, i) => i));
      expect(getCheckpoint(database, c.name)).toEqual({ source: c.name, inode: "1", offset: PER });
    }
  });

  it("stores nothing new when the same file is read again into the same store; downstream sees each event once overall", async () => {
    const dir = tempDir();
    const log = join(dir, "audit.log");
    const COUNT = 1500;
    writeAuditLog(log, COUNT);
    const dbPath = join(dir, "hv.db");
    const seen: HvEvent[] = [];

    const first = await runToEnd(db(dbPath), [new AuditCollector({ kind: "file", path: log, follow: false })], { queueCapacity: 8, seen });
    expect(first.errors).toEqual([]);
    expect(first.pipeline.stats()).toMatchObject({ stored: COUNT, duplicates: 0, drops: {} });
    expect(seen.length).toBe(COUNT);

    // A second agent run over the same file and store (a fresh connection, as after a restart),
    // without a checkpoint to resume from: it reads everything again.
    const second = await runToEnd(db(dbPath), [new AuditCollector({ kind: "file", path: log, follow: false })], { queueCapacity: 8, seen });
    expect(second.errors).toEqual([]);
    expect(second.pipeline.stats()).toEqual({ accepted: COUNT, queued: 0, stored: 0, duplicates: COUNT, drops: {} });

    expect(seen.length).toBe(COUNT);
    expect(new Set(seen.map((e) => e.event.id)).size).toBe(COUNT);
    expect(countEvents(db(dbPath))).toBe(COUNT);

    // Resuming from the stored checkpoint re-reads only the last event, which is again a duplicate.
    const name = new AuditCollector({ kind: "file", path: log, follow: false }).name;
    const from = getCheckpoint(db(dbPath), name);
    expect(from).toBeDefined();
    const third = await runToEnd(db(dbPath), [new AuditCollector({ kind: "file", path: log, follow: false, from: from! })], { seen });
    expect(third.pipeline.stats()).toEqual({ accepted: 1, queued: 0, stored: 0, duplicates: 1, drops: {} });
    expect(seen.length).toBe(COUNT);
  });
});

describe("startPipeline with a live source that cannot be paused", () => {
  /** Emits its events as fast as it can, synchronously, never waiting for the queue. */
  class BurstCollector implements Collector {
    readonly name = "burstCollectorForTest";
    readonly live = true;
    emitted = 0;
    constructor(
      private readonly bursts: number,
      private readonly perBurst: number,
    ) {}
    async run(emit: (item: Envelope) => Promise<void> | void): Promise<void> {
      for (let b = 0; b < this.bursts; b++) {
        for (let i = 0; i < this.perBurst; i++) {
          const n = b * this.perBurst + i;
          // A live source must not wait: whatever emit returns is ignored, as a socket would.
          void emit({ event: makeEvent(n, { event: { id: `burst-${n}` } }) });
          this.emitted++;
        }
        // Between bursts the consumer gets to drain the queue (and the writer to store).
        await new Promise((r) => setImmediate(r));
      }
    }
  }

  it("drops what does not fit into a capacity-16 queue and accounts for every event exactly: stored + drops = emitted", async () => {
    const dir = tempDir();
    const database = db(join(dir, "hv.db"));
    const collector = new BurstCollector(1, 5000);
    const { pipeline, seen, errors } = await runToEnd(database, [collector], { queueCapacity: 16 });
    const stats = pipeline.stats();
    const N = collector.emitted;
    expect(N).toBe(5000);

    expect(errors).toEqual([]);
    // Drops are reported under the collector's name, and only there.
    expect(Object.keys(stats.drops)).toEqual(["burstCollectorForTest"]);
    const drops = stats.drops["burstCollectorForTest"]!;
    expect(drops).toBeGreaterThan(0);
    expect(stats.stored + drops).toBe(N);
    expect(stats.accepted).toBe(stats.stored);
    expect(stats.duplicates).toBe(0);
    // One synchronous burst: at least the whole queue got in, but not much more than that.
    expect(stats.stored).toBeGreaterThanOrEqual(16);
    expect(stats.stored).toBeLessThanOrEqual(17);
    expect(countEvents(database)).toBe(stats.stored);
    expect(seen.length).toBe(stats.stored);
  });

  it("keeps exact accounts over many bursts", async () => {
    const dir = tempDir();
    const database = db(join(dir, "hv.db"));
    const collector = new BurstCollector(50, 200);
    const { pipeline, errors } = await runToEnd(database, [collector], { queueCapacity: 16, batchSize: 32 });
    const stats = pipeline.stats();
    const drops = stats.drops["burstCollectorForTest"] ?? 0;

    expect(errors).toEqual([]);
    expect(collector.emitted).toBe(10_000);
    expect(drops).toBeGreaterThan(0);
    expect(stats.stored + drops).toBe(10_000);
    // The queue was drained between bursts, so much more than one queueful got through.
    expect(stats.stored).toBeGreaterThan(16 * 10);
    expect(countEvents(database)).toBe(stats.stored);
    // What got through is in the order it was emitted.
    const seq = listEvents(database).map((e) => Number(e.event.id.slice("burst-".length)));
    expect(seq).toEqual([...seq].sort((a, b) => a - b));
  });
});

describe("startPipeline when the store fails for a while", () => {
  it("reports a failed batch through onError, keeps draining, and stores it once the store works again", async () => {
    const dir = tempDir();
    const dbPath = join(dir, "hv.db");
    const database = db(dbPath);
    database.pragma("busy_timeout = 0");
    // Another connection (the CLI, say) holds the write lock: every commit fails with SQLITE_BUSY.
    const locker = new Database(dbPath);
    openDbs.push(locker);
    locker.exec("BEGIN IMMEDIATE");

    const COUNT = 400;
    const collector: Collector = {
      name: "pausable",
      live: false,
      async run(emit) {
        for (let i = 0; i < COUNT; i++) {
          // Halfway through, the other connection lets go of the lock.
          if (i === COUNT / 2) locker.exec("COMMIT");
          await emit({ event: makeEvent(i, { event: { id: `p-${i}` } }), checkpoint: { source: "pausable", inode: "7", offset: i + 1 } });
        }
      },
    };
    const seen: HvEvent[] = [];
    const errors: Array<[unknown, string]> = [];
    const pipeline = startPipeline(
      { db: database, collectors: [collector], queueCapacity: 4, batchSize: 50, flushIntervalMs: 10, onEvents: (e) => seen.push(...e), onError: (err, where) => errors.push([err, where]) },
      new AbortController().signal,
    );
    // Before the fix in pipeline.ts the first failed batch killed the consumer: `done` never
    // settled (the producer waited on the full queue forever) and the error was an unhandled rejection.
    await within(pipeline.done, 3000, "pipeline with a failing store");

    expect(errors.length).toBeGreaterThan(0);
    for (const [err, where] of errors) {
      expect(where).toBe("store");
      expect((err as { code?: string }).code).toBe("SQLITE_BUSY");
    }
    expect(pipeline.stats()).toEqual({ accepted: COUNT, queued: 0, stored: COUNT, duplicates: 0, drops: {} });
    expect(countEvents(database)).toBe(COUNT);
    expect(seen.map((e) => e.event.id)).toEqual(Array.from({ length: COUNT }, (_, i) => `p-${i}`));
    expect(getCheckpoint(database, "pausable")).toEqual({ source: "pausable", inode: "7", offset: COUNT });
  });
});

describe("startPipeline with a unix socket source", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  });

  it("stores every event written to the socket, then ends when aborted", async () => {
    const dir = tempDir();
    const socketPath = join(dir, "audispd.sock");
    const COUNT = 800;
    const clients: Socket[] = [];
    const server = createServer((client) => {
      clients.push(client);
      // Written in uneven chunks, so lines are split across reads.
      let text = "";
      for (let n = 1; n <= COUNT; n++) text += auditEvent(n);
      const buf = Buffer.from(text);
      for (let at = 0; at < buf.length; at += 4093) client.write(buf.subarray(at, at + 4093));
    });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });

    const database = db(join(dir, "hv.db"));
    const collector = new AuditCollector({ kind: "socket", path: socketPath });
    expect(collector.live).toBe(true);
    const seen: HvEvent[] = [];
    const errors: Array<[unknown, string]> = [];
    const ac = new AbortController();
    const pipeline = startPipeline(
      { db: database, collectors: [collector], batchSize: 100, flushIntervalMs: 10, onEvents: (e) => seen.push(...e), onError: (err, where) => errors.push([err, where]) },
      ac.signal,
    );

    // The last event has no following record: the collector's expiry timer closes it.
    await waitUntil(`${COUNT} events stored`, () => pipeline.stats().stored >= COUNT, 6000);
    ac.abort();
    await within(pipeline.done, 3000, "pipeline after abort");
    for (const c of clients) c.destroy();

    expect(errors).toEqual([]);
    expect(pipeline.stats()).toEqual({ accepted: COUNT, queued: 0, stored: COUNT, duplicates: 0, drops: {} });
    expect(countEvents(database)).toBe(COUNT);
    const ids = listEvents(database).map((e) => e.event.id);
    expect(ids).toEqual(Array.from({ length: COUNT }, (_, i) => auditId(i + 1)));
    expect(seen.map((e) => e.event.id)).toEqual(ids);
    // A socket has no position to resume from.
    expect(getCheckpoint(database, collector.name)).toBeUndefined();
  });
});
