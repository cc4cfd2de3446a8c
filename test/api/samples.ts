// One valid request per route of the table, against the fixture's rows. The tests check that
// every route has one, so a new route cannot be added without being tested.

import type { Fixture } from "./fixture.js";

export interface Sample {
  url: string;
  body?: Record<string, unknown>;
}

/** Keyed by "METHOD path" as in the route table; only the route's own role gets past auth, so only it changes anything. */
export function samples(f: Fixture): Record<string, () => Sample> {
  return {
    "GET /healthz": () => ({ url: "/healthz" }),
    "GET /api/v1/health": () => ({ url: "/api/v1/health" }),
    "GET /api/v1/openapi.json": () => ({ url: "/api/v1/openapi.json" }),
    "POST /api/v1/session": () => ({ url: "/api/v1/session", body: { token: f.tokens.viewer } }),
    "GET /api/v1/session": () => ({ url: "/api/v1/session" }),
    "DELETE /api/v1/session": () => ({ url: "/api/v1/session" }),
    "GET /api/v1/stream": () => ({ url: "/api/v1/stream?seconds=0" }),
    "GET /api/v1/alerts/timeline": () => ({ url: "/api/v1/alerts/timeline?since=6h&step=30m" }),
    "GET /api/v1/sources": () => ({ url: "/api/v1/sources" }),
    "GET /api/v1/alerts": () => ({ url: "/api/v1/alerts?severity=high&since=2024-12-31T00:00:00Z&limit=10" }),
    "GET /api/v1/alerts/:id": () => ({ url: `/api/v1/alerts/${f.alertIds[0]}` }),
    "POST /api/v1/alerts/:id/ack": () => ({ url: `/api/v1/alerts/${f.alertIds[1]}/ack` }),
    "GET /api/v1/alerts/:id/events": () => ({ url: `/api/v1/alerts/${f.alertIds[2]}/events` }),
    "GET /api/v1/events": () => ({ url: "/api/v1/events?vm=vm-1&module=audit&limit=5" }),
    "GET /api/v1/vms": () => ({ url: "/api/v1/vms" }),
    "GET /api/v1/vms/:name": () => ({ url: "/api/v1/vms/vm-0" }),
    "POST /api/v1/vms/:name/pause": () => ({ url: "/api/v1/vms/test/pause" }),
    "POST /api/v1/vms/:name/resume": () => ({ url: "/api/v1/vms/test/resume" }),
    "POST /api/v1/vms/:name/forensics": () => ({ url: "/api/v1/vms/test/forensics", body: { memory: false, disk: false } }),
    "GET /api/v1/actions": () => ({ url: "/api/v1/actions?status=pending" }),
    "GET /api/v1/actions/:id": () => ({ url: `/api/v1/actions/${f.doneActionId}` }),
    "POST /api/v1/actions/:id/approve": () => ({ url: `/api/v1/actions/${f.pendingIds[2]}/approve` }),
    "POST /api/v1/actions/:id/deny": () => ({ url: `/api/v1/actions/${f.pendingIds[4]}/deny`, body: { reason: "not now" } }),
    "GET /api/v1/quarantines": () => ({ url: "/api/v1/quarantines?all=true" }),
    "POST /api/v1/quarantines/:vm/release": () => ({ url: "/api/v1/quarantines/vm-2/release", body: { reason: "false positive" } }),
    "GET /api/v1/feeds": () => ({ url: "/api/v1/feeds" }),
    "GET /api/v1/feeds/:name": () => ({ url: "/api/v1/feeds/local-iocs" }),
    "POST /api/v1/feeds/:name/sync": () => ({ url: "/api/v1/feeds/local-iocs/sync" }),
    "GET /api/v1/forensics/bundles": () => ({ url: "/api/v1/forensics/bundles" }),
    "GET /api/v1/forensics/bundles/:id": () => ({ url: `/api/v1/forensics/bundles/${f.bundleId}` }),
    "POST /api/v1/forensics/bundles/:id/verify": () => ({ url: `/api/v1/forensics/bundles/${f.bundleId}/verify` }),
    "GET /api/v1/forensics/bundles/:id/download": () => ({ url: `/api/v1/forensics/bundles/${f.bundleId}/download` }),
    "GET /api/v1/tokens": () => ({ url: "/api/v1/tokens" }),
    "POST /api/v1/tokens": () => ({ url: "/api/v1/tokens", body: { name: "made-by-api", role: "viewer" } }),
    "DELETE /api/v1/tokens/:name": () => ({ url: "/api/v1/tokens/to-delete" }),
    "GET /metrics": () => ({ url: "/metrics" }),
  };
}
