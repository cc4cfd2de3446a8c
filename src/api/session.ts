// Browser sessions of the web console. A person logs in with an API token once; the server keeps
// a random session id → (token id, CSRF secret) in memory and hands the id to the browser as an
// HttpOnly, SameSite=Strict cookie, so page scripts never hold the token. Every request made with
// the cookie is checked against the token again (a revoked token ends its sessions at once), and
// every state-changing one must echo the session's CSRF secret in a header, which another site's
// page cannot read. Sessions live in this process only: a restart logs people out, which is safe.

import { randomBytes, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "hv_session";
export const CSRF_HEADER = "x-csrf-token";

export interface SessionSettings {
  /** A session unused this long ends (default 30 minutes). */
  idleMs: number;
  /** A session ends this long after login whatever happens (default 12 hours). */
  maxMs: number;
  /** Mark the cookie Secure (when hv is reached through a TLS proxy). */
  secureCookie: boolean;
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = { idleMs: 30 * 60_000, maxMs: 12 * 3_600_000, secureCookie: false };

/** More live sessions than this and the least recently used one is ended (logins cannot exhaust memory). */
const MAX_SESSIONS = 1000;

export interface Session {
  id: string;
  csrf: string;
  tokenId: number;
  created: number;
  lastUsed: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(readonly settings: SessionSettings = DEFAULT_SESSION_SETTINGS) {}

  start(tokenId: number, now = Date.now()): Session {
    const session: Session = { id: randomBytes(32).toString("base64url"), csrf: randomBytes(32).toString("base64url"), tokenId, created: now, lastUsed: now };
    this.sessions.set(session.id, session);
    // A Map iterates in insertion order and use() re-inserts: the first key is the least recently used.
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  /** The live session with this id, marked used now; undefined (and forgotten) once expired. */
  use(id: string, now = Date.now()): Session | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    this.sessions.delete(id);
    if (now - s.lastUsed > this.settings.idleMs || now - s.created > this.settings.maxMs) return undefined;
    s.lastUsed = now;
    this.sessions.set(id, s);
    return s;
  }

  /** Is the session still live? Unlike use(), does not count as activity (an open stream is not a person). */
  alive(id: string, now = Date.now()): boolean {
    const s = this.sessions.get(id);
    return s !== undefined && now - s.lastUsed <= this.settings.idleMs && now - s.created <= this.settings.maxMs;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** When the session ends if it stays unused (ms since the epoch). */
  expires(s: Session): number {
    return Math.min(s.lastUsed + this.settings.idleMs, s.created + this.settings.maxMs);
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for a session (or, with undefined, one that removes it). */
export function sessionCookie(session: Session | undefined, settings: SessionSettings): string {
  const attrs = ["Path=/", "HttpOnly", "SameSite=Strict", ...(settings.secureCookie ? ["Secure"] : [])];
  if (!session) return [`${SESSION_COOKIE}=`, "Max-Age=0", ...attrs].join("; ");
  return [`${SESSION_COOKIE}=${session.id}`, `Max-Age=${Math.floor(settings.maxMs / 1000)}`, ...attrs].join("; ");
}

/** Constant-time comparison of the CSRF header with the session's secret. */
export function csrfMatches(session: Session, presented: unknown): boolean {
  if (typeof presented !== "string") return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
