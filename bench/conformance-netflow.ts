// Conformance of hv's NetFlow/IPFIX decoder on the 92 real export packets from logstash-codec-netflow's
// tests (../shared/data/netflow/netflow-ipfix-packets/spec/codecs/*.dat, one UDP payload each).
//
//   node dist/bench/conformance-netflow.js [--json] [--no-tshark] [--dir DIR]
//
// Files are grouped by exporter (the name without its _tpl…/_data… suffix); each group gets its own
// exporter address, and its template files are fed before its data files, as an exporter would send
// them. Prints, per file: version, packets, flows, templates, options templates, option records,
// data sets without template, malformed, and the problems. When Debian's tshark is installed, every
// flow is compared with tshark's cflow dissection (addresses, ports, protocol, bytes, packets).
// Exits 0 with "skipped: …" when the shared data is absent. Asserts nothing: it reports.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createNetflowDecoder, type NetflowStats } from "../src/collectors/flows/netflow/decoder.js";
import { progress } from "../src/cli/progress.js";
import type { HvEvent } from "../src/events/event.js";
import { SHARED } from "./data.js";

/** One file's decode: the decoder's counters plus where it came from and what it said. */
export interface FileResult extends Pick<NetflowStats, "packets" | "flows" | "templates" | "optionsTemplates" | "optionRecords" | "noTemplate" | "malformed"> {
  file: string;
  group: string;
  exporter: string;
  version: number;
  problems: string[];
  events: HvEvent[];
}

/** The exporter a file came from: its name without the _tpl…/_data…/_opttpl… part. */
export function groupOf(file: string): string {
  const name = basename(file, ".dat");
  const m = /^(.*?)_(tpl|opttpl|tpls|tplopt|tpldata|data)(?=$|[_\d-])/.exec(name);
  return m ? m[1]! : name;
}

/** Templates before data within an exporter. */
function isTemplateFile(file: string): boolean {
  return /_(tpl|opttpl|tpls|tplopt)/.test(basename(file));
}

export function orderFiles(files: string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const f of [...files].sort()) {
    const g = groupOf(f);
    groups.set(g, [...(groups.get(g) ?? []), f]);
  }
  return [...groups.values()].map((list) => [...list].sort((a, b) => Number(isTemplateFile(b)) - Number(isTemplateFile(a)) || a.localeCompare(b)));
}

export function decodeAll(dir: string): FileResult[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".dat"));
  const results: FileResult[] = [];
  const decoder = createNetflowDecoder({ onProblem: (p) => current?.problems.push(p.reason) });
  let current: FileResult | undefined;
  orderFiles(files).forEach((group, gi) => {
    const exporter = { address: `192.0.2.${gi + 1}`, port: 2055 };
    for (const file of group) {
      const buf = readFileSync(join(dir, file));
      const before = decoder.stats();
      current = { file, group: groupOf(file), exporter: exporter.address, version: buf.length >= 2 ? buf.readUInt16BE(0) : 0, packets: 1, flows: 0, templates: 0, optionsTemplates: 0, optionRecords: 0, noTemplate: 0, malformed: 0, problems: [], events: [] };
      current.events = decoder.packet(buf, exporter, new Date("2026-01-01T00:00:00Z"));
      const after = decoder.stats();
      current.flows = after.flows - before.flows;
      current.templates = after.templates - before.templates;
      current.optionsTemplates = after.optionsTemplates - before.optionsTemplates;
      current.optionRecords = after.optionRecords - before.optionRecords;
      current.noTemplate = after.noTemplate - before.noTemplate;
      current.malformed = after.malformed - before.malformed;
      results.push(current);
    }
  });
  return results;
}

// ───────────────────────────── tshark cross-check ─────────────────────────────

export interface TsharkFlow {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  protocol?: number;
  bytes?: number;
  packets?: number;
}

export interface Agreement {
  file: string;
  hv: number;
  tshark: number;
  matched: number;
  /** hv flows with no equal tshark flow, and the reverse. */
  hvOnly: string[];
  tsharkOnly: string[];
}

/**
 * Every file of a group in one pcap (text2pcap wraps each payload in UDP to port 2055), so tshark
 * learns the group's templates the way hv does; returns tshark's flows per frame (= per file).
 */
