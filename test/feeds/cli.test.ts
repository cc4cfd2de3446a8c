// `hv feeds` end to end: the built CLI in its own process, a real loopback feed server, a real
// store in a temporary state directory. Needs `npm run build` first (npm test does it).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";
import { startFeedServer, type FeedServer } from "./feed-server.js";

const FIX = new URL("../fixtures/feeds/", import.meta.url).pathname;
let srv: FeedServer;
let stateDir: string;

const hv = (args: string[]) => runHv(args, { stateDir, timeoutMs: 30_000 });
const ok = async (args: string[]) => mustSucceed(args, await hv(args));
const list = (n: number) => Array.from({ length: n }, (_, i) => `198.51.100.${i + 1}`).join("\n") + "\n";

beforeAll(async () => {
  srv = await startFeedServer();
  stateDir = mkdtempSync(join(tmpdir(), "hv-feeds-cli-"));
});

afterAll(async () => {
  await srv.close();
  rmSync(stateDir, { recursive: true, force: true });
});

// Each hv process loads the whole CLI; on a loaded machine a test of ten commands takes a while.
describe("hv feeds", { timeout: 180_000 }, () => {
  it("adds, lists, syncs, shows and removes a feed", async () => {
    srv.serve("/c2.txt", list(20));
    const added = await ok(["feeds", "add", "c2", `${srv.url}/c2.txt`, "--schedule", "2h", "--action", "block", "--mode", "enforce", "--paths", "input,taps", "--severity", "high", "--json"]);
    expect(added.json).toMatchObject({ name: "c2", url: `${srv.url}/c2.txt`, format: "auto", schedule: "2h", action: "block", block: { mode: "enforce", paths: ["input", "taps"] }, severity: "high", entries: 0, version: 0 });

    const dup = await hv(["feeds", "add", "c2", `${srv.url}/c2.txt`]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/feed c2 already exists/);

    const synced = await ok(["feeds", "sync"]);
    expect(synced.stdout).toMatch(/^c2: updated, 20 entries \(\+20 -0\), v1 HTTP 200/m);

    const again = await ok(["feeds", "sync", "c2", "--json"]);
    expect(again.json).toMatchObject({ feed: "c2", status: "not-modified", entries: 20 });

    const listed = await ok(["feeds", "list", "--json"]);
    expect(listed.json).toMatchObject({ name: "c2", entries: 20, version: 1 });
    expect((await ok(["feeds", "list"])).stdout).toMatch(/^c2\s+auto\s+block\/enforce\s+2h\s+20\s+1 /m);

    const shown = await ok(["feeds", "show", "c2", "--entries", "2", "--json"]);
    const s = shown.json as { feed: { entries: number }; entries: Array<{ value: string; feed: string }>; syncs: Array<{ status: string }> };
    expect(s.entries.map((e) => e.value)).toEqual(["198.51.100.1", "198.51.100.10"]);
    expect(s.syncs.map((x) => x.status)).toEqual(["not-modified", "updated"]);
    expect((await ok(["feeds", "show", "c2"])).stdout).toMatch(/recent syncs:/);

    // --replace: new settings, same entries and version (what the NixOS module runs at every boot).
    const replaced = await ok(["feeds", "add", "c2", `${srv.url}/c2.txt`, "--schedule", "6h", "--action", "block", "--mode", "monitor", "--replace", "--json"]);
    expect(replaced.json).toMatchObject({ name: "c2", schedule: "6h", block: { mode: "monitor" }, entries: 20, version: 1 });

    expect((await ok(["feeds", "remove", "c2", "--json"])).json).toEqual({ name: "c2", removed: true });
    expect((await ok(["feeds", "list"])).stdout).toMatch(/no feeds/);
  });

  it("exits 1 when a feed is rejected, says why, and keeps the last good set", async () => {
    srv.serve("/p.txt", list(30));
    await ok(["feeds", "add", "p", `${srv.url}/p.txt`]);
    await ok(["feeds", "sync", "p"]);
    srv.serve("/p.txt", "<!DOCTYPE html><html><body>Bad gateway</body></html>", { contentType: "text/html" });
    const r = await hv(["feeds", "sync", "p"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^p: REJECTED — the response is an HTML page \(Content-Type: text\/html\), not a feed \[HTTP 200\]; last good set kept \(30 entries\)$/m);
    const shown = await ok(["feeds", "show", "p", "--entries", "100", "--json"]);
    expect((shown.json as { entries: unknown[] }).entries.length).toBe(30);
    expect((shown.json as { feed: { lastError: string } }).feed.lastError).toMatch(/HTML page/);
  });

  it("syncs a local file and reports rejected entries on one line", async () => {
    await ok(["feeds", "add", "local", join(FIX, "plain.txt"), "--no-schedule"]);
    const r = await ok(["feeds", "sync", "local"]);
    expect(r.stdout).toMatch(/^local: updated, 5 entries .*3 entries rejected: not an IP address or CIDR ×2, bad prefix length \/33 ×1$/m);
  });

  it("refuses bad options with the field named", async () => {
    const bad = await hv(["feeds", "add", "x", "http://127.0.0.1/x", "--format", "csv"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/feed spec: format:/);
    const mode = await hv(["feeds", "add", "x", "http://127.0.0.1/x", "--mode", "enforce"]);
    expect(mode.stderr).toMatch(/--mode and --paths apply to --action block/);
    const ftp = await hv(["feeds", "add", "x", "ftp://127.0.0.1/x"]);
    expect(ftp.stderr).toMatch(/feed spec: url: only http/);
    const missing = await hv(["feeds", "sync", "nope"]);
    expect(missing.stderr).toMatch(/no feed named nope/);
  });

  it("adds a preset", async () => {
    const r = await ok(["feeds", "add", "--preset", "spamhaus-drop", "--json"]);
    expect(r.json).toMatchObject({ name: "spamhaus-drop", format: "spamhaus-json", url: "https://www.spamhaus.org/drop/drop_v4.json", action: "alert" });
    expect((await ok(["feeds", "presets"])).stdout).toMatch(/feodo/);
  });

  it("has --help with examples on every command", async () => {
    for (const cmd of [[], ["add"], ["list"], ["show"], ["sync"], ["remove"], ["presets"]]) {
      const r = await ok(["feeds", ...cmd, "--help"]);
      expect(r.stdout).toMatch(/Example/);
    }
  });
});
