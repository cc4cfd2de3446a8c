// `hv setup` without questions (--yes, --answers FILE, flags), as automation runs it: the config it
// writes loads with the agent's own loader, re-running keeps what setup does not manage (and the
// comments), answers with problems are refused with the field named and nothing written, and on
// NixOS it prints module options that nix-instantiate parses.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../src/agent/config.js";
import type { SetupAnswers } from "../../src/agent/setup.js";
import { listFeeds } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { countActiveTokens } from "../../src/api/tokens.js";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";

let dir = "";
let config = "";
let root = "";
let stateDir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hv-setup-"));
  config = join(dir, "etc-hv", "hv.yaml");
  root = join(dir, "root");
  stateDir = join(dir, "state");
  await mkdir(join(root, "etc/audit/rules.d"), { recursive: true });
  await writeFile(join(root, "etc/audit/rules.d/10-base-config.rules"), "-D\n-b 8192\n");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const setup = (...args: string[]) => runHv(["setup", "--config", config, "--root", root, "--state-dir", stateDir, ...args], { stateDir, timeoutMs: 120_000 });

type Summary = Record<"visible" | "partial" | "blind" | "not-assessed", number>;

interface SetupJson {
  answers: SetupAnswers;
  host: Array<{ area: string; status: string; name: string }>;
  coverage: { hostFiles: string[]; before: Summary; after: Summary; gained: string[]; stillBlind: string[] };
  files: Array<{ path: string; action: string }>;
  feeds: Array<{ name: string; action: string }>;
  token?: { name: string; token: string };
}

