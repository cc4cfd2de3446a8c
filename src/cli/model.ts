// `hv model`: train, inspect, score and evaluate the one-class anomaly models (docs/anomaly.md).

import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { InputError, MAX_TRAINING_BYTES, positiveInt, readFileCapped, readTextCapped } from "../events/input.js";
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { decodeAuditLines } from "../collectors/audit/decoder.js";
import { durationMs } from "../events/duration.js";
import { frequencyScorer, stideScorer } from "../detectors/anomaly/baselines.js";
import { rateAbove } from "../detectors/anomaly/calibrate.js";
import { evaluateMethod, formatEvalTable, type EvalRow } from "../detectors/anomaly/evaluate.js";
import { FLOW_FEATURES } from "../detectors/anomaly/flow-features.js";
import type { trainSyscallModel, TrainedSyscallModel } from "../detectors/anomaly/train-syscalls.js";
import { loadLabelledTraceDir, loadTraceDir, tracesFromEvents, type Trace, type TraceProblem } from "../detectors/anomaly/traces.js";
import type { FeatureBaseline, MinuteScore } from "../detectors/anomaly/train-flows.js";
import { listEvents } from "../store/events.js";
import { defaultStateDir, openStateStore } from "../store/open.js";
import { LineWriter } from "./output.js";
import { progress, type Progress } from "./progress.js";
import { writeSafe } from "../events/terminal.js";

/**
 * onnxruntime-node and the ONNX protobuf code, loaded by the subcommand that uses them: `hv model
 * --help` and the rest of hv stay quick to start (bench/startup.ts).
 */
async function onnxModules(): Promise<typeof import("../detectors/anomaly/onnx-build.js") & typeof import("../detectors/anomaly/syscall-model.js") & typeof import("../detectors/anomaly/train-syscalls.js") & typeof import("../detectors/anomaly/train-flows.js")> {
  const [a, b, c, d] = await Promise.all([import("../detectors/anomaly/onnx-build.js"), import("../detectors/anomaly/syscall-model.js"), import("../detectors/anomaly/train-syscalls.js"), import("../detectors/anomaly/train-flows.js")]);
  return { ...a, ...b, ...c, ...d };
}

interface TrainOpts {
  kind: string;
  traces?: string;
  audit?: string;
  flows?: string;
  inventory?: string;
  out: string;
  seed: string;
  calibrate?: string;
  fpr: string;
  epochs?: string;
  context?: string;
  hidden?: string;
  minLength: string;
  json?: boolean;
}

