// Manifest, signature and chain of custody without libvirt: a small bundle is made with the real
// code (hash, sign, append), then each kind of tampering must make verifyBundle fail and name the
// file (and for custody.log the line).

import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exportBundle, verifyAndRecord } from "../../src/forensics/bundle-ops.js";
import { appendCustody, checkCustody } from "../../src/forensics/custody.js";
import { sha256Text } from "../../src/forensics/hash.js";
import { MANIFEST_FORMAT, describeArtifacts, writeSignedManifest, type Manifest } from "../../src/forensics/manifest.js";
import { fingerprintOf, loadOrCreateSigningKey, signBytes, verifyBytes } from "../../src/forensics/signing.js";
import { verifyBundle } from "../../src/forensics/verify.js";

const ID = "20240501T101500Z-web1-abcdef";
let root = "";
let stateDir = "";
let dir = "";

async function makeBundle(): Promise<void> {
  const key = loadOrCreateSigningKey(stateDir);
  await mkdir(join(dir, "memory"), { recursive: true });
  await mkdir(join(dir, "domain"), { recursive: true });
  await writeFile(join(dir, "memory/memory.elf"), Buffer.concat([Buffer.from("\x7fELF"), Buffer.alloc(4096, 7)]));
  await writeFile(join(dir, "domain/live.xml"), "<domain><name>web1</name></domain>\n");
  await writeFile(join(dir, "alerts.jsonl"), "");
  const files = [
    { path: "memory/memory.elf", kind: "memory" },
    { path: "domain/live.xml", kind: "domain-xml" },
    { path: "alerts.jsonl", kind: "store" },
  ];
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, id: ID, vm: { name: "web1", uuid: "u-1" }, by: "user:test", host: "h", created: "2024-05-01T10:15:00.000Z",
    completed: "2024-05-01T10:15:01.000Z", hv: { version: "0", node: process.versions.node }, tools: {}, notes: [],
    options: { memory: true, disk: false, pcapSeconds: 0, pause: false }, key: { fingerprint: key.fingerprint }, artifacts: await describeArtifacts(dir, files),
  };
  const mh = await writeSignedManifest(dir, manifest, key);
  appendCustody(dir, { who: "user:test", what: "captured", manifest: mh, host: "h" }, key, { stateDir, id: ID });
  appendCustody(dir, { who: "user:ann", what: "verified", host: "h", details: { ok: true } }, key, { stateDir, id: ID });
  appendCustody(dir, { who: "user:bob", what: "shown", host: "h" }, key, { stateDir, id: ID });
}

function flipByte(file: string, at?: number): void {
  const buf = readFileSync(file);
  const i = at ?? Math.floor(buf.length / 2);
  buf[i] = buf[i]! ^ 0x01;
  writeFileSync(file, buf);
}

