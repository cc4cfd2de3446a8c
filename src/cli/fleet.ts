// `hv fleet`: the fleet over NATS JetStream (docs/fleet.md). `watch` shows every host's alerts,
// action results and fleet blocks live; `block` / `unblock` order an address blocked on every
// host; `status` shows the stream and how far each host's block consumer has got.

import { onAbort } from "../events/abort.js";
import { hostname } from "node:os";
import type { Command } from "commander";
import type { NatsConnection } from "nats";
import { connectFleet, describeNatsError, isNotFound, type FleetConnectionOptions } from "../fleet/connection.js";
import { publishBlockOrder } from "../fleet/blocks.js";
import { STREAM } from "../fleet/subjects.js";
import { watchFleet, type FleetItem } from "../fleet/watch.js";
import { formatAlertLine } from "./alerts.js";
import { durationMs } from "../events/duration.js";
import { LineWriter } from "./output.js";
import { writeSafe } from "../events/terminal.js";
import { actingUser } from "../events/actor.js";

interface ConnectionFlags {
  server?: string[];
  credentials?: string;
  tokenFile?: string;
}

export interface FleetViewOptions {
  /** nats:// URLs of the fleet's servers. */
  servers: string[];
  credentials?: string;
  tokenFile?: string;
  /** JSON lines instead of text. */
  json?: boolean;
  /** Start this far back (e.g. 1h, as `--since` takes it); absent: only new messages. */
  since?: string;
  /** Only these hosts. */
  hosts?: string[];
  /** Stops the view; by default SIGINT/SIGTERM do. */
  signal?: AbortSignal;
  out?: LineWriter;
  /** Where notes and the final count go (default stderr). */
  log?: (text: string) => void;
}

const ENV_SERVERS = "NATS_URL";

