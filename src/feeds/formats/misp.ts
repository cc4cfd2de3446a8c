// MISP feeds: a manifest.json naming events, one <uuid>.json per event ({"Event": {…}}), whose
// Attribute list and Object[].Attribute lists hold typed values. Only attributes flagged to_ids
// are indicators (the rest are context: links, comments); deleted ones are skipped.

import { canonicalDomain, canonicalHash, canonicalNet, canonicalUrl, type Canon } from "../canonical.js";
import { FeedBuilder, parseJsonDocument, type ParsedFeed } from "./result.js";

type Attr = Record<string, unknown>;

/** How each MISP attribute type becomes indicators; a composite "a|b" value is split first. */
function attributeValues(type: string, value: string): Array<{ canon: Canon; raw: string; meta?: Record<string, string> }> | undefined {
  const [left, right] = splitComposite(value);
  switch (type) {
    case "ip-src":
    case "ip-dst":
      return [{ canon: canonicalNet(value), raw: value }];
    case "ip-src|port":
    case "ip-dst|port":
      return [{ canon: canonicalNet(left), raw: left, meta: right ? { port: right } : undefined }];
    case "domain":
    case "hostname":
      return [{ canon: canonicalDomain(value), raw: value }];
    case "domain|ip":
      return [{ canon: canonicalDomain(left), raw: left }, { canon: canonicalNet(right), raw: right }];
    case "hostname|port":
      return [{ canon: canonicalDomain(left), raw: left, meta: right ? { port: right } : undefined }];
    case "url":
    case "uri":
      return [{ canon: canonicalUrl(value), raw: value }];
    case "md5":
    case "sha1":
    case "sha224":
    case "sha256":
    case "sha512":
      return [{ canon: canonicalHash(value), raw: value }];
  }
  const fileHash = /^filename\|(md5|sha1|sha256|sha512)$/.exec(type);
  if (fileHash) return [{ canon: canonicalHash(right), raw: right, meta: { filename: left } }];
  return undefined;
}

function splitComposite(value: string): [string, string] {
  const bar = value.indexOf("|");
  return bar < 0 ? [value, ""] : [value.slice(0, bar), value.slice(bar + 1)];
}

function isTrue(v: unknown): boolean {
  return v === true || v === 1 || v === "1" || v === "true";
}

/** Adds one event's attributes to the builder. */
export function addMispEvent(b: FeedBuilder, doc: unknown, source: string): void {
  const event = (doc as { Event?: unknown } | null)?.Event;
  if (typeof event !== "object" || event === null) {
    b.reject(source, "not a MISP event (no Event object)");
    return;
  }
  const e = event as Record<string, unknown>;
  const eventMeta: Record<string, string> = {};
  if (typeof e.uuid === "string") eventMeta.misp_event = e.uuid;
  if (typeof e.info === "string") eventMeta.info = e.info.slice(0, 200);
  if (e.threat_level_id !== undefined) eventMeta.threat_level = String(e.threat_level_id);
  const tags = Array.isArray(e.Tag) ? e.Tag.map((t) => (t as { name?: unknown })?.name).filter((n): n is string => typeof n === "string") : [];
  const tlp = tags.find((t) => t.startsWith("tlp:"));
  if (tlp) eventMeta.tlp = tlp.slice(4);

  const attrs: Attr[] = [];
  if (Array.isArray(e.Attribute)) attrs.push(...(e.Attribute as Attr[]));
  if (Array.isArray(e.Object)) {
    for (const o of e.Object as Array<Record<string, unknown>>) {
      if (isTrue(o?.deleted)) continue;
      if (Array.isArray(o?.Attribute)) attrs.push(...(o.Attribute as Attr[]).map((a) => ({ ...a, object: o.name })));
    }
  }
  for (const a of attrs) {
    if (typeof a !== "object" || a === null) {
      b.reject(String(a), "attribute is not an object");
      continue;
    }
    const type = typeof a.type === "string" ? a.type : "";
    const value = typeof a.value === "string" ? a.value : "";
    if (isTrue(a.deleted)) {
      b.skip("deleted attribute");
      continue;
    }
    if (!isTrue(a.to_ids)) {
      b.skip("not to_ids");
      continue;
    }
    const values = attributeValues(type, value);
    if (!values) {
      b.skip(`MISP type ${type || "(none)"} not matchable`);
      continue;
    }
    const meta: Record<string, string> = { ...eventMeta, misp_type: type };
    if (typeof a.category === "string") meta.category = a.category;
    if (typeof a.uuid === "string") meta.misp_attribute = a.uuid;
    if (typeof a.object === "string") meta.misp_object = a.object;
    for (const v of values) b.add(v.canon, v.raw, undefined, { ...meta, ...v.meta });
  }
}

/** A MISP event document, or a list / {"response": [...]} of them (a restSearch export). */
export function parseMisp(text: string, source: string): ParsedFeed {
  const b = new FeedBuilder("misp", source);
  const parsed = parseJsonDocument(b, text);
  if (!parsed) return b.done();
  const { doc } = parsed;
  const events = Array.isArray(doc) ? doc : Array.isArray((doc as { response?: unknown })?.response) ? (doc as { response: unknown[] }).response : [doc];
  if (isManifest(doc)) {
    b.skip("manifest (events are separate files)");
    return b.done();
  }
  for (const ev of events) addMispEvent(b, ev, source);
  return b.done();
}

/** manifest.json maps event uuids to event summaries: {"<uuid>": {"info": …, "timestamp": …}}. */
export function isManifest(doc: unknown): doc is Record<string, Record<string, unknown>> {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || "Event" in doc) return false;
  const keys = Object.keys(doc);
  return keys.length > 0 && keys.every((k) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(k));
}

/** Event uuids listed in a manifest, newest first (by its timestamp). */
export function manifestEvents(doc: Record<string, Record<string, unknown>>): string[] {
  return Object.entries(doc)
    .sort((a, b) => Number(b[1]?.timestamp ?? 0) - Number(a[1]?.timestamp ?? 0))
    .map(([uuid]) => uuid.toLowerCase());
}
