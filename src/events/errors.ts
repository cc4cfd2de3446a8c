// Errors more than one layer throws and catches. (InputError, for input hv cannot use, lives with
// the capped readers in input.ts; MissingProgramError with the programs in programs.ts.)

/**
 * Something that acts (a playbook action, the privileged helper's host operations) did not do
 * its thing. `refused`: it chose not to (an allowlisted or dangerous target, a reused pid), as
 * opposed to trying and failing. `detail` is stored like an outcome's.
 */
export class ActionError extends Error {
  override name = "ActionError";
  readonly refused: boolean;
  readonly detail: Record<string, unknown> | undefined;
  constructor(message: string, opts: { refused?: boolean; detail?: Record<string, unknown> } = {}) {
    super(message);
    this.refused = opts.refused ?? false;
    this.detail = opts.detail;
  }
}

export function refuse(message: string, detail?: Record<string, unknown>): ActionError {
  return new ActionError(message, { refused: true, ...(detail ? { detail } : {}) });
}
