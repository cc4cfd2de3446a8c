import { beginSelfAction, endSelfAction } from "../store/self-actions.js";
import { defaultStateDir, openStateStore } from "../store/open.js";
import { writeSafe } from "../events/terminal.js";

// A pause, snapshot, save or dump makes libvirt report lifecycle events the agent would otherwise
// take for someone else's doing. Recording the window in the store (the CLI and the agent are
// separate processes) lets the pipeline recognise them. The VM operation matters more than the
// record, so a store that cannot be opened is a warning, never a failure.

export interface SelfActionOptions {
  stateDir?: string;
  vmUuid?: string;
  warn?: (message: string) => void;
}

export async function withSelfAction<T>(vmName: string, action: string, fn: () => Promise<T>, opts: SelfActionOptions = {}): Promise<T> {
  const warn = opts.warn ?? ((m: string) => writeSafe(process.stderr, `hv: warning: ${m}\n`));
  let db: ReturnType<typeof openStateStore> | undefined;
  let id: number | undefined;
  try {
    db = openStateStore(opts.stateDir ?? defaultStateDir());
    id = beginSelfAction(db, { vmName, action, startedMs: Date.now(), ...(opts.vmUuid ? { vmUuid: opts.vmUuid } : {}) });
  } catch (err) {
    warn(`could not record hv's own ${action} of ${vmName} in the store (${(err as Error).message}); the agent may alert on it`);
    db?.close();
    db = undefined;
  }
  try {
    return await fn();
  } finally {
    if (db && id !== undefined) {
      try {
        endSelfAction(db, id);
      } catch (err) {
        warn(`could not close the self-action record ${id}: ${(err as Error).message}`);
      }
      db.close();
    }
  }
}
