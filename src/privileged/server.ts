// The privileged helper: a small root service on a Unix socket that runs the host operations for
// an unprivileged hv. It trusts nothing from the socket: every line is validated strictly, every
// safety rule is checked again here (host-ops.ts), nothing goes through a shell, and bad input
// gets an error reply while the helper carries on. Who may connect is decided by the socket
// file's owner, group and mode (Node cannot read SO_PEERCRED), so the socket is 0660 root:hv.
// Operations run one at a time; every request and its outcome is logged (to journald via stderr).

import { chmodSync, chownSync, lstatSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { ActionError, refuse } from "../events/errors.js";
import { openLockBook, type LockBook } from "./lock-book.js";
import { killVerified, lockAccount, unlockAccount, type HostPolicy } from "./host-ops.js";
import { describeIssues, MAX_LINE_BYTES, request, type Reply, type Request } from "./protocol.js";
import { runProgram } from "../events/programs.js";

export interface HelperOptions {
  /** The socket path: bound when systemd passes no socket, else only named in logs. */
  socket: string;
  /** Group that owns a socket the helper binds itself (the agent's group). */
  group?: string;
  /** Let requests with systemUsers reach root's and system users' processes and accounts. */
  allowSystemUsers: boolean;
  /** Connections open at once; more get an error reply and are closed. */
  maxConnections: number;
  /** A connection that sends nothing for this long is closed. */
  idleMs: number;
  /** Where the helper keeps the accounts it locked (locks.json, root only). */
  stateDir: string;
  log(line: string): void;
}

export interface RunningHelper {
  server: Server;
  /** true: the socket came from systemd (LISTEN_FDS). */
  fromSystemd: boolean;
  close(): Promise<void>;
}

const SOCKET_MODE = 0o660;

export async function startHelper(opts: HelperOptions): Promise<RunningHelper> {
  const policy: HostPolicy = {
    allowSystemUsers: opts.allowSystemUsers,
    systemUsersHint: opts.allowSystemUsers ? "the request did not ask for system users" : "the privileged helper runs without --allow-system-users",
  };
  const book = await openLockBook(opts.stateDir);
  const run = serialized((req: Request) => perform(req, policy, book));
  const sockets = new Set<Socket>();
  let nextId = 1;
  // Half-open: a client may send its request and close its side before the reply is written.
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    const id = nextId++;
    if (sockets.size >= opts.maxConnections) {
      opts.log(`conn ${id}: refused, ${sockets.size} connections open (limit ${opts.maxConnections})`);
      sock.on("error", () => undefined);
      sock.end(JSON.stringify({ ok: false, error: `too many connections (limit ${opts.maxConnections})` }) + "\n");
      return;
    }
    sockets.add(sock);
    sock.once("close", () => sockets.delete(sock));
    serveConnection(sock, id, opts, run);
  });
  const fromSystemd = systemdFd() !== undefined;
  if (fromSystemd) await listen(server, { fd: 3 });
  else await bindSocket(server, opts);
  opts.log(`listening on ${opts.socket}${fromSystemd ? " (socket from systemd)" : ""}; system users ${opts.allowSystemUsers ? "allowed when asked" : "refused"}`);
  return {
    server,
    fromSystemd,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** fd 3 when systemd passed exactly this process its socket. */
function systemdFd(): number | undefined {
  const { LISTEN_PID, LISTEN_FDS } = process.env;
  if (LISTEN_PID !== String(process.pid) || Number(LISTEN_FDS) < 1) return undefined;
  // Children (usermod) must not think the socket is theirs.
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  return 3;
}

function listen(server: Server, where: { fd: number } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(where, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function bindSocket(server: Server, opts: HelperOptions): Promise<void> {
  await removeStaleSocket(opts.socket);
  const gid = opts.group !== undefined ? await groupId(opts.group) : undefined;
  // Created 0660 from the start (no window with a wider mode), then made sure of.
  const umask = process.umask(0o117);
  try {
    await listen(server, { path: opts.socket });
  } finally {
    process.umask(umask);
  }
  chmodSync(opts.socket, SOCKET_MODE);
  if (gid !== undefined) chownSync(opts.socket, 0, gid);
}

/** A socket file left by a helper that died is removed; a live one or any other file is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`another process is listening on ${path}`);
  unlinkSync(path);
}

async function groupId(name: string): Promise<number> {
  const r = await runProgram("getent", ["group", "--", name]);
  const gid = Number(r.stdout.split(":")[2]);
  if (r.exitCode !== 0 || !Number.isInteger(gid)) throw new Error(`no group named ${name}`);
  return gid;
}

/** Reads lines (capped), answers each in order. */
function serveConnection(sock: Socket, id: number, opts: HelperOptions, run: (req: Request) => Promise<Reply>): void {
  let buf = Buffer.alloc(0);
  // After an overlong line: drop bytes until its end.
  let skipping = false;
  let queue = Promise.resolve();
  const answer = (line: Buffer | undefined): void => {
    queue = queue.then(async () => {
      const r = line === undefined ? overlong() : await handleLine(line.toString("utf8"), id, opts, run);
      if (!sock.destroyed) sock.write(JSON.stringify(r) + "\n");
    });
  };
  const tooLong = (): void => {
    opts.log(`conn ${id}: line longer than ${MAX_LINE_BYTES} bytes, skipped`);
    answer(undefined);
  };
  sock.setTimeout(opts.idleMs, () => {
    opts.log(`conn ${id}: idle for ${opts.idleMs / 1000} s, closed`);
    sock.destroy();
  });
  sock.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) break;
      const line = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      if (skipping) skipping = false;
      else if (line.length > MAX_LINE_BYTES) tooLong();
      else answer(line);
    }
    if (buf.length > MAX_LINE_BYTES) {
      if (!skipping) tooLong();
      skipping = true;
      buf = Buffer.alloc(0);
    }
  });
  sock.on("end", () => void queue.then(() => sock.end()));
  sock.on("error", (err) => opts.log(`conn ${id}: ${err.message}`));
}