export function registerFleet(program: Command): void {
  const fleet = program.command("fleet").description("many hosts over NATS JetStream: live alerts of every host, fleet-wide blocks");
  fleet.addHelpText(
    "after",
    `
The servers come from --server (repeatable, or comma-separated) or $${ENV_SERVERS}.

Examples:
  hv fleet watch --server nats://nats1:4222,nats://nats2:4222
  hv fleet watch --server nats://nats1:4222 --since 1h --json
  hv fleet block 203.0.113.7 --ttl 1h --reason "C2 seen on web-1" --server nats://nats1:4222
  hv fleet unblock 203.0.113.7 --server nats://nats1:4222
  hv fleet status --server nats://nats1:4222`,
  );

  withConnection(fleet.command("watch"))
    .description("every host's alerts, action results and fleet blocks as they arrive")
    .option("--since <age>", "start this far back (30m, 2h, 7d) instead of now")
    .option("--host <names...>", "only these hosts")
    .option("--json", "one JSON object per line: {host, kind, seq, time, alert|action|block}")
    .addHelpText("after", `\nExample:\n  hv fleet watch --server nats://127.0.0.1:4222 --since 1h`)
    .action(async (opts: ConnectionFlags & { since?: string; host?: string[]; json?: boolean }) => {
      process.exitCode = await runFleetView({ ...connectionOptions(opts), ...(opts.json ? { json: true } : {}), ...(opts.since ? { since: opts.since } : {}), ...(opts.host ? { hosts: opts.host } : {}) });
    });

  for (const op of ["block", "unblock"] as const) {
    const cmd = withConnection(fleet.command(`${op} <address>`))
      .description(op === "block" ? "block an address or CIDR on every host (each host's allowlist still wins)" : "lift a fleet block on every host (blocks a host made itself stay)")
      .option("--reason <text>", "why, shown on every host")
      .option("--origin <name>", "the name this order comes from", hostname())
      .option("--json", "print the order as JSON");
    if (op === "block") cmd.option("--ttl <age>", "lift it by itself after this long (30m, 2h, 7d); default: until unblocked");
    cmd
      .addHelpText("after", `\nExample:\n  hv fleet ${op} 203.0.113.7${op === "block" ? " --ttl 1h" : ""} --reason "…" --server nats://127.0.0.1:4222`)
      .action(async (address: string, opts: ConnectionFlags & { reason?: string; origin: string; ttl?: string; json?: boolean }) => {
        const ttlMs = opts.ttl ? durationMs(opts.ttl, "--ttl") : undefined;
        const nc = await connectOrExplain(connectionOptions(opts));
        try {
          const { message, ack } = await publishBlockOrder(nc, {
            op,
            target: address,
            origin: opts.origin,
            by: actingUser(),
            ...(ttlMs !== undefined ? { ttlMs } : {}),
            ...(opts.reason ? { reason: opts.reason } : {}),
          });
          if (opts.json) writeSafe(process.stdout, JSON.stringify({ ...message, stream: ack.stream, seq: ack.seq }) + "\n");
          else writeSafe(process.stdout, `${op === "block" ? "blocked" : "unblocked"} ${message.target} on the fleet${message.ttlMs ? ` for ${opts.ttl}` : ""} (stream ${ack.stream} seq ${ack.seq})\n`);
        } finally {
          await nc.close();
        }
      });
  }

  withConnection(fleet.command("status"))
    .description("the HV_FLEET stream and each host's block consumer (pending = orders it has not applied yet)")
    .option("--json", "as one JSON object")
    .addHelpText("after", `\nExample:\n  hv fleet status --server nats://127.0.0.1:4222 --json`)
    .action(async (opts: ConnectionFlags & { json?: boolean }) => {
      const nc = await connectOrExplain(connectionOptions(opts));
      try {
        const jsm = await nc.jetstreamManager();
        const info = await jsm.streams.info(STREAM).catch((err: unknown) => {
          throw isNotFound(err) ? new Error(`no ${STREAM} stream yet: no host has published (or it was deleted)`) : err;
        });
        const consumers = [];
        for await (const c of jsm.consumers.list(STREAM)) if (c.config.durable_name) consumers.push({ name: c.name, pending: c.num_pending, unacked: c.num_ack_pending, lastActive: c.delivered.last_active ?? null });
        const status = {
          stream: STREAM,
          messages: info.state.messages,
          bytes: info.state.bytes,
          firstSeq: info.state.first_seq,
          lastSeq: info.state.last_seq,
          replicas: info.config.num_replicas,
          leader: info.cluster?.leader ?? null,
          replicasState: (info.cluster?.replicas ?? []).map((r) => ({ name: r.name, current: r.current, lag: r.lag ?? 0 })),
          consumers,
        };
        if (opts.json) writeSafe(process.stdout, JSON.stringify(status) + "\n");
        else {
          writeSafe(process.stdout, `${STREAM}: ${status.messages} messages, ${status.bytes} bytes, seq ${status.firstSeq}..${status.lastSeq}, ${status.replicas} replica(s)${status.leader ? `, leader ${status.leader}` : ""}\n`);
          for (const r of status.replicasState) writeSafe(process.stdout, `  replica ${r.name}: ${r.current ? "current" : "behind"}${r.lag ? `, lag ${r.lag}` : ""}\n`);
          for (const c of consumers) writeSafe(process.stdout, `  ${c.name}: ${c.pending} pending, ${c.unacked} unacked\n`);
        }
      } finally {
        await nc.close();
      }
    });
}

/**
 * The fleet view: prints every host's alerts (and action results and fleet blocks) as they arrive
 * until the signal (or SIGINT/SIGTERM) stops it. Returns the exit code. `hv monitor --fleet URL` calls this.
 */
