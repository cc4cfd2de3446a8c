import { describe, expect, it } from "vitest";
import { AuditDecoder } from "../../src/collectors/audit/decoder.js";
import { ProcessTable } from "../../src/collectors/audit/proctable.js";
import type { HvEvent } from "../../src/events/event.js";

function sys(serial: number, syscall: number, pid: number, ppid: number, exe: string, exit = 0, success = "yes"): string {
  return `type=SYSCALL msg=audit(100.${String(serial).padStart(3, "0")}:${serial}): arch=c000003e syscall=${syscall} success=${success} exit=${exit} ppid=${ppid} pid=${pid} uid=1000 auid=1000 comm="${exe.split("/").pop()}" exe="${exe}"`;
}
const execve = (serial: number, ...args: string[]) =>
  `type=EXECVE msg=audit(100.${String(serial).padStart(3, "0")}:${serial}): argc=${args.length} ${args.map((a, i) => `a${i}="${a}"`).join(" ")}`;
const eoe = (serial: number) => `type=EOE msg=audit(100.${String(serial).padStart(3, "0")}:${serial}): `;

function run(lines: string[], table = new ProcessTable()): HvEvent[] {
  const d = new AuditDecoder({ processes: table });
  const out: HvEvent[] = [];
  lines.forEach((l, i) => out.push(...d.pushLine(l, i + 1).events));
  out.push(...d.flush());
  return out;
}

describe("ProcessTable", () => {
  it("gives a forked child its parent's image, then the exec'd child its parent's command line", () => {
    const events = run([
      sys(1, 59, 10, 1, "/usr/sbin/sshd"), execve(1, "sshd", "-D"), eoe(1),
      // sshd (10) clones 11, which execs bash; bash (11) forks 12, which execs curl.
      sys(2, 56, 10, 1, "/usr/sbin/sshd", 11), eoe(2),
      sys(3, 59, 11, 10, "/bin/bash"), execve(3, "bash", "-i"), eoe(3),
      sys(4, 57, 11, 10, "/bin/bash", 12), eoe(4),
      sys(5, 59, 12, 11, "/usr/bin/curl"), execve(5, "curl", "http://203.0.113.9/x"), eoe(5),
    ]);
    const curl = events.find((e) => e.process?.executable === "/usr/bin/curl")!;
    expect(curl.process?.parent).toEqual({ pid: 11, executable: "/bin/bash", name: "bash", args: ["bash", "-i"], command_line: "bash -i" });
    const bash = events.find((e) => e.process?.executable === "/bin/bash" && e.event.action === "execve")!;
    expect(bash.process?.parent).toMatchObject({ pid: 10, executable: "/usr/sbin/sshd", command_line: "sshd -D" });
  });

  it("does not learn from a failed execve", () => {
    const table = new ProcessTable();
    run([sys(1, 59, 20, 1, "/bin/sh"), execve(1, "sh"), eoe(1), sys(2, 59, 20, 1, "/bin/sh", -2, "no"), execve(2, "nope"), eoe(2)], table);
    expect(table.get(20)?.args).toEqual(["sh"]);
  });

  it("forgets the least recently seen process when full", () => {
    const table = new ProcessTable(2);
    run([sys(1, 59, 1, 0, "/a"), eoe(1), sys(2, 59, 2, 0, "/b"), eoe(2), sys(3, 59, 1, 0, "/a2"), eoe(3), sys(4, 59, 3, 0, "/c"), eoe(4)], table);
    expect(table.size).toBe(2);
    expect(table.get(2)).toBeUndefined();
    expect(table.get(1)?.executable).toBe("/a2");
    expect(table.get(3)?.executable).toBe("/c");
  });

  it("hands its labels (VM, hv's own doing) to forked children and exec'd images, and forgets a stopped VM's", () => {
    const table = new ProcessTable();
    const web = { name: "web1", uuid: "11111111-2222-3333-4444-555555555555" };
    table.label(30, { vm: web }, "2026-01-01T00:00:00Z");
    run([sys(1, 56, 30, 1, "/usr/bin/qemu-system-x86_64", 31), eoe(1), sys(2, 59, 31, 30, "/bin/sh"), execve(2, "sh"), eoe(2), sys(3, 57, 31, 30, "/bin/sh", 32), eoe(3)], table);
    expect([table.labels(31)?.vm, table.labels(32)?.vm]).toEqual([web, web]);
    // Another process that is not the VM's: no label.
    run([sys(4, 59, 40, 1, "/bin/ls"), execve(4, "ls"), eoe(4)], table);
    expect(table.labels(40)).toBeUndefined();
    expect([...table.lineage(32)]).toEqual([32, 31, 30]);
    table.forgetVm("web1");
    expect([30, 31, 32].map((p) => table.labels(p)?.vm)).toEqual([undefined, undefined, undefined]);
  });
});
