// What the playbook tests share: a real SQLite store in a temp dir, alerts, an allowlist that
// does not look at this machine's interfaces, and recording actions/backends that only note
// what they were asked to do (hv's real actions are tested in actions-*.test.ts).

import { join } from "node:path";
import type Database from "better-sqlite3";
import { z } from "zod";
import type { Alert } from "../../src/events/alert.js";
import { buildAllowlist, type AllowlistSpec } from "../../src/events/allowlist.js";
import type { ActionDefinition, ActionEnv, ActionRegistry, ActionRun, ActionTarget } from "../../src/playbooks/action.js";
import type { LibvirtBackend } from "../../src/vm/backend.js";
import { enforce, releaseEnforcement } from "../../src/store/enforcements.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "../store/tmp.js";

export function tempStore(): { db: Database.Database; path: string; dir: string } {
  const dir = tempDir();
  const path = join(dir, "hv.db");
  return { db: openStore(path), path, dir };
}

export function allowlistOf(spec: AllowlistSpec = {}): ReturnType<typeof buildAllowlist> {
  return buildAllowlist({ hostAddresses: false, managementInterfaces: [], ...spec }, { interfaces: () => ({}), defaultRouteInterfaces: () => [] });
}

let nextAlertId = 1000;

export function alertOf(over: Partial<Alert> = {}): Alert {
  const t = "2025-11-26T10:00:00.000Z";
  return {
    id: nextAlertId++,
    "@timestamp": t,
    first_seen: t,
    last_seen: t,
    count: 1,
    rule: { id: "caa1bc1b-5329-4d1b-8e56-af2a262d95b9", title: "QEMU Process Spawns A Shell Or Interpreter", source: "sigma", tags: ["attack.execution", "attack.t1059.004", "attack.t1611"] },
    severity: "high",
    mitre: { tactics: ["execution"], techniques: ["T1059.004", "T1611"] },
    entity: { kind: "vm", id: "web1" },
    vm: { name: "web1", uuid: "11111111-2222-3333-4444-555555555555" },
    event_ids: ["e1"],
    status: "open",
    ...over,
  };
}

/** Every call a recording action or backend got. */
export interface Call {
  what: string;
  target?: ActionTarget;
  by?: string;
  actionId?: number;
  expires?: number;
}

/** A libvirt backend that records every call and answers nothing useful. */
export function recordingBackend(calls: Call[], uuids: Record<string, string> = {}): LibvirtBackend {
  return new Proxy({} as LibvirtBackend, {
    get(_t, prop) {
      if (prop === "uri") return "test:///recording";
      if (prop === "then") return undefined;
      return (...args: unknown[]) => {
        calls.push({ what: `vm.${String(prop)}:${JSON.stringify(args)}` });
        return Promise.resolve(prop === "listDomains" ? [] : prop === "domainInfo" ? { name: String(args[0]), uuid: uuids[String(args[0])] ?? "", state: "running" } : "");
      };
    },
  });
}

export function recordingEnv(db: Database.Database, calls: Call[], spec: AllowlistSpec = {}, uuids: Record<string, string> = {}): ActionEnv {
  return {
    db,
    stateDir: "/nonexistent/hv-test-state",
    vm: recordingBackend(calls, uuids),
    syncFirewall: () => {
      calls.push({ what: "syncFirewall" });
      return Promise.resolve();
    },
    vmTaps: (vm) => {
      calls.push({ what: `vmTaps:${vm}` });
      return Promise.resolve([`vnet-${vm}`]);
    },
    sinks: [],
    allowlist: allowlistOf(spec),
    runAllowlist: [],
    log: () => {},
  };
}

const vmTarget = (a: Alert | undefined): ActionTarget | { error: string } => {
  const name = a?.vm?.name ?? (a?.entity.kind === "vm" ? a.entity.id : undefined);
  return name ? { kind: "vm", name, ...(a?.vm?.uuid ? { uuid: a.vm.uuid } : {}) } : { error: "the alert names no VM" };
};

