import { chmod, lstat, mkdir, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { packageVersion } from "../events/version.js";
import { getAlert, listAlerts } from "../store/alerts.js";
import { listEvents } from "../store/events.js";
import type { LibvirtBackend } from "../vm/backend.js";
import { checkName } from "../vm/names.js";
import { withSelfAction } from "../vm/self-action.js";
import { bundlesDir, newBundleId, recordBundle } from "./bundles.js";
import { appendCustody } from "./custody.js";
import { captureDisks } from "./disk.js";
import { collectLogs, collectNetworkState, collectProcess, qemuPid, toolVersions, type Collected, type CollectedFile, type HostPaths } from "./host.js";
import { MANIFEST_FORMAT, describeArtifacts, listBundleFiles, writeSignedManifest, type Manifest } from "./manifest.js";
import { MAX_PCAP_SECONDS, capturePcap, type PcapResult } from "./pcap.js";
import { loadOrCreateSigningKey } from "./signing.js";

// One forensic capture of a VM into a signed bundle, most volatile first: traffic (started first,
// runs alongside), memory, disks, then definitions, logs, the store's alerts and events, and host
// context. The whole window is recorded as hv's own action so the agent does not alert on the
// pause/resume, snapshot and block job it causes. A part that fails (the disk copy, say) is written
// down in the manifest and in `failures`; the rest of the evidence is still hashed and signed.

export interface CaptureOptions {
  vm: string;
  backend: LibvirtBackend;
  /** The store: alerts and events about the VM go into the bundle; custody and self-actions are recorded. */
  db: Database.Database;
  /** hv's state directory; bundles go to STATE/forensics/bundles/ID unless `outDir` is given (then OUTDIR/ID). */
  stateDir: string;
  outDir?: string;
  /** Neither memory nor disk given: both. */
  memory?: boolean;
  disk?: boolean;
  /** Capture the VM's tap traffic for this many seconds (0/absent: none). */
  pcapSeconds?: number;
  /** Cap of the pcap (default 100 MiB). */
  pcapMaxBytes?: number;
  /** Pause the guest while capturing memory and disks (default: it keeps running). */
  pause?: boolean;
  /** Who captures: "user:alice", "playbook:NAME". */
  by: string;
  /** The alert that led here, if any. */
  alertId?: number;
  /** Events of the VM from this time on go into the bundle (default: the last 7 days). */
  eventsSinceMs?: number;
  /** Directory for the disk overlays (default: next to each disk). */
  overlayDir?: string;
  onProgress?: (p: { step: string; done: number; total: number }) => void;
  signal?: AbortSignal;
  /** Tools and host paths (tests point them elsewhere). */
  tools?: { qemuImg?: string; tcpdump?: string };
  hostPaths?: HostPaths;
}

export interface BundleSummary {
  id: string;
  path: string;
  vm: string;
  created: string;
  artifacts: number;
  bytes: number;
  ms: number;
  /** SHA-256 of manifest.json. */
  manifestSha256: string;
  /** Parts that were asked for and failed (the bundle holds the rest); empty on full success. */
  failures: string[];
  /** What was skipped or could not be read (also in the manifest). */
  notes: string[];
  pcap?: PcapResult;
}

const WEEK_MS = 7 * 24 * 3600 * 1000;

export async function captureBundle(opts: CaptureOptions): Promise<BundleSummary> {
  const t0 = Date.now();
  const created = new Date(t0);
  const vm = checkName(opts.vm, "VM name");
  const both = opts.memory === undefined && opts.disk === undefined;
  const wantMemory = both || Boolean(opts.memory);
  const wantDisk = both || Boolean(opts.disk);
  const pcapSeconds = opts.pcapSeconds ?? 0;
  if (!(pcapSeconds >= 0 && pcapSeconds <= MAX_PCAP_SECONDS)) throw new Error(`--pcap must be between 0 and ${MAX_PCAP_SECONDS} seconds, got ${pcapSeconds}`);
  const { backend } = opts;
  const progress = (step: string, done: number, total: number): void => opts.onProgress?.({ step, done, total });

  const info = await backend.domainInfo(vm);
  const key = loadOrCreateSigningKey(opts.stateDir);
  const id = newBundleId(vm, created);
  const dir = join(opts.outDir ?? bundlesDir(opts.stateDir), id);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of ["domain", "logs", "store", "host", ...(wantMemory ? ["memory"] : []), ...(wantDisk ? ["disk"] : []), ...(pcapSeconds ? ["net"] : [])]) {
    await mkdir(join(dir, sub), { mode: 0o700 });
  }
  const files: CollectedFile[] = [];
  const notes: string[] = [];
  const failures: string[] = [];
  const add = (c: Collected): void => {
    files.push(...c.files);
    notes.push(...c.notes);
  };
  const versions = toolVersions({
    "qemu-img": opts.tools?.qemuImg ?? "qemu-img",
    virsh: "virsh",
    tcpdump: opts.tools?.tcpdump ?? "tcpdump",
    nft: "nft",
  });
  const libvirtVersions = backend.versions().catch(() => ({}) as Record<string, string>);
  let pcap: PcapResult | undefined;

  await withSelfAction(
    vm,
    "forensic-capture",
    async () => {
      const state = await backend.domainState(vm);
      const running = state !== "shut off";

      let pcapDone: Promise<void> | undefined;
      if (pcapSeconds > 0) {
        const taps = running ? (await backend.domIfList(vm)).flatMap((r) => (r.interface ? [r.interface] : [])) : [];
        if (taps.length === 0) failures.push(`pcap: ${vm} has no tap devices${running ? "" : " (not running)"}`);
        else {
          const pcapStart = Date.now();
          const tick = setInterval(() => progress("pcap", Math.min(pcapSeconds, (Date.now() - pcapStart) / 1000), pcapSeconds), 500);
          pcapDone = capturePcap({
            devices: taps,
            seconds: pcapSeconds,
            maxBytes: opts.pcapMaxBytes ?? 100 * 1024 * 1024,
            file: join(dir, "net", "traffic.pcap"),
            ...(opts.signal ? { signal: opts.signal } : {}),
            ...(opts.tools?.tcpdump ? { tcpdump: opts.tools.tcpdump } : {}),
          }).then(
            (r) => {
              pcap = r;
              for (const f of r.files) files.push({ path: `net/${f.file.split("/").pop()}`, kind: "pcap", description: `tcpdump on ${f.device} for ${pcapSeconds} s: ${f.packets} packets${f.truncated ? ", stopped at the size cap" : ""}` });
            },
            (err: Error) => void failures.push(`pcap: ${err.message}`),
          ).finally(() => clearInterval(tick));
        }
      }

      let paused = false;
      if (opts.pause && running && state !== "paused") {
        await backend.suspend(vm);
        paused = true;
      }
      try {
        if (wantMemory && !running) notes.push(`${vm} is shut off: no memory to capture`);
        else if (wantMemory) {
          opts.signal?.throwIfAborted();
          const file = join(dir, "memory", "memory.elf");
          const total = info.maxMemoryBytes || info.usedMemoryBytes;
          const poll = setInterval(() => void stat(file).then((s) => progress("memory", s.size, total), () => undefined), 250);
          try {
            // --live: libvirt does not stop the vCPUs itself (qemu still halts them while it writes the dump).
            await backend.dumpMemory(vm, file, { live: !paused && state !== "paused", format: "elf" });
            files.push({ path: "memory/memory.elf", kind: "memory", description: `virsh dump --memory-only --format=elf${paused ? " (guest paused)" : " --live"}` });
          } catch (err) {
            failures.push(`memory: ${(err as Error).message}`);
            await rm(file, { force: true });
          } finally {
            clearInterval(poll);
          }
        }
        if (wantDisk) {
          opts.signal?.throwIfAborted();
          try {
            const r = await captureDisks({
              backend, vm, outDir: join(dir, "disk"), tag: id,
              ...(opts.overlayDir ? { overlayDir: opts.overlayDir } : {}),
              ...(opts.tools?.qemuImg ? { qemuImg: opts.tools.qemuImg } : {}),
              ...(opts.signal ? { signal: opts.signal } : {}),
              onPercent: (target, pct) => progress(`disk ${target}`, pct, 100),
            });
            notes.push(...r.notes);
            for (const img of r.images) files.push({ path: `disk/${img.target}.qcow2`, kind: "disk", description: `${img.target}: ${img.source} (${img.format}), ${img.method === "snapshot" ? "frozen by an external snapshot, merged back after" : "guest shut off"}; flattened to qcow2` });
          } catch (err) {
            failures.push(`disk: ${(err as Error).message}`);
          }
        }
      } finally {
        if (paused) await backend.resume(vm);
      }

      progress("context", 0, 4);
      if (running) await saveText(dir, "domain/live.xml", await backend.dumpXml(vm), files, "domain-xml", "virsh dumpxml (live)");
      if (info.persistent) await saveText(dir, "domain/inactive.xml", await backend.dumpXml(vm, { inactive: true }), files, "domain-xml", "virsh dumpxml --inactive");
      await saveText(dir, "domain/domblklist.json", JSON.stringify(await backend.domBlkList(vm, { inactive: !running }), null, 1) + "\n", files, "domain", "virsh domblklist --details");
      await saveText(dir, "domain/domiflist.json", JSON.stringify(await backend.domIfList(vm, { inactive: !running }), null, 1) + "\n", files, "domain", "virsh domiflist");
      await saveText(dir, "domain/dominfo.json", JSON.stringify(info, null, 1) + "\n", files, "domain", "virsh dominfo at the start of the capture");
      progress("context", 1, 4);
      add(await collectLogs(dir, vm, info.uuid, opts.hostPaths));
      progress("context", 2, 4);
      add(await collectProcess(dir, running ? await qemuPid(vm, opts.hostPaths) : undefined));
      add(await collectNetworkState(dir));
      progress("context", 3, 4);
      add(await saveStoreRecords(dir, opts.db, vm, opts.alertId, opts.eventsSinceMs ?? t0 - WEEK_MS));
      progress("context", 4, 4);
      if (pcapDone) await pcapDone;
    },
    { stateDir: opts.stateDir, vmUuid: info.uuid },
  );

  const total = await sumSizes(dir, files);
  let hashed = 0;
  const artifacts = await describeArtifacts(dir, files, (n) => progress("hashing", (hashed += n), total));
  await tighten(dir);
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    id,
    vm: { name: vm, uuid: info.uuid, state: info.state },
    by: opts.by,
    host: hostname(),
    created: created.toISOString(),
    completed: new Date().toISOString(),
    hv: { version: packageVersion(), node: process.versions.node },
    tools: { ...(await versions), ...prefixed("libvirt ", await libvirtVersions) },
    options: { memory: wantMemory, disk: wantDisk, pcapSeconds, pause: Boolean(opts.pause) },
    ...(opts.alertId !== undefined ? { alertId: opts.alertId } : {}),
    notes: [...failures.map((f) => `FAILED ${f}`), ...notes],
    key: { fingerprint: key.fingerprint },
    artifacts,
  };
  const manifestSha256 = await writeSignedManifest(dir, manifest, key);
  const bytes = artifacts.reduce((s, a) => s + a.size, 0);
  appendCustody(
    dir,
    { who: opts.by, what: "captured", manifest: manifestSha256, host: hostname(), details: { vm, uuid: info.uuid, artifacts: artifacts.length, bytes, failures, ...(opts.alertId !== undefined ? { alertId: opts.alertId } : {}) } },
    key,
    { stateDir: opts.stateDir, id },
  );
  await recordBundle(opts.stateDir, { id, path: dir, vm, created: manifest.created });
  return { id, path: dir, vm, created: manifest.created, artifacts: artifacts.length, bytes, ms: Date.now() - t0, manifestSha256, failures, notes, ...(pcap ? { pcap } : {}) };
}

