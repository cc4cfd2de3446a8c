// The `hv setup` wizard as a person uses it: the built CLI in a tmux pane, each question answered
// with keys once it is on the screen. The first run answers everything (one answer wrong, asked
// again); the second shows those answers as the defaults and changes one. The files are checked.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../src/agent/config.js";
import { listFeeds } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const HAVE_TMUX = spawnSync("tmux", ["-V"]).status === 0;
const id = randomBytes(4).toString("hex");
const SOCKET = `hvsetup-${id}`;
const dir = mkdtempSync(join(tmpdir(), "hv-setup-tmux-"));
const config = join(dir, "etc-hv", "hv.yaml");
const root = join(dir, "root");
const stateDir = join(dir, "state");

if (!HAVE_TMUX) {
  const why = "tmux is not installed: the hv setup wizard test cannot run (apt-get install tmux; .ci/run does)";
  if (process.env.CI === "true") throw new Error(why);
  console.warn(`SKIPPED test/cli/setup-tmux.test.ts: ${why}`);
}

afterAll(() => {
  if (HAVE_TMUX) spawnSync("tmux", ["-L", SOCKET, "kill-server"]);
  rmSync(dir, { recursive: true, force: true });
});

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });
}

/** The wizard in a fresh pane; its exit status is written to a file when it ends. */
function start(session: string): void {
  const command = `node bin/hv.js setup --config '${config}' --root '${root}' --state-dir '${stateDir}'; echo $? > '${join(dir, `${session}.exit`)}'; sleep 600`;
  tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "80", "-c", ROOT, command);
}

function screen(session: string): string {
  return tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", session);
}