export function tsharkFlows(dir: string, group: string[], exporter: string): Map<string, TsharkFlow[]> | string {
  const tmp = mkdtempSync(join(tmpdir(), "hv-nf-"));
  try {
    const hex = group
      .map((f, i) => {
        const bytes = readFileSync(join(dir, f));
        const lines: string[] = [`${String(i).padStart(2, "0")}:00:00.000000`];
        for (let o = 0; o < bytes.length; o += 16) lines.push(`${o.toString(16).padStart(6, "0")} ${[...bytes.subarray(o, o + 16)].map((b) => b.toString(16).padStart(2, "0")).join(" ")}`);
        return lines.join("\n");
      })
      .join("\n\n");
    writeFileSync(join(tmp, "in.txt"), hex + "\n");
    const t2p = spawnSync("text2pcap", ["-q", "-t", "%H:%M:%S.", "-4", `${exporter},10.0.0.1`, "-u", "2055,2055", join(tmp, "in.txt"), join(tmp, "out.pcap")], { encoding: "utf8" });
    if (t2p.status !== 0) return `text2pcap failed: ${t2p.stderr}`;
    const ts = spawnSync("tshark", ["-r", join(tmp, "out.pcap"), "-d", "udp.port==2055,cflow", "-T", "json", "--no-duplicate-keys"], { encoding: "utf8", maxBuffer: 1 << 28 });
    if (ts.status !== 0) return `tshark failed: ${ts.stderr}`;
    const packets = JSON.parse(ts.stdout) as Array<{ _source: { layers: Record<string, unknown> } }>;
    const out = new Map<string, TsharkFlow[]>();
    for (const p of packets) {
      const layers = p._source.layers;
      const frame = Number((layers.frame as Record<string, string>)["frame.number"]);
      const flows: TsharkFlow[] = [];
      collectFlows(layers.cflow, flows);
      out.set(group[frame - 1]!, flows);
    }
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** tshark's JSON tree puts each decoded record under a "Flow N" key; records without addresses are not flows. */
function collectFlows(node: unknown, flows: TsharkFlow[]): void {
  if (!node || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (!value || typeof value !== "object") continue;
    if (/^(Flow|pdu) \d+/.test(key)) {
      // With --no-duplicate-keys a field seen twice is an array; the element itself comes first
      // (later ones are other elements tshark shows under the same name, e.g. udpSourcePort as srcport).
      const f = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])) as Record<string, string | undefined>;
      const src = f["cflow.srcaddr"] ?? f["cflow.srcaddrv6"];
      const dst = f["cflow.dstaddr"] ?? f["cflow.dstaddrv6"];
      if (src === undefined || dst === undefined) continue;
      const flow: TsharkFlow = { src: normalizeIp(src), dst: normalizeIp(dst) };
      const n = (k: string): number | undefined => (f[k] === undefined ? undefined : Number(f[k]));
      const set = <K extends keyof TsharkFlow>(k: K, v: TsharkFlow[K] | undefined): void => {
        if (v !== undefined) flow[k] = v;
      };
      set("protocol", n("cflow.protocol"));
      set("srcPort", n("cflow.srcport"));
      set("dstPort", n("cflow.dstport"));
      set("bytes", n("cflow.octets") ?? n("cflow.initiator_octets"));
      set("packets", n("cflow.packets") ?? n("cflow.initiator_packets"));
      flows.push(flow);
    } else collectFlows(value, flows);
  }
}

function normalizeIp(ip: string): string {
  return ip.toLowerCase();
}

const PORTED = new Set([6, 17, 132]);

/** hv's flow in tshark's terms, on the fields this tshark flow has (so a field tshark does not name is not compared). */
function hvView(e: HvEvent, like: TsharkFlow): string {
  const proto = e.network?.iana_number;
  const ported = proto !== undefined && PORTED.has(proto);
  return [
    e.source?.ip,
    e.destination?.ip,
    like.protocol !== undefined ? proto : "",
    like.srcPort !== undefined && ported ? e.source?.port : "",
    like.dstPort !== undefined && ported ? e.destination?.port : "",
    like.bytes !== undefined ? e.source?.bytes : "",
    like.packets !== undefined ? e.source?.packets : "",
  ].join(" ");
}

function tsView(f: TsharkFlow): string {
  const ported = f.protocol !== undefined && PORTED.has(f.protocol);
  return [f.src, f.dst, f.protocol ?? "", ported ? f.srcPort ?? "" : "", ported ? f.dstPort ?? "" : "", f.bytes ?? "", f.packets ?? ""].join(" ");
}

/** Pairs each hv flow with an equal, not yet paired tshark flow (addresses, protocol, ports, bytes, packets). */
export function compare(file: string, events: HvEvent[], flows: TsharkFlow[]): Agreement {
  const unpaired = [...flows];
  const hvOnly: string[] = [];
  let matched = 0;
  for (const e of events) {
    const i = unpaired.findIndex((f) => hvView(e, f) === tsView(f));
    if (i >= 0) {
      unpaired.splice(i, 1);
      matched++;
    } else hvOnly.push(unpaired[0] ? hvView(e, unpaired[0]) : `${e.source?.ip} ${e.destination?.ip}`);
  }
  return { file, hv: events.length, tshark: flows.length, matched, hvOnly, tsharkOnly: unpaired.map(tsView) };
}

// ───────────────────────────── the report ─────────────────────────────

/** Why hv and tshark disagree on these files (checked by hand with `tshark -V`; docs/netflow.md). */
export const KNOWN_DIFFERENCES: Record<string, string> = {
  "netflow5_test_invalid01.dat": "header count 55582 > 30: hv rejects the packet as malformed; tshark decodes garbage records (e.g. 3405774888 bytes)",
  "netflow5_test_invalid02.dat": "header count 163 > 30: hv rejects the packet as malformed; tshark decodes records anyway",
  "netflow9_test_h3c_data3281.dat": "template has an IPv4 element with length 2: hv skips that field, tshark throws 'Malformed' after the first record",
  "netflow9_test_invalid01.dat": "v9 header count (2) is lower than the records present: tshark stops at the count, hv (like logstash) reads every set",
};

