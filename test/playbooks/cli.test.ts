// The response commands as a person runs them: the built CLI in its own process, against a real
// store file. The firewall sync of `hv quarantine release` runs nft inside a network namespace this
// test creates (hvpb-*), never on the host's own ruleset.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runHv } from "../helpers/hv-cli.js";
import { getAction, insertAction } from "../../src/store/actions.js";
import { activeEnforcements, enforce } from "../../src/store/enforcements.js";
import { saveAlert } from "../../src/store/alerts.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "../store/tmp.js";
import { alertOf } from "./helpers.js";

const NS = `hvpb-${process.pid}`;
const root = process.getuid?.() === 0;
let nsReady = false;

beforeAll(async () => {
  if (!root) {
    if (process.env.CI === "true") throw new Error("the quarantine release test needs root (network namespace + nft)");
    return;
  }
  await execa("ip", ["netns", "add", NS]);
  nsReady = true;
});

afterAll(async () => {
  if (nsReady) await execa("ip", ["netns", "delete", NS], { reject: false });
});

function setup(): { dir: string; config: string; run: (args: string[]) => ReturnType<typeof runHv> } {
  const dir = tempDir();
  const config = join(dir, "hv.yaml");
  writeFileSync(config, `stateDir: ${dir}\nsinks:\n  - {type: jsonl, path: ${join(dir, "alerts.out.jsonl")}}\nfirewall:\n  netns: ${NS}\nresponse:\n  allowlist:\n    vms: [prod]\n    hostAddresses: false\n    managementInterfaces: []\n`);
  return { dir, config, run: (args) => runHv([...args, "--config", config], { stateDir: dir, timeoutMs: 60_000, env: { HV_LIBVIRT_URI: "test:///default" } }) };
}

