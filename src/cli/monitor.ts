import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { AuditCollector, type AuditSource } from "../collectors/audit/collector.js";
import { configLocator, DEFAULT_AUDISP_SOCKET, DEFAULT_RETENTION, detectAuditSource, loadAgentConfig, shippedAuditRulesFile, shippedRulesDir, type AgentConfig } from "../agent/config.js";
import { loadedAuditRules } from "../collectors/audit/rules.js";
import { describeExceptionProblem } from "../detectors/sigma/exceptions.js";
import { coverageReport, coverageWarning } from "./rules.js";
import { createAttribution } from "../agent/attribution.js";
import { setUpDetection } from "../agent/detectors.js";
import { setUpApi } from "../api/agent.js";
import type { SourceHealth } from "../api/metrics.js";
import { setUpFleet } from "../agent/fleet.js";
import { setUpNetwork, type NetworkSetup } from "../agent/network.js";
import { setUpResponse } from "../agent/response.js";
import { publishActionResult } from "../outputs/sink.js";
import { runFleetView } from "./fleet.js";
import { onPath } from "../agent/system.js";
import { createSelfActions } from "../agent/self-actions.js";
import { LibvirtCollector } from "../collectors/libvirt/collector.js";
import { VirshBackend } from "../vm/virsh.js";
import { InventoryIndex, loadInventoryFile } from "../collectors/libvirt/inventory.js";
import type { Collector } from "../events/collector.js";
import { startPipeline } from "../agent/pipeline.js";
import type { HvEvent } from "../events/event.js";
import { createSinks, startSinks } from "../outputs/config.js";
import type { AlertSink } from "../outputs/sink.js";
import { InputError } from "../events/input.js";
import { sinkHealthWatcher, sinkStatusPart, sinkStatuses, sinkSummaryLines, undelivered } from "./sink-status.js";
import { getCheckpoint } from "../store/checkpoints.js";
import { ackAlert } from "../store/alerts.js";
import { activeEnforcements } from "../store/enforcements.js";
import { queryEvents } from "../api/queries.js";
import type { Alert } from "../events/alert.js";
import { openStore, stateDirOf, storePath } from "../store/open.js";
import { applyRetention } from "../store/retention.js";
import { formatEventLine, formatSummary, noAuditRecords, unreadableReplay } from "./events.js";
import { MonitorState } from "./monitor-state.js";
import { startMonitorPlain } from "./monitor-plain.js";
import { LineWriter } from "./output.js";
import { printErr, writeSafe } from "../events/terminal.js";

interface MonitorOptions {
  replay?: string;
  auditLog?: string;
  auditSocket?: string;
  stdin?: boolean;
  stateDir?: string;
  rules?: string[];
  config?: string;
  inventory?: string;
  libvirt: boolean;
  libvirtUri?: string;
  events?: boolean;
  json?: boolean;
  tui: boolean;
  statusEvery: string;
  playbooks?: string[];
  fleet?: string;
  since?: string;
  learn?: boolean;
}

const RETENTION_EVERY_MS = 10 * 60 * 1000;
/** How often the sinks' counters are looked at: a sink that starts failing is said within this. */
const SINK_CHECK_MS = 2000;
/** Correlation windows close on stream time; in replay the stream's end closes them all. */
const END_OF_REPLAY_MS = 24 * 3600 * 1000;

