// The Debian units for scheduled backups (packaging/debian) are checked by systemd's own verifier;
// the only complaint allowed is that /usr/bin/hv is not installed on this machine. No lock needed.

import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const DIR = new URL("../../packaging/debian/", import.meta.url).pathname;
const skip = existsSync("/usr/bin/systemd-analyze") ? undefined : "systemd-analyze is missing (apt-get install systemd)";
if (skip) console.warn(`\n*** SKIPPING unit checks: ${skip} ***\n`);

describe.skipIf(skip !== undefined)("packaging/debian/hv-backup.{service,timer}", () => {
  it("pass systemd-analyze verify", async () => {
    const r = await execa("systemd-analyze", ["verify", `${DIR}hv-backup.service`, `${DIR}hv-backup.timer`], { reject: false });
    const complaints = String(r.stderr).split("\n").filter((l) => l.trim() && !/Command \/usr\/bin\/hv is not executable/.test(l));
    expect(complaints).toEqual([]);
  });

  it("back up every configured VM, then apply the retention policy", () => {
    const service = readFileSync(`${DIR}hv-backup.service`, "utf8");
    const starts = service.split("\n").filter((l) => l.startsWith("ExecStart="));
    expect(starts).toEqual(["ExecStart=/usr/bin/hv backup create --all --config /etc/hv/hv.yaml --by schedule", "ExecStart=/usr/bin/hv backup forget --prune --config /etc/hv/hv.yaml"]);
    expect(service).toMatch(/^Type=oneshot$/m);
    // The password stays in the config's file: nothing secret on a command line.
    expect(service).not.toContain("--password");
    expect(readFileSync(`${DIR}hv-backup.timer`, "utf8")).toMatch(/^OnCalendar=daily$/m);
  });
});
