// The pure parts of `hv backup` and `hv vm migrate`: where the repository and its password come from,
// what restic's environment and arguments hold (never the password), the retention arguments, the
// guest agent's channel state, domjobinfo parsing, and what a copy's definition points at.
// No daemons: no lock needed.

import { describe, expect, it } from "vitest";
import { guestAgentConnected } from "../../src/backup/create.js";
import { resticEnv } from "../../src/backup/restic.js";
import { backupConfigSchema, defaultPasswordFile, redactRepository, resolveRepo } from "../../src/backup/settings.js";
import { keepArgs } from "../../src/backup/snapshots.js";
import { useImageFile } from "../../src/vm/clone.js";
import { renameForCopy, toXml } from "../../src/vm/domain-edit.js";
import { keyValues } from "../../src/events/virsh.js";
import { parseJobInfo } from "../../src/vm/virsh.js";
import { child, elements, parseLibvirtXml } from "../../src/vm/xml.js";

describe("backup settings", () => {
  it("flags beat the config, the config beats restic's environment, the default password file comes last", () => {
    const config = backupConfigSchema.parse({ repository: "/srv/cfg", passwordCommand: "pass show hv" });
    const env = { RESTIC_REPOSITORY: "/srv/env", RESTIC_PASSWORD_FILE: "/etc/env.pass" };
    expect(resolveRepo("/var/lib/hv", config, { repo: "/srv/flag", passwordFile: "/etc/flag.pass" }, env)).toMatchObject({ repository: "/srv/flag", passwordFile: "/etc/flag.pass" });
    const fromConfig = resolveRepo("/var/lib/hv", config, {}, env);
    expect(fromConfig).toMatchObject({ repository: "/srv/cfg", passwordCommand: "pass show hv" });
    expect(fromConfig.passwordFile).toBeUndefined();
    expect(resolveRepo("/var/lib/hv", undefined, {}, env)).toMatchObject({ repository: "/srv/env", passwordFile: "/etc/env.pass" });
    expect(resolveRepo("/var/lib/hv", undefined, { repo: "/srv/x" }, {})).toMatchObject({ passwordFile: defaultPasswordFile("/var/lib/hv"), cacheDir: "/var/lib/hv/backup/cache" });
    expect(() => resolveRepo("/var/lib/hv", undefined, {}, {})).toThrow(/no backup repository/);
    expect(() => resolveRepo("/s", undefined, { repo: "/r", passwordFile: "/a", passwordCommand: "b" }, {})).toThrow(/not both/);
  });

  it("the config section is strict and names the bad field", () => {
    expect(backupConfigSchema.safeParse({ repository: "/r", passwordFile: "/a", passwordCommand: "b" }).success).toBe(false);
    const r = backupConfigSchema.safeParse({ repository: "/r", keep: { daily: 0 } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error!.issues)).toContain("daily");
    expect(backupConfigSchema.safeParse({ repository: "/r", resticOptions: ["--password=x"] }).success).toBe(false);
    expect(backupConfigSchema.safeParse({ repository: "/r", bogus: 1 }).success).toBe(false);
  });

  it("restic's environment carries the password file or command, never a password taken from hv's own RESTIC_* variables by accident", () => {
    const repo = resolveRepo("/s", undefined, { repo: "rest:https://u:secret@h/r", passwordFile: "/etc/hv.pass" }, {});
    const env = resticEnv(repo, { PATH: "/usr/bin", RESTIC_PASSWORD: "leaked", RESTIC_REPOSITORY: "/other" });
    expect(env).toMatchObject({ PATH: "/usr/bin", RESTIC_REPOSITORY: "rest:https://u:secret@h/r", RESTIC_PASSWORD_FILE: "/etc/hv.pass", RESTIC_CACHE_DIR: "/s/backup/cache" });
    expect(env.RESTIC_PASSWORD).toBeUndefined();
    // Only when nothing else is configured does restic's own RESTIC_PASSWORD pass through.
    const fromEnv = resolveRepo("/s", undefined, { repo: "/r" }, { RESTIC_PASSWORD: "p" });
    expect(fromEnv.passwordFromEnv).toBe(true);
    expect(resticEnv(fromEnv, { RESTIC_PASSWORD: "p" }).RESTIC_PASSWORD).toBe("p");
  });

  it("a password inside a repository URL is never shown", () => {
    expect(redactRepository("rest:https://backup:s3cr3t@10.0.0.9:8000/hv")).toBe("rest:https://backup:***@10.0.0.9:8000/hv");
    expect(redactRepository("sftp:backup@10.0.0.9:/srv/hv")).toBe("sftp:backup@10.0.0.9:/srv/hv");
    expect(redactRepository("/srv/backup")).toBe("/srv/backup");
  });

  it("keep policy → restic forget arguments", () => {
    expect(keepArgs({ daily: 7, weekly: 4, within: "2m" })).toEqual(["--keep-daily", "7", "--keep-weekly", "4", "--keep-within", "2m"]);
    expect(keepArgs({})).toEqual([]);
  });
});

