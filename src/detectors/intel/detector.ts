// The threat-intel detector: looks up an event's addresses, domains, URLs and file hashes in the
// current IOC index and turns every feed that lists one into a detection naming the feed and the
// entry. One detection per feed per event (its most specific entry); the Alerter deduplicates
// further (rule `intel:<feed>` + entity).
//
// A connection is matched once: at its NEW event, and at an update or END event only when its
// NEW did not match (NetFlow/IPFIX send only the end; conntrack may lose the NEW; a feed synced
// mid-flow may list it now). Only flows whose NEW matched are remembered, in a bounded map.

import type { Detection, Detector, Severity, ThreatMatch } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import type { StoredIndicator } from "../../events/indicator.js";
import { buildIntelIndex, type IntelEntry, type IntelIndex } from "./index.js";
import { urlHost } from "./names.js";

/**
 * Addresses no feed entry can sensibly mean (loopback, unspecified, link-local, multicast,
 * broadcast): a hit there is a broken feed, not an attack. Private ranges are not here: whether
 * a feed may list them is for feed sync to decide (it rejects such entries).
 */
export const DEFAULT_IGNORE_NETS = ["127.0.0.0/8", "::1/128", "0.0.0.0/32", "::/128", "169.254.0.0/16", "fe80::/10", "224.0.0.0/4", "ff00::/8", "255.255.255.255/32"];

export interface IntelDetectorOptions {
  /** The current index; the agent swaps it when feeds sync, so it is asked on every event. */
  index: () => IntelIndex;
  /** Severity of a feed that sets none (default high). */
  defaultSeverity?: Severity;
  /** Addresses never matched (default DEFAULT_IGNORE_NETS; [] matches everything). */
  ignoreNets?: string[];
  /** Flows whose NEW matched, remembered to skip their END (default 100 000; the oldest go first). */
  maxRememberedFlows?: number;
}

export interface IntelStats {
  events: number;
  lookups: number;
  /** Values found in some feed (before ignoreNets). */
  hits: number;
  ignored: number;
  /** Flow update/END events skipped because the flow's NEW already matched. */
  repeats: number;
  detections: number;
  rememberedFlows: number;
}

type ValueKind = "ip" | "domain" | "url" | "hash";

/** One value of the event worth looking up, and which side of the connection it is. */
interface Candidate {
  field: string;
  value: string;
  kind: ValueKind;
  /** The other side opened the connection to us (source address of a flow, accept's peer, a login's address). */
  inbound: boolean;
}

const LOCAL_ENDPOINT = new Set(["bind", "listen"]);

export function createIntelDetector(opts: IntelDetectorOptions): Detector & { stats(): IntelStats } {
  const ignore = ignoreIndex(opts.ignoreNets ?? DEFAULT_IGNORE_NETS);
  const defaultSeverity = opts.defaultSeverity ?? "high";
  const maxFlows = opts.maxRememberedFlows ?? 100_000;
  const matchedFlows = new Map<string, true>();
  const c = { events: 0, lookups: 0, hits: 0, ignored: 0, repeats: 0, detections: 0 };

  const lookup = (index: IntelIndex, cand: Candidate): IntelEntry[] => {
    c.lookups++;
    let found: IntelEntry[];
    if (cand.kind === "ip") found = index.matchIp(cand.value);
    else if (cand.kind === "domain") found = index.matchDomain(cand.value);
    else if (cand.kind === "hash") found = index.matchHash(cand.value);
    else {
      found = index.matchUrl(cand.value);
      // A URL's host is as telling as the URL: a listed domain or address serves it.
      const host = urlHost(cand.value);
      if (host !== undefined) found = [...found, ...(/^[\d.]+$|:/.test(host) ? index.matchIp(host) : index.matchDomain(host))];
    }
    if (found.length === 0) return found;
    c.hits++;
    if (cand.kind === "ip" && ignore.matchIp(cand.value).length > 0) {
      c.ignored++;
      return [];
    }
    return found;
  };

  const onEvent = (event: HvEvent): Detection[] => {
    c.events++;
    const flow = event.event.module === "flow" ? event.flow : undefined;
    const key = flow ? flowKey(event) : undefined;
    if (flow && key !== undefined && flow.phase !== "new" && matchedFlows.has(key)) {
      c.repeats++;
      if (flow.phase === "end") matchedFlows.delete(key);
      return [];
    }
    const index = opts.index();
    const out: Detection[] = [];
    const feedsDone = new Set<string>();
    for (const cand of candidatesOf(event)) {
      for (const entry of lookup(index, cand)) {
        if (feedsDone.has(entry.feed)) continue;
        feedsDone.add(entry.feed);
        out.push(detectionOf(event, cand, entry, entry.severity ?? defaultSeverity));
      }
    }
    if (out.length > 0 && key !== undefined && flow!.phase !== "end") {
      matchedFlows.set(key, true);
      if (matchedFlows.size > maxFlows) matchedFlows.delete(matchedFlows.keys().next().value as string);
    }
    c.detections += out.length;
    return out;
  };

  return {
    name: "intel",
    onEvent,
    stats: () => ({ ...c, rememberedFlows: matchedFlows.size }),
  };
}

