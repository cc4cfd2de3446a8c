import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { positiveInt, readTextCapped } from "../events/input.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import type { LibvirtBackend } from "../vm/backend.js";
import { registerVmAudit } from "./vm-audit.js";
import { diskToTree, interfaceToTree, parseDomainXml, type DiskModel } from "../vm/domain-xml.js";
import { randomMac, setMemory, setVcpus, toXml } from "../vm/domain-edit.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { deleteDomain, stopDomain } from "../vm/lifecycle.js";
import { checkArg, checkMac, checkName, checkTarget } from "../vm/names.js";
import { buildVolumeXml, parseVolumeXml } from "../vm/pool-xml.js";
import { formatBytes, parseSize } from "../vm/size.js";
import { isLocalUri } from "../vm/storage.js";
import { VirshBackend, resolveUri } from "../vm/virsh.js";
import { buildXml, MAX_XML_BYTES, parseLibvirtXml } from "../vm/xml.js";
import { runProgram } from "../events/programs.js";
import { printErr, writeSafe } from "../events/terminal.js";
import { table } from "./output.js";
import { progress } from "./progress.js";
import { confirmOnTerminal } from "./prompt.js";

// Modules only some subcommands need are imported where they are used: templates and the create
// path bring zod and yaml, self-actions the SQLite store; `hv vm list` in a script's loop should
// not pay for them (bench/startup.ts).

// ---- shared by `hv vm`, `hv net`, `hv pool`, `hv volume` ------------------------------------

// and one way to print a result (a JSON line, or text for people).

export interface VirtOptions {
  uri?: string;
  json?: boolean;
}

export function withVirtOptions(cmd: Command): Command {
  return cmd.option("--uri <uri>", "libvirt connection URI (default $HV_LIBVIRT_URI or qemu:///system)").option("--json", "print the result as JSON");
}

export function backendFor(opts: VirtOptions): LibvirtBackend {
  return new VirshBackend({ uri: resolveUri(opts.uri) });
}

/** Prints `data` as one JSON line with --json, else `text` (a string or lines). */
export function emit(opts: VirtOptions, data: unknown, text: string | string[]): void {
  const body = opts.json ? JSON.stringify(data) : Array.isArray(text) ? text.join("\n") : text;
  if (body.length) writeSafe(process.stdout, body.endsWith("\n") ? body : body + "\n");
}

export function warn(message: string): void {
  writeSafe(process.stderr, `hv: warning: ${message}\n`);
}

// table lives in output.ts (commands that do not load the VM surface use it too).
export { table };

// ---- hv vm ----------------------------------------------------------------------------------

type O = VirtOptions;