/** Waits until the last question on the screen is `prompt`, then types `answer` and Enter. */
async function answer(session: string, prompt: RegExp, text: string): Promise<string> {
  // The first question comes after hv doctor's checks and two coverage assessments: generous on a loaded machine.
  const deadline = Date.now() + 180_000;
  for (;;) {
    const s = screen(session);
    const last = s.trimEnd().split("\n").pop() ?? "";
    if (prompt.test(last)) {
      if (text) tmux("send-keys", "-t", session, "-l", text);
      tmux("send-keys", "-t", session, "Enter");
      // The next screen must differ from this one before the next answer is typed.
      await waitFor(() => screen(session) !== s, `the answer to ${prompt}`, session);
      return last;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${prompt}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitFor(check: () => boolean, what: string, session: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${screen(session)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function exitOf(session: string): Promise<number> {
  const file = join(dir, `${session}.exit`);
  await waitFor(() => existsSync(file) && readFileSync(file, "utf8").trim() !== "", "hv setup to end", session);
  return Number(readFileSync(file, "utf8").trim());
}

describe.skipIf(!HAVE_TMUX)("hv setup wizard under tmux", () => {
  it("asks, refuses a wrong answer and asks again, writes the files; a second run shows the answers and changes one", async () => {
    mkdirSync(join(root, "etc/audit/rules.d"), { recursive: true });
    writeFileSync(join(root, "etc/audit/rules.d/10-base-config.rules"), "-D\n-b 8192\n");

    start("first");
    const rulesQ = await answer("first", /Install hv's rules as \/etc\/audit\/rules\.d\/60-hv\.rules\? \[Y\/n\]/, "");
    expect(rulesQ).toBeDefined();
    // The risks are said before the mode is chosen: all of it is on the screen once the mode question is.
    await waitFor(() => /Mode \(monitor, interactive, automatic\) \[monitor\]:\s*$/.test(screen("first").trimEnd().split("\n").pop() ?? ""), "the mode question", "first");
    const shown = screen("first");
    expect(shown).toMatch(/quarantine_vm: cuts the VM off the network.*undo: hv quarantine release/);
    // The host was checked with hv doctor's checks, and hv rules coverage said what hv's rules add to the host's.
    expect(shown).toMatch(/This host \(hv doctor's checks of programs, auditd and libvirt\):/);
    const before = /with this host's rules \(10-base-config\.rules\): (\d+) visible, (\d+) partial, (\d+) blind/.exec(shown);
    const after = /with hv's rules added as \/etc\/audit\/rules\.d\/60-hv\.rules: +(\d+) visible, (\d+) partial, (\d+) blind/.exec(shown);
    expect(before, shown).not.toBeNull();
    expect(after, shown).not.toBeNull();
    expect(Number(after![3])).toBeLessThan(Number(before![3]));
    expect(shown).toMatch(/hv's rules make \d+ more visible: /);
    await answer("first", /Mode \(monitor, interactive, automatic\) \[monitor\]:\s*$/, "interactive");
    await answer("first", /Management networks \(CIDRs\) \(comma separated; - for none\):\s*$/, "10.0.0.0/24,10.0.0.300");
    await waitFor(() => /"10\.0\.0\.300" is not an address or CIDR/.test(screen("first")), "the refusal of 10.0.0.300", "first");
    await answer("first", /Management networks \(CIDRs\) \(comma separated; - for none\):\s*$/, "10.0.0.0/24");
    await answer("first", /Admin users \(comma separated; - for none\):\s*$/, "admin");
    await answer("first", /Critical VMs.*\(comma separated; - for none\):\s*$/, "");
    await answer("first", /Feeds \(comma separated; - for none\):\s*$/, "feodo");
    await answer("first", /JSON lines file \(path\) \(- for none\) \[\/var\/log\/hv\/alerts\.jsonl\]:\s*$/, "");
    await answer("first", /Syslog over UDP \(host:port\) \(- for none\):\s*$/, "127.0.0.1:5514");
    await answer("first", /Webhook \(Slack or JSON URL\) \(- for none\):\s*$/, "");
    await answer("first", /Alertmanager \(URL\) \(- for none\):\s*$/, "");
    await answer("first", /Serve the REST API \(and \/metrics\) from the agent\? \[y\/N\]\s*$/, "y");
    await answer("first", /Listen address .* \[127\.0\.0\.1\]:\s*$/, "");
    await answer("first", /Port \[8787\]:\s*$/, "8899");
    await answer("first", /Create an admin API token now \(shown once\)\? \[y\/N\]\s*$/, "");
    await answer("first", /Install the systemd units .*\? \[y\/N\]\s*$/, "");
    await answer("first", /Write .*hv\.yaml and the rest\? \[Y\/n\]\s*$/, "");
    expect(await exitOf("first")).toBe(0);
    const done = screen("first");
    expect(done).toMatch(/The answers \(a first configuration\):\n(\s+.*\n)*?\s+mode: interactive\n/);
    expect(done).toMatch(/hv\.yaml\s+created/);

    const c = loadAgentConfig(config);
    expect(c.response).toEqual({ mode: "playbooks", allowlist: { networks: ["10.0.0.0/24"], users: ["admin"] } });
    expect(c.sinks).toEqual([{ type: "jsonl", path: "/var/log/hv/alerts.jsonl" }, { type: "syslog", transport: "udp", host: "127.0.0.1", port: 5514 }]);
    expect(c.api).toEqual({ enabled: true, port: 8899 });
    const copies = join(dir, "etc-hv", "playbooks");
    expect(c.playbooks).toEqual([copies]);
    for (const f of readdirSync(copies)) expect(readFileSync(join(copies, f), "utf8")).toMatch(/^mode: interactive$/m);
    expect(existsSync(join(root, "etc/audit/rules.d/60-hv.rules"))).toBe(true);
    const db = openStore(join(stateDir, "hv.db"));
    expect(listFeeds(db).map((f) => f.name)).toEqual(["feodo"]);
    db.close();

    // Second run: the answers of the first are the defaults; only the mode changes.
    start("second");
    await answer("second", /Install hv's rules as \/etc\/audit\/rules\.d\/60-hv\.rules \(installed now\)\? \[Y\/n\]/, "");
    await answer("second", /Mode \(monitor, interactive, automatic\) \[interactive\]:\s*$/, "monitor");
    await answer("second", /Management networks \(CIDRs\) \(comma separated; - for none\) \[10\.0\.0\.0\/24\]:\s*$/, "");
    await answer("second", /Admin users \(comma separated; - for none\) \[admin\]:\s*$/, "");
    await answer("second", /Critical VMs.*:\s*$/, "");
    await answer("second", /Feeds \(comma separated; - for none\) \[feodo\]:\s*$/, "");
    await answer("second", /JSON lines file .*\[\/var\/log\/hv\/alerts\.jsonl\]:\s*$/, "");
    await answer("second", /Syslog over UDP \(host:port\) \(- for none\) \[127\.0\.0\.1:5514\]:\s*$/, "");
    await answer("second", /Webhook .*:\s*$/, "");
    await answer("second", /Alertmanager .*:\s*$/, "");
    await answer("second", /Serve the REST API .*\[Y\/n\]\s*$/, "");
    await answer("second", /Listen address .*\[127\.0\.0\.1\]:\s*$/, "");
    await answer("second", /Port \[8899\]:\s*$/, "");
    await answer("second", /Create an admin API token .*\[y\/N\]\s*$/, "");
    await answer("second", /Install the systemd units .*\? \[y\/N\]\s*$/, "");
    await waitFor(() => /Write .*\? \[Y\/n\]\s*$/.test(screen("second").trimEnd().split("\n").pop() ?? ""), "the write question", "second");
    const summary = screen("second");
    expect(summary).toMatch(/Changes:\n\s+mode: interactive -> monitor\nWrite/);
    await answer("second", /Write .*\? \[Y\/n\]\s*$/, "");
    expect(await exitOf("second")).toBe(0);
    const c2 = loadAgentConfig(config);
    expect(c2.response?.mode).toBe("monitor");
    expect(c2.playbooks).toBeUndefined();
    expect(c2.api).toEqual({ enabled: true, port: 8899 });
    expect(c2.response?.allowlist).toEqual({ networks: ["10.0.0.0/24"], users: ["admin"] });
  }, 600_000);
});
