// An ActionEnv for the action tests: a real store file in a temp state directory, a real VM backend
// (qemu:///system or libvirt's test:///default driver), real sinks. Only the firewall sync is a
// recording function (the firewall tests cover nft; the E2E test the whole path), and the taps of
// VMs that do not exist are a fixed list.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Alert } from "../../src/events/alert.js";
import { buildAllowlist, type AllowlistSpec } from "../../src/events/allowlist.js";
import type { AlertSink } from "../../src/outputs/sink.js";
import type { ActionDefinition, ActionEnv, ActionOutcome, ActionRun, ActionTarget } from "../../src/playbooks/action.js";
import { insertAction } from "../../src/store/actions.js";
import { openStore } from "../../src/store/open.js";
import type { LibvirtBackend } from "../../src/vm/backend.js";
import { VirshBackend } from "../../src/vm/virsh.js";

export interface TestEnv {
  env: ActionEnv;
  dir: string;
  /** Times syncFirewall was called. */
  syncs: number;
  logs: string[];
  close(): Promise<void>;
}

export interface TestEnvOptions {
  vm?: LibvirtBackend;
  sinks?: AlertSink[];
  allowlist?: AllowlistSpec;
  runAllowlist?: string[];
  vmTaps?: (vm: string) => Promise<string[]>;
  /** Makes the recording syncFirewall throw. */
  syncFails?: boolean;
}

export async function makeTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  const dir = await mkdtemp(join(tmpdir(), "hvact-"));
  const db = openStore(join(dir, "hv.db"));
  const t: TestEnv = {
    dir,
    syncs: 0,
    logs: [],
    env: {
      db,
      stateDir: dir,
      vm: opts.vm ?? new VirshBackend({ uri: "test:///default" }),
      async syncFirewall() {
        t.syncs++;
        if (opts.syncFails) throw new Error("recording syncFirewall told to fail");
      },
      vmTaps: opts.vmTaps ?? (async () => ["vnet-fake0"]),
      sinks: opts.sinks ?? [],
      allowlist: buildAllowlist({ hostAddresses: true, ...opts.allowlist }),
      runAllowlist: opts.runAllowlist ?? [],
      log: (text) => t.logs.push(text),
    },
    async close() {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

export function makeAlert(over: Partial<Alert> = {}): Alert {
  const now = new Date().toISOString();
  return {
    id: 1,
    "@timestamp": now,
    first_seen: now,
    last_seen: now,
    count: 1,
    rule: { id: "test-rule", title: "Test rule", source: "sigma" },
    severity: "high",
    mitre: { tactics: [], techniques: [] },
    entity: { kind: "host", id: "localhost" },
    event_ids: [],
    status: "open",
    ...over,
  };
}

/**
 * Parses the params, takes the target from the alert, records an action row (as the engine does)
 * and runs the action. Returns the outcome and the run (for undo).
 */
export async function runAction<P>(
  t: TestEnv,
  def: ActionDefinition<P>,
  input: { alert?: Alert; params?: unknown; target?: ActionTarget; by?: string; expires?: number; actionId?: number },
): Promise<{ outcome: ActionOutcome; run: ActionRun<P> }> {
  const run = prepareRun(t, def, input);
  const outcome = await def.run(run);
  // The engine stores the outcome's detail on the action row; the lock undo reads it back.
  t.env.db.prepare(`UPDATE actions SET json = ?, result = ?, status = 'done' WHERE id = ?`).run(JSON.stringify(outcome.detail ?? null), outcome.result, run.actionId);
  return { outcome, run };
}

export function prepareRun<P>(
  t: TestEnv,
  def: ActionDefinition<P>,
  input: { alert?: Alert; params?: unknown; target?: ActionTarget; by?: string; expires?: number; actionId?: number },
): ActionRun<P> {
  const params = def.params.parse(input.params ?? {});
  let target = input.target;
  if (!target) {
    const t2 = def.targetOf(input.alert, params);
    if ("error" in t2) throw new Error(`targetOf: ${t2.error}`);
    target = t2;
  }
  const actionId =
    input.actionId ??
    insertAction(t.env.db, { playbook: "test", action: def.name, mode: "automatic", status: "running", params: params as Record<string, unknown>, ...(input.expires ? { expires: input.expires } : {}) });
  return {
    env: t.env,
    params,
    target,
    ...(input.alert ? { alert: input.alert } : {}),
    actionId,
    by: input.by ?? "playbook:test",
    ...(input.expires !== undefined ? { expires: input.expires } : {}),
    signal: new AbortController().signal,
  };
}