export function registerMonitor(program: Command): void {
  program
    .command("monitor")
    .description("run the pipeline on this host's audit stream and show alerts (monitor mode: alert, never act)")
    .option("--replay <file>", "run over a recorded audit log, then exit with a summary")
    .option("--audit-log <path>", "follow this audit log (rotation-safe, resumes where it stopped)")
    .option("--audit-socket <path>", "read auditd's af_unix plugin socket")
    .option("--stdin", "read raw audit records from standard input")
    .option("--rules <paths...>", "Sigma rule files or directories (default: hv's shipped rules)")
    .option("--playbooks <paths...>", "playbook files or directories (default: the config's, else hv's shipped ones, all in monitor mode)")
    .option("--fleet <url>", "show every fleet host's alerts live from NATS instead (nats://…; see hv fleet watch)")
    .option("--since <age>", "with --fleet: start this far back (e.g. 1h)")
    .option("--config <file>", "YAML config (default $HV_CONFIG, else /etc/hv/hv.yaml when it exists): rules, exceptions, sinks, dedupWindow, stateDir, flows, flowDetectors, feeds, firewall, anomaly, playbooks, response, api, metrics, fleet")
    .option("--state-dir <dir>", "where the SQLite store lives")
    .option("--inventory <file>", "VMs as JSON ([{name, uuid, interfaces: [{tap, mac, ip}]}]) instead of asking libvirt")
    .option("--libvirt-uri <uri>", "libvirt connection for VM events and the inventory", "qemu:///system")
    .option("--no-libvirt", "do not watch libvirt (VM attribution then needs --inventory)")
    .option("--events", "also print every stored event")
    .option("--json", "JSON lines on stdout: alerts (and events with --events)")
    .option("--no-tui", "plain alert lines on stdout even on a terminal")
    .option("--status-every <seconds>", "status line interval on stderr (0: never)", "5")
    .option("--learn", "learn for this whole run: count detections by (rule, lineage, user, VM), then propose exceptions (hv tune list)")
    .addHelpText(
      "after",
      `
Alerts go to the playbooks (docs/playbooks.md); what they do is recorded in the store
(hv actions list). The shipped playbooks only record what they would do.
With no source flag, hv reads ${DEFAULT_AUDISP_SOCKET} (auditd's af_unix plugin) if it exists,
else follows /var/log/audit/audit.log; if neither is readable it says why and exits.
On a terminal it shows a live view (q quits, enter opens an alert); otherwise, or with
--no-tui, it prints one line per alert (JSON with --json).

Examples:
  hv monitor
  hv monitor --rules rules/hv ../sigma/rules/linux
  hv monitor --replay recorded.log --rules rules/hv --json
  hv monitor --replay monday.log --learn && hv tune list
  hv monitor --audit-log /var/log/audit/audit.log --no-tui
  hv monitor --config /etc/hv/hv.yaml
  hv monitor --playbooks /etc/hv/playbooks --config /etc/hv/hv.yaml
  hv monitor --fleet nats://10.0.0.2:4222 --since 1h`,
    )
    .action(async (opts: MonitorOptions) => {
      process.exitCode = await runMonitor(opts);
    });
}

