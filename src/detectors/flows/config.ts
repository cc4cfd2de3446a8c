// Thresholds of the flow detectors. Every key has a default chosen for a real hypervisor (a few
// dozen VMs, web/database/ssh services, an uplink); docs/flow-detectors.md says why each is what
// it is. Durations are written like the agent config: 30s, 5m, 1h.

import { z } from "zod";
import { parseDuration } from "../../events/duration.js";

const duration = z
  .union([z.number().nonnegative(), z.string().refine((s) => parseDuration(s) !== undefined, "must look like 500ms, 30s, 5m or 1h")])
  .transform((v) => (typeof v === "number" ? v : parseDuration(v)!));

/** Traffic a detector leaves alone: any field given must match (addresses may be CIDRs). */
const allowEntry = z
  .object({
    source: z.string().optional(),
    destination: z.string().optional(),
    port: z.number().int().min(0).max(65535).optional(),
    transport: z.string().optional(),
    comment: z.string().optional(),
  })
  .strict();

export type AllowEntry = z.infer<typeof allowEntry>;

const weights = z
  .object({
    /** No reply at all, refused (RST), or closed before being established. */
    failed: z.number().nonnegative().default(1),
    /** Only the start was seen so far (conntrack NEW, no reply known yet). */
    pending: z.number().nonnegative().default(0.25),
    /** Established (ASSURED) or answered. */
    established: z.number().nonnegative().default(0.05),
  })
  .strict();

