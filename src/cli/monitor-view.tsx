// The live terminal view of `hv monitor`: an ink app over a MonitorState. It only reads the state
// and reports the quit key; stopping the pipeline is the command's business (onQuit).

import { useEffect, useRef, useState, type ReactNode } from "react";
import { Box, render, Text, useApp, useInput, useStdin, useStdout } from "ink";
import { SEVERITY_SHORT, type Alert, type Severity } from "../events/alert.js";
import type { HvEvent } from "../events/event.js";
import { terminalSafeDeep } from "../events/terminal.js";
import { formatEventLine } from "./events.js";
import { alertKey, type MonitorSnapshot, type MonitorState, type SinkRow, type SourceStatus, type VmStatus } from "./monitor-state.js";
import { clockTime, localTime, zoneOf } from "./time.js";

/** What the view can ask of the agent (the store): the keys `a` and `e`. Absent: the keys say so. */
export interface MonitorActions {
  /** Acknowledges a stored alert; returns what to tell the person. */
  ack?(alert: Alert): string;
  /** The stored events behind an alert, oldest first. */
  events?(alert: Alert): HvEvent[];
}

export interface MonitorViewProps {
  state: MonitorState;
  onQuit: () => void;
  actions?: MonitorActions;
  /** Most re-renders per second: an alert storm changes the state thousands of times a second. */
  fps?: number;
}

export interface MonitorViewHandle {
  /** Unmounts the view (the pipeline ended on its own, e.g. SIGTERM). */
  stop(): void;
  /** Resolves once the view is gone, by `q` or by stop(). */
  waitUntilExit(): Promise<void>;
}

type Screen = "feed" | "detail" | "events" | "help";

// Wide terminals get the rules/VM panel beside the feed, narrow ones below it.
const SIDE_PANEL_MIN_COLUMNS = 110;
const SIDE_PANEL_WIDTH = 48;
const BOTTOM_PANEL_ROWS = 8;

const SEVERITY_STYLE: Record<Severity, { color: string; bold?: boolean; inverse?: boolean; label: string }> = {
  critical: { color: "red", bold: true, inverse: true, label: "critical" },
  high: { color: "red", label: "high" },
  medium: { color: "yellow", label: "medium" },
  low: { color: "cyan", label: "low" },
  informational: { color: "gray", label: "info" },
};

// Most severe first: what an operator reads first.
const SEVERITY_ORDER: Severity[] = ["critical", "high", "medium", "low", "informational"];

export function startMonitorView(state: MonitorState, opts: { onQuit: () => void; actions?: MonitorActions }): MonitorViewHandle {
  const tty = process.stdout.isTTY === true;
  // The alternate screen gives the view the whole terminal and hands the shell back untouched,
  // so the summary printed after quitting is not mixed into the last frame.
  // eslint-disable-next-line no-restricted-syntax -- hv's own escape sequence, no outside text in it
  if (tty) process.stdout.write("\u001B[?1049h");
  let restored = false;
  const restore = (): void => {
    // eslint-disable-next-line no-restricted-syntax -- as above
    if (tty && !restored) process.stdout.write("\u001B[?1049l");
    restored = true;
  };
  // Ctrl-C arrives as a key in raw mode; the view handles it so onQuit runs, as for `q`.
  const instance = render(<MonitorView state={state} onQuit={opts.onQuit} {...(opts.actions ? { actions: opts.actions } : {})} />, { exitOnCtrlC: false, maxFps: 10 });
  const exited = instance.waitUntilExit().then(restore, (err: unknown) => {
    restore();
    throw err;
  });
  return {
    stop: () => instance.unmount(),
    waitUntilExit: () => exited,
  };
}

