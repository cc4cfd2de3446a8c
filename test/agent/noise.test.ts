// Quiet by default, and learning (docs/noise.md), on the real recorded benign admin session
// (test/fixtures/audit/benign-session.log: curl, tar of /etc/libvirt, rm, find as root after a
// login as hvadmin). Rules are written here: a directory standing for hv's own rules/hv and one
// for third-party rules, so what is routed or learned does not depend on the shipped rule set.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeAuditLines } from "../../src/collectors/audit/decoder.js";
import { setUpDetection } from "../../src/agent/detectors.js";
import { applyProposals, proposeExceptions } from "../../src/agent/learning.js";
import type { AlertUpdate } from "../../src/detectors/alerts.js";
import type { HvEvent } from "../../src/events/event.js";
import { listAlerts } from "../../src/store/alerts.js";
import { listLearned, listObservations, revokeLearned } from "../../src/store/learning.js";
import { openStore } from "../../src/store/open.js";
import { runHv } from "../helpers/hv-cli.js";
import { tempDir } from "../store/tmp.js";

const EVENTS: HvEvent[] = decodeAuditLines(readFileSync(new URL("../fixtures/audit/benign-session.log", import.meta.url), "utf8").split("\n"));
const FIRST_MS = Date.parse(EVENTS[0]!["@timestamp"]);

const IDS = {
  hvTar: "aaaaaaaa-0000-4000-8000-000000000001",
  hvFind: "aaaaaaaa-0000-4000-8000-000000000002",
  curl: "bbbbbbbb-0000-4000-8000-000000000001",
  rm: "bbbbbbbb-0000-4000-8000-000000000002",
};

function rule(id: string, title: string, level: string, image: string): string {
  return `title: ${title}
id: ${id}
status: test
level: ${level}
logsource:
    product: linux
    category: process_creation
detection:
    sel:
        Image|endswith: '${image}'
    condition: sel
`;
}

/** hv's own rules (one high, one low) and third-party ones (low, medium), each in a directory. */
function ruleDirs(): { hv: string; third: string } {
  const root = tempDir();
  const hv = join(root, "hv");
  const third = join(root, "third");
  mkdirSync(hv);
  mkdirSync(third);
  writeFileSync(join(hv, "tar.yml"), rule(IDS.hvTar, "hv test tar", "high", "/tar"));
  writeFileSync(join(hv, "find.yml"), rule(IDS.hvFind, "hv test find", "low", "/find"));
  writeFileSync(join(third, "curl.yml"), rule(IDS.curl, "third curl", "low", "/curl"));
  writeFileSync(join(third, "rm.yml"), rule(IDS.rm, "third rm", "medium", "/rm"));
  return { hv, third };
}

function run(opts: { dbPath: string; dirs: { hv: string; third: string }; learn?: boolean; routing?: { signalsBelow: "none" | "high" }; learning?: { period: string; apply: boolean }; load?: string[] }) {
  const db = openStore(opts.dbPath);
  const alerts: AlertUpdate[] = [];
  const signals: AlertUpdate[] = [];
  const d = setUpDetection({
    rulePaths: opts.load ?? [opts.dirs.hv, opts.dirs.third],
    hvRulesDir: opts.dirs.hv,
    db,
    ...(opts.learn ? { learn: true } : {}),
    ...(opts.routing ? { routing: opts.routing } : {}),
    ...(opts.learning ? { learning: opts.learning } : {}),
    onAlert: (u) => alerts.push(u),
    onSignal: (u) => signals.push(u),
    onError: (err) => {
      throw err;
    },
  });
  d.stage.onEvents(EVENTS);
  d.learner?.finish(Date.parse(EVENTS[EVENTS.length - 1]!["@timestamp"]));
  const rules = (xs: AlertUpdate[]): string[] => [...new Set(xs.map((u) => u.alert.rule.id))].sort();
  return { db, d, alerts: rules(alerts), signals: rules(signals), signalUpdates: signals };
}