async function runMonitor(opts: MonitorOptions): Promise<number> {
  if (opts.fleet) return runFleetView({ servers: [opts.fleet], ...(opts.json ? { json: true } : {}), ...(opts.since ? { since: opts.since } : {}) });
  const config: AgentConfig = opts.config ? loadAgentConfig(opts.config) : {};
  const cannotRead = opts.replay !== undefined ? unreadableReplay(opts.replay) : undefined;
  if (cannotRead) {
    printErr(`hv monitor: ${cannotRead}`);
    return 2;
  }
  const source = chooseSource(opts);
  if (source === undefined) return 2;
  const stateDir = stateDirOf(opts.stateDir, config);
  const dbPath = storePath(stateDir);
  const db = openStore(dbPath);
  const replay = opts.replay !== undefined;
  if (source.kind === "file" && source.follow) {
    const from = getCheckpoint(db, `audit:${source.path}`);
    if (from) source.from = from;
  }
  const collector = new AuditCollector(source);
  const state = new MonitorState();
  const watchLibvirt = !replay && opts.libvirt && !opts.inventory && onPath("virsh");
  const libvirt = watchLibvirt ? new LibvirtCollector({ uri: opts.libvirtUri, onReport: (t) => report(`libvirt: ${t}`) }) : undefined;
  const inventory = opts.inventory ? loadInventoryFile(opts.inventory) : (libvirt?.inventory ?? new InventoryIndex());
  // The VMs panel follows the inventory (libvirt's fills in once the collector connects, after
  // this point) and the store's quarantines: read again on every status tick, not once here.
  const syncVms = (): void => {
    const quarantined = new Set(activeEnforcements(db, "quarantine").map((e) => e.target));
    state.setVms([...inventory.all().map((vm) => ({ name: vm.name, ...(vm.state !== undefined ? { state: vm.state } : {}), quarantined: quarantined.has(vm.name) })), ...[...quarantined].filter((n) => !inventory.byName(n)).map((name) => ({ name, quarantined: true }))]);
  };
  syncVms();
  const attribute = createAttribution(inventory, { processes: collector.decoder.processes, live: !replay });
  const self = createSelfActions(db, { processes: collector.decoder.processes });
  const out = new LineWriter();
  // ink draws nothing until exit when CI is set, so CI gets the plain lines.
  const tui = !replay && opts.tui && process.stdout.isTTY === true && !opts.events && !opts.json && !process.env.CI;
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  // `on`, not `once`: execa's child cleanup re-raises a signal nobody else listens to, which would
  // end hv before it stores what is pending. A second signal means "now".
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) process.exit(signal === "SIGINT" ? 130 : 143);
    stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const report = (text: string): void => {
    if (tui) state.note(text);
    else writeSafe(process.stderr, `hv monitor: ${text}\n`);
  };

  const network = setUpNetwork({ db, config, live: !replay, inventory, report: (t) => report(t) });
  // A finite input (--stdin, --replay) ends the run when it ends; libvirt and conntrack never end by themselves.
  const finite = source.kind === "stream" || (source.kind === "file" && !source.follow);
  let unreadable: InputError | undefined;
  const inputEnded = (err?: unknown): void => {
    // Said here: once the run is stopping, the pipeline no longer reports a collector's error.
    if (err !== undefined) report(`${source.kind === "stream" ? source.label : collector.name.slice(6)}: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof InputError) unreadable = err;
    stop();
  };
  const collectors: Collector[] = [finite ? endingWith(collector, inputEnded) : collector, ...(libvirt ? [libvirt] : []), ...network.collectors];
  const api = setUpApi({ config, db, stateDir, live: !replay, firewall: network.firewall, ...(libvirt ? { backend: new VirshBackend({ uri: opts.libvirtUri }) } : {}), report });
  const metrics = api.metrics;
  const anomaly = config.anomaly?.syscalls ? await (await import("../detectors/anomaly/detector.js")).createAnomalyDetector({ modelPath: config.anomaly.syscalls, ...(metrics ? { onScore: (s: number) => metrics.modelScore("syscalls", s) } : {}) }) : undefined;
  const fleet = setUpFleet({ config, db, live: !replay, spoolDir: join(stateDir, "outbox"), firewall: network.firewall, report });
  // Live, a sink whose peer is away keeps its alerts in STATE/outbox until it is back (also across
  // restarts); a replay only reports what it could not deliver.
  const sinks: AlertSink[] = [];
  try {
    sinks.push(...createSinks(config.sinks ?? [], replay ? {} : { spoolDir: join(stateDir, "outbox") }), ...(fleet ? [fleet.sink] : []));
    await startSinks(sinks);
  } catch (err) {
    await Promise.all(sinks.map((s) => s.close()));
    await fleet?.stop();
    await anomaly?.close();
    db.close();
    throw err;
  }
  metrics?.watchSinks(() => sinkStatuses(sinks));
  const actions = new Map<number, string>();
  let newSignals = 0;
  const response = setUpResponse({
    db,
    config,
    stateDir,
    live: !replay,
    inventory,
    firewall: network.firewall,
    sinks,
    ...(opts.playbooks ? { playbookPaths: opts.playbooks } : {}),
    ...(opts.libvirtUri ? { libvirtUri: opts.libvirtUri } : {}),
    report,
    onAction: (row) => {
      actions.set(row.id, row.undone !== null ? "undone" : row.status);
      report(`action ${row.id} ${row.action} ${row.target ?? ""} [${row.playbook}, ${row.mode}]: ${row.undone !== null ? `undone by ${row.undoneBy}` : row.status}${row.result ? ` — ${row.result}` : ""}`);
      if (FINAL_STATUSES.has(row.status)) metrics?.action(row.action, row.undone !== null ? "undone" : row.status);
      publishActionResult(sinks, {
        actionId: row.id,
        playbook: row.playbook,
        action: row.action,
        mode: row.mode,
        status: row.undone !== null ? "undone" : row.status,
        ...(row.target ? { target: row.target } : {}),
        ...(row.result ? { result: row.result } : {}),
        ...(row.alertId !== null ? { alertId: row.alertId } : {}),
      });
    },
  });
  const rulePaths = opts.rules ?? config.rules ?? defaultRules(report);
  const detection = setUpDetection({
    rulePaths,
    exceptions: config.exceptions,
    db,
    dedupWindow: config.dedupWindow,
    routing: config.routing,
    learning: config.learning,
    ...(opts.learn ? { learn: true } : {}),
    report,
    flowDetectors: config.flowDetectors,
    detectors: [network.intel.detector, ...(anomaly ? [anomaly] : [])],
    onAlert: (update) => {
      state.addAlert(update.alert, update.isNew);
      metrics?.alert(update.alert, update.isNew);
      for (const s of sinks) void s.send(update.alert);
      response.onAlert(update);
    },
    onSignal: (update) => {
      if (update.isNew) newSignals++;
      metrics?.signal(update.alert, update.isNew);
    },
    ...(metrics ? { metrics } : {}),
    onError: (err, where) => report(`detector ${where}: ${err instanceof Error ? err.message : String(err)}`),
  });
  if (!replay && opts.libvirt && !opts.inventory && !libvirt) report("virsh is not installed: no VM events, and VMs are named only with --inventory");
  const rs = detection.summary;
  // Invalid documents are mistakes to fix (bad YAML, a duplicate id); unsupported and dormant ones
  // are hv's limits, listed by `hv rules check`.
  for (const r of detection.rules.report) if (r.status === "invalid") report(`rules: ${r.file}:${r.reasons[0]?.line ?? r.line}: ${r.reasons[0]?.reason ?? "invalid"}`);
  const refused = detection.exceptionProblems;
  if (refused.length > 0) {
    const where = opts.config ? configLocator(opts.config) : () => "config";
    // Learned exceptions come after the configured ones.
    const configured = config.exceptions?.length ?? 0;
    for (const p of refused) report(`${p.index < configured ? where(["exceptions", p.index, ...p.path]) : "learned (hv tune list)"}: ${describeExceptionProblem(p)} (not applied)`);
  }
  const duplicates = rs.duplicates > 0 ? ` (${rs.duplicates} duplicate ids refused)` : "";
  const exceptionNote = refused.length > 0 ? `, ${refused.length} exception problems` : "";
  report(`${rs.loaded} rules loaded (${rs.dormant} dormant), ${rs.unsupported} unsupported, ${rs.invalid} invalid${duplicates}${exceptionNote} — details: ${rulesCheckCommand(opts, config)}`);
  if (detection.learnedExceptions > 0) report(`${detection.learnedExceptions} learned exceptions applied (hv tune list)`);
  if (detection.learner) report(opts.learn ? "learning for this run (hv tune list afterwards)" : `learning for ${config.learning?.period} from the first learned detection`);
  if (!replay) report(`reading ${collector.name.slice(6)} (${source.kind}); store ${dbPath}`);
  if (!replay) await warnBlindDetections(rulePaths, watchLibvirt, report);

  // ink and react (~0.5 s to import) only when the live view is drawn.
  const viewActions = {
    ack: (a: Alert): string => {
      if (a.id === undefined || !ackAlert(db, a.id)) return `alert ${a.id ?? "?"} is not in the store`;
      state.setAlertStatus(a.id, "acked");
      return `alert #${a.id} acknowledged`;
    },
    events: (a: Alert): HvEvent[] => queryEvents(db, { ids: a.event_ids, limit: a.event_ids.length }),
  };
  const view = tui ? (await import("./monitor-view.js")).startMonitorView(state, { onQuit: stop, actions: viewActions }) : undefined;
  const plain = tui ? undefined : startMonitorPlain(state, { out, json: opts.json });
  let lastEventMs = 0;
  const onEvents = (events: HvEvent[]): void => {
    for (const e of events) {
      metrics?.eventsIn(e.event.module);
      if (opts.events) out.line(opts.json ? JSON.stringify(e) : formatEventLine(e));
      lastEventMs = Math.max(lastEventMs, Date.parse(e["@timestamp"]) || 0);
    }
    detection.stage.onEvents(events);
  };
  const enrich = (e: HvEvent): void => {
    attribute(e);
    self.markSelfCaused(e);
  };
  const pipeline = startPipeline(
    { db, collectors, enrich, onEvents, onError: (err, where) => report(`${where}: ${err instanceof Error ? err.message : String(err)}`) },
    abort.signal,
  );
  network.start(abort.signal);
  metrics?.watchPipeline(() => pipeline.stats());
  metrics?.watchSources(() => sourceHealth(collector, network));
  if (anomaly) metrics?.watchModel("syscalls");
  await api.start({ responder: response.responder });
  response.start(abort.signal);

  const timers: NodeJS.Timeout[] = [];
  if (!replay) {
    let last = 0;
    const everyMs = tui ? 1000 : Number(opts.statusEvery) * 1000;
    if (everyMs > 0) {
      timers.push(
        setInterval(() => {
          const s = pipeline.stats();
          const d = collector.stats;
          const source = { name: collector.name, events: s.stored, eventsPerSec: Math.round(((s.stored - last) * 1000) / everyMs), drops: s.drops[collector.name] ?? 0, malformed: d.malformed, lostSerials: d.lostSerials };
          last = s.stored;
          const l = libvirt?.stats;
          const libvirtSource = libvirt && l ? [{ name: libvirt.name, events: l.events, eventsPerSec: 0, drops: s.drops[libvirt.name] ?? 0, malformed: l.unknown, lostSerials: 0 }] : [];
          const flowSources = flowSourceRows(network, s.drops);
          state.setSources([source, ...libvirtSource, ...flowSources], s.stored);
          syncVms();
          if (!tui) {
            const rows = sinkStatuses(sinks);
            const sinkPart = sinkStatusPart(rows);
            writeSafe(process.stderr,
              opts.json
                ? JSON.stringify({ status: { ...source, queued: s.queued, sinks: rows } }) + "\n"
                : `status: ${source.eventsPerSec} events/s, ${s.stored} stored, ${s.queued} queued, ${source.drops} dropped, ${source.malformed} malformed, ${source.lostSerials} lost serials${sinkPart ? `; ${sinkPart}` : ""}\n`,
            );
          }
        }, everyMs),
      );
    }
    timers.push(setInterval(() => detection.stage.tick(Date.now()), 1000));
    const watchSinks = sinkHealthWatcher(report);
    timers.push(
      setInterval(() => {
        const rows = sinkStatuses(sinks);
        state.setSinks(rows);
        watchSinks(rows);
      }, SINK_CHECK_MS),
    );
    const trim = (): void => void applyRetention(db, DEFAULT_RETENTION);
    trim();
    timers.push(setInterval(trim, RETENTION_EVERY_MS));
  }

  await pipeline.done;
  // Everything tied to the signal (response tick, feed schedule, tap watch, …) stops here, however the run ended.
  stop();
  for (const t of timers) clearInterval(t);
  // Anomaly scoring runs off the hot path: what is still being scored belongs to this run.
  await anomaly?.drain();
  if (replay && lastEventMs > 0) detection.stage.tick(lastEventMs + END_OF_REPLAY_MS);
  detection.learner?.finish(lastEventMs > 0 ? lastEventMs : Date.now());
  await anomaly?.close();
  // Actions still running finish (or are cut short) before their sinks and the store go.
  await response.close();
  await fleet?.stop();
  await network.close();
  await api.close();
  view?.stop();
  await view?.waitUntilExit();
  plain?.stop();
  await out.end();
  await Promise.all(sinks.map((s) => s.close()));
  const sinkRows = sinkStatuses(sinks);

  const s = pipeline.stats();
  const snap = state.snapshot();
  writeSafe(process.stderr, formatSummary({ ...collector.stats, lostRanges: collector.decoder.lostRanges() }, collector.name.slice(6)));
  writeSafe(process.stderr, `stored ${s.stored} new events (${s.duplicates} already stored), drops ${JSON.stringify(s.drops)}\n`);
  if (libvirt) {
    const l = libvirt.stats;
    writeSafe(process.stderr, `${libvirt.name}: ${l.events} events (${l.unknown} unrecognized), ${l.connects} connects, ${l.disconnects} disconnects, ${Math.round(l.gapMs / 1000)} s unwatched\n`);
  }
  if (network.conntrack) {
    const c = network.conntrack.stats;
    writeSafe(process.stderr, `${network.conntrack.name}: ${c.events} flow events (${c.new} new, ${c.destroy} ended), ${c.malformed} malformed, ${c.lostBuffer} buffer overruns, ${c.unmatchedNew} NEW never ended, ${c.starts} starts\n`);
  }
  if (network.netflow) {
    const n = network.netflow.stats();
    writeSafe(process.stderr, `${network.netflow.name}: ${n.packets} packets, ${n.flows} flows, ${n.noTemplate} without template, ${n.malformed} malformed\n`);
  }
  const a = detection.alerter.counts;
  const ds = detection.stage.stats();
  writeSafe(
    process.stderr,
    `${a.alerts - newSignals} alerts from ${a.detections - ds.signals} detections (${Object.entries(snap.bySeverity).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(", ") || "none"})\n`,
  );
  for (const r of snap.byRule.slice(0, 10)) writeSafe(process.stderr, `  ${r.count.toString().padStart(5)}  ${r.title} [${r.id}]\n`);
  if (ds.signals > 0) writeSafe(process.stderr, `${newSignals} signals from ${ds.signals} detections (stored, not sent: hv alerts list --all)\n`);
  const learnedHits = detection.sigma.stats().exceptions.filter((e) => e.source === "learned").reduce((n, e) => n + e.suppressed, 0);
  if (learnedHits > 0) writeSafe(process.stderr, `${learnedHits} detections suppressed by learned exceptions\n`);
  const ls = detection.learner?.stats();
  if (ls && ls.observed > 0) writeSafe(process.stderr, `learned ${ls.observed} detections; ${ls.proposed} exceptions proposed, ${ls.applied} applied — see \`hv tune list\`\n`);
  if (actions.size > 0) writeSafe(process.stderr, `${actions.size} actions: ${countByValue(actions)} — see \`hv actions list\`\n`);
  for (const line of sinkSummaryLines(sinkRows)) writeSafe(process.stderr, `${line}\n`);
  db.close();
  if (unreadable) return 2;
  const notAudit = replay ? noAuditRecords(collector.stats, opts.replay!) : undefined;
  if (notAudit) {
    printErr(`hv monitor: ${notAudit}`);
    return 2;
  }
  // Alerts a sink could not deliver (refused, dropped, or left queued on disk) are a failure of the run.
  return sinkRows.some((r) => undelivered(r) > 0) ? 1 : 0;
}

