// The one interface every response action implements (DESIGN.md: actions go through three
// backends only — the VM backend, the firewall, forensics — plus the host for the few host
// actions). The engine decides whether and when an action runs (mode, approval, allowlist,
// limits) and records it; the action only does its one thing, idempotently: running it when its
// effect is already there is a no-op that says so.

import type Database from "better-sqlite3";
import type { z } from "zod";
import type { Alert } from "../events/alert.js";
import type { Allowlist } from "../events/allowlist.js";
import type { AlertSink } from "../outputs/sink.js";
import type { ResticRepo } from "../backup/settings.js";
import type { LibvirtBackend } from "../vm/backend.js";

export type ActionTarget =
  | { kind: "vm"; name: string; uuid?: string }
  /** An address or a CIDR. */
  | { kind: "ip"; address: string }
  | { kind: "process"; pid: number; executable?: string }
  | { kind: "user"; name: string }
  | { kind: "host" };

/** The stored form of a target (actions.target): vm:NAME, ip:ADDR, process:PID, user:NAME, host. */
export function targetKey(t: ActionTarget): string {
  switch (t.kind) {
    case "vm":
      return `vm:${t.name}`;
    case "ip":
      return `ip:${t.address}`;
    case "process":
      return `process:${t.pid}`;
    case "user":
      return `user:${t.name}`;
    case "host":
      return "host";
  }
}

/** What actions run against; the agent and the CLI (approve, release) each build one. */
export interface ActionEnv {
  db: Database.Database;
  /** hv's state directory (forensic bundles, keys, pcaps live under it). */
  stateDir: string;
  vm: LibvirtBackend;
  /** Makes hv's nft tables match the store (feeds and enforcements) now. */
  syncFirewall(): Promise<void>;
  /** The tap devices a VM has now (the agent's inventory, else libvirt). */
  vmTaps(vm: string): Promise<string[]>;
  sinks: AlertSink[];
  allowlist: Allowlist;
  /** Commands the `run` action may start: absolute paths. */
  runAllowlist: string[];
  /** Where backup_vm puts backups (the config's backup: section); absent when none is configured. */
  backup?: { repo: ResticRepo; stagingRoot: string };
  log(text: string): void;
}

export interface ActionRun<P> {
  env: ActionEnv;
  params: P;
  target: ActionTarget;
  /** The alert that led here (absent when a person started the action by hand). */
  alert?: Alert;
  /** The store row of this action. */
  actionId: number;
  /** Who runs it: "playbook:NAME", "user:alice", "ttl". */
  by: string;
  /** When the action's effect is to be undone (TTL), ms since the epoch. */
  expires?: number;
  signal: AbortSignal;
}

export interface ActionOutcome {
  /** One line for people: what happened ("quarantined web1 (vnet3); keeps 10.0.0.5"). */
  result: string;
  /** The effect was already there: nothing was changed. */
  unchanged?: boolean;
  /** Anything a script may want (bundle path, snapshot name, pcap size, …); stored as JSON. */
  detail?: Record<string, unknown>;
}

export interface ActionDefinition<P = Record<string, unknown>> {
  name: string;
  /** One line for `hv playbooks actions` and the docs. */
  summary: string;
  /** What can go wrong when it runs, said plainly (a false positive's cost): hv setup shows it before the mode is chosen. */
  risk: string;
  /** Validates a playbook's `with:` parameters; zod errors name the field. */
  params: z.ZodType<P>;
  /** What the action would act on for this alert, or why it cannot run on it. */
  targetOf(alert: Alert | undefined, params: P): ActionTarget | { error: string };
  /** How the action is undone (release, resume, unblock, …); absent: it cannot be. */
  reversible?: {
    /** One line for people ("hv quarantine release web1"). */
    how: string;
    undo(run: ActionRun<P>): Promise<ActionOutcome>;
  };
  run(run: ActionRun<P>): Promise<ActionOutcome>;
}

/** The registry: action name → definition. */
export type ActionRegistry = ReadonlyMap<string, ActionDefinition<never>>;
