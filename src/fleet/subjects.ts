// Where fleet messages live in NATS. One stream holds everything (subjects `hv.>`), so a single
// consumer sees the whole fleet and a host that was down catches up from the same place:
//   hv.<host>.alerts    alerts of one host (src/outputs/nats.ts)
//   hv.<host>.actions   results of response actions on one host
//   hv.fleet.blocks     fleet-wide block/unblock orders (src/fleet/blocks.ts)

export const STREAM = "HV_FLEET";
export const STREAM_SUBJECTS = "hv.>";
export const BLOCKS_SUBJECT = "hv.fleet.blocks";
/** Everything the fleet view shows. */
export const WATCH_SUBJECTS = "hv.>";

/**
 * A host name as one subject token. Dots would split it into several tokens (an FQDN would then
 * no longer match `hv.*.alerts`), and `*`, `>` and white space are not allowed in a subject; the
 * real name still travels in the message.
 */
export function hostToken(host: string): string {
  const token = host.trim().replace(/[.*>\s]/g, "_");
  return token === "" ? "_" : token;
}

export function alertsSubject(host: string): string {
  return `hv.${hostToken(host)}.alerts`;
}

export function actionsSubject(host: string): string {
  return `hv.${hostToken(host)}.actions`;
}

/** What a subject carries: the host token and the kind, or undefined for a subject hv does not use. */
export function parseSubject(subject: string): { host: string; kind: "alert" | "action" } | { kind: "block" } | undefined {
  if (subject === BLOCKS_SUBJECT) return { kind: "block" };
  const parts = subject.split(".");
  if (parts.length !== 3 || parts[0] !== "hv") return undefined;
  if (parts[2] === "alerts") return { host: parts[1]!, kind: "alert" };
  if (parts[2] === "actions") return { host: parts[1]!, kind: "action" };
  return undefined;
}
