// What a host's audit rules record: auditctl's rule syntax (a rules file, or `auditctl -l`) read
// into filters, and a model of the kernel's filtering that answers "would this event be
// recorded?" for a described event (an AuditProbe). `hv rules coverage` asks it for every piece
// of evidence a detection needs.
//
// The model follows kernel/auditsc.c: syscall-exit rules are tried in order and the first that
// matches decides (always: record, never: don't); rules on a file's inode (a watch or -F path= on
// a file) are tried afterwards and override; dir= (a watched directory) stays in order; the
// exclude list drops record types; the user list filters messages from user space (libvirtd's
// VIRT_*, shadow's USER_MGMT, …); records the kernel writes on its own (CONFIG_CHANGE,
// ANOM_PROMISCUOUS, NETFILTER_CFG) need no rule. Paths are compared as on a merged-/usr system
// (/bin, /sbin, /lib are /usr/…), which Debian 12 and NixOS both are in effect.

import { lstatSync, realpathSync } from "node:fs";
import { basename, dirname } from "node:path";
import { MissingProgramError, runProgram } from "../../events/programs.js";
import { SYSCALLS_I386, SYSCALLS_X86_64 } from "./tables.generated.js";

/** A person or program doing something: whose ids the kernel sees. `auid` undefined = unset (no login). */
export interface AuditActor {
  uid: number;
  euid: number;
  auid?: number;
  gid?: number;
}

/** One event the kernel might record: a syscall with its objects, or a record written on its own. */
export type AuditProbe =
  | {
      kind: "syscall";
      syscall: string;
      arch?: "b64" | "b32";
      /** Raw arguments a0–a3 where a rule might filter on them (ptrace request, open flags, …). */
      args?: Partial<Record<"a0" | "a1" | "a2" | "a3", number>>;
      /** Paths the kernel names in PATH records (the program for execve, the file for open). */
      paths?: string[];
      /** The executable of the process making the call (the new program for execve). */
      exe: string;
      actor: AuditActor;
      /** Return value: >= 0 success, negative errno. Default 0. */
      exit?: number;
    }
  | {
      kind: "record";
      /** Record type, e.g. ANOM_PROMISCUOUS, USER_MGMT, VIRT_CONTROL. */
      type: string;
      /** Written by user space (audit_log_user_message: USER_*, VIRT_*) rather than by the kernel. */
      user: boolean;
      exe?: string;
      actor?: AuditActor;
    };

export type AuditList = "exit" | "user" | "exclude" | "task" | "filesystem" | "io_uring" | "entry";

export interface AuditField {
  name: string;
  op: "=" | "!=" | "<" | ">" | "<=" | ">=" | "&" | "&=";
  value: string;
}

export interface AuditRule {
  /** The line as written (or as auditctl -l printed it). */
  text: string;
  line: number;
  list: AuditList;
  action: "always" | "never";
  /** Syscall names (lower case) or "all"; empty = every syscall. */
  syscalls: string[];
  fields: AuditField[];
  /** -C comparisons between two fields (kept, evaluated where both sides are known). */
  compares: AuditField[];
  keys: string[];
  /** A watch (-w) or -F path= on a file: an inode rule, tried after the exit list. */
  inode: boolean;
}

export interface AuditRuleSet {
  source: string;
  rules: AuditRule[];
  /** -e as the rules leave it: 0 disables auditing altogether. */
  enabled: 0 | 1 | 2;
  problems: Array<{ line: number; text: string; reason: string }>;
  /** Where paths really are on the host the rules are for (watches and dir= match real locations). */
  paths: PathFacts;
}

/**
 * What the filesystem says about a path: a watch on a directory is a subtree (dir=), on anything
 * else one inode (path=); a watch on a symbolic link is the link's own inode, which exec and open
 * never report (they follow it); dir= trees are real ancestry (/sys/bus/pci/devices/X are links
 * into /sys/devices).
 */
export interface PathFacts {
  kind(path: string): "dir" | "link" | "other" | undefined;
  /** The path with its symbolic links resolved, as far as they exist. */
  real(path: string): string;
}

