// The agent in a fleet (docs/fleet.md): its alerts and action results go to NATS JetStream
// through a NatsSink, and fleet-wide blocks come back in and are enforced like any block — after
// this host's own allowlist. Off unless the config has a `fleet:` section; never in replay.

import { hostname } from "node:os";
import type Database from "better-sqlite3";
import { buildAllowlist } from "../events/allowlist.js";
import { startFleetBlocks, type FleetBlocksHandle } from "../fleet/blocks.js";
import { NatsSink } from "../outputs/nats.js";
import type { AgentConfig } from "./config.js";
import type { FirewallSyncer } from "../firewall/sync.js";

export interface FleetSetup {
  sink: NatsSink;
  blocks?: FleetBlocksHandle;
  stop(): Promise<void>;
}

export function setUpFleet(opts: {
  config: AgentConfig;
  db: Database.Database;
  live: boolean;
  /** Where alerts JetStream has not acknowledged wait (STATE/outbox), across restarts too. */
  spoolDir: string;
  firewall?: FirewallSyncer;
  report: (t: string) => void;
}): FleetSetup | undefined {
  const fleet = opts.config.fleet;
  if (!fleet || fleet.enabled === false || !opts.live) return undefined;
  const connection = { servers: fleet.servers, ...(fleet.credentials ? { credentials: fleet.credentials } : {}), ...(fleet.tokenFile ? { tokenFile: fleet.tokenFile } : {}) };
  const host = fleet.host ?? hostname();
  const stream = { replicas: fleet.streamReplicas ?? 1 };
  const sink = new NatsSink({ ...connection, host, stream, delivery: { spool: { dir: opts.spoolDir } } });
  const firewall = opts.firewall;
  let blocks: FleetBlocksHandle | undefined;
  if (fleet.blocks !== false) {
    if (!firewall) opts.report("fleet: blocks are recorded but not applied here (hv manages no firewall: needs nft and root or CAP_NET_ADMIN)");
    blocks = startFleetBlocks({
      connection,
      db: opts.db,
      host,
      allowlist: buildAllowlist(opts.config.response?.allowlist ?? {}),
      syncFirewall: () => (firewall ? firewall.sync() : Promise.resolve()),
      stream,
      onReport: (t) => opts.report(`fleet: ${t}`),
    });
  }
  opts.report(`fleet: publishing as ${host} to ${fleet.servers.join(", ")}${blocks ? "; applying fleet-wide blocks" : ""}`);
  return {
    sink,
    ...(blocks ? { blocks } : {}),
    async stop() {
      await blocks?.stop();
    },
  };
}
