import { lstat, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { sha256File, sha256Text } from "./hash.js";
import { signBytes, type SigningKey } from "./signing.js";

// manifest.json lists every artifact of a bundle (relative path, size, SHA-256) and is signed
// as the exact bytes on disk (manifest.sig, base64 ed25519), so no canonical form is needed.
// The public key is copied in (signing.pub) so a copy verifies on any host.

export const MANIFEST_FORMAT = "hv-forensic-bundle/1";
export const MANIFEST_FILE = "manifest.json";
export const SIGNATURE_FILE = "manifest.sig";
export const PUBLIC_KEY_FILE = "signing.pub";
/** Files of the bundle that are not artifacts (custody.log grows after signing). */
export const CONTROL_FILES: readonly string[] = [MANIFEST_FILE, SIGNATURE_FILE, PUBLIC_KEY_FILE, "custody.log"];

export interface ManifestArtifact {
  /** Relative to the bundle, with / separators. */
  path: string;
  /** memory, disk, domain-xml, log, store, host, pcap */
  kind: string;
  size: number;
  sha256: string;
  description?: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  id: string;
  vm: { name: string; uuid: string; state?: string };
  by: string;
  host: string;
  /** Capture start and end, ISO. */
  created: string;
  completed: string;
  hv: { version: string; node: string };
  tools: Record<string, string>;
  options: { memory: boolean; disk: boolean; pcapSeconds: number; pause: boolean };
  alertId?: number;
  /** What could not be captured and why, what was skipped. */
  notes: string[];
  key: { fingerprint: string };
  artifacts: ManifestArtifact[];
}

/** Hashes the artifacts; `onBytes` reports progress. */
export async function describeArtifacts(
  dir: string,
  items: Array<{ path: string; kind: string; description?: string }>,
  onBytes?: (n: number) => void,
): Promise<ManifestArtifact[]> {
  const out: ManifestArtifact[] = [];
  for (const item of items) {
    const { sha256, size } = await sha256File(join(dir, item.path), onBytes);
    out.push({ path: item.path, kind: item.kind, size, sha256, ...(item.description ? { description: item.description } : {}) });
  }
  return out;
}

/** Writes manifest.json, manifest.sig and signing.pub; returns the manifest's SHA-256. */
export async function writeSignedManifest(dir: string, manifest: Manifest, key: SigningKey): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
  await writeFile(join(dir, MANIFEST_FILE), bytes, { mode: 0o600 });
  await writeFile(join(dir, SIGNATURE_FILE), signBytes(key, bytes) + "\n", { mode: 0o600 });
  await writeFile(join(dir, PUBLIC_KEY_FILE), key.publicKeyPem, { mode: 0o644 });
  return sha256Text(bytes);
}

export async function readManifest(dir: string): Promise<{ bytes: Buffer; manifest: Manifest }> {
  const bytes = await readFile(join(dir, MANIFEST_FILE));
  return { bytes, manifest: JSON.parse(bytes.toString("utf8")) as Manifest };
}

/**
 * Every file under dir (relative, / separated), not following symlinks; a symlink or an empty
 * directory counts as an entry too, so nothing can hide in a bundle.
 */
export async function listBundleFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    if (entries.length === 0 && d !== dir) out.push(toRel(dir, d) + "/");
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory() && !(await lstat(full)).isSymbolicLink()) await walk(full);
      else out.push(toRel(dir, full));
    }
  };
  await walk(dir);
  return out.sort();
}

function toRel(root: string, p: string): string {
  return relative(root, p).split(sep).join("/");
}
