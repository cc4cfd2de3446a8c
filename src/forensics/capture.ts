// STUB (replaced by the forensics work): the signature the forensic_capture action and
// `hv forensics capture` call.

import type Database from "better-sqlite3";
import type { LibvirtBackend } from "../vm/backend.js";

export interface CaptureOptions {
  vm: string;
  backend: LibvirtBackend;
  /** The store: alerts and events about the VM go into the bundle; custody and self-actions are recorded. */
  db: Database.Database;
  /** hv's state directory; bundles go to STATE/forensics/bundles/ID unless `outDir` is given. */
  stateDir: string;
  outDir?: string;
  memory?: boolean;
  disk?: boolean;
  /** Capture the VM's tap traffic for this many seconds (0/absent: none). */
  pcapSeconds?: number;
  /** Pause the guest while capturing (default: it keeps running). */
  pause?: boolean;
  /** Who captures: "user:alice", "playbook:NAME". */
  by: string;
  /** The alert that led here, if any. */
  alertId?: number;
  onProgress?: (p: { step: string; done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface BundleSummary {
  id: string;
  path: string;
  vm: string;
  created: string;
  artifacts: number;
  bytes: number;
  ms: number;
}

export function captureBundle(opts: CaptureOptions): Promise<BundleSummary> {
  return Promise.reject(new Error(`forensic capture of ${opts.vm} is not implemented yet`));
}