export function MonitorView({ state, onQuit, actions, fps = 4 }: MonitorViewProps): ReactNode {
  const snap = useSnapshot(state, fps);
  const now = useClock(1000);
  const { columns, rows } = useTerminalSize();
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const [nav, setNav] = useState<Nav>({ screen: "feed", filter: {} });
  const shown = filterAlerts(snap.alerts, nav.filter);
  const selected = selectedIndex(nav, shown);

  // Keys update the navigation through an updater: several keys can arrive before React renders
  // again, and each must start from where the previous one left off. The alerts come through a
  // ref, as ink may still hold the handler of an earlier render.
  const alerts = useRef(snap);
  alerts.current = snap;
  const acts = useRef(actions);
  acts.current = actions;
  useInput(
    (input, key) => {
      if (input === "q" || (key.ctrl && input === "c")) {
        onQuit();
        exit();
        return;
      }
      const special: NavKey | undefined =
        key.downArrow ? "down"
        : key.upArrow ? "up"
        : key.return ? "enter"
        : key.escape || key.backspace || key.delete ? "back"
        : undefined;
      // Keys typed faster than the terminal is read arrive together ("ss"): each one counts.
      const keys: NavKey[] = special ? [special] : [...input].map((c) => LETTER_KEYS[c] ?? "other");
      for (const k of keys) setNav((n) => navigate(n, k, alerts.current, acts.current ?? {}));
    },
    { isActive: isRawModeSupported },
  );

  // One row short of the terminal: a frame as tall as the terminal makes ink clear the screen
  // on every render, which flickers.
  const height = Math.max(8, rows - 1);
  let body: ReactNode;
  if (nav.screen === "help") body = <Help />;
  else if (nav.screen === "events" && nav.opened) body = <AlertEvents alert={nav.opened} events={nav.events ?? []} offset={nav.eventsOffset ?? 0} height={height} note={nav.flash} />;
  else if (nav.screen === "detail" && nav.opened) {
    // Show the alert as it is now (its count may have grown since it was opened).
    const key = alertKey(nav.opened);
    body = <AlertDetail alert={snap.alerts.find((a) => alertKey(a) === key) ?? nav.opened} note={nav.flash} />;
  } else body = <Dashboard snap={snap} alerts={shown} filter={nav.filter} flash={nav.flash} now={now} columns={columns} height={height} selected={selected} />;
  return (
    <Box flexDirection="column" width={columns} height={height} overflow="hidden">
      {body}
    </Box>
  );
}

/** Which alerts the feed shows: at least this severity, only this VM ("" = alerts about no VM). */
interface Filter {
  minSeverity?: Severity;
  vm?: string;
}

interface Nav {
  screen: Screen;
  /** The selection follows an alert, not a row, so alerts arriving do not move it elsewhere.
   *  None means "the newest": an idle view keeps the latest alert selected. */
  selectedKey?: string;
  /** The alert whose details (or events) are shown. */
  opened?: Alert;
  filter: Filter;
  /** The events behind the opened alert, read once when the events screen opens. */
  events?: HvEvent[];
  eventsOffset?: number;
  /** The answer to the last key that did something (an ack), until the next key. */
  flash?: string;
}

type NavKey = "up" | "down" | "enter" | "back" | "help" | "ack" | "events" | "severity" | "vm" | "clear" | "other";

const LETTER_KEYS: Record<string, NavKey> = { j: "down", k: "up", "?": "help", a: "ack", e: "events", s: "severity", v: "vm", c: "clear" };

function selectedIndex(nav: Nav, alerts: Alert[]): number {
  return nav.selectedKey === undefined ? 0 : Math.max(0, alerts.findIndex((a) => alertKey(a) === nav.selectedKey));
}

export function filterAlerts(alerts: Alert[], f: Filter): Alert[] {
  if (f.minSeverity === undefined && f.vm === undefined) return alerts;
  const min = f.minSeverity ? SEVERITY_ORDER.indexOf(f.minSeverity) : SEVERITY_ORDER.length;
  return alerts.filter((a) => SEVERITY_ORDER.indexOf(a.severity) <= min && (f.vm === undefined || (a.vm?.name ?? "") === f.vm));
}

/** The next step of a cycling filter key: all → each value in turn → all. */
function cycle<T>(current: T | undefined, values: readonly T[]): T | undefined {
  const i = current === undefined ? -1 : values.indexOf(current);
  return i + 1 < values.length ? values[i + 1] : undefined;
}

