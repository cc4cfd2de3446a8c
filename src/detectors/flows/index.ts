// Every flow detector, configured: what the agent and `hv flows --replay` run over flow events.

import type { Detector } from "../../events/alert.js";
import { createBeaconDetector } from "./beacon.js";
import { createBruteForceDetector } from "./brute-force.js";
import { parseFlowDetectorsConfig, type FlowDetectorsConfig } from "./config.js";
import { createLargeOutboundDetector } from "./large-outbound.js";
import { createPortScanDetector, type FlowDetector } from "./port-scan.js";
import { createUdpFloodDetector } from "./udp-flood.js";
import { createLateralDetector } from "./lateral.js";
import { createDnsTunnelDetector } from "./dns-tunnel.js";
import { createIcmpTunnelDetector } from "./icmp-tunnel.js";

export type { FlowDetector } from "./port-scan.js";
export { parseFlowDetectorsConfig, type FlowDetectorsConfig, type FlowDetectorsInput } from "./config.js";

/** The enabled flow detectors; `config` is the raw `flowDetectors:` section (defaults fill the rest). */
export function createFlowDetectors(config?: unknown): FlowDetector[] {
  const cfg: FlowDetectorsConfig = parseFlowDetectorsConfig(config ?? {});
  const out: FlowDetector[] = [];
  if (cfg.portScan.enabled) out.push(createPortScanDetector(cfg.portScan, cfg.maxKeys));
  if (cfg.bruteForce.enabled) out.push(createBruteForceDetector(cfg.bruteForce, cfg.maxKeys));
  if (cfg.beacon.enabled) out.push(createBeaconDetector(cfg.beacon, cfg.maxKeys));
  if (cfg.largeOutbound.enabled) out.push(createLargeOutboundDetector(cfg.largeOutbound, cfg.maxKeys));
  if (cfg.udpFlood.enabled) out.push(createUdpFloodDetector(cfg.udpFlood, cfg.maxKeys));
  if (cfg.lateral.enabled) out.push(createLateralDetector(cfg.lateral, cfg.maxKeys));
  if (cfg.dnsTunnel.enabled) out.push(createDnsTunnelDetector(cfg.dnsTunnel, cfg.maxKeys));
  if (cfg.icmpTunnel.enabled) out.push(createIcmpTunnelDetector(cfg.icmpTunnel, cfg.maxKeys));
  return out;
}

/** For callers that only need the Detector interface. */
export function flowDetectors(config?: unknown): Detector[] {
  return createFlowDetectors(config);
}
