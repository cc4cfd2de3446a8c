// One server-sent-events connection (/api/v1/stream) per logged-in page, shared by every view:
// each subscribes to the kinds it shows. EventSource reconnects by itself when the server ends a
// stream; when the server says the session ended, the app checks the session again.
import { useEffect, useState } from "preact/hooks";
import type { ActionRow, Alert } from "./api";

export type LiveState = "connecting" | "live" | "reconnecting" | "stopped";
type Handlers = { alert: Set<(a: Alert) => void>; action: Set<(a: ActionRow) => void> };

const handlers: Handlers = { alert: new Set(), action: new Set() };
const stateListeners = new Set<(s: LiveState) => void>();
let source: EventSource | null = null;
let state: LiveState = "stopped";
let onEnded: () => void = () => undefined;

function setState(s: LiveState): void {
  state = s;
  for (const fn of stateListeners) fn(s);
}

export function startLive(whenEnded: () => void): void {
  stopLive();
  onEnded = whenEnded;
  setState("connecting");
  const es = new EventSource("/api/v1/stream");
  source = es;
  es.addEventListener("ready", () => setState("live"));
  es.addEventListener("alert", (e) => {
    const a = JSON.parse((e as MessageEvent<string>).data) as Alert;
    for (const fn of handlers.alert) fn(a);
  });
  es.addEventListener("action", (e) => {
    const a = JSON.parse((e as MessageEvent<string>).data) as ActionRow;
    for (const fn of handlers.action) fn(a);
  });
  es.addEventListener("end", () => {
    stopLive();
    onEnded();
  });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // The server refused to reconnect (the session is gone): let the app find out.
      stopLive();
      onEnded();
    } else setState("reconnecting");
  };
}

export function stopLive(): void {
  source?.close();
  source = null;
  setState("stopped");
}

export function onLive<K extends keyof Handlers>(kind: K, fn: Handlers[K] extends Set<infer F> ? F : never): () => void {
  (handlers[kind] as Set<typeof fn>).add(fn);
  return () => void (handlers[kind] as Set<typeof fn>).delete(fn);
}

/** Subscribes a view for as long as it is shown. */
export function useLive<K extends keyof Handlers>(kind: K, fn: Handlers[K] extends Set<infer F> ? F : never, deps: unknown[] = []): void {
  useEffect(() => onLive(kind, fn), deps);
}

export function useLiveState(): LiveState {
  const [s, set] = useState(state);
  useEffect(() => {
    stateListeners.add(set);
    return () => void stateListeners.delete(set);
  }, []);
  return s;
}
