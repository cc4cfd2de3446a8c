// One JSON POST with a timeout, for the HTTP sinks. Classifies failures for Delivery: a refusal
// of the content (4xx) is permanent; network errors, timeouts, 5xx, 408 and 429 are worth a retry.

import { describeError, PermanentError } from "./delivery.js";

export interface PostOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
}

export async function postJson(url: string, body: unknown, opts: PostOptions): Promise<void> {
  // Error messages name the origin only: webhook URLs often carry their secret in the path (Slack).
  const where = new URL(url).origin;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...opts.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    if (err instanceof Error && err.name === "TimeoutError") throw new Error(`POST ${where}: timeout after ${opts.timeoutMs} ms`);
    throw new Error(`POST ${where}: ${describeError(err)}`);
  }
  // Read the body either way: it frees the connection for reuse, and errors usually explain themselves.
  const text = await response.text().catch(() => "");
  if (response.ok) return;
  const message = `POST ${where}: HTTP ${response.status}${text ? `: ${text.slice(0, 200).trim()}` : ""}`;
  const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
  throw retryable ? new Error(message) : new PermanentError(message);
}
