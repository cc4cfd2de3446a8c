import { describe, expect, it } from "vitest";
import { Coalescer } from "../../src/collectors/audit/coalesce.js";
import { AuditDecoder } from "../../src/collectors/audit/decoder.js";
import { parseRecord, type ParsedRecord } from "../../src/collectors/audit/parse.js";
import type { HvEvent } from "../../src/events/event.js";

function rec(line: string): ParsedRecord {
  const r = parseRecord(line);
  if (!r.ok) throw new Error(r.reason);
  return r.record;
}

const SYSCALL = (t: string, s: number, extra = "") =>
  `type=SYSCALL msg=audit(${t}:${s}): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=${s} uid=0 auid=1000 comm="x" exe="/bin/x"${extra}`;
const PATH = (t: string, s: number) => `type=PATH msg=audit(${t}:${s}): item=0 name="/bin/x" inode=1 nametype=NORMAL`;
const EOE = (t: string, s: number) => `type=EOE msg=audit(${t}:${s}): `;
const PROCTITLE = (t: string, s: number) => `type=PROCTITLE msg=audit(${t}:${s}): proctitle=78`;

function decode(lines: string[]): { events: HvEvent[]; decoder: AuditDecoder } {
  const decoder = new AuditDecoder();
  const events: HvEvent[] = [];
  lines.forEach((l, i) => events.push(...decoder.pushLine(l, i + 1).events));
  events.push(...decoder.flush());
  return { events, decoder };
}

