// Real processes for the privileged-helper tests: the helper as a root child process (its CLI
// command from the build, optionally socket-activated by systemd-socket-activate), and clients as
// separate node processes running as another, unprivileged user — so a test shows the split for
// real: a non-root process asks, the root helper acts.

import { execa, type ResultPromise } from "execa";
import { existsSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;
const DIST = join(ROOT, "dist/src");

/** Why these tests cannot run here (not root, not built), or undefined. Under CI: an error. */
export function whyNotRunnable(): string | undefined {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = "not running as root (the helper is root; the tests create users and lock one)";
  else if (!existsSync(join(DIST, "cli/privileged.js"))) reason = `${join(DIST, "cli/privileged.js")} is missing: run npm run build (npm test does it first)`;
  if (reason === undefined) return undefined;
  if (process.env.CI === "true") throw new Error(`privileged helper tests cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING privileged helper tests: ${reason} ***\n`);
  return reason;
}

// The `hv privileged-helper` command exactly as main.ts registers it, without depending on main.ts.
const LAUNCH = `
import { Command } from "commander";
import { registerPrivileged } from ${JSON.stringify(join(DIST, "cli/privileged.js"))};
const program = new Command("hv");
registerPrivileged(program);
await program.parseAsync(process.argv.slice(1), { from: "user" });
`;

export interface HelperProc {
  child: ResultPromise;
  /** Everything the helper wrote to stderr so far (its request log). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `hv privileged-helper ARGS` as root; resolves once it listens. `activate`: via systemd-socket-activate on that path. */
export async function startHelperProc(args: string[], opts: { activate?: string } = {}): Promise<HelperProc> {
  const node = ["node", "--input-type=module", "-e", LAUNCH, "--", "privileged-helper", ...args];
  const argv = opts.activate ? ["systemd-socket-activate", "-l", opts.activate, ...node] : node;
  const child = execa(argv[0]!, argv.slice(1), { reject: false, cwd: ROOT, buffer: false, stdin: "ignore" });
  let log = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (s: string) => (log += s));
  const deadline = Date.now() + 15_000;
  const ready = opts.activate ? "Listening on" : "listening on";
  while (!log.includes(ready)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the helper did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    log: () => log,
    async stop() {
      child.kill("SIGTERM");
      await child;
    },
  };
}

// A client as the agent would be: it runs the real actions, and they pick the helper because the
// process is not root and HV_PRIVILEGED_SOCKET is set. Prints one JSON line: its uid and the
// outcome or the error.
const CLIENT = `
import { killProcess } from ${JSON.stringify(join(DIST, "playbooks/actions/kill-process.js"))};
import { lockAccount } from ${JSON.stringify(join(DIST, "playbooks/actions/lock-account.js"))};
import { hostOps } from ${JSON.stringify(join(DIST, "privileged/host-ops-choice.js"))};
import { buildAllowlist } from ${JSON.stringify(join(DIST, "events/allowlist.js"))};
const [what, arg] = process.argv.slice(1);
const a = JSON.parse(arg);
const env = { allowlist: buildAllowlist({ hostAddresses: false, ...a.allowlist }), log() {} };
const run = { env, target: a.target, alert: a.alert, actionId: 1, by: "test", signal: new AbortController().signal };
let out;
try {
  if (what === "kill") out = { ok: true, outcome: await killProcess.run({ ...run, params: killProcess.params.parse(a.params ?? {}) }) };
  else if (what === "lock") out = { ok: true, outcome: await lockAccount.run({ ...run, params: lockAccount.params.parse(a.params ?? {}) }) };
  else if (what === "unlock") out = { ok: true, outcome: await hostOps().unlockAccount(a.request) };
  else if (what === "lock-raw") out = { ok: true, outcome: await hostOps().lockAccount(a.request) };
  else throw new Error("unknown client step " + what);
} catch (err) {
  out = { ok: false, error: err.message, refused: err.refused === true, name: err.name };
}
console.log(JSON.stringify({ uid: process.getuid(), ...out }));
`;

export interface ClientResult {
  uid: number;
  ok: boolean;
  outcome?: { result?: string; unchanged?: boolean; detail?: Record<string, unknown>; changed?: boolean; previous?: { locked: boolean; expire: string }; uid?: number };
  error?: string;
  refused?: boolean;
  name?: string;
}

/** Runs one client step as uid:gid (another process, unprivileged) and returns what it printed. */
export async function runClient(step: string, arg: unknown, as: { uid: number; gid: number; socket?: string }): Promise<ClientResult> {
  const r = await execa("node", ["--input-type=module", "-e", CLIENT, "--", step, JSON.stringify(arg)], {
    reject: false,
    cwd: "/",
    uid: as.uid,
    gid: as.gid,
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(as.socket ? { HV_PRIVILEGED_SOCKET: as.socket } : {}) },
    extendEnv: false,
  });
  const last = String(r.stdout).trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as ClientResult;
  } catch {
    throw new Error(`client ${step} printed no result (exit ${r.exitCode}):\n${String(r.stdout)}\n${String(r.stderr)}`);
  }
}

export async function createUser(name: string): Promise<{ uid: number; gid: number }> {
  await execa("userdel", [name], { reject: false });
  await execa("groupdel", [name], { reject: false });
  await execa("useradd", ["-M", "-U", "-s", "/usr/sbin/nologin", name]);
  const uid = Number((await execa("id", ["-u", name])).stdout.trim());
  const gid = Number((await execa("id", ["-g", name])).stdout.trim());
  return { uid, gid };
}

export async function removeUser(name: string): Promise<void> {
  await execa("userdel", [name], { reject: false });
  await execa("groupdel", [name], { reject: false });
}
