// The information elements hv reads from NetFlow v9 and IPFIX records (IANA "IPFIX Information
// Elements" registry; v9 field types 1–127 share these numbers, RFC 3954 §8). Any other element
// is skipped by its length, so an unknown or enterprise-specific field never breaks a record.

/** How a value is read; a field whose length does not fit its kind is skipped, not misread. */
export type ElementKind = "unsigned" | "ipv4" | "ipv6" | "mac" | "seconds" | "milliseconds" | "ntp";

export interface ElementInfo {
  name: string;
  kind: ElementKind;
}

/** IANA element id → what hv does with it (enterprise 0). */
export const ELEMENTS: ReadonlyMap<number, ElementInfo> = new Map<number, ElementInfo>([
  [1, { name: "octetDeltaCount", kind: "unsigned" }],
  [2, { name: "packetDeltaCount", kind: "unsigned" }],
  [4, { name: "protocolIdentifier", kind: "unsigned" }],
  [6, { name: "tcpControlBits", kind: "unsigned" }],
  [7, { name: "sourceTransportPort", kind: "unsigned" }],
  [8, { name: "sourceIPv4Address", kind: "ipv4" }],
  [10, { name: "ingressInterface", kind: "unsigned" }],
  [11, { name: "destinationTransportPort", kind: "unsigned" }],
  [12, { name: "destinationIPv4Address", kind: "ipv4" }],
  [14, { name: "egressInterface", kind: "unsigned" }],
  [21, { name: "flowEndSysUpTime", kind: "unsigned" }],
  [22, { name: "flowStartSysUpTime", kind: "unsigned" }],
  [27, { name: "sourceIPv6Address", kind: "ipv6" }],
  [28, { name: "destinationIPv6Address", kind: "ipv6" }],
  [56, { name: "sourceMacAddress", kind: "mac" }],
  [57, { name: "postDestinationMacAddress", kind: "mac" }],
  [80, { name: "destinationMacAddress", kind: "mac" }],
  [81, { name: "postSourceMacAddress", kind: "mac" }],
  [85, { name: "octetTotalCount", kind: "unsigned" }],
  [86, { name: "packetTotalCount", kind: "unsigned" }],
  [148, { name: "flowId", kind: "unsigned" }],
  [150, { name: "flowStartSeconds", kind: "seconds" }],
  [151, { name: "flowEndSeconds", kind: "seconds" }],
  [152, { name: "flowStartMilliseconds", kind: "milliseconds" }],
  [153, { name: "flowEndMilliseconds", kind: "milliseconds" }],
  [154, { name: "flowStartMicroseconds", kind: "ntp" }],
  [155, { name: "flowEndMicroseconds", kind: "ntp" }],
  [156, { name: "flowStartNanoseconds", kind: "ntp" }],
  [157, { name: "flowEndNanoseconds", kind: "ntp" }],
  [158, { name: "flowStartDeltaMicroseconds", kind: "unsigned" }],
  [159, { name: "flowEndDeltaMicroseconds", kind: "unsigned" }],
  [160, { name: "systemInitTimeMilliseconds", kind: "milliseconds" }],
  [161, { name: "flowDurationMilliseconds", kind: "unsigned" }],
  [162, { name: "flowDurationMicroseconds", kind: "unsigned" }],
  [231, { name: "initiatorOctets", kind: "unsigned" }],
  [232, { name: "responderOctets", kind: "unsigned" }],
  [298, { name: "initiatorPackets", kind: "unsigned" }],
  [299, { name: "responderPackets", kind: "unsigned" }],
]);

/** RFC 5103 biflows: enterprise 29305 with a forward element's id is that element in reverse. */
export const REVERSE_PEN = 29305;
/** Reverse elements are stored under this offset plus the forward id (element ids are 15 bits). */
export const REVERSE_KEY = 0x10000;
/** The reverse elements hv reads: the other direction's counters. */
export const REVERSED: ReadonlySet<number> = new Set([1, 2, 85, 86]);

/** Lengths a kind may be encoded in (RFC 7011 §6.2 reduced-size encoding for unsigned). */
export function lengthFits(kind: ElementKind, length: number): boolean {
  switch (kind) {
    case "unsigned":
      return length >= 1 && length <= 8;
    case "ipv4":
      return length === 4;
    case "ipv6":
      return length === 16;
    case "mac":
      return length === 6;
    case "seconds":
      return length === 4;
    case "milliseconds":
    case "ntp":
      return length === 8;
  }
}

/** Element ids hv maps to flow fields; also the ids a data record decoder keeps. */
export const E = {
  octets: 1,
  packets: 2,
  protocol: 4,
  tcpFlags: 6,
  srcPort: 7,
  srcV4: 8,
  ingress: 10,
  dstPort: 11,
  dstV4: 12,
  egress: 14,
  endUptime: 21,
  startUptime: 22,
  srcV6: 27,
  dstV6: 28,
  srcMac: 56,
  postDstMac: 57,
  dstMac: 80,
  postSrcMac: 81,
  octetsTotal: 85,
  packetsTotal: 86,
  flowId: 148,
  startSec: 150,
  endSec: 151,
  startMs: 152,
  endMs: 153,
  startUs: 154,
  endUs: 155,
  startNs: 156,
  endNs: 157,
  startDeltaUs: 158,
  endDeltaUs: 159,
  sysInitMs: 160,
  durationMs: 161,
  durationUs: 162,
  initiatorOctets: 231,
  responderOctets: 232,
  initiatorPackets: 298,
  responderPackets: 299,
} as const;