describe("Coalescer", () => {
  it("groups interleaved records by serial and closes on EOE", () => {
    const c = new Coalescer();
    expect(c.push(rec(SYSCALL("10.000", 1)))).toEqual([]);
    expect(c.push(rec(SYSCALL("10.000", 2)))).toEqual([]);
    expect(c.push(rec(PATH("10.000", 1)))).toEqual([]);
    const done = c.push(rec(EOE("10.000", 1)));
    expect(done).toHaveLength(1);
    expect(done[0]?.records.map((r) => r.type)).toEqual(["SYSCALL", "PATH"]);
    expect(done[0]?.incomplete).toBe(false);
    expect(c.inFlight).toBe(1);
  });

  it("keeps out-of-order records together until EOE (PROCTITLE first, SYSCALL last)", () => {
    const c = new Coalescer();
    expect(c.push(rec(PROCTITLE("10.000", 1)))).toEqual([]);
    expect(c.push(rec(PATH("10.000", 1)))).toEqual([]);
    expect(c.push(rec(SYSCALL("10.000", 1)))).toEqual([]);
    const out = c.push(rec(EOE("10.000", 1)));
    expect(out.map((g) => g.records.map((r) => r.type))).toEqual([["PROCTITLE", "PATH", "SYSCALL"]]);
    expect(c.push(rec(EOE("10.000", 1)))).toEqual([]);
    expect(c.stats.events).toBe(1);
  });

  it("closes an event at the next event's first record once its PROCTITLE came (auditd 3 logs have no EOE)", () => {
    const c = new Coalescer();
    c.push(rec(SYSCALL("10.000", 1)));
    expect(c.push(rec(PROCTITLE("10.000", 1)))).toEqual([]);
    const out = c.push(rec(SYSCALL("10.001", 2)));
    expect(out.map((g) => [g.serial, g.incomplete, g.records.length])).toEqual([[1, false, 2]]);
  });

  it("emits a user-space record once the next record shows its serial has ended", () => {
    const c = new Coalescer();
    expect(c.push(rec("type=USER_CMD msg=audit(10.000:5): pid=1 uid=0 msg='cmd=6964 res=success'"))).toEqual([]);
    const out = c.push(rec(SYSCALL("10.001", 6)));
    expect(out.map((g) => [g.serial, g.incomplete])).toEqual([[5, false]]);
    expect(c.expire(0)).toEqual([]);
  });

  it("lets a newer kernel's SYSCALL/EOE continue a user-space record under the same serial", () => {
    const c = new Coalescer();
    c.push(rec("type=SERVICE_START msg=audit(10.000:5): pid=1 uid=0 msg='unit=x res=success'"));
    expect(c.push(rec(SYSCALL("10.000", 5)))).toEqual([]);
    expect(c.push(rec("type=SOCKADDR msg=audit(10.000:5): saddr=100000000000000000000000"))).toEqual([]);
    const out = c.push(rec(EOE("10.000", 5)));
    expect(out.map((g) => g.records.map((r) => r.type))).toEqual([["SERVICE_START", "SYSCALL", "SOCKADDR"]]);
  });

  it("closes a lone user-space record at the next live expiry tick", () => {
    const c = new Coalescer();
    c.push(rec("type=USER_CMD msg=audit(10.000:5): pid=1"), undefined, 1000);
    expect(c.expire(1001).map((g) => g.serial)).toEqual([5]);
  });

  it("splits a repeated event (a second SYSCALL under the same serial)", () => {
    const c = new Coalescer();
    c.push(rec(SYSCALL("10.000", 1)));
    c.push(rec("type=AVC msg=audit(10.000:1): avc:  denied  { read } for pid=1"));
    expect(c.push(rec(SYSCALL("10.000", 1))).map((g) => g.records.length)).toEqual([2]);
    expect(c.flush().map((g) => g.records.length)).toEqual([1]);
  });

  it("closes an event without EOE once the stream moves 2 s past it, and marks it incomplete", () => {
    const c = new Coalescer();
    c.push(rec(SYSCALL("10.000", 1)));
    expect(c.push(rec(SYSCALL("11.500", 2)))).toEqual([]);
    const out = c.push(rec(SYSCALL("12.001", 3)));
    expect(out.map((g) => g.serial)).toEqual([1]);
    expect(out[0]?.incomplete).toBe(true);
    expect(c.stats.incomplete).toBe(1);
  });

  it("closes by wall clock in live mode", () => {
    const c = new Coalescer({ timeoutMs: 1000 });
    c.push(rec(SYSCALL("10.000", 1)), undefined, 5_000);
    expect(c.expire(5_500)).toEqual([]);
    expect(c.expire(6_000).map((g) => g.serial)).toEqual([1]);
  });

  it("pushes out the oldest event when the in-flight window is full", () => {
    const c = new Coalescer({ maxInFlight: 2 });
    c.push(rec(SYSCALL("10.000", 1)));
    c.push(rec(SYSCALL("10.000", 2)));
    const out = c.push(rec(SYSCALL("10.000", 3)));
    expect(out.map((g) => g.serial)).toEqual([1]);
    expect(c.stats.evicted).toBe(1);
  });

  it("reports gaps in serials as lost, and un-loses a serial that arrives late", () => {
    const c = new Coalescer();
    for (const s of [1, 2, 6, 4, 10]) c.push(rec(`type=USER_CMD msg=audit(10.000:${s}): pid=1`));
    // missing: 3, 5, 7, 8, 9
    expect(c.stats.lostSerials).toBe(5);
    expect(c.lostRanges()).toEqual([
      { node: "", from: 3, to: 3 },
      { node: "", from: 5, to: 5 },
      { node: "", from: 7, to: 9 },
    ]);
  });

  it("follows the serial across its 32-bit rollover and across a reboot", () => {
    const c = new Coalescer();
    for (const s of [4294967294, 4294967295, 0, 1]) c.push(rec(`type=USER_CMD msg=audit(10.000:${s}): pid=1`));
    expect(c.stats.lostSerials).toBe(0);
    c.push(rec(`type=USER_CMD msg=audit(20.000:5000000): pid=1`));
    c.push(rec(`type=USER_CMD msg=audit(30.000:7): pid=1`));
    expect(c.stats.lostSerials).toBe(4999998);
    expect(c.lostRanges().length).toBe(1);
  });

  it("gives a late record an event of its own, with its own id", () => {
    const { events, decoder } = decode([SYSCALL("10.000", 1), PATH("10.000", 1), EOE("10.000", 1), "type=CWD msg=audit(10.000:1): cwd=\"/\"", "type=PATH msg=audit(10.000:1): item=1 name=\"/x\"", EOE("10.000", 1)]);
    expect(events.map((e) => e.event.id)).toEqual(["audit::10.000:1", "audit::10.000:1:late:CWD"]);
    expect(events[1]?.audit?.records.map((r) => r.type)).toEqual(["CWD", "PATH"]);
    expect(events[1]?.event.partial).toBe(true);
    expect(decoder.stats.late).toBe(1);
  });

  it("keeps nodes apart", () => {
    const { events } = decode([`node=a ${SYSCALL("10.000", 1)}`, `node=b ${SYSCALL("10.000", 1)}`, `node=a ${EOE("10.000", 1)}`, `node=b ${EOE("10.000", 1)}`]);
    expect(events.map((e) => e.event.id)).toEqual(["audit:a:10.000:1", "audit:b:10.000:1"]);
    expect(events.map((e) => e.host?.name)).toEqual(["a", "b"]);
  });
});

