// Durations and rates as playbooks write them: hv's one duration grammar (src/events/duration.ts)
// with a playbook's bound; "5/1h" = at most 5 per hour.

import { parseDuration } from "../events/duration.js";

/**
 * The longest duration anything in a playbook may last (a block's ttl, a delay, a cooldown). A
 * larger number is a typo or an attempt to make a block permanent that looks temporary, and
 * beyond 2^53 ms it would not even be exact; leaving ttl out is how a block is made permanent.
 */
export const MAX_DURATION_MS = 366 * 86_400_000;

export const DURATION_HINT = "must look like 30s, 10m, 2h or 1d, at most 366d";
export const RATE_HINT = 'must look like "5/1h" (at most 5 per hour)';

/** Milliseconds, or undefined when the text is not a duration or is longer than MAX_DURATION_MS. */
export function parsePlaybookDuration(text: string): number | undefined {
  const ms = parseDuration(text);
  return ms !== undefined && ms <= MAX_DURATION_MS ? ms : undefined;
}

export interface Rate {
  count: number;
  windowMs: number;
}

export function parseRate(text: string): Rate | undefined {
  const m = /^(\d+)\s*\/\s*(.+)$/.exec(text.trim());
  if (!m) return undefined;
  const windowMs = parsePlaybookDuration(m[2]!);
  const count = Number(m[1]);
  return windowMs && count > 0 ? { count, windowMs } : undefined;
}