export async function runFleetView(opts: FleetViewOptions): Promise<number> {
  const log = opts.log ?? ((t: string) => void writeSafe(process.stderr, `hv fleet: ${t}\n`));
  const out = opts.out ?? new LineWriter();
  const sinceMs = opts.since ? durationMs(opts.since, "--since") : undefined;
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  if (opts.signal) onAbort(opts.signal, onSignal);
  else {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  let nc: NatsConnection;
  try {
    nc = await connectOrExplain(opts);
  } catch (err) {
    log((err as Error).message);
    return 1;
  }
  void noteStatus(nc, log);
  try {
    log(`watching ${STREAM} on ${nc.getServer()}${sinceMs === undefined ? "" : ` from ${opts.since} ago`}${opts.hosts?.length ? `, hosts ${opts.hosts.join(", ")}` : ""}`);
    const stats = await watchFleet({
      nc,
      ...(sinceMs === undefined ? {} : { sinceMs }),
      ...(opts.hosts ? { hosts: opts.hosts } : {}),
      signal: abort.signal,
      onItem: (item) => {
        out.line(opts.json ? JSON.stringify(item) : formatFleetLine(item));
        out.flushSync();
      },
      onMalformed: (subject, seq, error) => log(`skipped a malformed message on ${subject} (seq ${seq}): ${error}`),
      onRestart: (why) => log(why),
    });
    await out.end();
    log(`${stats.received} messages, ${stats.malformed} malformed`);
    return 0;
  } catch (err) {
    log(isNotFound(err) ? `no ${STREAM} stream on ${nc.getServer()} yet: start an agent with a nats sink first` : describeNatsError(err));
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await nc.close();
  }
}

/** One line per message: the host first, so a fleet's lines can be told apart and grepped. */
export function formatFleetLine(item: FleetItem): string {
  const host = item.host.padEnd(16);
  switch (item.kind) {
    case "alert":
      return `${host} ${formatAlertLine(item.alert)}`;
    case "action": {
      const a = item.action;
      return `${host} ACTION ${a.status} ${a.action}${a.target ? ` ${a.target}` : ""}${a.unchanged ? " (unchanged)" : ""}${a.result ? ` — ${a.result}` : ""} [${a.playbook}, ${a.mode}]`;
    }
    case "block": {
      const b = item.block;
      const ttl = b.ttlMs ? ` for ${Math.round(b.ttlMs / 60_000)} min` : "";
      return `${host} FLEET ${b.op.toUpperCase()} ${b.target}${ttl}${b.by ? ` by ${b.by}` : ""}${b.reason ? ` — ${b.reason}` : ""}`;
    }
  }
}

function withConnection(cmd: Command): Command {
  return cmd
    .option("--server <urls...>", `NATS server URLs (default: $${ENV_SERVERS})`)
    .option("--credentials <file>", "NATS credentials file (.creds)")
    .option("--token-file <file>", "file holding a NATS token");
}

function connectionOptions(flags: ConnectionFlags): FleetViewOptions {
  const servers = (flags.server ?? (process.env[ENV_SERVERS] ? [process.env[ENV_SERVERS]] : []))
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (servers.length === 0) throw new Error(`no NATS server: pass --server nats://HOST:4222 or set $${ENV_SERVERS}`);
  for (const s of servers) if (!/^(nats|tls):\/\/\S+$/.test(s)) throw new Error(`--server: ${JSON.stringify(s)} is not a nats:// or tls:// URL`);
  return { servers, ...(flags.credentials ? { credentials: flags.credentials } : {}), ...(flags.tokenFile ? { tokenFile: flags.tokenFile } : {}) };
}

async function connectOrExplain(opts: FleetConnectionOptions): Promise<NatsConnection> {
  try {
    return await connectFleet({ name: "hv fleet cli", ...opts, connectTimeoutMs: opts.connectTimeoutMs ?? 5000 });
  } catch (err) {
    throw new Error(`cannot connect to ${opts.servers.join(", ")}: ${describeNatsError(err)}`);
  }
}

async function noteStatus(nc: NatsConnection, log: (text: string) => void): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === "disconnect") log(`disconnected from ${String(s.data)}; reconnecting`);
    else if (s.type === "reconnect") log(`reconnected to ${String(s.data)}`);
  }
}

