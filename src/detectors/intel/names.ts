// Canonical forms of the name-like indicators (domains, URLs, hashes), applied the same way to a
// feed's entry and to the event's value so that equality means "the same thing", and an exact-key
// table that maps a canonical value to the payload ids listing it.

import { domainToASCII } from "node:url";

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Lower case, no trailing dot, IDN as punycode ("bücher.example" → "xn--bcher-kva.example").
 * Undefined when nothing is left or the name is not a valid IDN.
 */
export function normalizeDomain(name: string): string | undefined {
  let s = name.trim();
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (s === "") return undefined;
  if (NON_ASCII.test(s)) {
    const ascii = domainToASCII(s);
    return ascii === "" ? undefined : ascii;
  }
  return s.toLowerCase();
}

/**
 * WHATWG URL serialization (scheme and host lower-cased, host in punycode, default port and
 * "." segments removed, "/" for an empty path) without the fragment, which never reaches the
 * server. A URL written without a scheme is read as http. Undefined when it does not parse.
 */
export function normalizeUrl(url: string): string | undefined {
  const s = url.trim();
  if (s === "") return undefined;
  let u: URL;
  try {
    u = new URL(s.includes("://") ? s : `http://${s}`);
  } catch {
    return undefined;
  }
  u.hash = "";
  return u.href;
}

/** The host part of a URL (IPv6 without brackets), or undefined. */
export function urlHost(url: string): string | undefined {
  try {
    const host = new URL(url.includes("://") ? url : `http://${url}`).hostname;
    return host.startsWith("[") ? host.slice(1, -1) : host || undefined;
  } catch {
    return undefined;
  }
}

const HASH = /^[0-9a-f]{32,128}$/;

/** Lower-case hex (MD5, SHA-1, SHA-256, SHA-512), or undefined. */
export function normalizeHash(hash: string): string | undefined {
  const s = hash.trim().toLowerCase();
  return HASH.test(s) ? s : undefined;
}

/**
 * Canonical value → payload ids. Most values are listed once, so the map holds the id itself and
 * only values listed several times get an array (saves an array per entry at a million entries).
 */
export class KeyedIds {
  private readonly single = new Map<string, number>();
  private readonly multi: number[][] = [];

  add(key: string, id: number): void {
    const have = this.single.get(key);
    if (have === undefined) this.single.set(key, id);
    else if (have >= 0) {
      this.multi.push([have, id]);
      this.single.set(key, -this.multi.length);
    } else this.multi[-have - 1]!.push(id);
  }

  /** Appends the ids listed under `key` to `out`. */
  get(key: string, out: number[]): void {
    const have = this.single.get(key);
    if (have === undefined) return;
    if (have >= 0) out.push(have);
    else for (const id of this.multi[-have - 1]!) out.push(id);
  }
}
