// The ActionEnv of a process that acts: the agent, or a CLI command (`hv actions approve`,
// `hv quarantine …`). Both build it from the same config over the same store, libvirt and
// firewall, so an action run from the CLI does exactly what it would have done in the agent; the
// agent brings what it already holds (its sinks, its firewall syncer, its live inventory).

import type Database from "better-sqlite3";
import { syncFirewall } from "../firewall/sync.js";
import { resolveRepo, stagingRoot, type BackupConfig } from "../backup/settings.js";
import { buildAllowlist, type Allowlist, type AllowlistSpec } from "../events/allowlist.js";
import { createSinks } from "../outputs/config.js";
import type { AlertSink } from "../outputs/sink.js";
import { parseDomainXml } from "../vm/domain-xml.js";
import { VirshBackend } from "../vm/virsh.js";
import type { LibvirtBackend } from "../vm/backend.js";
import type { ActionEnv } from "./action.js";
import { writeSafe } from "../events/terminal.js";

/** What of the agent's config (src/agent/config.ts) actions are set up from. */
export interface ActionEnvConfig {
  response?: { allowlist?: AllowlistSpec; runAllowlist?: string[] };
  firewall?: { tables?: { inet: string; netdev: string }; netns?: string };
  sinks?: unknown[];
  backup?: BackupConfig;
}

export interface ActionEnvOptions {
  db: Database.Database;
  stateDir: string;
  config: ActionEnvConfig;
  /** libvirt URI (default: $HV_LIBVIRT_URI, else qemu:///system). */
  libvirtUri?: string;
  /** Tests give their own backend. */
  vm?: LibvirtBackend;
  log?: (text: string) => void;
  /** The agent's sinks (default: made from the config). */
  sinks?: AlertSink[];
  /** The agent's firewall syncer (default: a reconcile from the store, taps asked of libvirt). */
  syncFirewall?: () => Promise<void>;
  /** The agent's inventory (default: libvirt). */
  vmTaps?: (vm: string) => Promise<string[]>;
}

/** The tap devices (vnetN) of a VM's interfaces, from its live definition. */
export async function tapsFromLibvirt(vm: LibvirtBackend, name: string): Promise<string[]> {
  const xml = await vm.dumpXml(name);
  return parseDomainXml(xml)
    .interfaces.map((i) => i.targetDev)
    .filter((d): d is string => d !== undefined && d !== "");
}

export function responseAllowlist(config: ActionEnvConfig): Allowlist {
  return buildAllowlist(config.response?.allowlist ?? {});
}

export function buildActionEnv(o: ActionEnvOptions): ActionEnv & { sinks: AlertSink[] } {
  const vm = o.vm ?? new VirshBackend(o.libvirtUri ? { uri: o.libvirtUri } : {});
  const log = o.log ?? ((t: string) => writeSafe(process.stderr, `hv: ${t}\n`));
  const allowlist = responseAllowlist(o.config);
  const fw = o.config.firewall ?? {};
  const env: ActionEnv = {
    db: o.db,
    stateDir: o.stateDir,
    vm,
    syncFirewall: o.syncFirewall ?? (async () => {
      // The quarantined and rate-limited VMs' taps, so their chains hook the right devices.
      const taps = new Set<string>();
      for (const name of await runningVms(vm)) for (const t of await tapsFromLibvirt(vm, name).catch(() => [])) taps.add(t);
      const opts = { taps: [...taps], allowlist, vmTaps: (name: string) => tapsFromLibvirt(vm, name), ...(fw.tables ? { tables: fw.tables } : {}), ...(fw.netns ? { netns: fw.netns } : {}) };
      await syncFirewall(o.db, opts);
    }),
    vmTaps: o.vmTaps ?? ((name) => tapsFromLibvirt(vm, name)),
    sinks: o.sinks ?? createSinks(o.config.sinks ?? []),
    allowlist,
    runAllowlist: o.config.response?.runAllowlist ?? [],
    log,
    ...(o.config.backup ? { backup: { repo: resolveRepo(o.stateDir, o.config.backup), stagingRoot: stagingRoot(o.stateDir, o.config.backup) } } : {}),
  };
  return env;
}

async function runningVms(vm: LibvirtBackend): Promise<string[]> {
  try {
    return (await vm.listDomains()).map((d) => d.name);
  } catch {
    return [];
  }
}
