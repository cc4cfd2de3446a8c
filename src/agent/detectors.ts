// Builds the detection side of the agent from its configuration: the Sigma detector over the
// configured rules, the alerter over the store.

import type Database from "better-sqlite3";
import { parseAge } from "../cli/alerts.js";
import { Alerter, type AlertUpdate } from "../detectors/alerts.js";
import { createSigmaDetector } from "../detectors/sigma/detector.js";
import { loadRules, summarize, type RuleSet } from "../detectors/sigma/ruleset.js";
import { createDetectionStage, type DetectionStage } from "./detection.js";

export interface DetectionSetup {
  stage: DetectionStage;
  alerter: Alerter;
  rules: RuleSet;
  summary: ReturnType<typeof summarize>;
}

export function setUpDetection(opts: {
  rulePaths: string[];
  exceptions?: unknown[];
  db?: Database.Database;
  dedupWindow?: string;
  onAlert: (update: AlertUpdate) => void;
  onError?: (err: unknown, detector: string) => void;
}): DetectionSetup {
  const rules = loadRules(opts.rulePaths);
  const sigma = createSigmaDetector({ rules, exceptions: opts.exceptions ?? [] });
  const alerter = new Alerter({ db: opts.db, windowMs: opts.dedupWindow ? parseAge(opts.dedupWindow) : undefined });
  const stage = createDetectionStage({ detectors: [sigma], alerter, onAlert: opts.onAlert, onError: opts.onError });
  return { stage, alerter, rules, summary: summarize(rules.report) };
}
