// Prometheus metrics of the agent (prom-client). The agent's stages call the small recorders
// below where things happen; what the store or a stage already counts (queue depth, drops, feed
// sizes, quarantines) is read at scrape time by collect callbacks, so nothing is counted twice.
// docs/api.md lists every metric and which call site feeds it.

import type Database from "better-sqlite3";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Alert } from "../events/alert.js";
import { listFeeds } from "../store/feeds.js";
import { packageVersion } from "../events/version.js";
import { storeCounts } from "./queries.js";

/** Cumulative counts kept by the pipeline (src/agent/pipeline.ts PipelineStats). */
export interface PipelineCounts {
  queued: number;
  stored: number;
  duplicates: number;
  /** Items dropped by the bounded queue, per source, since start. */
  drops: Record<string, number>;
}

/** What a collector knows it lost or could not read (read at each scrape). */
export interface SourceHealth {
  /** The collector's name (audit:/var/log/audit/audit.log, conntrack, netflow:…), as the queue's drops are keyed. */
  source: string;
  /** Events lost on the source's own side since start (conntrack buffer overruns), beyond the queue's drops. */
  dropped: number;
  /** Events the source knows are missing now (audit serial gaps; may shrink when late records arrive). */
  missing: number;
  /** Records that could not be parsed since start. */
  malformed: number;
}

export interface AgentMetrics {
  readonly registry: Registry;
  /** Newly stored events of a source (the event's module: audit, libvirt, flow, …). */
  eventsIn(source: string, n?: number): void;
  /** Events a source lost on its own side (conntrack buffer overruns, …), beyond the queue's drops. */
  eventsDropped(source: string, n?: number): void;
  /** Reads the pipeline's counters at each scrape: queue depth, queue drops per source, stored, duplicates. */
  watchPipeline(stats: () => PipelineCounts): void;
  /** Reads the collectors' own losses at each scrape; every source listed has its series from the start, at 0. */
  watchSources(read: () => SourceHealth[]): void;
  /** A model in use: its score series exist (empty) before its first score, so dashboards and alerts see it. */
  watchModel(model: string): void;
  /** Time one detector took over one event (or one tick), in seconds. */
  detectorSeconds(detector: string, seconds: number): void;
  /** An alert update: `isNew` counts a new alert, every update counts a detection. */
  alert(alert: Pick<Alert, "severity" | "rule">, isNew: boolean): void;
  /** A signal update (stored, not sent: src/agent/routing.ts): `isNew` counts a new signal, every update a detection. */
  signal(alert: Pick<Alert, "severity" | "rule">, isNew: boolean): void;
  /** An action reached a result: done, failed, refused, denied, recorded (monitor), … */
  action(kind: string, result: string): void;
  /** One anomaly model score (every scored segment, not only those over the threshold). */
  modelScore(model: string, score: number): void;
  /** Reads the alert sinks' counters at each scrape: alerts sent, failed, dropped, queued on disk, failed attempts. */
  watchSinks(stats: () => SinkCounts[]): void;
}

/** What src/outputs/sink.ts SinkStats counts, per sink. */
export interface SinkCounts {
  name: string;
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
  errors: number;
}

export interface AgentMetricsOptions {
  /** The store: feed sizes and last syncs, open alerts, active quarantines are read from it at each scrape. */
  db?: Database.Database;
  /** Process metrics (memory, CPU, event loop lag, file descriptors): default on. */
  processMetrics?: boolean;
}

/** Buckets of one detector over one event: from a microsecond to a second. */
const DETECTOR_BUCKETS = [1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 2e-3, 1e-2, 5e-2, 0.25, 1];
/** Anomaly scores are a mean negative log-likelihood: small positive numbers, threshold a few units. */
const SCORE_BUCKETS = [0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20];

