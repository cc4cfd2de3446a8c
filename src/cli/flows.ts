// `hv flows --replay FILE`: the conntrack decoder, VM attribution, every flow detector and the
// threat-feed matcher over a recorded `conntrack -E -o timestamp,extended,id` log, alerts
// deduplicated as the agent does. replayFlows() is the same without the command line.

import { createReadStream, statSync } from "node:fs";
import { basename, extname } from "node:path";
import type { Command } from "commander";
import { readStreamLines } from "../collectors/audit/sources/stdin.js";
import { createAttribution } from "../agent/attribution.js";
import { readYamlData, readYamlFile } from "../events/yaml.js";
import { DURATION_EXAMPLES, parseDuration } from "../events/duration.js";
import { InputError } from "../events/input.js";
import { createConntrackDecoder, type ConntrackProblem, type ConntrackStats } from "../collectors/flows/conntrack-decode.js";
import { InventoryIndex, loadInventoryFile } from "../collectors/libvirt/inventory.js";
import { Alerter } from "../detectors/alerts.js";
import { createFlowDetectors } from "../detectors/flows/index.js";
import { createIntelDetector } from "../detectors/intel/detector.js";
import { buildIntelIndex, type IntelFeedInput } from "../detectors/intel/index.js";
import type { Alert, Detection, Detector } from "../events/alert.js";
import { readFeedFile } from "../feeds/read.js";
import { LineWriter } from "./output.js";
import { progress } from "./progress.js";
import { writeSafe } from "../events/terminal.js";

export interface ReplayFlowsOptions {
  /** The conntrack log ('-' for stdin). */
  file: string;
  /** `[{"name","uuid","interfaces":[{"tap","mac","ip"}]}]` standing in for libvirt's inventory. */
  inventory?: string;
  /** Feed files: `PATH` (named after the file) or `NAME=PATH`. */
  feeds?: string[];
  /** hv.yaml: its `flowDetectors:` section and `dedupWindow`. */
  config?: string;
  /** Or the `flowDetectors` section itself (tests, the agent). */
  flowDetectors?: unknown;
  /** Called for each new alert as it happens (the CLI prints it). */
  onAlert?: (alert: Alert) => void;
  /** Called for every detection, with the alert it became or raised the count of. */
  onDetection?: (detection: Detection, alert: Alert) => void;
  /** Progress on stderr when it is a terminal. */
  showProgress?: boolean;
}

export interface ReplayFlowsStats {
  lines: number;
  /** Flow events decoded. */
  flows: number;
  malformed: number;
  problems: ConntrackProblem[];
  /** Events that named a VM after attribution. */
  attributed: number;
  detections: number;
  alerts: number;
  alertsByRule: Record<string, number>;
  feeds: Array<{ name: string; indicators: number; rejected: number }>;
  /** The decoder's own counters (NEW/DESTROY, losses, …). */
  decoder: ConntrackStats;
}

const TICK_MS = 1000;

