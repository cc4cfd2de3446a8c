import { realpath } from "node:fs/promises";
import { CUSTODY_FILE, checkCustody, checkHead, readCustodyText, readHead } from "./custody.js";
import { sha256Text } from "./hash.js";
import { readInside, sha256Inside } from "./inside.js";
import { CONTROL_FILES, MANIFEST_FILE, PUBLIC_KEY_FILE, SIGNATURE_FILE, listBundleFiles, readManifest, type Manifest } from "./manifest.js";
import { fingerprintOf, hostPublicKey, verifyBytes } from "./signing.js";

// Checks a bundle against its signed manifest and its custody chain. Every finding names the file
// (and for custody.log the line), so a report says exactly what was touched.

export type ProblemKind = "changed" | "missing" | "added" | "signature" | "manifest" | "custody";

export interface VerifyProblem {
  kind: ProblemKind;
  file: string;
  line?: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  path: string;
  id?: string;
  vm?: string;
  artifacts: number;
  custodyEntries: number;
  /** Fingerprint of the key the manifest was checked with. */
  keyFingerprint?: string;
  /** Whether that key is this host's signing key (undefined: this host has none). */
  hostKey?: boolean;
  problems: VerifyProblem[];
  warnings: string[];
  /** When an exported archive was verified: its SHA-256, and whether this host's custody records exporting it (undefined: this host has no such bundle). */
  archive?: { sha256: string; exportedHere?: boolean };
}

/** signing.pub and manifest.sig are a few hundred bytes. */
const KEY_FILE_BYTES = 64 * 1024;

export interface VerifyOptions {
  /** hv's state directory: this host's key and custody heads. */
  stateDir: string;
  /** Check against this public key (PEM) instead of the one in the bundle. */
  publicKeyPem?: string;
  onBytes?: (n: number) => void;
}

/**
 * Checks the bundle at `dir`. It only reads, and only inside the bundle: no path of the manifest
 * and no symlink in the bundle leads it anywhere else (src/forensics/inside.ts).
 */
