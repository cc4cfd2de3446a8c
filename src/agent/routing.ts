// Where an alert goes: quiet by default, loud when it matters (docs/noise.md). Hits of third-party
// Sigma rules (SigmaHQ's, a site's own: any rule not shipped in hv's rules/hv) below the
// `routing.signalsBelow` level (default medium) are signals: stored and counted like alerts
// (hv alerts list --all, the API, metrics) but not sent to sinks or playbooks. hv's own rules, and
// every other detector (threat intel, anomaly models, flow detectors), always alert.

import { readdirSync, readFileSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";
import { SEVERITIES, type Detection, type Severity } from "../events/alert.js";

export const DEFAULT_SIGNALS_BELOW: Severity = "medium";

export interface RoutingOptions {
  /** Third-party Sigma hits below this level are signals; "none" sends every hit on (default "medium"). */
  signalsBelow?: Severity | "none";
  /**
   * hv's own rules: those loaded from under this directory, and those whose id is one of its rules'
   * ids (a copy of hv's rules elsewhere is still hv's). Default: none are.
   */
  hvRulesDir?: string;
}

export interface Router {
  /** True when the detection is only a signal. */
  isSignal(d: Detection): boolean;
  /** True when the rule is one of hv's own (shipped in rules/hv). */
  isHvRule(rule: Detection["rule"]): boolean;
}

export function createRouter(opts: RoutingOptions = {}): Router {
  const below = opts.signalsBelow ?? DEFAULT_SIGNALS_BELOW;
  const threshold = below === "none" ? -1 : SEVERITIES.indexOf(below);
  const dir = opts.hvRulesDir === undefined ? undefined : withSep(realpathOr(opts.hvRulesDir));
  const ids = opts.hvRulesDir === undefined ? new Set<string>() : ruleIdsUnder(opts.hvRulesDir);
  const hvFiles = new Map<string, boolean>();
  const isHvRule = (rule: Detection["rule"]): boolean => {
    if (dir === undefined || rule.source !== "sigma") return false;
    if (ids.has(rule.id)) return true;
    if (rule.file === undefined) return false;
    let v = hvFiles.get(rule.file);
    if (v === undefined) {
      v = realpathOr(rule.file).startsWith(dir);
      hvFiles.set(rule.file, v);
    }
    return v;
  };
  return {
    isHvRule,
    isSignal: (d) => d.rule.source === "sigma" && SEVERITIES.indexOf(d.severity) < threshold && !isHvRule(d.rule),
  };
}

/** The `id:` of every rule file under a directory (a missing directory has none). */
function ruleIdsUnder(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) for (const m of readFileSync(p, "utf8").matchAll(/^id:\s*['"]?([^\s'"]+)/gm)) out.add(m[1]!);
    }
  };
  walk(dir);
  return out;
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function withSep(dir: string): string {
  return dir.endsWith(sep) ? dir : dir + sep;
}
