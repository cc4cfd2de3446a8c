// IOC index benchmark: build an index of 1M address entries and 1M domains, then time lookups.
// Prints numbers, asserts nothing.
//
//   npm run build && node --expose-gc dist/bench/intel.js [--entries N] [--lookups N] [--json]
//
// Entries: the real address and domain lists under ../shared/data/threat-intel (Spamhaus DROP
// v4/v6, FireHOL level 1, Feodo, Cobalt Strike domains) as a seed when present, filled up with
// synthetic ones from a fixed-seed generator: IPv4 /32 (55%), IPv4 CIDRs (20%: /24–/30 70%,
// /16–/23 25%, /12–/15 5%), IPv6 /128 (15%), IPv6 /48–/64 (10%). Three feeds share them.
// Hits are addresses inside listed entries; misses are random addresses the index does not list.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { buildIntelIndex, type IntelIndex } from "../src/detectors/intel/index.js";
import { parseV6 } from "../src/detectors/intel/ip.js";
import type { Indicator } from "../src/events/indicator.js";
import { SHARED } from "./data.js";
import { createRng } from "../src/detectors/anomaly/rng.js";

const random = createRng(20261126).next;
const u32 = (): number => Math.floor(random() * 4294967296);
const v4 = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const hex16 = (): string => Math.floor(random() * 65536).toString(16);
const v6host = (): string => `2${Math.floor(random() * 4096).toString(16).padStart(3, "0")}:${hex16()}:${hex16()}:${hex16()}:${hex16()}:${hex16()}:${hex16()}:${hex16()}`;

interface Seed {
  addresses: Indicator[];
  domains: string[];
  files: string[];
}