interface RecordingOptions {
  calls: Call[];
  targetOf?: ActionDefinition["targetOf"];
  reversible?: boolean;
  /** What the run does besides recording (e.g. an enforcement). */
  effect?: (run: ActionRun<Record<string, unknown>>) => void;
  undoEffect?: (run: ActionRun<Record<string, unknown>>) => void;
  fail?: string;
  params?: z.ZodType<Record<string, unknown>>;
  /** Resolves the run only when this promise does (race tests). */
  gate?: () => Promise<void>;
}

/** An action named `name` that records its runs and undos. */
export function recordingAction(name: string, o: RecordingOptions): ActionDefinition<never> {
  const def: ActionDefinition<Record<string, unknown>> = {
    name,
    summary: `recording ${name}`,
    risk: "records the call; changes nothing",
    params: o.params ?? z.strictObject({ note: z.string().optional() }),
    targetOf: o.targetOf ?? ((a) => vmTarget(a)),
    async run(run) {
      o.calls.push({ what: `run:${name}`, target: run.target, by: run.by, actionId: run.actionId, ...(run.expires !== undefined ? { expires: run.expires } : {}) });
      if (o.gate) await o.gate();
      if (o.fail) throw new Error(o.fail);
      o.effect?.(run);
      return { result: `${name} ran on ${JSON.stringify(run.target)}` };
    },
    ...(o.reversible
      ? {
          reversible: {
            how: `undo ${name}`,
            undo: (run: ActionRun<Record<string, unknown>>) => {
              o.calls.push({ what: `undo:${name}`, target: run.target, by: run.by, actionId: run.actionId });
              o.undoEffect?.(run);
              return Promise.resolve({ result: `${name} undone` });
            },
          },
        }
      : {}),
  };
  return def as unknown as ActionDefinition<never>;
}

/** The five actions the safety property is about, recording and making the enforcements hv's would. */
export function recordingRegistry(calls: Call[], extra: ActionDefinition<never>[] = []): ActionRegistry {
  const ipTarget: ActionDefinition["targetOf"] = (a) => {
    const ip = a?.source?.ip ?? (a?.entity.kind === "ip" ? a.entity.id : undefined);
    return ip ? { kind: "ip", address: ip } : { error: "the alert names no address" };
  };
  const defs = [
    recordingAction("quarantine_vm", {
      calls,
      reversible: true,
      params: z.strictObject({ keep: z.array(z.string()).optional() }),
      effect: (r) => enforce(r.env.db, { kind: "quarantine", target: (r.target as { name: string }).name, actionId: r.actionId, createdBy: r.by, expires: r.expires ?? null }),
      undoEffect: (r) => releaseEnforcement(r.env.db, "quarantine", (r.target as { name: string }).name, r.by, "undo"),
    }),
    recordingAction("block_ip", {
      calls,
      reversible: true,
      targetOf: ipTarget,
      effect: (r) => enforce(r.env.db, { kind: "block", target: (r.target as { address: string }).address, actionId: r.actionId, createdBy: r.by, expires: r.expires ?? null }),
      undoEffect: (r) => releaseEnforcement(r.env.db, "block", (r.target as { address: string }).address, r.by, "undo"),
    }),
    recordingAction("rate_limit_vm", {
      calls,
      reversible: true,
      effect: (r) => enforce(r.env.db, { kind: "rate_limit", target: (r.target as { name: string }).name, actionId: r.actionId, createdBy: r.by, expires: r.expires ?? null }),
    }),
    recordingAction("kill_process", {
      calls,
      targetOf: (a) => (a?.process?.pid !== undefined ? { kind: "process", pid: a.process.pid, ...(a.process.executable ? { executable: a.process.executable } : {}) } : { error: "no process" }),
    }),
    recordingAction("lock_account", {
      calls,
      targetOf: (a) => (a?.user?.name ? { kind: "user", name: a.user.name } : { error: "no user" }),
    }),
    recordingAction("notify", { calls, targetOf: () => ({ kind: "host" }) }),
    ...extra,
  ];
  return new Map(defs.map((d) => [d.name, d]));
}
