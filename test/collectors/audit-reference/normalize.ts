// One group of audit records → one normalized Event. The raw records stay on the event
// (audit.records), so anything not lifted into ECS fields here is still there for a rule.

import type { AuditRecord, EndpointFields, FileFields, HvEvent, ProcessFields, UserFields } from "../../../src/events/event.js";
import type { RecordGroup } from "./coalesce.js";
import { archName, syscallName } from "./syscalls.js";
import type { ParsedRecord } from "./parse.js";
import { decodeSockaddr } from "./sockaddr.js";

const PROCESS_START = new Set(["execve", "execveat"]);
const NETWORK_OUT = new Set(["connect", "sendto", "sendmsg", "sendmmsg"]);
const NETWORK_IN = new Set(["bind", "accept", "accept4", "recvfrom", "recvmsg", "listen"]);
const FILE_CREATE = new Set(["creat", "mkdir", "mkdirat", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat"]);
const FILE_DELETE = new Set(["unlink", "unlinkat", "rmdir"]);
const FILE_CHANGE = new Set([
  "rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown",
  "truncate", "ftruncate", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
  "utime", "utimes", "utimensat", "futimesat",
]);
const MODULE_LOAD = new Set(["init_module", "finit_module", "delete_module"]);
const UNSET_ID = "4294967295";

export function normalizeGroup(group: RecordGroup): HvEvent {
  const records = group.records.map(toAuditRecord);
  const syscall = group.records.find((r) => r.type === "SYSCALL");
  const primary = syscall ?? group.records[0];
  const primaryType = primary?.type ?? "UNKNOWN";
  const arch = syscall?.fields.arch ?? undefined;
  const scName = syscall ? resolveSyscall(syscall) : undefined;

  const event: HvEvent = {
    "@timestamp": new Date(group.timeMs).toISOString(),
    event: {
      id: eventId(group),
      kind: "event",
      module: "audit",
      action: scName ?? primaryType.toLowerCase(),
      category: [],
      type: [],
      outcome: outcomeOf(primary),
      sequence: group.serial,
    },
    audit: {
      serial: group.serial,
      time: group.time,
      type: primaryType,
      records,
    },
  };
  // A timeout close is not marked: kernels before 3.x write no EOE, and their events are whole.
  if (group.late || group.evicted) event.event.partial = true;
  if (group.node !== undefined) {
    event.audit!.node = group.node;
    event.host = { name: group.node };
  }
  if (arch) event.audit!.arch = archName(arch);
  if (scName) event.audit!.syscall = scName;
  else if (syscall?.fields.syscall) event.audit!.syscall = syscall.fields.syscall;

  const first = primary?.fields ?? {};
  const keys = splitKeys(syscall?.fields.key ?? first.key);
  if (keys.length > 0) event.audit!.key = keys;
  if (first.ses && first.ses !== UNSET_ID) event.audit!.session = first.ses;
  const result = first.success ?? first.res;
  if (result) event.audit!.result = result;
  // io_uring operations are audited as URINGOP, without a SYSCALL; their exit= is the op's result.
  const exitSource = syscall ?? group.records.find((r) => r.type === "URINGOP");
  const exit = Number(exitSource?.fields.exit ?? undefined);
  if (Number.isInteger(exit)) event.audit!.exit = exit;

  const proc = processOf(group.records);
  const target = targetOf(group.records, scName);
  if (target) proc.target = target;
  if (Object.keys(proc).length > 0) event.process = proc;
  const user = userOf(primary);
  if (Object.keys(user).length > 0) event.user = user;
  const file = fileOf(group.records, proc.working_directory);
  if (file) event.file = file;
  addNetwork(event, group.records, scName, primary);
  classify(event, scName, primaryType, group.records);
  return event;
}

function eventId(group: RecordGroup): string {
  const base = `audit:${group.node ?? ""}:${group.time}:${group.serial}`;
  // A late record forms an event of its own; it must not collide with the event it missed.
  return group.late ? `${base}:late:${group.records[0]?.type ?? ""}` : base;
}

function resolveSyscall(rec: ParsedRecord): string | undefined {
  const enriched = rec.enriched?.SYSCALL;
  if (enriched) return enriched;
  const { arch, syscall } = rec.fields;
  if (!arch || !syscall) return undefined;
  return syscallName(arch, syscall);
}

function toAuditRecord(rec: ParsedRecord): AuditRecord {
  const out: AuditRecord = { type: rec.type, fields: rec.type === "EXECVE" ? joinExecveChunks(rec.fields) : rec.fields };
  if (rec.typeNum !== undefined) out.typeNum = rec.typeNum;
  if (rec.enriched) out.enriched = rec.enriched;
  return out;
}

/**
 * A long argument arrives as aN_len=L aN[0]=… aN[1]=…, each chunk hex or quoted; the chunks are
 * joined as bytes (a chunk boundary may split a UTF-8 character) and replace the parts with aN.
 */
function joinExecveChunks(fields: Record<string, string | null>): Record<string, string | null> {
  let chunked: Map<string, Buffer[]> | undefined;
  const out: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(fields)) {
    const bracket = key.indexOf("[");
    if (bracket > 0 && key.endsWith("]")) {
      chunked ??= new Map();
      const arg = key.slice(0, bracket);
      const parts = chunked.get(arg) ?? [];
      parts[Number(key.slice(bracket + 1, -1))] = chunkBytes(value ?? "");
      chunked.set(arg, parts);
      continue;
    }
    if (/^a\d+_len$/.test(key)) continue;
    out[key] = value;
  }
  if (chunked) {
    for (const [arg, parts] of chunked) out[arg] = Buffer.concat(parts.filter(Boolean)).toString("utf8");
  }
  return out;
}

function chunkBytes(value: string): Buffer {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) return Buffer.from(value.slice(1, -1), "utf8");
  return /^(?:[0-9A-Fa-f]{2})*$/.test(value) ? Buffer.from(value, "hex") : Buffer.from(value, "utf8");
}