export const HOST_PATHS: PathFacts = {
  kind(path) {
    try {
      const st = lstatSync(path);
      return st.isSymbolicLink() ? "link" : st.isDirectory() ? "dir" : "other";
    } catch {
      return undefined;
    }
  },
  real(path) {
    const p = canonicalPath(path);
    try {
      return canonicalPath(realpathSync(p));
    } catch {
      // Not there (an example path, another host's file): resolve what exists of its parents.
      const parent = dirname(p);
      return parent === p ? p : `${this.real(parent).replace(/\/$/, "")}/${basename(p)}`;
    }
  },
};

export interface RecordVerdict {
  recorded: boolean;
  /** The rule that decided, when one did. */
  rule?: AuditRule;
  /** Why, in a few words: "recorded by …", "excluded by …", "no rule matches". */
  why: string;
}

const UNSET = 4294967295;
const WATCH_PERMS = "rwxa";

/** Reads rules in auditctl syntax: a rules file, or `auditctl -l` output. Unreadable lines are listed, never fatal. */
export function parseAuditRules(text: string, source: string, paths: PathFacts = HOST_PATHS): AuditRuleSet {
  const set: AuditRuleSet = { source, rules: [], enabled: 1, problems: [], paths };
  const isDirectory = (p: string): boolean => paths.kind(p) === "dir";
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "" || raw.startsWith("#") || raw === "No rules") continue;
    const words = raw.split(/\s+/);
    const problem = (reason: string): void => void set.problems.push({ line: i + 1, text: raw, reason });
    const op = words[0]!;
    if (op === "-D" || op === "-b" || op === "-f" || op === "-r" || op === "-i" || op === "-c" || op === "--backlog_wait_time" || op === "--loginuid-immutable" || op === "--reset-lost") continue;
    if (op === "-e") {
      const v = Number(words[1]);
      if (v === 0 || v === 1 || v === 2) set.enabled = v;
      else problem("-e takes 0, 1 or 2");
      continue;
    }
    if (op === "-w") {
      const r = parseWatch(words, raw, i + 1, isDirectory);
      if (typeof r === "string") problem(r);
      else set.rules.push(r);
      continue;
    }
    if (op === "-W" || op === "-d") {
      removeRule(set, words, raw, i + 1, isDirectory);
      continue;
    }
    if (op === "-a" || op === "-A") {
      const r = parseSyscallRule(words, raw, i + 1);
      if (typeof r === "string") problem(r);
      else if (op === "-A") set.rules.unshift(r);
      else set.rules.push(r);
      continue;
    }
    problem(`unknown option ${op}`);
  }
  return set;
}

function parseWatch(words: string[], text: string, line: number, isDirectory: (p: string) => boolean): AuditRule | string {
  const path = words[1];
  if (!path) return "-w needs a path";
  let perms = WATCH_PERMS;
  const keys: string[] = [];
  for (let i = 2; i < words.length; i++) {
    const w = words[i]!;
    if (w === "-p") perms = words[++i] ?? "";
    else if (w === "-k") keys.push(words[++i] ?? "");
    else if (w.startsWith("-F")) {
      const f = parseField(w === "-F" ? (words[++i] ?? "") : w.slice(2));
      if (typeof f !== "string" && f.name === "key") keys.push(f.value);
    } else return `unexpected '${w}' in a watch`;
  }
  if (!/^[rwxa]+$/.test(perms)) return `bad permissions '${perms}' (r, w, x, a)`;
  // auditctl turns a watch on a directory into dir= (the whole subtree), on anything else into path=.
  const dir = path.endsWith("/") || isDirectory(path);
  const clean = canonicalPath(path);
  return {
    text, line, list: "exit", action: "always", syscalls: [],
    fields: [{ name: dir ? "dir" : "path", op: "=", value: clean }, { name: "perm", op: "=", value: perms }],
    compares: [], keys, inode: !dir,
  };
}

