// `hv forensics verify` on hostile input: a directory that is not a bundle (../../../etc), a
// manifest whose id climbs out of the custody directory, a symlinked directory leading out of the
// bundle, control files that are symlinks, and manifests of the wrong shape. Verification reads
// only inside the bundle; the only writes are its own custody.log and STATE/forensics/custody/ID.json
// for a valid bundle — checked by listing every file under the test's root before and after.

import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { verifyAndRecord } from "../../src/forensics/bundle-ops.js";
import { appendCustody } from "../../src/forensics/custody.js";
import { MANIFEST_FORMAT, describeArtifacts, writeSignedManifest, type Manifest } from "../../src/forensics/manifest.js";
import { loadOrCreateSigningKey } from "../../src/forensics/signing.js";
import { runHv } from "../helpers/hv-cli.js";

const ID = "20240501T101500Z-web1-abcdef";
let root = "";
let stateDir = "";
let bundle = "";
let outside = "";

/** Every file and directory under dir (relative), with sizes: what a write anywhere would change. */
function snapshot(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) {
        out[`${rel}/`] = 0;
        walk(p);
      } else out[rel] = e.isSymbolicLink() ? -1 : statSync(p).size;
    }
  };
  walk(dir);
  return out;
}

async function signedBundle(edit: (m: Manifest) => unknown = (m) => m): Promise<void> {
  const key = loadOrCreateSigningKey(stateDir);
  mkdirSync(join(bundle, "memory"), { recursive: true });
  writeFileSync(join(bundle, "memory/memory.elf"), "core");
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, id: ID, vm: { name: "web1", uuid: "u-1" }, by: "user:test", host: "h", created: "2024-05-01T10:15:00.000Z",
    completed: "2024-05-01T10:15:01.000Z", hv: { version: "0", node: process.versions.node }, tools: {}, notes: [],
    options: { memory: true, disk: false, pcapSeconds: 0, pause: false }, key: { fingerprint: key.fingerprint },
    artifacts: await describeArtifacts(bundle, [{ path: "memory/memory.elf", kind: "memory" }]),
  };
  const mh = await writeSignedManifest(bundle, edit(manifest) as Manifest, key);
  appendCustody(bundle, { who: "user:test", what: "captured", manifest: mh, host: "h" }, key);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "hv-verify-hostile-"));
  stateDir = join(root, "state");
  bundle = join(root, "evidence", ID);
  outside = join(root, "outside");
  mkdirSync(bundle, { recursive: true });
  mkdirSync(join(outside, "etc"), { recursive: true });
  writeFileSync(join(outside, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(join(outside, "etc", "hostname"), "victim\n");
  loadOrCreateSigningKey(stateDir);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("hv forensics verify refuses what is not a bundle", () => {
  it("../../../etc (a directory without any bundle file): exit 2, nothing written there or anywhere", async () => {
    // From a directory three levels down, as the reproduction ran it.
    const cwd = join(root, "evidence", ID, "memory");
    mkdirSync(cwd, { recursive: true });
    const before = snapshot(root);
    const r = await runHv(["forensics", "verify", "../../../outside/etc", "--state-dir", stateDir], { stateDir, timeoutMs: 60_000, env: {}, cwd });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is not a forensic bundle: it holds none of manifest\.json/);
    expect(snapshot(root)).toEqual(before);
  }, 120_000);

  it("a symlink to a bundle directory: refused, exit 2", async () => {
    await signedBundle();
    symlinkSync(bundle, join(root, "link"));
    const before = snapshot(root);
    const r = await runHv(["forensics", "verify", join(root, "link"), "--state-dir", stateDir], { stateDir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is a symbolic link/);
    expect(snapshot(root)).toEqual(before);
  }, 120_000);
});

describe("verifyAndRecord on hostile bundles", () => {
  it("a manifest id with ../ is a manifest problem; no custody record is written anywhere", async () => {
    await signedBundle((m) => ({ ...m, id: "../../../../outside/pwned" }));
    const before = snapshot(root);
    const r = await verifyAndRecord(stateDir, bundle, { who: "user:t" });
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "manifest", file: "manifest.json", message: expect.stringMatching(/id: must be a bundle id/) }));
    expect(r.warnings).toContain("not recorded in custody.log: the bundle has no valid manifest");
    expect(snapshot(root)).toEqual(before);
  });

  it("a symlinked directory inside the bundle is never followed out of it (d -> etc, d/passwd listed)", async () => {
    const passwd = readFileSync(join(outside, "etc", "passwd"));
    await signedBundle((m) => ({
      ...m,
      artifacts: [...m.artifacts, { path: "d/passwd", kind: "log", size: passwd.length, sha256: createHash("sha256").update(passwd).digest("hex") }],
    }));
    symlinkSync(join(outside, "etc"), join(bundle, "d"));
    let hashed = 0;
    const r = await verifyAndRecord(stateDir, bundle, { who: "user:t", onBytes: (n) => (hashed += n) });
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: "changed", file: "d/passwd", message: expect.stringMatching(/d is a symbolic link/) }));
    // Only the bundle's own artifact was read: 4 bytes of "core", not the outside passwd.
    expect(hashed).toBe(4);
  });

  it("control files that are symlinks are problems, never read through, never appended through", async () => {
    await signedBundle();
    rmSync(join(bundle, "custody.log"));
    symlinkSync(join(outside, "etc", "hostname"), join(bundle, "custody.log"));
    const r = await verifyAndRecord(stateDir, bundle, { who: "user:t" });
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ file: "custody.log", message: expect.stringMatching(/symbolic link/) }));
    expect(readFileSync(join(outside, "etc", "hostname"), "utf8")).toBe("victim\n");
    expect(r.warnings.join(" ")).toMatch(/could not append to custody\.log: .*symbolic link/);

    rmSync(join(bundle, "manifest.json"));
    symlinkSync(join(outside, "etc", "passwd"), join(bundle, "manifest.json"));
    const m = await verifyAndRecord(stateDir, bundle, { who: "user:t" });
    expect(m.problems).toContainEqual(expect.objectContaining({ file: "manifest.json", message: expect.stringMatching(/symbolic link/) }));
  });

  it.each([
    ['{"artifacts":[null]}', /manifest\.json: artifacts\.0: /],
    ['{"format":"hv-forensic-bundle/1","artifacts":"all"}', /manifest\.json: .*artifacts: /],
    ["[1,2,3]", /manifest\.json: \(top\): /],
    ["not json", /manifest\.json is not JSON/],
  ])("a manifest of the wrong shape (%s) is a clear problem, not a crash", async (text, message) => {
    await signedBundle();
    writeFileSync(join(bundle, "manifest.json"), text);
    const before = snapshot(root);
    const r = await verifyAndRecord(stateDir, bundle, { who: "user:t" });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.message).join("\n")).toMatch(message);
    expect(snapshot(root)).toEqual(before);
  });

  it("the CLI on {\"artifacts\":[null]}: exit 1 (problems found) with the field named, no stack trace", async () => {
    await signedBundle();
    writeFileSync(join(bundle, "manifest.json"), '{"artifacts":[null]}');
    const r = await runHv(["forensics", "verify", bundle, "--state-dir", stateDir], { stateDir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/manifest\s+manifest\.json: artifacts\.0: /);
    expect(r.stderr).not.toMatch(/TypeError|\n\s+at /);
  }, 120_000);

  it("a valid bundle is recorded in its own custody.log and its head goes to STATE/forensics/custody only", async () => {
    await signedBundle();
    const before = snapshot(root);
    const r = await verifyAndRecord(stateDir, bundle, { who: "user:t" });
    expect(r.problems).toEqual([]);
    const after = snapshot(root);
    const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
    // A bundle outside the default directory and not in the index has no head on this host.
    expect(changed).toEqual([relative(root, join(bundle, "custody.log"))]);
  });
});
