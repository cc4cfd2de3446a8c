// An error that is the caller's mistake (a bad flag value, an unreadable input): `hv` prints its
// message and exits 2, as the exit-code table says (0 ok, 1 problems found or failed, 2 usage or
// unreadable input). Any other error exits 1.

export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly exitCode = 2;
}

/** The exit status for an error that ended a command. */
export function exitCodeOf(err: unknown): number {
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return err instanceof UsageError || code === 2 ? 2 : 1;
}