export function registerModel(program: Command): void {
  const model = program.command("model").description("one-class anomaly models: train, score, evaluate, inspect");
  model.addHelpText(
    "after",
    `
Examples:
  hv model train --kind syscalls --traces adfa/Training_Data_Master --calibrate adfa/Validation_Data_Master --out syscalls.onnx
  hv model train --kind syscalls --audit /var/log/audit/audit.log --out host.onnx
  hv model train --kind flows --flows conntrack.log --inventory vms.json --out flows.onnx
  hv model score --model models/syscalls-adfa.onnx --traces DIR
  hv model eval --model models/syscalls-adfa.onnx --normal NORMAL_DIR --attack ATTACK_DIR --json
  hv model info models/syscalls-adfa.onnx
  hv model baseline --since 7d`,
  );

  model
    .command("train")
    .description("train a model on normal data only and calibrate its threshold")
    .requiredOption("--kind <kind>", "syscalls or flows")
    .option("--traces <dir>", "syscalls: a folder of trace files (syscall numbers separated by whitespace)")
    .option("--audit <file>", "syscalls: an audit log; one trace per process")
    .option("--flows <file>", "flows: a conntrack event log (conntrack -E -o timestamp,extended,id)")
    .option("--inventory <file>", "flows: VM inventory JSON for attributing flows to VMs")
    .requiredOption("--out <file>", "where to write the .onnx model")
    .option("--seed <n>", "random seed (same seed and data → the same bytes)", "1")
    .option("--calibrate <dir>", "syscalls: normal traces kept out of training to set the threshold (half) and measure FPR (other half)")
    .option("--fpr <rate>", "target false-positive rate of the threshold", "0.01")
    .option("--epochs <n>", "training epochs (default: the model's own)")
    .option("--context <n>", "syscalls: calls before each predicted call (default 16)")
    .option("--hidden <n>", "syscalls: width of the first hidden layer; the second is half (default 128)")
    .option("--min-length <n>", "syscalls from audit: ignore processes with fewer calls", "20")
    .option("--json", "print the training report as JSON")
    .addHelpText("after", `
Examples:
  hv model train --kind syscalls --traces train/ --calibrate validation/ --out syscalls.onnx --seed 7
  hv model train --kind syscalls --audit audit.log --out host.onnx --fpr 0.005 --json`)
    .action(async (opts: TrainOpts) => {
      const { trainFlowModelFromFile } = await onnxModules();
      const fpr = Number(opts.fpr);
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed)) throw new InputError(`--seed must be an integer: ${opts.seed}`);
      if (!(fpr > 0 && fpr < 1)) throw new InputError(`--fpr must be between 0 and 1: ${opts.fpr}`);
      const epochs = opts.epochs !== undefined ? Number(opts.epochs) : undefined;
      let report: Record<string, unknown>;
      if (opts.kind === "syscalls") report = await trainSyscallsCommand(opts, seed, fpr, epochs);
      else if (opts.kind === "flows") {
        if (!opts.flows) throw new InputError("--kind flows needs --flows FILE");
        const bar = progress({ label: "flows" });
        const r = await trainFlowModelFromFile(opts.flows, { seed, fpr, inventoryPath: opts.inventory, onProgress: (d, t) => { bar.setTotal(t); bar.update(d); } });
        bar.done();
        writeModel(opts.out, r.onnx);
        report = { out: opts.out, bytes: r.onnx.length, ...r.report };
      } else throw new InputError(`--kind must be syscalls or flows: ${opts.kind}`);
      printReport(report, opts.json);
    });

  model
    .command("score")
    .description("score traces (or VM-minutes of flows): one JSON line each, higher = more anomalous")
    .requiredOption("--model <file>", "a syscall or flow model (.onnx)")
    .option("--traces <dir>", "a folder of trace files")
    .option("--audit <file>", "an audit log; one trace per process")
    .option("--flows <file>", "flow model: a conntrack event log; one line per VM and minute")
    .option("--inventory <file>", "flow model: VM inventory JSON for attributing flows to VMs")
    .option("--explain", "add the reasons (most surprising windows) to each line")
    .option("--json", "JSON lines (the default output is already JSON lines)")
    .addHelpText("after", `
Examples:
  hv model score --model models/syscalls-adfa.onnx --traces traces/
  hv model score --model host.onnx --audit audit.log --explain
  hv model score --model models/flows-lab.onnx --flows conntrack.log --inventory vms.json`)
    .action(async (opts: { model: string; traces?: string; audit?: string; flows?: string; inventory?: string; explain?: boolean }) => {
      const { scoreFlowLog, loadSyscallModel, scoreTraces, explainTrace, explainCalls } = await onnxModules();
      if (opts.flows) {
        const out = new LineWriter();
        for (const m of await scoreFlowLog(opts.model, opts.flows, opts.inventory)) {
          const line: Record<string, unknown> = { vm: m.vm, minute: m.minute, score: round(m.score), anomalous: m.anomalous };
          if (opts.explain) Object.assign(line, { explanation: m.explanation, features: m.features });
          out.line(JSON.stringify(line));
        }
        await out.end();
        return;
      }
      const m = await loadSyscallModel(opts.model);
      const traces = readTraces(opts.traces, opts.audit, 1);
      const bar = progress({ label: "scoring", total: traces.length });
      const results = await scoreTraces(m, traces, (d) => bar.update(d));
      bar.done();
      const out = new LineWriter();
      traces.forEach((t, i) => {
        const r = results[i]!;
        const line: Record<string, unknown> = { trace: t.id, score: round(r.score), anomalous: r.anomalous, sequence: round(r.lm) };
        if (r.set !== undefined) line.set_distance = round(r.set);
        if (opts.explain) line.explanation = [...explainTrace(m.meta, t.calls, r.nll), ...explainCalls(m.meta, t.calls)];
        out.line(JSON.stringify(line));
      });
      await out.end();
      await m.session.release();
    });

  model
    .command("eval")
    .description("ROC AUC and detection at 1% and 5% FPR, overall and per attack class, beside baselines")
    .requiredOption("--model <file>", "a syscall or flow model (.onnx)")
    .option("--normal <dir>", "syscalls: normal traces (not used in training)")
    .option("--attack <dir>", "syscalls: attack traces; each subfolder is a class (ADFA-LD's Adduser_1 → Adduser)")
    .option("--train <dir>", "syscalls: the normal training traces, to build the STIDE and frequency baselines from")
    .option("--flows <file>", "flows: a conntrack event log with attacks")
    .option("--inventory <file>", "flows: VM inventory JSON")
    .option("--truth <file>", "flows: the recording's truth (attacks: kind, vm, start, end), as in test/fixtures/flows/lab")
    .option("--json", "print the result as JSON")
    .addHelpText("after", `
Examples:
  hv model eval --model models/syscalls-adfa.onnx --train adfa/Training_Data_Master --normal adfa/Validation_Data_Master --attack adfa/Attack_Data_Master
  hv model eval --model models/flows-lab.onnx --flows lab/lab.conntrack.log --inventory lab/lab.inventory.json --truth lab/lab.truth.json --json

The detection rates use the threshold that gives 1% (5%) FPR on these normal items; the line
"at the model's threshold" uses the threshold calibrated into the model. Exit code 0 whatever
the numbers are.`)
    .action(async (opts: EvalOpts) => {
      // Missing or contradictory options throw InputError: exit code 2.
      const result = opts.flows ? await evalFlows(opts) : await evalSyscalls(opts);
      if (opts.json) writeSafe(process.stdout, JSON.stringify(result) + "\n");
      else {
        writeSafe(
          process.stdout,
          `${result.normal} normal, ${result.attack} attack ${result.unit} (${Object.entries(result.rows[0]!.classes).map(([c, m]) => `${c} ${m.count}`).join(", ")})\n` +
            formatEvalTable(result.rows) +
            `at the model's threshold ${result.model_threshold}: FPR ${(result.at_model_threshold.fpr * 100).toFixed(1)}%, detection ${(result.at_model_threshold.detection * 100).toFixed(1)}%\n` +
            result.notes.map((n) => `note: ${n}\n`).join(""),
        );
      }
    });

  model
    .command("info <file>")
    .description("what a model is: inputs, features, training data, threshold")
    .option("--json", "print as JSON")
    .addHelpText("after", `
Example:
  hv model info models/syscalls-adfa.onnx --json`)
    .action(async (file: string, opts: { json?: boolean }) => {
      const { readMetadata, describeGraph, MAX_MODEL_BYTES } = await onnxModules();
      const bytes = readFileCapped(file, MAX_MODEL_BYTES);
      const meta = readMetadata(bytes);
      const graph = describeGraph(bytes);
      // The n-gram table is for explanations; it would drown everything else here.
      const shown = Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, k === "ngram_counts" ? `(${Object.keys(JSON.parse(v) as object).length} n-grams)` : tryJson(v)]));
      const info = { file, bytes: bytes.length, ...graph, metadata: shown };
      if (opts.json) writeSafe(process.stdout, JSON.stringify(info) + "\n");
      else {
        const lines = [`${file} (${bytes.length} bytes, ${graph.nodes} nodes, ${graph.opsets.join(" ")})`, `inputs:  ${graph.inputs.join("; ")}`, `outputs: ${graph.outputs.join("; ")}`];
        for (const [k, v] of Object.entries(shown)) {
          const text = typeof v === "string" ? v : JSON.stringify(v);
          lines.push(`${k}: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`);
        }
        writeSafe(process.stdout, lines.join("\n") + "\n");
      }
    });

  model
    .command("baseline")
    .description("retrain the syscall model from this host's own recent audit events in the store")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--since <age>", "events from the last AGE (30m, 2h, 7d)", "7d")
    .option("--out <file>", "where to write the model (default STATE_DIR/models/syscalls-host.onnx)")
    .option("--seed <n>", "random seed", "1")
    .option("--fpr <rate>", "target false-positive rate", "0.01")
    .option("--epochs <n>", "training epochs")
    .option("--min-length <n>", "ignore processes with fewer calls", "20")
    .option("--json", "print the training report as JSON")
    .addHelpText("after", `
Examples:
  hv model baseline
  hv model baseline --since 24h --out /var/lib/hv/models/syscalls-host.onnx --json`)
    .action(async (opts: { stateDir: string; since: string; out?: string; seed: string; fpr: string; epochs?: string; minLength: string; json?: boolean }) => {
      const db = openStateStore(opts.stateDir);
      const events = listEvents(db, { sinceMs: Date.now() - durationMs(opts.since, "--since") });
      db.close();
      const { traces, unmapped } = tracesFromEvents(events, Number(opts.minLength));
      if (traces.length < 4) throw new Error(`only ${traces.length} processes with ≥${opts.minLength} syscalls in the store since ${opts.since}: too little to learn a baseline`);
      const out = opts.out ?? join(opts.stateDir, "models", "syscalls-host.onnx");
      const trained = await trainWithBar(traces, { seed: Number(opts.seed), fpr: Number(opts.fpr), epochs: opts.epochs ? Number(opts.epochs) : undefined, source: `hv store ${opts.stateDir}, audit events since ${opts.since}` });
      writeModel(out, trained.onnx);
      printReport({ out, events: events.length, unmapped_syscalls: Object.fromEntries(unmapped), ...trainReport(trained) }, opts.json);
    });
}

