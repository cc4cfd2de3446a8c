// One virsh call for the collector and its inventory: stdout on success, an Error carrying
// virsh's "error: …" lines otherwise. (The VM backend in src/vm has its own, richer runner;
// the collector only reads, so it needs nothing more than this.)

import { runProgram } from "../../events/programs.js";

export interface VirshOptions {
  uri: string;
  /** The virsh binary (tests may point at a wrapper). */
  bin?: string;
  timeoutMs?: number;
}

export async function virsh(opts: VirshOptions, args: string[]): Promise<string> {
  const r = await runProgram("virsh", ["-q", "-c", opts.uri, ...args], {
    timeout: opts.timeoutMs ?? 10_000,
    stdin: "ignore",
    // Column headers and messages are translated; hv parses them.
    env: { LC_ALL: "C" },
  }, opts.bin);
  if (r.exitCode === 0) return r.stdout;
  const msg = r.stderr.split("\n").filter((l) => l.startsWith("error:")).map((l) => l.slice(6).trim()).join(": ");
  throw new Error(`virsh ${args.join(" ")}: ${msg || r.stderr || r.shortMessage || `exit ${r.exitCode}`}`);
}
