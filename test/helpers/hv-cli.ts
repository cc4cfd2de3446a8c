// Runs the built `hv` CLI in a process of its own, as a user would, for the end-to-end tests.
import { execa } from "execa";
import { existsSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;
export const HV_BIN = join(ROOT, "bin/hv.js");
export const HV_BUILT = join(ROOT, "dist/src/cli/main.js");

export interface HvResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON, when it is JSON. */
  json: unknown;
}

export async function runHv(args: string[], opts: { stateDir: string; env?: Record<string, string>; timeoutMs: number; cwd?: string }): Promise<HvResult> {
  if (!existsSync(HV_BUILT)) throw new Error(`${HV_BUILT} is missing: run npm run build (npm test does it first)`);
  const r = await execa("node", [HV_BIN, ...args], {
    reject: false,
    timeout: opts.timeoutMs,
    cwd: opts.cwd ?? ROOT,
    env: { HV_STATE_DIR: opts.stateDir, LC_ALL: "C", ...opts.env },
    extendEnv: true,
  });
  const stdout = String(r.stdout ?? "");
  const last = stdout.trim().split("\n").pop() ?? "";
  let json: unknown;
  try {
    json = last ? JSON.parse(last) : undefined;
  } catch {
    json = undefined;
  }
  return { code: r.exitCode ?? -1, stdout, stderr: String(r.stderr ?? ""), json };
}

/** A result that must be a success: otherwise the error shows the command, exit code and output. */
export function mustSucceed(args: string[], r: HvResult): HvResult {
  if (r.code !== 0) throw new Error(`hv ${args.join(" ")} exited ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
  return r;
}