/** The collector as the pipeline sees it, calling `end` once it has read its whole input (or failed to: `end(err)`). */
function endingWith(collector: AuditCollector, end: (err?: unknown) => void): Collector {
  return {
    name: collector.name,
    live: collector.live,
    run: async (emit, signal) => {
      try {
        await collector.run(emit, signal);
        end();
      } catch (err) {
        end(err);
        throw err;
      }
    },
  };
}

/** Statuses after which a row does not change again (except an undo). */
const FINAL_STATUSES = new Set(["done", "failed", "refused", "recorded", "denied"]);

function countByValue(m: Map<number, string>): string {
  const counts = new Map<string, number>();
  for (const v of m.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(", ");
}

/** Live-view rows for the flow collectors. */
function flowSourceRows(network: NetworkSetup, drops: Record<string, number>): Array<{ name: string; events: number; eventsPerSec: number; drops: number; malformed: number; lostSerials: number }> {
  const rows = [];
  if (network.conntrack) {
    const c = network.conntrack.stats;
    rows.push({ name: network.conntrack.name, events: c.events, eventsPerSec: 0, drops: (drops[network.conntrack.name] ?? 0) + c.lostBuffer, malformed: c.malformed, lostSerials: c.unmatchedNew });
  }
  if (network.netflow) {
    const n = network.netflow.stats();
    rows.push({ name: network.netflow.name, events: n.flows, eventsPerSec: 0, drops: drops[network.netflow.name] ?? 0, malformed: n.malformed, lostSerials: 0 });
  }
  return rows;
}

/** The `hv rules check` command that checks exactly the rules (and exceptions) this run loaded, ready to paste. */
function rulesCheckCommand(opts: MonitorOptions, config: AgentConfig): string {
  const quote = (p: string): string => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replaceAll("'", "'\\''")}'`);
  if (opts.rules) return `hv rules check ${opts.rules.map(quote).join(" ")}${opts.config ? ` --config ${quote(opts.config)}` : ""}`;
  if (opts.config && config.rules) return `hv rules check --config ${quote(opts.config)}`;
  const paths = config.rules ?? [shippedRulesDir()];
  return `hv rules check ${paths.map(quote).join(" ")}${opts.config ? ` --config ${quote(opts.config)}` : ""}`;
}