const portScan = z
  .object({
    enabled: z.boolean().default(true),
    window: duration.default(5 * 60_000),
    /** Weighted distinct ports on one host (vertical scan). */
    ports: z.number().positive().default(15),
    /** Weighted distinct hosts on one port (horizontal scan / sweep). */
    hosts: z.number().positive().default(15),
    /** Weighted distinct host+port pairs over at least 3 hosts and 3 ports (a block scan of a LAN's live hosts). */
    targets: z.number().positive().default(20),
    weights: weights.default({ failed: 1, pending: 0.25, established: 0.05 }),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

const bruteForce = z
  .object({
    enabled: z.boolean().default(true),
    window: duration.default(5 * 60_000),
    /** Connections to one service (ip+port) on the ports below. */
    attempts: z.number().int().positive().default(20),
    /** Connections to one service on any other port (web, APIs: clients without keep-alive). */
    otherAttempts: z.number().int().positive().default(100),
    /** Services where logins are guessed: ssh, telnet, ftp, smtp/imap/pop, smb, ldap, rdp, vnc, databases, … */
    authPorts: z.array(z.number().int().min(0).max(65535)).default([21, 22, 23, 25, 110, 143, 139, 389, 445, 465, 587, 636, 993, 995, 1433, 1521, 2222, 3306, 3389, 5432, 5900, 5985, 5986, 6379, 27017]),
    /** Interactive logins (every connection is a login): judged on their number alone, however regular. */
    loginPorts: z.array(z.number().int().min(0).max(65535)).default([21, 22, 23, 139, 445, 2222, 3389, 5900, 5985, 5986]),
    /** On other ports, connections opened on a timer (pools, health checks, polling jobs) are not guessing: the shortest such period… */
    periodicMin: duration.default(1_500),
    /** …and the most irregularity (median absolute deviation of the intervals over their median). */
    periodicJitter: z.number().positive().default(0.35),
    /** A connection that closes within this is short (its TIME_WAIT is not counted). */
    short: duration.default(30_000),
    /** Which transports count: UDP "connections" are mostly DNS-like request/response, not logins. */
    transports: z.array(z.string()).default(["tcp"]),
    /** Most refused/unanswered attempts that still count as a login service answering. */
    maxFailedRatio: z.number().min(0).max(1).default(0.5),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

const beacon = z
  .object({
    enabled: z.boolean().default(true),
    /** Connections that open within this of each other are one beat (a beat may open several). */
    burst: duration.default(2_000),
    minBeats: z.number().int().min(4).default(10),
    minPeriod: duration.default(4_000),
    maxPeriod: duration.default(2 * 3600_000),
    /** The beats must span at least this (a burst of retries is not a beacon). */
    minSpan: duration.default(90_000),
    /** Median absolute deviation of the intervals over their median, for destinations outside the private ranges. */
    maxJitter: z.number().positive().default(0.2),
    /** The same for private, CGNAT, link-local and ULA destinations (caches, proxies, the host itself: human-paced but close). */
    internalMaxJitter: z.number().positive().default(0.12),
    /** Share of intervals within ±50% of the median (a missed beat or two is tolerated). */
    minRegular: z.number().min(0).max(1).default(0.7),
    /** Last beats kept per source→destination. */
    history: z.number().int().min(8).default(48),
    /** DNS, DHCP, NTP, NetBIOS, SNMP, mDNS and monitoring agents: periodic by design (see docs/flow-detectors.md). */
    ignorePorts: z.array(z.number().int().min(0).max(65535)).default([53, 67, 68, 123, 137, 138, 161, 162, 546, 547, 4949, 5353, 5666, 9100, 9182, 10050]),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

const largeOutbound = z
  .object({
    enabled: z.boolean().default(true),
    window: duration.default(3600_000),
    /** Bytes sent by the side that opened the connections to one outside destination within the window. */
    bytes: z.number().positive().default(64 * 1024 * 1024),
    /** Bytes sent in one connection to an outside destination. */
    flowBytes: z.number().positive().default(32 * 1024 * 1024),
    /** The same to private, CGNAT, link-local and ULA destinations (backups, replication, NFS live there). */
    internalBytes: z.number().positive().default(4 * 1024 * 1024 * 1024),
    internalFlowBytes: z.number().positive().default(2 * 1024 * 1024 * 1024),
    /** Sent over received must be at least this (an upload, not a download or a sync). */
    minRatio: z.number().nonnegative().default(3),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

const udpFlood = z
  .object({
    enabled: z.boolean().default(true),
    window: duration.default(10_000),
    /** New UDP flows from one source to one destination within the window. */
    flows: z.number().int().positive().default(1000),
    /** New UDP flows from one source to any destinations within the window. */
    fanoutFlows: z.number().int().positive().default(3000),
    /** UDP flows to one destination that were never answered, by start time within the window. */
    unansweredFlows: z.number().int().positive().default(200),
    /** Packets per second sent in one answered UDP flow (from its counters and active time). */
    packetsPerSecond: z.number().positive().default(5000),
    /** An answered flow must carry at least this many packets to be judged by its rate. */
    minPackets: z.number().int().positive().default(20_000),
    /** The same for a flow that never got a packet back (no legitimate stream is one-way at that rate). */
    unansweredPacketsPerSecond: z.number().positive().default(500),
    unansweredMinPackets: z.number().int().positive().default(2000),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

const lateral = z
  .object({
    enabled: z.boolean().default(true),
    /** Remote administration: ssh, telnet, rpc/smb, rdp, vnc, winrm, docker, kubernetes, kubelet, libvirt, … */
    adminPorts: z.array(z.number().int().min(0).max(65535)).default([22, 23, 111, 135, 139, 445, 2222, 2375, 2376, 3389, 5900, 5901, 5985, 5986, 6443, 10250, 16509, 16514]),
    /** A first contact is judged this long after it started (a scan shows itself by then). */
    settle: duration.default(15_000),
    /** More distinct targets (address + port) than this opened by the source within `settle`: a scan, left to the port-scan detector. */
    scanTargets: z.number().int().positive().default(6),
    /** From the start of the stream, first contacts are learned as normal for this long. */
    learnFor: duration.default(0),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

const dnsTunnel = z
  .object({
    enabled: z.boolean().default(true),
    window: duration.default(5 * 60_000),
    ports: z.array(z.number().int().min(0).max(65535)).default([53]),
    /** Bytes on the wire (IP and UDP headers included) of an ordinary query: what each query sends beyond it is payload. */
    queryBytes: z.number().positive().default(100),
    /** A flow whose queries average at least this many bytes carries data in its names (a name of about 90 characters or more). */
    longQueryBytes: z.number().positive().default(150),
    /** Payload beyond `queryBytes` sent in long queries by one VM within the window. */
    payloadBytes: z.number().positive().default(8 * 1024),
    /** Queries longer than ordinary on average in one flow (one source port): a stub resolver uses a new port for each lookup or two. */
    flowQueries: z.number().int().positive().default(100),
    /** Thresholds are divided by this for DNS servers other than the VM's resolver. */
    offResolverFactor: z.number().min(1).default(4),
    /** The VMs' resolvers (addresses or CIDRs); when empty each VM's is learned (the server it asks most). */
    resolvers: z.array(z.string()).default([]),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

const icmpTunnel = z
  .object({
    enabled: z.boolean().default(true),
    window: duration.default(5 * 60_000),
    /** Bytes on the wire of an ordinary echo (ping's default 56 payload bytes are 84). */
    packetBytes: z.number().positive().default(100),
    /** A flow whose packets average at least this many bytes carries data. */
    largePacketBytes: z.number().positive().default(200),
    /** Payload beyond `packetBytes`, both ways, in large-packet ICMP flows between one source and one destination within the window. */
    payloadBytes: z.number().positive().default(64 * 1024),
    allow: z.array(allowEntry).default([]),
  })
  .strict();

export const flowDetectorsSchema = z
  .object({
    portScan: portScan.default(portScan.parse({})),
    bruteForce: bruteForce.default(bruteForce.parse({})),
    beacon: beacon.default(beacon.parse({})),
    largeOutbound: largeOutbound.default(largeOutbound.parse({})),
    udpFlood: udpFlood.default(udpFlood.parse({})),
    lateral: lateral.default(lateral.parse({})),
    dnsTunnel: dnsTunnel.default(dnsTunnel.parse({})),
    icmpTunnel: icmpTunnel.default(icmpTunnel.parse({})),
    /** Most tracked keys per detector (sources, pairs, services); the least recent go first. */
    maxKeys: z.number().int().positive().default(20_000),
  })
  .strict();

export type FlowDetectorsConfig = z.output<typeof flowDetectorsSchema>;
export type FlowDetectorsInput = z.input<typeof flowDetectorsSchema>;
export type PortScanConfig = FlowDetectorsConfig["portScan"];
export type BruteForceConfig = FlowDetectorsConfig["bruteForce"];
export type BeaconConfig = FlowDetectorsConfig["beacon"];
export type LargeOutboundConfig = FlowDetectorsConfig["largeOutbound"];
export type UdpFloodConfig = FlowDetectorsConfig["udpFlood"];
export type LateralConfig = FlowDetectorsConfig["lateral"];
export type DnsTunnelConfig = FlowDetectorsConfig["dnsTunnel"];
export type IcmpTunnelConfig = FlowDetectorsConfig["icmpTunnel"];

/** Defaults completed with what was given; a bad key or value throws naming the field. */
export function parseFlowDetectorsConfig(input: unknown = {}, where = "flowDetectors"): FlowDetectorsConfig {
  const r = flowDetectorsSchema.safeParse(input ?? {});
  if (!r.success) throw new Error(`${where}: ${r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
  return r.data;
}