export function createAgentMetrics(opts: AgentMetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  new Gauge({ name: "hv_build_info", help: "hv's version (always 1).", labelNames: ["version"], registers }).set({ version: packageVersion() }, 1);

  // Counters the pipeline already keeps are turned into Prometheus counters by their growth.
  const pipelines: Array<() => PipelineCounts> = [];
  const sources: Array<() => SourceHealth[]> = [];
  const seen = new Map<string, number>();
  const grow = (counter: Counter<string>, key: string, labels: Record<string, string>, total: number): void => {
    const before = seen.get(key) ?? 0;
    if (total > before) counter.inc(labels, total - before);
    seen.set(key, Math.max(before, total));
  };
  const eventsIn = new Counter({ name: "hv_events_total", help: "Events newly stored, by source (event module).", labelNames: ["source"], registers });
  const dropped = new Counter({
    name: "hv_events_dropped_total",
    help: "Events lost, by source: dropped by the full queue (read at scrape time) or lost by the source itself.",
    labelNames: ["source"],
    registers,
    collect() {
      for (const [i, read] of pipelines.entries()) for (const [source, n] of Object.entries(read().drops)) grow(this, `drop:${i}:${source}`, { source }, n);
      for (const [i, read] of sources.entries()) {
        for (const h of read()) {
          // inc by 0 makes the series exist: rate() and increase() then see the first loss too.
          this.inc({ source: h.source }, 0);
          grow(this, `lost:${i}:${h.source}`, { source: h.source }, h.dropped);
        }
      }
    },
  });
  new Gauge({
    name: "hv_source_missing_events",
    help: "Events a source knows are missing now, by source (audit: gaps in the kernel's serial numbers; they shrink when late records arrive).",
    labelNames: ["source"],
    registers,
    collect() {
      this.reset();
      for (const read of sources) for (const h of read()) this.inc({ source: h.source }, h.missing);
    },
  });
  new Counter({
    name: "hv_source_malformed_total",
    help: "Records a source could not parse, by source.",
    labelNames: ["source"],
    registers,
    collect() {
      for (const [i, read] of sources.entries()) {
        for (const h of read()) {
          this.inc({ source: h.source }, 0);
          grow(this, `malformed:${i}:${h.source}`, { source: h.source }, h.malformed);
        }
      }
    },
  });
  const detector = new Histogram({ name: "hv_detector_seconds", help: "Time a detector took to evaluate one event (rule evaluation latency).", labelNames: ["detector"], buckets: DETECTOR_BUCKETS, registers });
  const alerts = new Counter({ name: "hv_alerts_total", help: "New alerts, by severity and rule id.", labelNames: ["severity", "rule"], registers });
  const detections = new Counter({ name: "hv_detections_total", help: "Detections (alert updates, deduplicated or not), by severity and rule id.", labelNames: ["severity", "rule"], registers });
  const signals = new Counter({ name: "hv_signals_total", help: "New signals (stored and counted, not sent to sinks or playbooks), by severity and rule id.", labelNames: ["severity", "rule"], registers });
  const actions = new Counter({ name: "hv_actions_total", help: "Actions by kind (action name) and result.", labelNames: ["action", "result"], registers });
  const scores = new Histogram({ name: "hv_model_score", help: "Anomaly model scores of every scored segment.", labelNames: ["model"], buckets: SCORE_BUCKETS, registers });

  new Counter({
    name: "hv_events_stored_total",
    help: "Events written to the store (new ones).",
    registers,
    collect() {
      for (const [i, read] of pipelines.entries()) grow(this, `stored:${i}`, {}, read().stored);
    },
  });
  new Counter({
    name: "hv_events_duplicate_total",
    help: "Events read again after a restart and skipped because the store had them.",
    registers,
    collect() {
      for (const [i, read] of pipelines.entries()) grow(this, `dup:${i}`, {}, read().duplicates);
    },
  });
  new Gauge({
    name: "hv_queue_depth",
    help: "Events waiting in the pipeline's bounded queue.",
    registers,
    collect() {
      this.set(pipelines.reduce((sum, read) => sum + read().queued, 0));
    },
  });

  const sinkReaders: Array<() => SinkCounts[]> = [];
  const sinkRows = (): SinkCounts[] => sinkReaders.flatMap((read) => read());
  new Counter({
    name: "hv_sink_alerts_total",
    help: "Alerts by sink and outcome: sent (the peer took it), failed (refused for good), dropped (no room).",
    labelNames: ["sink", "outcome"],
    registers,
    collect() {
      for (const r of sinkRows()) for (const outcome of ["sent", "failed", "dropped"] as const) grow(this, `sink:${r.name}:${outcome}`, { sink: r.name, outcome }, r[outcome]);
    },
  });
  new Counter({
    name: "hv_sink_errors_total",
    help: "Failed delivery attempts by sink (a retry that later succeeded counts too).",
    labelNames: ["sink"],
    registers,
    collect() {
      for (const r of sinkRows()) grow(this, `sinkerr:${r.name}`, { sink: r.name }, r.errors);
    },
  });
  new Gauge({
    name: "hv_sink_queued",
    help: "Alerts waiting in a sink's spool on disk for its peer to come back.",
    labelNames: ["sink"],
    registers,
    collect() {
      this.reset();
      for (const r of sinkRows()) this.set({ sink: r.name }, r.queued);
    },
  });

  if (opts.db) registerStoreMetrics(opts.db, registers);

  return {
    registry,
    eventsIn: (source, n = 1) => eventsIn.inc({ source }, n),
    eventsDropped: (source, n = 1) => dropped.inc({ source }, n),
    watchPipeline: (read) => void pipelines.push(read),
    watchSinks: (read) => void sinkReaders.push(read),
    watchSources: (read) => void sources.push(read),
    watchModel: (model) => scores.zero({ model }),
    detectorSeconds: (name, seconds) => detector.observe({ detector: name }, seconds),
    alert: (a, isNew) => {
      const labels = { severity: a.severity, rule: a.rule.id };
      detections.inc(labels);
      if (isNew) alerts.inc(labels);
    },
    signal: (a, isNew) => {
      const labels = { severity: a.severity, rule: a.rule.id };
      detections.inc(labels);
      if (isNew) signals.inc(labels);
    },
    action: (kind, result) => actions.inc({ action: kind, result }),
    modelScore: (model, score) => {
      if (Number.isFinite(score)) scores.observe({ model }, score);
    },
  };
}