function processOf(raw: ParsedRecord[]): ProcessFields {
  const proc: ProcessFields = {};
  const src = raw.find((r) => r.type === "SYSCALL") ?? raw.find((r) => r.fields.pid !== undefined);
  const f = src?.fields ?? {};
  setInt(proc, "pid", f.pid);
  setInt(proc, "ppid", f.ppid);
  if (f.exe && f.exe !== "?") proc.executable = f.exe;
  if (f.comm && f.comm !== "?") proc.name = f.comm;
  else if (proc.executable) proc.name = basename(proc.executable);
  if (f.tty && f.tty !== "(none)") proc.tty = f.tty;

  const args = execveArgs(raw);
  if (args) {
    proc.args = args;
    proc.command_line = args.join(" ");
  }
  const title = raw.find((r) => r.type === "PROCTITLE")?.fields.proctitle;
  if (title) proc.title = title;
  // sudo's USER_CMD carries the command's directory as cwd= in its message (no CWD record).
  const cwd = raw.find((r) => r.type === "CWD")?.fields.cwd ?? (src?.type === "USER_CMD" ? src.fields.cwd : undefined);
  if (cwd) proc.working_directory = cwd;
  return proc;
}

const MEMORY_ACCESS = new Set(["process_vm_readv", "process_vm_writev"]);

/** The process a syscall acts on: OBJ_PID (ptrace, kill), a0 of process_vm_readv/writev, /proc/PID/mem. */
function targetOf(raw: ParsedRecord[], sc: string | undefined): ProcessFields["target"] {
  const obj = raw.find((r) => r.type === "OBJ_PID")?.fields;
  if (obj?.opid) {
    const target: NonNullable<ProcessFields["target"]> = { pid: Number(obj.opid) };
    if (obj.ocomm) target.name = obj.ocomm;
    return target;
  }
  if (sc && MEMORY_ACCESS.has(sc)) {
    const a0 = raw.find((r) => r.type === "SYSCALL")?.fields.a0;
    const pid = a0 ? parseInt(a0, 16) : NaN;
    return Number.isInteger(pid) && pid > 0 ? { pid } : undefined;
  }
  const mem = raw.filter((r) => r.type === "PATH").map((r) => /^\/proc\/(\d+)\/mem$/.exec(r.fields.name ?? "")).find((m) => m);
  return mem ? { pid: Number(mem[1]) } : undefined;
}

