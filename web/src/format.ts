// How times, sizes and ages are shown: relative for reading, exact in the title for checking.

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

export function ago(when: string | number | null | undefined, now = Date.now()): string {
  if (when === null || when === undefined) return "—";
  const ms = typeof when === "number" ? when : Date.parse(when);
  if (Number.isNaN(ms)) return "—";
  const s = Math.round((ms - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return rtf.format(s, "second");
  if (abs < 3600) return rtf.format(Math.round(s / 60), "minute");
  if (abs < 86_400) return rtf.format(Math.round(s / 3600), "hour");
  return rtf.format(Math.round(s / 86_400), "day");
}

export function exact(when: string | number | null | undefined): string {
  if (when === null || when === undefined) return "";
  const d = new Date(when);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function num(n: number | undefined): string {
  return n === undefined ? "—" : n.toLocaleString("en");
}

export function rate(perSecond: number | undefined): string {
  if (perSecond === undefined) return "—";
  return perSecond >= 10 ? Math.round(perSecond).toLocaleString("en") : perSecond.toFixed(1);
}

/** Schedules are written like 12h, 30m, 1d. */
export function durationMs(text: string | undefined): number | undefined {
  const m = /^(\d+)\s*([smhd])$/.exec(text ?? "");
  return m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"] : undefined;
}