// `s` steps the minimum severity up from "everything": low and above, medium and above, …
const SEVERITY_STEPS: readonly Severity[] = ["low", "medium", "high", "critical"];

/** Where a key leads from where the view is. */
function navigate(nav: Nav, key: NavKey, snap: MonitorSnapshot, actions: MonitorActions): Nav {
  const n: Nav = { ...nav, flash: undefined };
  if (nav.screen === "help") return { ...n, screen: "feed" }; // any key leaves the help
  if (key === "help") return { ...n, screen: "help" };
  if (nav.screen === "events") {
    const last = Math.max(0, (nav.events?.length ?? 0) - 1);
    if (key === "down" || key === "up") return { ...n, eventsOffset: Math.min(last, Math.max(0, (nav.eventsOffset ?? 0) + (key === "down" ? 1 : -1))) };
    return key === "back" ? { ...n, screen: "detail" } : n;
  }
  const alerts = filterAlerts(snap.alerts, nav.filter);
  const current = nav.screen === "detail" ? nav.opened : alerts[selectedIndex(nav, alerts)];
  if (key === "ack" && current) {
    if (!actions.ack) return { ...n, flash: "acknowledging needs the store (not available in this view)" };
    if (current.id === undefined) return { ...n, flash: "this alert is not stored: nothing to acknowledge" };
    if (current.status === "acked") return { ...n, flash: `alert #${current.id} is already acknowledged` };
    return { ...n, flash: actions.ack(current), ...(nav.opened ? { opened: { ...current, status: "acked" } } : {}) };
  }
  if (key === "events" && current) {
    if (!actions.events) return { ...n, flash: "events need the store (not available in this view)" };
    return { ...n, screen: "events", selectedKey: alertKey(current), opened: current, events: actions.events(current), eventsOffset: 0 };
  }
  if (nav.screen === "detail") return key === "back" ? { ...n, screen: "feed" } : n;
  if (key === "severity") return { ...n, selectedKey: undefined, filter: { ...nav.filter, minSeverity: cycle(nav.filter.minSeverity, SEVERITY_STEPS) } };
  if (key === "vm") {
    // Every VM an alert names, then the alerts about no VM ("").
    const names = [...new Set(snap.alerts.map((a) => a.vm?.name ?? ""))].sort((a, b) => (a === "" ? 1 : b === "" ? -1 : a.localeCompare(b)));
    return { ...n, selectedKey: undefined, filter: { ...nav.filter, vm: cycle(nav.filter.vm, names) } };
  }
  if (key === "clear") return { ...n, selectedKey: undefined, filter: {} };
  const at = selectedIndex(nav, alerts);
  if (key === "up" || key === "down") {
    const next = Math.min(alerts.length - 1, Math.max(0, at + (key === "down" ? 1 : -1)));
    const alert = alerts[next];
    return { ...n, selectedKey: next === 0 || !alert ? undefined : alertKey(alert) };
  }
  const alert = alerts[at];
  if (key === "enter" && alert) return { ...n, screen: "detail", selectedKey: alertKey(alert), opened: alert };
  return n;
}

