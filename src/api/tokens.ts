// API bearer tokens. A token is shown once when created; the store keeps only its SHA-256, so a
// copy of the database does not let anyone in. Looking a token up by its hash is the comparison:
// the attacker cannot steer the hash, so the index lookup leaks nothing about stored tokens.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type Database from "better-sqlite3";
import { prepared } from "../store/statements.js";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** viewer reads; operator also acks, approves, denies and releases; admin also manages feeds, tokens and forensics. */
export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

export const TOKEN_PREFIX = "hv_";
/** hv_ + 43 base64url characters (32 random bytes). */
export const TOKEN_PATTERN = /^hv_[A-Za-z0-9_-]{43}$/;
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

export interface ApiToken {
  id: number;
  name: string;
  role: Role;
  created: number;
  createdBy: string | null;
  lastUsed: number | null;
  revoked: number | null;
}

interface Row {
  id: number;
  name: string;
  role: string;
  sha256: string;
  created: number;
  created_by: string | null;
  last_used: number | null;
  revoked: number | null;
}

const COLUMNS = "id, name, role, sha256, created, created_by, last_used, revoked";

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Creates a token; returns the secret (shown once) and the stored record. A taken name is an error. */
export function createToken(db: Database.Database, name: string, role: Role, createdBy?: string, now = Date.now()): { token: string; record: ApiToken } {
  if (!TOKEN_NAME_PATTERN.test(name)) throw new Error(`token name must be 1-64 letters, digits, '.', '_', '@' or '-' (starting with a letter or digit), got ${JSON.stringify(name)}`);
  if (!isRole(role)) throw new Error(`role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`);
  if (getToken(db, name)) throw new Error(`a token named ${name} already exists (revoke it first, or pick another name)`);
  const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
  prepared(db, `INSERT INTO api_tokens (name, role, sha256, created, created_by) VALUES (?, ?, ?, ?, ?)`).run(name, role, hashToken(token), now, createdBy ?? null);
  return { token, record: getToken(db, name)! };
}

export function getToken(db: Database.Database, name: string): ApiToken | undefined {
  const row = prepared<[string], Row>(db, `SELECT ${COLUMNS} FROM api_tokens WHERE name = ?`).get(name);
  return row && fromRow(row);
}

/** Every token, revoked ones too, in creation order. */
export function listTokens(db: Database.Database): ApiToken[] {
  return prepared<[], Row>(db, `SELECT ${COLUMNS} FROM api_tokens ORDER BY id`).all().map(fromRow);
}

/** Tokens that still open the API. */
export function countActiveTokens(db: Database.Database): number {
  return prepared<[], { n: number }>(db, `SELECT count(*) AS n FROM api_tokens WHERE revoked IS NULL`).get()!.n;
}

/** Revokes a token by name; false when there is no such token or it was already revoked. */
export function revokeToken(db: Database.Database, name: string, now = Date.now()): boolean {
  return prepared<[number, string]>(db, `UPDATE api_tokens SET revoked = ? WHERE name = ? AND revoked IS NULL`).run(now, name).changes === 1;
}

/** The active token a presented secret belongs to, or undefined (unknown, malformed or revoked). */
export function authenticate(db: Database.Database, presented: string): ApiToken | undefined {
  if (!TOKEN_PATTERN.test(presented)) return undefined;
  const digest = hashToken(presented);
  const row = prepared<[string], Row>(db, `SELECT ${COLUMNS} FROM api_tokens WHERE sha256 = ?`).get(digest);
  if (!row || row.revoked !== null) return undefined;
  // The lookup already matched; this keeps the decision itself free of an early-exit comparison.
  if (!timingSafeEqual(Buffer.from(row.sha256, "hex"), Buffer.from(digest, "hex"))) return undefined;
  return fromRow(row);
}

/** The active token with this id (a console session's), or undefined once it is revoked. */
export function activeTokenById(db: Database.Database, id: number): ApiToken | undefined {
  const row = prepared<[number], Row>(db, `SELECT ${COLUMNS} FROM api_tokens WHERE id = ? AND revoked IS NULL`).get(id);
  return row && fromRow(row);
}

/** Records use at most once a minute per token: a busy client must not turn reads into writes. */
export function touchToken(db: Database.Database, id: number, now = Date.now()): void {
  prepared<[number, number, number]>(db, `UPDATE api_tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)`).run(now, id, now - 60_000);
}

function fromRow(row: Row): ApiToken {
  return { id: row.id, name: row.name, role: row.role as Role, created: row.created, createdBy: row.created_by, lastUsed: row.last_used, revoked: row.revoked };
}
