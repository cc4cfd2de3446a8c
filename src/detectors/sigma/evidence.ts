// What a rule needs the kernel (or libvirt) to record before it can fire: its "evidence". hv's
// rules declare it in their own section of the Sigma YAML,
//
//   hv:
//     technique: vm_disk_read                  # the recorded technique that proves it (test/fixtures/audit/hv)
//     actors: [root, sudo, user, daemon]       # who the rule is about (default: all four)
//     evidence:                                 # alternatives: any one of them lets the rule see the technique
//       - exec: [/usr/bin/virsh]                # a program started (execve)
//         naming: [secret-get-value]            # …whose command line names one of these (matching recordings only:
//                                               #    audit rules cannot filter on arguments)
//       - exec: any                             # any program, e.g. with…
//         parent: [/usr/bin/qemu-system-*]      # …this parent (whose start must be recorded too)
//       - syscall: [ptrace]                     # a syscall, optionally with its first argument
//         a0: [0x10, 0x4206]
//         by: [/usr/bin/strace, /usr/bin/gdb]   # programs that typically make it (probes only)
//       - syscall: [connect]                    # …or its third (connect's address length: 16 IPv4, 28 IPv6)
//         a2: [16, 28]
//       - read: [/var/lib/libvirt/images/]      # a file opened for reading (dir/ = anything under it)
//       - write: [/etc/libvirt/qemu/*.xml]      # a file written, created, renamed, removed
//       - connect: [/run/libvirt/libvirt-sock]  # connect() to a unix socket
//       - record: [ANOM_PROMISCUOUS]            # a record the kernel or a program writes without any rule
//       - libvirt: [lifecycle]                  # a libvirt event (the libvirt collector, no audit rule)
//
// and rules without it get their logsource's default (process_creation: any program started, …).
// Each item turns into AuditProbes (one per program/path × actor) that `hv rules coverage` puts to
// the host's audit rules, and can be matched against recorded events (what a recording proves).

import { z } from "zod";
import { namesFollowCwd, resolveName } from "../../collectors/audit/normalize.js";
import { canonicalPath, type AuditActor, type AuditProbe } from "../../collectors/audit/rules.js";
import type { AuditRecord, HvEvent } from "../../events/event.js";
import type { RuleDoc } from "./load.js";

/** Who does something, as the kernel sees it: a login uid (auid) and the uid/euid now. */
export const ACTORS = {
  root: { uid: 0, euid: 0, auid: 0 },
  sudo: { uid: 0, euid: 0, auid: 1000 },
  user: { uid: 1000, euid: 1000, auid: 1000 },
  daemon: { uid: 0, euid: 0 },
} as const satisfies Record<string, AuditActor>;
export type ActorName = keyof typeof ACTORS;
export const ACTOR_NAMES = Object.keys(ACTORS) as ActorName[];
export const ACTOR_TEXT: Record<ActorName, string> = {
  root: "root logged in (auid 0)",
  sudo: "a user who became root (auid ≥ 1000, uid 0)",
  user: "an unprivileged user (uid ≥ 1000)",
  daemon: "a service or cron job (no login: auid unset)",
};

export type EvidenceItem =
  | { kind: "exec"; programs: string[] | "any"; naming?: string[]; parent?: string[]; actors: ActorName[] }
  | { kind: "syscall"; syscalls: string[]; a0?: number[]; a2?: number[]; by: string[]; actors: ActorName[] }
  | { kind: "read" | "write" | "connect"; paths: string[]; by: string[]; actors: ActorName[] }
  | { kind: "record"; types: string[]; actors: ActorName[] }
  /** Events by virsh's name (lifecycle, graphics, …); empty: any. */
  | { kind: "libvirt"; events: string[] };

export interface RuleEvidence {
  /** The technique's name in hv's recordings, when the rule names one. */
  technique?: string;
  items: EvidenceItem[];
  /** Declared in the rule (`hv.evidence`) rather than taken from its logsource. */
  declared: boolean;
}

