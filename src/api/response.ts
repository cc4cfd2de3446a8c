// What the API changes in the world goes through these operations, never straight to nftables or
// libvirt: approving hands an action to the playbook engine, releasing a quarantine goes the way
// `hv quarantine release` goes, forensics goes through src/forensics. The agent (or `hv api serve`)
// binds them; the defaults below do what the store alone does correctly — the engine's own store
// transitions (approve: pending → approved, which the agent's engine then runs; deny), releasing the
// enforcement row the firewall is built from —, and src/forensics' own bundle functions.
// The agent binds runApproved/syncFirewall so approvals run and releases apply at once.

import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { syncFeed, type SyncResult } from "../feeds/sync.js";
import { exportBundle, listBundles, showBundle, verifyAndRecord, type ShownBundle } from "../forensics/bundle-ops.js";
import type { BundleListing } from "../forensics/bundles.js";
import type { VerifyReport } from "../forensics/verify.js";
import { approveAction, denyAction, getAction, type ActionRecord } from "../store/actions.js";
import type { Responder } from "../playbooks/engine.js";
import { releaseQuarantineByHand } from "../playbooks/release.js";
import type { Enforcement } from "../store/enforcements.js";
import { ApiError, conflict, notFound } from "./errors.js";

/** What a person may do to a VM from the API; each is a recorded action of the response engine. */
export const VM_ACTIONS = ["pause_vm", "resume_vm", "forensic_capture"] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

export interface ExportedBundle {
  id: string;
  /** A temporary .tar.gz; call remove() once it has been sent. */
  file: string;
  bytes: number;
  sha256: string;
  remove(): Promise<void>;
}

/**
 * Failures with a meaning for the client throw ApiError (errors.ts): 404 for an unknown id,
 * 409 for an action that is not waiting for approval, 501 when this process cannot do it.
 */
export interface ResponseOps {
  /** Approves an action waiting for approval; the engine runs it (at once when bound to one). Returns the row. */
  approveAction(id: number, by: string): Promise<ActionRecord>;
  /** Denies an action waiting for approval; it never runs. Returns the updated row. */
  denyAction(id: number, by: string, reason: string): Promise<ActionRecord>;
  /** Ends a VM's quarantine and restores its traffic; undefined when it was not quarantined. */
  releaseQuarantine(vm: string, by: string, reason: string): Promise<Enforcement | undefined>;
  syncFeed(name: string): Promise<SyncResult>;
  listBundles(): Promise<BundleListing[]>;
  /** The bundle's manifest and chain of custody (showing it is recorded there); undefined when there is no such bundle. */
  showBundle(id: string, by: string): Promise<ShownBundle | undefined>;
  /** Checks every file and the signature (and records the check); 404 when there is no such bundle. */
  verifyBundle(id: string, by: string): Promise<VerifyReport>;
  /** Packs a bundle into a temporary archive to send (recorded as exported in its chain); 404 when there is no such bundle. */
  exportBundle(id: string, by: string): Promise<ExportedBundle>;
  /**
   * A person's action on a VM, through the response engine (allowlists apply; recorded as a manual
   * action): the finished row, or with `background` the running row at once. 501 without an engine.
   */
  actOnVm(action: VmAction, vm: string, by: string, opts?: { params?: Record<string, unknown>; background?: boolean }): Promise<ActionRecord>;
}

export interface DefaultResponseOptions {
  db: Database.Database;
  stateDir: string;
  /** Runs an approved action now (the agent's engine); without it the agent runs it at its next pass. */
  runApproved?: (id: number) => Promise<ActionRecord>;
  /** Makes nftables match the store now (the agent's firewall sync); without it the agent applies a release at its next sync. */
  syncFirewall?: () => Promise<void>;
  /** Passed to every feed sync (global allowlist, CA). */
  feedAllowlist?: string[];
  /** Runs a person's VM actions (the agent's engine, or one `hv api serve` builds like the CLI does). */
  responder?: Responder;
}

export function defaultResponseOps(opts: DefaultResponseOptions): ResponseOps {
  const decided = (id: number, changed: boolean, verb: string): ActionRecord => {
    const row = getAction(opts.db, id);
    if (!row) throw notFound(`action ${id}`);
    if (!changed) throw conflict(`action ${id} is ${row.status}; only a pending action can be ${verb}${verb === "denied" ? " (or a scheduled one)" : ""}`);
    return row;
  };
  // Only ids of bundles hv lists are accepted: src/forensics also resolves paths, which an API
  // caller must never be able to name.
  const known = async (id: string): Promise<boolean> => (await listBundles(opts.stateDir)).some((b) => b.id === id && b.exists);
  return {
    async approveAction(id, by) {
      const row = decided(id, approveAction(opts.db, id, by), "approved");
      return opts.runApproved ? opts.runApproved(id) : row;
    },
    async denyAction(id, by, reason) {
      return decided(id, denyAction(opts.db, id, by, reason || undefined), "denied");
    },
    async releaseQuarantine(vm, by, reason) {
      // The same path as `hv quarantine release`: without a firewall here, the release stands and
      // the agent applies it at its next reconcile.
      const sync = opts.syncFirewall ?? (() => Promise.reject(new Error("this process does not manage the firewall")));
      return (await releaseQuarantineByHand(opts.db, { syncFirewall: sync }, vm, by, reason || undefined))?.enforcement;
    },
    syncFeed: (name) => syncFeed(opts.db, name, { allowlist: opts.feedAllowlist }),
    listBundles: () => listBundles(opts.stateDir),
    showBundle: async (id, by) => ((await known(id)) ? showBundle(opts.stateDir, id, by) : undefined),
    verifyBundle: async (id, by) => {
      if (!(await known(id))) throw notFound(`forensic bundle ${id}`);
      return verifyAndRecord(opts.stateDir, id, { who: by });
    },
    exportBundle: async (id, by) => {
      if (!(await known(id))) throw notFound(`forensic bundle ${id}`);
      // Beside the bundles (same filesystem, which has room for them), not in a small /tmp.
      const dir = await mkdtemp(join(opts.stateDir, "forensics", ".export-"));
      try {
        const archive = await exportBundle(opts.stateDir, id, join(dir, `${id}.tar.gz`), by);
        return { ...archive, remove: () => rm(dir, { recursive: true, force: true }) };
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    },
    actOnVm: async (action, vm, by, o = {}) => {
      if (!opts.responder) throw new ApiError(501, "not_implemented", `this process has no response engine to run ${action} (the agent with api.enabled, or hv api serve, has one)`);
      return opts.responder.act({ action, target: { kind: "vm", name: vm }, by, ...(o.params ? { params: o.params } : {}) }, { background: o.background === true });
    },
  };
}