describe("hv setup --yes and flags", { timeout: 300_000 }, () => {
  it("shows the host's problems from hv doctor's checks and what hv's audit rules add, as hv rules coverage counts it", async () => {
    const r = mustSucceed(["setup"], await setup("--yes", "--json"));
    const out = r.json as SetupJson;
    for (const c of out.host) {
      expect(["programs", "audit", "libvirt"]).toContain(c.area);
      expect(["problem", "warn"]).toContain(c.status);
    }
    expect(out.coverage.hostFiles).toEqual(["10-base-config.rules"]);
    // The same numbers hv rules coverage gives for the host's file alone, and with the file setup installed.
    const rulesd = join(root, "etc/audit/rules.d");
    const coverage = async (...files: string[]) => (await runHv(["rules", "coverage", "--json", "--audit-rules", ...files], { stateDir, timeoutMs: 120_000 })).stdout;
    const before = JSON.parse(await coverage(join(rulesd, "10-base-config.rules"))) as { summary: Record<string, number> };
    const after = JSON.parse(await coverage(join(rulesd, "10-base-config.rules"), join(rulesd, "60-hv.rules"))) as { summary: Record<string, number>; rules: Array<{ title: string; status: string }> };
    expect(out.coverage.before).toEqual(before.summary);
    expect(out.coverage.after).toEqual(after.summary);
    expect(out.coverage.after.blind).toBeLessThan(out.coverage.before.blind);
    expect(out.coverage.gained.length).toBe(out.coverage.after.visible - out.coverage.before.visible);
    expect(out.coverage.stillBlind).toEqual(after.rules.filter((x) => x.status === "blind").map((x) => x.title));
  });

  it("says what each shipped playbook's actions risk: in --json, and in the text when the mode acts", async () => {
    const json = mustSucceed(["setup"], await setup("--yes", "--json", "--dry-run")).json as SetupJson & { playbooks: Array<{ id: string; actions: Array<{ action: string; risk: string; undo?: string }> }> };
    const escape = json.playbooks.find((p) => p.id === "vm-escape");
    expect(escape?.actions.find((a) => a.action === "quarantine_vm")).toEqual(expect.objectContaining({ risk: expect.stringMatching(/cuts the VM off the network/), undo: "hv quarantine release VM" }));
    for (const p of json.playbooks) for (const a of p.actions) expect(a.risk, `${p.id} ${a.action}`).not.toBe("");
    const monitor = mustSucceed(["setup"], await setup("--yes", "--dry-run"));
    expect(monitor.stdout).not.toMatch(/what each action risks/);
    const automatic = mustSucceed(["setup"], await setup("--yes", "--dry-run", "--mode", "automatic"));
    expect(automatic.stdout).toMatch(/Mode automatic: hv's playbooks act at once; what each action risks:\n {2}host-audit-tampering: /);
    expect(automatic.stdout).toMatch(/^ {4}quarantine_vm: cuts the VM off the network.*; undo: hv quarantine release VM$/m);
  });

  it("hv monitor reads the config setup wrote without --config ($HV_CONFIG here; /etc/hv/hv.yaml on a host)", async () => {
    const alerts = join(dir, "alerts.jsonl");
    mustSucceed(["setup"], await setup("--yes", "--jsonl", alerts));
    // Fields setup does not manage, kept by it: a replay here touches neither conntrack nor nft.
    await writeFile(config, `${await readFile(config, "utf8")}flows: { conntrack: false }\nfirewall: { enabled: false }\n`);
    // One finit_module call with hv's key: hv's "Kernel Module Loaded" rule raises one alert.
    const log = join(dir, "kmod.log");
    await writeFile(log, [
      'type=SYSCALL msg=audit(1795674429.220:901): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key="hv_kmod"',
      "type=PROCTITLE msg=audit(1795674429.220:901): proctitle=696E736D6F64",
      "type=EOE msg=audit(1795674429.220:901): ",
    ].join("\n") + "\n");
    const r = await runHv(["monitor", "--replay", log, "--no-libvirt"], { stateDir, env: { HV_CONFIG: config }, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = (await readFile(alerts, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ rule: { title: expect.stringMatching(/Kernel Module/) } });
  });

  it("--root alone puts the config and the store under it", async () => {
    const r = await runHv(["setup", "--root", root, "--yes", "--json", "--feed", "feodo"], { stateDir: join(dir, "elsewhere"), timeoutMs: 120_000 });
    mustSucceed(["setup", "--root"], r);
    expect(loadAgentConfig(join(root, "etc/hv/hv.yaml")).sinks).toEqual([{ type: "jsonl", path: "/var/log/hv/alerts.jsonl" }]);
    const db = openStore(join(root, "var/lib/hv/hv.db"));
    expect(listFeeds(db).map((f) => f.name)).toEqual(["feodo"]);
    db.close();
    expect(existsSync(join(dir, "elsewhere"))).toBe(false);
  });

  it("a wrong flag value is a usage error: exit 2, the flag named, nothing written", async () => {
    for (const [args, message] of [
      [["--mode", "yolo"], /--mode must be one of monitor, interactive, automatic/],
      [["--api-port", "0"], /--api-port must be a port/],
      [["--api-port", "http"], /--api-port must be a port/],
      [["--bogus"], /unknown option '--bogus'/],
    ] as Array<[string[], RegExp]>) {
      const r = await setup("--yes", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(config)).toBe(false);
    expect(existsSync(join(root, "etc/audit/rules.d/60-hv.rules"))).toBe(false);
  });

  it("writes a config the agent loads, hv's audit rules next to the host's, the feeds and a token", async () => {
    const r = await setup("--yes", "--json", "--allow-network", "10.0.0.0/24,192.0.2.0/24", "--allow-user", "admin", "--critical-vm", "db1", "--feed", "feodo,spamhaus-drop", "--syslog", "127.0.0.1:5514", "--api", "--api-port", "8899", "--api-token");
    mustSucceed(["setup"], r);
    const out = r.json as SetupJson;
    const c = loadAgentConfig(config);
    expect(c.response).toEqual({ mode: "monitor", allowlist: { networks: ["10.0.0.0/24", "192.0.2.0/24"], users: ["admin"], vms: ["db1"] } });
    expect(c.sinks).toEqual([{ type: "jsonl", path: "/var/log/hv/alerts.jsonl" }, { type: "syslog", transport: "udp", host: "127.0.0.1", port: 5514 }]);
    expect(c.api).toEqual({ enabled: true, port: 8899 });
    expect(c.playbooks).toBeUndefined();
    // The host's rules are untouched; hv's are added as their own file.
    expect(readdirSync(join(root, "etc/audit/rules.d")).sort()).toEqual(["10-base-config.rules", "60-hv.rules"]);
    expect(await readFile(join(root, "etc/audit/rules.d/10-base-config.rules"), "utf8")).toBe("-D\n-b 8192\n");
    const db = openStore(join(stateDir, "hv.db"));
    expect(listFeeds(db).map((f) => [f.name, f.enabled])).toEqual([["feodo", true], ["spamhaus-drop", true]]);
    expect(countActiveTokens(db)).toBe(1);
    db.close();
    expect(out.token?.token).toMatch(/^hv_[A-Za-z0-9_-]{43}$/);
    expect(out.feeds).toEqual([{ name: "feodo", action: "added" }, { name: "spamhaus-drop", action: "added" }]);
  });

  it("re-running shows the current answers, changes only what is asked, and keeps comments and fields setup does not manage", async () => {
    mustSucceed(["setup"], await setup("--yes", "--mode", "interactive", "--allow-network", "10.0.0.0/24", "--feed", "feodo"));
    // The operator adds a comment, a field of their own and a sink setup does not ask about.
    const text = await readFile(config, "utf8");
    await writeFile(config, `${text}# our dedup window, agreed with the SOC\ndedupWindow: 5m\n`);
    const c1 = loadAgentConfig(config);
    expect(c1.response?.mode).toBe("playbooks");
    const copies = join(dir, "etc-hv", "playbooks");
    expect(c1.playbooks).toEqual([copies]);
    const copied = readdirSync(copies);
    expect(copied.length).toBeGreaterThan(0);
    for (const f of copied) expect(await readFile(join(copies, f), "utf8")).toMatch(/^mode: interactive$/m);

    // Nothing asked to change: every file unchanged, the answers are what was set.
    const again = (await setup("--yes", "--json")).json as SetupJson;
    expect(new Set(again.files.map((f) => f.action))).toEqual(new Set(["unchanged"]));
    expect(again.answers).toMatchObject({ mode: "interactive", allowlist: { networks: ["10.0.0.0/24"] }, feeds: ["feodo"], auditRules: true });

    // Back to monitor, no feeds, no audit rules: the copies leave the config, the feed is disabled (kept), the rules file removed.
    const back = (await setup("--yes", "--json", "--mode", "monitor", "--feed", "-", "--no-audit-rules")).json as SetupJson;
    expect(back.feeds).toEqual([{ name: "feodo", action: "disabled" }]);
    const c2 = loadAgentConfig(config);
    expect(c2.response?.mode).toBe("monitor");
    expect(c2.playbooks).toBeUndefined();
    expect(c2.dedupWindow).toBe("5m");
    expect(await readFile(config, "utf8")).toContain("# our dedup window, agreed with the SOC");
    expect(existsSync(join(root, "etc/audit/rules.d/60-hv.rules"))).toBe(false);
    const db = openStore(join(stateDir, "hv.db"));
    expect(listFeeds(db).map((f) => [f.name, f.enabled])).toEqual([["feodo", false]]);
    db.close();
  });

  it("--answers FILE: a partial answers file changes what it names; a bad field is refused with its name and nothing is written", async () => {
    const answers = join(dir, "answers.yaml");
    await writeFile(answers, "mode: automatic\nallowlist: { networks: [10.1.0.0/16] }\nsinks: { alertmanager: 'http://127.0.0.1:9093' }\nservice: false\n");
    const r = await setup("--answers", answers, "--json");
    mustSucceed(["setup"], r);
    const c = loadAgentConfig(config);
    expect(c.response?.mode).toBe("playbooks");
    expect(c.sinks).toContainEqual({ type: "alertmanager", url: "http://127.0.0.1:9093" });

    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "mode: yolo\n");
    const b = await setup("--answers", bad);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/bad\.yaml: mode: /);
    const before = await readFile(config, "utf8");
    for (const args of [["--allow-network", "10.0.0.300/24"], ["--syslog", "no-port"], ["--webhook", "ftp://x"], ["--feed", "no-such-feed"], ["--api", "--api-host", "0.0.0.0"]]) {
      const p = await setup("--yes", ...args);
      expect(p.code, args.join(" ")).toBe(2);
      expect(p.stderr, args.join(" ")).toMatch(/nothing was written/);
    }
    expect(await readFile(config, "utf8")).toBe(before);
  });

  it("--dry-run writes nothing; --service installs the units and user hv under --root", async () => {
    const dry = (await setup("--yes", "--dry-run", "--json", "--feed", "feodo")).json as SetupJson;
    expect(dry.files.map((f) => f.action)).toContain("created");
    expect(existsSync(config)).toBe(false);
    expect(existsSync(join(root, "etc/audit/rules.d/60-hv.rules"))).toBe(false);
    expect(existsSync(join(stateDir, "hv.db"))).toBe(false);
    if (spawnSync("systemd-sysusers", ["--version"]).status !== 0) return;
    mustSucceed(["setup"], await setup("--yes", "--service"));
    expect(existsSync(join(root, "etc/systemd/system/hv-monitor.service"))).toBe(true);
    expect(await readFile(join(root, "etc/passwd"), "utf8")).toMatch(/^hv:x:/m);
  });

  it("on NixOS it prints hypervisor.monitor options (nix-instantiate parses them) and writes nothing", async () => {
    await writeFile(join(root, "etc/NIXOS"), "");
    const r = await setup("--yes", "--allow-network", "10.0.0.0/24", "--feed", "feodo", "--alertmanager", "http://127.0.0.1:9093", "--api");
    mustSucceed(["setup"], r);
    expect(r.stdout).toMatch(/^# This is NixOS/);
    expect(r.stdout).toContain('allowlists.networks = [ "10.0.0.0/24" ];');
    expect(r.stdout).toMatch(/feeds = \[\n\s+\{ name = "feodo"; url = "https:\/\/feodotracker\.abuse\.ch/);
    expect(r.stdout).toContain('api = { enable = true; address = "127.0.0.1"; port = 8787; };');
    expect(existsSync(config)).toBe(false);
    expect(existsSync(join(root, "etc/audit/rules.d/60-hv.rules"))).toBe(false);
    if (spawnSync("nix-instantiate", ["--version"]).status !== 0) {
      console.warn("nix-instantiate is not installed (nix-bin): the options are checked for content only");
      return;
    }
    const file = join(dir, "options.nix");
    await writeFile(file, `{ config, ... }: { ${r.stdout} }`);
    const p = spawnSync("nix-instantiate", ["--parse", file], { encoding: "utf8" });
    expect(p.status, p.stderr).toBe(0);
  });
});
