// The live terminal view of `hv monitor`: an ink app over a MonitorState. It only reads the state
// and reports the quit key; stopping the pipeline is the command's business (onQuit).

import { useEffect, useRef, useState, type ReactNode } from "react";
import { Box, render, Text, useApp, useInput, useStdin, useStdout } from "ink";
import type { Alert, Severity } from "../events/alert.js";
import { terminalSafeDeep } from "../events/terminal.js";
import { alertKey, type MonitorSnapshot, type MonitorState, type SinkRow, type SourceStatus, type VmStatus } from "./monitor-state.js";

export interface MonitorViewProps {
  state: MonitorState;
  onQuit: () => void;
  /** Most re-renders per second: an alert storm changes the state thousands of times a second. */
  fps?: number;
}

export interface MonitorViewHandle {
  /** Unmounts the view (the pipeline ended on its own, e.g. SIGTERM). */
  stop(): void;
  /** Resolves once the view is gone, by `q` or by stop(). */
  waitUntilExit(): Promise<void>;
}

type Screen = "feed" | "detail" | "help";

// Wide terminals get the rules/VM panel beside the feed, narrow ones below it.
const SIDE_PANEL_MIN_COLUMNS = 110;
const SIDE_PANEL_WIDTH = 44;
const BOTTOM_PANEL_ROWS = 8;

const SEVERITY_STYLE: Record<Severity, { color: string; bold?: boolean; inverse?: boolean; short: string; label: string }> = {
  critical: { color: "red", bold: true, inverse: true, short: "CRIT", label: "critical" },
  high: { color: "red", short: "HIGH", label: "high" },
  medium: { color: "yellow", short: "MED", label: "medium" },
  low: { color: "cyan", short: "LOW", label: "low" },
  informational: { color: "gray", short: "INFO", label: "info" },
};

// Most severe first: what an operator reads first.
const SEVERITY_ORDER: Severity[] = ["critical", "high", "medium", "low", "informational"];

export function startMonitorView(state: MonitorState, opts: { onQuit: () => void }): MonitorViewHandle {
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
  const instance = render(<MonitorView state={state} onQuit={opts.onQuit} />, { exitOnCtrlC: false, maxFps: 10 });
  const exited = instance.waitUntilExit().then(restore, (err: unknown) => {
    restore();
    throw err;
  });
  return {
    stop: () => instance.unmount(),
    waitUntilExit: () => exited,
  };
}

export function MonitorView({ state, onQuit, fps = 4 }: MonitorViewProps): ReactNode {
  const snap = useSnapshot(state, fps);
  const now = useClock(1000);
  const { columns, rows } = useTerminalSize();
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const [nav, setNav] = useState<Nav>({ screen: "feed" });
  const selected = selectedIndex(nav, snap.alerts);

  // Keys update the navigation through an updater: several keys can arrive before React renders
  // again, and each must start from where the previous one left off. The alerts come through a
  // ref, as ink may still hold the handler of an earlier render.
  const alerts = useRef(snap.alerts);
  alerts.current = snap.alerts;
  useInput(
    (input, key) => {
      if (input === "q" || (key.ctrl && input === "c")) {
        onQuit();
        exit();
        return;
      }
      const k: NavKey =
        key.downArrow || input === "j" ? "down"
        : key.upArrow || input === "k" ? "up"
        : key.return ? "enter"
        : key.escape || key.backspace || key.delete ? "back"
        : input === "?" ? "help"
        : "other";
      setNav((n) => navigate(n, k, alerts.current));
    },
    { isActive: isRawModeSupported },
  );

  // One row short of the terminal: a frame as tall as the terminal makes ink clear the screen
  // on every render, which flickers.
  const height = Math.max(8, rows - 1);
  let body: ReactNode;
  if (nav.screen === "help") body = <Help />;
  else if (nav.screen === "detail" && nav.opened) {
    // Show the alert as it is now (its count may have grown since it was opened).
    const key = alertKey(nav.opened);
    body = <AlertDetail alert={snap.alerts.find((a) => alertKey(a) === key) ?? nav.opened} />;
  } else body = <Dashboard snap={snap} now={now} columns={columns} height={height} selected={selected} />;
  return (
    <Box flexDirection="column" width={columns} height={height} overflow="hidden">
      {body}
    </Box>
  );
}