function parseSyscallRule(words: string[], text: string, line: number): AuditRule | string {
  const spec = words[1];
  if (!spec) return `${words[0]} needs list,action`;
  const parts = spec.split(",");
  const list = parts.find((p) => ["exit", "user", "exclude", "task", "filesystem", "io_uring", "entry"].includes(p)) as AuditList | undefined;
  const action = parts.find((p) => p === "always" || p === "never") as "always" | "never" | undefined;
  if (!list || !action || parts.length !== 2) return `'${spec}' is not list,action (e.g. always,exit)`;
  const rule: AuditRule = { text, line, list, action, syscalls: [], fields: [], compares: [], keys: [], inode: false };
  for (let i = 2; i < words.length; i++) {
    const w = words[i]!;
    if (w === "-S") rule.syscalls.push(...(words[++i] ?? "").split(",").filter(Boolean).map((s) => s.toLowerCase()));
    else if (w === "-F" || w === "-C") {
      const f = parseField(words[++i] ?? "");
      if (typeof f === "string") return f;
      if (w === "-C") rule.compares.push(f);
      else if (f.name === "key") rule.keys.push(f.value);
      else rule.fields.push(f);
    } else if (w === "-k") rule.keys.push(words[++i] ?? "");
    else if (w === "-p") rule.fields.push({ name: "perm", op: "=", value: words[++i] ?? "" });
    else return `unexpected '${w}'`;
  }
  const path = rule.fields.find((f) => f.name === "path");
  if (path) {
    path.value = canonicalPath(path.value);
    rule.inode = true;
  }
  const dir = rule.fields.find((f) => f.name === "dir");
  if (dir) dir.value = canonicalPath(dir.value);
  const exe = rule.fields.find((f) => f.name === "exe");
  if (exe) exe.value = canonicalPath(exe.value);
  return rule;
}

function parseField(spec: string): AuditField | string {
  const m = /^([A-Za-z0-9_]+)(!=|<=|>=|&=|=|<|>|&)(.*)$/.exec(spec);
  if (!m) return `bad field '${spec}'`;
  return { name: m[1]!.toLowerCase(), op: m[2] as AuditField["op"], value: m[3]! };
}

/** -d / -W remove the rule with the same arguments. */
function removeRule(set: AuditRuleSet, words: string[], text: string, line: number, isDirectory: (p: string) => boolean): void {
  const added = words[0] === "-W" ? parseWatch(["-w", ...words.slice(1)], text, line, isDirectory) : parseSyscallRule(["-a", ...words.slice(1)], text, line);
  if (typeof added === "string") {
    set.problems.push({ line, text, reason: added });
    return;
  }
  const same = (r: AuditRule): boolean => r.list === added.list && r.action === added.action && JSON.stringify([r.syscalls, r.fields]) === JSON.stringify([added.syscalls, added.fields]);
  const i = set.rules.findIndex(same);
  if (i !== -1) set.rules.splice(i, 1);
}

/**
 * A path where the kernel finds it: /bin/x → /usr/bin/x (merged /usr); sysfs's device links
 * (/sys/bus/BUS/devices/DEV, /sys/class/CLASS/DEV) → under /sys/devices, where the files really
 * are (which parent directories lie between is machine-specific: /sys/devices/BUS/DEV stands for
 * them); no trailing slash; // and /./ collapsed. Audit's dir= and watches match real locations.
 */
export function canonicalPath(path: string): string {
  let p = path.replace(/\/+/g, "/").replace(/\/\.(?=\/|$)/g, "");
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  if (/^\/(bin|sbin|lib|lib32|lib64|libx32)(\/|$)/.test(p)) p = `/usr${p}`;
  p = p.replace(/^\/sys\/bus\/([^/]+)\/devices\/(?=[^/])/, "/sys/devices/$1/").replace(/^\/sys\/class\/([^/]+)\/(?=[^/])/, "/sys/devices/$1/");
  return p;
}

// ---------------------------------------------------------------------------------------------
// The kernel's filtering.

