// The one normalized record every collector produces (DESIGN.md "Event").
// Field names follow ECS; the raw source records ride along under their module's key
// (audit.records, …) so a rule can always reach what normalization did not lift out.

export type EventModule = "audit" | "libvirt" | "flow" | "hv";

export interface EventMeta {
  /** Stable id: the same source record always yields the same id (used for exactly-once storage). */
  id: string;
  kind: "event";
  module: EventModule;
  /** What happened, lower case: a syscall name, an audit record type, a libvirt lifecycle change. */
  action: string;
  category: string[];
  type: string[];
  outcome: "success" | "failure" | "unknown";
  /** Source sequence number (audit serial). */
  sequence?: number;
  /** Set when normalization could not see the whole source event (lost or late records). */
  partial?: boolean;
}

export interface ProcessRef {
  pid?: number;
  executable?: string;
  name?: string;
  args?: string[];
  command_line?: string;
}

export interface ProcessFields extends ProcessRef {
  ppid?: number;
  title?: string;
  working_directory?: string;
  tty?: string;
  exit_code?: number;
  parent?: ProcessRef;
  /**
   * The process acted on: traced (ptrace, OBJ_PID opid/ocomm), read or written (process_vm_readv,
   * /proc/PID/mem), signalled. Named from the process table when the record does not name it.
   */
  target?: ProcessRef;
}

export interface UserFields {
  id?: string;
  name?: string;
  effective?: { id?: string; name?: string };
  saved?: { id?: string };
  /** The login uid (auid): who logged in, whatever they became since. */
  audit?: { id?: string; name?: string };
  group?: { id?: string; name?: string };
}

export interface FileFields {
  path?: string;
  name?: string;
  directory?: string;
  inode?: string;
  mode?: string;
  uid?: string;
  gid?: string;
  device?: string;
  type?: string;
  hash?: HashFields;
}

export interface HashFields {
  md5?: string;
  sha1?: string;
  sha256?: string;
  sha512?: string;
}

export interface EndpointFields {
  ip?: string;
  port?: number;
  path?: string;
  mac?: string;
  /** Flows: bytes and packets sent by this side (ECS source.bytes = from source to destination). */
  bytes?: number;
  packets?: number;
  /** A domain name when the event names one (DNS, a URL). */
  domain?: string;
}

export interface NetworkFields {
  /** tcp, udp, icmp, ipv6-icmp, … (lower case IANA keyword). */
  transport?: string;
  /** ipv4 or ipv6. */
  type?: string;
  /** ingress, egress, internal, external, unknown (from the host's or the VM's point of view). */
  direction?: string;
  iana_number?: number;
  /** Flows: both directions together. */
  bytes?: number;
  packets?: number;
  /** Community ID v1 (the flow hash Zeek and Suricata print), so hv flows join with their logs. */
  community_id?: string;
}

export interface VmFields {
  name?: string;
  uuid?: string;
  /** Flows: which end of the flow is the VM (a scan of a VM is not a scan by it). */
  side?: "source" | "destination";
  /** Flows from one VM to another: the VM at the destination end (vm.* names the source's). */
  peer?: { name: string; uuid?: string };
}

/** One raw audit record as the parser saw it, with hex-encoded values decoded. */
export interface AuditRecord {
  type: string;
  /** Numeric type when the line said UNKNOWN[n] or the type is known. */
  typeNum?: number;
  fields: Record<string, string | null>;
  /** Fields auditd appended after 0x1d in log_format=ENRICHED. */
  enriched?: Record<string, string>;
}

export interface AuditFields {
  node?: string;
  serial: number;
  /** Seconds since the epoch with milliseconds, as in msg=audit(sec.ms:serial). */
  time: string;
  /** Type of the first record (SYSCALL, USER_LOGIN, AVC, …). */
  type: string;
  arch?: string;
  syscall?: string;
  key?: string[];
  session?: string;
  result?: string;
  /** The syscall's return value (negative errno on failure; the child pid for fork/clone). */
  exit?: number;
  records: AuditRecord[];
}

/** What the libvirt collector saw (module "libvirt"). */
export interface LibvirtFields {
  /** virsh's event name, e.g. lifecycle, graphics, io-error. */
  event: string;
  uri?: string;
  /** Lifecycle: the event type and its detail as virsh names them ("Started", "Booted"). */
  lifecycle?: { type: string; detail: string };
  /** Device alias (device-added/removed, tray-change, disk-change, io-error, block-job). */
  device?: string;
  /** "key: value" lines (tunable, job-completed, memory-failure, …) and single values (rtc-change offset, balloon KiB, watchdog action). */
  params?: Record<string, string>;
  /** Monitoring gap (the virsh event stream was down), on "disconnected"/"reconnected" events. */
  gap?: { since: string; until?: string; ms?: number; reason?: string };
  raw: string;
}

/**
 * What a flow collector saw (module "flow"). `source` is the side that opened the connection
 * (conntrack's original direction; the exporter's record for NetFlow/IPFIX).
 */
export interface FlowFields {
  collector: "conntrack" | "netflow" | "ipfix";
  /**
   * new: the connection was just seen (no counters yet); update: a state change or an interim
   * record; end: the connection is over and the counters are final (conntrack DESTROY, NetFlow record).
   */
  phase: "new" | "update" | "end";
  /** conntrack's id, or the exporter's flow id. */
  id?: string;
  /** TCP state as conntrack names it (SYN_SENT, ESTABLISHED, TIME_WAIT, CLOSE, …). */
  state?: string;
  /** conntrack status flags: ASSURED, UNREPLIED, … */
  flags?: string[];
  zone?: number;
  mark?: number;
  /** ISO times: when the flow started and ended, where the source says. */
  start?: string;
  end?: string;
  duration_ms?: number;
  /** The reply tuple when it differs from the mirrored original (NAT). */
  reply?: { source: { ip: string; port?: number }; destination: { ip: string; port?: number } };
  /** TCP flags seen over the flow (NetFlow/IPFIX). */
  tcp_flags?: string[];
  /** NetFlow/IPFIX: who exported it. */
  exporter?: { address: string; port?: number; version: number; domain?: number; template?: number };
}

/** The network interfaces a flow was seen on (ECS observer.*): a VM's tap device names the VM. */
export interface ObserverFields {
  ingress?: { interface?: { name?: string } };
  egress?: { interface?: { name?: string } };
}

export interface HvEvent {
  "@timestamp": string;
  event: EventMeta;
  host?: { name?: string };
  process?: ProcessFields;
  user?: UserFields;
  file?: FileFields;
  source?: EndpointFields;
  destination?: EndpointFields;
  network?: NetworkFields;
  vm?: VmFields;
  tags?: string[];
  audit?: AuditFields;
  libvirt?: LibvirtFields;
  flow?: FlowFields;
  observer?: ObserverFields;
  /** A URL the event names (ECS url.*). */
  url?: { full?: string; original?: string; domain?: string };
  /** A DNS question the event names (ECS dns.question.name). */
  dns?: { question?: { name?: string } };
}
