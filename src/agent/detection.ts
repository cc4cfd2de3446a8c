// The detection stage: every newly stored event goes through every detector; what they conclude
// becomes alerts (deduplicated, stored) and goes to whoever listens (sinks, playbooks, the live
// view). This is the one place that decides where a detection goes (src/agent/routing.ts): a
// signal is stored and counted but reaches no sink and no playbook. While hv learns, each
// detection is also counted by (rule, lineage, user, VM) (src/agent/learning.ts). A detector that
// throws is counted and skipped for that event — one broken rule never stops the pipeline.

import type { Detection, Detector } from "../events/alert.js";
import type { HvEvent } from "../events/event.js";
import type { Alerter, AlertUpdate } from "../detectors/alerts.js";
import type { Learner } from "./learning.js";
import { createRouter, type Router } from "./routing.js";
import { isSelfCaused } from "./self-actions.js";

export interface DetectionStageOptions {
  detectors: Detector[];
  alerter: Alerter;
  /** Alerts for sinks, playbooks and the live view. */
  onAlert: (update: AlertUpdate) => void;
  /** Signals: stored, counted (metrics), sent nowhere. */
  onSignal?: (update: AlertUpdate) => void;
  /** Which detections are signals (default: third-party Sigma hits below medium; no rule is hv's own). */
  router?: Router;
  learner?: Learner;
  onError?: (err: unknown, detector: string) => void;
  /** Time spent in each detector (Prometheus histogram). */
  metrics?: { detectorSeconds(detector: string, seconds: number): void };
}

export interface DetectionStats {
  events: number;
  /** Events hv caused itself (a snapshot's pause/resume, its own virsh calls): never alerted on. */
  selfCaused: number;
  detections: number;
  /** Detections routed as signals (stored and counted, not sent). */
  signals: number;
  errors: Record<string, number>;
}

export interface DetectionStage {
  onEvents(events: HvEvent[]): void;
  /** Lets correlation windows close when no events arrive; `nowMs` is stream time. */
  tick(nowMs: number): void;
  stats(): DetectionStats;
}

export function createDetectionStage(opts: DetectionStageOptions): DetectionStage {
  const stats: DetectionStats = { events: 0, selfCaused: 0, detections: 0, signals: 0, errors: {} };
  const router = opts.router ?? createRouter();
  // Learning is bookkeeping: if it fails (a full disk), the detection is still alerted.
  const learn = (det: Detection): void => {
    try {
      opts.learner?.onDetection(det);
    } catch (err) {
      stats.errors.learning = (stats.errors.learning ?? 0) + 1;
      opts.onError?.(err, "learning");
    }
  };
  const guarded = <T>(d: Detector, run: () => T[]): T[] => {
    const t0 = opts.metrics ? performance.now() : 0;
    try {
      return run();
    } catch (err) {
      stats.errors[d.name] = (stats.errors[d.name] ?? 0) + 1;
      opts.onError?.(err, d.name);
      return [];
    } finally {
      opts.metrics?.detectorSeconds(d.name, (performance.now() - t0) / 1000);
    }
  };
  const raise = (detections: ReturnType<Detector["onEvent"]>): void => {
    for (const det of detections) {
      stats.detections++;
      learn(det);
      if (router.isSignal(det)) {
        stats.signals++;
        opts.onSignal?.(opts.alerter.process(det, { signal: true }));
      } else {
        opts.onAlert(opts.alerter.process(det));
      }
    }
  };
  return {
    onEvents(events) {
      for (const event of events) {
        stats.events++;
        if (isSelfCaused(event)) {
          stats.selfCaused++;
          continue;
        }
        for (const d of opts.detectors) raise(guarded(d, () => d.onEvent(event)));
      }
    },
    tick(nowMs) {
      for (const d of opts.detectors) if (d.tick) raise(guarded(d, () => d.tick!(nowMs)));
      opts.learner?.tick(nowMs);
    },
    stats: () => ({ ...stats, errors: { ...stats.errors } }),
  };
}