export interface SourceCounts {
  /** Events newly stored since this process started, by event module (hv_events_total). */
  events: Array<{ source: string; total: number }>;
  /** Events lost since this process started, by collector (hv_events_dropped_total). */
  dropped: Array<{ source: string; total: number }>;
}

/**
 * The per-source counters as a scrape would see them now (the console's overview turns two reads
 * into rates). Empty in a process that runs no pipeline (`hv api serve`).
 */
export async function sourceCounts(registry: Registry): Promise<SourceCounts> {
  const bySource = async (name: string): Promise<Array<{ source: string; total: number }>> => {
    const metric = registry.getSingleMetric(name);
    const values = metric ? (await metric.get()).values : [];
    return values.map((v) => ({ source: String(v.labels.source ?? ""), total: v.value })).sort((a, b) => a.source.localeCompare(b.source));
  };
  const [events, dropped] = await Promise.all([bySource("hv_events_total"), bySource("hv_events_dropped_total")]);
  return { events, dropped };
}

/** Gauges read from the store at each scrape: feeds, open alerts, quarantines, pending actions. */
function registerStoreMetrics(db: Database.Database, registers: Registry[]): void {
  const safely = (what: () => void): void => {
    // A scrape must not fail because the store is busy or closed; the gauge keeps its last value.
    try {
      what();
    } catch {
      /* kept */
    }
  };
  const feedGauge = (name: string, help: string, value: (f: ReturnType<typeof listFeeds>[number]) => number | undefined): Gauge<string> =>
    new Gauge({
      name,
      help,
      labelNames: ["feed"],
      registers,
      collect() {
        safely(() => {
          this.reset();
          for (const f of listFeeds(db)) {
            const v = value(f);
            if (v !== undefined) this.set({ feed: f.name }, v);
          }
        });
      },
    });
  const seconds = (iso?: string): number | undefined => (iso ? Date.parse(iso) / 1000 : undefined);
  feedGauge("hv_feed_entries", "Entries in a feed's current set.", (f) => f.entries);
  feedGauge("hv_feed_version", "A feed set's version (grows each time the set changes).", (f) => f.version);
  feedGauge("hv_feed_last_success_timestamp_seconds", "When a feed last synced successfully (unix seconds).", (f) => seconds(f.lastSuccess));
  feedGauge("hv_feed_last_attempt_timestamp_seconds", "When a feed sync was last attempted (unix seconds).", (f) => seconds(f.lastAttempt));
  feedGauge("hv_feed_error", "1 when a feed's last attempt failed or was rejected.", (f) => (f.lastError ? 1 : 0));
  const storeGauge = (name: string, help: string, pick: (c: ReturnType<typeof storeCounts>) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        safely(() => this.set(pick(storeCounts(db))));
      },
    });
  };
  storeGauge("hv_alerts_open", "Alerts not yet acknowledged (signals not counted).", (c) => c.alertsOpen);
  storeGauge("hv_quarantines_active", "VMs in quarantine now.", (c) => c.quarantines);
  storeGauge("hv_actions_pending", "Actions waiting for a person's approval.", (c) => c.actionsPending);
}
