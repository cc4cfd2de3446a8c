// Sigma logsources and field names onto HvEvent. docs/sigma-mapping.md is the one table that
// documents this file; keep them in step (test/detectors/sigma/mapping.test.ts checks names).

import type { AuditRecord, HvEvent } from "../../events/event.js";
import type { FieldAccessor } from "./context.js";

export interface Logsource {
  product?: string;
  category?: string;
  service?: string;
}

/** Events one logsource selects, and how its field names read them. */
export interface Source {
  id: string;
  applies(e: HvEvent): boolean;
  resolve(field: string): FieldAccessor | { unsupported: string };
}

export type LogsourceResolution = { kind: "mapped"; source: Source } | { kind: "dormant"; reason: string };

export function describeLogsource(ls: Logsource): string {
  return (["product", "category", "service"] as const)
    .filter((k) => ls[k] !== undefined)
    .map((k) => `${k}:${ls[k]}`)
    .join(" ");
}

// ---------------------------------------------------------------------------------------------
// Generic readers.

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined);
const one = (v: unknown): string[] | undefined => {
  const s = str(v);
  return s === undefined ? undefined : [s];
};

// Every top-level field of HvEvent, written out so the compiler checks the list: a root added to
// (or removed from) the Event type without this table is a type error, not a rule that silently
// reports "unsupported field".
const EVENT_ROOT_TABLE: Record<keyof HvEvent, true> = {
  "@timestamp": true, event: true, host: true, process: true, user: true, file: true, source: true, destination: true,
  network: true, vm: true, tags: true, audit: true, libvirt: true, flow: true, observer: true, url: true, dns: true,
};
/** The roots ECS dotted names may start with. */
export const EVENT_ROOTS: ReadonlySet<string> = new Set(Object.keys(EVENT_ROOT_TABLE));

/** An ECS dotted name (`process.parent.executable`, `audit.records.type`): arrays fan out. */
export function ecsAccessor(path: string): FieldAccessor | { unsupported: string } {
  const parts = path === "@timestamp" ? ["@timestamp"] : path.split(".");
  if (!EVENT_ROOTS.has(parts[0]!)) return { unsupported: `field '${path}' is not an hv event field (roots: ${[...EVENT_ROOTS].join(", ")})` };
  return {
    key: `ecs:${path}`,
    read(e) {
      let cur: unknown[] = [e];
      for (const p of parts) {
        const next: unknown[] = [];
        for (const c of cur) {
          if (c === null || typeof c !== "object") continue;
          const v = (c as Record<string, unknown>)[p];
          if (Array.isArray(v)) next.push(...(v as unknown[]));
          else if (v !== undefined && v !== null) next.push(v);
        }
        cur = next;
      }
      const out = cur.map(str).filter((s): s is string => s !== undefined);
      return out.length > 0 ? out : undefined;
    },
  };
}

function fromEvent(key: string, get: (e: HvEvent) => unknown, derived = false): FieldAccessor {
  return { key, read: (e) => one(get(e)), derived };
}

// ---------------------------------------------------------------------------------------------
// product: linux, service: auditd — the raw records.

const records = (e: HvEvent): AuditRecord[] => e.audit?.records ?? [];

/**
 * A raw audit field: its values in every record that has it (also in ENRICHED fields, whose
 * names are upper case), so a rule matches if any record matches. `a0…aN` read the EXECVE
 * record's arguments when the event has one (that is what Sigma's auditd rules mean), else the
 * SYSCALL record's hex arguments a0–a3.
 */