const custodyLines = (): string[] => readFileSync(join(dir, "custody.log"), "utf8").split("\n").filter(Boolean);
const writeCustody = (lines: string[]): void => writeFileSync(join(dir, "custody.log"), lines.map((l) => l + "\n").join(""));
const verify = (opts: { publicKeyPem?: string } = {}) => verifyBundle(dir, { stateDir, ...opts });

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), "hv-for-unit-"));
  stateDir = join(root, "state");
  dir = join(stateDir, "forensics", "bundles", ID);
  await mkdir(dir, { recursive: true });
  await makeBundle();
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("signing key", () => {
  it("is created once at STATE/forensics/signing.key with mode 0600 and reused", () => {
    const a = loadOrCreateSigningKey(stateDir);
    const b = loadOrCreateSigningKey(stateDir);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(statSync(join(stateDir, "forensics/signing.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(stateDir, "forensics/signing.pub"), "utf8")).toBe(a.publicKeyPem);
    const sig = signBytes(a, "hello");
    expect(verifyBytes(a.publicKeyPem, "hello", sig)).toBe(true);
    expect(verifyBytes(a.publicKeyPem, "hellp", sig)).toBe(false);
    expect(verifyBytes(a.publicKeyPem, "hello", "not base64 at all")).toBe(false);
  });
});

describe("verifyBundle", () => {
  it("passes on the untouched bundle, with this host's key", async () => {
    const r = await verify();
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, id: ID, vm: "web1", artifacts: 3, custodyEntries: 3, hostKey: true });
  });

  it.each(["memory/memory.elf", "domain/live.xml"])("one flipped byte in %s: changed, named", async (file) => {
    flipByte(join(dir, file));
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ kind: "changed", file })]);
  });

  it("a byte appended to an empty artifact: changed (size)", async () => {
    appendFileSync(join(dir, "alerts.jsonl"), "x");
    const r = await verify();
    expect(r.problems).toEqual([expect.objectContaining({ kind: "changed", file: "alerts.jsonl" })]);
    expect(r.problems[0]!.message).toMatch(/1 bytes, manifest says 0/);
  });

  it("a deleted file: missing, named", async () => {
    rmSync(join(dir, "domain/live.xml"));
    const r = await verify();
    expect(r.problems).toEqual([expect.objectContaining({ kind: "missing", file: "domain/live.xml" })]);
  });

  it("an added file, an added empty directory and a symlink: added, each named", async () => {
    writeFileSync(join(dir, "memory/extra.bin"), "x");
    await mkdir(join(dir, "hidden"));
    const { symlinkSync } = await import("node:fs");
    symlinkSync("/etc/hostname", join(dir, "link"));
    const r = await verify();
    expect(r.problems.map((p) => [p.kind, p.file]).sort()).toEqual([["added", "hidden/"], ["added", "link"], ["added", "memory/extra.bin"]]);
  });

  it("an edited manifest (a hash replaced): bad signature, and the first custody line no longer matches", async () => {
    const m = join(dir, "manifest.json");
    writeFileSync(m, readFileSync(m, "utf8").replace(/"sha256": "[0-9a-f]{4}/, '"sha256": "0000'));
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: "signature", file: "manifest.sig" }),
      expect.objectContaining({ kind: "custody", file: "custody.log", line: 1 }),
    ]));
  });

  it("an edited manifest re-signed with another key: verify names the signature with --key of the real host, warns about the key otherwise", async () => {
    const other = loadOrCreateSigningKey(join(root, "elsewhere"));
    const m = join(dir, "manifest.json");
    const bytes = readFileSync(m);
    writeFileSync(join(dir, "manifest.sig"), signBytes(other, bytes) + "\n");
    writeFileSync(join(dir, "signing.pub"), other.publicKeyPem);
    const own = readFileSync(join(stateDir, "forensics/signing.pub"), "utf8");
    const withKey = await verify({ publicKeyPem: own });
    expect(withKey.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "signature", file: "manifest.sig" })]));
    const plain = await verify();
    expect(plain.hostKey).toBe(false);
    expect(plain.warnings.join("\n")).toMatch(/not this host's signing key/);
  });

  it("a deleted signature or public key: missing, named", async () => {
    rmSync(join(dir, "manifest.sig"));
    expect((await verify()).problems).toEqual([expect.objectContaining({ kind: "missing", file: "manifest.sig" })]);
  });

  it("an edited custody line (the middle one): its signature fails and the next link breaks, both named by line", async () => {
    const lines = custodyLines();
    lines[1] = lines[1]!.replace("user:ann", "user:eve");
    writeCustody(lines);
    const r = await verify();
    expect(r.problems.map((p) => [p.file, p.line])).toEqual([["custody.log", 2], ["custody.log", 3]]);
    expect(r.problems[0]!.message).toMatch(/line 2: bad signature/);
    expect(r.problems[1]!.message).toMatch(/line 3: prev does not match line 2/);
  });

  it("an edited LAST custody line: its own signature fails", async () => {
    const lines = custodyLines();
    lines[2] = lines[2]!.replace("user:bob", "user:eve");
    writeCustody(lines);
    const r = await verify();
    expect(r.problems.length).toBeGreaterThan(0);
    expect(r.problems.every((p) => p.kind === "custody" && p.line === 3)).toBe(true);
    expect(r.problems[0]!.message).toMatch(/line 3: bad signature/);
  });

  it("a dropped custody line in the middle: seq and link of the next line", async () => {
    const lines = custodyLines();
    writeCustody([lines[0]!, lines[2]!]);
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.problems.every((p) => p.file === "custody.log")).toBe(true);
    expect(r.problems.filter((p) => p.line === 2).length).toBeGreaterThan(0);
    expect(r.problems.map((p) => p.message).join("\n")).toMatch(/seq is 3, expected 2/);
  });

  it("a dropped LAST custody line: this host's head record catches it; a copy elsewhere has no head to compare", async () => {
    const lines = custodyLines();
    writeCustody(lines.slice(0, 2));
    const r = await verify();
    expect(r.problems).toEqual([expect.objectContaining({ kind: "custody", line: 3 })]);
    expect(r.problems[0]!.message).toMatch(/removed from the end/);
    const copy = join(root, "copy", ID);
    await cp(dir, copy, { recursive: true });
    expect((await verifyBundle(copy, { stateDir })).ok).toBe(true);
  });

  it("a deleted custody log: missing", async () => {
    rmSync(join(dir, "custody.log"));
    const r = await verify();
    expect(r.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "missing", file: "custody.log" })]));
  });
});

