import { realpath, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { appendCustody, checkCustody, readCustodyText, type CustodyEntry } from "./custody.js";
import { InputError } from "../events/input.js";
import { isArchive, isBundleId, listBundles, resolveBundle, tarBundle, unpackBundle } from "./bundles.js";
import { readManifest, type Manifest } from "./manifest.js";
import { loadOrCreateSigningKey } from "./signing.js";
import { verifyBundle, type VerifyReport } from "./verify.js";
import { actingUser, runningUser } from "../events/actor.js";

// What people and the API do with stored bundles. Each of show, verify and export leaves a signed
// line in the bundle's chain of custody (who, when, what, the result).

export { listBundles };

/** "user:alice" (and who sudo'ed), for custody lines written on behalf of a person. */
export function currentUser(): string {
  const name = runningUser();
  const who = actingUser();
  return who !== name ? `user:${who} (as ${name})` : `user:${name}`;
}

export interface ShownBundle {
  id: string;
  path: string;
  manifest: Manifest;
  custody: CustodyEntry[];
}

export async function showBundle(stateDir: string, idOrPath: string, who: string): Promise<ShownBundle> {
  const { path } = await resolveBundle(stateDir, idOrPath);
  const { manifest, problems } = readManifest(path);
  if (!manifest) throw new InputError(`${path}: no usable manifest.json (${problems.join("; ")}); hv forensics verify ${idOrPath} tells more`);
  await record(stateDir, path, manifest.id, who, "shown", {});
  const custody = checkCustody(readCustodyText(path), undefined, new Set()).entries;
  return { id: manifest.id, path, manifest, custody };
}

/**
 * Verifies (reading only, inside the bundle) and then records the verification in the bundle's
 * own custody.log — only when its manifest is valid, so the record is about a real bundle and its
 * head file is named by a checked id; otherwise a warning says it was not recorded.
 */
export async function verifyAndRecord(stateDir: string, idOrPath: string, opts: { who: string; publicKeyPem?: string; onBytes?: (n: number) => void }): Promise<VerifyReport> {
  if (await isArchive(idOrPath)) return verifyArchive(stateDir, idOrPath, opts);
  const { path } = await resolveBundle(stateDir, idOrPath);
  const report = await verifyBundle(path, { stateDir, ...(opts.publicKeyPem ? { publicKeyPem: opts.publicKeyPem } : {}), ...(opts.onBytes ? { onBytes: opts.onBytes } : {}) });
  if (report.id === undefined) {
    report.warnings.push("not recorded in custody.log: the bundle has no valid manifest");
    return report;
  }
  try {
    await record(stateDir, path, report.id, opts.who, "verified", { ok: report.ok, problems: report.problems.length, ...(report.keyFingerprint ? { key: report.keyFingerprint } : {}) });
  } catch (err) {
    report.warnings.push(`could not append to custody.log: ${(err as Error).message}`);
  }
  return report;
}

/**
 * Verifies an archive `exportBundle` wrote, as it is: unpacked into a temp directory, checked like
 * a bundle, then removed. When this host exported that bundle, the archive's SHA-256 must be one
 * its chain of custody recorded. Nothing is appended to the copy (it is thrown away); the report's
 * path is the archive.
 */
async function verifyArchive(stateDir: string, archive: string, opts: { publicKeyPem?: string; onBytes?: (n: number) => void }): Promise<VerifyReport> {
  const unpacked = await unpackBundle(archive);
  try {
    const report = await verifyBundle(unpacked.path, { stateDir, ...(opts.publicKeyPem ? { publicKeyPem: opts.publicKeyPem } : {}), ...(opts.onBytes ? { onBytes: opts.onBytes } : {}) });
    report.path = archive;
    const id = report.id;
    const here = id ? await resolveBundle(stateDir, id).catch(() => undefined) : undefined;
    if (here) {
      const exports = checkCustody(readCustodyText(here.path), undefined, new Set()).entries.filter((e) => e.what === "exported").map((e) => String(e.details.sha256 ?? ""));
      const exportedHere = exports.includes(unpacked.sha256);
      report.archive = { sha256: unpacked.sha256, exportedHere };
      if (!exportedHere) report.problems.push({ kind: "changed", file: archive, message: `the archive's SHA-256 ${unpacked.sha256} is not one this host recorded when exporting ${id} (${exports.length} export(s) recorded)` });
      report.ok = report.problems.length === 0;
    } else {
      report.archive = { sha256: unpacked.sha256 };
      report.warnings.push("this host holds no bundle with that id: the archive is checked against its own manifest and chain only");
    }
    return report;
  } finally {
    await rm(unpacked.dir, { recursive: true, force: true });
  }
}

export async function exportBundle(stateDir: string, idOrPath: string, outFile: string, who: string): Promise<{ id: string; file: string; bytes: number; sha256: string }> {
  const { id, path } = await resolveBundle(stateDir, idOrPath);
  const archive = await tarBundle(path, outFile);
  // The entry follows the archive, so it can name the archive's hash: the chain on this host
  // records exactly what left it; the archive holds the chain up to the line before.
  await record(stateDir, path, id, who, "exported", { file: archive.file, bytes: archive.bytes, sha256: archive.sha256 });
  return { id, ...archive };
}

async function record(stateDir: string, path: string, id: string, who: string, what: "shown" | "verified" | "exported", details: Record<string, unknown>): Promise<void> {
  const key = loadOrCreateSigningKey(stateDir);
  // This host's head record follows the registered bundle only, never a copy of it.
  const registered = isBundleId(id) && (await resolveBundle(stateDir, id).then((r) => same(r.path, path), () => false));
  appendCustody(path, { who, what, host: hostname(), details }, key, registered ? { stateDir, id } : undefined);
}

async function same(a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([realpath(a).catch(() => a), realpath(b).catch(() => b)]);
  return ra === rb;
}
