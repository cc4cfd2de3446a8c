// End to end, with a real TCG guest on an isolated libvirt network, the real agent (`hv monitor`
// in its own process, watching libvirt) and real nftables: a recorded "QEMU spawns a shell" —
// real auditd records from test/fixtures/audit/hv, retargeted to this guest's live qemu pid — is
// appended to the audit log the agent follows. Then:
//   - monitor playbook: the actions are recorded and nothing changes (nft ruleset, libvirt state,
//     files, and the guest's own pings);
//   - automatic playbook: the guest is quarantined (its pings to the host fail, seen from inside
//     the guest), a forensic bundle appears and verifies, `hv quarantine release` restores traffic;
//   - crash: the agent is killed with SIGKILL while the guest is quarantined with a TTL; the
//     quarantine stays in force through the restart, and the restarted agent lifts it when the TTL
//     runs out.
// The guest prints HV-PING ok|fail every second (scripts/build-test-guest.sh, kernel option hv.ping).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retargetAuditRecording } from "../../src/collectors/audit/retarget.js";
import { HV_BIN, mustSucceed, runHv } from "../helpers/hv-cli.js";
import {
  cleanupTestResources,
  createIsolatedNetwork,
  defineTestGuest,
  domIfList,
  ensureLibvirtd,
  libvirtSkipReason,
  virsh,
  waitFor,
  waitForBoot,
  type RunningLibvirt,
  type TestGuest,
} from "../helpers/libvirt.js";

const PREFIX = "hvtest-e2e-";
const VM = `${PREFIX}vm`;
const TABLES = { inet: "hvte2e", netdev: "hvte2e" };
const RULE = "caa1bc1b-5329-4d1b-8e56-af2a262d95b9"; // QEMU Process Spawns A Shell Or Interpreter
const RECORDING = readFileSync(new URL("../fixtures/audit/hv/qemu_child_shell.log", import.meta.url), "utf8");
const RECORDED_QEMU_PID = 1384;

function whyNotNft(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  const r = spawnSyncQuiet("nft", ["--version"]);
  if (!r) {
    if (process.env.CI === "true") throw new Error("nft is missing under CI");
    return "nft is missing (apt-get install nftables)";
  }
  return undefined;
}

function spawnSyncQuiet(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}

const skip = libvirtSkipReason({ guest: true }) ?? whyNotNft();