/** Would these rules record the event? The first deciding rule is named. */
export function recordsProbe(set: AuditRuleSet, probe: AuditProbe): RecordVerdict {
  if (set.enabled === 0) return { recorded: false, why: "auditing is disabled (-e 0)" };
  if (probe.kind === "record") return recordsStandalone(set, probe);
  const arch = probe.arch ?? "b64";
  const task = set.rules.filter((r) => r.list === "task").find((r) => fieldsMatch(r, probe, { arch, paths: set.paths, real: [] }));
  if (task?.action === "never") return { recorded: false, rule: task, why: `syscall auditing off for this task (${task.text})` };
  const exit = set.rules.filter((r) => r.list === "exit" || r.list === "entry");
  const at = { arch, paths: set.paths, real: (probe.paths ?? []).map((p) => set.paths.real(p)) };
  let decided = exit.filter((r) => !r.inode).find((r) => syscallMatches(r, probe.syscall, arch) && fieldsMatch(r, probe, at));
  // Inode rules (file watches, path= on a file) are checked afterwards, per PATH item, and override.
  const inodeRule = exit.filter((r) => r.inode).find((r) => syscallMatches(r, probe.syscall, arch) && fieldsMatch(r, probe, at));
  if (inodeRule) decided = inodeRule;
  if (!decided) return { recorded: false, why: "no rule matches" };
  if (decided.action === "never") return { recorded: false, rule: decided, why: `suppressed by ${decided.text}` };
  const excluded = set.rules.filter((r) => r.list === "exclude").find((r) => r.fields.every((f) => f.name === "msgtype" && cmpText(f, "SYSCALL")));
  if (excluded?.action === "always") return { recorded: false, rule: excluded, why: `SYSCALL records excluded by ${excluded.text}` };
  return { recorded: true, rule: decided, why: `recorded by ${decided.text}` };
}

function recordsStandalone(set: AuditRuleSet, probe: Extract<AuditProbe, { kind: "record" }>): RecordVerdict {
  const excluded = set.rules.filter((r) => r.list === "exclude").find((r) => r.fields.every((f) => f.name === "msgtype" && cmpText(f, probe.type)));
  if (excluded?.action === "always") return { recorded: false, rule: excluded, why: `${probe.type} records excluded by ${excluded.text}` };
  if (probe.user) {
    const user = set.rules.filter((r) => r.list === "user").find((r) => r.fields.every((f) => userFieldMatches(f, probe)));
    if (user?.action === "never") return { recorded: false, rule: user, why: `user messages suppressed by ${user.text}` };
  }
  return { recorded: true, why: `${probe.type} is written whatever the rules say (${probe.user ? "by the program itself" : "by the kernel"})` };
}

const SYSCALL_NUMBERS: Record<"b64" | "b32", Record<number, string>> = { b64: SYSCALLS_X86_64, b32: SYSCALLS_I386 };

function syscallMatches(rule: AuditRule, syscall: string, arch: "b64" | "b32"): boolean {
  if (rule.syscalls.length === 0 || rule.syscalls.includes("all")) return true;
  return rule.syscalls.some((s) => s === syscall || (/^\d+$/.test(s) && SYSCALL_NUMBERS[arch][Number(s)] === syscall));
}

type SyscallProbe = Extract<AuditProbe, { kind: "syscall" }>;

/** What matching needs besides the probe: its arch, and its paths where they really are. */
interface MatchContext {
  arch: "b64" | "b32";
  paths: PathFacts;
  real: string[];
}

// Calls that act on a symbolic link itself rather than on what it points to.
const NO_FOLLOW = new Set([
  "unlink", "unlinkat", "rename", "renameat", "renameat2", "rmdir", "mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat",
  "link", "linkat", "lchown", "lstat", "readlink", "readlinkat", "lgetxattr", "lsetxattr", "llistxattr", "lremovexattr",
]);

function fieldsMatch(rule: AuditRule, probe: SyscallProbe, at: MatchContext): boolean {
  if (rule.compares.some((c) => !compareMatches(c, probe))) return false;
  return rule.fields.every((f) => fieldMatches(f, probe, at));
}

/** path= is one inode: a link's own (seen only by calls that do not follow it), else the real file's. */
function inodeMatches(f: AuditField, p: SyscallProbe, at: MatchContext): boolean {
  if (at.paths.kind(f.value) === "link") return NO_FOLLOW.has(p.syscall) && (p.paths ?? []).some((x) => canonicalPath(x) === f.value);
  const target = at.paths.real(f.value);
  return at.real.some((x) => x === target);
}

