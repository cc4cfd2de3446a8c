// Kills a real writer process with SIGKILL at random moments and checks what survives. The child
// runs the compiled store (node cannot load .ts here), so `npm run build` must have run first.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { getCheckpoint } from "../../src/store/checkpoints.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "./tmp.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const distStore = join(root, "dist", "src", "store");
const distUrl = (file: string): string => pathToFileURL(join(distStore, file)).href;

beforeAll(() => {
  const stale = readdirSync(join(root, "src", "store"))
    .filter((f) => f.endsWith(".ts"))
    .filter((f) => {
      const js = join(distStore, f.replace(/\.ts$/, ".js"));
      return !existsSync(js) || statSync(js).mtimeMs < statSync(join(root, "src", "store", f)).mtimeMs;
    });
  if (stale.length > 0) throw new Error(`dist/src/store is missing or older than src/store (${stale.join(", ")}); run \`npm run build\` first`);
});

const PER_BATCH = 400;

// Writes batch after batch forever; batch k holds events k*N .. k*N+N-1, each carrying the
// checkpoint just past itself. It resumes one batch before its checkpoint, as a collector that
// re-reads after a restart would, and reports how many events of that first batch were new.
const writerScript = `
import { openStore } from ${JSON.stringify(distUrl("open.js"))};
import { storeBatch } from ${JSON.stringify(distUrl("events.js"))};
import { getCheckpoint } from ${JSON.stringify(distUrl("checkpoints.js"))};
const [path, n] = [process.argv[2], Number(process.argv[3])];
const db = openStore(path);
const cp = getCheckpoint(db, "crash");
let k = cp === undefined ? 0 : Math.max(0, cp.offset / n - 1);
const pad = "x".repeat(300);
for (let first = true; ; first = false, k++) {
  const batch = [];
  for (let j = 0; j < n; j++) {
    const i = k * n + j;
    batch.push({
      event: {
        "@timestamp": new Date(1.7e12 + i).toISOString(),
        event: { id: "e" + i, kind: "event", module: "hv", action: "crash-test", category: [], type: [], outcome: "unknown" },
        tags: [pad],
      },
      checkpoint: { source: "crash", inode: "1", offset: i + 1 },
    });
  }
  const fresh = storeBatch(db, batch);
  if (first) process.stdout.write(JSON.stringify({ resumedAt: k, fresh: fresh.length }) + "\\n");
}
`;

async function firstLine(child: ChildProcess): Promise<string> {
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  for await (const chunk of child.stdout!) {
    out += (chunk as Buffer).toString();
    const nl = out.indexOf("\n");
    if (nl >= 0) return out.slice(0, nl);
  }
  throw new Error(`writer exited without output: ${err}`);
}

describe("a writer killed with SIGKILL", () => {
  it("leaves every batch fully stored or fully absent, and the checkpoint at the last stored batch", async () => {
    const dir = tempDir();
    const script = join(dir, "writer.mjs");
    writeFileSync(script, writerScript);
    const path = join(dir, "hv.db");
    let lastComplete = -1;

    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, [script, path, String(PER_BATCH)], { stdio: ["ignore", "pipe", "pipe"] });
      const exited = once(child, "exit");
      const hello = JSON.parse(await firstLine(child)) as { resumedAt: number; fresh: number };
      if (round > 0) {
        // The re-read batch was already there: nothing of it is new.
        expect(hello).toEqual({ resumedAt: lastComplete, fresh: 0 });
      }
      await sleep(20 + Math.random() * 300);
      child.kill("SIGKILL");
      const [code, signal] = await exited;
      expect({ code, signal }).toEqual({ code: null, signal: "SIGKILL" });

      const db = openStore(path);
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      const perBatch = new Map<number, number>();
      for (const id of db.prepare(`SELECT id FROM events`).pluck().all() as string[]) {
        const k = Math.floor(Number(id.slice(1)) / PER_BATCH);
        perBatch.set(k, (perBatch.get(k) ?? 0) + 1);
      }
      const batches = [...perBatch.keys()].sort((a, b) => a - b);
      const newest = batches.at(-1)!;
      expect(batches).toEqual(Array.from({ length: newest + 1 }, (_, k) => k));
      for (const [k, n] of perBatch) expect({ batch: k, events: n }).toEqual({ batch: k, events: PER_BATCH });
      expect(getCheckpoint(db, "crash")).toEqual({ source: "crash", inode: "1", offset: (newest + 1) * PER_BATCH });
      expect(newest).toBeGreaterThan(lastComplete);
      lastComplete = newest;
      db.close();
    }
  });

  it("a pending flush timer does not keep the process alive", async () => {
    const dir = tempDir();
    const script = join(dir, "idle.mjs");
    writeFileSync(
      script,
      `
      import { openStore } from ${JSON.stringify(distUrl("open.js"))};
      import { BatchWriter } from ${JSON.stringify(distUrl("writer.js"))};
      const writer = new BatchWriter(openStore(process.argv[2]), { flushIntervalMs: 60000 });
      writer.add({ event: { "@timestamp": new Date().toISOString(), event: { id: "x", kind: "event", module: "hv", action: "a", category: [], type: [], outcome: "unknown" } } });
      `,
    );
    const child = spawn(process.execPath, [script, join(dir, "hv.db")], { stdio: "ignore" });
    const guard = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
    clearTimeout(guard);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});
