// run: starts an allowlisted program with the alert as JSON on its stdin — the way out for what
// hv has no action for (open a ticket, call a script that knows the site). Only absolute paths
// listed in response.runAllowlist run, with arguments as an array (never through a shell), a
// timeout, and output captured up to a cap.

import { execa } from "execa";
import { accessSync, constants } from "node:fs";
import { isAbsolute, normalize } from "node:path";
import { z } from "zod";
import type { ActionDefinition } from "../action.js";
import { ActionError, refuse } from "../../events/errors.js";

/** Output kept per stream; the rest is counted, not stored. */
export const OUTPUT_CAP = 64 * 1024;

const params = z.strictObject({
  command: z.string().refine((c) => isAbsolute(c) && normalize(c) === c, { error: "must be an absolute, normalized path (listed in response.runAllowlist)" }),
  args: z.array(z.string().refine((a) => !a.includes("\0"), { error: "must not contain NUL" })).max(100).default([]),
  timeout_seconds: z.int().min(1).max(600).default(30),
});

export type RunParams = z.infer<typeof params>;

class CappedText {
  text = "";
  total = 0;
  add(chunk: Buffer | string): void {
    const s = chunk.toString();
    this.total += Buffer.byteLength(s);
    if (this.text.length < OUTPUT_CAP) this.text += s.slice(0, OUTPUT_CAP - this.text.length);
  }
}

export const runCommand: ActionDefinition<RunParams> = {
  name: "run",
  risk: "runs one of your allowlisted commands: whatever that command does",
  summary: "run an allowlisted command with the alert as JSON on stdin",
  params,
  targetOf: () => ({ kind: "host" }),
  async run({ env, params: p, alert, actionId, by, target, signal }) {
    if (!env.runAllowlist.includes(p.command)) {
      throw refuse(`refused: ${p.command} is not in response.runAllowlist${env.runAllowlist.length ? ` (${env.runAllowlist.join(", ")})` : " (which is empty)"}`);
    }
    try {
      accessSync(p.command, constants.X_OK);
    } catch (err) {
      throw new ActionError(`${p.command} cannot be run: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const stdout = new CappedText();
    const stderr = new CappedText();
    const started = Date.now();
    const child = execa(p.command, p.args, {
      input: `${JSON.stringify(alert ?? null)}\n`,
      buffer: false,
      reject: false,
      timeout: p.timeout_seconds * 1000,
      forceKillAfterDelay: 5000,
      cancelSignal: signal,
      cwd: "/",
      env: { HV_ACTION_ID: String(actionId), HV_ACTION_BY: by, HV_TARGET: target.kind === "host" ? "host" : JSON.stringify(target) },
    });
    child.stdout?.on("data", (c: Buffer) => stdout.add(c));
    child.stderr?.on("data", (c: Buffer) => stderr.add(c));
    const r = await child;
    const detail = {
      command: p.command,
      args: p.args,
      exitCode: r.exitCode ?? null,
      ...(r.signal ? { signal: r.signal } : {}),
      timedOut: r.timedOut,
      ms: Date.now() - started,
      stdout: stdout.text,
      stderr: stderr.text,
      ...(stdout.total > OUTPUT_CAP ? { stdoutBytes: stdout.total } : {}),
      ...(stderr.total > OUTPUT_CAP ? { stderrBytes: stderr.total } : {}),
    };
    if (r.timedOut) throw new ActionError(`${p.command} did not finish within ${p.timeout_seconds} s (killed)`, { detail });
    if (r.isCanceled) throw new ActionError(`${p.command} was stopped: hv is shutting down`, { detail });
    if (r.exitCode !== 0) {
      const tail = stderr.text.trim().split("\n").slice(-1)[0];
      throw new ActionError(`${p.command} exited with ${r.exitCode ?? r.signal}${tail ? `: ${tail.slice(0, 200)}` : ""}`, { detail });
    }
    return { result: `${p.command} exited 0${stdout.text ? `: ${stdout.text.trim().split("\n")[0]!.slice(0, 200)}` : ""}`, detail };
  },
};
