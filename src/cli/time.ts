// Times as people read them: local time with its zone said, so a list printed here and a log
// written in UTC can be compared without guessing. JSON output keeps the stored ISO (UTC) text.

import { parseDuration } from "../events/duration.js";
import { InputError } from "../events/input.js";

const p2 = (n: number): string => String(n).padStart(2, "0");

/** The zone of a local time: "UTC" or the offset, e.g. "+02:00", "-05:30". */
export function zoneOf(d: Date = new Date()): string {
  const off = -d.getTimezoneOffset();
  if (off === 0) return "UTC";
  const a = Math.abs(off);
  return `${off < 0 ? "-" : "+"}${p2(Math.floor(a / 60))}:${p2(a % 60)}`;
}

/** "2026-05-01 14:00:03 +02:00" (local time and its zone); "-" for an unreadable time. */
export function localTime(time: string | number | Date): string {
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return "-";
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${zoneOf(d)}`;
}

/** HH:MM:SS for today, MM-DD HH:MM for older times, local (the zone is said once, where the list starts). */
export function clockTime(time: string | number, now: number): string {
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return "--:--:--";
  if (d.toDateString() === new Date(now).toDateString()) return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
  return `${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}`;
}

/** A --since/--until value: an age before now (30s, 15m, 2h, 7d) or an ISO time; ms since the epoch. */
export function parseTimeArg(text: string, flag: string, now = Date.now()): number {
  const age = parseDuration(text);
  if (age !== undefined) return now - age;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text.trim()) : NaN;
  if (Number.isNaN(ms)) throw new InputError(`${flag} must be an age (30s, 15m, 2h, 7d) or an ISO time (2026-05-01T12:00:00Z), got ${JSON.stringify(text)}`);
  return ms;
}