const actorList = z.array(z.enum(ACTOR_NAMES as [ActorName, ...ActorName[]])).min(1);
const strings = z.array(z.string().min(1)).min(1);
const path = z.string().regex(/^\//, "an absolute path");
const argValues = z.array(z.number().int().nonnegative()).min(1);
const by = { by: z.array(path).min(1).optional(), actors: actorList.optional() };
const itemSchema = z.union([
  z.strictObject({ exec: z.union([z.literal("any"), z.array(path).min(1)]), naming: strings.optional(), parent: z.array(path).min(1).optional(), actors: actorList.optional() }),
  z.strictObject({ syscall: strings, a0: argValues.optional(), a2: argValues.optional(), ...by }),
  z.strictObject({ read: z.array(path).min(1), ...by }),
  z.strictObject({ write: z.array(path).min(1), ...by }),
  z.strictObject({ connect: z.array(path).min(1), ...by }),
  z.strictObject({ record: z.array(z.string().regex(/^[A-Z_]+$/, "a record type in capitals")).min(1), actors: actorList.optional() }),
  z.strictObject({ libvirt: strings }),
]);
const sectionSchema = z.strictObject({ technique: z.string().regex(/^[a-z0-9_]+$/).optional(), actors: actorList.optional(), evidence: z.array(itemSchema).min(1) });

/** Where a program that is not named comes from: hv's probes use a path no audit rule singles out. */
const SOME_PROGRAM = "/usr/local/bin/hv-probe";

/** The rule's evidence: declared, or its logsource's default; a string says what is wrong (with the line). */
export function evidenceOf(doc: RuleDoc): RuleEvidence | string | undefined {
  if (doc.hv !== undefined) {
    const r = sectionSchema.safeParse(doc.hv.value);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      return `${doc.file}:${doc.hv.line}: hv.${issue.path.map(String).join(".")}: ${issue.message}`;
    }
    const actors = r.data.actors ?? ACTOR_NAMES;
    return { declared: true, ...(r.data.technique && { technique: r.data.technique }), items: r.data.evidence.map((i) => toItem(i, actors)) };
  }
  const ls = doc.logsource;
  // Rules over libvirt's own events need the libvirt collector, no audit rule.
  if (ls.product === "hv" && ls.service === "libvirt") return { declared: false, items: [{ kind: "libvirt", events: [] }] };
  if (ls.product !== "linux" && !(ls.product === "hv" && ls.category)) return undefined;
  // Generic rules: what their category needs from audit at the least.
  const all = ACTOR_NAMES;
  if (ls.category === "process_creation") return { declared: false, items: [{ kind: "exec", programs: "any", actors: all }] };
  if (ls.category === "file_event") return { declared: false, items: [{ kind: "write", paths: ["/etc/"], by: [SOME_PROGRAM], actors: all }] };
  if (ls.category === "network_connection") return { declared: false, items: [{ kind: "syscall", syscalls: ["connect"], by: [SOME_PROGRAM], actors: all }] };
  return undefined;
}

type ParsedItem = z.infer<typeof itemSchema>;

function toItem(i: ParsedItem, actors: readonly ActorName[]): EvidenceItem {
  const who = ("actors" in i && i.actors ? i.actors : [...actors]) as ActorName[];
  const tools = "by" in i && i.by ? i.by : [SOME_PROGRAM];
  if ("exec" in i) return { kind: "exec", programs: i.exec, ...(i.naming && { naming: i.naming }), ...(i.parent && { parent: i.parent }), actors: who };
  if ("syscall" in i) return { kind: "syscall", syscalls: i.syscall, ...(i.a0 && { a0: i.a0 }), ...(i.a2 && { a2: i.a2 }), by: tools, actors: who };
  if ("read" in i) return { kind: "read", paths: i.read, by: tools, actors: who };
  if ("write" in i) return { kind: "write", paths: i.write, by: tools, actors: who };
  if ("connect" in i) return { kind: "connect", paths: i.connect, by: tools, actors: who };
  if ("record" in i) return { kind: "record", types: i.record, actors: who };
  return { kind: "libvirt", events: i.libvirt };
}