function ignoreIndex(nets: string[]): IntelIndex {
  const index = buildIntelIndex([{ feed: "ignore", indicators: nets.map((value) => ({ kind: "cidr" as const, value })) }]);
  const bad = index.invalid.examples[0];
  if (bad) throw new Error(`intel detector: ignoreNets[${bad.index}] "${bad.value}": ${bad.reason}`);
  return index;
}

/** Identifies one connection across its NEW, update and END events. */
function flowKey(e: HvEvent): string {
  const f = e.flow!;
  return [f.collector, f.id ?? "", f.zone ?? "", e.network?.transport ?? "", e.source?.ip ?? "", e.source?.port ?? "", e.destination?.ip ?? "", e.destination?.port ?? ""].join("|");
}

/** The values of the event to look up, the remote side of an outbound connection first. */
function candidatesOf(e: HvEvent): Candidate[] {
  const out: Candidate[] = [];
  const add = (field: string, value: unknown, kind: ValueKind, inbound = false): void => {
    if (typeof value === "string" && value !== "") out.push({ field, value, kind, inbound });
  };
  add("destination.ip", e.destination?.ip, "ip");
  // The local address of bind/listen names no one else.
  if (!(e.event.module === "audit" && LOCAL_ENDPOINT.has(e.event.action))) add("source.ip", e.source?.ip, "ip", true);
  add("destination.domain", e.destination?.domain, "domain");
  add("source.domain", e.source?.domain, "domain", true);
  // ECS fields a collector may set although HvEvent does not declare them yet.
  const ecs = e as unknown as Record<string, Record<string, unknown> | undefined>;
  add("url.full", ecs.url?.full ?? ecs.url?.original, "url");
  add("url.domain", ecs.url?.domain, "domain");
  add("dns.question.name", (ecs.dns?.question as Record<string, unknown> | undefined)?.name, "domain");
  for (const owner of ["file", "process"] as const) {
    const hashes = (ecs[owner]?.hash ?? {}) as Record<string, unknown>;
    for (const algo of ["sha256", "sha1", "md5", "sha512"]) add(`${owner}.hash.${algo}`, hashes[algo], "hash");
  }
  return out;
}

function detectionOf(e: HvEvent, cand: Candidate, entry: IntelEntry, severity: Severity): Detection {
  const ind = entry.indicator;
  const stored = "first_seen" in ind ? (ind as StoredIndicator) : undefined;
  const meta = ind.meta ?? {};
  const threat: ThreatMatch = { feed: entry.feed, indicator: ind.value, kind: ind.kind, matched: cand.value, field: cand.field };
  // Provenance (the syncs that listed it) when stored; else what the feed itself says.
  const firstSeen = stored?.first_seen ?? meta.first_seen ?? meta.first_seen_utc;
  const lastSeen = stored?.last_seen ?? meta.last_seen ?? meta.last_online;
  if (firstSeen) threat.first_seen = firstSeen;
  if (lastSeen) threat.last_seen = lastSeen;
  const description = describeMeta(meta);
  if (description) threat.description = description;
  if (Object.keys(meta).length > 0) threat.meta = { ...meta };
  return {
    rule: {
      id: `intel:${entry.feed}`,
      title: `Indicator listed by threat feed ${entry.feed}`,
      source: "intel",
      description: `An address, domain, URL or file hash of the event is listed by the threat feed "${entry.feed}".`,
      level: severity,
      tags: tagsOf(cand),
    },
    severity,
    events: [e],
    // A person wants the feed's own first sighting (Feodo's first_seen_utc), not hv's first sync.
    summary: summaryOf(e, cand, entry, meta.first_seen ?? meta.first_seen_utc ?? firstSeen),
    threat,
  };
}