describe("verifying an exported archive (hv forensics verify web1.tar.gz)", () => {
  const tar = (...args: string[]): void => void execFileSync("tar", args, { stdio: "pipe" });

  it("reads the archive export wrote: verified as a bundle, and its SHA-256 found in this host's custody", async () => {
    const out = join(root, "web1.tar.gz");
    const e = await exportBundle(stateDir, ID, out, "user:test");
    const r = await verifyAndRecord(stateDir, out, { who: "user:test" });
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, path: out, id: ID, artifacts: 3, archive: { sha256: e.sha256, exportedHere: true } });
    // Nothing is left in the temp directory, and nothing was appended to the registered bundle.
    expect(custodyLines().map((l) => (JSON.parse(l) as { what: string }).what)).toEqual(["captured", "verified", "shown", "exported"]);
  });

  it("a tampered archive: the changed file is named, and its SHA-256 is not one this host exported", async () => {
    const out = join(root, "web1.tar.gz");
    await exportBundle(stateDir, ID, out, "user:test");
    const x = join(root, "x");
    await mkdir(x);
    tar("-xzf", out, "-C", x);
    flipByte(join(x, ID, "memory/memory.elf"));
    const forged = join(root, "forged.tar.gz");
    tar("-czf", forged, "-C", x, ID);
    const r = await verifyAndRecord(stateDir, forged, { who: "user:test" });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "changed", file: "memory/memory.elf" }), expect.objectContaining({ kind: "changed", file: forged })]));
    expect(r.archive?.exportedHere).toBe(false);
  });

  it("an archive from another host (no such bundle here) is checked on its own, with a warning", async () => {
    const out = join(root, "web1.tar.gz");
    await exportBundle(stateDir, ID, out, "user:test");
    const elsewhere = join(root, "other-state");
    const r = await verifyAndRecord(elsewhere, out, { who: "user:test" });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.warnings.join("\n")).toMatch(/holds no bundle with that id/);
  });

  it("refuses, unread, an archive with a symlink, a name outside the bundle, or two top directories", async () => {
    const x = join(root, "evil");
    await mkdir(join(x, ID), { recursive: true });
    await cp(dir, join(x, ID), { recursive: true });
    symlinkSync("/etc/shadow", join(x, ID, "shadow"));
    const withLink = join(root, "link.tar.gz");
    tar("-czf", withLink, "-C", x, ID);
    await expect(verifyAndRecord(stateDir, withLink, { who: "user:test" })).rejects.toThrow(/not a plain file or directory: refused/);
    rmSync(join(x, ID, "shadow"));
    await mkdir(join(x, "second"));
    const two = join(root, "two.tar.gz");
    tar("-czf", two, "-C", x, ID, "second");
    await expect(verifyAndRecord(stateDir, two, { who: "user:test" })).rejects.toThrow(/one bundle directory, it holds/);
    const dotdot = join(root, "dotdot.tar.gz");
    tar("-czf", dotdot, "-C", join(x, ID), "--transform", "s,^,../,", "manifest.json");
    await expect(verifyAndRecord(stateDir, dotdot, { who: "user:test" })).rejects.toThrow(/outside the bundle: refused/);
    const garbage = join(root, "garbage.tar.gz");
    writeFileSync(garbage, "not an archive");
    await expect(verifyAndRecord(stateDir, garbage, { who: "user:test" })).rejects.toThrow(/not a .tar.gz that hv forensics export wrote/);
  });
});

describe("checkCustody", () => {
  it("accepts a chain extended on another host with a warning about the foreign key, not a failure", () => {
    const key = loadOrCreateSigningKey(stateDir);
    const other = loadOrCreateSigningKey(join(root, "other"));
    appendCustody(dir, { who: "user:carol", what: "verified", host: "h2" }, other);
    const text = readFileSync(join(dir, "custody.log"), "utf8");
    const manifestHash = sha256Text(readFileSync(join(dir, "manifest.json")));
    const r = checkCustody(text, manifestHash, new Set([key.fingerprint]));
    expect(r.problems).toEqual([]);
    expect(r.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(r.foreignKeys).toEqual([{ line: 4, fingerprint: other.fingerprint }]);
  });

  it("rejects a line that is not JSON, and a chain whose first entry is not the capture", () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    expect(fingerprintOf(publicKey.export({ type: "spki", format: "pem" }) as string)).toMatch(/^[0-9a-f]{64}$/);
    const lines = custodyLines();
    const r = checkCustody([lines[1], "{not json", lines[2]].join("\n") + "\n", undefined, new Set());
    const byLine = new Map(r.problems.map((p) => [p.line, p.message]));
    expect(byLine.get(1)).toMatch(/first entry must be "captured"|first line must have prev null/);
    expect(byLine.get(2)).toMatch(/not a JSON object/);
  });
});