export function describeItem(item: EvidenceItem): string {
  switch (item.kind) {
    case "exec":
      return `start of ${item.programs === "any" ? "any program" : item.programs.join(", ")}${item.naming ? ` naming ${item.naming.join(" or ")}` : ""}${item.parent ? ` by ${item.parent.join(", ")}` : ""}`;
    case "syscall":
      return `${item.syscalls.join("/")}()${item.a0 ? ` with a0 ${item.a0.map((n) => `0x${n.toString(16)}`).join("/")}` : ""}${item.a2 ? ` with a2 ${item.a2.join("/")}` : ""}`;
    case "read":
      return `reads of ${item.paths.join(", ")}`;
    case "write":
      return `writes to ${item.paths.join(", ")}`;
    case "connect":
      return `connect() to ${item.paths.join(", ")}`;
    case "record":
      return `${item.types.join("/")} records`;
    case "libvirt":
      return `libvirt ${item.events.length > 0 ? item.events.join("/") : "any"} events`;
  }
}

// ---------------------------------------------------------------------------------------------
// Probes: concrete events to put to a set of audit rules.

export interface Probe {
  probe: AuditProbe;
  actor: ActorName;
  /** "execve of /usr/bin/virsh by sudo", for reports. */
  label: string;
}

/** One probe per program/path/syscall × actor; an exec with a parent adds the parent's start. */
export function probesOf(item: EvidenceItem): Probe[] {
  if (item.kind === "libvirt") return [];
  const out: Probe[] = [];
  for (const actor of item.actors) {
    const a = ACTORS[actor];
    const add = (probe: AuditProbe, label: string): void => void out.push({ probe, actor, label: `${label} by ${actor}` });
    switch (item.kind) {
      case "exec":
        for (const p of item.programs === "any" ? [SOME_PROGRAM] : item.programs.map(examplePath)) add(execProbe(p, a), `start of ${p}`);
        for (const p of (item.parent ?? []).map(examplePath)) add(execProbe(p, a), `start of ${p} (parent)`);
        break;
      case "syscall":
        for (const sc of item.syscalls) {
          for (const a0 of item.a0 ?? [undefined]) {
            for (const a2 of item.a2 ?? [undefined]) {
              const args = { ...(a0 !== undefined && { a0 }), ...(a2 !== undefined && { a2 }) };
              const first = a0 === undefined ? "" : `0x${a0.toString(16)}`;
              const shown = a2 === undefined ? first : `${first || "_"}, _, ${a2}`;
              for (const exe of item.by) add({ kind: "syscall", syscall: sc, ...(Object.keys(args).length > 0 && { args }), exe, actor: a }, `${sc}(${shown}) from ${exe}`);
            }
          }
        }
        break;
      case "read":
      case "write":
        for (const p of item.paths.map(examplePath)) {
          for (const exe of item.by) {
            // open(O_RDONLY) / open(O_WRONLY|O_CREAT|O_TRUNC); a write may also be a rename over the file (sed -i).
            add({ kind: "syscall", syscall: "openat", args: { a2: item.kind === "read" ? 0 : 0x241 }, paths: [p], exe, actor: a }, `open of ${p} for ${item.kind === "read" ? "reading" : "writing"} by ${exe}`);
            if (item.kind === "write") add({ kind: "syscall", syscall: "rename", paths: [p], exe, actor: a }, `rename onto ${p} by ${exe}`);
          }
        }
        break;
      case "connect":
        for (const p of item.paths) for (const exe of item.by) add({ kind: "syscall", syscall: "connect", paths: [p], exe, actor: a }, `connect to ${p} by ${exe}`);
        break;
      case "record":
        for (const t of item.types) add({ kind: "record", type: t, user: USER_SPACE_RECORD.test(t), actor: a }, `${t} record`);
        break;
    }
  }
  return out;
}

const USER_SPACE_RECORD = /^(USER|VIRT|ADD|DEL|GRP|CRED|ACCT|CHGRP|CHUSER|SERVICE|SYSTEM|ROLE|USYS|TRUSTED|ANOM_(LOGIN|ROOT|EXEC|ADD|DEL|MOD|AMTU|CRYPTO|RBAC|MAX))/;