function tagsOf(cand: Candidate): string[] {
  const tags = ["intel", `intel.${cand.kind}`];
  if (cand.kind === "hash") tags.push("attack.execution");
  else if (cand.inbound) tags.push("attack.initial_access");
  else tags.push("attack.command_and_control", "attack.t1071");
  return tags;
}

// What a feed says of an entry, most telling first; other meta keys follow as key=value.
const LABEL_KEYS = ["malware", "malware_family", "malware_printable", "family", "threat", "threat_type", "description", "tags"];

function describeMeta(meta: Record<string, string>): string | undefined {
  const label = labelOf(meta);
  const rest = Object.entries(meta)
    .filter(([k, v]) => !LABEL_KEYS.includes(k) && v !== "")
    .map(([k, v]) => `${k}=${v}`);
  const text = [label, ...rest].filter((s) => s !== undefined && s !== "").join(", ");
  return text === "" ? undefined : text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function labelOf(meta: Record<string, string>): string | undefined {
  const values = LABEL_KEYS.map((k) => meta[k]).filter((v): v is string => typeof v === "string" && v !== "");
  return values.length === 0 ? undefined : [...new Set(values)].join(" ");
}

/** "web1 connected to 198.51.100.7:443 listed by feodo (Dridex, first seen 2025-01-02)". */
function summaryOf(e: HvEvent, cand: Candidate, entry: IntelEntry, firstSeen: string | undefined): string {
  const who = actorOf(e, cand.inbound);
  const listed = `listed by ${entry.feed}${entry.indicator.value !== cand.value ? ` as ${entry.indicator.value}` : ""}`;
  const about = [labelOf(entry.indicator.meta ?? {}), firstSeen ? `first seen ${firstSeen}` : undefined].filter(Boolean).join(", ");
  const tail = `${listed}${about ? ` (${about})` : ""}`;
  const failed = e.event.outcome === "failure";
  if (cand.kind === "ip") {
    if (cand.inbound) {
      const local = e.destination?.ip ? ` (${endpoint(e.destination.ip, e.destination.port)})` : "";
      const what = e.event.module === "audit" && e.event.category.includes("network") ? `${who} accepted a connection from` : e.event.module === "audit" ? `${who}: ${e.event.action} from` : undefined;
      if (what) return `${what} ${endpoint(cand.value, e.source?.port)} ${tail}`;
      return `${endpoint(cand.value, e.source?.port)} ${tail} connected to ${who}${local}`;
    }
    const sent = e.event.action === "sendto" || e.event.action === "sendmsg";
    const verb = failed ? `tried to ${sent ? "send to" : "connect to"}` : sent ? "sent to" : "connected to";
    return `${who} ${verb} ${endpoint(cand.value, e.destination?.port)} ${tail}`;
  }
  if (cand.kind === "hash") return `${who}: ${cand.field} ${cand.value}${e.file?.path ? ` of ${e.file.path}` : ""} ${tail}`;
  if (cand.kind === "url") return `${who} requested ${cand.value} ${tail}`;
  return `${who} ${cand.inbound ? "was contacted by" : "contacted"} ${cand.value} ${tail}`;
}

/** The VM (or host) on our side of the connection, and the process when the event names one. */
function actorOf(e: HvEvent, inbound: boolean): string {
  const ours = inbound ? e.destination?.ip : e.source?.ip;
  const base = e.vm?.name ?? e.host?.name ?? (e.event.module === "flow" ? ours : undefined) ?? "the host";
  const p = e.process;
  if (!p || (p.executable === undefined && p.name === undefined)) return base;
  return `${base}: ${p.executable ?? p.name}${p.pid !== undefined ? ` (pid ${p.pid})` : ""}`;
}

function endpoint(ip: string, port: number | undefined): string {
  if (port === undefined) return ip;
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}
