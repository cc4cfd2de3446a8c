// Durations and rates as playbooks write them: 30s, 10m, 2h, 1d; "5/1h" = at most 5 per hour.

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * The longest duration anything in a playbook may last (a block's ttl, a delay, a cooldown). A
 * larger number is a typo or an attempt to make a block permanent that looks temporary, and
 * beyond 2^53 ms it would not even be exact; leaving ttl out is how a block is made permanent.
 */
export const MAX_DURATION_MS = 366 * UNIT_MS.d;

export const DURATION_HINT = "must look like 30s, 10m, 2h or 1d, at most 366d";
export const RATE_HINT = 'must look like "5/1h" (at most 5 per hour)';

/** Milliseconds, or undefined when the text is not a duration or is longer than MAX_DURATION_MS. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,12})\s*([smhd])$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

export interface Rate {
  count: number;
  windowMs: number;
}

export function parseRate(text: string): Rate | undefined {
  const m = /^(\d+)\s*\/\s*(\d+\s*[smhd])$/.exec(text.trim());
  if (!m) return undefined;
  const windowMs = parseDuration(m[2]!);
  const count = Number(m[1]);
  return windowMs && count > 0 ? { count, windowMs } : undefined;
}

/** 3600000 → "1h", 90000 → "90s": the largest unit that divides it. */
export function formatDuration(ms: number): string {
  for (const u of ["d", "h", "m", "s"] as const) if (ms > 0 && ms % UNIT_MS[u] === 0) return `${ms / UNIT_MS[u]}${u}`;
  return `${ms}ms`;
}