function Dashboard(props: { snap: MonitorSnapshot; alerts: Alert[]; filter: Filter; flash: string | undefined; now: number; columns: number; height: number; selected: number }): ReactNode {
  const { snap, alerts, filter, flash, now, columns, height, selected } = props;
  const last = snap.notes[snap.notes.length - 1];
  // An answer to a key just pressed goes before the pipeline's latest note.
  const note = flash !== undefined ? { at: new Date(now).toISOString(), text: flash } : last;
  const failingSinks = snap.sinks.filter((k) => k.failed + k.dropped + k.queued > 0);
  // header, severity bar, sources, key hints, and the latest note and failing sinks when there are
  const fixed = 4 + (note ? 1 : 0) + (failingSinks.length > 0 ? 1 : 0);
  const bodyRows = Math.max(4, height - fixed);
  const side = columns >= SIDE_PANEL_MIN_COLUMNS;
  const feedRows = side ? bodyRows : Math.max(4, bodyRows - BOTTOM_PANEL_ROWS);
  const panelRows = side ? bodyRows : bodyRows - feedRows;
  const eventsPerSec = snap.sources.reduce((n, s) => n + s.eventsPerSec, 0);
  return (
    <>
      <Header startedAt={snap.startedAt} now={now} events={snap.events} eventsPerSec={eventsPerSec} />
      <SeverityBar counts={snap.bySeverity} />
      <Box flexDirection={side ? "row" : "column"}>
        <AlertFeed alerts={alerts} total={snap.alerts.length} filter={filter} selected={selected} height={feedRows} now={now} />
        <Box flexDirection={side ? "column" : "row"} width={side ? SIDE_PANEL_WIDTH : columns} flexShrink={0}>
          <RulePanel rules={snap.byRule} height={side ? Math.ceil(panelRows / 2) : panelRows} />
          <VmPanel vms={snap.vms} height={side ? Math.floor(panelRows / 2) : panelRows} />
        </Box>
      </Box>
      <SourcesLine sources={snap.sources} />
      {failingSinks.length > 0 ? <SinksLine sinks={failingSinks} /> : null}
      {note ? (
        <Text color="yellow" wrap="truncate-end">
          ! {clockTime(note.at, now)} {note.text}
        </Text>
      ) : null}
      <Text dimColor wrap="truncate-end">
        ↑/↓ j/k select · enter details · e events · a ack · s severity · v vm · c clear · ? help · q quit
      </Text>
    </>
  );
}

function Header(props: { startedAt: string; now: number; events: number; eventsPerSec: number }): ReactNode {
  return (
    <Box justifyContent="space-between">
      <Text wrap="truncate-end">
        <Text bold>hv monitor</Text>
        <Text dimColor> · up </Text>
        {duration(props.now - Date.parse(props.startedAt))}
        <Text dimColor> · events </Text>
        {props.events}
        <Text dimColor> · </Text>
        {props.eventsPerSec}/s
      </Text>
      <Text dimColor>monitor mode: alert, never act</Text>
    </Box>
  );
}

function SeverityBar({ counts }: { counts: Record<Severity, number> }): ReactNode {
  return (
    <Text wrap="truncate-end">
      {SEVERITY_ORDER.map((s) => (
        <Text key={s}>
          {counts[s] > 0 ? <SeverityText severity={s}>{` ${SEVERITY_STYLE[s].label} ${counts[s]} `}</SeverityText> : <Text dimColor>{` ${SEVERITY_STYLE[s].label} 0 `}</Text>}
          {"  "}
        </Text>
      ))}
    </Text>
  );
}

function SeverityText({ severity, children }: { severity: Severity; children: ReactNode }): ReactNode {
  const style = SEVERITY_STYLE[severity];
  return (
    <Text color={style.color} bold={style.bold} inverse={style.inverse}>
      {children}
    </Text>
  );
}

function AlertFeed(props: { alerts: Alert[]; total: number; filter: Filter; selected: number; height: number; now: number }): ReactNode {
  const { alerts, total, filter, selected, height, now } = props;
  const visible = Math.max(1, height - 3); // border and title
  // Scroll only as far as needed to keep the selection in sight.
  const offset = useRef(0);
  if (selected < offset.current) offset.current = selected;
  if (selected >= offset.current + visible) offset.current = selected - visible + 1;
  offset.current = Math.max(0, Math.min(offset.current, alerts.length - visible));
  const shown = alerts.slice(offset.current, offset.current + visible);
  const range = alerts.length > visible ? ` ${offset.current + 1}–${offset.current + shown.length} of ${alerts.length}` : ` ${alerts.length}`;
  const filtered = filter.minSeverity !== undefined || filter.vm !== undefined;
  const what = [filter.minSeverity ? `${SEVERITY_STYLE[filter.minSeverity].label}+` : "", filter.vm !== undefined ? (filter.vm === "" ? "no VM" : `vm=${filter.vm}`) : ""].filter(Boolean).join(" ");
  return (
    <Box flexDirection="column" flexGrow={1} height={height} borderStyle="round" borderDimColor paddingX={1} overflow="hidden">
      <Text bold wrap="truncate-end">
        Alerts<Text dimColor>{range}{filtered ? ` of ${total}` : ""} · newest first · times {zoneOf()}</Text>
        {filtered ? <Text color="yellow"> filter: {what}</Text> : null}
      </Text>
      {shown.length === 0 ? <Text dimColor>{filtered ? "no alert matches the filter (c clears it)" : "no alerts yet"}</Text> : null}
      {shown.map((a, i) => (
        <AlertRow key={alertKey(a)} alert={a} selected={offset.current + i === selected} now={now} />
      ))}
    </Box>
  );
}

