// lock_account: locks a host user's password and expires the account (`usermod -L -e 1`), so
// neither a password nor a key lets them log in again. The state before is kept in the action's
// detail, so the undo puts back exactly what was there (an expiry date, an already locked password).
// Sessions already open stay open: pair it with kill_process to end them. The checks and usermod
// are the host operations in src/privileged/host-ops.ts (in hv as root, else the privileged helper).

import { z } from "zod";
import { hostOps } from "../../privileged/host-ops-choice.js";
import { USER_NAME, type ShadowState } from "../../privileged/protocol.js";
import { getAction } from "../../store/actions.js";
import type { ActionDefinition, ActionEnv, ActionOutcome } from "../action.js";
import { ActionError, refuse } from "../../events/errors.js";
import { expectKind } from "./common.js";

const params = z.strictObject({
  /** Also accounts with uid < 1000 (never root). */
  system_users: z.boolean().default(false),
});

export type LockAccountParams = z.infer<typeof params>;

export interface LockDetail {
  user: string;
  uid: number;
  previous: ShadowState;
}

function userOf(alert: Parameters<ActionDefinition["targetOf"]>[0]): string | undefined {
  return alert?.user?.name ?? (alert?.entity.kind === "user" ? alert.entity.id : undefined);
}

async function lock(env: ActionEnv, user: string, systemUsers: boolean): Promise<ActionOutcome> {
  if (user === "root") throw refuse("refused: root is never locked");
  const allowlisted = env.allowlist.user(user);
  if (allowlisted) throw refuse(`refused: ${allowlisted}`);
  const r = await hostOps().lockAccount({ user, systemUsers });
  const detail: LockDetail & Record<string, unknown> = { user, uid: r.uid, previous: r.previous };
  if (!r.changed) return { result: `${user} was already locked and expired`, unchanged: true, detail };
  return { result: `locked ${user} (uid ${r.uid}): password locked, account expired`, detail };
}

export const lockAccount: ActionDefinition<LockAccountParams> = {
  name: "lock_account",
  risk: "locks a host user's account: that person cannot log in until it is unlocked",
  summary: "lock a host user's password and expire the account (usermod -L -e 1)",
  params,
  targetOf(alert) {
    const user = userOf(alert);
    if (user === undefined) return { error: "the alert names no user (user.name or an entity of kind user)" };
    if (!USER_NAME.test(user)) return { error: `user.name ${JSON.stringify(user)} is not a valid user name` };
    if (user === "root") return { error: "root is never locked" };
    return { kind: "user", name: user };
  },
  run: ({ env, params: p, target }) => lock(env, expectKind(target, "user").name, p.system_users),
  reversible: {
    how: "hv actions undo ID (unlocks and puts back the recorded expiry)",
    async undo({ env, params: p, target, actionId }) {
      const user = expectKind(target, "user").name;
      const detail = getAction(env.db, actionId)?.detail as Partial<LockDetail> | undefined;
      const previous = detail?.previous;
      if (!previous || typeof previous.expire !== "string") throw new ActionError(`action ${actionId} recorded no previous state of ${user}; unlock by hand with usermod -U -e '' ${user} (or the old expiry)`);
      const r = await hostOps().unlockAccount({ user, previous: { locked: previous.locked === true, expire: previous.expire }, systemUsers: p.system_users });
      if (!r.changed) return { result: `${user} is already as it was before the lock`, unchanged: true };
      return { result: `unlocked ${user}${previous.expire ? ` (expiry back to day ${previous.expire})` : " (no expiry)"}`, detail: { restored: r.restored } };
    },
  },
};