describe("routing: quiet by default", () => {
  it("third-party hits below medium are stored signals; hv's own rules and medium+ hits are alerts", () => {
    const dirs = ruleDirs();
    const r = run({ dbPath: join(tempDir(), "hv.db"), dirs });
    expect(r.alerts).toEqual([IDS.hvTar, IDS.hvFind, IDS.rm].sort());
    expect(r.signals).toEqual([IDS.curl]);
    expect(r.signalUpdates.every((u) => u.alert.signal === true)).toBe(true);
    expect(r.d.stage.stats().signals).toBe(r.signalUpdates.length);
    // Stored and searchable: not in the default list, in --all, alone with --signals.
    expect(listAlerts(r.db).map((a) => a.rule.id)).not.toContain(IDS.curl);
    expect(listAlerts(r.db, { signals: "include" }).map((a) => a.rule.id)).toContain(IDS.curl);
    expect(listAlerts(r.db, { signals: "only" }).map((a) => a.rule.id)).toEqual([IDS.curl]);
    r.db.close();
  });

  it("a copy of hv's rules elsewhere is still hv's: known by id", () => {
    const dirs = ruleDirs();
    const copy = join(tempDir(), "copy");
    mkdirSync(copy);
    writeFileSync(join(copy, "find.yml"), readFileSync(join(dirs.hv, "find.yml")));
    // hv's directory is where hv's rules ship; the copy is what is loaded.
    const r = run({ dbPath: join(tempDir(), "hv.db"), dirs, load: [copy, dirs.third] });
    expect(r.alerts).toContain(IDS.hvFind);
    expect(r.signals).toEqual([IDS.curl]);
  });

  it("the configuration decides: signalsBelow none sends everything, high quiets medium too", () => {
    const dirs = ruleDirs();
    const none = run({ dbPath: join(tempDir(), "hv.db"), dirs, routing: { signalsBelow: "none" } });
    expect(none.signals).toEqual([]);
    expect(none.alerts).toContain(IDS.curl);
    const high = run({ dbPath: join(tempDir(), "hv.db"), dirs, routing: { signalsBelow: "high" } });
    expect(high.signals).toEqual([IDS.curl, IDS.rm].sort());
    // hv's own low rule is still an alert.
    expect(high.alerts).toEqual([IDS.hvTar, IDS.hvFind].sort());
  });
});

describe("learning", () => {
  it("counts (rule, lineage, user, login, VM) and proposes exceptions, never for hv's own high rules", () => {
    const dirs = ruleDirs();
    const r = run({ dbPath: join(tempDir(), "hv.db"), dirs, learn: true });
    const obs = listObservations(r.db);
    expect(new Set(obs.map((o) => o.ruleId))).toEqual(new Set([IDS.hvTar, IDS.hvFind, IDS.curl, IDS.rm]));
    expect(new Set(obs.filter((o) => o.protected).map((o) => o.ruleId))).toEqual(new Set([IDS.hvTar]));
    const curl = obs.find((o) => o.ruleId === IDS.curl)!;
    expect(curl).toMatchObject({ executable: "/usr/bin/curl", parent: "/usr/bin/bash", user: "root", login: "hvadmin", vm: "" });
    const learned = listLearned(r.db);
    expect(learned.length).toBe(obs.filter((o) => !o.protected).length);
    expect(learned.map((l) => l.ruleId)).not.toContain(IDS.hvTar);
    expect(learned.every((l) => l.status === "proposed")).toBe(true);
    expect(learned.find((l) => l.ruleId === IDS.curl)!.match).toEqual({
      "process.executable": "/usr/bin/curl", "process.parent.executable": "/usr/bin/bash", "user.name": "root", "user.audit.name": "hvadmin", "vm.name": null,
    });
    // Proposing again adds nothing.
    expect(proposeExceptions(r.db, { nowMs: Date.now() })).toBe(0);
    r.db.close();
  });

  it("applied exceptions silence what was learned on the next run, never hv's high rules; revoke and expiry undo them", () => {
    const dirs = ruleDirs();
    const dbPath = join(tempDir(), "hv.db");
    const learnRun = run({ dbPath, dirs, learn: true });
    const before = learnRun.d.stage.stats().detections;
    // Apply everything, and smuggle in an applied exception for hv's high rule: it must not load.
    const db = learnRun.db;
    db.prepare(`INSERT INTO learned_exceptions (rule_id, rule_title, severity, match, observed, status, proposed) VALUES (?, 'hv test tar', 'high', ?, 1, 'proposed', 0)`).run(IDS.hvTar, JSON.stringify({ "process.executable": "/usr/bin/tar" }));
    const applied = applyProposals(db, { by: "test", nowMs: FIRST_MS });
    expect(applied.length).toBe(listLearned(db).length);
    db.close();

    const judged = run({ dbPath, dirs });
    expect(judged.d.learnedExceptions).toBe(applied.length - 1);
    const st = judged.d.stage.stats();
    expect(st.detections).toBeGreaterThan(0);
    expect(st.detections).toBeLessThan(before);
    // Only the protected hv rule still fires; every suppression is counted on a learned exception.
    const fired = judged.d.sigma.stats().perRule.filter((p) => p.matches > 0).map((p) => p.id).sort();
    expect(fired).toEqual([IDS.hvTar, IDS.hvFind, IDS.curl, IDS.rm].sort());
    expect(judged.alerts).toEqual([IDS.hvTar]);
    const learnedStats = judged.d.sigma.stats().exceptions.filter((e) => e.source === "learned");
    expect(learnedStats.reduce((n, e) => n + e.suppressed, 0)).toBe(before - st.detections);

    // Revoked: the curl exception no longer loads, curl is a signal again.
    const curlId = listLearned(judged.db).find((l) => l.ruleId === IDS.curl)!.id;
    expect(revokeLearned(judged.db, curlId, "test", Date.now())).toBe(true);
    judged.db.close();
    const afterRevoke = run({ dbPath, dirs });
    expect(afterRevoke.signals).toEqual([IDS.curl]);
    afterRevoke.db.close();
  });

  it("a learning period ends on stream time, then applies what it learned at once (learning.apply)", () => {
    const dirs = ruleDirs();
    const r = run({ dbPath: join(tempDir(), "hv.db"), dirs, learning: { period: "5s", apply: true } });
    const obs = listObservations(r.db);
    expect(obs.length).toBeGreaterThan(0);
    const start = Math.min(...obs.map((o) => o.firstSeen));
    expect(obs.every((o) => o.lastSeen < start + 5000)).toBe(true);
    const learned = listLearned(r.db);
    expect(learned.length).toBeGreaterThan(0);
    expect(learned.every((l) => l.status === "applied" && l.by === "learning")).toBe(true);
    expect(r.d.learner!.stats()).toMatchObject({ learning: false, applied: learned.length });
    // Applied while running: later detections of what was learned are suppressed in the same run.
    expect(r.d.sigma.stats().exceptions.filter((e) => e.source === "learned").reduce((n, e) => n + e.suppressed, 0)).toBeGreaterThan(0);
    r.db.close();
  });

  it("an exception that expired before the events does not apply", () => {
    const dirs = ruleDirs();
    const dbPath = join(tempDir(), "hv.db");
    const learnRun = run({ dbPath, dirs, learn: true });
    // Applied two days before the session for one day: expired at the session's time.
    applyProposals(learnRun.db, { by: "test", nowMs: FIRST_MS - 2 * 86_400_000, expiresMs: 86_400_000 });
    learnRun.db.close();
    const judged = run({ dbPath, dirs });
    expect(judged.d.learnedExceptions).toBeGreaterThan(0);
    expect(judged.d.sigma.stats().exceptions.every((e) => e.suppressed === 0)).toBe(true);
    expect(judged.alerts).toEqual([IDS.hvTar, IDS.hvFind, IDS.rm].sort());
    judged.db.close();
  });
});