export function auditAccessor(name: string): FieldAccessor {
  if (name === "type") return { key: "audit:type", read: (e) => nonEmpty(records(e).map((r) => r.type)) };
  if (name === "SYSCALL" || name === "syscall") {
    // By name (execve) and by number (59): the rule may say either.
    return {
      key: "audit:syscall",
      read(e) {
        const out: string[] = [];
        if (e.audit?.syscall) out.push(e.audit.syscall);
        for (const r of records(e)) {
          if (r.type !== "SYSCALL") continue;
          const n = r.fields.syscall;
          if (n) out.push(n);
          const named = r.enriched?.SYSCALL;
          if (named && !out.includes(named)) out.push(named);
        }
        return nonEmpty(out);
      },
    };
  }
  if (/^a\d+$/.test(name)) {
    return {
      key: `audit:${name}`,
      read(e) {
        const execve = records(e).filter((r) => r.type === "EXECVE");
        const from = execve.length > 0 ? execve : records(e).filter((r) => r.type === "SYSCALL");
        return nonEmpty(from.map((r) => r.fields[name]).filter((v): v is string => typeof v === "string"));
      },
    };
  }
  return {
    key: `audit:${name}`,
    read(e) {
      const out: string[] = [];
      for (const r of records(e)) {
        const v = r.fields[name] ?? r.enriched?.[name];
        if (typeof v === "string") out.push(v);
      }
      return nonEmpty(out);
    },
  };
}

function nonEmpty(xs: string[]): string[] | undefined {
  return xs.length > 0 ? xs : undefined;
}

// ---------------------------------------------------------------------------------------------
// Linux categories (Sysmon-for-Linux field names).

const user = (e: HvEvent): string | undefined => e.user?.name ?? e.user?.id;

const WINDOWS_ONLY = new Set([
  "OriginalFileName", "Product", "Company", "Description", "FileVersion", "Hashes", "md5", "sha1", "sha256", "Imphash",
  "IntegrityLevel", "ProcessGuid", "ParentProcessGuid", "LogonGuid", "TerminalSessionId", "ParentUser", "Signed", "Signature",
]);

function windowsOnly(field: string): { unsupported: string } {
  return { unsupported: `field '${field}' has no counterpart in Linux audit events (PE metadata, hashes or Sysmon-specific ids)` };
}

const processCreationFields: Record<string, FieldAccessor> = {
  Image: fromEvent("pc:Image", (e) => e.process?.executable),
  CommandLine: fromEvent("pc:CommandLine", (e) => e.process?.command_line),
  ParentImage: fromEvent("pc:ParentImage", (e) => e.process?.parent?.executable),
  ParentCommandLine: fromEvent("pc:ParentCommandLine", (e) => e.process?.parent?.command_line),
  User: fromEvent("pc:User", user),
  LogonId: fromEvent("pc:LogonId", (e) => e.user?.audit?.id ?? e.audit?.session),
  CurrentDirectory: fromEvent("pc:CurrentDirectory", (e) => e.process?.working_directory),
  ProcessId: fromEvent("pc:ProcessId", (e) => e.process?.pid),
  ParentProcessId: fromEvent("pc:ParentProcessId", (e) => e.process?.ppid ?? e.process?.parent?.pid),
};

const fileEventFields: Record<string, FieldAccessor> = {
  TargetFilename: fromEvent("fe:TargetFilename", (e) => e.file?.path),
  Image: processCreationFields.Image!,
  User: processCreationFields.User!,
  ProcessId: processCreationFields.ProcessId!,
};

const networkFields: Record<string, FieldAccessor> = {
  DestinationIp: fromEvent("nc:DestinationIp", (e) => e.destination?.ip),
  DestinationPort: fromEvent("nc:DestinationPort", (e) => e.destination?.port),
  SourceIp: fromEvent("nc:SourceIp", (e) => e.source?.ip),
  SourcePort: fromEvent("nc:SourcePort", (e) => e.source?.port),
  Protocol: fromEvent("nc:Protocol", (e) => e.network?.transport),
  Image: processCreationFields.Image!,
  User: processCreationFields.User!,
  ProcessId: processCreationFields.ProcessId!,
  // Sysmon's "did this host start it": egress (connect, outbound flows) is "true".
  Initiated: fromEvent("nc:Initiated", (e) => initiated(e), true),
};

function initiated(e: HvEvent): string | undefined {
  const d = e.network?.direction;
  if (d === "egress" || d === "outbound") return "true";
  if (d === "ingress" || d === "inbound") return "false";
  if (e.event.module === "audit" && e.event.action === "connect") return "true";
  return undefined;
}

const UNSUPPORTED_NETWORK: Record<string, string> = {
  DestinationHostname: "field 'DestinationHostname': hv does not resolve flow addresses to names yet",
  SourceHostname: "field 'SourceHostname': hv does not resolve flow addresses to names yet",
};

