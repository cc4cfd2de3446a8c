// Every response action hv has, by name: what playbooks may list under `actions:` and what
// `hv playbooks actions` shows. docs/actions.md describes each one.

import type { ActionDefinition, ActionRegistry } from "./action.js";
import { backupVm } from "./actions/backup.js";
import { blockIp } from "./actions/block-ip.js";
import { capturePcapAction, forensicCapture } from "./actions/forensics.js";
import { killProcess } from "./actions/kill-process.js";
import { lockAccount } from "./actions/lock-account.js";
import { notify } from "./actions/notify.js";
import { quarantineVm, releaseVm } from "./actions/quarantine.js";
import { rateLimitVm } from "./actions/rate-limit.js";
import { runCommand } from "./actions/run-command.js";
import { snapshotVm } from "./actions/snapshot.js";
import { pauseVm, resumeVm, shutdownVm } from "./actions/vm-power.js";

/** The actions in the order the docs list them. */
const ACTIONS = [
  notify,
  quarantineVm,
  releaseVm,
  pauseVm,
  resumeVm,
  shutdownVm,
  snapshotVm,
  backupVm,
  forensicCapture,
  blockIp,
  rateLimitVm,
  capturePcapAction,
  killProcess,
  lockAccount,
  runCommand,
];

export function createRegistry(): ActionRegistry {
  // The registry forgets each action's params type (zod types do not widen to `never`); the engine
  // always passes a definition the output of its own `params` schema.
  return new Map(ACTIONS.map((a) => [a.name, a as unknown as ActionDefinition<never>]));
}