interface EvalOpts {
  model: string;
  normal?: string;
  attack?: string;
  train?: string;
  flows?: string;
  inventory?: string;
  truth?: string;
  json?: boolean;
}

interface EvalResult {
  model: string;
  unit: string;
  normal: number;
  attack: number;
  rows: EvalRow[];
  /** The model's row, flat (what scripts read). */
  roc_auc: number;
  detection_at_1pct_fpr: number;
  detection_at_5pct_fpr: number;
  model_threshold: number;
  at_model_threshold: { fpr: number; detection: number };
  notes: string[];
}

function evalResult(model: string, unit: string, rows: EvalRow[], normal: number[], attack: number[], threshold: number, notes: string[]): EvalResult {
  const m = rows[0]!;
  return {
    model, unit, normal: normal.length, attack: attack.length, rows,
    roc_auc: m.roc_auc, detection_at_1pct_fpr: m.detection_at_1pct_fpr, detection_at_5pct_fpr: m.detection_at_5pct_fpr,
    model_threshold: round(threshold),
    at_model_threshold: { fpr: round(rateAbove(normal, threshold)), detection: round(rateAbove(attack, threshold)) },
    notes,
  };
}

/** Scores of the normal traces and of each attack class's traces by one scorer. */
function byClass<T>(normal: T[], attacks: Map<string, T[]>, score: (items: T[]) => number[]): { normal: number[]; attacks: Map<string, number[]> } {
  return { normal: score(normal), attacks: new Map([...attacks].map(([c, items]) => [c, score(items)])) };
}