/** Addresses and domains from the real feed files, when ../shared/data is there. */
function realSeed(): Seed {
  const dir = join(SHARED, "threat-intel");
  const seed: Seed = { addresses: [], domains: [], files: [] };
  if (!existsSync(dir)) {
    process.stderr.write(`note: ${dir} not found; all entries are synthetic\n`);
    return seed;
  }
  const files = ["spamhaus-drop-txt/drop.txt", "spamhaus-drop-txt/dropv6.txt", "firehol/firehol_level1.netset", "feodo-txt/ipblocklist_recommended.txt"];
  for (const f of files) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    seed.files.push(f);
    for (const line of readFileSync(p, "utf8").split(/\r?\n/)) {
      const token = line.replace(/[;#].*$/, "").trim().split(/\s+/)[0];
      if (!token) continue;
      seed.addresses.push({ kind: token.includes("/") ? "cidr" : "ip", value: token });
    }
  }
  const domainDir = join(dir, "critical-path-feeds");
  for (const f of existsSync(domainDir) ? readdirSync(domainDir).filter((n) => n.includes("domain")) : []) {
    seed.files.push(`critical-path-feeds/${f}`);
    for (const line of readFileSync(join(domainDir, f), "utf8").split(/\r?\n/)) {
      const d = line.replace(/#.*$/, "").trim();
      if (d && /^[a-z0-9.-]+$/i.test(d)) seed.domains.push(d);
    }
  }
  return seed;
}

function syntheticAddress(): Indicator {
  const r = random();
  if (r < 0.55) return { kind: "ip", value: v4(u32()) };
  if (r < 0.75) {
    const p = random();
    const len = p < 0.7 ? 24 + Math.floor(random() * 7) : p < 0.95 ? 16 + Math.floor(random() * 8) : 12 + Math.floor(random() * 4);
    const base = (u32() & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
    return { kind: "cidr", value: `${v4(base)}/${len}` };
  }
  if (r < 0.9) return { kind: "ip", value: v6host() };
  const len = 48 + Math.floor(random() * 17);
  return { kind: "cidr", value: `${v6host()}/${len}` };
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789";
const TLDS = ["com", "net", "org", "ru", "cn", "info", "xyz", "top", "io", "de"];
function label(): string {
  const n = 4 + Math.floor(random() * 10);
  let s = "";
  for (let i = 0; i < n; i++) s += LETTERS[Math.floor(random() * LETTERS.length)];
  return s;
}
const syntheticDomain = (): string => `${random() < 0.3 ? `${label()}.` : ""}${label()}.${TLDS[Math.floor(random() * TLDS.length)]}`;

/** An address inside the entry (a random host of a CIDR): a lookup that must hit. */
function inside(ind: Indicator): string {
  const [addr, bits] = ind.value.split("/");
  if (bits === undefined) return addr!;
  if (!addr!.includes(":")) {
    const parts = addr!.split(".").map(Number);
    const base = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
    const hostBits = 32 - Number(bits);
    const offset = hostBits === 0 ? 0 : Math.floor(random() * 2 ** Math.min(hostBits, 31));
    return v4((base + offset) >>> 0);
  }
  // Any address sharing the entry's first 64 bits (a /65 or longer: the network address itself).
  const words = new Uint32Array(4);
  parseV6(addr!, words);
  const groups = [...words].flatMap((w) => [(w >>> 16).toString(16), (w & 0xffff).toString(16)]);
  if (Number(bits) <= 64) for (let g = 4; g < 8; g++) groups[g] = hex16();
  return groups.join(":");
}

const mib = (b: number): string => (b / 1048576).toFixed(0);

function memory(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

/** Lookups per second of this process's CPU time (other processes on a shared machine barely move it) and of wall time. */
function timeLookups(queries: string[], match: (q: string) => unknown[]): { perCpuSecond: number; perSecond: number; hits: number } {
  let hits = 0;
  for (let i = 0; i < Math.min(queries.length, 100_000); i++) match(queries[i]!); // warm-up (JIT)
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < queries.length; i++) if (match(queries[i]!).length > 0) hits++;
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { perCpuSecond: queries.length / ((used.user + used.system) / 1e6), perSecond: queries.length / wall, hits };
}

function main(): void {
  const argv = process.argv.slice(2);
  const opt = (name: string, dflt: number): number => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
  const total = opt("--entries", 1_000_000);
  const lookups = opt("--lookups", 1_000_000);
  const json = argv.includes("--json");
  if (!(globalThis as { gc?: unknown }).gc) process.stderr.write("note: run with node --expose-gc for exact heap numbers\n");

  const seed = realSeed();
  const addresses = seed.addresses.slice(0, total);
  while (addresses.length < total) addresses.push(syntheticAddress());
  const domains = seed.domains.slice(0, total);
  while (domains.length < total) domains.push(syntheticDomain());
  const third = Math.ceil(total / 3);
  const feeds = ["drop", "feodo", "firehol"].map((feed, f) => ({ feed, indicators: addresses.slice(f * third, (f + 1) * third) }));

  // Memory an index holds: the heap with it minus the heap once it is dropped (same inputs alive).
  const measure = (build: () => IntelIndex): { ms: number; cpuMs: number; bytes: number } => {
    const t = performance.now();
    const cpu = process.cpuUsage();
    let index: IntelIndex | undefined = build();
    const used = process.cpuUsage(cpu);
    const ms = performance.now() - t;
    const withIndex = memory();
    index = undefined;
    const without = memory();
    void index;
    return { ms, cpuMs: (used.user + used.system) / 1000, bytes: withIndex.heap - without.heap };
  };
  const buildIp = (): IntelIndex => buildIntelIndex(feeds);
  const buildDomains = (): IntelIndex => buildIntelIndex([{ feed: "domains", indicators: domains.map((value): Indicator => ({ kind: "domain", value })) }]);
  const ipRun = measure(buildIp);
  const domainRun = measure(buildDomains);
  const ipIndex = buildIp();
  const domainIndex = buildDomains();
  const rss = memory().rss;

  const pick = <T>(a: T[]): T => a[Math.floor(random() * a.length)]!;
  const v4Entries = addresses.filter((a) => !a.value.includes(":"));
  const v6Entries = addresses.filter((a) => a.value.includes(":"));
  const hitV4 = Array.from({ length: lookups }, () => inside(pick(v4Entries)));
  const hitV6 = Array.from({ length: lookups }, () => inside(pick(v6Entries)));
  const misses = (make: () => string): string[] => {
    const out: string[] = [];
    while (out.length < lookups) {
      const q = make();
      if (ipIndex.matchIp(q).length === 0) out.push(q);
    }
    return out;
  };
  const missV4 = misses(() => v4(u32()));
  const missV6 = misses(v6host);
  const hitDomains = Array.from({ length: lookups }, () => `www.${pick(domains)}`);
  const randDomains = Array.from({ length: lookups }, () => `${label()}.${syntheticDomain()}`);

  const r = {
    entries: { addresses: total, domains: domains.length, real_seed: { addresses: seed.addresses.length, domains: seed.domains.length, files: seed.files } },
    size: ipIndex.size,
    invalid: ipIndex.invalid.count + domainIndex.invalid.count,
    build_ms: { addresses: Math.round(ipRun.ms), domains: Math.round(domainRun.ms), addresses_cpu: Math.round(ipRun.cpuMs), domains_cpu: Math.round(domainRun.cpuMs) },
    machine: { cores: cpus().length, load_average_1m: Number(loadavg()[0]!.toFixed(1)) },
    memory_mib: {
      address_index_heap: Number(mib(ipRun.bytes)),
      address_index_typed_arrays: Number(mib(ipIndex.addressBytes)),
      domain_index_heap: Number(mib(domainRun.bytes)),
      rss_after_build: Number(mib(rss)),
    },
    lookups_per_s: {} as Record<string, { per_cpu_s: number; per_wall_s: number; hit_ratio: number }>,
  };
  const sets: Array<[string, string[], (q: string) => unknown[]]> = [
    ["ipv4 hits", hitV4, (q) => ipIndex.matchIp(q)],
    ["ipv4 misses", missV4, (q) => ipIndex.matchIp(q)],
    ["ipv6 hits", hitV6, (q) => ipIndex.matchIp(q)],
    ["ipv6 misses", missV6, (q) => ipIndex.matchIp(q)],
    ["domain hits (subdomain)", hitDomains, (q) => domainIndex.matchDomain(q)],
    ["domain random", randDomains, (q) => domainIndex.matchDomain(q)],
  ];
  for (const [name, queries, match] of sets) {
    const x = timeLookups(queries, match);
    r.lookups_per_s[name] = { per_cpu_s: Math.round(x.perCpuSecond), per_wall_s: Math.round(x.perSecond), hit_ratio: Number((x.hits / queries.length).toFixed(4)) };
  }

  if (json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  const lines = [
    `address entries: ${total} (${r.entries.real_seed.addresses} real from ${seed.files.filter((f) => !f.includes("domain")).join(", ") || "none"}, rest synthetic); size ${JSON.stringify(r.size)}`,
    `domain entries:  ${domains.length} (${seed.domains.length} real)`,
    `build: addresses ${r.build_ms.addresses} ms (${r.build_ms.addresses_cpu} ms CPU), domains ${r.build_ms.domains} ms (${r.build_ms.domains_cpu} ms CPU, includes GC); ${r.invalid} invalid`,
    `memory held by the index (the indicator objects, the caller's, not counted): addresses ${r.memory_mib.address_index_heap} MiB (typed arrays ${r.memory_mib.address_index_typed_arrays} MiB), domains ${r.memory_mib.domain_index_heap} MiB; process RSS ${r.memory_mib.rss_after_build} MiB with inputs, both indexes and query sets`,
    `machine: ${r.machine.cores} cores, load average ${r.machine.load_average_1m} at the end (other work shares the CPUs; CPU-time rates are the fairer number)`,
    ...Object.entries(r.lookups_per_s).map(([name, x]) => `${name.padEnd(24)} ${x.per_cpu_s.toLocaleString("en")} lookups per CPU-second (${x.per_wall_s.toLocaleString("en")}/s wall; ${lookups} lookups, hit ratio ${x.hit_ratio})`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

main();