async function saveText(dir: string, rel: string, text: string, files: CollectedFile[], kind: string, description: string): Promise<void> {
  await writeFile(join(dir, rel), text, { mode: 0o600 });
  files.push({ path: rel, kind, description });
}

async function saveStoreRecords(dir: string, db: Database.Database, vm: string, alertId: number | undefined, sinceMs: number): Promise<Collected> {
  const out: Collected = { files: [], notes: [] };
  const alerts = listAlerts(db, { vmName: vm, signals: "include" });
  if (alertId !== undefined && !alerts.some((a) => a.id === alertId)) {
    const a = getAlert(db, alertId);
    if (a) alerts.push(a);
    else out.notes.push(`alert ${alertId} is not in the store`);
  }
  await writeFile(join(dir, "store/alerts.jsonl"), alerts.map((a) => JSON.stringify(a) + "\n").join(""), { mode: 0o600 });
  out.files.push({ path: "store/alerts.jsonl", kind: "store", description: `${alerts.length} alerts about ${vm} (vm_name)${alertId !== undefined ? ` and alert ${alertId}` : ""}` });
  const events = listEvents(db, { vmName: vm, sinceMs });
  await writeFile(join(dir, "store/events.jsonl"), events.map((e) => JSON.stringify(e) + "\n").join(""), { mode: 0o600 });
  out.files.push({ path: "store/events.jsonl", kind: "store", description: `${events.length} events about ${vm} since ${new Date(sinceMs).toISOString()}` });
  return out;
}

async function sumSizes(dir: string, files: CollectedFile[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await stat(join(dir, f.path))).size;
  return n;
}

/** Evidence holds guest memory and disks: readable by root only. */
async function tighten(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const rel of await listBundleFiles(dir)) {
    const p = join(dir, rel);
    const st = await lstat(p);
    if (st.isSymbolicLink()) continue;
    await chmod(p, st.isDirectory() ? 0o700 : 0o600);
  }
  // A part that produced nothing leaves no empty directory (verify would call it added).
  for (const sub of ["domain", "logs", "store", "host", "memory", "disk", "net"]) await rmdir(join(dir, sub)).catch(() => undefined);
}

function prefixed(prefix: string, kv: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(kv).map(([k, v]) => [prefix + k, v]));
}
