// `hv monitor` without a terminal (a pipe, a service log, or --no-tui): one line per alert as it
// is raised or its count grows, and nothing else on stdout, so the output can be grepped or fed
// to another program. Status lines go to stderr, as the command already does.

import type { MonitorState } from "./monitor-state.js";
import { formatAlertLine } from "./alerts.js";
import type { LineWriter } from "./output.js";

export interface MonitorPlainOptions {
  out: LineWriter;
  /** The alert as one JSON object per line instead of text. */
  json?: boolean;
}

export interface MonitorPlainHandle {
  /** Stops printing and writes out what is buffered. */
  stop(): void;
}

export function startMonitorPlain(state: MonitorState, opts: MonitorPlainOptions): MonitorPlainHandle {
  let flush: NodeJS.Immediate | undefined;
  const unsubscribe = state.onAlert((alert) => {
    opts.out.line(opts.json ? JSON.stringify(alert) : formatAlertLine(alert));
    // A live alert must show up now, not when the writer's buffer fills; one write per turn of
    // the event loop still keeps a burst of updates cheap.
    flush ??= setImmediate(() => {
      flush = undefined;
      opts.out.flushSync();
    });
  });
  return {
    stop: () => {
      unsubscribe();
      if (flush) clearImmediate(flush);
      flush = undefined;
      opts.out.flushSync();
    },
  };
}
