import type { Command } from "commander";
import { LibvirtError } from "../events/libvirt-error.js";
import { checkArg, checkName } from "../vm/names.js";
import { buildPoolXml, buildVolumeXml } from "../vm/pool-xml.js";
import { formatBytes, parseSize } from "../vm/size.js";
import { backendFor, emit, sub, table, type VirtOptions as O } from "./vm.js";

// `hv pool` (storage pools) and `hv volume` (the volumes in them).

export function registerPool(program: Command): void {
  const pool = program.command("pool").description("manage libvirt storage pools");
  pool.addHelpText(
    "after",
    `
Examples:
  hv pool list
  hv pool create images --target /var/lib/libvirt/images --autostart
  hv pool delete images                       stop and undefine (files stay)
  hv pool delete scratch --remove-dir         also remove the (empty) directory`,
  );

  sub(pool, "list", "pools with capacity and use", "hv pool list --json").action(async (opts: O) => {
    const rows = await backendFor(opts).listPools();
    emit(opts, rows, rows.length ? table(["NAME", "STATE", "AUTOSTART", "CAPACITY", "AVAILABLE"], rows.map((p) => [p.name, p.state, p.autostart ? "yes" : "no", p.capacityBytes !== undefined ? formatBytes(p.capacityBytes) : "-", p.availableBytes !== undefined ? formatBytes(p.availableBytes) : "-"])) : "no pools");
  });

  sub(pool, "create <name>", "define, build and start a directory pool", "hv pool create images --target /var/lib/libvirt/images")
    .requiredOption("--target <dir>", "directory that holds the volumes (created if missing)")
    .option("--type <type>", "pool type", "dir")
    .option("--no-start", "only define it")
    .option("--autostart", "start it when libvirtd starts")
    .action(async (name: string, opts: O & { target: string; type: string; start: boolean; autostart?: boolean }) => {
      if (!opts.target.startsWith("/")) throw new LibvirtError("invalid-argument", `--target must be an absolute path, got ${JSON.stringify(opts.target)}`);
      const b = backendFor(opts);
      await b.definePool(buildPoolXml({ name: checkName(name, "pool name"), type: checkName(opts.type, "pool type"), targetPath: checkArg(opts.target, "--target") }));
      try {
        if (opts.start) {
          await b.buildPool(name);
          await b.startPool(name);
        }
        if (opts.autostart) await b.setPoolAutostart(name, true);
      } catch (err) {
        await b.undefinePool(name).catch(() => undefined);
        throw err;
      }
      emit(opts, { name, type: opts.type, target: opts.target, started: opts.start }, `pool ${name} (${opts.type}) at ${opts.target} ${opts.start ? "created and started" : "defined"}`);
    });

  sub(pool, "delete <name>", "stop and undefine a pool (its volumes stay on disk unless --remove-dir)", "hv pool delete images\n  hv pool delete scratch --remove-dir")
    .option("--remove-dir", "also delete the pool's directory (must be empty)")
    .action(async (name: string, opts: O & { removeDir?: boolean }) => {
      const b = backendFor(opts);
      const found = (await b.listPools()).find((p) => p.name === checkName(name, "pool name"));
      if (!found) throw new LibvirtError("not-found", `no pool ${name}`);
      if (found.state === "running") await b.stopPool(name);
      if (opts.removeDir) await b.deletePool(name);
      if (found.persistent) await b.undefinePool(name);
      emit(opts, { name, deleted: true, removedDir: Boolean(opts.removeDir) }, `pool ${name} deleted${opts.removeDir ? " with its directory" : ""}`);
    });

  const volume = program.command("volume").description("manage volumes (disk images) in storage pools");
  volume.addHelpText(
    "after",
    `
Examples:
  hv volume list images
  hv volume create images data1.qcow2 --size 10G
  hv volume create images web2.qcow2 --size 20G --backing /srv/base/debian-12.qcow2
  hv volume resize images data1.qcow2 20G
  hv volume delete images data1.qcow2`,
  );
  sub(volume, "list <pool>", "volumes in a pool", "hv volume list images --json").action(async (p: string, opts: O) => {
    const rows = await backendFor(opts).listVolumes(p);
    emit(opts, rows, rows.length ? table(["NAME", "CAPACITY", "ALLOCATION", "PATH"], rows.map((v) => [v.name, formatBytes(v.capacityBytes ?? 0), formatBytes(v.allocationBytes ?? 0), v.path])) : `no volumes in ${p}`);
  });
  sub(volume, "create <pool> <name>", "create a volume", "hv volume create images data1.qcow2 --size 10G\n  hv volume create images raw1.img --size 1G --format raw")
    .requiredOption("--size <size>", "capacity, e.g. 10G")
    .option("--format <fmt>", "qcow2 or raw", "qcow2")
    .option("--backing <path>", "qcow2 backing file (copy-on-write overlay)")
    .option("--backing-format <fmt>", "format of the backing file", "qcow2")
    .action(async (p: string, name: string, opts: O & { size: string; format: string; backing?: string; backingFormat: string }) => {
      const xml = buildVolumeXml({ name: checkName(name, "volume name"), capacityBytes: parseSize(opts.size), format: checkName(opts.format, "format"), ...(opts.backing ? { backing: { path: checkArg(opts.backing, "--backing"), format: checkName(opts.backingFormat, "format") } } : {}) });
      await backendFor(opts).createVolume(p, xml);
      emit(opts, { pool: p, name, capacityBytes: parseSize(opts.size), format: opts.format }, `volume ${name} (${opts.format}, ${formatBytes(parseSize(opts.size))}) created in ${p}`);
    });
  sub(volume, "delete <pool> <name>", "delete a volume and its data", "hv volume delete images data1.qcow2").action(async (p: string, name: string, opts: O) => {
    await backendFor(opts).deleteVolume(p, name);
    emit(opts, { pool: p, name, deleted: true }, `volume ${name} deleted from ${p}`);
  });
  sub(volume, "resize <pool> <name> <size>", "grow a volume (not in use by a running guest: use hv vm disk resize then)", "hv volume resize images data1.qcow2 20G").action(async (p: string, name: string, size: string, opts: O) => {
    const bytes = parseSize(size);
    await backendFor(opts).resizeVolume(p, name, bytes);
    emit(opts, { pool: p, name, capacityBytes: bytes }, `volume ${name} resized to ${formatBytes(bytes)}`);
  });
}
