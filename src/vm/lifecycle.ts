import type { DomainState, LibvirtBackend } from "./backend.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { removeDomainStorage, removeLocalFiles, serialLogsOf, storageOf, type StorageRemoval } from "./storage.js";

// Operations made of several libvirt calls: a graceful stop that may end in a destroy, and a
// delete that stops, undefines and then removes storage — in that order, so a failure leaves
// the domain defined rather than defined without its disks.

export type StopResult = "already-off" | "shutdown" | "destroyed";

export async function stopDomain(
  backend: LibvirtBackend,
  name: string,
  opts: { timeoutSeconds?: number; force?: boolean; pollMs?: number } = {},
): Promise<StopResult> {
  if ((await backend.domainState(name)) === "shut off") return "already-off";
  const timeoutMs = (opts.timeoutSeconds ?? 60) * 1000;
  const state = await backend.domainState(name);
  // A paused guest cannot act on the ACPI button; only destroy stops it.
  if (state !== "paused") {
    try {
      await backend.shutdown(name);
    } catch (err) {
      if (!(err instanceof LibvirtError) || err.code !== "operation-invalid") throw err;
    }
    if (await waitForState(backend, name, "shut off", timeoutMs, opts.pollMs ?? 250)) return "shutdown";
  }
  if (!opts.force) {
    throw new LibvirtError("timeout", `${name} is still ${await backend.domainState(name)} after ${opts.timeoutSeconds ?? 60} s (guests without ACPI support ignore shutdown); use --force to power it off`);
  }
  await destroyIfRunning(backend, name);
  return "destroyed";
}

/** Polls until the domain reaches `want`; false on timeout. */
export async function waitForState(backend: LibvirtBackend, name: string, want: DomainState, timeoutMs: number, pollMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await backend.domainState(name)) === want) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function destroyIfRunning(backend: LibvirtBackend, name: string): Promise<void> {
  try {
    await backend.destroy(name);
  } catch (err) {
    // It may have stopped on its own between the check and the call.
    if (!(err instanceof LibvirtError) || err.code !== "operation-invalid" || (await backend.domainState(name)) !== "shut off") throw err;
  }
}

export interface DeleteResult {
  name: string;
  destroyed: boolean;
  storage: StorageRemoval[];
}

/**
 * Undefines a domain. A running one is refused unless `force` (then it is destroyed first). With
 * removeStorage, its own disks, hv's seed ISO and its serial log files go too (see storage.ts).
 */
export async function deleteDomain(backend: LibvirtBackend, name: string, opts: { removeStorage?: boolean; force?: boolean } = {}): Promise<DeleteResult> {
  const state = await backend.domainState(name);
  if (state !== "shut off" && !opts.force) throw new LibvirtError("operation-invalid", `${name} is ${state}: stop it first, or delete with force to power it off; nothing was done`);
  // Storage is read before anything changes, from the definition that will be gone afterwards.
  const inactive = opts.removeStorage ? await backend.dumpXml(name, { inactive: true }) : "";
  const storage = opts.removeStorage ? storageOf(inactive, name) : [];
  const logs = opts.removeStorage ? serialLogsOf(inactive) : [];
  let destroyed = false;
  if (state !== "shut off") {
    await destroyIfRunning(backend, name);
    destroyed = true;
  }
  await backend.undefine(name);
  if (!opts.removeStorage) return { name, destroyed, storage: [] };
  return { name, destroyed, storage: [...(await removeDomainStorage(backend, storage)), ...(await removeLocalFiles(backend, logs))] };
}