describe("hv tune", () => {
  it("lists, applies and revokes learned exceptions, with --json and exit codes", async () => {
    const dirs = ruleDirs();
    const stateDir = tempDir();
    const r = run({ dbPath: join(stateDir, "hv.db"), dirs, learn: true });
    const n = listLearned(r.db).length;
    r.db.close();
    const timeoutMs = 60_000;
    const list = await runHv(["tune", "list", "--json", "--state-dir", stateDir], { stateDir, timeoutMs });
    expect(list.code).toBe(0);
    const rows = list.stdout.trim().split("\n").map((l) => JSON.parse(l) as { id: number; status: string; ruleId: string });
    expect(rows).toHaveLength(n);
    const curl = rows.find((x) => x.ruleId === IDS.curl)!;
    const apply = await runHv(["tune", "apply", String(curl.id), "--expires", "7d", "--json", "--state-dir", stateDir], { stateDir, timeoutMs });
    expect(apply.code).toBe(0);
    const appliedRow = JSON.parse(apply.stdout.trim()) as { status: string; expires: number; applied: number };
    expect(appliedRow.status).toBe("applied");
    expect(appliedRow.expires - appliedRow.applied).toBe(7 * 86_400_000);
    const text = await runHv(["tune", "list", "--status", "applied", "--state-dir", stateDir], { stateDir, timeoutMs });
    expect(text.stdout).toMatch(new RegExp(`#${curl.id} applied until .*third curl.*/usr/bin/bash → /usr/bin/curl.*user=root login=hvadmin vm=-`));
    const revoke = await runHv(["tune", "revoke", String(curl.id), "--json", "--state-dir", stateDir], { stateDir, timeoutMs });
    expect(revoke.json).toEqual({ revoked: [curl.id], missing: [] });
    const missing = await runHv(["tune", "apply", "9999", "--state-dir", stateDir], { stateDir, timeoutMs });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no learned exception 9999/);
    const bad = await runHv(["tune", "apply", "x", "--state-dir", stateDir], { stateDir, timeoutMs });
    expect(bad.code).toBe(2);
    const obs = await runHv(["tune", "list", "--observations", "--state-dir", stateDir], { stateDir, timeoutMs });
    expect(obs.stdout).toMatch(/third curl \[low\]\s+\/usr\/bin\/bash → \/usr\/bin\/curl\s+user=root login=hvadmin vm=-/);
  });
});
