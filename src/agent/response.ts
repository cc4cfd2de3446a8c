// The response side of the running agent: alerts go to the playbooks, the engine decides and acts
// (src/playbooks), and a tick runs what is due — delayed and approved actions, TTL undos, expired
// quarantines and blocks. Everything is in the store, so a restarted agent picks up where the last
// one stopped: rows it left running are run again (actions are idempotent), TTLs keep counting.
// In replay nothing on this host may change: every playbook only records what it would do.

import { onAbort } from "../events/abort.js";
import type Database from "better-sqlite3";
import type { AlertUpdate } from "../detectors/alerts.js";
import type { Inventory } from "../events/inventory.js";
import type { AlertSink } from "../outputs/sink.js";
import type { ActionEnv } from "../playbooks/action.js";
import { playbookPaths, responseSettings } from "./response-context.js";
import { createResponder, type Responder } from "../playbooks/engine.js";
import { buildActionEnv, tapsFromLibvirt } from "../playbooks/env.js";
import { formatProblem, loadPlaybooks } from "../playbooks/load.js";
import { createRegistry } from "../playbooks/registry.js";
import type { ActionRecord } from "../store/actions.js";
import { VirshBackend } from "../vm/virsh.js";
import type { AgentConfig } from "./config.js";
import type { FirewallSyncer } from "../firewall/sync.js";
import { tapsOfVm } from "./network.js";

export interface ResponseOptions {
  db: Database.Database;
  config: AgentConfig;
  stateDir: string;
  /** Acting on this host now; false in replay (then every playbook only records). */
  live: boolean;
  inventory: Inventory;
  /** The agent's firewall syncer; without one, quarantines and blocks fail with the reason. */
  firewall?: FirewallSyncer;
  sinks: AlertSink[];
  /** Playbook files or directories given on the command line (else the config's, else the shipped ones). */
  playbookPaths?: string[];
  libvirtUri?: string;
  report: (text: string) => void;
  /** Every action row as it is decided, finished or undone. */
  onAction?: (row: ActionRecord) => void;
  /** How often due actions and TTLs are looked at (default 1 s). */
  tickMs?: number;
}

export interface ResponseSetup {
  responder: Responder;
  env: ActionEnv;
  playbooks: number;
  problems: number;
  onAlert(update: AlertUpdate): void;
  /** Recovers rows a dead agent left running, then ticks until the signal. */
  start(signal: AbortSignal): void;
  close(): Promise<void>;
}

const DEFAULT_TICK_MS = 1000;

export function setUpResponse(opts: ResponseOptions): ResponseSetup {
  const { db, config, report } = opts;
  const registry = createRegistry();
  const loaded = loadPlaybooks(playbookPaths(opts.playbookPaths ?? [], config), registry);
  for (const p of loaded.problems) report(`playbooks: ${formatProblem(p)}`);
  const vm = new VirshBackend(opts.libvirtUri ? { uri: opts.libvirtUri } : {});
  const firewall = opts.firewall;
  const env = buildActionEnv({
    db,
    stateDir: opts.stateDir,
    config,
    vm,
    sinks: opts.sinks,
    log: (t) => report(`response: ${t}`),
    syncFirewall: firewall
      ? async () => void (await firewall.sync())
      : () => Promise.reject(new Error("hv manages no firewall here (needs nft and root or CAP_NET_ADMIN, and firewall.enabled not false)")),
    // The live inventory knows a VM's taps at once; libvirt is asked only for a VM it does not know.
    vmTaps: async (name) => tapsOfVm(opts.inventory, name) ?? tapsFromLibvirt(vm, name),
  });
  const settings = responseSettings(config);
  if (!opts.live && settings.mode !== "monitor") report("replay: playbooks only record what they would do");
  const responder = createResponder({
    db,
    registry,
    playbooks: loaded.playbooks,
    env,
    response: opts.live ? settings : { ...settings, mode: "monitor" },
    ...(opts.onAction ? { onRecord: opts.onAction } : {}),
  });
  const modes = loaded.playbooks.filter((p) => p.enabled).map((p) => (settings.mode === "monitor" || !opts.live ? "monitor" : p.mode));
  report(`${loaded.playbooks.length} playbooks loaded (${countOf(modes, "automatic")} automatic, ${countOf(modes, "interactive")} interactive, ${countOf(modes, "monitor")} monitor)${loaded.problems.length ? `, ${loaded.problems.length} problems — see \`hv playbooks check\`` : ""}`);
  const failed = (where: string) => (err: unknown) => report(`response: ${where}: ${err instanceof Error ? err.message : String(err)}`);

  return {
    responder,
    env,
    playbooks: loaded.playbooks.length,
    problems: loaded.problems.length,
    onAlert(update) {
      void responder.onAlert(update).catch(failed(`alert ${update.alert.id ?? update.alert.rule.id}`));
    },
    start(signal) {
      if (!opts.live) return;
      const back = responder.recover();
      if (back.length > 0) report(`response: ${back.length} action(s) a stopped agent left running will run again: ${back.map((r) => `${r.id} ${r.action}`).join(", ")}`);
      let ticking = false;
      const tick = (): void => {
        if (ticking) return;
        ticking = true;
        responder
          .tick()
          .catch(failed("tick"))
          .finally(() => (ticking = false));
      };
      tick();
      const timer = setInterval(tick, opts.tickMs ?? DEFAULT_TICK_MS);
      onAbort(signal, () => clearInterval(timer));
    },
    close: () => responder.close(),
  };
}

function countOf(values: string[], value: string): number {
  return values.filter((v) => v === value).length;
}
