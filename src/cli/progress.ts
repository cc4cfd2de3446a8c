import { formatBytes } from "../vm/size.js";

// A progress bar for long work (feed sync, training, captures): drawn on stderr only when it is
// a terminal, so scripts and `--json` output never see it. Redraws at most every 100 ms.

export interface Progress {
  /** Sets the amount done (same unit as total). */
  update(done: number, note?: string): void;
  /** Changes the total when it becomes known (e.g. a Content-Length). */
  setTotal(total: number | undefined): void;
  /** Clears the bar; prints `message` in its place when given. */
  done(message?: string): void;
}

export interface ProgressOptions {
  label: string;
  total?: number;
  /** Formats amounts (default: plain numbers); e.g. bytes. */
  format?: (n: number) => string;
  stream?: NodeJS.WriteStream;
  /** Force on or off; default: on when the stream is a TTY. */
  enabled?: boolean;
}

import { terminalSafe, writeSafe } from "../events/terminal.js";

const WIDTH = 30;

export function progress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.enabled ?? Boolean(stream.isTTY);
  const format = opts.format ?? ((n: number) => String(n));
  let total = opts.total;
  let last = 0;
  let drawn = false;
  const started = Date.now();

  const draw = (done: number, note?: string): void => {
    const elapsed = (Date.now() - started) / 1000;
    let line: string;
    if (total && total > 0) {
      const frac = Math.min(1, done / total);
      const filled = Math.round(frac * WIDTH);
      line = `${opts.label} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${format(done)}/${format(total)}`;
    } else {
      line = `${opts.label} ${format(done)}`;
    }
    line += ` ${elapsed.toFixed(1)}s${note ? ` ${note}` : ""}`;
    const columns = stream.columns ?? 100;
    // The bar's own \r and erase go out as they are; the label (a feed or VM name) and note are made safe.
    stream.write(`\r${terminalSafe(line).slice(0, columns - 1)}\x1b[K`);
    drawn = true;
  };

  return {
    update(done, note) {
      if (!enabled) return;
      const now = Date.now();
      if (now - last < 100 && !(total && done >= total)) return;
      last = now;
      draw(done, note);
    },
    setTotal(t) {
      total = t;
    },
    done(message) {
      if (enabled && drawn) stream.write("\r\x1b[K");
      if (message && enabled) writeSafe(stream, message + "\n");
    },
  };
}

/**
 * One bar per step of a longer job (a capture's memory, disks and hashing; a backup's disks and
 * upload): a new bar when the step changes. `bytes` says which steps count bytes.
 */
export function stepBars(bytes: (step: string) => boolean = (step) => step === "memory" || step === "hashing"): { update: (p: { step: string; done: number; total: number }) => void; done: () => void } {
  let current: { step: string; bar: Progress } | undefined;
  return {
    update(p) {
      if (current?.step !== p.step) {
        current?.bar.done();
        current = { step: p.step, bar: progress({ label: p.step, total: p.total, format: bytes(p.step) ? formatBytes : (n) => n.toFixed(0) }) };
      }
      current.bar.setTotal(p.total);
      current.bar.update(p.done);
    },
    done() {
      current?.bar.done();
    },
  };
}
