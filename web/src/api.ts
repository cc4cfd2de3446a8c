// The console talks to hv's REST API only, with the session cookie the login set (the token itself
// never reaches page scripts). Changes carry the session's CSRF secret; a 401 means the session
// ended, and the app goes back to the login form.

export type Role = "viewer" | "operator" | "admin";
const ROLES: Role[] = ["viewer", "operator", "admin"];

export interface Me {
  token: { name: string; role: Role };
  csrf: string | null;
  expires: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf: string | null = null;
let onUnauthorized: () => void = () => undefined;

export function setSession(me: Me | null): void {
  csrf = me?.csrf ?? null;
}

export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  const res = await fetch(path, { method, headers, credentials: "same-origin", ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json ?? {}) as { error?: string; message?: string };
    if (res.status === 401 && path !== "/api/v1/session") onUnauthorized();
    throw new ApiError(res.status, e.error ?? "error", e.message ?? `${method} ${path}: HTTP ${res.status}`);
  }
  return json as T;
}

export const get = <T>(path: string): Promise<T> => request<T>("GET", path);
export const post = <T>(path: string, body?: unknown): Promise<T> => request<T>("POST", path, body);
export const del = <T>(path: string): Promise<T> => request<T>("DELETE", path);

/** Builds a query string from the defined, non-empty values. */
export function query(values: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// --- the shapes the pages use (docs/openapi.json has them all) -------------------------------

export type Severity = "informational" | "low" | "medium" | "high" | "critical";
export const SEVERITIES: Severity[] = ["critical", "high", "medium", "low", "informational"];

export interface Alert {
  id: number;
  rule: { id: string; title: string; level?: string; source?: string; tags?: string[]; description?: string };
  severity: Severity;
  status: "open" | "acked";
  first_seen: string;
  last_seen: string;
  count: number;
  entity: { kind: string; id: string };
  vm?: { name?: string; uuid?: string };
  mitre?: { tactics: string[]; techniques: string[] };
  summary?: string;
  process?: { pid?: number; executable?: string; command_line?: string; name?: string };
  user?: { name?: string; id?: string };
  event_ids: string[];
  threat?: unknown;
  anomaly?: unknown;
}

export interface ActionRow {
  id: number;
  alertId: number | null;
  playbook: string;
  action: string;
  mode: string;
  status: string;
  approvedBy: string | null;
  created: number | null;
  started: number | null;
  finished: number | null;
  result: string | null;
  undo: string | null;
  target: string | null;
  undone: number | null;
  undoneBy: string | null;
  detail?: unknown;
}

export interface Enforcement {
  id: number;
  kind: string;
  target: string;
  created: number;
  createdBy: string | null;
  expires: number | null;
  actionId: number | null;
}

export interface Vm {
  name: string;
  state: string;
  quarantined: boolean;
  quarantine: Enforcement | null;
}

export interface Feed {
  name: string;
  url: string;
  format: string;
  action: string;
  enabled: boolean;
  schedule?: string;
  entries: number;
  rejected?: number;
  version: number;
  lastAttempt?: string;
  lastSuccess?: string;
  lastError?: string;
}

export interface Bundle {
  id: string;
  vm?: string;
  created?: string;
  by?: string;
  artifacts?: number;
  bytes?: number;
  exists: boolean;
}

export interface Verification {
  ok: boolean;
  problems: Array<{ kind: string; file: string; message: string }>;
  warnings: string[];
}

export interface HvEvent {
  "@timestamp": string;
  event: { id: string; module: string; action?: string; category?: string[] };
  process?: { pid?: number; executable?: string; command_line?: string; name?: string };
  user?: { name?: string; id?: string };
  file?: { path?: string };
  source?: { ip?: string; port?: number };
  destination?: { ip?: string; port?: number };
  vm?: { name?: string };
}