async function evalSyscalls(opts: EvalOpts): Promise<EvalResult> {
  if (!opts.normal || !opts.attack) throw new InputError("a syscall model needs --normal DIR and --attack DIR (a flow model: --flows, --inventory, --truth)");
  const { loadSyscallModel, scoreTraces } = await onnxModules();
  const m = await loadSyscallModel(opts.model);
  const normal = readTraces(opts.normal, undefined, 1);
  const labelled = loadLabelledTraceDir(opts.attack);
  reportProblems(labelled.problems);
  const all = [...normal, ...[...labelled.classes.values()].flat()];
  const bar = progress({ label: "scoring", total: all.length });
  const scored = await scoreTraces(m, all, (d) => bar.update(d));
  bar.done();
  await m.session.release();
  const partOf = new Map(all.map((t, i) => [t, scored[i]!]));
  const rows: EvalRow[] = [];
  const add = (method: string, score: (ts: Trace[]) => number[]): void => {
    const s = byClass(normal, labelled.classes, score);
    rows.push(evaluateMethod(method, s.normal, s.attacks));
  };
  add(`model (${basename(opts.model)})`, (ts) => ts.map((t) => partOf.get(t)!.score));
  if (m.meta.combination) {
    add("  sequence part (window NLLs)", (ts) => ts.map((t) => partOf.get(t)!.lm));
    add("  set part (set distance)", (ts) => ts.map((t) => partOf.get(t)!.set!));
  }
  const notes: string[] = [];
  if (opts.train) {
    const train = readTraces(opts.train, undefined, 1);
    const stide = stideScorer(train, 7);
    const freq = frequencyScorer(train);
    add("STIDE (unseen 7-grams)", (ts) => ts.map((t) => stide(t.calls)));
    add("frequency (tf-idf 1-NN)", (ts) => ts.map((t) => freq(t.calls)));
  } else notes.push("no --train DIR: the STIDE and frequency baselines need the training traces");
  const attackScores = [...labelled.classes.values()].flat().map((t) => partOf.get(t)!.score);
  return evalResult(opts.model, "traces", rows, normal.map((t) => partOf.get(t)!.score), attackScores, m.meta.threshold, notes);
}

