// `hv tune`: what learning saw and the exceptions it proposed — list, propose, apply, revoke
// (docs/noise.md). Learning itself runs in hv monitor (--learn, or the config's learning.period).

import type { Command } from "commander";
import { DEFAULT_LEARNED_EXPIRY_MS, applyProposals, proposeExceptions } from "../agent/learning.js";
import { parsePlaybookDuration } from "../playbooks/duration.js";
import { listLearned, listObservations, revokeLearned, type LearnedException, type LearnedStatus } from "../store/learning.js";
import { defaultStateDir, openStateStore } from "../store/open.js";
import { LineWriter } from "./output.js";
import { writeSafe } from "../events/terminal.js";
import { actingUser } from "../events/actor.js";

interface Common {
  stateDir: string;
  json?: boolean;
}

const STATUSES: LearnedStatus[] = ["proposed", "applied", "revoked"];

export function registerTune(program: Command): void {
  const tune = program.command("tune").description("learning: the exceptions hv proposed from normal operation — list, propose, apply, revoke");
  tune.addHelpText(
    "after",
    `
hv learns while hv monitor runs with --learn (a whole replay or run) or for the config's
learning.period; it counts each Sigma detection by (rule, program lineage, user, VM) and, when
learning ends, proposes one exception per combination. hv's own high and critical rules are
counted but never proposed, and never silenced. Applied exceptions take effect when hv monitor starts (or at once when
learning.apply is set) and expire (default ${DEFAULT_LEARNED_EXPIRY_MS / 86_400_000}d).

Examples:
  hv monitor --replay monday.log --learn --rules rules/hv /etc/hv/sigma
  hv tune list
  hv tune list --observations --json
  hv tune apply --all --expires 14d
  hv tune apply 3 4
  hv tune revoke 4`,
  );

  tune
    .command("list")
    .description("learned exceptions (proposed, applied, revoked), or with --observations what learning counted")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--status <status>", `only ${STATUSES.join(", ")}`)
    .option("--observations", "the (rule, lineage, user, VM) combinations counted while learning")
    .option("--json", "one JSON object per line")
    .action(async (opts: Common & { status?: string; observations?: boolean }) => {
      if (opts.status !== undefined && !STATUSES.includes(opts.status as LearnedStatus)) return usage(`--status must be one of ${STATUSES.join(", ")}`);
      const db = openStateStore(opts.stateDir);
      const out = new LineWriter();
      if (opts.observations) {
        const rows = listObservations(db);
        for (const o of rows) {
          out.line(opts.json ? JSON.stringify(o) : `${String(o.count).padStart(6)}  ${o.ruleTitle} [${o.severity}]  ${o.parent || "-"} → ${o.executable || "-"}  user=${o.user || "-"} login=${o.login || "-"} vm=${o.vm || "-"}${o.protected ? "  (hv's own high rule: never silenced)" : ""}`);
        }
        if (!opts.json && rows.length === 0) out.line("nothing learned yet (hv monitor --learn, or learning.period in the config)");
      } else {
        const rows = listLearned(db, opts.status as LearnedStatus | undefined);
        const now = Date.now();
        for (const l of rows) out.line(opts.json ? JSON.stringify(l) : formatLearned(l, now));
        if (!opts.json && rows.length === 0) out.line("no learned exceptions");
      }
      db.close();
      await out.end();
    });

  tune
    .command("propose")
    .description("propose exceptions from what learning counted (learning does this itself when it ends)")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--min-count <n>", "only combinations seen at least N times", "1")
    .option("--json", "the result as JSON")
    .action((opts: Common & { minCount: string }) => {
      const min = Number(opts.minCount);
      if (!Number.isInteger(min) || min < 1) return usage(`--min-count must be a positive integer, got ${JSON.stringify(opts.minCount)}`);
      const db = openStateStore(opts.stateDir);
      const n = proposeExceptions(db, { minCount: min, nowMs: Date.now() });
      db.close();
      writeSafe(process.stdout, opts.json ? JSON.stringify({ proposed: n }) + "\n" : `${n} new exceptions proposed (hv tune list)\n`);
    });

  tune
    .command("apply [ids...]")
    .description("apply proposed exceptions (by id, or --all): hv monitor uses them from its next start")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--all", "every proposed exception")
    .option("--expires <age>", "how long they hold (30m, 12h, 30d)", `${DEFAULT_LEARNED_EXPIRY_MS / 86_400_000}d`)
    .option("--json", "the applied exceptions as JSON lines")
    .action(async (ids: string[], opts: Common & { all?: boolean; expires: string }) => {
      const expiresMs = parsePlaybookDuration(opts.expires);
      if (expiresMs === undefined) return usage(`--expires must look like 30m, 12h or 30d, got ${JSON.stringify(opts.expires)}`);
      if (!opts.all && ids.length === 0) return usage("name the exceptions to apply (hv tune list), or --all");
      const wanted = opts.all ? undefined : parseIds(ids);
      if (wanted === null) return usage(`ids must be positive integers, got ${ids.join(" ")}`);
      const db = openStateStore(opts.stateDir);
      const known = new Set(listLearned(db).map((l) => l.id));
      const missing = (wanted ?? []).filter((id) => !known.has(id));
      const applied = missing.length > 0 ? [] : applyProposals(db, { ...(wanted ? { ids: wanted } : {}), expiresMs, by: actingUser(), nowMs: Date.now() });
      db.close();
      if (missing.length > 0) {
        writeSafe(process.stderr, `hv tune apply: no learned exception ${missing.join(", ")} (hv tune list); nothing applied\n`);
        process.exitCode = 1;
        return;
      }
      const out = new LineWriter();
      for (const l of applied) out.line(opts.json ? JSON.stringify(l) : `applied ${formatLearned(l, Date.now())}`);
      if (!opts.json) out.line(`${applied.length} applied; hv monitor uses them from its next start`);
      await out.end();
    });

  tune
    .command("revoke <ids...>")
    .description("revoke learned exceptions (they stop applying at hv monitor's next start)")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--json", "the result as JSON")
    .action((ids: string[], opts: Common) => {
      const wanted = parseIds(ids);
      if (wanted === null) return usage(`ids must be positive integers, got ${ids.join(" ")}`);
      const db = openStateStore(opts.stateDir);
      const now = Date.now();
      const done = wanted.filter((id) => revokeLearned(db, id, actingUser(), now));
      db.close();
      const missing = wanted.filter((id) => !done.includes(id));
      writeSafe(process.stdout, opts.json ? JSON.stringify({ revoked: done, missing }) + "\n" : `${done.length} revoked${missing.length > 0 ? `; no learned exception ${missing.join(", ")}` : ""}\n`);
      if (missing.length > 0) process.exitCode = 1;
    });
}

function usage(text: string): void {
  writeSafe(process.stderr, `hv tune: ${text}\n`);
  process.exitCode = 2;
}

function parseIds(ids: string[]): number[] | null {
  const out = ids.map(Number);
  return out.every((n) => Number.isInteger(n) && n > 0) ? out : null;
}

function formatLearned(l: LearnedException, now: number): string {
  const m = l.match;
  const lineage = `${m["process.parent.executable"] ?? "-"} → ${m["process.executable"] ?? "-"}`;
  const state = l.status === "applied" && l.expires !== undefined && l.expires <= now ? "expired" : l.status;
  const until = l.status === "applied" && l.expires !== undefined ? ` until ${new Date(l.expires).toISOString()}` : "";
  return `#${l.id} ${state}${until}  ${l.ruleTitle} [${l.severity}]  ${lineage}  user=${m["user.name"] ?? "-"} login=${m["user.audit.name"] ?? "-"} vm=${m["vm.name"] ?? "-"}  (${l.observed} seen)`;
}
