// Builds the detection side of the agent from its configuration: the Sigma detector over the
// configured rules, the flow detectors, whatever else the caller brings (threat intel, anomaly
// models), and the alerter over the store.

import type Database from "better-sqlite3";
import type { Detector } from "../events/alert.js";
import { createFlowDetectors } from "../detectors/flows/index.js";
import { parseAge } from "../cli/alerts.js";
import { Alerter, type AlertUpdate } from "../detectors/alerts.js";
import { createSigmaDetector } from "../detectors/sigma/detector.js";
import type { ExceptionProblem } from "../detectors/sigma/exceptions.js";
import { loadRules, summarize, type RuleSet } from "../detectors/sigma/ruleset.js";
import { createDetectionStage, type DetectionStage } from "./detection.js";

export interface DetectionSetup {
  stage: DetectionStage;
  alerter: Alerter;
  rules: RuleSet;
  summary: ReturnType<typeof summarize>;
  /** Configured exceptions refused against these rules (unknown rule or field, invalid regex, …). */
  exceptionProblems: ExceptionProblem[];
}

export function setUpDetection(opts: {
  rulePaths: string[];
  exceptions?: unknown[];
  db?: Database.Database;
  dedupWindow?: string;
  /** The `flowDetectors:` config section (defaults when absent). */
  flowDetectors?: unknown;
  /** Further detectors: threat intel, anomaly models. */
  detectors?: Detector[];
  onAlert: (update: AlertUpdate) => void;
  onError?: (err: unknown, detector: string) => void;
  metrics?: { detectorSeconds(detector: string, seconds: number): void };
}): DetectionSetup {
  const rules = loadRules(opts.rulePaths);
  const sigma = createSigmaDetector({ rules, exceptions: opts.exceptions ?? [] });
  const alerter = new Alerter({ db: opts.db, windowMs: opts.dedupWindow ? parseAge(opts.dedupWindow) : undefined });
  const detectors = [sigma, ...createFlowDetectors(opts.flowDetectors), ...(opts.detectors ?? [])];
  const stage = createDetectionStage({ detectors, alerter, onAlert: opts.onAlert, onError: opts.onError, ...(opts.metrics ? { metrics: opts.metrics } : {}) });
  return { stage, alerter, rules, summary: summarize(rules.report), exceptionProblems: sigma.exceptionProblems };
}
