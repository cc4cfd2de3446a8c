// The syscall anomaly detector in the agent. The rule engine calls onEvent synchronously for every
// event; model inference must not sit on that path. So onEvent only appends the syscall to its
// process's sequence; full segments (and the rest of a process when it exits or goes quiet) are
// queued and scored by onnxruntime in batches in the background, and the detections that come
// out are handed back on a later onEvent or tick call.

import { basename } from "node:path";
import type { Detection, Detector, Severity } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { BATCH, explainCalls, explainTrace, loadSyscallModel, scoreParts, type SyscallModel, type TraceScore } from "./syscall-model.js";
import { eventSyscall } from "./traces.js";

export interface AnomalyDetectorOptions {
  modelPath: string;
  /** Calls per scored segment of a long-lived process (default 500, about an ADFA-LD trace). */
  segment?: number;
  /** Fewer calls than this at exit or idle are not scored (default 20). */
  minCalls?: number;
  /** A process silent this long (stream time) has its pending calls scored (default 60 s). */
  idleMs?: number;
  /** Processes tracked at once; the longest-idle is forgotten beyond it (default 20,000). */
  maxProcesses?: number;
  /** Segments waiting for inference; more are dropped and counted (default 1,000). */
  maxQueue?: number;
  /** Sees every segment's score, not only those over the threshold (metrics). */
  onScore?: (score: number) => void;
}

export interface AnomalyDetectorStats {
  events: number;
  segmentsScored: number;
  windowsScored: number;
  detections: number;
  dropped: number;
  errors: number;
  lastError?: string;
}

export interface AnomalyDetector extends Detector {
  readonly model: SyscallModel;
  tick(nowMs: number): Detection[];
  stats(): AnomalyDetectorStats;
  /** Resolves once everything queued so far is scored (tests, shutdown). */
  drain(): Promise<void>;
  close(): Promise<void>;
}

interface ProcessState {
  /** The last `context` calls before `pending` (real context for its first windows). */
  history: number[];
  pending: number[];
  /** The latest few events of the process, carried by a detection. */
  recent: HvEvent[];
  lastMs: number;
}

interface Segment {
  pid: number;
  history: number[];
  calls: number[];
  events: HvEvent[];
}

const EXIT_CALLS = new Set(["exit", "exit_group"]);
const RECENT_EVENTS = 5;

export async function createAnomalyDetector(opts: AnomalyDetectorOptions): Promise<AnomalyDetector> {
  const model = await loadSyscallModel(opts.modelPath);
  const segment = opts.segment ?? 500;
  const minCalls = opts.minCalls ?? 20;
  const idleMs = opts.idleMs ?? 60_000;
  const maxProcesses = opts.maxProcesses ?? 20_000;
  const maxQueue = opts.maxQueue ?? 1_000;
  const k = model.meta.context;
  const name = basename(model.path);

  const processes = new Map<number, ProcessState>();
  const queue: Segment[] = [];
  const ready: Detection[] = [];
  const stats: AnomalyDetectorStats = { events: 0, segmentsScored: 0, windowsScored: 0, detections: 0, dropped: 0, errors: 0 };
  let running: Promise<void> | undefined;

  const enqueue = (pid: number, p: ProcessState): void => {
    if (p.pending.length === 0) return;
    if (queue.length >= maxQueue) stats.dropped++;
    else queue.push({ pid, history: p.history, calls: p.pending, events: p.recent.slice() });
    p.history = [...p.history, ...p.pending].slice(-k);
    p.pending = [];
    running ??= scoreQueue().finally(() => {
      running = undefined;
    });
  };

  const scoreQueue = async (): Promise<void> => {
    while (queue.length > 0) {
      // Pack whole segments until a batch is full: one onnxruntime call for many processes.
      const batch: Segment[] = [];
      let windows = 0;
      while (queue.length > 0 && (batch.length === 0 || windows + queue[0]!.calls.length <= BATCH)) {
        const s = queue.shift()!;
        batch.push(s);
        windows += s.calls.length;
      }
      try {
        const scored = await scoreParts(model, batch);
        stats.windowsScored += windows;
        batch.forEach((s, i) => {
          const r = scored[i]!;
          stats.segmentsScored++;
          opts.onScore?.(r.score);
          if (r.anomalous) ready.push(detection(s, r));
        });
      } catch (err) {
        stats.errors++;
        stats.lastError = err instanceof Error ? err.message : String(err);
      }
    }
  };

  const detection = (s: Segment, r: TraceScore): Detection => {
    stats.detections++;
    const { score } = r;
    const threshold = model.meta.threshold;
    const severity: Severity = score > threshold + Math.abs(threshold) * 0.5 ? "high" : "medium";
    const proc = s.events[s.events.length - 1]?.process;
    const who = `${proc?.executable ?? proc?.name ?? "process"} (pid ${s.pid})`;
    return {
      rule: {
        id: "anomaly:syscalls", title: "Unusual syscall sequence", source: "anomaly", level: severity,
        description: "A process made syscalls in an order the behaviour model rarely or never saw in normal activity.",
      },
      severity,
      events: s.events,
      summary: `${who}: syscall sequence score ${score.toFixed(2)} > threshold ${threshold.toFixed(2)} over ${s.calls.length} calls`,
      anomaly: {
        model: name, score, threshold,
        explanation: [
          ...explainTrace(model.meta, [...s.history, ...s.calls], [...new Array<number>(s.history.length).fill(0), ...r.nll]),
          ...explainCalls(model.meta, s.calls),
        ],
      },
    };
  };

  const take = (): Detection[] => (ready.length === 0 ? [] : ready.splice(0, ready.length));

  const forgetOldest = (): void => {
    let oldestPid: number | undefined;
    let oldest = Infinity;
    for (const [pid, p] of processes) {
      if (p.lastMs < oldest) {
        oldest = p.lastMs;
        oldestPid = pid;
      }
    }
    if (oldestPid !== undefined) processes.delete(oldestPid);
  };

  return {
    name: "anomaly",
    model,
    onEvent(event) {
      const call = eventSyscall(event);
      const pid = event.process?.pid;
      if (call === undefined || pid === undefined) return take();
      stats.events++;
      let p = processes.get(pid);
      if (!p) {
        if (processes.size >= maxProcesses) forgetOldest();
        processes.set(pid, (p = { history: [], pending: [], recent: [], lastMs: 0 }));
      }
      p.pending.push(call);
      p.recent.push(event);
      if (p.recent.length > RECENT_EVENTS) p.recent.shift();
      p.lastMs = Date.parse(event["@timestamp"]) || p.lastMs;
      const exited = EXIT_CALLS.has(event.audit?.syscall ?? "");
      if (p.pending.length >= segment || (exited && p.pending.length >= minCalls)) enqueue(pid, p);
      if (exited) processes.delete(pid);
      return take();
    },
    tick(nowMs) {
      for (const [pid, p] of processes) {
        if (nowMs - p.lastMs < idleMs) continue;
        if (p.pending.length >= minCalls) enqueue(pid, p);
        else {
          // Too few to judge alone; they still give the next segment its context.
          p.history = [...p.history, ...p.pending].slice(-k);
          p.pending = [];
        }
        if (p.pending.length === 0 && nowMs - p.lastMs > idleMs * 10) processes.delete(pid);
      }
      return take();
    },
    stats: () => ({ ...stats }),
    async drain() {
      while (running) await running;
    },
    async close() {
      while (running) await running;
      await model.session.release();
    },
  };
}