/**
 * The chunks of one long argument may be spread over several EXECVE records (a1[0] in the first,
 * a1[1] in the next, …), so they are joined over all of them, not record by record.
 */
function execveArgs(raw: ParsedRecord[]): string[] | undefined {
  const execves = raw.filter((r) => r.type === "EXECVE");
  if (execves.length === 0) return undefined;
  const all = joinExecveChunks(Object.assign({}, ...execves.map((r) => r.fields)) as Record<string, string | null>);
  const argc = Number(all.argc);
  const count = Number.isInteger(argc) && argc >= 0 && argc <= 100_000 ? argc : countArgs(all);
  const args: string[] = [];
  for (let i = 0; i < count; i++) args.push(all[`a${i}`] ?? "");
  return args;
}

function countArgs(fields: Record<string, string | null>): number {
  let n = 0;
  while (`a${n}` in fields) n++;
  return n;
}

function userOf(rec: ParsedRecord | undefined): UserFields {
  const user: UserFields = {};
  if (!rec) return user;
  const f = rec.fields;
  const e = rec.enriched ?? {};
  if (f.uid != null) user.id = f.uid;
  if (e.UID) user.name = e.UID;
  if (f.euid != null) user.effective = e.EUID ? { id: f.euid, name: e.EUID } : { id: f.euid };
  if (f.suid != null) user.saved = { id: f.suid };
  if (f.auid != null && f.auid !== UNSET_ID) user.audit = e.AUID ? { id: f.auid, name: e.AUID } : { id: f.auid };
  if (f.gid != null) user.group = e.GID ? { id: f.gid, name: e.GID } : { id: f.gid };
  // USER_* records name the account acted on (acct=), which is who the event is about.
  if (f.acct && f.acct !== "?" && rec.type !== "SYSCALL") user.name = f.acct;
  return user;
}

function fileOf(raw: ParsedRecord[], cwd: string | undefined): FileFields | undefined {
  const paths = raw.filter((r) => r.type === "PATH");
  if (paths.length === 0) return undefined;
  // The object of the call is the last non-PARENT item (for execve item 0 is the program, later
  // items are the interpreter and loader; rename's CREATE comes after DELETE).
  const objects = paths.filter((p) => nameType(p) !== "PARENT");
  const chosen = pickFileItem(objects) ?? paths[paths.length - 1];
  const f = chosen?.fields;
  if (!f?.name) return undefined;
  const path = resolveName(f.name, cwd, namesFollowCwd(raw));
  const file: FileFields = { path, name: basename(path), directory: dirname(path) };
  if (f.inode) file.inode = f.inode;
  if (f.mode) file.mode = f.mode;
  if (f.ouid) file.uid = f.ouid;
  if (f.ogid) file.gid = f.ogid;
  if (f.dev) file.device = f.dev;
  const type = nameType(chosen);
  if (type) file.type = type.toLowerCase();
  return file;
}

// Syscalls whose first argument is a directory fd the PATH names are relative to.
const DIRFD_FIRST = new Set([
  "openat", "openat2", "mkdirat", "mknodat", "fchownat", "futimesat", "newfstatat", "unlinkat", "renameat", "renameat2",
  "linkat", "readlinkat", "fchmodat", "fchmodat2", "faccessat", "faccessat2", "utimensat", "execveat", "name_to_handle_at", "statx",
]);
const AT_FDCWD = "ffffff9c";

/**
 * Whether the event's relative PATH names are relative to its CWD record: not when the call took a
 * directory fd (openat(dirfd, "x") from tar or find walking a tree): the log does not say which
 * directory that was, so such a name stays relative rather than being joined to the wrong one.
 */
