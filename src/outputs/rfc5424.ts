// An alert as one RFC 5424 syslog message. Transport and framing are syslog.ts's business.
//
//   <PRI>1 TIMESTAMP HOSTNAME hv PROCID MSGID [hv@32473 rule_id="…" severity="…" …] title: summary

import type { Alert, Severity } from "../events/alert.js";

/** RFC 5424 section 6.2.1 facility codes. */
export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;

export type Facility = keyof typeof FACILITIES;

export const FACILITY_NAMES = Object.keys(FACILITIES) as [Facility, ...Facility[]];

/** hv severity → syslog severity (2 crit, 3 err, 4 warning, 5 notice, 6 info). */
export const SYSLOG_SEVERITY: Record<Severity, number> = {
  critical: 2,
  high: 3,
  medium: 4,
  low: 5,
  informational: 6,
};

/**
 * 32473 is the private enterprise number IANA reserves for documentation and examples (RFC 5612).
 * hv has no number of its own yet; a deployment that wants a registered SD-ID sets `sdId`.
 */
export const DEFAULT_SD_ID = "hv@32473";

/** Receivers must accept 480 octets and should accept 2048 (RFC 5424 section 6.1). */
export const MIN_MESSAGE_BYTES = 480;
export const DEFAULT_MESSAGE_BYTES = 2048;

// Longest PARAM-VALUE kept: one huge value (a command line) must not push out all the others.
const MAX_PARAM_BYTES = 256;

export interface Rfc5424Options {
  facility: Facility;
  hostname: string;
  appName: string;
  procId: string;
  sdId: string;
  maxBytes: number;
}

export function priority(facility: Facility, severity: Severity): number {
  return FACILITIES[facility] * 8 + SYSLOG_SEVERITY[severity];
}

export function formatRfc5424(alert: Alert, opts: Rfc5424Options): Buffer {
  const header = [
    `<${priority(opts.facility, alert.severity)}>1`,
    timestamp(alert["@timestamp"]),
    headerField(opts.hostname, 255),
    headerField(opts.appName, 48),
    headerField(opts.procId, 128),
    headerField(msgId(alert.rule.id), 32),
  ].join(" ");
  let sd = structuredData(alert, opts.sdId);
  // The header alone fits in 480 bytes; with a long hostname and a small limit the SD may not.
  if (Buffer.byteLength(`${header} ${sd} `) > opts.maxBytes) sd = "-";
  const head = `${header} ${sd} `;
  const msg = message(alert, opts.maxBytes - Buffer.byteLength(head));
  return Buffer.concat([Buffer.from(head), msg]);
}

/** PARAM-VALUE escaping (RFC 5424 section 6.3.3): `"`, `\` and `]` get a backslash. */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/**
 * MSGID is at most 32 printable ASCII characters, and Sigma rule ids are 36-character UUIDs: a
 * UUID without its dashes is exactly 32 and still unique. Other ids longer than 32 are cut; the
 * full id is always in the structured data's rule_id.
 */
export function msgId(ruleId: string): string {
  return /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(ruleId) ? ruleId.replace(/-/g, "") : ruleId;
}

function timestamp(iso: string): string {
  const ms = Date.parse(iso);
  return new Date(Number.isNaN(ms) ? Date.now() : ms).toISOString();
}

/** Header fields are 1..max printable ASCII characters without spaces, or "-" (NILVALUE). */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return clean === "" ? "-" : clean;
}

function structuredData(alert: Alert, sdId: string): string {
  const params: Array<[string, string | number | undefined]> = [
    ["rule_id", alert.rule.id],
    ["severity", alert.severity],
    ["count", alert.count],
    ["entity_kind", alert.entity.kind],
    ["entity_id", alert.entity.id],
    ["vm", alert.vm?.name],
    ["vm_uuid", alert.vm?.uuid],
    ["alert_id", alert.id],
    ["mitre", alert.mitre.techniques.join(",") || undefined],
  ];
  const text = params
    .filter((p): p is [string, string | number] => p[1] !== undefined)
    .map(([name, value]) => `${name}="${escapeParamValue(truncateUtf8(oneLine(String(value)), MAX_PARAM_BYTES).toString())}"`)
    .join(" ");
  return `[${sdId} ${text}]`;
}

function message(alert: Alert, budget: number): Buffer {
  const text = oneLine(alert.summary ? `${alert.rule.title}: ${alert.summary}` : alert.rule.title);
  // RFC 5424 wants a BOM before UTF-8 text; plain ASCII is MSG-ANY and goes without, which keeps
  // the message readable for the many tools that print the BOM as garbage.
  const bom = /^[\x00-\x7f]*$/.test(text) ? Buffer.alloc(0) : Buffer.from([0xef, 0xbb, 0xbf]);
  return Buffer.concat([bom, truncateUtf8(text, Math.max(0, budget - bom.length))]);
}

// Line-based readers (files, LF-framed streams, `journalctl`) would split a message at a newline.
function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, " ");
}

/** The longest prefix of `text` that fits in `maxBytes` of UTF-8 without cutting a character. */
export function truncateUtf8(text: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