interface Agent {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startAgent(dir: string, playbooks: string, auditLog: string): Agent {
  const child = spawn(process.execPath, [HV_BIN, "monitor", "--audit-log", auditLog, "--state-dir", join(dir, "state"), "--config", join(dir, "hv.yaml"), "--playbooks", playbooks, "--no-tui", "--json", "--status-every", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

/** waitFor, with the agent's output in the error when it times out. */
async function waitWithAgent(a: Agent, check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  try {
    await waitFor(check, timeoutMs, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- agent stderr ---\n${a.stderr().slice(-4000)}`);
  }
}

async function stopAgent(a: Agent | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!a || a.child.exitCode !== null || a.child.signalCode !== null) return;
  a.child.kill(signal);
  await a.exited;
}

/** The guest's HV-PING verdicts written after `from` characters of its serial log. */
function pingsSince(serialLog: string, from: number): string[] {
  const text = readFileSync(serialLog, "utf8").slice(from);
  return [...text.matchAll(/HV-PING (ok|fail)/g)].map((m) => m[1]!);
}

/** Waits until the guest's last `n` pings (after `from`) all say `want`. */
async function waitForPings(serialLog: string, from: number, want: "ok" | "fail", n = 3, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    () => {
      const p = pingsSince(serialLog, from);
      return p.length >= n && p.slice(-n).every((x) => x === want);
    },
    timeoutMs,
    `${n} consecutive "HV-PING ${want}" from the guest`,
  );
}

function serialLength(serialLog: string): number {
  return readFileSync(serialLog, "utf8").length;
}

interface ActionRow {
  id: number;
  action: string;
  status: string;
  mode: string;
  result: string | null;
  undone: number | null;
  undone_by: string | null;
  json: string | null;
}

function storeRows<T>(dir: string, sql: string): T[] {
  const db = new Database(join(dir, "state", "hv.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

const actionRows = (dir: string): ActionRow[] => {
  try {
    return storeRows<ActionRow>(dir, "SELECT id, action, status, mode, result, undone, undone_by, json FROM actions ORDER BY id");
  } catch {
    return []; // the agent has not created the store yet
  }
};

/** nft's ruleset with counters and handles taken out (they move with any traffic). */
async function rulesetText(): Promise<string> {
  const r = await execa("nft", ["list", "ruleset"]);
  return r.stdout.replace(/counter packets \d+ bytes \d+/g, "counter").replace(/# handle \d+/g, "");
}

async function libvirtState(): Promise<string> {
  return [await virsh("domstate", VM), await virsh("dumpxml", VM), await virsh("snapshot-list", VM, "--name"), await virsh("domblklist", VM)].join("\n---\n");
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length))
    .filter((f) => !/\/hv\.db(-wal|-shm)?$/.test(f))
    .sort();
}

async function qemuPid(): Promise<number> {
  return Number(readFileSync(`/run/libvirt/qemu/${VM}.pid`, "utf8").trim());
}

/** The recorded attack, as if this guest's qemu had run the shell just now. */
async function appendAttack(auditLog: string, serialBase: number): Promise<void> {
  appendFileSync(auditLog, retargetAuditRecording(RECORDING, { pids: new Map([[RECORDED_QEMU_PID, await qemuPid()]]), startSerial: serialBase }));
}

function writeSetup(dir: string, mode: "monitor" | "automatic", ttl?: string): string {
  writeFileSync(
    join(dir, "hv.yaml"),
    [
      `stateDir: ${join(dir, "state")}`,
      "flows: { conntrack: false }",
      "feeds: { schedule: false }",
      `firewall: { tables: { inet: ${TABLES.inet}, netdev: ${TABLES.netdev} } }`,
      "",
    ].join("\n"),
  );
  const pb = join(dir, "playbooks");
  rmSync(pb, { recursive: true, force: true });
  mkdirSync(pb, { recursive: true });
  writeFileSync(
    join(pb, "escape.yml"),
    [
      "id: e2e-escape",
      "title: VM escape — quarantine and capture",
      `mode: ${mode}`,
      "match:",
      `  rules: [${RULE}]`,
      "  entity: [vm]",
      "actions:",
      "  - action: quarantine_vm",
      ...(ttl ? [`    ttl: ${ttl}`] : []),
      ...(ttl ? [] : ["  - action: forensic_capture", "    with: { memory: true, disk: true }"]),
      "",
    ].join("\n"),
  );
  return pb;
}

describe.skipIf(skip !== undefined)("response end to end: real guest, real agent, real nftables", () => {
  let libvirt: RunningLibvirt;
  let guest: TestGuest;
  let tap = "";
  const dirs: string[] = [];
  let agent: Agent | undefined;
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), "hv-e2e-"));
    dirs.push(d);
    return d;
  };

  beforeAll(async () => {
    libvirt = await ensureLibvirtd();
    await cleanupTestResources(PREFIX);
    await execa("nft", ["delete", "table", "inet", TABLES.inet], { reject: false });
    await execa("nft", ["delete", "table", "netdev", TABLES.netdev], { reject: false });
    const net = await createIsolatedNetwork(`${PREFIX}net`);
    guest = await defineTestGuest(VM, { network: net.name, cmdlineExtra: "hv.ping" });
    await virsh("start", VM);
    await waitForBoot(guest.serialLog);
    await waitForPings(guest.serialLog, 0, "ok", 3, 90_000);
    tap = (await domIfList(VM))[0]!.iface;
  }, 180_000);

  afterAll(async () => {
    await stopAgent(agent, "SIGKILL");
    await execa("nft", ["delete", "table", "inet", TABLES.inet], { reject: false });
    await execa("nft", ["delete", "table", "netdev", TABLES.netdev], { reject: false });
    await cleanupTestResources(PREFIX);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await libvirt?.stop();
  }, 120_000);

  it("monitor mode records what it would do and changes nothing", async () => {
    const dir = tmp();
    const pb = writeSetup(dir, "monitor");
    const log = join(dir, "audit.log");
    writeFileSync(log, "");
    const nftBefore = await rulesetText();
    const virtBefore = await libvirtState();
    agent = startAgent(dir, pb, log);
    await waitFor(() => agent!.stderr().includes("libvirt: watching"), 60_000, "the agent to start");
    const filesBefore = files(dir);
    const from = serialLength(guest.serialLog);
    await appendAttack(log, 910_000_000);
    await waitWithAgent(agent, () => actionRows(dir).filter((r) => r.status === "recorded").length >= 2, 60_000, "two recorded actions");
    // Time for anything that would have acted to act.
    await new Promise((r) => setTimeout(r, 5000));
    const rows = actionRows(dir);
    expect(rows.map((r) => [r.action, r.status, r.mode])).toEqual([
      ["quarantine_vm", "recorded", "monitor"],
      ["forensic_capture", "recorded", "monitor"],
    ]);
    expect(await rulesetText()).toBe(nftBefore);
    expect(await libvirtState()).toBe(virtBefore);
    expect(files(dir)).toEqual(filesBefore);
    expect(pingsSince(guest.serialLog, from).length).toBeGreaterThanOrEqual(4);
    expect(pingsSince(guest.serialLog, from)).not.toContain("fail");
    await stopAgent(agent);
    expect(agent.stderr()).toContain(`quarantine_vm vm:${VM} [e2e-escape, monitor]: recorded`);
  }, 180_000);

  it("automatic mode quarantines the guest, captures a bundle that verifies, and release restores traffic", async () => {
    const dir = tmp();
    const pb = writeSetup(dir, "automatic");
    const log = join(dir, "audit.log");
    writeFileSync(log, "");
    agent = startAgent(dir, pb, log);
    await waitFor(() => agent!.stderr().includes("libvirt: watching"), 60_000, "the agent to start");
    const from = serialLength(guest.serialLog);
    await appendAttack(log, 920_000_000);
    await waitWithAgent(agent, () => actionRows(dir).some((r) => r.action === "quarantine_vm" && r.status === "done"), 60_000, "the quarantine");
    // Seen from inside the guest: its pings to the host stop being answered.
    await waitForPings(guest.serialLog, from, "fail");
    const netdev = (await execa("nft", ["list", "table", "netdev", TABLES.netdev])).stdout;
    expect(netdev).toContain(`"${tap}"`);
    await waitWithAgent(agent, () => actionRows(dir).some((r) => r.action === "forensic_capture" && ["done", "failed"].includes(r.status)), 120_000, "the forensic capture");
    const capture = actionRows(dir).find((r) => r.action === "forensic_capture")!;
    expect(capture.status, capture.result ?? "").toBe("done");
    const bundles = mustSucceed(["forensics", "list"], await runHv(["forensics", "list", "--json", "--state-dir", join(dir, "state")], { stateDir: join(dir, "state"), timeoutMs: 30_000 }));
    const listed = JSON.parse(bundles.stdout) as Array<{ id: string; vm?: string }> | { bundles: Array<{ id: string }> };
    const ids = (Array.isArray(listed) ? listed : listed.bundles).map((b) => b.id);
    expect(ids).toHaveLength(1);
    mustSucceed(["forensics", "verify"], await runHv(["forensics", "verify", ids[0]!, "--state-dir", join(dir, "state")], { stateDir: join(dir, "state"), timeoutMs: 60_000 }));
    // The guest kept running through the capture.
    expect((await virsh("domstate", VM)).trim()).toBe("running");

    const release = await runHv(["quarantine", "release", VM, "--state-dir", join(dir, "state"), "--config", join(dir, "hv.yaml"), "--by", "e2e"], { stateDir: join(dir, "state"), timeoutMs: 60_000 });
    mustSucceed(["quarantine", "release"], release);
    const after = serialLength(guest.serialLog);
    await waitForPings(guest.serialLog, after, "ok");
    expect(storeRows<{ n: number }>(dir, "SELECT count(*) AS n FROM enforcements WHERE released IS NULL")[0]!.n).toBe(0);
    await stopAgent(agent);
  }, 300_000);

  it("a quarantine survives kill -9 of the agent, and the restarted agent lifts it when its TTL runs out", async () => {
    const dir = tmp();
    const pb = writeSetup(dir, "automatic", "40s");
    const log = join(dir, "audit.log");
    writeFileSync(log, "");
    agent = startAgent(dir, pb, log);
    await waitFor(() => agent!.stderr().includes("libvirt: watching"), 60_000, "the agent to start");
    const from = serialLength(guest.serialLog);
    await appendAttack(log, 930_000_000);
    await waitWithAgent(agent, () => actionRows(dir).some((r) => r.action === "quarantine_vm" && r.status === "done"), 60_000, "the quarantine");
    await waitForPings(guest.serialLog, from, "fail");
    const expires = storeRows<{ expires: number }>(dir, "SELECT expires FROM enforcements WHERE kind = 'quarantine' AND released IS NULL")[0]!.expires;
    expect(expires).toBeGreaterThan(Date.now());

    await stopAgent(agent, "SIGKILL");
    const whileDead = serialLength(guest.serialLog);
    await waitForPings(guest.serialLog, whileDead, "fail");

    agent = startAgent(dir, pb, log);
    await waitFor(() => agent!.stderr().includes("libvirt: watching"), 60_000, "the agent to start again");
    // The restarted agent reconciles its tables with the store: the quarantine is still there.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await execa("nft", ["list", "table", "netdev", TABLES.netdev])).stdout).toContain(`"${tap}"`);
    const restarted = serialLength(guest.serialLog);
    await waitForPings(guest.serialLog, restarted, "fail");
    expect(Date.now()).toBeLessThan(expires);

    // …and its TTL still runs.
    await waitWithAgent(agent, () => storeRows<{ n: number }>(dir, "SELECT count(*) AS n FROM enforcements WHERE released_by = 'ttl'")[0]!.n === 1, expires - Date.now() + 30_000, "the TTL release");
    const lifted = serialLength(guest.serialLog);
    await waitForPings(guest.serialLog, lifted, "ok");
    const q = actionRows(dir).filter((r) => r.action === "quarantine_vm");
    expect(q).toHaveLength(1);
    expect(q[0]!.undone_by).toBe("ttl");
    await stopAgent(agent);
  }, 300_000);
});