function fieldMatches(f: AuditField, p: SyscallProbe, at: MatchContext): boolean {
  const a = p.actor;
  const arch = at.arch;
  switch (f.name) {
    case "arch": {
      const same = archWord(f.value) === arch;
      return f.op === "!=" ? !same : same;
    }
    case "uid":
    case "ouid":
    case "fsuid":
    case "suid":
      return cmpNum(f, f.name === "uid" || f.name === "ouid" ? a.uid : a.euid);
    case "euid":
      return cmpNum(f, a.euid);
    case "auid":
    case "loginuid":
      return cmpNum(f, a.auid ?? UNSET);
    case "gid":
    case "egid":
    case "sgid":
    case "fsgid":
      return cmpNum(f, a.gid ?? a.uid);
    case "exe":
      return f.op === "!=" ? canonicalPath(p.exe) !== f.value : f.op === "=" && canonicalPath(p.exe) === f.value;
    case "path":
      return pathMatch(f, inodeMatches(f, p, at));
    case "dir": {
      const root = at.paths.real(f.value);
      return pathMatch(f, at.real.some((x) => under(x, root)));
    }
    case "perm":
      return permMatches(f.value, p);
    case "success":
      return cmpNum(f, (p.exit ?? 0) >= 0 ? 1 : 0);
    case "exit":
      return cmpNum(f, p.exit ?? 0, errnoValue(f.value));
    case "a0":
    case "a1":
    case "a2":
    case "a3": {
      const v = p.args?.[f.name];
      return v !== undefined && cmpNum(f, v, Number(f.value.startsWith("0x") ? parseInt(f.value, 16) : f.value));
    }
    case "msgtype":
      return cmpText(f, "SYSCALL");
    default:
      // SELinux contexts, pid, inode, devices, sessionid, …: a probe has none, so the condition fails.
      return f.op === "!=";
  }
}

function pathMatch(f: AuditField, hit: boolean): boolean {
  return f.op === "!=" ? !hit : hit;
}

function userFieldMatches(f: AuditField, p: Extract<AuditProbe, { kind: "record" }>): boolean {
  if (f.name === "msgtype") return cmpText(f, p.type);
  if (f.name === "exe") return p.exe !== undefined && (f.op === "!=" ? canonicalPath(p.exe) !== f.value : canonicalPath(p.exe) === f.value);
  if (p.actor && (f.name === "uid" || f.name === "auid" || f.name === "loginuid" || f.name === "euid")) {
    return cmpNum(f, f.name === "uid" ? p.actor.uid : f.name === "euid" ? p.actor.euid : (p.actor.auid ?? UNSET));
  }
  return f.op === "!=";
}

function compareMatches(c: AuditField, p: SyscallProbe): boolean {
  // -C auid!=obj_uid and the like: the object's owner is not part of a probe; assume root-owned objects.
  const side = (name: string): number | undefined =>
    name === "auid" ? (p.actor.auid ?? UNSET) : name === "uid" ? p.actor.uid : name === "euid" ? p.actor.euid : name === "obj_uid" ? 0 : undefined;
  const [l, r] = c.value.includes("obj_") || ["auid", "uid", "euid"].includes(c.value) ? [side(c.name), side(c.value)] : [undefined, undefined];
  if (l === undefined || r === undefined) return c.op === "!=";
  return cmpNum({ name: c.name, op: c.op, value: String(r) }, l);
}