export async function replayFlows(opts: ReplayFlowsOptions): Promise<{ alerts: Alert[]; stats: ReplayFlowsStats }> {
  const conf = opts.config ? readConfig(opts.config) : { flowDetectors: undefined, dedupMs: undefined };
  const inventory = opts.inventory ? loadInventoryFile(opts.inventory) : new InventoryIndex();
  const attribute = createAttribution(inventory);
  const detectors: Detector[] = [...createFlowDetectors(opts.flowDetectors ?? conf.flowDetectors)];
  const feedStats: ReplayFlowsStats["feeds"] = [];
  if (opts.feeds && opts.feeds.length > 0) {
    const inputs: IntelFeedInput[] = opts.feeds.map((spec) => {
      const { name, path } = feedSpec(spec);
      const parsed = readFeedFile(path);
      feedStats.push({ name, indicators: parsed.indicators.length, rejected: parsed.rejectedCount });
      return { feed: name, indicators: parsed.indicators };
    });
    const index = buildIntelIndex(inputs);
    detectors.push(createIntelDetector({ index: () => index }));
  }
  const alerter = new Alerter(conf.dedupMs !== undefined ? { windowMs: conf.dedupMs } : {});
  const decoder = createConntrackDecoder();
  const alerts = new Map<string, Alert>();
  const byRule: Record<string, number> = {};
  let lines = 0;
  let flows = 0;
  let attributed = 0;
  let detections = 0;
  let nextTick: number | undefined;

  const take = (ds: Detection[]): void => {
    for (const d of ds) {
      detections++;
      const { alert, isNew } = alerter.process(d);
      const key = `${alert.rule.id}\u0000${alert.entity.kind}\u0000${alert.entity.id}\u0000${alert.first_seen}`;
      alerts.set(key, alert);
      opts.onDetection?.(d, alert);
      if (isNew) {
        byRule[alert.rule.id] = (byRule[alert.rule.id] ?? 0) + 1;
        opts.onAlert?.(alert);
      }
    }
  };
  const tick = (nowMs: number): void => {
    decoder.expire(nowMs);
    for (const d of detectors) take(d.tick?.(nowMs) ?? []);
  };

  const size = opts.file === "-" ? undefined : statSync(opts.file).size;
  const bar = progress({ label: "replay", total: size, enabled: opts.showProgress ? undefined : false, format: (n) => `${(n / 1048576).toFixed(1)} MiB` });
  const input = opts.file === "-" ? process.stdin : createReadStream(opts.file);
  let read = 0;
  let lastMs: number | undefined;
  // The one line reader: lines are capped, and an input without newlines (/dev/zero) is refused.
  for await (const { text } of readStreamLines(input, { signal: new AbortController().signal })) {
    lines++;
    read += text.length + 1;
    if (lines % 4096 === 0) bar.update(read);
    const event = decoder.line(text, lines);
    if (!event) continue;
    flows++;
    attribute(event);
    if (event.vm?.name) attributed++;
    const ms = Date.parse(event["@timestamp"]);
    if (!Number.isNaN(ms)) {
      nextTick ??= ms + TICK_MS;
      // Stream time, not the wall clock: a replay closes windows exactly as the live agent did.
      if (ms >= nextTick) {
        tick(ms);
        nextTick = ms + TICK_MS;
      }
      lastMs = lastMs === undefined ? ms : Math.max(lastMs, ms);
    }
    for (const d of detectors) take(d.onEvent(event));
  }
  if (lastMs !== undefined) tick(lastMs + TICK_MS);
  bar.done();

  const ds = decoder.stats();
  return {
    alerts: [...alerts.values()],
    stats: {
      lines,
      flows,
      malformed: ds.malformed,
      problems: ds.problems,
      attributed,
      detections,
      alerts: alerter.counts.alerts,
      alertsByRule: byRule,
      feeds: feedStats,
      decoder: ds,
    },
  };
}

/** `NAME=PATH` or `PATH` (named after the file, without its extension). */
export function feedSpec(spec: string): { name: string; path: string } {
  const eq = spec.indexOf("=");
  if (eq > 0 && !spec.slice(0, eq).includes("/")) return { name: spec.slice(0, eq), path: spec.slice(eq + 1) };
  return { name: basename(spec, extname(spec)), path: spec };
}

function readConfig(path: string): { flowDetectors: unknown; dedupMs: number | undefined } {
  const read = readYamlFile(path);
  if ("problem" in read) throw new InputError(`${path}: ${read.problem}`);
  const yaml = readYamlData(read.text);
  if ("problem" in yaml) throw new InputError(`${path}:${yaml.problem.line}: ${yaml.problem.reason}`);
  const doc = yaml.data ?? {};
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new InputError(`${path}: expected a YAML mapping`);
  const o = doc as Record<string, unknown>;
  let dedupMs: number | undefined;
  if (o.dedupWindow !== undefined) {
    dedupMs = parseDuration(String(o.dedupWindow));
    if (dedupMs === undefined) throw new InputError(`${path}: dedupWindow: must look like ${DURATION_EXAMPLES}`);
  }
  // Validated now so a mistake names the file; createFlowDetectors validates again (cheap).
  const section = o.flowDetectors;
  try {
    createFlowDetectors(section);
  } catch (err) {
    throw new InputError(`${path}: ${(err as Error).message}`);
  }
  return { flowDetectors: section, dedupMs };
}

