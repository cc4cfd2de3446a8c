// The agent's metrics: recorders, counters derived from the pipeline's cumulative stats, and the
// gauges read from the store, in Prometheus' text format.

import { afterAll, beforeAll, expect, test } from "vitest";
import { createAgentMetrics } from "../../src/api/metrics.js";
import { startPipeline } from "../../src/agent/pipeline.js";
import type { Collector } from "../../src/events/collector.js";
import { releaseEnforcement } from "../../src/store/enforcements.js";
import { envelopes, makeEvent } from "../helpers/events.js";
import { makeFixture, type Fixture } from "./fixture.js";

let f: Fixture;
beforeAll(async () => {
  f = await makeFixture();
});
afterAll(() => f.cleanup());

/** The value of one sample line `name{labels} value`, or undefined. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("recorders: events, detector latency, alerts, actions, model scores", async () => {
  const m = createAgentMetrics({ processMetrics: false });
  m.eventsIn("audit", 5);
  m.eventsIn("flow");
  m.eventsDropped("conntrack", 7);
  m.detectorSeconds("sigma", 0.00002);
  m.detectorSeconds("sigma", 0.3);
  m.alert({ severity: "high", rule: { id: "r-1", title: "t", source: "sigma" } }, true);
  m.alert({ severity: "high", rule: { id: "r-1", title: "t", source: "sigma" } }, false);
  m.signal({ severity: "low", rule: { id: "r-2", title: "quiet", source: "sigma" } }, true);
  m.signal({ severity: "low", rule: { id: "r-2", title: "quiet", source: "sigma" } }, false);
  m.signal({ severity: "low", rule: { id: "r-2", title: "quiet", source: "sigma" } }, false);
  m.action("quarantine_vm", "done");
  m.modelScore("syscalls", 2.2);
  m.modelScore("syscalls", Number.NaN);
  const text = await m.registry.metrics();
  expect(sample(text, 'hv_events_total{source="audit"}')).toBe(5);
  expect(sample(text, 'hv_events_total{source="flow"}')).toBe(1);
  expect(sample(text, 'hv_events_dropped_total{source="conntrack"}')).toBe(7);
  expect(sample(text, 'hv_detector_seconds_count{detector="sigma"}')).toBe(2);
  expect(sample(text, 'hv_detector_seconds_bucket{le="0.00002",detector="sigma"}')).toBe(1);
  expect(sample(text, 'hv_alerts_total{severity="high",rule="r-1"}')).toBe(1);
  expect(sample(text, 'hv_detections_total{severity="high",rule="r-1"}')).toBe(2);
  // Signals: counted on their own, their detections with all detections, never as alerts.
  expect(sample(text, 'hv_signals_total{severity="low",rule="r-2"}')).toBe(1);
  expect(sample(text, 'hv_detections_total{severity="low",rule="r-2"}')).toBe(3);
  expect(sample(text, 'hv_alerts_total{severity="low",rule="r-2"}')).toBeUndefined();
  expect(sample(text, 'hv_actions_total{action="quarantine_vm",result="done"}')).toBe(1);
  expect(sample(text, 'hv_model_score_count{model="syscalls"}')).toBe(1);
  expect(sample(text, 'hv_model_score_bucket{le="2.5",model="syscalls"}')).toBe(1);
  expect(text).not.toContain("process_resident_memory_bytes");
});

test("pipeline counters: a real pipeline's stored events, queue depth and drops become counters that only grow", async () => {
  const m = createAgentMetrics({ processMetrics: false });
  const events = Array.from({ length: 40 }, (_, i) => makeEvent(1000 + i));
  // A live source that offers 40 events at once into a queue of 8: the overflow is dropped and counted.
  const burst: Collector = {
    name: "burst",
    live: true,
    run: async (emit) => {
      for (const e of envelopes(events)) void emit(e);
    },
  };
  const pipeline = startPipeline({ db: f.db, collectors: [burst], queueCapacity: 8, batchSize: 4 }, new AbortController().signal);
  m.watchPipeline(() => pipeline.stats());
  await pipeline.done;
  const s = pipeline.stats();
  expect(s.drops.burst).toBeGreaterThan(0);
  const text = await m.registry.metrics();
  expect(sample(text, "hv_events_stored_total")).toBe(s.stored);
  expect(sample(text, 'hv_events_dropped_total{source="burst"}')).toBe(s.drops.burst);
  expect(sample(text, "hv_queue_depth")).toBe(0);
  expect(s.stored + s.drops.burst!).toBe(40);
  // Scraping again adds nothing: the counters follow the totals, they do not re-add them.
  const again = await m.registry.metrics();
  expect(sample(again, "hv_events_stored_total")).toBe(s.stored);
});

test("store gauges: feed entries and last sync, open alerts, quarantines, pending actions", async () => {
  const m = createAgentMetrics({ db: f.db, processMetrics: true });
  const text = await m.registry.metrics();
  expect(sample(text, 'hv_feed_entries{feed="local-iocs"}')).toBe(3);
  expect(sample(text, 'hv_feed_error{feed="local-iocs"}')).toBe(0);
  const synced = sample(text, 'hv_feed_last_success_timestamp_seconds{feed="local-iocs"}')!;
  expect(Math.abs(synced - Date.now() / 1000)).toBeLessThan(600);
  expect(sample(text, "hv_alerts_open")).toBe(3);
  expect(sample(text, "hv_actions_pending")).toBe(6);
  expect(sample(text, "hv_quarantines_active")).toBe(2);
  expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
  releaseEnforcement(f.db, "quarantine", "vm-2", "user:test", "test");
  expect(sample(await m.registry.metrics(), "hv_quarantines_active")).toBe(1);
});
