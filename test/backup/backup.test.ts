// `hv backup` end to end (CLI processes) against the real libvirtd, a real TCG guest and real restic.
// One guest boot serves the file: the guest (kernel option hv.disk) writes a numbered record to its
// raw disk every second and says so on its serial console once it is flushed (HV-DISK-WROTE n).
//
//   - a backup taken while it writes is crash-consistent: restored as a new VM and booted, the copy
//     holds every record written before the backup started, contiguous, and none written after it
//     ended; the original kept running on its own disk, no overlay left;
//   - restic's repository password never appears on a restic command line (/proc/PID/cmdline,
//     sampled while the backups run) nor in hv's output or state directory;
//   - a second backup adds only what changed (restic deduplication), forget keeps what it is told;
//   - a VM hv has quarantined is backed up all the same, the quarantine stays, and every libvirt
//     event the backup causes is marked as hv's own doing (never alerted on);
//   - verify passes, then a flipped byte in a data pack of the repository is found.
//
// Needs root, libvirt + QEMU, restic and the test guest; skipped loudly otherwise, a failure under
// CI=true. Run under the host-wide lock: flock /tmp/hv-system.lock npx vitest run test/backup

import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, openSync, readSync, writeSync, closeSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSelfActions } from "../../src/agent/self-actions.js";
import { LibvirtCollector } from "../../src/collectors/libvirt/collector.js";
import type { HvEvent } from "../../src/events/event.js";
import { resolveRepo } from "../../src/backup/settings.js";
import { backupVm } from "../../src/playbooks/actions/backup.js";
import { openStore } from "../../src/store/open.js";
import { VirshBackend } from "../../src/vm/virsh.js";
import { HV_BUILT, mustSucceed, runHv, type HvResult } from "../helpers/hv-cli.js";
import {
  WORK_DIR, buildTestGuest, cleanupTestResources, createIsolatedNetwork, defineTestGuest, domState, ensureLibvirtd, ensureVirtlogd,
  libvirtSkipReason, virsh, waitFor, waitForBoot, type RunningLibvirt, type TestGuest,
} from "../helpers/libvirt.js";
import { makeAlert, makeTestEnv, runAction } from "../playbooks/actions-env.js";

const PREFIX = "hvtest-bk-";
const TAG = randomBytes(3).toString("hex");
const VM = `${PREFIX}${TAG}-a`;
const COPY = `${PREFIX}${TAG}-b`;
const NET = `${PREFIX}${TAG}-net`;
const skip = libvirtSkipReason({ guest: true }) ?? whyNoRestic();

function whyNoRestic(): string | undefined {
  if (existsSync("/usr/bin/restic")) return undefined;
  const reason = "/usr/bin/restic is missing (apt-get install restic)";
  if (process.env.CI === "true") throw new Error(`backup tests cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING backup tests: ${reason} ***\n`);
  return reason;
}

let daemons: RunningLibvirt | undefined;
let dir = "";
let stateDir = "";
let repo = "";
let passwordFile = "";
const password = `pw-${randomBytes(12).toString("hex")}`;
let guest: TestGuest;
let first: { snapshot: string; dataAdded: number; bytesProcessed: number; consistency: string };
/** Every restic command line seen while the tests ran. */
const resticCmdlines: string[] = [];
const outputs: string[] = [];

const repoArgs = (): string[] => ["--repo", repo, "--password-file", passwordFile, "--state-dir", stateDir];
const hv = async (args: string[]): Promise<HvResult> => {
  const r = await runHv([...args, ...repoArgs()], { stateDir, timeoutMs: 300_000 });
  outputs.push(r.stdout, r.stderr);
  return r;
};
const hvOk = async (...args: string[]): Promise<HvResult> => mustSucceed(args, await hv(args));

/** The highest n of "HV-DISK-WROTE n" in a serial log (0 when none yet). */
function lastWritten(log: string): number {
  const all = [...readFileSync(log, "utf8").matchAll(/HV-DISK-WROTE (\d+)/g)].map((m) => Number(m[1]));
  return all.length ? Math.max(...all) : 0;
}