/** One alert as a readable line: time, severity, rule, who, where, what. */
export function formatFlowAlertLine(a: Alert): string {
  const parts = [a["@timestamp"], a.severity.toUpperCase(), a.rule.id];
  parts.push(a.entity.kind === "vm" ? `vm=${a.entity.id}` : `${a.entity.kind}=${a.entity.id}${a.vm?.name ? ` vm=${a.vm.name}` : ""}`);
  if (a.source?.ip) parts.push(`${a.source.ip}${a.destination?.ip ? ` → ${a.destination.ip}${a.destination.port !== undefined ? `:${a.destination.port}` : ""}` : ""}`);
  if (a.summary) parts.push(`— ${a.summary}`);
  if (a.threat) parts.push(`[feed ${a.threat.feed}: ${a.threat.indicator}]`);
  return parts.join(" ");
}

/** The JSON line of an alert: the Alert itself, plus the detector's name at the top. */
export function alertJson(a: Alert): string {
  return JSON.stringify({ ...a, detector: a.rule.source, vm: a.entity.kind === "vm" ? { ...a.vm, name: a.entity.id } : a.vm });
}

export function formatReplaySummary(file: string, s: ReplayFlowsStats): string {
  const out = [`${file}: ${s.lines} lines, ${s.flows} flow events (${s.attributed} attributed to a VM), ${s.malformed} malformed; ${s.detections} detections → ${s.alerts} alerts`];
  for (const p of s.problems.slice(0, 5)) out.push(`  line ${p.line}: ${p.reason}`);
  if (s.problems.length > 5) out.push(`  … ${s.malformed - 5} more malformed lines`);
  for (const f of s.feeds) out.push(`  feed ${f.name}: ${f.indicators} indicators${f.rejected ? `, ${f.rejected} rejected` : ""}`);
  const rules = Object.entries(s.alertsByRule).sort((a, b) => b[1] - a[1]);
  if (rules.length > 0) out.push(`  alerts by rule: ${rules.map(([r, n]) => `${r} ${n}`).join(", ")}`);
  return out.join("\n") + "\n";
}

export function registerFlows(program: Command): void {
  program
    .command("flows")
    .description("run the flow detectors and threat feeds over a recorded conntrack log; print alerts")
    .requiredOption("--replay <file>", "log of `conntrack -E -o timestamp,extended,id` ('-' for stdin)")
    .option("--inventory <file>", 'VMs as JSON: [{"name","uuid","interfaces":[{"tap","mac","ip"}]}]')
    .option("--feed <file>", "threat feed file, any supported format; NAME=FILE names it (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--config <file>", "hv.yaml: its flowDetectors: section (thresholds) and dedupWindow")
    .option("--json", "one JSON alert per line")
    .addHelpText(
      "after",
      `
Examples:
  hv flows --replay ct.log --inventory vms.json --json | jq -c '{rule: .rule.id, vm: .vm.name, summary}'
  conntrack -E -o timestamp,extended,id | hv flows --replay - --feed feodo=ipblocklist.csv
Each new alert is printed once as it happens (repeats of the same rule about the same VM or address
within the dedup window only raise its count). The summary (stderr) counts lines, flow events,
malformed lines (first line numbers and reasons) and alerts by rule. Thresholds: docs/flow-detectors.md.`,
    )
    .action(async (o: { replay: string; inventory?: string; feed: string[]; config?: string; json?: boolean }) => {
      const out = new LineWriter();
      const { stats } = await replayFlows({
        file: o.replay,
        ...(o.inventory ? { inventory: o.inventory } : {}),
        feeds: o.feed,
        ...(o.config ? { config: o.config } : {}),
        showProgress: true,
        onAlert: (a) => out.line(o.json ? alertJson(a) : formatFlowAlertLine(a)),
      });
      await out.end();
      writeSafe(process.stderr, formatReplaySummary(o.replay, stats));
      if (stats.lines > 0 && stats.flows === 0) process.exitCode = 2;
    });
}
