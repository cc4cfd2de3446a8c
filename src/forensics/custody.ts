import { createPublicKey } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isBundleId } from "./bundles.js";
import { sha256Text } from "./hash.js";
import { appendInside, readInside } from "./inside.js";
import { fingerprintOf, signBytes, verifyBytes, type SigningKey } from "./signing.js";

// The chain-of-custody log of a bundle: custody.log, one JSON object a line, append-only. Each
// line carries the SHA-256 of the line before it (a removed, inserted or edited line breaks the
// next link) and an ed25519 signature over itself (an edited line fails on its own, the last one
// too). The first line ("captured") holds the manifest's hash. Dropping lines off the END leaves a
// valid shorter chain, so this host also keeps the head it last wrote outside the bundle
// (STATE/forensics/custody/ID.json) and verify compares.

export const CUSTODY_FILE = "custody.log";

export type CustodyWhat = "captured" | "verified" | "exported" | "shown";

export interface CustodyEntry {
  seq: number;
  time: string;
  /** "user:alice", "playbook:quarantine-on-miner", … */
  who: string;
  what: CustodyWhat;
  details: Record<string, unknown>;
  /** SHA-256 of the previous line's text; null on the first line. */
  prev: string | null;
  /** First line only: SHA-256 of manifest.json. */
  manifest?: string;
  host: string;
  /** The signer's public key (SPKI DER, base64), so a copy verifies anywhere. */
  pub: string;
  sig: string;
}

export interface CustodyProblem {
  line: number;
  message: string;
}

export interface CustodyCheck {
  entries: CustodyEntry[];
  problems: CustodyProblem[];
  /** Lines signed by a key that is not one of the trusted ones (not a failure: a copy may have passed through another host). */
  foreignKeys: Array<{ line: number; fingerprint: string }>;
}

export interface CustodyHead {
  id: string;
  path: string;
  seq: number;
  sha256: string;
}

/** Appends one entry (signed, linked to the last line) and returns it. */
export function appendCustody(
  bundleDir: string,
  entry: { who: string; what: CustodyWhat; details?: Record<string, unknown>; manifest?: string; host: string },
  key: SigningKey,
  anchor?: { stateDir: string; id: string },
  now = new Date(),
): CustodyEntry {
  const lines = splitLines(readCustodyText(bundleDir) ?? "");
  const last = lines[lines.length - 1];
  let seq = lines.length + 1;
  if (last !== undefined) {
    const n = safeParse(last)?.seq;
    if (typeof n === "number" && Number.isInteger(n)) seq = n + 1;
  }
  const unsigned = {
    seq,
    time: now.toISOString(),
    who: entry.who,
    what: entry.what,
    details: entry.details ?? {},
    prev: last === undefined ? null : sha256Text(last),
    ...(entry.manifest ? { manifest: entry.manifest } : {}),
    host: entry.host,
    pub: publicKeyB64(key.publicKeyPem),
  };
  const line = JSON.stringify({ ...unsigned, sig: signBytes(key, JSON.stringify(unsigned)) });
  appendInside(bundleDir, CUSTODY_FILE, line + "\n");
  if (anchor) writeHead(anchor.stateDir, { id: anchor.id, path: bundleDir, seq, sha256: sha256Text(line) });
  return JSON.parse(line) as CustodyEntry;
}