function AlertRow({ alert, selected, now }: { alert: Alert; selected: boolean; now: number }): ReactNode {
  const where = alert.vm?.name ? `vm=${alert.vm.name}` : `${alert.entity.kind}=${alert.entity.id}`;
  return (
    <Text wrap="truncate-end" bold={selected}>
      <Text color="blueBright">{selected ? "> " : "  "}</Text>
      <Text dimColor>{clockTime(alert.last_seen, now)} </Text>
      <SeverityText severity={alert.severity}>{SEVERITY_SHORT[alert.severity].padEnd(4)}</SeverityText>
      <Text> {alert.rule.title}</Text>
      {alert.count > 1 ? <Text color="magenta"> ×{alert.count}</Text> : null}
      <Text dimColor> {where}</Text>
      {alert.status === "acked" ? <Text dimColor> (acked)</Text> : null}
    </Text>
  );
}

function RulePanel({ rules, height }: { rules: MonitorSnapshot["byRule"]; height: number }): ReactNode {
  const top = rules.slice(0, Math.max(0, height - 3));
  const width = String(top[0]?.count ?? 0).length;
  return (
    <Box flexDirection="column" flexGrow={1} flexBasis={0} height={height} borderStyle="round" borderDimColor paddingX={1} overflow="hidden">
      <Text bold>
        Rules<Text dimColor> by detections</Text>
      </Text>
      {top.length === 0 ? <Text dimColor>none fired</Text> : null}
      {top.map((r) => (
        <Text key={r.id} wrap="truncate-end">
          <Text color="magenta">{String(r.count).padStart(width)}</Text> {r.title}
        </Text>
      ))}
    </Box>
  );
}

function VmPanel({ vms, height }: { vms: VmStatus[]; height: number }): ReactNode {
  // Quarantined and worst first: the VM in trouble is the one to see when the list is longer than the panel.
  const sorted = [...vms].sort((a, b) => Number(b.quarantined === true) - Number(a.quarantined === true) || worstRank(b) - worstRank(a) || b.alerts - a.alerts || a.name.localeCompare(b.name));
  const shown = sorted.slice(0, Math.max(0, height - 3));
  const nameWidth = Math.min(20, Math.max(4, ...shown.map((v) => v.name.length)));
  return (
    <Box flexDirection="column" flexGrow={1} flexBasis={0} height={height} borderStyle="round" borderDimColor paddingX={1} overflow="hidden">
      <Text bold>
        VMs<Text dimColor>{vms.length > shown.length ? ` ${shown.length} of ${vms.length}` : ""}</Text>
      </Text>
      {shown.length === 0 ? <Text dimColor>no VM seen</Text> : null}
      {shown.map((v) => (
        <Text key={v.name} wrap="truncate-end">
          {v.name.slice(0, nameWidth).padEnd(nameWidth)} {String(v.alerts).padStart(4)}{" "}
          {v.alerts > 0 ? <SeverityText severity={v.worst}>{SEVERITY_STYLE[v.worst].label}</SeverityText> : <Text color="green">ok</Text>}
          {/* QUAR before the state: in a narrow panel the state is what gets cut off. */}
          {v.quarantined ? (
            <Text color="red" bold>
              {" "}
              QUAR
            </Text>
          ) : null}
          {v.state !== undefined ? <Text dimColor> {v.state}</Text> : null}
        </Text>
      ))}
    </Box>
  );
}