function table(category: string, fields: Record<string, FieldAccessor>, extra: Record<string, string> = {}): Source["resolve"] {
  return (field) => {
    const f = fields[field];
    if (f) return f;
    if (extra[field]) return { unsupported: extra[field] };
    if (WINDOWS_ONLY.has(field)) return windowsOnly(field);
    if (field.includes(".") || field === "@timestamp") return ecsAccessor(field);
    return { unsupported: `field '${field}' is not mapped for category ${category} (mapped: ${Object.keys(fields).join(", ")})` };
  };
}

// ---------------------------------------------------------------------------------------------
// Which events each logsource selects.

const isAudit = (e: HvEvent): boolean => e.event.module === "audit";
const isExec = (e: HvEvent): boolean => isAudit(e) && (e.event.action === "execve" || e.event.action === "execveat");

// open flags that mean "will write": O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND.
const WRITE_FLAGS = 0x1 | 0x2 | 0x40 | 0x200 | 0x400;

function isFileWrite(e: HvEvent): boolean {
  if (!isAudit(e)) return false;
  const cat = e.event.category;
  const typ = e.event.type;
  if (cat.includes("file") && (typ.includes("creation") || typ.includes("change"))) return true;
  if (records(e).some((r) => r.type === "PATH" && r.fields.nametype === "CREATE")) return true;
  const sc = e.event.action;
  const flagArg = sc === "open" ? "a1" : sc === "openat" ? "a2" : undefined;
  if (!flagArg) return false;
  const flags = records(e).find((r) => r.type === "SYSCALL")?.fields[flagArg];
  return flags !== null && flags !== undefined && (parseInt(flags, 16) & WRITE_FLAGS) !== 0;
}

// A connect() to the unspecified address goes nowhere but this host (Linux takes 0.0.0.0 and :: as
// local), as when sshd probes its own listening port: not a connection to an endpoint, and absent
// from the local-range filters SigmaHQ's network_connection rules carry.
const UNSPECIFIED = new Set(["0.0.0.0", "::"]);

function isConnection(e: HvEvent): boolean {
  if (e.event.module === "flow") return true;
  if (!isAudit(e) || !e.event.category.includes("network") || e.event.type.includes("start")) return false;
  if (e.destination?.ip !== undefined && UNSPECIFIED.has(e.destination.ip)) return false;
  return e.destination?.ip !== undefined || e.source?.ip !== undefined;
}

/**
 * Raw audit field names are lower case (ENRICHED ones upper case) and have no dots: `Image` or
 * `process.name` here is a mistake to report (an exception's ECS names then resolve as ECS),
 * not a field that is always absent.
 */
function auditField(name: string): FieldAccessor | { unsupported: string } {
  if (name.includes(".") || (/[a-z]/.test(name) && /[A-Z]/.test(name))) {
    return { unsupported: `field '${name}' is not an audit record field (those are lower case, ENRICHED ones upper case; Sysmon-style names need a category such as process_creation)` };
  }
  return auditAccessor(name);
}

const auditd: Source = { id: "linux/auditd", applies: isAudit, resolve: auditField };
// `product: linux` alone means any Linux log; hv's is the audit stream (mostly keyword rules
// about shell commands, which meet the exec command lines there).
const linuxAny: Source = { id: "linux/any", applies: isAudit, resolve: auditField };

const linuxCategories: Record<string, Source> = {
  process_creation: { id: "linux/process_creation", applies: isExec, resolve: table("process_creation", processCreationFields) },
  file_event: { id: "linux/file_event", applies: isFileWrite, resolve: table("file_event", fileEventFields) },
  network_connection: { id: "linux/network_connection", applies: isConnection, resolve: table("network_connection", networkFields, UNSUPPORTED_NETWORK) },
};

const hvServices: Record<string, Source> = {
  audit: { id: "hv/audit", applies: isAudit, resolve: ecsAccessor },
  libvirt: { id: "hv/libvirt", applies: (e) => e.event.module === "libvirt", resolve: ecsAccessor },
  flow: { id: "hv/flow", applies: (e) => e.event.module === "flow", resolve: ecsAccessor },
};
const hvAny: Source = { id: "hv/any", applies: () => true, resolve: ecsAccessor };

