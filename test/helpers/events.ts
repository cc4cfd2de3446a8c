import type { Checkpoint, Envelope } from "../../src/events/collector.js";
import type { EventMeta, HvEvent } from "../../src/events/event.js";

export type EventOverrides = Omit<Partial<HvEvent>, "event"> & { event?: Partial<EventMeta> };

/** Base time of makeEvent: event i happens i seconds after it. */
export const BASE_MS = Date.parse("2025-01-01T00:00:00.000Z");

/** A plausible audit execve event, distinct per i (id `evt-<i>`, timestamp BASE_MS + i s, vm-<i mod 3>). */
export function makeEvent(i: number, overrides: EventOverrides = {}): HvEvent {
  const { event, ...rest } = overrides;
  return {
    "@timestamp": new Date(BASE_MS + i * 1000).toISOString(),
    host: { name: "host-a" },
    process: { pid: 1000 + i, executable: "/usr/bin/true", name: "true", args: ["true", String(i)] },
    user: { id: "0", name: "root" },
    vm: { name: `vm-${i % 3}`, uuid: `00000000-0000-0000-0000-00000000000${i % 3}` },
    ...rest,
    event: {
      id: `evt-${i}`,
      kind: "event",
      module: "audit",
      action: "execve",
      category: ["process"],
      type: ["start"],
      outcome: "success",
      sequence: i,
      ...event,
    },
  };
}

/** Wraps events in envelopes; with a source, each carries the checkpoint just past itself (offset = index + 1). */
export function envelopes(events: HvEvent[], source?: string, firstOffset = 0): Envelope[] {
  return events.map((event, k) => {
    const checkpoint: Checkpoint | undefined = source === undefined ? undefined : { source, inode: "42", offset: firstOffset + k + 1 };
    return checkpoint === undefined ? { event } : { event, checkpoint };
  });
}
