import { stat } from "node:fs/promises";
import { readTextCapped } from "../events/input.js";
import type { Command } from "commander";
import { captureBundle, type BundleSummary } from "../forensics/capture.js";
import { currentUser, exportBundle, listBundles, showBundle, verifyAndRecord } from "../forensics/bundle-ops.js";
import { MAX_PCAP_SECONDS } from "../forensics/pcap.js";
import type { VerifyReport } from "../forensics/verify.js";
import { defaultStateDir, openStateStore } from "../store/open.js";
import { formatBytes, parseSize } from "../vm/size.js";
import { VirshBackend, resolveUri } from "../vm/virsh.js";
import { progress, stepBars } from "./progress.js";
import { emit, table } from "./vm.js";
import { writeSafe } from "../events/terminal.js";

interface Common {
  stateDir: string;
  json?: boolean;
  by?: string;
}

export function registerForensics(program: Command): void {
  const f = program.command("forensics").description("signed evidence bundles of VMs: capture, list, show, verify, export");
  f.addHelpText(
    "after",
    `
A bundle (STATE/forensics/bundles/ID) holds the guest's memory (ELF core), a consistent image of
each disk, the domain XML, qemu/libvirt logs, the alerts and events about the VM, host context
(qemu process tree and open files, nft ruleset, links) and optionally a pcap of its taps.
manifest.json lists every file with its SHA-256 and is signed (ed25519, STATE/forensics/signing.key);
custody.log records, hash-chained and signed, who captured, showed, verified and exported it.

Examples:
  hv forensics capture web1                      memory + disk, the guest keeps running
  hv forensics capture web1 --memory --pcap 30   memory and 30 s of its traffic
  hv forensics list
  hv forensics verify 20240501T101500Z-web1-3fa9c2
  hv forensics export 20240501T101500Z-web1-3fa9c2 --out /media/usb/web1.tar.gz`,
  );

  common(f.command("capture <vm>").description("capture a bundle of a VM (no --memory/--disk: both)"), "hv forensics capture web1\n  hv forensics capture web1 --disk --pause --out /srv/evidence\n  hv forensics capture web1 --memory --pcap 60 --json")
    .option("--memory", "guest memory (virsh dump --memory-only --format=elf)")
    .option("--disk", "a consistent image of every disk (external snapshot, copy, blockcommit back)")
    .option("--pcap <seconds>", `also record the VM's tap traffic for this long (at most ${MAX_PCAP_SECONDS})`)
    .option("--pcap-max <size>", "stop the pcap at this size", "100M")
    .option("--pause", "pause the guest while memory and disks are captured (default: it keeps running)")
    .option("--out <dir>", "write the bundle to DIR/ID instead of STATE/forensics/bundles/ID")
    .option("--overlay-dir <dir>", "where the temporary disk overlays go (default: next to each disk; qemu must be able to write there)")
    .option("--alert <id>", "the alert that led to this capture")
    .option("--uri <uri>", "libvirt connection URI (default $HV_LIBVIRT_URI or qemu:///system)")
    .action(async (vm: string, o: Common & { memory?: boolean; disk?: boolean; pcap?: string; pcapMax: string; pause?: boolean; out?: string; overlayDir?: string; alert?: string; uri?: string }) => {
      const pcapSeconds = o.pcap === undefined ? 0 : Number(o.pcap);
      if (o.pcap !== undefined && (!Number.isInteger(pcapSeconds) || pcapSeconds < 1 || pcapSeconds > MAX_PCAP_SECONDS)) {
        throw new Error(`--pcap must be a whole number of seconds from 1 to ${MAX_PCAP_SECONDS}, got ${JSON.stringify(o.pcap)}`);
      }
      const alertId = o.alert === undefined ? undefined : Number(o.alert);
      if (alertId !== undefined && !(Number.isInteger(alertId) && alertId > 0)) throw new Error(`--alert must be an alert id, got ${JSON.stringify(o.alert)}`);
      const db = openStateStore(o.stateDir);
      const bars = stepBars();
      let s: BundleSummary;
      try {
        s = await captureBundle({
          vm, db, stateDir: o.stateDir, backend: new VirshBackend({ uri: resolveUri(o.uri) }), by: o.by ?? currentUser(),
          pcapSeconds, pcapMaxBytes: parseSize(o.pcapMax), pause: Boolean(o.pause),
          ...(o.memory ? { memory: true } : {}), ...(o.disk ? { disk: true } : {}),
          ...(o.out ? { outDir: o.out } : {}), ...(o.overlayDir ? { overlayDir: o.overlayDir } : {}),
          ...(alertId !== undefined ? { alertId } : {}),
          onProgress: bars.update,
        });
      } finally {
        bars.done();
        db.close();
      }
      emit(o, s, [
        `captured ${s.id} of ${s.vm}: ${s.artifacts} artifacts, ${formatBytes(s.bytes)} in ${(s.ms / 1000).toFixed(1)} s`,
        `  ${s.path}`,
        `  manifest sha256 ${s.manifestSha256}`,
        ...(s.pcap ? [`  pcap: ${s.pcap.packets ?? "?"} packets, ${formatBytes(s.pcap.bytes)}${s.pcap.truncated ? " (stopped at --pcap-max)" : ""}`] : []),
        ...s.notes.map((n) => `  note: ${n}`),
        ...s.failures.map((x) => `  FAILED ${x}`),
      ]);
      if (s.failures.length) {
        writeSafe(process.stderr, `hv: the bundle is incomplete: ${s.failures.length} part(s) failed (listed in its manifest)\n`);
        process.exitCode = 1;
      }
    });

  common(f.command("list").description("bundles hv knows of, oldest first"), "hv forensics list\n  hv forensics list --json").action(async (o: Common) => {
    const rows = await listBundles(o.stateDir);
    emit(o, rows, rows.length ? table(["ID", "VM", "CREATED", "SIZE", "FILES", "BY", "PATH"], rows.map((r) => [r.id, r.vm || "?", r.created || "?", r.bytes !== undefined ? formatBytes(r.bytes) : "?", r.artifacts !== undefined ? String(r.artifacts) : "?", r.by ?? "?", r.exists ? r.path : `${r.path} (gone)`])) : "no bundles");
  });

  common(f.command("show <id>").description("manifest and chain of custody of a bundle (recorded as shown)"), "hv forensics show 20240501T101500Z-web1-3fa9c2\n  hv forensics show /srv/evidence/20240501T101500Z-web1-3fa9c2 --json").action(async (id: string, o: Common) => {
    const b = await showBundle(o.stateDir, id, o.by ?? currentUser());
    const m = b.manifest;
    emit(o, b, [
      `${b.id}  vm ${m.vm.name} (${m.vm.uuid})  by ${m.by} on ${m.host}`,
      `  path     ${b.path}`,
      `  created  ${m.created}  completed ${m.completed}  hv ${m.hv.version}`,
      `  key      ${m.key.fingerprint}`,
      ...table(["ARTIFACT", "KIND", "SIZE", "SHA-256"], m.artifacts.map((a) => [a.path, a.kind, formatBytes(a.size), a.sha256])).map((l) => `  ${l}`),
      ...m.notes.map((n) => `  note: ${n}`),
      "  custody:",
      ...b.custody.map((e) => `    ${e.seq}. ${e.time} ${e.what} by ${e.who} on ${e.host}${Object.keys(e.details ?? {}).length ? ` ${JSON.stringify(e.details)}` : ""}`),
    ]);
  });

  common(f.command("verify <id-or-path>").description("check every file, the signature and the chain of custody of a bundle or of an archive hv forensics export wrote (exit 1 when anything is wrong)"), "hv forensics verify 20240501T101500Z-web1-3fa9c2\n  hv forensics verify web1.tar.gz                      the archive as exported: unpacked to a temp dir, checked, removed\n  hv forensics verify ./extracted/20240501T101500Z-web1-3fa9c2 --key origin-host.pub")
    .option("--key <file>", "verify with this public key (PEM) instead of the one in the bundle")
    .action(async (id: string, o: Common & { key?: string }) => {
      const publicKeyPem = o.key ? readTextCapped(o.key, 64 * 1024) : undefined;
      const bar = progress({ label: "verify", format: formatBytes });
      let n = 0;
      const r = await verifyAndRecord(o.stateDir, id, { who: o.by ?? currentUser(), ...(publicKeyPem ? { publicKeyPem } : {}), onBytes: (b) => bar.update((n += b)) });
      bar.done();
      for (const w of r.warnings) writeSafe(process.stderr, `hv: warning: ${w}\n`);
      emit(o, r, verifyText(r));
      if (!r.ok) process.exitCode = 1;
    });

  common(f.command("export <id>").description("pack a bundle into a .tar.gz (recorded in its chain of custody with the archive's SHA-256)"), "hv forensics export 20240501T101500Z-web1-3fa9c2 --out web1-evidence.tar.gz")
    .requiredOption("--out <file>", "the archive to write (.tar.gz)")
    .action(async (id: string, o: Common & { out: string }) => {
      // tar gives no progress of its own: the archive's size as it grows.
      const bar = progress({ label: `export ${id}`, format: formatBytes });
      const timer = setInterval(() => void stat(o.out).then((st) => bar.update(st.size), () => undefined), 250);
      const r = await exportBundle(o.stateDir, id, o.out, o.by ?? currentUser()).finally(() => {
        clearInterval(timer);
        bar.done();
      });
      emit(o, r, [`exported ${r.id} to ${r.file} (${formatBytes(r.bytes)})`, `sha256 ${r.sha256}`]);
    });
}

function common(cmd: Command, examples: string): Command {
  return cmd
    .option("--state-dir <dir>", "hv's state directory", defaultStateDir())
    .option("--by <who>", "who does this, for the chain of custody (default: user:$USER)")
    .option("--json", "print the result as JSON")
    .addHelpText("after", `\nExamples:\n  ${examples}`);
}

function verifyText(r: VerifyReport): string[] {
  const head = r.ok
    ? `OK ${r.id ?? r.path}: ${r.artifacts} artifacts and ${r.custodyEntries} custody entries verified${r.keyFingerprint ? `, key ${r.keyFingerprint.slice(0, 16)}…` : ""}${r.hostKey ? " (this host's key)" : ""}`
    : `BAD ${r.id ?? r.path}: ${r.problems.length} problem(s)`;
  const archive = r.archive ? [`  archive sha256 ${r.archive.sha256}${r.archive.exportedHere ? " (recorded when this host exported it)" : ""}`] : [];
  return [head, ...archive, ...r.problems.map((p) => `  ${p.kind.padEnd(9)} ${p.message}`)];
}
