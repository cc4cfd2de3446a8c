// A stop signal that may already have fired. `addEventListener("abort")` on a signal that aborted
// earlier never calls back: a timer started after a Ctrl-C that came during start-up would then run
// forever (hv monitor kept ticking on a closed store and never exited).

/** Runs `fn` once when `signal` aborts, or now if it already has. */
export function onAbort(signal: AbortSignal, fn: () => void): void {
  if (signal.aborted) fn();
  else signal.addEventListener("abort", fn, { once: true });
}