function worstRank(v: VmStatus): number {
  return v.alerts === 0 ? -1 : SEVERITY_ORDER.length - SEVERITY_ORDER.indexOf(v.worst);
}

function SourcesLine({ sources }: { sources: SourceStatus[] }): ReactNode {
  return (
    <Text wrap="truncate-end">
      <Text dimColor>sources </Text>
      {sources.length === 0 ? <Text dimColor>starting…</Text> : null}
      {sources.map((s, i) => (
        <Text key={s.name}>
          {i > 0 ? <Text dimColor> │ </Text> : null}
          {s.name} {s.eventsPerSec}/s <Counter label="drops" value={s.drops} color="red" /> <Counter label="malformed" value={s.malformed} color="yellow" />{" "}
          <Counter label="lost" value={s.lostSerials} color="yellow" />
        </Text>
      ))}
    </Text>
  );
}

/** Alert sinks that did not deliver everything: what waits on disk, what was refused or lost. */
function SinksLine({ sinks }: { sinks: SinkRow[] }): ReactNode {
  return (
    <Text wrap="truncate-end">
      <Text dimColor>sinks </Text>
      {sinks.map((k, i) => (
        <Text key={k.name}>
          {i > 0 ? <Text dimColor> │ </Text> : null}
          {k.name} <Counter label="queued" value={k.queued} color="yellow" /> <Counter label="failed" value={k.failed} color="red" /> <Counter label="dropped" value={k.dropped} color="red" />
          {k.lastError ? <Text dimColor> {k.lastError}</Text> : null}
        </Text>
      ))}
    </Text>
  );
}

/** A loss counter: quiet at zero, coloured as soon as something was lost. */
function Counter({ label, value, color }: { label: string; value: number; color: string }): ReactNode {
  return value > 0 ? (
    <Text color={color} bold>
      {label} {value}
    </Text>
  ) : (
    <Text dimColor>
      {label} {value}
    </Text>
  );
}

function AlertDetail({ alert: a, note }: { alert: Alert; note: string | undefined }): ReactNode {
  const mitre = [...a.mitre.tactics, ...a.mitre.techniques];
  const proc = a.process ? [a.process.pid !== undefined ? `pid ${a.process.pid}` : "", a.process.executable ?? "", a.process.command_line ? `“${a.process.command_line}”` : ""].filter(Boolean).join("  ") : "";
  const user = a.user ? `${a.user.name ?? ""}${a.user.id !== undefined ? ` (uid ${a.user.id})` : ""}`.trim() : "";
  return (
    <Box flexDirection="column" borderStyle="round" borderDimColor paddingX={1}>
      <Text bold wrap="truncate-end">
        {a.rule.title}
      </Text>
      <Field label="alert">{a.id !== undefined ? `#${a.id}` : "(not stored)"}  {a.status}</Field>
      <Field label="rule">
        {a.rule.id} <Text dimColor>({[a.rule.source, a.rule.file].filter(Boolean).join(", ")})</Text>
      </Field>
      <Field label="severity">
        <SeverityText severity={a.severity}>{a.severity}</SeverityText>
      </Field>
      <Field label="count">{a.count}</Field>
      <Field label="first seen">{localTime(a.first_seen)}</Field>
      <Field label="last seen">{localTime(a.last_seen)}</Field>
      <Field label="entity">
        {a.entity.kind} {a.entity.id}
      </Field>
      <Field label="vm">{a.vm?.name ? `${a.vm.name}${a.vm.uuid ? `  ${a.vm.uuid}` : ""}` : "—"}</Field>
      <Field label="mitre">{mitre.length > 0 ? mitre.join(", ") : "—"}</Field>
      <Field label="process">{proc || "—"}</Field>
      <Field label="user">{user || "—"}</Field>
      {a.rule.description ? <Field label="description">{a.rule.description.trim().replace(/\s+/g, " ")}</Field> : null}
      {a.summary ? <Field label="summary">{a.summary}</Field> : null}
      <Field label="event ids">{a.event_ids.join(" ")}</Field>
      {note ? <Text color="yellow">! {note}</Text> : null}
      <Text dimColor>e events · a ack · esc/backspace back · q quit</Text>
    </Box>
  );
}

