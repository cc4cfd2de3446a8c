// `hv model` end to end through the built CLI, on synthetic traces written here and a real audit
// recording (test/fixtures/anomaly/audit/webshell.syscall.log, SYSCALL records from
// test/fixtures/anomaly/record-audit.sh). Needs `npm run build` first.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAuditLines } from "../../src/collectors/audit/decoder.js";
import { i386Name } from "../../src/detectors/anomaly/syscall-names.js";
import type { HvEvent } from "../../src/events/event.js";
import { storeBatch } from "../../src/store/events.js";
import { openStore } from "../../src/store/open.js";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";
import { attackTrace, normalTrace, writeTraces } from "../fixtures/anomaly/synthetic.js";

const tmp = mkdtempSync(join(tmpdir(), "hv-model-cli-"));
const dirs = { train: join(tmp, "train"), calib: join(tmp, "calib"), normal: join(tmp, "normal"), attack: join(tmp, "attack") };
const model = join(tmp, "m.onnx");
const AUDIT = new URL("../fixtures/anomaly/audit/webshell.syscall.log", import.meta.url).pathname;
const LAB = new URL("../fixtures/flows/lab/", import.meta.url).pathname;
const FLOW_MODEL = new URL("../../models/flows-lab.onnx", import.meta.url).pathname;
const hv = async (args: string[]) => mustSucceed(args, await runHv(args, { stateDir: join(tmp, "state"), timeoutMs: 120_000 }));

