// Who is acting: recorded with every approval, release, token, custody line and fleet order a
// person gives through the CLI.

import { userInfo } from "node:os";

/** The account hv runs as. */
export function runningUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for the uid (a container): the environment, else the number.
    return process.env.USER ?? String(process.getuid?.() ?? "unknown");
  }
}

/** The person behind a command: the one sudo ran it for, else the account hv runs as. */
export function actingUser(): string {
  return process.env.SUDO_USER || runningUser();
}