async function evalFlows(opts: EvalOpts): Promise<EvalResult> {
  if (!opts.truth) throw new InputError("--flows needs --truth FILE (which VM attacked when)");
  const truth = readFlowTruth(opts.truth);
  const { scoreFlowLog, readMetadata, featureExcess, MAX_MODEL_BYTES } = await onnxModules();
  const minutes = await scoreFlowLog(opts.model, opts.flows!, opts.inventory);
  if (minutes.length === 0) throw new InputError(`${opts.flows}: no VM-minutes of flows (is --inventory given so flows map to VMs?)`);
  const meta = readMetadata(readFileCapped(opts.model, MAX_MODEL_BYTES));
  const base = JSON.parse(meta.baseline ?? "[]") as FeatureBaseline[];
  // A VM-minute is an attack minute of a kind when that VM ran an attack of that kind during it.
  const kindOf = (m: MinuteScore): string | undefined => {
    const start = Date.parse(m.minute) / 1000;
    return truth.find((a) => a.vm === m.vm && a.start < start + 60 && a.end >= start)?.kind;
  };
  const normal = minutes.filter((m) => kindOf(m) === undefined);
  const attacks = new Map<string, MinuteScore[]>();
  for (const m of minutes) {
    const k = kindOf(m);
    if (k) attacks.set(k, [...(attacks.get(k) ?? []), m]);
  }
  if (normal.length === 0 || attacks.size === 0) throw new InputError(`${opts.truth}: need both attack and benign VM-minutes in ${opts.flows}`);
  const rows: EvalRow[] = [];
  const add = (method: string, score: (m: MinuteScore) => number): void => {
    const s = byClass(normal, attacks, (ms) => ms.map(score));
    rows.push(evaluateMethod(method, s.normal, s.attacks));
  };
  add(`model (${basename(opts.model)})`, (m) => m.score);
  add("largest feature excess over benign", (m) => featureExcess(FLOW_FEATURES.map((f) => m.features[f]!), base));
  const threshold = Number(meta.threshold);
  return evalResult(opts.model, "VM-minutes", rows, normal.map((m) => m.score), [...attacks.values()].flat().map((m) => m.score), threshold, [
    "attack VM-minutes: minutes of a VM during one of its attacks in the truth file; all other VM-minutes are benign",
  ]);
}