/** The source for a logsource, or why no hv collector produces it. */
export function resolveLogsource(ls: Logsource): LogsourceResolution {
  const dormant = (): LogsourceResolution => ({ kind: "dormant", reason: `no hv source produces logsource ${describeLogsource(ls) || "(empty)"}` });
  if (ls.product === "linux") {
    if (ls.service === "auditd" && ls.category === undefined) return { kind: "mapped", source: auditd };
    if (ls.service === undefined && ls.category === undefined) return { kind: "mapped", source: linuxAny };
    if (ls.service === undefined && ls.category !== undefined && linuxCategories[ls.category]) return { kind: "mapped", source: linuxCategories[ls.category]! };
    return dormant();
  }
  if (ls.product === "hv") {
    if (ls.category !== undefined) {
      const cat = linuxCategories[ls.category];
      if (!cat || ls.service !== undefined) return dormant();
      return { kind: "mapped", source: cat };
    }
    if (ls.service === undefined) return { kind: "mapped", source: hvAny };
    const svc = hvServices[ls.service];
    return svc ? { kind: "mapped", source: svc } : dormant();
  }
  return dormant();
}

/** Dormant rules still compile (so their mistakes show): any field name is accepted. */
export const permissiveResolve = (field: string): FieldAccessor => ({ key: `dormant:${field}`, read: () => undefined });

/**
 * What a keyword search (a selection that is a list of plain strings) looks through. For an exec
 * (an audit event with an EXECVE record): the command's arguments and its command line — what
 * Sigma's auditd keyword rules mean, since they are written against the EXECVE record alone
 * (`type: EXECVE` and 'init' with '0'/'6' is `init 0`, not `git init` next to a PATH record's
 * `ld-linux-x86-64.so.2` or a SYSCALL's `exit=0`). For another audit event of a process that has
 * a title (PROCTITLE): that title and the command lines — a keyword rule about commands
 * ('rsync ' with ':') must not meet the command in the title and the ':' of a PATH record's
 * `dev=fe:00`. For other audit events the raw record field values (ENRICHED ones too) and the
 * normalized command lines; for other events every string or number in the event.
 */
export function keywordText(e: HvEvent): string[] {
  const out: string[] = [];
  eachKeywordValue(e, (v) => out.push(v));
  return out;
}

/** keywordText's values one by one, without gathering them (the prefilter scans them as they come). */
export function eachKeywordValue(e: HvEvent, visit: (value: string) => void): void {
  if (e.audit) {
    const p = e.process;
    if (p?.args && hasExecveRecord(e.audit.records)) {
      for (let i = 0; i < p.args.length; i++) visit(p.args[i]!);
      if (p.command_line) visit(p.command_line);
      return;
    }
    if (p?.title) {
      visit(p.title);
      if (p.command_line !== undefined) visit(p.command_line);
      if (p.parent?.command_line !== undefined) visit(p.parent.command_line);
      return;
    }
    for (const r of e.audit.records) {
      const values = Object.values(r.fields);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== null && v !== undefined) visit(v);
      }
      if (r.enriched) {
        const enriched = Object.values(r.enriched);
        for (let i = 0; i < enriched.length; i++) visit(enriched[i]!);
      }
    }
    if (e.process?.command_line) visit(e.process.command_line);
    if (e.process?.parent?.command_line) visit(e.process.parent.command_line);
    return;
  }
  const walk = (v: unknown): void => {
    if (typeof v === "string") visit(v);
    else if (typeof v === "number") visit(String(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(e);
}

function hasExecveRecord(records: ReadonlyArray<{ type: string }>): boolean {
  for (let i = 0; i < records.length; i++) if (records[i]!.type === "EXECVE") return true;
  return false;
}

/** Field names documented per source, for docs and tests. */
export const MAPPED_FIELDS = {
  process_creation: Object.keys(processCreationFields),
  file_event: Object.keys(fileEventFields),
  network_connection: Object.keys(networkFields),
};