export function namesFollowCwd(raw: ReadonlyArray<{ type: string; fields: Record<string, string | null> }>): boolean {
  const sc = raw.find((r) => r.type === "SYSCALL")?.fields;
  if (!sc) return true;
  const name = sc.arch && sc.syscall ? syscallName(sc.arch, sc.syscall) : undefined;
  return !name || !DIRFD_FIRST.has(name) || sc.a0 == null || sc.a0.toLowerCase() === AT_FDCWD;
}

/** A PATH name made absolute with the CWD when it is relative to it; otherwise as recorded. */
export function resolveName(name: string, cwd: string | undefined, followsCwd: boolean): string {
  return name.startsWith("/") || !cwd || !followsCwd ? name : joinPath(cwd, name);
}

/** Kernels before 3.x called it objtype. */
function nameType(p: ParsedRecord | undefined): string | undefined {
  return p?.fields.nametype ?? p?.fields.objtype ?? undefined;
}

function pickFileItem(objects: ParsedRecord[]): ParsedRecord | undefined {
  if (objects.length === 0) return undefined;
  const created = objects.find((p) => nameType(p) === "CREATE");
  if (created) return created;
  // mount and friends list an UNKNOWN item without inode first; a known one says more.
  return objects.find((p) => nameType(p) !== "UNKNOWN") ?? objects[0];
}

function addNetwork(event: HvEvent, raw: ParsedRecord[], sc: string | undefined, primary: ParsedRecord | undefined): void {
  const sockaddr = raw.find((r) => r.type === "SOCKADDR")?.fields.saddr;
  if (sockaddr) {
    const addr = decodeSockaddr(sockaddr);
    if (addr) {
      const endpoint: EndpointFields = {};
      if (addr.ip) endpoint.ip = addr.ip;
      if (addr.port !== undefined) endpoint.port = addr.port;
      if (addr.path !== undefined) endpoint.path = addr.path;
      if (sc && NETWORK_IN.has(sc)) event.source = endpoint;
      else event.destination = endpoint;
      event.network = { type: addr.family };
      if (sc && NETWORK_OUT.has(sc)) event.network.direction = "egress";
      else if (sc && NETWORK_IN.has(sc)) event.network.direction = "ingress";
    }
  }
  const addr = primary?.fields.addr;
  if (primary && primary.type !== "SYSCALL" && addr && addr !== "?" && /^[0-9a-fA-F:.]+$/.test(addr)) {
    event.source = { ...event.source, ip: addr };
  }
}

