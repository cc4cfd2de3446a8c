// Builds the detection side of the agent from its configuration: the Sigma detector over the
// configured rules (with the configured exceptions and the learned ones in force), the flow
// detectors, whatever else the caller brings (threat intel, anomaly models), the alerter over the
// store, the routing of alerts and signals, and learning when asked for.

import type Database from "better-sqlite3";
import type { Detector } from "../events/alert.js";
import { createFlowDetectors } from "../detectors/flows/index.js";
import { durationMs } from "../events/duration.js";
import { Alerter, type AlertUpdate } from "../detectors/alerts.js";
import { createSigmaDetector, type SigmaDetector } from "../detectors/sigma/detector.js";
import type { ExceptionProblem } from "../detectors/sigma/exceptions.js";
import { loadRules, summarize, type RuleSet } from "../detectors/sigma/ruleset.js";
import type { AgentConfig } from "./config.js";
import { shippedRulesDir } from "./config.js";
import { createDetectionStage, type DetectionStage } from "./detection.js";
import { appliedLearnedSpecs, createLearner, neverLearned, type Learner } from "./learning.js";
import { createRouter, type Router } from "./routing.js";

export interface DetectionSetup {
  stage: DetectionStage;
  alerter: Alerter;
  rules: RuleSet;
  sigma: SigmaDetector;
  router: Router;
  learner?: Learner;
  summary: ReturnType<typeof summarize>;
  /** Configured exceptions refused against these rules (unknown rule or field, invalid regex, …). */
  exceptionProblems: ExceptionProblem[];
  /** Applied learned exceptions loaded at start. */
  learnedExceptions: number;
}

export function setUpDetection(opts: {
  rulePaths: string[];
  exceptions?: unknown[];
  db?: Database.Database;
  dedupWindow?: string;
  /** The `flowDetectors:` config section (defaults when absent). */
  flowDetectors?: unknown;
  /** The `routing:` and `learning:` config sections. */
  routing?: AgentConfig["routing"];
  learning?: AgentConfig["learning"];
  /** Where hv's own rules are (default: the shipped rules/hv). */
  hvRulesDir?: string;
  /** Learn for the whole run (hv monitor --learn); needs `db`. */
  learn?: boolean;
  /** Further detectors: threat intel, anomaly models. */
  detectors?: Detector[];
  onAlert: (update: AlertUpdate) => void;
  onSignal?: (update: AlertUpdate) => void;
  onError?: (err: unknown, detector: string) => void;
  report?: (text: string) => void;
  metrics?: { detectorSeconds(detector: string, seconds: number): void };
}): DetectionSetup {
  const rules = loadRules(opts.rulePaths);
  const router = createRouter({ hvRulesDir: opts.hvRulesDir ?? shippedRulesDir(), ...(opts.routing?.signalsBelow ? { signalsBelow: opts.routing.signalsBelow } : {}) });
  const byId = new Map(rules.rules.map((r) => [r.ref.id, r]));
  // hv's own high and critical rules are never silenced by learning, whatever the store says.
  const protect = (ruleId: string): boolean => {
    const r = byId.get(ruleId);
    return r !== undefined && neverLearned(router, { rule: r.ref, severity: r.severity });
  };
  const learned = opts.db ? appliedLearnedSpecs(opts.db, protect) : [];
  const sigma = createSigmaDetector({ rules, exceptions: [...(opts.exceptions ?? []), ...learned] });
  const alerter = new Alerter({ db: opts.db, windowMs: opts.dedupWindow ? durationMs(opts.dedupWindow, "dedupWindow") : undefined });
  const detectors = [sigma, ...createFlowDetectors(opts.flowDetectors), ...(opts.detectors ?? [])];
  const l = opts.learning;
  const learner =
    opts.db && (opts.learn || l?.period)
      ? createLearner({
          db: opts.db,
          router,
          ...(opts.learn ? { always: true } : {}),
          ...(l?.period ? { periodMs: durationMs(l.period, "learning.period") } : {}),
          ...(l?.apply ? { apply: true } : {}),
          ...(l?.expires ? { expiresMs: durationMs(l.expires, "learning.expires") } : {}),
          ...(l?.minCount ? { minCount: l.minCount } : {}),
          onApplied: (specs) => sigma.addExceptions(specs.filter((s) => !protect(s.rule))),
          ...(opts.report ? { report: opts.report } : {}),
        })
      : undefined;
  const stage = createDetectionStage({
    detectors,
    alerter,
    router,
    ...(learner ? { learner } : {}),
    onAlert: opts.onAlert,
    ...(opts.onSignal ? { onSignal: opts.onSignal } : {}),
    ...(opts.onError ? { onError: opts.onError } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
  return { stage, alerter, rules, sigma, router, ...(learner ? { learner } : {}), summary: summarize(rules.report), learnedExceptions: learned.length, exceptionProblems: sigma.exceptionProblems };
}
