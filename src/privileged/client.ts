// Asks the privileged helper for one operation: connect to its socket, send one request line,
// wait for the reply line (with a timeout), map a refusal or failure to the ActionError the
// actions throw.

import { createConnection } from "node:net";
import type { z } from "zod";
import { ActionError } from "../events/errors.js";
import { describeIssues, reply, resultOf, type Op, type Request } from "./protocol.js";

export const DEFAULT_TIMEOUT_MS = 15_000;
/** Longest reply line read (replies are small; a longer one is not the helper talking). */
const MAX_REPLY_BYTES = 64 * 1024;

type ResultOf<O extends Op> = z.output<(typeof resultOf)[O]>;

/** Sends `req` to the helper at `socketPath` and returns its result, or throws an ActionError. */
export async function askHelper<R extends Request>(socketPath: string, req: R, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ResultOf<R["op"]>> {
  const line = await exchange(socketPath, JSON.stringify(req) + "\n", timeoutMs);
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ActionError(`the privileged helper at ${socketPath} answered something that is not JSON: ${line.slice(0, 200)}`);
  }
  const r = reply.safeParse(raw);
  if (!r.success) throw new ActionError(`the privileged helper at ${socketPath} answered an unexpected reply: ${describeIssues(r.error)}`);
  if (!r.data.ok) throw new ActionError(r.data.error, { refused: r.data.refused === true });
  const result = resultOf[req.op].safeParse(r.data.result);
  if (!result.success) throw new ActionError(`the privileged helper at ${socketPath} answered an unexpected ${req.op} result: ${describeIssues(result.error)}`);
  return result.data as ResultOf<R["op"]>;
}

/** Writes `text`, resolves with the first line back. */
function exchange(socketPath: string, text: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buf = "";
    let done = false;
    const finish = (err: Error | undefined, line?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(line!);
    };
    const timer = setTimeout(() => finish(new ActionError(`the privileged helper at ${socketPath} did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(text));
    sock.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl >= 0) finish(undefined, buf.slice(0, nl));
      else if (buf.length > MAX_REPLY_BYTES) finish(new ActionError(`the privileged helper at ${socketPath} sent a reply longer than ${MAX_REPLY_BYTES} bytes`));
    });
    sock.on("end", () => finish(new ActionError(`the privileged helper at ${socketPath} closed the connection without answering`)));
    sock.on("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "EACCES" ? " (is hv in the socket's group?)" : err.code === "ENOENT" || err.code === "ECONNREFUSED" ? " (is hv-privileged.socket running?)" : "";
      finish(new ActionError(`cannot reach the privileged helper at ${socketPath}: ${err.message}${why}`));
    });
  });
}