/** Samples every restic process's command line until stopped. */
function watchRestic(): () => void {
  let stop = false;
  const seen = new Set<number>();
  const loop = async (): Promise<void> => {
    while (!stop) {
      for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
          if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "restic" || seen.has(Number(pid))) continue;
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
          if (cmdline.trim()) {
            seen.add(Number(pid));
            resticCmdlines.push(cmdline);
          }
        } catch {
          // gone already
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  void loop();
  return () => {
    stop = true;
  };
}

describe.skipIf(skip !== undefined)("hv backup against a real guest and restic", () => {
  let stopWatch: () => void = () => undefined;

  beforeAll(async () => {
    if (!existsSync(HV_BUILT)) throw new Error(`${HV_BUILT} is missing: run npm run build`);
    // The guest's hv.disk writer is recent: a guest built before it would never write (a no-op when up to date).
    await buildTestGuest();
    daemons = await ensureLibvirtd();
    await ensureVirtlogd();
    await cleanupTestResources(PREFIX);
    dir = await mkdtemp(join(tmpdir(), "hv-bk-"));
    stateDir = join(dir, "state");
    repo = join(dir, "repo");
    passwordFile = join(dir, "password");
    await writeFile(passwordFile, password + "\n", { mode: 0o600 });
    const net = await createIsolatedNetwork(NET);
    guest = await defineTestGuest(VM, { network: net.name, cmdlineExtra: "hv.disk hv.ping" });
    // 8 MiB of incompressible data past the guest's record area, so a backup has something to
    // deduplicate (records take one 512-byte sector a second from sector 1).
    const random = join(dir, "random.bin");
    await writeFile(random, randomBytes(8 * 1024 * 1024));
    await execa("qemu-io", ["-f", "qcow2", "-c", `write -q -s ${random} 4M 8M`, guest.disk]);
    await rm(random);
    await virsh("start", VM);
    await waitForBoot(guest.serialLog);
    await waitFor(() => lastWritten(guest.serialLog) >= 3, 60_000, "the guest's third disk record");
    stopWatch = watchRestic();
    const init = await hvOk("backup", "init", "--json");
    expect(init.json).toMatchObject({ created: true });
    expect((init.json as { passwordFileCreated?: string }).passwordFileCreated).toBeUndefined();
  }, 240_000);

  afterAll(async () => {
    stopWatch();
    if (stateDir) await runHv(["quarantine", "release", VM, "--state-dir", stateDir, "--by", "test"], { stateDir, timeoutMs: 60_000 }).catch(() => undefined);
    await cleanupTestResources(PREFIX);
    if (dir) await rm(dir, { recursive: true, force: true });
    await daemons?.stop();
  }, 120_000);

  it("backs up the running guest while it writes to its disk; it keeps running on its own disk", async () => {
    const before = lastWritten(guest.serialLog);
    const r = await hvOk("backup", "create", VM, "--json");
    const after = lastWritten(guest.serialLog);
    const s = r.json as typeof first & { vm: string; disks: Array<{ target: string; source: string }>; notes: string[] };
    first = s;
    expect(s.vm).toBe(VM);
    expect(s.snapshot).toMatch(/^[0-9a-f]{64}$/);
    // The test guest has no guest agent: crash-consistent, and it says so.
    expect(s.consistency).toBe("crash");
    expect(s.notes.join(" ")).toMatch(/no guest agent/);
    expect(s.disks).toEqual([expect.objectContaining({ target: "vda", source: guest.disk })]);
    expect(await domState(VM)).toBe("running");
    expect((await virsh("domblklist", VM)).includes(guest.disk)).toBe(true);
    expect(readdirSync(WORK_DIR).filter((f) => f.includes("hv-backup"))).toEqual([]);
    expect(readdirSync(join(stateDir, "backup", "staging")).filter((f) => !f.startsWith("verify"))).toEqual([]);
    // It went on writing during and after the backup.
    await waitFor(() => lastWritten(guest.serialLog) > after, 30_000, "a record after the backup");
    writeFileSync(join(dir, "window.json"), JSON.stringify({ before, after }));
  }, 300_000);

  it("restores the backup as a new VM that boots and holds every record written before the backup, and none after", async () => {
    const { before, after } = JSON.parse(readFileSync(join(dir, "window.json"), "utf8")) as { before: number; after: number };
    const r = await hvOk("backup", "restore", VM, first.snapshot.slice(0, 10), "--as", COPY, "--start", "--json");
    const s = r.json as { vm: string; started: boolean; disks: Array<{ target: string; file: string }> };
    expect(s).toMatchObject({ vm: COPY, started: true });
    expect(s.disks).toEqual([expect.objectContaining({ target: "vda", file: join(WORK_DIR, `${COPY}-vda.qcow2`) })]);
    const info = JSON.parse((await execa("qemu-img", ["info", "-U", "--output=json", s.disks[0]!.file])).stdout) as { "backing-filename"?: string };
    expect(info["backing-filename"]).toBeUndefined();
    // A copy: its own uuid, MAC and serial log.
    expect((await virsh("domuuid", COPY)).trim()).not.toBe((await virsh("domuuid", VM)).trim());
    const copyXml = await virsh("dumpxml", COPY);
    const serial = /<serial type='file'>\s*<source path='([^']+)'/.exec(copyXml)?.[1];
    expect(serial).toBe(join(WORK_DIR, `${COPY}.serial.log`));
    const macOf = (xml: string): string | undefined => /<mac address='([^']+)'/.exec(xml)?.[1];
    expect(macOf(copyXml)).not.toBe(macOf(await virsh("dumpxml", VM)));
    const log = await waitForBoot(serial!, "HV-DISK-FOUND-END", 120_000);
    const found = [...log.matchAll(/HV-DISK-FOUND (\d+)/g)].map((m) => Number(m[1]));
    const end = Number(/HV-DISK-FOUND-END (\d+)/.exec(log)![1]);
    expect(found).toEqual(Array.from({ length: end }, (_, i) => i + 1));
    // Every record flushed before the backup began is in it; nothing written after it ended is.
    expect(end).toBeGreaterThanOrEqual(before);
    expect(end).toBeLessThanOrEqual(after);
    await virsh("destroy", COPY);
  }, 300_000);

  it("a second backup after a few more writes adds little (restic deduplication); list and forget", async () => {
    const now = lastWritten(guest.serialLog);
    await waitFor(() => lastWritten(guest.serialLog) >= now + 3, 30_000, "three more records");
    const second = (await hvOk("backup", "create", VM, "--json", "--tag", "second")).json as typeof first;
    console.log(`backup sizes: first ${first.bytesProcessed} B read, ${first.dataAdded} B added; second ${second.bytesProcessed} B read, ${second.dataAdded} B added`);
    expect(second.bytesProcessed).toBeGreaterThan(0);
    // The images hold 8 MiB of random data each time; the second stores only the chunks around what changed.
    expect(first.dataAdded).toBeGreaterThan(8 * 1024 * 1024);
    expect(second.dataAdded).toBeLessThan(first.dataAdded / 2);
    const list = (await hvOk("backup", "list", VM, "--json")).json as Array<{ id: string; vm: string; tags: string[]; consistency: string }>;
    expect(list.map((b) => b.id)).toEqual([first.snapshot, second.snapshot]);
    expect(list[1]!.tags).toContain("second");
    expect(list.every((b) => b.vm === VM && b.consistency === "crash")).toBe(true);
    const dry = (await hvOk("backup", "forget", VM, "--keep-last", "1", "--dry-run", "--json")).json as { groups: Array<{ removed: string[] }> };
    expect(dry.groups.flatMap((g) => g.removed)).toEqual([first.snapshot]);
    expect(((await hvOk("backup", "list", VM, "--json")).json as unknown[]).length).toBe(2);
    await hvOk("backup", "forget", VM, "--keep-last", "1", "--prune", "--json");
    expect(((await hvOk("backup", "list", VM, "--json")).json as Array<{ id: string }>).map((b) => b.id)).toEqual([second.snapshot]);
    // Bad input: exit 2 and a clear word.
    const bad = await hv(["backup", "forget", VM, "--keep-daily", "seven"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--keep-daily must be a whole number/);
  }, 300_000);

  it("backs up a VM hv has quarantined: the quarantine stays, and every libvirt event of the backup is hv's own doing", async () => {
    mustSucceed(["quarantine", "add"], await runHv(["quarantine", "add", VM, "--state-dir", stateDir, "--by", "test", "--json"], { stateDir, timeoutMs: 120_000 }));
    const pingsBefore = (readFileSync(guest.serialLog, "utf8").match(/HV-PING fail/g) ?? []).length;
    await waitFor(() => (readFileSync(guest.serialLog, "utf8").match(/HV-PING fail/g) ?? []).length >= pingsBefore + 2, 30_000, "the quarantined guest's pings to fail");

    const events: HvEvent[] = [];
    const collector = new LibvirtCollector({});
    const abort = new AbortController();
    const running = collector.run((e) => void events.push(e.event), abort.signal);
    await waitFor(() => collector.stats.connected, 30_000, "the libvirt collector to connect");
    const r = await hvOk("backup", "create", VM, "--json");
    expect((r.json as { consistency: string }).consistency).toBe("crash");
    await waitFor(() => events.some((e) => e.vm?.name === VM && e.event.action.startsWith("block-job")), 30_000, "the backup's block job events");
    abort.abort();
    await running;

    const db = openStore(join(stateDir, "hv.db"));
    try {
      const rows = db.prepare("SELECT action, ended FROM self_actions WHERE vm_name = ? AND action = 'backup'").all(VM) as Array<{ ended: number | null }>;
      expect(rows.length).toBeGreaterThanOrEqual(3);
      expect(rows.every((x) => x.ended !== null)).toBe(true);
      const marks = createSelfActions(db);
      const ofVm = events.filter((e) => e.vm?.name === VM);
      expect(ofVm.length).toBeGreaterThan(0);
      expect(ofVm.filter((e) => !marks.markSelfCaused(e)).map((e) => e.event.action)).toEqual([]);
      const q = db.prepare("SELECT released FROM enforcements WHERE kind = 'quarantine' AND target = ?").all(VM) as Array<{ released: number | null }>;
      expect(q).toEqual([{ released: null }]);
    } finally {
      db.close();
    }
    const failsNow = (readFileSync(guest.serialLog, "utf8").match(/HV-PING fail/g) ?? []).length;
    await waitFor(() => (readFileSync(guest.serialLog, "utf8").match(/HV-PING fail/g) ?? []).length >= failsNow + 2, 30_000, "pings to keep failing after the backup");
    expect(readFileSync(guest.serialLog, "utf8").split("\n").slice(-5).join("\n")).not.toMatch(/HV-PING ok/);
  }, 300_000);

  it("backup_vm (the playbook action) backs up once per action, recorded and shown like every other action", async () => {
    const t = await makeTestEnv({ vm: new VirshBackend({ uri: "qemu:///system" }) });
    try {
      const alert = makeAlert({ entity: { kind: "vm", id: VM }, vm: { name: VM } });
      await expect(runAction(t, backupVm, { alert })).rejects.toThrow(/no backup repository is configured/);
      t.env.backup = { repo: resolveRepo(stateDir, undefined, { repo, passwordFile }), stagingRoot: join(stateDir, "backup", "staging") };
      const { outcome, run } = await runAction(t, backupVm, { alert, params: { tags: ["before-quarantine"] } });
      expect(outcome.unchanged).toBeUndefined();
      expect(outcome.result).toMatch(new RegExp(`^backed up ${VM}: snapshot [0-9a-f]{8} \\(crash-consistent\\)`));
      const snapshot = outcome.detail!.snapshot as string;
      expect(outcome.detail!.repository).toBe(repo);
      const shown = await runHv(["actions", "list", "--all", "--json", "--state-dir", t.dir], { stateDir: t.dir, timeoutMs: 60_000 });
      const rows = shown.stdout.trim().split("\n").map((l) => JSON.parse(l) as { id: number; action: string; status: string; result: string });
      expect(rows.find((a) => a.id === run.actionId)).toMatchObject({ action: "backup_vm", status: "done", result: expect.stringMatching(/^backed up/) });
      // The same action again (a retry after a crash) finds its backup.
      const again = await runAction(t, backupVm, { alert, actionId: run.actionId });
      expect(again.outcome.unchanged).toBe(true);
      expect(again.outcome.detail!.snapshot).toBe(snapshot);
      const list = (await hvOk("backup", "list", VM, "--json")).json as Array<{ id: string; tags: string[] }>;
      expect(list.filter((b) => b.tags.includes(`hv-action:${run.actionId}`)).map((b) => b.id)).toEqual([snapshot]);
      expect(list.find((b) => b.id === snapshot)!.tags).toContain("before-quarantine");
    } finally {
      await t.close();
    }
  }, 300_000);

  it("a remote repository over sftp (restic's sftp backend talking to a real sftp-server), configured in hv's config", async () => {
    const sftpServer = "/usr/lib/openssh/sftp-server";
    if (!existsSync(sftpServer)) {
      if (process.env.CI === "true") throw new Error(`${sftpServer} is missing (apt-get install openssh-sftp-server)`);
      console.warn(`\n*** SKIPPING the sftp repository check: ${sftpServer} is missing ***\n`);
      return;
    }
    // restic runs sftp.command instead of ssh and speaks SFTP over its stdin/stdout: the same
    // backend as sftp:user@host:/path over ssh, without needing an ssh server and keys here.
    const config = join(dir, "hv.yaml");
    await writeFile(config, [
      "backup:",
      `  repository: sftp:backup@hv-backup-host:${join(dir, "sftp-repo")}`,
      `  passwordFile: ${passwordFile}`,
      `  resticOptions: ["sftp.command=${sftpServer}"]`,
      "",
    ].join("\n"));
    const cfg = ["--config", config, "--state-dir", stateDir];
    const run = async (...args: string[]): Promise<HvResult> => {
      const r = await runHv([...args, ...cfg], { stateDir, timeoutMs: 300_000 });
      outputs.push(r.stdout, r.stderr);
      return mustSucceed(args, r);
    };
    expect((await run("backup", "init", "--json")).json).toMatchObject({ created: true, repository: expect.stringMatching(/^sftp:/) });
    const b = (await run("backup", "create", VM, "--json")).json as { snapshot: string; dataAdded: number };
    expect(b.dataAdded).toBeGreaterThan(8 * 1024 * 1024);
    expect(existsSync(join(dir, "sftp-repo", "config"))).toBe(true);
    expect(((await run("backup", "list", VM, "--json")).json as Array<{ id: string }>).map((x) => x.id)).toEqual([b.snapshot]);
    expect((await run("backup", "verify", VM, "--json")).json).toMatchObject({ ok: true, images: [expect.objectContaining({ ok: true })] });
  }, 300_000);

  it("verify passes; a flipped byte in a data pack is found", async () => {
    const ok = await hv(["backup", "verify", "--json"]);
    expect(ok.code).toBe(0);
    expect(ok.json).toMatchObject({ ok: true, repository: { ok: true } });
    expect((ok.json as { images: Array<{ ok: boolean; target: string }> }).images).toEqual([expect.objectContaining({ ok: true, target: "vda" })]);

    const packs = listFiles(join(repo, "data")).sort((a, b) => statSync(b).size - statSync(a).size);
    const pack = packs[0]!;
    const fd = openSync(pack, "r+");
    const at = Math.floor(statSync(pack).size / 3);
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    writeSync(fd, byte, 0, 1, at);
    closeSync(fd);

    const bad = await hv(["backup", "verify", "--read-data", "--json"]);
    expect(bad.code).toBe(1);
    const report = bad.json as { ok: boolean; repository: { ok: boolean; problems: string[] }; images: Array<{ ok: boolean; problem?: string }> };
    expect(report.ok).toBe(false);
    expect(report.repository.ok).toBe(false);
    expect(report.repository.problems.join("\n")).toMatch(/pack|hash|blob/i);
    expect(report.images.some((i) => !i.ok)).toBe(true);
    expect(bad.stdout + bad.stderr).not.toContain(password);
  }, 300_000);

  it("the repository password never appeared on a restic command line, in hv's output or its state directory", async () => {
    stopWatch();
    expect(resticCmdlines.length).toBeGreaterThan(5);
    expect(resticCmdlines.some((c) => /\bbackup\b/.test(c))).toBe(true);
    for (const c of resticCmdlines) {
      expect(c).not.toContain(password);
      expect(c).not.toMatch(/--password|-p /);
    }
    for (const o of outputs) expect(o).not.toContain(password);
    for (const f of listFiles(stateDir)) expect(readFileSync(f).includes(password), f).toBe(false);
    // A wrong password file is a clear error, not a hang or a stack trace.
    const wrong = join(dir, "wrong");
    await writeFile(wrong, "not-it\n", { mode: 0o600 });
    const r = await runHv(["backup", "list", "--repo", repo, "--password-file", wrong, "--state-dir", stateDir], { stateDir, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/password does not open the repository/);
  }, 120_000);
});

function listFiles(root: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