/** One line when the host's loaded audit rules leave detections blind (hv rules coverage says which and how to fix it). */
async function warnBlindDetections(rulePaths: string[], libvirt: boolean, report: (text: string) => void): Promise<void> {
  try {
    const audit = await loadedAuditRules();
    if (typeof audit === "string") {
      report(`audit coverage not checked: ${audit}`);
      return;
    }
    const warning = coverageWarning(coverageReport(audit, rulePaths, { fixRules: shippedAuditRulesFile(), libvirt }));
    if (warning) report(warning);
  } catch (err) {
    report(`audit coverage not checked: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** What each collector knows it lost or could not read, for /metrics. */
function sourceHealth(audit: AuditCollector, network: NetworkSetup): SourceHealth[] {
  const a = audit.stats;
  const rows: SourceHealth[] = [{ source: audit.name, dropped: 0, missing: a.lostSerials, malformed: a.malformed }];
  if (network.conntrack) {
    const c = network.conntrack.stats;
    rows.push({ source: network.conntrack.name, dropped: c.lostBuffer, missing: 0, malformed: c.malformed });
  }
  if (network.netflow) {
    const n = network.netflow.stats();
    rows.push({ source: network.netflow.name, dropped: 0, missing: 0, malformed: n.malformed });
  }
  return rows;
}

/** hv's shipped rules; a package without them still monitors (and says so) rather than failing. */
function defaultRules(report: (text: string) => void): string[] {
  const dir = shippedRulesDir();
  if (existsSync(dir)) return [dir];
  report(`no shipped rules at ${dir}; pass --rules PATH`);
  return [];
}

function chooseSource(opts: MonitorOptions): AuditSource | undefined {
  if (opts.replay) return opts.replay === "-" ? { kind: "stream", stream: process.stdin, label: "stdin" } : { kind: "file", path: opts.replay, follow: false };
  if (opts.stdin) return { kind: "stream", stream: process.stdin, label: "stdin" };
  if (opts.auditSocket) return { kind: "socket", path: opts.auditSocket };
  if (opts.auditLog) return { kind: "file", path: opts.auditLog, follow: true };
  const found = detectAuditSource();
  if (found.kind === "none") {
    writeSafe(process.stderr,
      `hv monitor: no audit source is readable:\n${found.reasons.map((r) => `  ${r}\n`).join("")}` +
        `Start auditd (or enable its af_unix plugin), run hv as root or a member of the audit log's group,\n` +
        `or replay a recorded log:  hv monitor --replay FILE\n`,
    );
    return undefined;
  }
  return found.kind === "socket" ? found : { kind: "file", path: found.path, follow: true };
}
