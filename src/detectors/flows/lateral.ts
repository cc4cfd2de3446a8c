// Lateral movement between VMs: a VM opening a connection to another VM's administration port
// (ssh, rdp, smb, winrm, vnc, container and cluster APIs, libvirt) that it never reached before.
// VMs of one host talk to each other on their service ports (an app server to its database);
// reaching a neighbour's admin port for the first time is how an intruder moves on from the VM
// it holds. A first contact is judged `settle` after it happened: if in that time the source
// also opened many other targets, it is a scan (the port-scan detector's), not a login.

import type { Detection } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { BoundedMap, SWEEP_MS, compileAllow, connectionKey, eventMs, formatDuration, isFlow, outcomeOf, Sample, startMs } from "./common.js";
import type { LateralConfig } from "./config.js";
import type { FlowDetector } from "./port-scan.js";

export const LATERAL_RULE = {
  id: "flow:lateral-movement",
  title: "Lateral movement (a VM reached another VM's admin port for the first time)",
  source: "flow",
  description: "A VM connected to an administration port of another VM it had never reached on that port",
  tags: ["attack.lateral_movement", "attack.t1021", "attack.t1021.004"],
};

/** Distinct targets kept per source to tell a scan from a login. */
const MAX_RECENT = 256;

interface FirstContact {
  src: string;
  srcIp: string;
  peer: string;
  dstIp: string;
  port: number;
  transport: string;
  firstMs: number;
  connections: Set<string>;
  established: boolean;
  failed: number;
  sample: Sample;
}

interface SourceState {
  /** Recent distinct destination ip|port, oldest first, with when each was first opened. */
  recent: Map<string, number>;
  /** When the source was last found scanning (the end of that scan's settle time). */
  scanUntilMs?: number;
  lastMs: number;
}

export function createLateralDetector(cfg: LateralConfig, maxKeys: number): FlowDetector {
  const adminPorts = new Set(cfg.adminPorts);
  const allowed = compileAllow(cfg.allow);
  // Source VM → destination VM → port pairs seen (or learned) already.
  const known = new BoundedMap<string, number>(maxKeys);
  const sources = new BoundedMap<string, SourceState>(maxKeys);
  const pending = new Map<string, FirstContact>();
  let startedMs: number | undefined;

  const targetsAround = (s: SourceState, ms: number): number => {
    let n = 0;
    for (const t of s.recent.values()) if (Math.abs(t - ms) <= cfg.settle) n++;
    return n;
  };

  const judge = (c: FirstContact): Detection | undefined => {
    const s = sources.get(c.srcIp);
    // Part of a scan: many targets around it, or it started while the source was scanning (its
    // end, reported later, must not make it a login).
    if (s && s.scanUntilMs !== undefined && c.firstMs <= s.scanUntilMs && c.firstMs >= s.scanUntilMs - 4 * cfg.settle) return undefined;
    if (s && targetsAround(s, c.firstMs) > cfg.scanTargets) {
      s.scanUntilMs = Math.max(s.scanUntilMs ?? 0, c.firstMs + cfg.settle);
      return undefined;
    }
    const how = c.established ? "established" : c.failed > 0 ? "refused or unanswered" : "outcome not known yet";
    const service = `${c.port}/${c.transport}`;
    return {
      rule: LATERAL_RULE,
      severity: c.established ? "high" : "medium",
      events: c.sample.events(),
      entity: { kind: "vm", id: c.src },
      target: `${c.peer} ${service}`,
      summary: `${c.src} (${c.srcIp}) reached ${c.peer} (${c.dstIp}) on admin port ${service} for the first time: ${c.connections.size} connection(s) in ${formatDuration(cfg.settle)}, ${how}`,
    };
  };

  const due = (nowMs: number): Detection[] => {
    const out: Detection[] = [];
    for (const [k, c] of pending) {
      if (nowMs - c.firstMs < cfg.settle) continue;
      pending.delete(k);
      const d = judge(c);
      if (d) out.push(d);
      // Touched only as part of a scan: a later login on it is still a first contact.
      else known.delete(k);
    }
    return out;
  };

  return {
    name: "flow-lateral-movement",
    onEvent(e: HvEvent) {
      if (!isFlow(e)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      startedMs ??= ms;
      // First contacts due now are judged before this event moves the sources' recent targets on.
      const out = due(ms);
      const srcIp = e.source!.ip!;
      const port = e.destination?.port;
      const vmSource = e.vm?.side === "source" && e.vm.name !== undefined;
      // Every source's distinct targets, to recognise a scan around a first contact.
      if (vmSource && e.flow?.phase === "new") {
        const s = sources.touch(srcIp, () => ({ recent: new Map(), lastMs: ms }));
        s.lastMs = ms;
        const t = `${e.destination!.ip}|${port ?? e.network?.transport}`;
        if (!s.recent.has(t)) s.recent.set(t, ms);
        for (const [k, at] of s.recent) {
          if (at >= ms - 2 * cfg.settle && s.recent.size <= MAX_RECENT) break;
          s.recent.delete(k);
        }
      }
      const peer = e.vm?.peer?.name;
      if (!vmSource || peer === undefined || port === undefined || !adminPorts.has(port) || allowed(e)) return out;
      const transport = e.network?.transport ?? "?";
      const key = `${e.vm!.name}|${peer}|${port}|${transport}`;
      const c = pending.get(key);
      if (c) {
        c.connections.add(connectionKey(e));
        const o = outcomeOf(e);
        if (o === "established") c.established = true;
        else if (o === "failed") c.failed++;
        c.sample.add(e);
      } else if (known.get(key) === undefined) {
        known.touch(key, () => ms);
        // While learning, first contacts are what this host normally does.
        if (ms - startedMs >= cfg.learnFor) {
          const o = outcomeOf(e);
          const fc: FirstContact = { src: e.vm!.name!, srcIp, peer, dstIp: e.destination!.ip!, port, transport, firstMs: Math.min(startMs(e), ms), connections: new Set([connectionKey(e)]), established: o === "established", failed: o === "failed" ? 1 : 0, sample: new Sample() };
          fc.sample.add(e);
          pending.set(key, fc);
        }
      }
      return out;
    },
    tick(nowMs) {
      const out = due(nowMs);
      sources.sweep(nowMs, SWEEP_MS, (s) => s.lastMs < nowMs - 2 * cfg.settle);
      return out;
    },
    tracked() {
      return known.size + sources.size + pending.size;
    },
  };
}
