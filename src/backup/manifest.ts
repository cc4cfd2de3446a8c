import { z } from "zod";
import { BackupError, restic } from "./restic.js";
import type { ResticRepo } from "./settings.js";

// What one backup holds, written as /hv-backup.json at the root of its restic snapshot next to the
// files it names: disks/TARGET.qcow2 (each disk, flattened), domain/inactive.xml (the definition
// to define again), domain/live.xml (as it ran), nvram/FILE (UEFI variables, when the VM has them).

export const MANIFEST_FILE = "hv-backup.json";
export const MANIFEST_FORMAT = "hv-backup/1";

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  vm: z.object({ name: z.string(), uuid: z.string() }),
  created: z.string(),
  host: z.string(),
  hv: z.string(),
  consistency: z.enum(["application", "crash", "offline"]),
  state: z.string(),
  disks: z.array(
    z.object({
      target: z.string(),
      /** Path inside the snapshot. */
      file: z.string(),
      /** The guest's image it was taken from, and that image's format. */
      source: z.string(),
      format: z.string(),
      bytes: z.number(),
    }),
  ),
  nvram: z.object({ file: z.string(), source: z.string(), bytes: z.number() }).optional(),
  domainXml: z.string(),
  liveXml: z.string().optional(),
  notes: z.array(z.string()),
  by: z.string(),
});

export type BackupManifest = z.infer<typeof manifestSchema>;

/** Reads and checks the manifest of a snapshot. */
export async function readManifest(repo: ResticRepo, snapshotId: string): Promise<BackupManifest> {
  const r = await restic(repo, ["dump", snapshotId, `/${MANIFEST_FILE}`]);
  let raw: unknown;
  try {
    raw = JSON.parse(r.stdout);
  } catch (err) {
    throw new BackupError("failed", `snapshot ${snapshotId.slice(0, 8)}: ${MANIFEST_FILE} is not JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new BackupError("failed", `snapshot ${snapshotId.slice(0, 8)}: ${MANIFEST_FILE}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}