function execProbe(program: string, actor: AuditActor): AuditProbe {
  return { kind: "syscall", syscall: "execve", paths: [program], exe: program, actor };
}

/** A concrete path for a pattern: dir/ → dir/x, * → x. */
function examplePath(pattern: string): string {
  const p = pattern.endsWith("/") ? `${pattern}hv-probe` : pattern;
  return p.replace(/\*+/g, "x");
}

// ---------------------------------------------------------------------------------------------
// Matching recorded events: is this item's fact in the event?

/** Does the event show the item's fact? (The actor is not checked: that is the recording's.) */
export function eventShows(item: EvidenceItem, e: HvEvent): boolean {
  if (item.kind === "libvirt") return e.event.module === "libvirt" && (item.events.length === 0 || item.events.includes(e.libvirt?.event ?? ""));
  if (e.event.module !== "audit" || !e.audit) return false;
  const recs = e.audit.records;
  switch (item.kind) {
    case "exec":
      if (!isExec(e)) return false;
      if (item.programs !== "any" && !item.programs.some((p) => pathMatches(p, e.process?.executable))) return false;
      if (item.naming && !item.naming.some((n) => (e.process?.command_line ?? "").includes(n))) return false;
      return !item.parent || item.parent.some((p) => pathMatches(p, e.process?.parent?.executable));
    case "syscall": {
      if (!item.syscalls.includes(e.audit.syscall ?? "")) return false;
      const sc = recs.find((r) => r.type === "SYSCALL")?.fields;
      const argIn = (name: "a0" | "a2", allowed: number[] | undefined): boolean => !allowed || (sc?.[name] != null && allowed.includes(parseInt(sc[name]!, 16)));
      return argIn("a0", item.a0) && argIn("a2", item.a2);
    }
    case "read":
    case "write":
      return accessKinds(e).includes(item.kind) && eventPaths(e).some((p) => item.paths.some((pat) => pathMatches(pat, p)));
    case "connect":
      return e.audit.syscall === "connect" && [e.destination?.path, ...eventPaths(e)].some((p) => item.paths.some((pat) => pathMatches(pat, p)));
    case "record":
      return recs.some((r) => item.types.includes(r.type));
  }
}

function isExec(e: HvEvent): boolean {
  return (e.event.action === "execve" || e.event.action === "execveat") && e.event.outcome !== "failure";
}

/**
 * Reads, writes or both. An open says which by its access mode; any other file syscall the decoder
 * calls a creation, change or deletion writes: rename, unlink, truncate, link, and attribute
 * changes (chmod, chown, xattrs: a hook script "made executable" is a change hv's rules select).
 */
function accessKinds(e: HvEvent): Array<"read" | "write"> {
  const sc = e.audit?.syscall ?? "";
  const arg = sc === "open" ? "a1" : sc === "openat" ? "a2" : undefined;
  if (arg) {
    const flags = e.audit!.records.find((r) => r.type === "SYSCALL")?.fields[arg];
    if (flags == null) return [];
    const mode = parseInt(flags, 16) & 3;
    return mode === 0 ? ["read"] : mode === 1 ? ["write"] : ["read", "write"];
  }
  return e.event.category.includes("file") && e.event.type.some((t) => t === "creation" || t === "change" || t === "deletion") ? ["write"] : [];
}

/** Every path the event's PATH records name, made absolute with its CWD record where they follow it. */
export function eventPaths(e: HvEvent): string[] {
  const recs: AuditRecord[] = e.audit?.records ?? [];
  const follows = namesFollowCwd(recs);
  return recs.filter((r) => r.type === "PATH" && r.fields.name && r.fields.name !== "(null)").map((r) => resolveName(r.fields.name!, e.process?.working_directory, follows));
}

/** A pattern (dir/ = under it, * = within one path segment) against a path, both merged-/usr. */
export function pathMatches(pattern: string, path: string | undefined): boolean {
  if (!path) return false;
  const p = canonicalPath(path);
  const pat = canonicalPath(pattern) + (pattern.endsWith("/") ? "/" : "");
  if (pat.endsWith("/")) return p.startsWith(pat);
  if (!pat.includes("*")) return p === pat;
  const re = new RegExp(`^${pat.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`);
  return re.test(p);
}