describe("guest agent and job statistics", () => {
  const dom = (state: string): string =>
    `<domain type='qemu'><name>x</name><devices><channel type='unix'><source mode='bind' path='/run/x'/><target type='virtio' name='org.qemu.guest_agent.0' state='${state}'/></channel></devices></domain>`;
  it("the agent counts only when libvirt says its channel is connected", () => {
    expect(guestAgentConnected(dom("connected"))).toBe(true);
    expect(guestAgentConnected(dom("disconnected"))).toBe(false);
    expect(guestAgentConnected("<domain type='qemu'><name>x</name><devices/></domain>")).toBe(false);
  });

  it("domjobinfo of a migration in progress", () => {
    const out = [
      "Job type:         Unbounded",
      "Operation:        Outgoing migration",
      "Time elapsed:     1523         ms",
      "Data processed:   45.125 MiB",
      "Data remaining:   80.500 MiB",
      "Data total:       192.008 MiB",
      "Memory processed: 45.125 MiB",
      "Memory remaining: 80.500 MiB",
      "Memory total:     128.008 MiB",
      "Memory bandwidth: 31.000 MiB/s",
      "Iteration:        1",
    ].join("\n");
    const j = parseJobInfo(keyValues(out));
    expect(j).toMatchObject({ type: "Unbounded", operation: "Outgoing migration", elapsedMs: 1523, iteration: 1, memoryBandwidth: 31 * 1024 ** 2 });
    expect(j.dataTotal).toBe(Math.round(192.008 * 1024 ** 2));
    expect(j.dataProcessed! + j.dataRemaining!).toBeLessThan(j.dataTotal!);
  });
});

describe("a restored copy's definition", () => {
  it("gets its own name, serial log file, MACs and a flat disk; no uuid", () => {
    const tree = parseLibvirtXml(
      `<domain type='qemu'><name>web1</name><uuid>0c5f3a9e-0000-4000-8000-000000000001</uuid><os><type>hvm</type><nvram>/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram></os><devices>
        <disk type='volume' device='disk'><driver name='qemu' type='raw'/><source pool='default' volume='web1.img'/><backingStore/><target dev='vda' bus='virtio'/></disk>
        <interface type='network'><mac address='52:54:00:11:22:33'/><source network='lab'/></interface>
        <serial type='file'><source path='/var/log/vm/web1.serial.log' append='off'/><target port='0'/></serial>
        <console type='pty'><log file='/var/log/vm/console.log'/></console>
      </devices></domain>`,
      "domain",
    );
    renameForCopy(tree, "web1-copy");
    const disk = elements(child(tree, "devices")!, "disk")[0]!;
    useImageFile(disk, "/srv/restore/web1-copy-vda.qcow2");
    const xml = toXml(tree);
    expect(xml).toContain("<name>web1-copy</name>");
    expect(xml).not.toContain("<uuid>");
    expect(xml).toContain('<source path="/var/log/vm/web1-copy.serial.log"');
    expect(xml).toContain("/var/log/vm/web1-copy-console.log");
    expect(xml).not.toContain("52:54:00:11:22:33");
    expect(xml).toMatch(/<disk type="file" device="disk">\s*<driver name="qemu" type="qcow2"\/>\s*<source file="\/srv\/restore\/web1-copy-vda.qcow2"\/>/);
    expect(xml).not.toContain("backingStore");
    expect(xml).not.toContain("volume=");
  });
});
