// Runs real nats-server processes (Debian package nats-server) for tests: one JetStream server,
// or a JetStream cluster of three joined by routes, each on free loopback ports with its own
// store in a temp dir. Nodes can be killed (SIGKILL, as a crash) to test failover.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

// Overridable to try another build, or to see the skip path (`HV_NATS_SERVER_BIN=/nonexistent`).
export const NATS_SERVER_BIN = process.env.HV_NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export interface NatsNode {
  /** server_name, as the client's `info.server_name` and a stream's cluster leader name it. */
  name: string;
  url: string;
  monitorUrl: string;
  pid: number;
  alive(): boolean;
  /** SIGKILL: no goodbye to clients or peers, as a crash or a power cut. */
  kill(): Promise<void>;
  /** Last lines the server logged, for messages. */
  log(): string;
}

export interface RunningNats {
  url: string;
  node: NatsNode;
  stop(): Promise<void>;
}

export interface RunningCluster {
  nodes: NatsNode[];
  urls: string[];
  node(name: string): NatsNode | undefined;
  stop(): Promise<void>;
}

/** Why nats-server cannot run here, or undefined if it can. */
export function whyNoNatsServer(): string | undefined {
  if (!existsSync(NATS_SERVER_BIN)) return `${NATS_SERVER_BIN} is missing (apt-get install nats-server)`;
  return undefined;
}

interface NodePorts {
  client: number;
  monitor: number;
  cluster: number;
}

export async function startNatsServer(): Promise<RunningNats> {
  const reason = whyNoNatsServer();
  if (reason) throw new Error(`cannot start nats-server: ${reason}`);
  const dir = await mkdtemp(join(tmpdir(), "hv-nats-"));
  let lastError: unknown;
  // A free port can be taken between probing and binding; try again with others.
  for (let attempt = 0; attempt < 3; attempt++) {
    const ports = await nodePorts();
    const node = await launch(dir, "hv-test-single", ports, undefined);
    try {
      await waitHealthy([node], 15_000);
      return { url: node.url, node, stop: () => stopAll([node], dir) };
    } catch (err) {
      lastError = err;
      await node.kill();
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

export async function startNatsCluster(size = 3): Promise<RunningCluster> {
  const reason = whyNoNatsServer();
  if (reason) throw new Error(`cannot start nats-server: ${reason}`);
  const dir = await mkdtemp(join(tmpdir(), "hv-nats-cluster-"));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const ports = await Promise.all(Array.from({ length: size }, () => nodePorts()));
    const clusterPorts = ports.map((p) => p.cluster);
    const nodes: NatsNode[] = [];
    try {
      for (let i = 0; i < size; i++) nodes.push(await launch(join(dir, `try${attempt}`), `hv-test-n${i + 1}`, ports[i]!, clusterPorts));
      // A cluster is usable once JetStream's meta group has a leader.
      await waitHealthy(nodes, 30_000);
      await waitMetaLeader(nodes, 30_000);
      return {
        nodes,
        urls: nodes.map((n) => n.url),
        node: (name) => nodes.find((n) => n.name === name),
        stop: () => stopAll(nodes, dir),
      };
    } catch (err) {
      lastError = err;
      await Promise.all(nodes.map((n) => n.kill()));
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

function config(dir: string, name: string, ports: NodePorts, routes: number[] | undefined): string {
  const lines = [
    `server_name: ${JSON.stringify(name)}`,
    `listen: "127.0.0.1:${ports.client}"`,
    `http: "127.0.0.1:${ports.monitor}"`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(join(dir, name))}`,
    `  max_memory_store: 64MB`,
    `  max_file_store: 1GB`,
    `}`,
  ];
  if (routes) {
    lines.push(
      `cluster {`,
      `  name: "hv-test"`,
      `  listen: "127.0.0.1:${ports.cluster}"`,
      `  routes: [${routes.filter((p) => p !== ports.cluster).map((p) => JSON.stringify(`nats-route://127.0.0.1:${p}`)).join(", ")}]`,
      `}`,
    );
  }
  return lines.join("\n") + "\n";
}

async function launch(dir: string, name: string, ports: NodePorts, routes: number[] | undefined): Promise<NatsNode> {
  await mkdir(join(dir, name), { recursive: true });
  const conf = join(dir, `${name}.conf`);
  await writeFile(conf, config(dir, name, ports, routes));
  const child: ChildProcess = spawn(NATS_SERVER_BIN, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8000)));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  return {
    name,
    url: `nats://127.0.0.1:${ports.client}`,
    monitorUrl: `http://127.0.0.1:${ports.monitor}`,
    pid: child.pid ?? -1,
    alive: () => !exited,
    kill: async () => {
      if (exited) return;
      child.kill("SIGKILL");
      await exit;
    },
    log: () => log,
  };
}

async function waitHealthy(nodes: NatsNode[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (const node of nodes) {
    for (;;) {
      if (!node.alive()) throw new Error(`nats-server ${node.name} exited during start:\n${node.log().trim()}`);
      if ((await getJson(`${node.monitorUrl}/healthz`)) !== undefined) break;
      if (Date.now() > deadline) throw new Error(`nats-server ${node.name} not healthy after ${ms} ms:\n${node.log().trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function waitMetaLeader(nodes: NatsNode[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const jsz = (await getJson(`${nodes[0]!.monitorUrl}/jsz`)) as { meta_cluster?: { leader?: string; cluster_size?: number } } | undefined;
    if (jsz?.meta_cluster?.leader && (jsz.meta_cluster.cluster_size ?? 0) >= nodes.length) return;
    if (Date.now() > deadline) throw new Error(`JetStream cluster has no meta leader after ${ms} ms: ${JSON.stringify(jsz?.meta_cluster)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function getJson(url: string): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    const body: unknown = await res.json();
    return res.ok ? body : undefined;
  } catch {
    return undefined;
  }
}

async function stopAll(nodes: NatsNode[], dir: string): Promise<void> {
  // The store is thrown away: there is nothing to shut down cleanly for.
  await Promise.all(nodes.map((n) => n.kill()));
  await rm(dir, { recursive: true, force: true });
}

async function nodePorts(): Promise<NodePorts> {
  return { client: await freePort(), monitor: await freePort(), cluster: await freePort() };
}