beforeAll(() => {
  writeTraces(dirs.train, 50, normalTrace, 0);
  writeTraces(dirs.calib, 120, normalTrace, 1000);
  writeTraces(dirs.normal, 60, normalTrace, 2000);
  writeTraces(dirs.attack, 12, attackTrace, 3000);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("hv model (CLI)", () => {
  it("trains, reproducibly, and reports the calibration as JSON", async () => {
    const args = ["model", "train", "--kind", "syscalls", "--traces", dirs.train, "--calibrate", dirs.calib, "--out", model, "--seed", "3", "--fpr", "0.05", "--context", "6", "--hidden", "32", "--json"];
    const r = await hv(args);
    const report = r.json as { out: string; training_traces: number; calibration: { threshold: number; target_fpr: number; heldout_traces: number } };
    expect(report.training_traces).toBe(50);
    expect(report.calibration.target_fpr).toBe(0.05);
    expect(report.calibration.heldout_traces).toBeGreaterThan(30);
    const first = readFileSync(model);
    const again = join(tmp, "again.onnx");
    await hv(args.map((a) => (a === model ? again : a)));
    expect(readFileSync(again).equals(first)).toBe(true);
  }, 180_000);

  it("info shows inputs, vocabulary, threshold and training summary", async () => {
    const r = await hv(["model", "info", model, "--json"]);
    const info = r.json as { inputs: string[]; metadata: Record<string, unknown> };
    expect(info.inputs.join(" ")).toMatch(/context: int32\[N, 6\]/);
    expect(info.metadata.kind).toBe("syscalls");
    expect(info.metadata.training_traces).toBe("50");
    expect(typeof info.metadata.threshold).toBe("string");
    expect(info.metadata.ngram_counts).toMatch(/n-grams/);
    const plain = await runHv(["model", "info", model], { stateDir: tmp, timeoutMs: 60_000 });
    expect(plain.stdout).toMatch(/threshold: /);
  });

  it("score prints one JSON line per trace and flags the attacks", async () => {
    const r = await hv(["model", "score", "--model", model, "--traces", dirs.attack, "--explain"]);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { trace: string; score: number; anomalous: boolean; explanation: string[] });
    expect(lines.length).toBe(12);
    expect(lines[0]!.trace).toBe(join(dirs.attack, "trace-0000.txt"));
    expect(lines.filter((l) => l.anomalous).length).toBeGreaterThanOrEqual(11);
    expect(lines[0]!.explanation.join(" ")).toMatch(/dup2|socketcall/);
    const normal = (await hv(["model", "score", "--model", model, "--traces", dirs.normal])).stdout.trim().split("\n").map((l) => JSON.parse(l) as { anomalous: boolean });
    expect(normal.filter((l) => l.anomalous).length).toBeLessThanOrEqual(6);
  });

  it("eval prints ROC AUC and detection at 1% and 5% FPR per attack class, beside STIDE and frequency", async () => {
    // Attack traces in class subfolders, ADFA-LD style: reverse_shell_1 and _2 form one class.
    const classes = join(tmp, "classes");
    writeTraces(join(classes, "reverse_shell_1"), 6, attackTrace, 3100);
    writeTraces(join(classes, "reverse_shell_2"), 6, attackTrace, 3200);
    writeTraces(join(classes, "unknown_calls_1"), 5, (seed) => [...normalTrace(seed).slice(0, 100), 340, 341, 342, 343], 3300);
    const r = await hv(["model", "eval", "--model", model, "--train", dirs.train, "--normal", dirs.normal, "--attack", classes, "--json"]);
    type Row = { method: string; roc_auc: number; detection_at_1pct_fpr: number; detection_at_5pct_fpr: number; count: number; classes: Record<string, { count: number; roc_auc: number }> };
    const e = r.json as { roc_auc: number; detection_at_1pct_fpr: number; detection_at_5pct_fpr: number; normal: number; attack: number; rows: Row[] };
    expect(e.normal).toBe(60);
    expect(e.attack).toBe(17);
    expect(e.rows.map((row) => row.method)).toEqual(["model (m.onnx)", "  sequence part (window NLLs)", "  set part (set distance)", "STIDE (unseen 7-grams)", "frequency (tf-idf 1-NN)"]);
    const [modelRow] = e.rows;
    expect(modelRow!.classes.reverse_shell!.count).toBe(12);
    expect(modelRow!.classes.unknown_calls!.count).toBe(5);
    expect(e.roc_auc).toBe(modelRow!.roc_auc);
    expect(e.roc_auc).toBeGreaterThan(0.95);
    expect(e.detection_at_5pct_fpr).toBeGreaterThanOrEqual(e.detection_at_1pct_fpr);
    for (const row of e.rows) expect(row.roc_auc).toBeGreaterThan(0.5);
    const text = await hv(["model", "eval", "--model", model, "--normal", dirs.normal, "--attack", classes]);
    expect(text.stdout).toMatch(/60 normal, 17 attack traces \(reverse_shell 12, unknown_calls 5\)/);
    expect(text.stdout).toMatch(/reverse_shell AUC\/det@1%/);
    expect(text.stdout).toMatch(/note: no --train DIR/);
    const usage = await runHv(["model", "eval", "--model", model, "--attack", classes], { stateDir: tmp, timeoutMs: 60_000 });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/needs --normal DIR and --attack DIR/);
  });

  it("eval scores a flow model's VM-minutes against the recording's truth, beside a feature-threshold baseline", async () => {
    const r = await hv(["model", "eval", "--model", FLOW_MODEL, "--flows", join(LAB, "lab.conntrack.log"), "--inventory", join(LAB, "lab.inventory.json"), "--truth", join(LAB, "lab.truth.json"), "--json"]);
    const e = r.json as { unit: string; normal: number; attack: number; rows: Array<{ method: string; roc_auc: number; classes: Record<string, { count: number }> }> };
    expect(e.unit).toBe("VM-minutes");
    expect(e.rows.map((row) => row.method)).toEqual(["model (flows-lab.onnx)", "largest feature excess over benign"]);
    // Every attack kind of lab.truth.json that has a VM-minute is a class.
    const truth = JSON.parse(readFileSync(join(LAB, "lab.truth.json"), "utf8")) as { attacks: Array<{ kind: string }> };
    expect(Object.keys(e.rows[0]!.classes).sort()).toEqual([...new Set(truth.attacks.map((a) => a.kind))].sort());
    expect(e.attack).toBe(Object.values(e.rows[0]!.classes).reduce((n, c) => n + c.count, 0));
    expect(e.normal).toBeGreaterThan(e.attack);
    expect(e.rows[0]!.classes["port-scan"]).toBeDefined();
    const noTruth = await runHv(["model", "eval", "--model", FLOW_MODEL, "--flows", join(LAB, "lab.conntrack.log")], { stateDir: tmp, timeoutMs: 60_000 });
    expect(noTruth.code).toBe(2);
    expect(noTruth.stderr).toMatch(/--truth FILE/);
  });

  it("trains from and scores a real audit log, one trace per process", async () => {
    const out = join(tmp, "audit.onnx");
    await hv(["model", "train", "--kind", "syscalls", "--audit", AUDIT, "--calibrate", dirs.calib, "--min-length", "5", "--context", "4", "--hidden", "16", "--out", out, "--json"]);
    expect(existsSync(out)).toBe(true);
    const r = await hv(["model", "score", "--model", out, "--audit", AUDIT]);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { trace: string; score: number });
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.trace).toMatch(/^pid:\d+$/);
  }, 180_000);

  it("reports bad trace tokens with file and position, and goes on", async () => {
    const bad = join(tmp, "bad");
    writeTraces(bad, 3, normalTrace, 7000);
    writeFileSync(join(bad, "broken.txt"), "5 3 x7 6\n");
    const r = await runHv(["model", "score", "--model", model, "--traces", bad], { stateDir: tmp, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/broken\.txt token 3: not a syscall number: "x7"/);
    expect(r.stdout.trim().split("\n").length).toBe(4);
  });

  it("baseline retrains from the audit events in the store", async () => {
    const state = join(tmp, "baseline-state");
    const db = openStore(join(state, "hv.db"));
    const recorded = decodeAuditLines(readFileSync(AUDIT, "utf8").split("\n"));
    const now = Date.now();
    const synthetic: HvEvent[] = [];
    for (let pid = 50_000; pid < 50_008; pid++) {
      normalTrace(pid).forEach((call, i) => {
        const name = i386Name(call);
        synthetic.push({
          "@timestamp": new Date(now - 60_000 + i).toISOString(),
          event: { id: `anomaly-test-${pid}-${i}`, module: "audit", kind: "event", action: name },
          process: { pid },
          audit: { syscall: name },
        } as unknown as HvEvent);
      });
    }
    storeBatch(db, [...recorded, ...synthetic].map((event) => ({ event })));
    db.close();
    const out = join(tmp, "baseline.onnx");
    const r = await hv(["model", "baseline", "--state-dir", state, "--since", "30d", "--out", out, "--json"]);
    const report = r.json as { out: string; events: number; training_traces: number };
    expect(report.events).toBe(recorded.length + synthetic.length);
    expect(report.training_traces).toBeGreaterThan(3);
    expect(existsSync(out)).toBe(true);
  }, 180_000);

  it("refuses unclear requests with a clear error", async () => {
    const r = await runHv(["model", "train", "--kind", "syscalls", "--out", join(tmp, "x.onnx")], { stateDir: tmp, timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/exactly one of --traces DIR or --audit FILE/);
    const b = await runHv(["model", "baseline", "--state-dir", join(tmp, "empty-state")], { stateDir: tmp, timeoutMs: 60_000 });
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/too little to learn a baseline/);
  });
});