export async function verifyBundle(dir: string, opts: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = { ok: false, path: dir, artifacts: 0, custodyEntries: 0, problems: [], warnings: [] };
  const problem = (kind: ProblemKind, file: string, message: string, line?: number): void => {
    report.problems.push({ kind, file, message, ...(line !== undefined ? { line } : {}) });
  };
  // A control file that is a symlink (or not a file) is a problem of the bundle, named, never followed.
  const control = (rel: string, cap: number): Buffer | undefined => {
    try {
      return readInside(dir, rel, cap);
    } catch (err) {
      problem("changed", rel, `${rel}: ${(err as Error).message}`);
      return undefined;
    }
  };

  let bytes: Buffer | undefined;
  let manifest: Manifest | undefined;
  try {
    const read = readManifest(dir);
    bytes = read.bytes;
    manifest = read.manifest;
    for (const p of read.problems) problem(bytes ? "manifest" : "missing", MANIFEST_FILE, p);
  } catch (err) {
    problem("changed", MANIFEST_FILE, `${MANIFEST_FILE}: ${(err as Error).message}`);
  }
  if (manifest) {
    report.id = manifest.id;
    report.vm = manifest.vm.name;
    report.artifacts = manifest.artifacts.length;
  }

  // The signature: with --key, that key; else the key the bundle carries (checked against this host's).
  const bundleKey = control(PUBLIC_KEY_FILE, KEY_FILE_BYTES)?.toString("utf8");
  const host = hostPublicKey(opts.stateDir);
  const key = opts.publicKeyPem ?? bundleKey;
  const trusted = new Set<string>();
  for (const pem of [opts.publicKeyPem, bundleKey, host]) {
    try {
      if (pem) trusted.add(fingerprintOf(pem));
    } catch {
      // an unparsable key is reported below
    }
  }
  const sig = control(SIGNATURE_FILE, KEY_FILE_BYTES)?.toString("utf8");
  if (!key) problem("missing", PUBLIC_KEY_FILE, `${PUBLIC_KEY_FILE} is missing and no --key was given`);
  else if (sig === undefined) problem("missing", SIGNATURE_FILE, `${SIGNATURE_FILE} is missing`);
  else if (bytes) {
    let fp: string | undefined;
    try {
      fp = fingerprintOf(key);
    } catch {
      problem("signature", opts.publicKeyPem ? "--key" : PUBLIC_KEY_FILE, "the public key cannot be parsed");
    }
    if (fp) {
      report.keyFingerprint = fp;
      if (!verifyBytes(key, bytes, sig)) problem("signature", SIGNATURE_FILE, `bad signature: ${MANIFEST_FILE} was changed or signed with another key`);
      if (host) report.hostKey = fingerprintOf(host) === fp;
      if (report.hostKey === false) report.warnings.push(`the bundle's key (${fp.slice(0, 16)}…) is not this host's signing key: it was made elsewhere or re-signed; check it with --key`);
      if (host === undefined) report.warnings.push("this host has no signing key to compare with");
      if (opts.publicKeyPem && bundleKey && safeFingerprint(bundleKey) !== fp) report.warnings.push(`${PUBLIC_KEY_FILE} in the bundle differs from --key`);
      if (manifest?.key?.fingerprint && manifest.key.fingerprint !== fp) problem("manifest", MANIFEST_FILE, "the key fingerprint recorded in the manifest differs from the signing key");
    }
  }

  // Artifacts: each listed file must be a regular file with its size and hash; nothing else may exist.
  const listed = new Set<string>();
  for (const a of manifest?.artifacts ?? []) {
    listed.add(a.path);
    let got: { sha256: string; size: number } | undefined;
    try {
      got = await sha256Inside(dir, a.path, opts.onBytes);
    } catch (err) {
      problem("changed", a.path, `${a.path} is no longer a regular file inside the bundle: ${(err as Error).message}`);
      continue;
    }
    if (!got) {
      problem("missing", a.path, `${a.path} is missing`);
      continue;
    }
    if (got.size !== a.size) problem("changed", a.path, `${a.path} changed: ${got.size} bytes, manifest says ${a.size}`);
    else if (got.sha256 !== a.sha256) problem("changed", a.path, `${a.path} changed: SHA-256 ${got.sha256} differs from the manifest`);
  }
  if (manifest) {
    for (const f of await listBundleFiles(dir)) {
      if (listed.has(f) || CONTROL_FILES.includes(f)) continue;
      // An empty directory that held a listed file is what a deletion leaves: reported as missing already.
      if (f.endsWith("/") && [...listed].some((p) => p.startsWith(f))) continue;
      problem("added", f, `${f} is not in the manifest (added after capture)`);
    }
  }

  // Custody chain.
  let text: string | undefined;
  try {
    text = readCustodyText(dir);
  } catch (err) {
    problem("changed", CUSTODY_FILE, `${CUSTODY_FILE}: ${(err as Error).message}`);
  }
  const custody = checkCustody(text, bytes ? sha256Text(bytes) : undefined, trusted);
  report.custodyEntries = custody.entries.length;
  for (const p of custody.problems) problem(text === undefined ? "missing" : "custody", CUSTODY_FILE, p.message, p.line || undefined);
  for (const f of custody.foreignKeys) report.warnings.push(`${CUSTODY_FILE} line ${f.line} is signed by a key that is neither the bundle's nor this host's (${f.fingerprint.slice(0, 16)}…)`);
  if (manifest?.id) {
    const head = readHead(opts.stateDir, manifest.id);
    if (head && (await sameDir(head.path, dir))) {
      const p = checkHead(text, head);
      if (p) problem("custody", CUSTODY_FILE, p.message, p.line);
    }
  }

  report.ok = report.problems.length === 0;
  return report;
}

function safeFingerprint(pem: string): string | undefined {
  try {
    return fingerprintOf(pem);
  } catch {
    return undefined;
  }
}

async function sameDir(a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([realpath(a).catch(() => a), realpath(b).catch(() => b)]);
  return ra === rb;
}