function classify(event: HvEvent, sc: string | undefined, type: string, raw: ParsedRecord[]): void {
  const cat = event.event.category;
  const typ = event.event.type;
  if (sc) {
    if (PROCESS_START.has(sc)) push(cat, typ, "process", "start");
    else if (sc === "kill" || sc === "tkill" || sc === "tgkill") push(cat, typ, "process", "end");
    else if (sc === "ptrace") push(cat, typ, "process", "access");
    else if (NETWORK_OUT.has(sc)) push(cat, typ, "network", "connection");
    else if (NETWORK_IN.has(sc)) push(cat, typ, "network", sc === "bind" || sc === "listen" ? "start" : "connection");
    else if (MODULE_LOAD.has(sc)) push(cat, typ, "driver", sc === "delete_module" ? "end" : "start");
    else if (FILE_CREATE.has(sc)) push(cat, typ, "file", "creation");
    else if (FILE_DELETE.has(sc)) push(cat, typ, "file", "deletion");
    else if (FILE_CHANGE.has(sc)) push(cat, typ, "file", "change");
    else if (raw.some((r) => r.type === "PATH")) push(cat, typ, "file", fileTypeFromPaths(sc, raw));
  }
  if (type.startsWith("USER_AUTH") || type === "USER_ACCT" || type === "USER_CHAUTHTOK" || type.startsWith("CRED_")) {
    push(cat, typ, "authentication", "info");
  } else if (type === "USER_LOGIN" || type === "USER_LOGOUT" || type === "LOGIN") {
    push(cat, typ, "session", type === "USER_LOGOUT" ? "end" : "start");
  } else if (type === "USER_START" || type === "USER_END") {
    push(cat, typ, "session", type === "USER_END" ? "end" : "start");
  } else if (/^(ADD|DEL)_(USER|GROUP)$|^USER_MGMT$|^GRP_MGMT$|^ACCT_(UN)?LOCK$/.test(type)) {
    push(cat, typ, "iam", type.startsWith("DEL") ? "deletion" : type.startsWith("ADD") ? "creation" : "change");
  } else if (type === "USER_CMD") {
    push(cat, typ, "process", "start");
  } else if (type === "SERVICE_START" || type === "SERVICE_STOP") {
    push(cat, typ, "process", type === "SERVICE_STOP" ? "end" : "start");
  } else if (type === "CONFIG_CHANGE" || type.startsWith("DAEMON_") || type === "MAC_POLICY_LOAD" || type === "MAC_STATUS" || type === "NETFILTER_CFG") {
    push(cat, typ, "configuration", "change");
  } else if (type === "KERN_MODULE") {
    push(cat, typ, "driver", "start");
  } else if (type.startsWith("ANOM_") || type === "AVC" || type === "USER_AVC" || type.startsWith("APPARMOR") || type === "SELINUX_ERR" || type === "SECCOMP") {
    push(cat, typ, "intrusion_detection", "info");
  } else if (type.startsWith("VIRT_")) {
    push(cat, typ, "host", "info");
  }
  if (cat.length === 0) push(cat, typ, "host", "info");
}

function fileTypeFromPaths(sc: string, raw: ParsedRecord[]): string {
  const types = raw.filter((r) => r.type === "PATH").map(nameType);
  if (types.includes("CREATE")) return "creation";
  if (types.includes("DELETE")) return "deletion";
  if (sc === "creat") return "change";
  if (!sc.startsWith("open")) return "info";
  // An open for writing changes the file (ECS "change"); one for reading only accesses it.
  return opensForWriting(sc, raw.find((r) => r.type === "SYSCALL")) ? "change" : "access";
}

/** open (flags in a1) / openat (a2): the access mode is O_WRONLY or O_RDWR. openat2's flags are not in its arguments. */
function opensForWriting(sc: string, syscall: ParsedRecord | undefined): boolean {
  const arg = sc === "open" ? "a1" : sc === "openat" ? "a2" : undefined;
  const flags = arg ? syscall?.fields[arg] : undefined;
  return flags != null && (parseInt(flags, 16) & 3) !== 0;
}

function push(cat: string[], typ: string[], category: string, type: string): void {
  if (!cat.includes(category)) cat.push(category);
  if (!typ.includes(type)) typ.push(type);
}

function outcomeOf(rec: ParsedRecord | undefined): "success" | "failure" | "unknown" {
  const f = rec?.fields ?? {};
  const v = f.success ?? f.res ?? f.result;
  if (v === "yes" || v === "success" || v === "1") return "success";
  if (v === "no" || v === "failed" || v === "failure" || v === "0") return "failure";
  return "unknown";
}

function splitKeys(key: string | null | undefined): string[] {
  if (!key || key === "(null)") return [];
  return key.split("\u0001").filter((k) => k.length > 0);
}

function setInt<T extends object>(obj: T, prop: keyof T, value: string | null | undefined): void {
  if (value == null) return;
  const n = Number(value);
  if (Number.isFinite(n)) (obj as Record<keyof T, unknown>)[prop] = n;
}

export function basename(path: string): string {
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  const slash = trimmed.lastIndexOf("/");
  return slash < 0 ? trimmed : trimmed.slice(slash + 1);
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

function joinPath(dir: string, name: string): string {
  const parts = (dir.endsWith("/") ? dir + name : `${dir}/${name}`).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return "/" + out.join("/");
}