describe("AuditDecoder", () => {
  it("counts blank and malformed lines with their line numbers and keeps going", () => {
    const { events, decoder } = decode(["", "garbage", SYSCALL("10.000", 1), "type=X msg=audit(bad)", EOE("10.000", 1)]);
    expect(events).toHaveLength(1);
    expect(decoder.stats).toMatchObject({ lines: 5, blank: 1, malformed: 2, records: 2, events: 1 });
    expect(decoder.stats.problems.map((p) => p.line)).toEqual([2, 4]);
  });

  it("normalizes an execve event: process, args, user, file, parent from the process table", () => {
    const t = "1700000000.500";
    const { events } = decode([
      `type=SYSCALL msg=audit(${t}:20): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=100 auid=1000 uid=0 gid=0 euid=0 suid=0 tty=pts0 ses=3 comm="bash" exe="/usr/bin/bash" key="exec"`,
      `type=EXECVE msg=audit(${t}:20): argc=1 a0="bash"`,
      `type=EOE msg=audit(${t}:20): `,
      `type=SYSCALL msg=audit(${t}:21): arch=c000003e syscall=59 success=yes exit=0 ppid=100 pid=101 auid=1000 uid=0 gid=0 euid=0 suid=0 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" key="exec"`,
      `type=EXECVE msg=audit(${t}:21): argc=4 a0="curl" a1="" a2_len=10 a2[0]=${Buffer.from("http://").toString("hex")} a2[1]="x.y" a3=${Buffer.from("é ü").toString("hex")}`,
      `type=CWD msg=audit(${t}:21): cwd="/root"`,
      `type=PATH msg=audit(${t}:21): item=0 name="/usr/bin/curl" inode=5 dev=08:01 mode=0100755 ouid=0 ogid=0 nametype=NORMAL`,
      `type=PROCTITLE msg=audit(${t}:21): proctitle=${Buffer.from("curl\0\0http://x.y").toString("hex")}`,
      `type=EOE msg=audit(${t}:21): `,
    ]);
    expect(events).toHaveLength(2);
    const e = events[1]!;
    expect(e["@timestamp"]).toBe("2023-11-14T22:13:20.500Z");
    expect(e.event).toMatchObject({ action: "execve", category: ["process"], type: ["start"], outcome: "success", sequence: 21 });
    expect(e.process).toMatchObject({
      pid: 101, ppid: 100, executable: "/usr/bin/curl", name: "curl",
      args: ["curl", "", "http://x.y", "é ü"], command_line: "curl  http://x.y é ü",
      working_directory: "/root", tty: "pts0",
      parent: { pid: 100, executable: "/usr/bin/bash", command_line: "bash" },
    });
    expect(e.user).toMatchObject({ id: "0", audit: { id: "1000" }, effective: { id: "0" } });
    expect(e.file).toMatchObject({ path: "/usr/bin/curl", name: "curl", directory: "/usr/bin", inode: "5" });
    expect(e.audit).toMatchObject({ serial: 21, type: "SYSCALL", arch: "x86_64", syscall: "execve", key: ["exec"], session: "3" });
    // Raw records are kept, with chunked arguments joined.
    expect(e.audit?.records.find((r) => r.type === "EXECVE")?.fields).toMatchObject({ a2: "http://x.y", argc: "4" });
  });

  it("joins a chunked argument whose chunk boundary splits a UTF-8 character", () => {
    const bytes = Buffer.from("aé", "utf8"); // 61 c3 a9
    const { events } = decode([
      SYSCALL("10.000", 1),
      `type=EXECVE msg=audit(10.000:1): argc=2 a0="x" a1_len=3 a1[0]=${bytes.subarray(0, 2).toString("hex")} a1[1]=${bytes.subarray(2).toString("hex")}`,
      EOE("10.000", 1),
    ]);
    expect(events[0]?.process?.args).toEqual(["x", "aé"]);
  });

  it("keeps a quoted chunk of a long argument as text even when it looks like hex", () => {
    const { events } = decode([SYSCALL("10.000", 1), `type=EXECVE msg=audit(10.000:1): argc=2 a0="x" a1_len=8 a1[0]="4142" a1[1]="4344"`, EOE("10.000", 1)]);
    expect(events[0]?.process?.args).toEqual(["x", "41424344"]);
  });

  it("fills destination from SOCKADDR on connect and resolves relative paths against cwd", () => {
    const { events } = decode([
      `type=SYSCALL msg=audit(10.000:1): arch=c000003e syscall=42 success=no exit=-111 pid=7 uid=1000 comm="nc" exe="/usr/bin/nc"`,
      `type=SOCKADDR msg=audit(10.000:1): saddr=02001F90C633640A0000000000000000`,
      EOE("10.000", 1),
      `type=SYSCALL msg=audit(10.000:2): arch=c000003e syscall=257 success=yes exit=3 pid=7 uid=1000 comm="vi" exe="/usr/bin/vi"`,
      `type=CWD msg=audit(10.000:2): cwd="/home/a"`,
      `type=PATH msg=audit(10.000:2): item=0 name="/home/a" nametype=PARENT`,
      `type=PATH msg=audit(10.000:2): item=1 name="../b/notes.txt" nametype=CREATE`,
      EOE("10.000", 2),
    ]);
    expect(events[0]).toMatchObject({ destination: { ip: "198.51.100.10", port: 8080 }, network: { type: "ipv4", direction: "egress" }, event: { outcome: "failure", category: ["network"] } });
    expect(events[1]?.file).toMatchObject({ path: "/home/b/notes.txt", type: "create" });
    expect(events[1]?.event).toMatchObject({ action: "openat", category: ["file"], type: ["creation"] });
  });

  it("normalizes user-space login records", () => {
    const { events } = decode([`type=USER_LOGIN msg=audit(10.000:9): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=203.0.113.5 terminal=sshd res=failed'`]);
    expect(events[0]).toMatchObject({
      event: { action: "user_login", category: ["session"], outcome: "failure" },
      user: { name: "root" },
      source: { ip: "203.0.113.5" },
      process: { executable: "/usr/sbin/sshd" },
    });
    expect(events[0]?.user?.audit).toBeUndefined();
  });
});