// ---------------------------------------------------------------------------------------------
// From a recorded event back to probes: the same act, put to other audit rules.

/**
 * The probes behind an event that shows the item's fact (eventShows): the syscall as the kernel
 * saw it (name, arguments, paths, program, the actor's ids, result), or the record; for an exec
 * with a parent, also the parent's start.
 */
export function probesFromEvent(item: EvidenceItem, e: HvEvent): AuditProbe[] {
  const recs = e.audit?.records ?? [];
  if (item.kind === "libvirt") return [];
  const sc = recs.find((r) => r.type === "SYSCALL")?.fields ?? {};
  const actor: AuditActor = { uid: Number(sc.uid ?? e.user?.id ?? 0), euid: Number(sc.euid ?? sc.uid ?? 0) };
  const auid = sc.auid ?? recs.find((r) => r.fields.auid != null)?.fields.auid;
  if (auid != null && auid !== "4294967295") actor.auid = Number(auid);
  if (item.kind === "record") {
    return item.types.filter((t) => recs.some((r) => r.type === t)).map((t) => ({ kind: "record", type: t, user: USER_SPACE_RECORD.test(t), actor }));
  }
  const args: Partial<Record<"a0" | "a1" | "a2" | "a3", number>> = {};
  for (const a of ["a0", "a1", "a2", "a3"] as const) if (sc[a] != null) args[a] = parseInt(sc[a]!, 16);
  const probe: AuditProbe = {
    kind: "syscall",
    syscall: e.audit?.syscall ?? "",
    args,
    paths: item.kind === "connect" && e.destination?.path ? [e.destination.path, ...eventPaths(e)] : eventPaths(e),
    exe: e.process?.executable ?? "",
    actor,
    exit: e.audit?.exit ?? 0,
  };
  const parent = item.kind === "exec" && item.parent ? e.process?.parent?.executable : undefined;
  return parent ? [probe, { kind: "syscall", syscall: "execve", paths: [parent], exe: parent, actor }] : [probe];
}

/**
 * What makes two recordings' events the same fact for an item: the act, not its pid, time or
 * temporary names (numbers and mktemp suffixes are blurred).
 */
export function factOf(item: EvidenceItem, e: HvEvent): string {
  return blur(rawFact(item, e));
}

function blur(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "UUID")
    .replace(/\b0x[0-9a-f]+\b/gi, "0xN")
    .replace(/\.[A-Za-z0-9]{6}(?=\/|\s|$)/g, ".X")
    // sed -i writes a temporary sedXXXXXX beside the file and renames it over the file
    .replace(/\/sed[A-Za-z0-9]{6}(?=[/,\s]|$)/g, "/sedX")
    .replace(/\d+/g, "N");
}

function rawFact(item: EvidenceItem, e: HvEvent): string {
  const exe = e.process?.executable ?? "";
  switch (item.kind) {
    case "exec":
      return `exec ${exe} ${e.process?.command_line ?? ""}`;
    case "syscall":
      // a0 is ptrace's request, stable; for process_vm_readv it is a pid, not part of the act
      return `${e.audit?.syscall} ${exe} ${item.a0 ? recsA0(e) : ""}`;
    case "read":
    case "write":
    case "connect": {
      const paths = [e.destination?.path, ...eventPaths(e)].filter((p) => p !== undefined && item.paths.some((pat) => pathMatches(pat, p)));
      return `${e.audit?.syscall} ${exe} ${[...new Set(paths)].sort().join(",")}`;
    }
    case "record":
      return item.types.filter((t) => e.audit?.records.some((r) => r.type === t)).join(",");
    case "libvirt":
      return `${e.libvirt?.event} ${e.vm?.name ?? ""}`;
  }
}

function recsA0(e: HvEvent): string {
  return e.audit?.records.find((r) => r.type === "SYSCALL")?.fields.a0 ?? "";
}