function overlong(): Reply {
  return { ok: false, error: `request line longer than ${MAX_LINE_BYTES} bytes` };
}

async function handleLine(line: string, id: number, opts: HelperOptions, run: (req: Request) => Promise<Reply>): Promise<Reply> {
  if (line.trim() === "") return { ok: false, error: "empty request line" };
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    opts.log(`conn ${id}: not JSON (${line.length} bytes), refused`);
    return { ok: false, error: `request is not JSON: ${(err as Error).message}` };
  }
  const parsed = request.safeParse(raw);
  if (!parsed.success) {
    const why = describeIssues(parsed.error);
    opts.log(`conn ${id}: invalid request ${JSON.stringify(raw).slice(0, 300)}: ${why}`);
    return { ok: false, error: `invalid request: ${why}` };
  }
  const shown = JSON.stringify({ ...parsed.data, ...("expectCmdline" in parsed.data && parsed.data.expectCmdline ? { expectCmdline: parsed.data.expectCmdline.slice(0, 200) } : {}) });
  opts.log(`conn ${id}: request ${shown}`);
  const r = await run(parsed.data);
  opts.log(`conn ${id}: ${parsed.data.op} → ${r.ok ? `ok ${JSON.stringify(r.result)}` : r.refused ? r.error : `failed: ${r.error}`}`);
  return r;
}

async function perform(req: Request, policy: HostPolicy, book: LockBook): Promise<Reply> {
  try {
    const result = await dispatch(req, policy, book);
    return { ok: true, result };
  } catch (err) {
    if (err instanceof ActionError) return { ok: false, error: err.message, ...(err.refused ? { refused: true } : {}) };
    return { ok: false, error: (err as Error).message };
  }
}

async function dispatch(req: Request, policy: HostPolicy, book: LockBook): Promise<Record<string, unknown>> {
  switch (req.op) {
    case "kill":
      return killVerified(req, policy);
    case "lock-account": {
      const r = await lockAccount(req, policy);
      if (r.changed) await book.record(req.user, r.previous);
      return r;
    }
    case "unlock-account": {
      const previous = book.get(req.user);
      if (!previous) throw refuse(`refused: ${req.user} was not locked through this helper, so it is not unlocked through it`);
      const r = await unlockAccount({ ...req, previous }, policy);
      await book.remove(req.user);
      return r;
    }
  }
}

/** One operation at a time, whichever connection asks: usermod and kill checks never interleave. */
function serialized<A, R>(fn: (a: A) => Promise<R>): (a: A) => Promise<R> {
  let last: Promise<unknown> = Promise.resolve();
  return (a) => {
    const next = last.then(() => fn(a));
    last = next.catch(() => undefined);
    return next;
  };
}
