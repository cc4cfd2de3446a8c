import { describe, expect, it } from "vitest";
import { parseRecord, type ParsedRecord } from "../../src/collectors/audit/parse.js";
import { archName, syscallName } from "../../src/collectors/audit/syscalls.js";
import { decodeSockaddr } from "../../src/collectors/audit/sockaddr.js";

function ok(line: string): ParsedRecord {
  const r = parseRecord(line);
  if (!r.ok) throw new Error(`expected ${line} to parse: ${r.reason}`);
  return r.record;
}

function hex(s: string): string {
  return Buffer.from(s, "utf8").toString("hex").toUpperCase();
}

describe("parseRecord", () => {
  it("reads the header: node, type, time and serial", () => {
    const r = ok('node=hv1 type=SYSCALL msg=audit(1700000000.123:4567): arch=c000003e syscall=59 success=yes exit=0 comm="ls" exe="/usr/bin/ls" key=(null)');
    expect(r.node).toBe("hv1");
    expect(r.type).toBe("SYSCALL");
    expect(r.typeNum).toBe(1300);
    expect(r.time).toBe("1700000000.123");
    expect(r.timeMs).toBe(1700000000123);
    expect(r.serial).toBe(4567);
    expect(r.fields).toMatchObject({ arch: "c000003e", syscall: "59", success: "yes", comm: "ls", exe: "/usr/bin/ls", key: null });
  });

  it("decodes hex only in fields the kernel encodes", () => {
    const r = ok(`type=SYSCALL msg=audit(1.002:3): arch=c000003e syscall=2 a0=7ffd1234 a1=41 exe=${hex("/tmp/my prog")} comm=${hex("my prog")} key=6869`);
    expect(r.fields.exe).toBe("/tmp/my prog");
    expect(r.fields.comm).toBe("my prog");
    expect(r.fields.a0).toBe("7ffd1234");
    expect(r.fields.a1).toBe("41");
    expect(r.fields.key).toBe("hi");
  });

  it("turns proctitle's NUL separators into spaces", () => {
    const r = ok(`type=PROCTITLE msg=audit(1.002:3): proctitle=${Buffer.from("bash\0-c\0id\0").toString("hex")}`);
    expect(r.fields.proctitle).toBe("bash -c id");
  });

  it("parses msg='…' of user-space records into fields", () => {
    const r = ok(`type=USER_LOGIN msg=audit(1.000:9): pid=1 uid=0 auid=1000 ses=2 msg='op=login acct="alice" exe="/usr/sbin/sshd" hostname=? addr=192.0.2.7 terminal=sshd res=failed'`);
    expect(r.typeNum).toBe(1112);
    expect(r.fields).toMatchObject({ pid: "1", op: "login", acct: "alice", exe: "/usr/sbin/sshd", addr: "192.0.2.7", res: "failed" });
  });

  it("splits off ENRICHED fields after 0x1d", () => {
    const r = ok('type=SYSCALL msg=audit(1.000:9): arch=c000003e syscall=59 uid=0\u001dARCH=x86_64 SYSCALL=execve UID="root"');
    expect(r.fields.uid).toBe("0");
    expect(r.enriched).toEqual({ ARCH: "x86_64", SYSCALL: "execve", UID: "root" });
  });

  it("maps UNKNOWN[n] to a known name and keeps the number", () => {
    expect(ok("type=UNKNOWN[1334] msg=audit(1.000:9): prog-id=7 op=LOAD")).toMatchObject({ type: "BPF", typeNum: 1334 });
    expect(ok("type=UNKNOWN[2999] msg=audit(1.000:9): x=1")).toMatchObject({ type: "UNKNOWN[2999]", typeNum: 2999 });
  });

  it("reads AVC's bare words", () => {
    const r = ok('type=AVC msg=audit(1.000:9): avc:  denied  { read write } for  pid=5 comm="qemu-kvm" name="disk.img" tclass=file permissive=0');
    expect(r.fields).toMatchObject({ seresult: "denied", seperms: "read,write", pid: "5", comm: "qemu-kvm", tclass: "file" });
  });

  it("keeps EXECVE chunks raw and decodes whole hex arguments", () => {
    const r = ok(`type=EXECVE msg=audit(1.000:9): argc=3 a0="sh" a1=${hex("a b")} a2_len=4 a2[0]=6162 a2[1]="cd"`);
    expect(r.fields.a1).toBe("a b");
    expect(r.fields["a2[0]"]).toBe("6162");
    expect(r.fields["a2[1]"]).toBe('"cd"');
  });

  it.each([
    ["", "no type="],
    ["hello world", "no type="],
    ["type=SYSCALL msg=audit(abc:1): x=1", "bad timestamp"],
    ["type=SYSCALL msg=audit(1.000:99999999999): x=1", "bad timestamp"],
    ["type=SYSCALL msg=audit(1.000:1", "not closed"],
    ["type=SYSCALL x=1", "no msg=audit("],
    ["type=SYSCALL msg=audit(1.000:1): a=\u0000", "NUL byte"],
    [`type=SYSCALL msg=audit(1.000:1): a=${"x".repeat(70_000)}`, "too long (70035 bytes"],
    ["type=<script> msg=audit(1.000:1): x=1", 'bad record type "<script>"'],
    ["type=syscall msg=audit(1.000:1): x=1", "bad record type"],
    ["type=UNKNOWN[x] msg=audit(1.000:1): x=1", "bad record type"],
    ["type=SYS\u001bCALL msg=audit(1.000:1): x=1", "bad record type"],
  ])("rejects %j with a reason", (line, reason) => {
    const r = parseRecord(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it("reports the real length of a line its source already cut", () => {
    // The line source keeps the first 1 MiB of a 5 MiB line and says how much it dropped.
    const kept = `type=SYSCALL msg=audit(1.000:1): a=${"x".repeat(1024 * 1024 - 35)}`;
    const r = parseRecord(kept, 4 * 1024 * 1024);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(`line too long (${5 * 1024 * 1024} bytes, limit 65536)`);
  });

  it("warns about invalid hex and unterminated quotes but keeps the record", () => {
    const r = ok('type=EXECVE msg=audit(1.000:9): argc=2 a0=ZZ a1="unterminated');
    expect(r.warnings?.join(" ")).toMatch(/a0: unquoted value is not valid hex/);
    expect(r.warnings?.join(" ")).toMatch(/a1: unterminated quote/);
    expect(r.fields.a1).toBe("unterminated");
  });
});

describe("syscalls and arches", () => {
  it("resolves numbers per arch", () => {
    expect(syscallName("c000003e", "59")).toBe("execve");
    expect(syscallName("c00000b7", "221")).toBe("execve");
    expect(syscallName("40000003", "11")).toBe("execve");
    expect(syscallName("C000003E", "42")).toBe("connect");
    expect(syscallName("80000015", "11")).toBeUndefined();
    expect(archName("c00000b7")).toBe("aarch64");
  });
});

describe("decodeSockaddr", () => {
  it("decodes IPv4, IPv6, unix and big-endian families", () => {
    expect(decodeSockaddr("0200005044C05A0E0000000000000000")).toEqual({ family: "ipv4", port: 80, ip: "68.192.90.14" });
    expect(decodeSockaddr("0002005044C05A0E0000000000000000")).toEqual({ family: "ipv4", port: 80, ip: "68.192.90.14" });
    expect(decodeSockaddr("0A0001BB00000000" + "20010DB8000000000000000000000001" + "00000000")).toEqual({ family: "ipv6", port: 443, ip: "2001:db8::1" });
    expect(decodeSockaddr("01002F72756E2F6E7363642F736F636B657400")).toEqual({ family: "unix", path: "/run/nscd/socket" });
    expect(decodeSockaddr("0100006876")).toEqual({ family: "unix", path: "@hv" });
    expect(decodeSockaddr("zz")).toBeUndefined();
  });
});