interface Nav {
  screen: Screen;
  /** The selection follows an alert, not a row, so alerts arriving do not move it elsewhere.
   *  None means "the newest": an idle view keeps the latest alert selected. */
  selectedKey?: string;
  /** The alert whose details are shown. */
  opened?: Alert;
}

type NavKey = "up" | "down" | "enter" | "back" | "help" | "other";

function selectedIndex(nav: Nav, alerts: Alert[]): number {
  return nav.selectedKey === undefined ? 0 : Math.max(0, alerts.findIndex((a) => alertKey(a) === nav.selectedKey));
}

/** Where a key leads from where the view is. */
function navigate(nav: Nav, key: NavKey, alerts: Alert[]): Nav {
  if (nav.screen === "help") return { ...nav, screen: "feed" }; // any key leaves the help
  if (key === "help") return { ...nav, screen: "help" };
  if (nav.screen === "detail") return key === "back" ? { ...nav, screen: "feed" } : nav;
  const at = selectedIndex(nav, alerts);
  if (key === "up" || key === "down") {
    const next = Math.min(alerts.length - 1, Math.max(0, at + (key === "down" ? 1 : -1)));
    const alert = alerts[next];
    return { ...nav, selectedKey: next === 0 || !alert ? undefined : alertKey(alert) };
  }
  const alert = alerts[at];
  if (key === "enter" && alert) return { screen: "detail", selectedKey: alertKey(alert), opened: alert };
  return nav;
}

function Dashboard(props: { snap: MonitorSnapshot; now: number; columns: number; height: number; selected: number }): ReactNode {
  const { snap, now, columns, height, selected } = props;
  const note = snap.notes[snap.notes.length - 1];
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
        <AlertFeed alerts={snap.alerts} selected={selected} height={feedRows} now={now} />
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
        ↑/↓ j/k select · enter details · ? help · q quit
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

function AlertFeed(props: { alerts: Alert[]; selected: number; height: number; now: number }): ReactNode {
  const { alerts, selected, height, now } = props;
  const visible = Math.max(1, height - 3); // border and title
  // Scroll only as far as needed to keep the selection in sight.
  const offset = useRef(0);
  if (selected < offset.current) offset.current = selected;
  if (selected >= offset.current + visible) offset.current = selected - visible + 1;
  offset.current = Math.max(0, Math.min(offset.current, alerts.length - visible));
  const shown = alerts.slice(offset.current, offset.current + visible);
  const range = alerts.length > visible ? ` ${offset.current + 1}–${offset.current + shown.length} of ${alerts.length}` : ` ${alerts.length}`;
  return (
    <Box flexDirection="column" flexGrow={1} height={height} borderStyle="round" borderDimColor paddingX={1} overflow="hidden">
      <Text bold wrap="truncate-end">
        Alerts<Text dimColor>{range} · newest first</Text>
      </Text>
      {shown.length === 0 ? <Text dimColor>no alerts yet</Text> : null}
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
      <SeverityText severity={alert.severity}>{SEVERITY_STYLE[alert.severity].short.padEnd(4)}</SeverityText>
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
  // Worst first: the VM in trouble is the one to see when the list is longer than the panel.
  const sorted = [...vms].sort((a, b) => worstRank(b) - worstRank(a) || b.alerts - a.alerts || a.name.localeCompare(b.name));
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

function AlertDetail({ alert: a }: { alert: Alert }): ReactNode {
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
      <Field label="first seen">{a.first_seen}</Field>
      <Field label="last seen">{a.last_seen}</Field>
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
      <Text dimColor>esc/backspace back · q quit</Text>
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
    ["esc / backspace", "back to the feed"],
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
      <Text dimColor>hv monitor only alerts; it never acts on a VM. Any key returns.</Text>
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

/** HH:MM:SS for today, MM-DD HH:MM for older alerts (replayed logs), in local time. */
function clockTime(iso: string, now: number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "--:--:--";
  const p = (n: number): string => String(n).padStart(2, "0");
  if (d.toDateString() === new Date(now).toDateString()) return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}
