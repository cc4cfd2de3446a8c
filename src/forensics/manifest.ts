import { lstat, readdir, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { sha256File, sha256Text } from "./hash.js";
import { z } from "zod";
import { MAX_DOCUMENT_BYTES } from "../events/input.js";
import { isBundleId } from "./bundles.js";
import { badBundlePath, readInside } from "./inside.js";
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

const text = z.string().max(64 * 1024);

/** What a manifest must be before anything of it is used: a bundle may come from anywhere. */
export const manifestSchema = z.looseObject({
  format: z.literal(MANIFEST_FORMAT),
  id: z.string().refine((s) => isBundleId(s), "must be a bundle id (20240501T101500Z-<vm>-<6 hex>)"),
  vm: z.looseObject({ name: text, uuid: text, state: text.optional() }),
  by: text,
  host: text,
  created: text,
  completed: text,
  hv: z.looseObject({ version: text, node: text }),
  tools: z.record(text, text),
  options: z.looseObject({ memory: z.boolean(), disk: z.boolean(), pcapSeconds: z.number().min(0), pause: z.boolean() }),
  alertId: z.int().positive().optional(),
  notes: z.array(text),
  key: z.looseObject({ fingerprint: z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 in hex") }),
  artifacts: z
    .array(
      z.looseObject({
        path: z.string().superRefine((p, ctx) => {
          const bad = badBundlePath(p);
          if (bad) ctx.addIssue({ code: "custom", message: `${bad}: it would leave the bundle` });
        }),
        kind: text,
        size: z.int().min(0),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 in hex"),
        description: text.optional(),
      }),
    )
    .max(100_000),
});

/** The manifest's bytes (undefined when there is none) and either the manifest or why it is unusable (`field: problem`). */
export function readManifest(dir: string): { bytes?: Buffer; manifest?: Manifest; problems: string[] } {
  const bytes = readInside(dir, MANIFEST_FILE, MAX_DOCUMENT_BYTES);
  if (bytes === undefined) return { problems: [`${MANIFEST_FILE} is missing`] };
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    return { bytes, problems: [`${MANIFEST_FILE} is not JSON: ${(err as Error).message}`] };
  }
  const r = manifestSchema.safeParse(doc);
  if (r.success) return { bytes, manifest: r.data as Manifest, problems: [] };
  // Missing fields in one line, then each wrong one: a manifest of the wrong shape says what it lacks.
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const i of r.error.issues) {
    const field = i.path.map(String).join(".") || "(top)";
    if (i.path.length > 0 && valueAt(doc, i.path) === undefined) missing.push(field);
    else wrong.push(`${MANIFEST_FILE}: ${field}: ${i.message}`);
  }
  const problems = [...(missing.length > 0 ? [`${MANIFEST_FILE}: missing ${missing.join(", ")}`] : []), ...wrong.slice(0, 10)];
  return { bytes, problems };
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = doc;
  for (const k of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
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
