// Templates learned from v9 and IPFIX exporters. A template id only means something within one
// exporter (address and port), one protocol version and one observation domain (v9 source id),
// so that triple plus the id is the key. Templates expire when not refreshed (UDP exporters resend
// them periodically; RFC 7011 §8.4), IPFIX can withdraw them, and the cache is bounded.

import type { ElementKind } from "./elements.js";

/** A field length of 65535 in a template means the value carries its own length (RFC 7011 §7). */
export const VARLEN = 0xffff;

export interface TemplateField {
  id: number;
  /** Private enterprise number; 0 for IANA elements. */
  pen: number;
  length: number;
  /** Where the decoder stores the value (element id, or REVERSE_KEY + id for RFC 5103 reverse elements); undefined: skipped. */
  key?: number;
  kind?: ElementKind;
}

export interface Template {
  id: number;
  options: boolean;
  scopeCount: number;
  fields: TemplateField[];
  /** Bytes of one record, counting a variable-length field as its 1-byte length prefix. */
  minLength: number;
  varlen: boolean;
}

interface Entry {
  template: Template;
  refreshedAt: number;
}

export interface ScopeKey {
  exporter: string;
  version: number;
  domain: number;
}

export class TemplateCache {
  private readonly entries = new Map<string, Entry>();
  expired = 0;
  withdrawn = 0;
  evicted = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  set(scope: ScopeKey, template: Template, now: number): void {
    const key = keyOf(scope, template.id);
    // Re-inserting moves the entry to the end, so the first entry is always the least recently refreshed.
    this.entries.delete(key);
    this.entries.set(key, { template, refreshedAt: now });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evicted++;
    }
  }

  /** The template, unless it was never learned, was withdrawn, or was not refreshed within the TTL. */
  get(scope: ScopeKey, id: number, now: number): Template | undefined {
    const key = keyOf(scope, id);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now - entry.refreshedAt > this.ttlMs) {
      this.entries.delete(key);
      this.expired++;
      return undefined;
    }
    return entry.template;
  }

  withdraw(scope: ScopeKey, id: number): void {
    if (this.entries.delete(keyOf(scope, id))) this.withdrawn++;
  }

  /** IPFIX "withdraw all" (template id 2 or 3 with no fields): every template, or every options template, of the scope. */
  withdrawAll(scope: ScopeKey, options: boolean): void {
    const prefix = keyOf(scope, -1).replace(/-1$/, "");
    for (const [key, entry] of this.entries) {
      if (key.startsWith(prefix) && entry.template.options === options) {
        this.entries.delete(key);
        this.withdrawn++;
      }
    }
  }
}

function keyOf(scope: ScopeKey, id: number): string {
  return `${scope.exporter}|${scope.version}|${scope.domain}|${id}`;
}