function archWord(v: string): "b64" | "b32" | undefined {
  const s = v.toLowerCase();
  if (s === "b64" || s === "x86_64" || s === "c000003e") return "b64";
  if (s === "b32" || s === "i386" || s === "i686" || s === "40000003") return "b32";
  return undefined;
}

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`);
}

function cmpText(f: AuditField, actual: string): boolean {
  const eq = f.value.toUpperCase() === actual.toUpperCase();
  return f.op === "!=" ? !eq : eq;
}

const NAMED_IDS: Record<string, number> = { root: 0, unset: UNSET, "-1": UNSET };
const ERRNO: Record<string, number> = { EPERM: 1, ENOENT: 2, EACCES: 13, EEXIST: 17, EINVAL: 22, ENOSYS: 38 };

function errnoValue(v: string): number {
  const m = /^(-?)E([A-Z]+)$/.exec(v);
  if (m) return (m[1] ? -1 : 1) * (ERRNO[`E${m[2]}`] ?? NaN);
  return Number(v);
}

function cmpNum(f: AuditField, actual: number, wanted = idValue(f.value)): boolean {
  if (Number.isNaN(wanted)) return f.op === "!=";
  switch (f.op) {
    case "=":
      return actual === wanted;
    case "!=":
      return actual !== wanted;
    case "<":
      return actual < wanted;
    case ">":
      return actual > wanted;
    case "<=":
      return actual <= wanted;
    case ">=":
      return actual >= wanted;
    case "&":
      return (actual & wanted) !== 0;
    case "&=":
      return (actual & wanted) === wanted;
  }
}

function idValue(v: string): number {
  if (v in NAMED_IDS) return NAMED_IDS[v]!;
  if (/^0x[0-9a-f]+$/i.test(v)) return parseInt(v, 16);
  // A user name (uid=chrony): not one of hv's actors; NaN makes = false and != true.
  return /^-?\d+$/.test(v) ? Number(v) : NaN;
}

// Which syscalls a permission filter (-p / perm=) covers: the kernel's classes
// (include/asm-generic/audit_*.h) and, for open/openat/openat2, the access mode of the flags.
const WRITE_CLASS = new Set([
  "rename", "mkdir", "rmdir", "creat", "link", "unlink", "symlink", "mknod", "mkdirat", "mknodat", "unlinkat", "renameat",
  "linkat", "symlinkat", "renameat2", "acct", "swapon", "quotactl", "truncate", "ftruncate", "bind", "fallocate",
]);
const READ_CLASS = new Set(["readlink", "quotactl", "listxattr", "llistxattr", "flistxattr", "getxattr", "lgetxattr", "fgetxattr", "readlinkat"]);
const ATTR_CLASS = new Set([
  "chmod", "fchmod", "chown", "lchown", "fchown", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
  "fchownat", "fchmodat", "fchmodat2", "link", "linkat", "utime", "utimes", "futimesat", "utimensat",
]);
const O_ACCMODE = 3;

function permMatches(perms: string, p: SyscallProbe): boolean {
  const has = (c: string): boolean => perms.includes(c);
  const sc = p.syscall;
  if (sc === "execve" || sc === "execveat") return has("x");
  const flags = sc === "open" ? p.args?.a1 : sc === "openat" || sc === "openat2" ? p.args?.a2 : undefined;
  if (flags !== undefined) {
    const mode = flags & O_ACCMODE;
    return (has("r") && (mode === 0 || mode === 2)) || (has("w") && (mode === 1 || mode === 2));
  }
  return (has("w") && WRITE_CLASS.has(sc)) || (has("r") && READ_CLASS.has(sc)) || (has("a") && ATTR_CLASS.has(sc));
}

/** The rules the kernel has loaded now (`auditctl -l`, root only); a string says why they cannot be read. */
export async function loadedAuditRules(): Promise<AuditRuleSet | string> {
  let r;
  let status;
  try {
    r = await runProgram("auditctl", ["-l"], { env: { LC_ALL: "C" } });
    status = await runProgram("auditctl", ["-s"], { env: { LC_ALL: "C" } });
  } catch (err) {
    if (err instanceof MissingProgramError) return err.message;
    throw err;
  }
  if (r.exitCode !== 0) return `auditctl -l failed: ${(r.stderr || r.stdout).trim() || r.shortMessage}`;
  const set = parseAuditRules(r.stdout, "auditctl -l");
  const enabled = /^enabled (\d)/m.exec(status.stdout)?.[1];
  if (enabled === "0" || enabled === "1" || enabled === "2") set.enabled = Number(enabled) as 0 | 1 | 2;
  return set;
}
