// The one way hv reads a duration a person wrote — in the config, a playbook, a Sigma correlation,
// a feed schedule, a command-line flag or an API query: a number and a unit, `ms s m h d w`
// ("500ms", "30s", "1.5s", "10m", "2h", "7d", "1w"). Each caller keeps its own bounds (a playbook's
// at most 366 days, a feed schedule's at least a minute).

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/** What a duration looks like, for messages: "must look like 30s, 10m, 2h or 7d". */
export const DURATION_EXAMPLES = "30s, 10m, 2h or 7d";

/** Milliseconds (whole), or undefined when the text is not a duration or too large to be exact. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** parseDuration, or an error naming what was given: "`what` must look like 30s, 10m, 2h or 7d, got …". */
export function durationMs(text: string, what = "duration"): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`${what} must look like ${DURATION_EXAMPLES} (units ms, s, m, h, d, w), got ${JSON.stringify(text)}`);
  return ms;
}

/** 3600000 → "1h", 90000 → "90s": the largest unit (up to days) that divides it. */
export function formatDuration(ms: number): string {
  for (const u of ["d", "h", "m", "s"] as const) if (ms > 0 && ms % UNIT_MS[u] === 0) return `${ms / UNIT_MS[u]}${u}`;
  return `${ms}ms`;
}