describe("hv playbooks", () => {
  it("check prints every error as file:line: field and exits 1", async () => {
    const { dir, run } = setup();
    const file = join(dir, "bad.yml");
    writeFileSync(file, "id: bad\ntitle: t\nmode: automatic\nmatch: {rules: [x]}\nactions:\n  - action: quarantine_vm\n    with: {keep: 7}\n  - action: explode\ncooldown: soon\n");
    const r = await run(["playbooks", "check", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${file}:7: actions.0.with.keep: `);
    expect(r.stdout).toContain(`${file}:8: actions.1.action: unknown action explode`);
    expect(r.stdout).toContain(`${file}:9: cooldown: must look like 30s, 10m, 2h or 1d`);
    expect(r.stdout).toContain("0 playbook(s) OK in 1 file(s), 1 with errors");
    const ok = await run(["playbooks", "check"]);
    expect(ok.code).toBe(0);
  });

  it("test says what each matching playbook would do, and refusals, without writing anything", async () => {
    const { dir, run } = setup();
    const pbFile = join(dir, "pb.yml");
    writeFileSync(pbFile, "id: cut\ntitle: t\nmode: automatic\nmatch: {techniques: [T1611]}\nactions:\n  - action: quarantine_vm\n    ttl: 1h\n  - action: notify\n");
    const alertFile = join(dir, "alerts.jsonl");
    const alert = (vm: string) => JSON.stringify(alertOf({ vm: { name: vm }, entity: { kind: "vm", id: vm } }));
    writeFileSync(alertFile, `${alert("web1")}\n${alert("prod")}\n`);
    const r = await run(["playbooks", "test", "--alert", alertFile, "--playbooks", pbFile, "--json"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { actions: Array<{ action: string; status: string; target: string; reason: string; ttl?: string }> });
    expect(lines.map((l) => l.actions.map((a) => [a.action, a.status, a.target]))).toEqual([
      [["quarantine_vm", "run", "vm:web1"], ["notify", "run", "host"]],
      [["quarantine_vm", "refused", "vm:prod"], ["notify", "run", "host"]],
    ]);
    expect(lines[1]!.actions[0]!.reason).toBe("allowlist: VM prod is allowlisted");
    expect(lines[0]!.actions[0]!.ttl).toBe("1h");
    const actions = await run(["actions", "list", "--all", "--json"]);
    expect(actions.stdout.trim()).toBe("");
  });
});

describe("hv actions", () => {
  it("approve runs a pending action in this process; deny stops one; neither works twice", async () => {
    const { dir, run } = setup();
    const db = openStore(join(dir, "hv.db"));
    const alertId = saveAlert(db, alertOf({ id: undefined }));
    const base = { alertId, playbook: "escape", action: "notify", mode: "interactive", status: "pending", target: "host", params: {}, detail: { target: { kind: "host" } } };
    const a = insertAction(db, base);
    const b = insertAction(db, base);
    db.close();
    const listed = await run(["actions", "list", "--json"]);
    expect(listed.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { id: number }).id)).toEqual([a, b]);
    const approved = await run(["actions", "approve", String(a), "--by", "alice", "--json"]);
    expect(approved.code, approved.stderr + approved.stdout).toBe(0);
    expect(approved.json).toMatchObject({ id: a, status: "done", approvedBy: "alice" });
    // notify really went through the configured sink.
    expect(JSON.parse(readFileSync(join(dir, "alerts.out.jsonl"), "utf8").trim())).toMatchObject({ id: alertId, rule: { title: "QEMU Process Spawns A Shell Or Interpreter" } });
    const again = await run(["actions", "approve", String(a)]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`action ${a} is done, not pending`);
    const denied = await run(["actions", "deny", String(b), "--by", "bob", "--reason", "noise"]);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toContain("denied by bob: noise");
    expect((await run(["actions", "approve", String(b)])).code).not.toBe(0);
    const check = openStore(join(dir, "hv.db"));
    expect(getAction(check, b)).toMatchObject({ status: "denied", started: null });
    check.close();
  });
});

describe.skipIf(!root)("hv quarantine", () => {
  it("lists a quarantine, releases it (nft synced in a namespace), records release_vm, and refuses an allowlisted VM", async () => {
    const { dir, run } = setup();
    const db = openStore(join(dir, "hv.db"));
    const q = insertAction(db, { playbook: "escape", action: "quarantine_vm", mode: "automatic", status: "done", target: "vm:web1" });
    enforce(db, { kind: "quarantine", target: "web1", actionId: q, createdBy: "playbook:escape", detail: { keep: ["10.0.0.5"] }, expires: Date.now() + 3_600_000 });
    db.close();
    const list = await run(["quarantine", "list", "--json"]);
    expect(list.json).toMatchObject({ vm: "web1", by: "playbook:escape", action: q, keep: ["10.0.0.5"] });
    const rel = await run(["quarantine", "release", "web1", "--by", "carol", "--json"]);
    expect(rel.code, rel.stderr + rel.stdout).toBe(0);
    expect(rel.json).toMatchObject({ action: "release_vm", status: "done", approvedBy: "carol", target: "vm:web1", playbook: "manual" });
    // The sync ran in the namespace (a failed sync records the release as failed, exit 1): with
    // nothing in force, no quarantine chain is left there.
    const nft = await execa("ip", ["netns", "exec", NS, "nft", "list", "ruleset"]);
    expect(nft.stdout).not.toMatch(/quarantine|web1/);
    const after = openStore(join(dir, "hv.db"));
    expect(activeEnforcements(after)).toEqual([]);
    expect(getAction(after, q)).toMatchObject({ undoneBy: "user:carol" });
    after.close();
    expect((await run(["quarantine", "release", "web1"])).stderr).toContain("web1 is not quarantined");
    const refused = await run(["quarantine", "add", "prod", "--ttl", "1h", "--json"]);
    expect(refused.code).toBe(1);
    expect(refused.json).toMatchObject({ status: "refused", result: "allowlist: VM prod is allowlisted" });
  });
});
