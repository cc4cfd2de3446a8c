// JSON Schemas shared by the route table: fastify validates requests with them and serializes
// responses with them, and the OpenAPI document is built from the same objects.

import { SEVERITIES } from "../events/alert.js";
import { ROLES } from "./tokens.js";

export type JsonSchema = Record<string, unknown>;

export const MAX_ID = 2_147_483_647;
export const MAX_LIST = 1000;
/** Events are bigger than alerts; a hard cap keeps one request from reading the whole store. */
export const MAX_EVENTS = 5000;

/** An object schema that refuses unknown fields. */
export function strictObject(properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  return { type: "object", additionalProperties: false, properties, ...(required.length > 0 ? { required } : {}) };
}

/** A response object: documents what is there; more fields may be added without breaking clients. */
export function openObject(properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  return { type: "object", additionalProperties: true, properties, ...(required.length > 0 ? { required } : {}) };
}

export const id: JsonSchema = { type: "integer", minimum: 1, maximum: MAX_ID };
export const limit = (max: number, dflt: number): JsonSchema => ({ type: "integer", minimum: 1, maximum: max, default: dflt });
/** libvirt object names as src/vm/names.ts accepts them. */
export const vmName: JsonSchema = { type: "string", minLength: 1, maxLength: 200, pattern: "^[A-Za-z0-9_][A-Za-z0-9_.+:@-]*$" };
export const feedName: JsonSchema = { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$" };
export const tokenName: JsonSchema = { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9][A-Za-z0-9_.@-]*$" };
export const bundleId: JsonSchema = { type: "string", minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9][A-Za-z0-9_.:-]*$" };
/** Rule ids are Sigma UUIDs or detector ids like intel:feodo, flow:beacon. */
export const ruleId: JsonSchema = { type: "string", minLength: 1, maxLength: 200, pattern: "^[A-Za-z0-9][A-Za-z0-9_.:/-]*$" };
export const word: JsonSchema = { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_.:-]+$" };
export const reason: JsonSchema = { type: "string", minLength: 1, maxLength: 500 };
export const severity: JsonSchema = { type: "string", enum: [...SEVERITIES] };
export const role: JsonSchema = { type: "string", enum: [...ROLES] };
/** An ISO 8601 time (2024-05-01T12:00:00Z) or an age before now in hv's duration grammar (90s, 15m, 2h, 7d, 1w). */
export const time: JsonSchema = {
  type: "string",
  maxLength: 40,
  pattern: "^([0-9]{1,6}(\\.[0-9]{1,3})?(ms|s|m|h|d|w)|[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?)$",
};

/** An age in whole seconds or more, in hv's duration grammar: 90s, 15m, 2h, 7d, 1w. */
export const age: JsonSchema = { type: "string", maxLength: 7, pattern: "^[0-9]{1,6}[smhdw]$" };
/** An API token's secret (tokens.ts TOKEN_PATTERN). */
export const tokenSecret: JsonSchema = { type: "string", minLength: 46, maxLength: 46, pattern: "^hv_[A-Za-z0-9_-]{43}$" };

export const idParams = strictObject({ id }, ["id"]);

export const error: JsonSchema = openObject({ error: { type: "string" }, message: { type: "string" } }, ["error", "message"]);

const any: JsonSchema = {};
const nullableInt: JsonSchema = { type: ["integer", "null"] };
const nullableString: JsonSchema = { type: ["string", "null"] };

export const alert = openObject(
  {
    id,
    "@timestamp": { type: "string" },
    first_seen: { type: "string" },
    last_seen: { type: "string" },
    count: { type: "integer" },
    rule: openObject({ id: { type: "string" }, title: { type: "string" }, source: { type: "string" } }),
    severity,
    status: { type: "string" },
    entity: openObject({ kind: { type: "string" }, id: { type: "string" } }),
    event_ids: { type: "array", items: { type: "string" } },
    signal: { type: "boolean" },
  },
  ["id", "rule", "severity", "status", "first_seen", "last_seen", "count"],
);

export const event = openObject({ "@timestamp": { type: "string" }, event: openObject({ id: { type: "string" }, module: { type: "string" } }) });

export const action = openObject(
  {
    id,
    alertId: nullableInt,
    playbook: { type: "string" },
    action: { type: "string" },
    mode: { type: "string" },
    status: { type: "string" },
    approvedBy: nullableString,
    started: nullableInt,
    finished: nullableInt,
    result: nullableString,
    undo: nullableString,
    detail: any,
    target: nullableString,
    params: { type: ["object", "null"], additionalProperties: true },
    created: nullableInt,
    notBefore: nullableInt,
    expires: nullableInt,
    undone: nullableInt,
    undoneBy: nullableString,
  },
  ["id", "playbook", "action", "mode", "status"],
);

export const enforcement = openObject(
  {
    id,
    kind: { type: "string" },
    target: { type: "string" },
    detail: { type: "object", additionalProperties: true },
    actionId: nullableInt,
    created: { type: "integer" },
    createdBy: nullableString,
    expires: nullableInt,
    released: nullableInt,
    releasedBy: nullableString,
    releaseReason: nullableString,
  },
  ["id", "kind", "target", "created"],
);

export const feed = openObject(
  {
    name: { type: "string" },
    url: { type: "string" },
    format: { type: "string" },
    action: { type: "string" },
    enabled: { type: "boolean" },
    schedule: { type: "string" },
    entries: { type: "integer" },
    rejected: { type: "integer" },
    version: { type: "integer" },
    added: { type: "string" },
    lastAttempt: { type: "string" },
    lastSuccess: { type: "string" },
    lastError: { type: "string" },
  },
  ["name", "entries", "version"],
);

export const syncResult = openObject(
  { feed: { type: "string" }, status: { type: "string" }, reason: { type: "string" }, entries: { type: "integer" }, added: { type: "integer" }, removed: { type: "integer" }, rejected: { type: "integer" }, ms: { type: "number" } },
  ["feed", "status", "entries"],
);

export const vm = openObject(
  {
    name: { type: "string" },
    state: { type: "string" },
    id: { type: "integer" },
    quarantined: { type: "boolean" },
    quarantine: { anyOf: [enforcement, { type: "null" }] },
  },
  ["name", "quarantined"],
);

export const token = openObject(
  { id, name: { type: "string" }, role, created: { type: "integer" }, createdBy: nullableString, lastUsed: nullableInt, revoked: nullableInt },
  ["id", "name", "role", "created"],
);

export const bundle = openObject(
  { id: { type: "string" }, path: { type: "string" }, vm: { type: "string" }, created: { type: "string" }, by: { type: "string" }, artifacts: { type: "integer" }, bytes: { type: "integer" }, exists: { type: "boolean" } },
  ["id", "path", "exists"],
);

export const shownBundle = openObject(
  { id: { type: "string" }, path: { type: "string" }, manifest: openObject({}), custody: { type: "array", items: openObject({}) } },
  ["id", "manifest", "custody"],
);

export const verification = openObject(
  {
    ok: { type: "boolean" },
    id: { type: "string" },
    vm: { type: "string" },
    artifacts: { type: "integer" },
    custodyEntries: { type: "integer" },
    keyFingerprint: { type: "string" },
    problems: { type: "array", items: openObject({ kind: { type: "string" }, file: { type: "string" }, message: { type: "string" }, line: { type: "integer" } }, ["kind", "file", "message"]) },
    warnings: { type: "array", items: { type: "string" } },
  },
  ["ok", "problems", "warnings"],
);

export const session = openObject(
  {
    token: { anyOf: [openObject({ name: { type: "string" }, role }, ["name", "role"]), { type: "null" }] },
    csrf: { type: ["string", "null"] },
    expires: { type: ["string", "null"] },
  },
  ["token", "csrf", "expires"],
);

/** `{ KEY: [items] }`: every list answer is an object, so fields can be added later. */
export const listOf = (key: string, item: JsonSchema): JsonSchema => openObject({ [key]: { type: "array", items: item } }, [key]);
