import { setTimeout as delay } from "node:timers/promises";

/** Sleeps for `ms`; an abort ends the sleep early instead of throwing, so callers just re-check the signal. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}