function commandExists(cmd: string): boolean {
  return spawnSync(cmd, ["--version"], { encoding: "utf8" }).error === undefined;
}

function main(argv: string[]): void {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write("usage: node dist/bench/conformance-netflow.js [--json] [--no-tshark] [--dir DIR]\n  e.g. node dist/bench/conformance-netflow.js --json > netflow-conformance.json\n");
    return;
  }
  const json = argv.includes("--json");
  const dirArg = argv.indexOf("--dir");
  const dir = dirArg >= 0 ? argv[dirArg + 1]! : join(SHARED, "netflow", "netflow-ipfix-packets", "spec", "codecs");
  if (!existsSync(dir)) {
    process.stdout.write(`skipped: ${dir} not found (set HV_SHARED_DATA to the shared data folder)\n`);
    return;
  }
  const results = decodeAll(dir);
  const useTshark = !argv.includes("--no-tshark") && commandExists("tshark") && commandExists("text2pcap");
  const agreements: Agreement[] = [];
  let tsharkNote = useTshark ? "" : "tshark/text2pcap not installed (Debian package tshark) or --no-tshark: no cross-check";
  if (useTshark) {
    const byGroup = new Map<string, FileResult[]>();
    for (const r of results) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
    const bar = progress({ label: "tshark", total: results.length });
    let done = 0;
    for (const rs of byGroup.values()) {
      bar.update(done, rs[0]!.group);
      done += rs.length;
      const flows = tsharkFlows(dir, rs.map((r) => r.file), rs[0]!.exporter);
      if (typeof flows === "string") {
        tsharkNote = flows;
        break;
      }
      for (const r of rs) agreements.push(compare(r.file, r.events, flows.get(r.file) ?? []));
    }
    bar.done();
  }
  const totals = {
    files: results.length,
    flows: sum(results, "flows"),
    templates: sum(results, "templates"),
    optionsTemplates: sum(results, "optionsTemplates"),
    optionRecords: sum(results, "optionRecords"),
    noTemplate: sum(results, "noTemplate"),
    malformed: sum(results, "malformed"),
    tshark: useTshark && !tsharkNote ? { hv: agreements.reduce((a, x) => a + x.hv, 0), tshark: agreements.reduce((a, x) => a + x.tshark, 0), matched: agreements.reduce((a, x) => a + x.matched, 0), filesAgreeing: agreements.filter((a) => a.hvOnly.length === 0 && a.tsharkOnly.length === 0).length, unexplained: agreements.filter((a) => (a.hvOnly.length || a.tsharkOnly.length) && !KNOWN_DIFFERENCES[a.file]).map((a) => a.file) } : tsharkNote,
  };
  if (json) {
    process.stdout.write(JSON.stringify({ totals, files: results.map(({ events: _events, ...r }) => ({ ...r, tshark: agreements.find((a) => a.file === r.file) })) }, null, 1) + "\n");
    return;
  }
  const w = Math.max(...results.map((r) => r.file.length));
  process.stdout.write(`${"file".padEnd(w)}  ver pkts flows tpl opt optrec notpl bad  tshark(match/hv/ts)  problems\n`);
  for (const r of results) {
    const a = agreements.find((x) => x.file === r.file);
    const ts = a ? `${a.matched}/${a.hv}/${a.tshark}`.padStart(19) : "".padStart(19);
    process.stdout.write(`${r.file.padEnd(w)}  ${String(r.version).padStart(3)} ${String(r.packets).padStart(4)} ${String(r.flows).padStart(5)} ${String(r.templates).padStart(3)} ${String(r.optionsTemplates).padStart(3)} ${String(r.optionRecords).padStart(6)} ${String(r.noTemplate).padStart(5)} ${String(r.malformed).padStart(3)}  ${ts}  ${r.problems.join("; ")}\n`);
  }
  process.stdout.write(`\ntotals: ${JSON.stringify(totals)}\n`);
  for (const a of agreements) {
    if (a.hvOnly.length || a.tsharkOnly.length) {
      const why = KNOWN_DIFFERENCES[a.file] ?? "UNEXPLAINED";
      process.stdout.write(`tshark differs on ${a.file} (${why}): hv-only ${JSON.stringify(a.hvOnly.slice(0, 2))} tshark-only ${JSON.stringify(a.tsharkOnly.slice(0, 2))}\n`);
    }
  }
}

function sum(rs: FileResult[], k: "flows" | "templates" | "optionsTemplates" | "optionRecords" | "noTemplate" | "malformed"): number {
  return rs.reduce((a, r) => a + r[k], 0);
}

if (process.argv[1] && basename(process.argv[1]).startsWith("conformance-netflow")) main(process.argv.slice(2));