/** The stored events behind an alert, one line each, scrolled with ↑/↓. */
function AlertEvents({ alert: a, events, offset, height, note }: { alert: Alert; events: HvEvent[]; offset: number; height: number; note: string | undefined }): ReactNode {
  const rows = Math.max(1, height - 5);
  const shown = events.slice(offset, offset + rows);
  const missing = a.event_ids.length - events.length;
  return (
    <Box flexDirection="column" borderStyle="round" borderDimColor paddingX={1} height={height} overflow="hidden">
      <Text bold wrap="truncate-end">
        Events of {a.id !== undefined ? `#${a.id} ` : ""}
        {a.rule.title}
        <Text dimColor>
          {" "}
          {events.length > rows ? `${offset + 1}–${offset + shown.length} of ${events.length}` : events.length} · oldest first · times {zoneOf()}
          {missing > 0 ? ` · ${missing} past retention` : ""}
        </Text>
      </Text>
      {events.length === 0 ? <Text dimColor>none of its events is stored any more (retention)</Text> : null}
      {shown.map((e) => (
        <Text key={e.event.id} wrap="truncate-end">
          {formatEventLine(e, (iso) => localTime(iso).replace(/ \S+$/, ""))}
        </Text>
      ))}
      {note ? <Text color="yellow">! {note}</Text> : null}
      <Text dimColor>↑/↓ scroll · esc back to the alert · q quit</Text>
    </Box>
  );
}

function Field({ label, children }: { label: string; children: ReactNode }): ReactNode {
  return (
    <Box>
      <Box width={13} flexShrink={0}>
        <Text dimColor>{label}</Text>
      </Box>
      <Text>{children}</Text>
    </Box>
  );
}

function Help(): ReactNode {
  const keys: Array<[string, string]> = [
    ["↑ / k", "select the newer alert"],
    ["↓ / j", "select the older alert"],
    ["enter", "details of the selected alert"],
    ["e", "the stored events behind the selected alert"],
    ["a", "acknowledge the selected alert (a new detection opens a new one)"],
    ["s", "severity filter: all, low+, medium+, high+, critical"],
    ["v", "VM filter: each VM in turn, then alerts about no VM, then all"],
    ["c", "clear the filters"],
    ["esc / backspace", "back"],
    ["?", "this help"],
    ["q / ctrl-c", "quit (pending events are stored first)"],
  ];
  return (
    <Box flexDirection="column" borderStyle="round" borderDimColor paddingX={1}>
      <Text bold>Keys</Text>
      {keys.map(([k, what]) => (
        <Box key={k}>
          <Box width={18} flexShrink={0}>
            <Text color="cyan">{k}</Text>
          </Box>
          <Text>{what}</Text>
        </Box>
      ))}
      <Text dimColor>Times are local ({zoneOf()}). The view never acts on a VM. Any key returns.</Text>
    </Box>
  );
}

/**
 * The state's snapshot, re-read at most `fps` times a second however often the state changes, with
 * every string in it terminal-safe: titles, names and command lines come from events.
 */
function useSnapshot(state: MonitorState, fps: number): MonitorSnapshot {
  const [snap, setSnap] = useState(() => terminalSafeDeep(state.snapshot()));
  useEffect(() => {
    const gapMs = 1000 / fps;
    let last = 0;
    let timer: NodeJS.Timeout | undefined;
    const take = (): void => {
      timer = undefined;
      last = Date.now();
      setSnap(terminalSafeDeep(state.snapshot()));
    };
    const changed = (): void => {
      timer ??= setTimeout(take, Math.max(0, last + gapMs - Date.now()));
    };
    const unsubscribe = state.subscribe(changed);
    changed(); // whatever changed between the first render and now
    return () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }, [state, fps]);
  return snap;
}

/** Wall time, for the uptime and the dates of alerts. */
function useClock(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = (): { columns: number; rows: number } => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const resized = (): void => setSize(read());
    stdout.on("resize", resized);
    return () => void stdout.off("resize", resized);
  }, [stdout]);
  return size;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}
