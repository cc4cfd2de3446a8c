// Connecting to the fleet's NATS servers and making sure the HV_FLEET stream exists. Every fleet
// part (the alert sink, the block consumer, the CLI) connects through here, so they all reconnect
// the same way: forever, across every server given, with the same credentials.

import { readFileCapped } from "../events/input.js";
import type { Authenticator, JetStreamManager, NatsConnection, StreamInfo } from "nats";
import { STREAM, STREAM_SUBJECTS } from "./subjects.js";

type NatsLib = typeof import("nats");

/**
 * The nats client library, imported when hv first talks to NATS: it takes ~80 ms to load, which
 * every `hv` command would otherwise pay (the monitor without a fleet, `hv actions list`, …).
 */
export function natsLib(): Promise<NatsLib> {
  return import("nats");
}

export interface FleetConnectionOptions {
  /** nats://host:port URLs; the client fails over between them. */
  servers: string[];
  /** A NATS credentials file (JWT + nkey seed, from `nsc`). */
  credentials?: string;
  /** A file holding a plain token (server `authorization { token }`). */
  tokenFile?: string;
  /** Shown by the server in its connection list (`nats-server` /connz). */
  name?: string;
  /** The first connection fails when no server answers within this long (default 5 s). */
  connectTimeoutMs?: number;
}

export interface StreamOptions {
  /** 3 in a three-node cluster, 1 on a single server. */
  replicas?: number;
  /** Messages older than this are removed (default 7 days). */
  maxAgeMs?: number;
  /** JetStream drops a message whose id it saw within this window (default 10 min). */
  duplicateWindowMs?: number;
}

export const DEFAULT_STREAM: Required<StreamOptions> = { replicas: 1, maxAgeMs: 7 * 86_400_000, duplicateWindowMs: 10 * 60_000 };

export class FleetConfigError extends Error {
  override readonly name = "FleetConfigError";
}

/**
 * Connects once, failing after connectTimeoutMs when no server answers (callers retry with their
 * own backoff, which they can stop). Once connected, the client reconnects by itself, forever,
 * across every server given.
 */
export async function connectFleet(opts: FleetConnectionOptions): Promise<NatsConnection> {
  if (opts.servers.length === 0) throw new FleetConfigError("fleet: no NATS servers given");
  const nats = await natsLib();
  const authenticator = fleetAuthenticator(opts, nats);
  return nats.connect({
    servers: opts.servers,
    name: opts.name ?? "hv",
    timeout: opts.connectTimeoutMs ?? 5000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // A dead peer that sent no FIN is noticed within ~20 s instead of the default 4 min.
    pingInterval: 10_000,
    maxPingOut: 2,
    ...(authenticator ? { authenticator } : {}),
  });
}

function fleetAuthenticator(opts: FleetConnectionOptions, { credsAuthenticator, tokenAuthenticator }: NatsLib): Authenticator | undefined {
  if (opts.credentials !== undefined && opts.tokenFile !== undefined) throw new FleetConfigError("fleet: set credentials or tokenFile, not both");
  if (opts.credentials !== undefined) return credsAuthenticator(readSecret(opts.credentials, "credentials"));
  if (opts.tokenFile !== undefined) return tokenAuthenticator(new TextDecoder().decode(readSecret(opts.tokenFile, "tokenFile")).trim());
  return undefined;
}

function readSecret(path: string, field: string): Uint8Array {
  try {
    return readFileCapped(path, 64 * 1024, path);
  } catch (err) {
    throw new FleetConfigError(`fleet.${field}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * Creates HV_FLEET if it does not exist. An existing stream is left as it is (an administrator
 * may have tuned it); two hosts creating it at once both succeed.
 */
export async function ensureStream(jsm: JetStreamManager, opts: StreamOptions = {}): Promise<StreamInfo> {
  const o = { ...DEFAULT_STREAM, ...opts };
  const { nanos } = await natsLib();
  try {
    return await jsm.streams.info(STREAM);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    return await jsm.streams.add({
      name: STREAM,
      subjects: [STREAM_SUBJECTS],
      num_replicas: o.replicas,
      max_age: nanos(o.maxAgeMs),
      duplicate_window: nanos(o.duplicateWindowMs),
    });
  } catch (err) {
    // Someone else created it between our look and our add.
    return await jsm.streams.info(STREAM).catch(() => {
      throw err;
    });
  }
}

/** JetStream's "stream not found" / "consumer not found". */
export function isNotFound(err: unknown): boolean {
  const api = (err as { api_error?: { code?: number } }).api_error;
  if (api?.code === 404) return true;
  return err instanceof Error && /not found/i.test(err.message);
}

export function describeNatsError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: string }).code;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}
