// A person ends a VM's quarantine (`hv quarantine release`, the API): the enforcement row goes, the
// quarantine action that made it is marked undone by that person, nftables follows, and the
// release is itself recorded as a release_vm action. One function, so the CLI and the API do
// exactly the same thing.

import type Database from "better-sqlite3";
import { getAction, insertAction, markUndone, type ActionRecord } from "../store/actions.js";
import { releaseEnforcement, type Enforcement } from "../store/enforcements.js";
import type { ActionEnv } from "./action.js";
import { MANUAL } from "./engine.js";

export interface ManualRelease {
  /** The release_vm row. */
  row: ActionRecord;
  /** The quarantine as released. */
  enforcement: Enforcement;
  /** False when nftables could not be synced now (the release stands; the agent applies it at its next reconcile). */
  synced: boolean;
}

/** Undefined when the VM is not quarantined. */
export async function releaseQuarantineByHand(db: Database.Database, env: Pick<ActionEnv, "syncFirewall">, vm: string, by: string, reason = "released by hand"): Promise<ManualRelease | undefined> {
  const now = Date.now();
  const released = releaseEnforcement(db, "quarantine", vm, `user:${by}`, reason, now);
  if (!released) return undefined;
  if (released.actionId !== null) markUndone(db, released.actionId, `user:${by}`, now);
  let synced = true;
  let result = `released ${vm} from quarantine`;
  try {
    await env.syncFirewall();
  } catch (err) {
    synced = false;
    result += `; the firewall sync failed (${err instanceof Error ? err.message : String(err)}): the running agent applies it at its next reconcile`;
  }
  const id = insertAction(db, {
    playbook: MANUAL,
    action: "release_vm",
    mode: MANUAL,
    status: synced ? "done" : "failed",
    approvedBy: by,
    target: `vm:${vm}`,
    params: {},
    created: now,
    started: now,
    finished: Date.now(),
    result,
    detail: { enforcement: released.id, reason, ...(released.actionId !== null ? { quarantineAction: released.actionId } : {}) },
  });
  return { row: getAction(db, id)!, enforcement: released, synced };
}