export function registerVm(program: Command): Command {
  const vm = program.command("vm").description("manage virtual machines (libvirt domains)");
  vm.addHelpText(
    "after",
    `
Every subcommand takes --uri (default $HV_LIBVIRT_URI or qemu:///system) and --json.

Examples:
  hv vm list --all
  hv vm create web1 --template cloud-image --memory 2G --disk-size 20G --start
  hv vm stop web1 --timeout 30 --force
  hv vm snapshot create web1 before-upgrade --description "pre apt upgrade"
  hv vm clone web1 web2
  hv vm stats web1 --json`,
  );

  sub(vm, "list", "domains and their state", "hv vm list\n  hv vm list --all --json")
    .option("--all", "include domains that are not running")
    .action(async (opts: O & { all?: boolean }) => {
      const rows = await backendFor(opts).listDomains({ all: opts.all });
      emit(opts, rows, rows.length ? table(["ID", "NAME", "STATE"], rows.map((r) => [r.id === undefined ? "-" : String(r.id), r.name, r.state])) : "no domains");
    });

  sub(vm, "info <name>", "state, resources and settings of a domain", "hv vm info web1\n  hv vm info web1 --json")
    .action(async (name: string, opts: O) => {
      const b = backendFor(opts);
      const info = await b.domainInfo(name);
      const model = parseDomainXml(await b.dumpXml(name));
      const data = { ...info, disks: model.disks, interfaces: model.interfaces };
      emit(opts, data, [
        `${info.name}  ${info.state}${info.stateReason ? ` (${info.stateReason})` : ""}${info.id !== undefined ? `  id ${info.id}` : ""}`,
        `  uuid       ${info.uuid}`,
        `  vcpus      ${info.vcpus}   memory ${formatBytes(info.usedMemoryBytes)} of ${formatBytes(info.maxMemoryBytes)}`,
        `  persistent ${info.persistent ? "yes" : "no"}   autostart ${info.autostart ? "yes" : "no"}   security ${info.securityModel ?? "none"}`,
        ...model.disks.map((d) => `  disk       ${d.target.dev} ${d.device} ${d.source?.file ?? d.source?.dev ?? d.source?.volume ?? "(empty)"}${d.format ? ` (${d.format})` : ""}`),
        ...model.interfaces.map((n) => `  nic        ${n.mac ?? "?"} ${n.type} ${n.source?.network ?? n.source?.bridge ?? n.source?.dev ?? ""}${n.targetDev ? ` tap ${n.targetDev}` : ""}`),
      ]);
    });

  sub(
    vm,
    "create <name>",
    "create (define) a domain from a template",
    "hv vm create t1 --template kernel --kernel /srv/vmlinuz --initrd /srv/initrd.img --start\n  hv vm create web1 --template cloud-image --image /srv/debian-12.qcow2 --disk-size 20G\n  hv vm create inst --template iso-install --iso /srv/debian.iso\n  hv vm create x --template ./my-template.yaml\n  hv vm templates                                  list the templates hv finds",
  )
    .requiredOption("--template <name|path>", "template name (templates/vm/NAME.yaml, ~/.config/hv/templates/vm, /etc/hv/templates/vm) or a YAML file")
    .option("--memory <size>", "memory, e.g. 512M, 2G (a bare number is MiB)")
    .option("--vcpus <n>", "virtual CPUs")
    .option("--disk-size <size>", "size of the main disk, e.g. 20G")
    .option("--network <name>", "libvirt network for the NIC, or none")
    .option("--bridge <name>", "attach the NIC to a host bridge instead")
    .option("--pool <name>", "storage pool for disks hv creates")
    .option("--kernel <path>", "kernel template: the kernel")
    .option("--initrd <path>", "kernel template: the initrd")
    .option("--cmdline <text>", "kernel template: the kernel command line")
    .option("--image <path>", "cloud-image template: the base image")
    .option("--iso <path>", "iso-install template: the installer ISO")
    .option("--start", "start the domain once defined (if it does not start, the create is undone)")
    .option("--dry-run", "check everything the template needs and say what would be created; create nothing")
    .option("--print-xml", "print the domain XML that would be defined; create nothing")
    .addHelpText("after", `
Before anything is created, hv checks what the template needs: the kernel, initrd, image or ISO
files, the storage pool (active, enough space, no leftover volume of that name), the network or
bridge, a cloud-init seed tool, /dev/kvm for kvm domains and the serial log's directory. Every
problem is listed (exit 1) and nothing is created. If a later step fails (a volume, the seed, the
definition, or the start with --start), whatever was made for the VM is removed again.`)
    .action(async (name: string, opts: O & Record<string, string | boolean | undefined>) => {
      const b = backendFor(opts);
      const [{ loadTemplate }, { createVm, planVm, planRefusal }] = await Promise.all([import("../vm/templates.js"), import("../vm/create.js")]);
      const template = loadTemplate(String(opts.template));
      const str = (k: string): string | undefined => (typeof opts[k] === "string" ? (opts[k] as string) : undefined);
      const overrides = Object.fromEntries(
        (["memory", "diskSize", "network", "bridge", "pool", "kernel", "initrd", "cmdline", "image", "iso"] as const).flatMap((k) => (str(k) !== undefined ? [[k, str(k)]] : [])),
      );
      const vcpus = str("vcpus") !== undefined ? positiveInt(str("vcpus")!, "--vcpus") : undefined;
      const plan = await planVm(b, name, template, { ...overrides, ...(vcpus !== undefined ? { vcpus } : {}) }, { start: Boolean(opts.start) });
      for (const n of plan.notes) warn(n);
      if (opts.printXml || opts.dryRun) {
        const volumes = plan.volumes.map((v) => `  volume ${v.pool}/${v.volume} ${v.seed ? "(cloud-init seed)" : `${formatBytes(v.capacityBytes)} ${v.format}${v.backing ? ` on ${v.backing.path}` : ""}`} -> ${v.path}`);
        if (opts.printXml) writeSafe(process.stdout, plan.xml.endsWith("\n") ? plan.xml : plan.xml + "\n");
        else emit(opts, { name, template: template.path, dryRun: true, volumes: plan.volumes, problems: plan.problems, xml: plan.xml }, [`would create ${name} from ${template.path}${opts.start ? " and start it" : ""}:`, ...volumes, `  domain ${name} (${plan.template.memory} memory, ${plan.template.vcpus} vcpus)`]);
        if (plan.problems.length > 0) {
          printErr(`hv: ${planRefusal(plan)}`);
          process.exitCode = 1;
        }
        return;
      }
      const steps = plan.volumes.length + 1 + (opts.start ? 1 : 0);
      const bar = progress({ label: `vm create ${name}`, total: steps });
      let done = 0;
      const r = await createVm(b, plan, { start: Boolean(opts.start), onStep: (_step, detail) => bar.update(done++, detail) }).finally(() => bar.done());
      emit(opts, { name, template: template.path, started: r.started, volumes: r.volumes }, `created ${name} from ${template.path}${r.started ? " and started it" : ""}`);
    });

  sub(vm, "templates", "list the VM templates hv finds", "hv vm templates").action(async (opts: O) => {
    const { listTemplates } = await import("../vm/templates.js");
    const found = listTemplates();
    emit(opts, found, found.length ? table(["NAME", "PATH"], found.map((t) => [t.name, t.path])) : "no templates");
  });

  sub(vm, "define <file>", "define a domain from an XML file (validated first)", "hv vm define web1.xml")
    .action(async (file: string, opts: O) => {
      const xml = readTextCapped(checkArg(file, "file"), MAX_XML_BYTES, file);
      const name = await defineValidated(backendFor(opts), xml, `${file} is an invalid domain definition; nothing was defined`);
      emit(opts, { name, validatedBy: "libvirt" }, `defined ${name}`);
    });

  simple(vm, "start", "start a defined domain", (b, n) => b.start(n), "started");
  sub(vm, "stop <name>", "shut a domain down: ACPI power button, wait, then (with --force) power off", "hv vm stop web1\n  hv vm stop web1 --timeout 20 --force     TCG test guests may ignore ACPI: --force pulls the plug after 20 s")
    .option("--timeout <seconds>", "how long to wait for the guest to power off", "60")
    .option("--force", "destroy (power off) the domain if it has not stopped in time")
    .action(async (name: string, opts: O & { timeout: string; force?: boolean }) => {
      const result = await stopDomain(backendFor(opts), name, { timeoutSeconds: positiveInt(opts.timeout, "--timeout"), force: opts.force });
      emit(opts, { name, result }, { "already-off": `${name} was not running`, shutdown: `${name} shut down`, destroyed: `${name} did not shut down in time; powered off` }[result]);
    });
  simple(vm, "reboot", "ask the guest to reboot (ACPI)", (b, n) => b.reboot(n), "rebooting");
  simple(vm, "reset", "hard-reset the guest (like the reset button)", (b, n) => b.reset(n), "reset");
  simple(vm, "pause", "suspend the guest's vCPUs (memory stays)", (b, n) => selfAction(b, n, "pause", () => b.suspend(n)), "paused");
  simple(vm, "resume", "resume a paused guest", (b, n) => selfAction(b, n, "resume", () => b.resume(n)), "resumed");

  sub(vm, "save <name> <file>", "save the guest's memory and state to FILE and stop it", "hv vm save web1 /var/lib/libvirt/save/web1.sav\n  hv vm restore /var/lib/libvirt/save/web1.sav")
    .action(async (name: string, file: string, opts: O) => {
      const b = backendFor(opts);
      await selfAction(b, name, "save", () => b.save(name, file));
      emit(opts, { name, file }, `saved ${name} to ${file}`);
    });
  sub(vm, "restore <file>", "start a guest again from a file made by save", "hv vm restore /var/lib/libvirt/save/web1.sav")
    .action(async (file: string, opts: O) => {
      const b = backendFor(opts);
      await b.restore(file);
      emit(opts, { file }, `restored ${file}`);
    });

  sub(vm, "delete <name>", "undefine a domain, with its snapshot metadata and nvram (a running one: asks, or --force)", "hv vm delete web1\n  hv vm delete web1 --remove-storage      also delete its disks, its serial log and the files hv made for it\n  hv vm delete web1 --force               power it off first if it is running, without asking")
    .option("--remove-storage", "delete its writable disks (and their snapshot overlays), hv's seed ISO and its serial log; shared base images stay")
    .option("--force", "a running domain is powered off (destroyed) first, without asking")
    .action(async (name: string, opts: O & { removeStorage?: boolean; force?: boolean }) => {
      const b = backendFor(opts);
      let force = Boolean(opts.force);
      if (!force && (await b.domainState(checkName(name))) !== "shut off") {
        const answer = await confirmOnTerminal(`${name} is running: power it off${opts.removeStorage ? ", delete it and its storage" : " and delete it"}?`);
        if (answer === undefined) throw new LibvirtError("operation-invalid", `${name} is running: stop it first (hv vm stop ${name}) or pass --force to power it off and delete it; nothing was done`);
        if (!answer) return emit(opts, { name, deleted: false }, `${name} not deleted`);
        force = true;
      }
      const r = await deleteDomain(b, name, { removeStorage: opts.removeStorage, force });
      for (const s of r.storage.filter((x) => !x.removed)) warn(`${s.target} not removed: ${s.error}`);
      emit(opts, r, [`deleted ${name}${r.destroyed ? " (was running: destroyed first)" : ""}`, ...r.storage.filter((s) => s.removed).map((s) => `  removed ${s.target}`)]);
    });

  sub(vm, "console <name>", "attach to the guest's serial console (leave with Ctrl-])", "hv vm console web1          Ctrl-] detaches; the guest keeps running")
    .action(async (name: string, opts: O) => {
      const code = await backendFor(opts).console(name);
      if (code !== 0) process.exitCode = code;
    });

  sub(vm, "autostart <name>", "start the domain when libvirtd starts", "hv vm autostart web1\n  hv vm autostart web1 --disable")
    .option("--disable", "turn autostart off")
    .action(async (name: string, opts: O & { disable?: boolean }) => {
      await backendFor(opts).setAutostart(name, !opts.disable);
      emit(opts, { name, autostart: !opts.disable }, `autostart ${opts.disable ? "disabled" : "enabled"} for ${name}`);
    });

  registerSnapshot(vm);

  sub(vm, "clone <name> <new>", "copy a stopped or paused domain: disks copied with qemu-img, new uuid and MACs", "hv vm clone web1 web2")
    .action(async (name: string, newName: string, opts: O) => {
      const b = backendFor(opts);
      const { cloneDomain } = await import("../vm/clone.js");
      const bar = progress({ label: `vm clone ${name} -> ${newName}`, total: 100 });
      const r = await cloneDomain(b, name, newName, { onCopy: (target, percent, i, n) => bar.update(percent, `${target} (disk ${i + 1} of ${n})`) }).finally(() => bar.done());
      emit(opts, r, [`cloned ${name} to ${newName}`, ...r.disks.map((d) => `  ${d.target}: ${d.from} -> ${d.to}`)]);
    });

  sub(vm, "set <name>", "change vCPUs and memory: stored definition always, the running guest where possible", "hv vm set web1 --vcpus 2 --memory 1G")
    .option("--vcpus <n>", "virtual CPUs")
    .option("--memory <size>", "memory, e.g. 512M or 2G (a bare number is MiB)")
    .action(async (name: string, opts: O & { vcpus?: string; memory?: string }) => {
      if (opts.vcpus === undefined && opts.memory === undefined) throw new LibvirtError("invalid-argument", "give --vcpus and/or --memory");
      const vcpus = opts.vcpus !== undefined ? positiveInt(opts.vcpus, "--vcpus") : undefined;
      const memory = opts.memory !== undefined ? parseSize(opts.memory, 1024 * 1024) : undefined;
      const b = backendFor(opts);
      const tree = parseLibvirtXml(await b.dumpXml(name, { inactive: true }), "domain");
      if (vcpus !== undefined) setVcpus(tree, vcpus);
      if (memory !== undefined) setMemory(tree, memory);
      await b.define(toXml(tree));
      const live: Record<string, string> = {};
      if ((await b.domainState(name)) !== "shut off") {
        if (vcpus !== undefined) live.vcpus = await b.setVcpus(name, vcpus, "live").then(() => "applied", (e: Error) => `next boot (${e.message})`);
        if (memory !== undefined) live.memory = await b.setMemory(name, memory, "live").then(() => "applied", (e: Error) => `next boot (${e.message})`);
      }
      emit(opts, { name, vcpus, memoryBytes: memory, live }, [`${name}: definition updated${vcpus !== undefined ? ` vcpus=${vcpus}` : ""}${memory !== undefined ? ` memory=${formatBytes(memory)}` : ""}`, ...Object.entries(live).map(([k, v]) => `  running guest ${k}: ${v}`)]);
    });

  registerDisk(vm);
  registerNic(vm);

  sub(vm, "stats <name>", "CPU, memory, block and interface counters (virsh domstats)", "hv vm stats web1\n  hv vm stats web1 --json | jq .blocks")
    .action(async (name: string, opts: O) => {
      const s = await backendFor(opts).domainStats(name);
      emit(opts, s, [
        `${s.name}  ${s.state}`,
        `  cpu     ${(s.cpu.timeNs / 1e9).toFixed(2)} s${s.vcpus.current !== undefined ? `  vcpus ${s.vcpus.current}/${s.vcpus.maximum ?? "?"}` : ""}`,
        `  memory  ${s.memory.currentBytes !== undefined ? formatBytes(s.memory.currentBytes) : "?"}${s.memory.rssBytes !== undefined ? `  rss ${formatBytes(s.memory.rssBytes)}` : ""}`,
        ...s.blocks.map((d) => `  block   ${d.name}  read ${d.readBytes} B (${d.readRequests} req)  written ${d.writeBytes} B (${d.writeRequests} req)`),
        ...s.interfaces.map((n) => `  net     ${n.name}  rx ${n.rxBytes} B ${n.rxPackets} pkt  tx ${n.txBytes} B ${n.txPackets} pkt  errs ${n.rxErrors}/${n.txErrors}  drops ${n.rxDrops}/${n.txDrops}`),
      ]);
    });

  sub(vm, "dumpxml <name>", "print the domain's XML", "hv vm dumpxml web1\n  hv vm dumpxml web1 --inactive > web1.xml")
    .option("--inactive", "the stored definition (next boot) instead of the live one")
    .action(async (name: string, opts: O & { inactive?: boolean }) => {
      const xml = await backendFor(opts).dumpXml(name, { inactive: opts.inactive });
      emit(opts, { name, xml }, xml);
    });

  sub(vm, "edit <name>", "edit the stored definition in $EDITOR; invalid XML is refused and the old definition kept", "hv vm edit web1\n  EDITOR=nano hv vm edit web1")
    .action(async (name: string, opts: O) => {
      const b = backendFor(opts);
      const before = await b.dumpXml(name, { inactive: true, secure: true });
      const dir = await mkdtemp(join(tmpdir(), "hv-edit-"));
      const file = join(dir, `${name}.xml`);
      try {
        await writeFile(file, before, { mode: 0o600 });
        const editor = (process.env.VISUAL || process.env.EDITOR || "vi").split(/\s+/).filter(Boolean);
        const r = spawnSync(editor[0]!, [...editor.slice(1), file], { stdio: "inherit" });
        if (r.error || r.status !== 0) throw new LibvirtError("other", `editor ${editor.join(" ")} failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status})`}; definition unchanged`);
        const after = readTextCapped(file, MAX_XML_BYTES, file);
        if (after === before) return emit(opts, { name, changed: false }, `${name}: no changes`);
        await defineValidated(b, after, `the edited XML is invalid; definition of ${name} unchanged`, name);
        emit(opts, { name, changed: true, validatedBy: "libvirt" }, `${name}: definition updated (validated by libvirt)`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

  sub(
    vm,
    "migrate <name> <dest-uri>",
    "move a domain to another libvirt host (offline unless --live); unsafe moves are refused with the reason",
    "hv vm migrate web1 qemu+ssh://root@host2/system --live\n  hv vm migrate web1 qemu+tcp://10.0.0.2/system --live --copy-storage     local disks go along\n  hv vm migrate web1 qemu+tcp://10.0.0.2/system --live --p2p --migrate-uri tcp://10.0.1.2\n  hv vm migrate web1 qemu+ssh://host2/system --live --check              only say whether it may go",
  )
    .option("--live", "migrate while running")
    .option("--copy-storage", "copy the disks to the destination too (for disks on local file systems)")
    .option("--migrate-uri <uri>", "where qemu sends the guest's memory (tcp://HOST[:PORT]), e.g. a dedicated migration network")
    .option("--p2p", "the source libvirtd connects to the destination itself (this machine need not reach it)")
    .option("--allow-host-cpu", "migrate a guest with <cpu mode='host-passthrough'> (only between identical CPUs)")
    .option("--check", "check whether it is safe to migrate, change nothing")
    .action(async (name: string, dest: string, opts: O & { live?: boolean; copyStorage?: boolean; migrateUri?: string; p2p?: boolean; allowHostCpu?: boolean; check?: boolean }) => {
      const b = backendFor(opts);
      const how = { live: Boolean(opts.live), copyStorage: Boolean(opts.copyStorage), allowHostCpu: Boolean(opts.allowHostCpu) };
      // migrate.js records its work as a self-action in the store (SQLite): loaded here only.
      const { checkMigration, migrateDomain } = await import("../vm/migrate.js");
      if (opts.check) {
        const c = await checkMigration(b, name, how);
        emit(opts, { name, dest, ...how, ok: c.problems.length === 0, ...c }, [c.problems.length ? `${name} may not be migrated:` : `${name} may be migrated to ${dest}`, ...c.problems.map((p) => `  - ${p}`), ...c.notes.map((n) => `  note: ${n}`)]);
        if (c.problems.length) process.exitCode = 1;
        return;
      }
      const bar = progress({ label: `migrate ${name}`, format: formatBytes });
      let r;
      try {
        r = await migrateDomain(b, name, {
          dest, destination: backendFor({ uri: dest }), ...how, ...(opts.migrateUri ? { migrateUri: opts.migrateUri } : {}), ...(opts.p2p ? { p2p: true } : {}),
          onJob: (j) => {
            if (j.dataTotal !== undefined) bar.setTotal(j.dataTotal);
            bar.update(j.dataProcessed ?? 0, j.iteration !== undefined ? `pass ${j.iteration}${j.memoryBandwidth ? `, ${formatBytes(j.memoryBandwidth)}/s` : ""}` : undefined);
          },
        });
      } finally {
        bar.done();
      }
      emit(opts, r, [`migrated ${name} (${r.uuid}) to ${dest}${r.live ? " live" : " offline"}${r.copyStorage ? " with its disks" : ""} in ${(r.ms / 1000).toFixed(1)} s${r.job?.dataProcessed !== undefined ? `, ${formatBytes(r.job.dataProcessed)} sent` : ""}`, ...r.notes.map((n) => `  note: ${n}`)]);
    });

  // `hv vm audit` (risk checks) lives in its own file.
  registerVmAudit(vm);
  return vm;
}

function registerSnapshot(vm: Command): void {
  const snap = vm.command("snapshot").description("snapshots: internal (state + disks inside qcow2) or external disk-only (overlay files)");
  snap.addHelpText("after", `
Internal snapshots need every disk to be qcow2. --disk-only takes an external snapshot: each disk
gets a new overlay file and the old image becomes its read-only backing file.

Examples:
  hv vm snapshot create web1 before-upgrade --description "pre apt upgrade"
  hv vm snapshot create web1 s1 --disk-only
  hv vm snapshot list web1
  hv vm snapshot revert web1 before-upgrade
  hv vm snapshot delete web1 before-upgrade`);
  sub(snap, "create <name> <snapshot>", "take a snapshot", "hv vm snapshot create web1 s1\n  hv vm snapshot create web1 s2 --disk-only --description 'before test'")
    .option("--disk-only", "external snapshot of the disks only (no memory)")
    .option("--description <text>", "free text stored with the snapshot")
    .action(async (name: string, snapshot: string, opts: O & { diskOnly?: boolean; description?: string }) => {
      const b = backendFor(opts);
      // libvirt's own words for this are "unsupported configuration: nothing selected for snapshot".
      const disks = parseDomainXml(await b.dumpXml(checkName(name), { inactive: true })).disks.filter((d) => d.device === "disk" && !d.readonly);
      if (disks.length === 0) throw new LibvirtError("operation-invalid", `${name} has no writable disk to snapshot (it boots from a kernel, initrd or ISO only); attach one with hv vm disk attach ${name} --size 1G, or use hv vm save to keep its memory; nothing was done`);
      await selfAction(b, name, "snapshot", () => b.snapshotCreate(name, snapshot, { diskOnly: opts.diskOnly, ...(opts.description !== undefined ? { description: opts.description } : {}) }));
      emit(opts, { name, snapshot, diskOnly: Boolean(opts.diskOnly) }, `snapshot ${snapshot} of ${name} created${opts.diskOnly ? " (disk-only)" : ""}`);
    });
  sub(snap, "list <name>", "snapshots of a domain, oldest first", "hv vm snapshot list web1 --json")
    .action(async (name: string, opts: O) => {
      const list = await backendFor(opts).snapshotList(name);
      emit(opts, list, list.length ? table(["NAME", "CREATED", "STATE", "LOCATION", "PARENT", "CURRENT"], list.map((s) => [s.name, s.createdAt, s.state, s.location, s.parent ?? "-", s.current ? "*" : ""])) : `${name} has no snapshots`);
    });
  sub(snap, "revert <name> <snapshot>", "return the domain to a snapshot", "hv vm snapshot revert web1 s1")
    .action(async (name: string, snapshot: string, opts: O) => {
      const b = backendFor(opts);
      await selfAction(b, name, "snapshot-revert", () => b.snapshotRevert(name, snapshot));
      emit(opts, { name, snapshot }, `${name} reverted to ${snapshot}`);
    });
  sub(snap, "delete <name> <snapshot>", "delete a snapshot (its data is merged, the domain is unchanged)", "hv vm snapshot delete web1 s1\n  hv vm snapshot delete web1 s2 --metadata     forget an external snapshot libvirt cannot merge (its overlay file stays)")
    .option("--metadata", "only remove libvirt's record of the snapshot, not its data")
    .action(async (name: string, snapshot: string, opts: O & { metadata?: boolean }) => {
      const b = backendFor(opts);
      await selfAction(b, name, "snapshot-delete", () => b.snapshotDelete(name, snapshot, { metadataOnly: opts.metadata }));
      emit(opts, { name, snapshot }, `snapshot ${snapshot} of ${name} deleted`);
    });
}

function registerDisk(vm: Command): void {
  const disk = vm.command("disk").description("attach, detach and resize disks");
  disk.addHelpText("after", `
Examples:
  hv vm disk attach web1 --size 10G                  a new qcow2 volume in the default pool, next free vdX
  hv vm disk attach web1 /srv/data.qcow2 --target vdc
  hv vm disk attach web1 /srv/tools.iso --cdrom
  hv vm disk detach web1 vdc
  hv vm disk resize web1 vda 30G`);
  sub(disk, "attach <name> [source]", "attach an existing image, or a new volume with --size", "hv vm disk attach web1 --size 10G\n  hv vm disk attach web1 /srv/data.qcow2 --target vdc")
    .option("--target <dev>", "guest device name (default: next free vdX, or sdX for --cdrom)")
    .option("--size <size>", "create a new qcow2 volume of this size in --pool")
    .option("--pool <name>", "pool for --size", "default")
    .option("--format <fmt>", "image format (default: qcow2 for .qcow2 files and new volumes, else raw)")
    .option("--cdrom", "attach read-only as a cdrom")
    .option("--readonly", "attach read-only")
    .action(async (name: string, source: string | undefined, opts: O & { target?: string; size?: string; pool: string; format?: string; cdrom?: boolean; readonly?: boolean }) => {
      const b = backendFor(opts);
      const model = parseDomainXml(await b.dumpXml(name, { inactive: true }));
      const used = new Set(model.disks.map((d) => d.target.dev));
      const target = opts.target ? checkTarget(opts.target) : nextTarget(used, opts.cdrom ? "sd" : "vd");
      if (used.has(target)) throw new LibvirtError("already-exists", `${name} already has a disk ${target}`);
      let path = source;
      let created: { pool: string; volume: string } | undefined;
      if (!path) {
        if (!opts.size) throw new LibvirtError("invalid-argument", "give a source image or --size for a new volume");
        const volume = `${name}-${target}.qcow2`;
        await b.createVolume(opts.pool, buildVolumeXml({ name: volume, capacityBytes: parseSize(opts.size), format: "qcow2" }));
        created = { pool: opts.pool, volume };
        path = parseVolumeXml(await b.volumeXml(opts.pool, volume)).path ?? "";
      }
      checkArg(path, "source");
      const d: DiskModel = {
        type: "file",
        device: opts.cdrom ? "cdrom" : "disk",
        driverName: "qemu",
        format: opts.format ?? (created || path.endsWith(".qcow2") ? "qcow2" : "raw"),
        source: { file: path },
        target: { dev: target, bus: target.startsWith("vd") ? "virtio" : opts.cdrom ? "sata" : "scsi" },
        ...(opts.cdrom || opts.readonly ? { readonly: true } : {}),
      };
      try {
        await b.attachDevice(name, buildXml(diskToTree(d)), await scopeOf(b, name));
      } catch (err) {
        if (created) await b.deleteVolume(created.pool, created.volume).catch(() => undefined);
        throw err;
      }
      emit(opts, { name, target, source: path, created: Boolean(created) }, `attached ${path} to ${name} as ${target}`);
    });
  sub(disk, "detach <name> <target>", "detach a disk (the image file stays)", "hv vm disk detach web1 vdb")
    .action(async (name: string, target: string, opts: O) => {
      const b = backendFor(opts);
      await b.detachDisk(name, checkTarget(target), await scopeOf(b, name));
      emit(opts, { name, target }, `detached ${target} from ${name}`);
    });
  sub(disk, "resize <name> <target> <size>", "grow a disk (running: blockresize; stopped: the volume or qemu-img)", "hv vm disk resize web1 vda 30G")
    .action(async (name: string, target: string, size: string, opts: O) => {
      const b = backendFor(opts);
      const bytes = parseSize(size);
      checkTarget(target);
      let how: string;
      if ((await b.domainState(name)) !== "shut off") {
        await b.blockResize(name, target, bytes);
        how = "blockresize";
      } else {
        const d = parseDomainXml(await b.dumpXml(name, { inactive: true })).disks.find((x) => x.target.dev === target);
        const file = d?.source?.file;
        if (!file) throw new LibvirtError("not-found", `${name} has no file disk ${target}`);
        const vol = await b.volumeByPath(file);
        if (vol) {
          await b.resizeVolume(vol.pool, vol.volume, bytes);
          how = "volume";
        } else {
          if (!isLocalUri(b.uri)) throw new LibvirtError("operation-invalid", `${file} is not in a storage pool; resize it on its host`);
          const r = await runProgram("qemu-img", ["resize", ...(d.format ? ["-f", d.format] : []), file, String(bytes)], { timeout: 120_000 });
          if (r.exitCode !== 0) throw new LibvirtError("other", `qemu-img resize failed: ${String(r.stderr).trim()}`);
          how = "qemu-img";
        }
      }
      emit(opts, { name, target, bytes, via: how }, `${name} ${target} resized to ${formatBytes(bytes)} (${how})`);
    });
}

function registerNic(vm: Command): void {
  const nic = vm.command("nic").description("attach and detach network interfaces");
  nic.addHelpText("after", `
Examples:
  hv vm nic attach web1 --network isolated0
  hv vm nic attach web1 --bridge br0 --mac 52:54:00:12:34:56
  hv vm nic detach web1 52:54:00:12:34:56`);
  sub(nic, "attach <name>", "add a NIC on a libvirt network or a host bridge", "hv vm nic attach web1 --network isolated0")
    .option("--network <name>", "libvirt network")
    .option("--bridge <name>", "host bridge")
    .option("--mac <mac>", "MAC address (default: random 52:54:00:xx:xx:xx)")
    .option("--model <model>", "device model", "virtio")
    .action(async (name: string, opts: O & { network?: string; bridge?: string; mac?: string; model: string }) => {
      if (Boolean(opts.network) === Boolean(opts.bridge)) throw new LibvirtError("invalid-argument", "give exactly one of --network or --bridge");
      const mac = opts.mac ? checkMac(opts.mac) : randomMac();
      const xml = buildXml(
        interfaceToTree(
          opts.network
            ? { type: "network", mac, source: { network: checkName(opts.network, "network") }, model: checkName(opts.model, "model") }
            : { type: "bridge", mac, source: { bridge: checkName(opts.bridge!, "bridge") }, model: checkName(opts.model, "model") },
        ),
      );
      const b = backendFor(opts);
      await b.attachDevice(name, xml, await scopeOf(b, name));
      emit(opts, { name, mac }, `attached NIC ${mac} to ${name}`);
    });
  sub(nic, "detach <name> <mac>", "remove the NIC with this MAC", "hv vm nic detach web1 52:54:00:12:34:56")
    .action(async (name: string, macArg: string, opts: O) => {
      const mac = checkMac(macArg);
      const b = backendFor(opts);
      const running = (await b.domainState(name)) !== "shut off";
      const inConfig = parseDomainXml(await b.dumpXml(name, { inactive: true })).interfaces.find((i) => i.mac === mac);
      const inLive = running ? parseDomainXml(await b.dumpXml(name)).interfaces.find((i) => i.mac === mac) : undefined;
      const found = inLive ?? inConfig;
      if (!found) throw new LibvirtError("not-found", `${name} has no interface with MAC ${mac}`);
      await b.detachInterface(name, found.type, mac, inLive && inConfig ? "both" : inLive ? "live" : "config");
      emit(opts, { name, mac }, `detached NIC ${mac} from ${name}`);
    });
}

// ---- helpers --------------------------------------------------------------------------------

/** A subcommand with --uri, --json and an Examples section. */
export function sub(parent: Command, spec: string, description: string, examples: string): Command {
  return withVirtOptions(parent.command(spec).description(description)).addHelpText("after", `\nExamples:\n  ${examples}`);
}

function simple(vm: Command, verb: string, description: string, fn: (b: LibvirtBackend, name: string) => Promise<void>, done: string): void {
  sub(vm, `${verb} <name>`, description, `hv vm ${verb} web1`).action(async (name: string, opts: O) => {
    await fn(backendFor(opts), name);
    emit(opts, { name, action: verb, ok: true }, `${name} ${done}`);
  });
}

async function selfAction(b: LibvirtBackend, name: string, action: string, fn: () => Promise<void>): Promise<void> {
  checkName(name);
  const { withSelfAction } = await import("../vm/self-action.js");
  await withSelfAction(name, action, fn, { warn });
}

async function scopeOf(b: LibvirtBackend, name: string): Promise<"both" | "config"> {
  return (await b.domainState(name)) === "shut off" ? "config" : "both";
}

function nextTarget(used: Set<string>, prefix: string): string {
  for (let i = 0; i < 26; i++) {
    const t = prefix + String.fromCharCode(97 + i);
    if (!used.has(t)) return t;
  }
  throw new LibvirtError("operation-invalid", `no free ${prefix}X target left`);
}

/**
 * Defines a domain from XML. The backend checks its shape (well-formed, a <domain>, no DTD) and
 * libvirt validates it against its own RelaxNG schema as it defines it (define --validate), so no
 * external validator is needed. Either refusal becomes `what` (which says that nothing changed)
 * with the reason. With `sameName`, a definition that renames the domain is refused too.
 */
async function defineValidated(b: LibvirtBackend, xml: string, what: string, sameName?: string): Promise<string> {
  try {
    if (sameName !== undefined) {
      const newName = parseDomainXml(xml).name;
      if (newName !== sameName) throw new LibvirtError("invalid-argument", `the edit renames ${sameName} to ${newName}; rename is not supported by edit, definition unchanged`);
    }
    return await b.define(xml);
  } catch (err) {
    if (err instanceof LibvirtError && err.code === "invalid-xml") throw new LibvirtError("invalid-xml", `${what}: ${err.message}`, err.libvirtMessage, err.command);
    throw err;
  }
}