function readFlowTruth(path: string): Array<{ kind: string; vm: string; start: number; end: number }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readTextCapped(path));
  } catch (err) {
    throw new InputError(`${path}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const attacks = (parsed as { attacks?: unknown }).attacks;
  if (!Array.isArray(attacks)) throw new InputError(`${path}: no "attacks" list`);
  return attacks.map((a: Record<string, unknown>, i) => {
    if (typeof a.kind !== "string" || typeof a.vm !== "string" || typeof a.start !== "number" || typeof a.end !== "number") {
      throw new InputError(`${path}: attacks[${i}] needs kind, vm (strings), start and end (epoch seconds)`);
    }
    return { kind: a.kind, vm: a.vm, start: a.start, end: a.end };
  });
}

async function trainSyscallsCommand(opts: TrainOpts, seed: number, fpr: number, epochs: number | undefined): Promise<Record<string, unknown>> {
  if (Boolean(opts.traces) === Boolean(opts.audit)) throw new InputError("--kind syscalls needs exactly one of --traces DIR or --audit FILE");
  // Flags first: a typo is said before minutes of reading traces.
  const size = {
    context: opts.context !== undefined ? positiveInt(opts.context, "--context") : undefined,
    hidden1: opts.hidden !== undefined ? positiveInt(opts.hidden, "--hidden") : undefined,
    hidden2: opts.hidden !== undefined ? Math.max(1, Math.floor(positiveInt(opts.hidden, "--hidden") / 2)) : undefined,
  };
  const traces = readTraces(opts.traces, opts.audit, Number(opts.minLength));
  const calibration = opts.calibrate ? readTraces(opts.calibrate, undefined, 1) : undefined;
  const source = opts.traces ? `trace files in ${opts.traces}` : `audit log ${opts.audit}`;
  const trained = await trainWithBar(traces, { seed, fpr, epochs, ...size, calibration, source: calibration ? `${source}; calibrated on ${opts.calibrate}` : source });
  writeModel(opts.out, trained.onnx);
  return { out: opts.out, ...trainReport(trained) };
}

async function trainWithBar(traces: Trace[], opts: Parameters<typeof trainSyscallModel>[1]): Promise<TrainedSyscallModel> {
  const { trainSyscallModel } = await onnxModules();
  let bar: Progress | undefined;
  let phase = "";
  const trained = await trainSyscallModel(traces, {
    ...opts,
    onProgress: (p, done, total, note) => {
      if (p !== phase) {
        bar?.done();
        phase = p;
        bar = progress({ label: p, total });
      }
      bar!.update(done, note);
    },
  });
  bar?.done();
  return trained;
}

function trainReport(t: TrainedSyscallModel): Record<string, unknown> {
  return {
    kind: "syscalls", bytes: t.onnx.length, training_traces: t.trainingTraces, training_windows: t.trainingWindows,
    distinct_windows: t.distinctWindows, vocabulary: t.weights.vocab.length, seconds: round(t.seconds), calibration: t.calibration,
  };
}

/** Traces from a folder of trace files or from an audit log (one per process); problems go to stderr, counted. */
function readTraces(dir: string | undefined, audit: string | undefined, minLength: number): Trace[] {
  if (dir) {
    if (!isDirectory(dir)) throw new InputError(`${dir}: not a directory of trace files`);
    const { traces, problems } = loadTraceDir(dir);
    reportProblems(problems);
    return traces;
  }
  if (audit) {
    const lines = readTextCapped(audit, MAX_TRAINING_BYTES).split("\n");
    const { traces, unmapped } = tracesFromEvents(decodeAuditLines(lines), minLength);
    if (unmapped.size > 0) writeSafe(process.stderr, `note: ${[...unmapped.values()].reduce((a, b) => a + b, 0)} syscall events without an i386 equivalent skipped (${[...unmapped.keys()].slice(0, 8).join(", ")})\n`);
    if (traces.length === 0) throw new InputError(`${audit}: no process with ≥${minLength} syscall events`);
    return traces;
  }
  throw new InputError("give --traces DIR or --audit FILE");
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function reportProblems(problems: TraceProblem[]): void {
  for (const p of problems.slice(0, 10)) writeSafe(process.stderr, `warning: ${p.file}${p.token ? ` token ${p.token}` : ""}: ${p.reason}\n`);
  if (problems.length > 10) writeSafe(process.stderr, `warning: ${problems.length - 10} more problems\n`);
  if (problems.length > 0) writeSafe(process.stderr, `${problems.length} bad tokens/files skipped\n`);
}

function writeModel(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

function printReport(report: Record<string, unknown>, json?: boolean): void {
  if (json) {
    writeSafe(process.stdout, JSON.stringify(report) + "\n");
    return;
  }
  for (const [k, v] of Object.entries(report)) writeSafe(process.stdout, `${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}\n`);
}

function tryJson(v: string): unknown {
  if (!/^[[{]/.test(v)) return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