/** Checks every link and signature; `trusted` are key fingerprints (bundle key, host key, --key). */
export function checkCustody(text: string | undefined, manifestSha256: string | undefined, trusted: ReadonlySet<string>): CustodyCheck {
  const out: CustodyCheck = { entries: [], problems: [], foreignKeys: [] };
  if (text === undefined) {
    out.problems.push({ line: 0, message: `${CUSTODY_FILE} is missing` });
    return out;
  }
  const lines = splitLines(text);
  if (lines.length === 0) out.problems.push({ line: 0, message: `${CUSTODY_FILE} is empty` });
  lines.forEach((line, i) => {
    const n = i + 1;
    const problem = (message: string): void => void out.problems.push({ line: n, message: `${CUSTODY_FILE} line ${n}: ${message}` });
    if (line === "") return problem("empty line");
    const e = safeParse(line);
    if (!e) return problem("not a JSON object");
    out.entries.push(e);
    if (e.seq !== n) problem(`seq is ${JSON.stringify(e.seq)}, expected ${n} (a line was removed or inserted before it)`);
    const wantPrev = i === 0 ? null : sha256Text(lines[i - 1]!);
    if (e.prev !== wantPrev) problem(i === 0 ? "the first line must have prev null" : `prev does not match line ${n - 1} (line ${n - 1} was changed, or lines between were removed)`);
    const { sig, ...unsigned } = e;
    let pem: string | undefined;
    try {
      pem = pemOf(e.pub);
    } catch {
      pem = undefined;
    }
    if (!pem || typeof sig !== "string" || !verifyBytes(pem, JSON.stringify(unsigned), sig)) problem("bad signature (the line was changed)");
    else if (!trusted.has(fingerprintOf(pem))) out.foreignKeys.push({ line: n, fingerprint: fingerprintOf(pem) });
    if (i === 0) {
      if (e.what !== "captured") problem(`the first entry must be "captured", not ${JSON.stringify(e.what)}`);
      if (manifestSha256 !== undefined && e.manifest !== manifestSha256) problem("the manifest hash recorded at capture differs from manifest.json");
    }
  });
  return out;
}

/** Compares the chain with the head this host recorded (catches lines dropped off the end). */
export function checkHead(text: string | undefined, head: CustodyHead): CustodyProblem | undefined {
  const lines = splitLines(text ?? "");
  const line = lines[head.seq - 1];
  if (line === undefined) return { line: head.seq, message: `${CUSTODY_FILE} has ${lines.length} lines but this host appended line ${head.seq} (lines were removed from the end)` };
  if (sha256Text(line) !== head.sha256) return { line: head.seq, message: `${CUSTODY_FILE} line ${head.seq} differs from the line this host appended` };
  return undefined;
}

export function readHead(stateDir: string, id: string): CustodyHead | undefined {
  try {
    return JSON.parse(readFileSync(headPath(stateDir, id), "utf8")) as CustodyHead;
  } catch {
    return undefined;
  }
}

function writeHead(stateDir: string, head: CustodyHead): void {
  mkdirSync(join(stateDir, "forensics", "custody"), { recursive: true, mode: 0o700 });
  writeFileSync(headPath(stateDir, head.id), JSON.stringify(head) + "\n", { mode: 0o600 });
}

/** STATE/forensics/custody/ID.json; the id comes from a manifest, so it must be a bundle id and nothing that climbs out. */
function headPath(stateDir: string, id: string): string {
  if (!isBundleId(id)) throw new Error(`${JSON.stringify(id)} is not a bundle id: no custody head is kept for it`);
  return join(stateDir, "forensics", "custody", `${id}.json`);
}

/** custody.log of a bundle (undefined when it has none); a symlink or a non-file in its place throws. */
export function readCustodyText(bundleDir: string): string | undefined {
  return readInside(bundleDir, CUSTODY_FILE, MAX_CUSTODY_BYTES)?.toString("utf8");
}

/** Thousands of entries of a few hundred bytes each. */
const MAX_CUSTODY_BYTES = 16 * 1024 * 1024;

/** Lines without the final newline's empty remainder. */
function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function safeParse(line: string): CustodyEntry | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as CustodyEntry) : undefined;
  } catch {
    return undefined;
  }
}

function publicKeyB64(pem: string): string {
  return (createPublicKey(pem).export({ type: "spki", format: "der" }) as Buffer).toString("base64");
}

function pemOf(b64: unknown): string {
  if (typeof b64 !== "string") throw new Error("no key");
  return createPublicKey({ key: Buffer.from(b64, "base64"), format: "der", type: "spki" }).export({ type: "spki", format: "pem" }) as string;
}
