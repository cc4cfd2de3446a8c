import { resolve } from "node:path";
import type { Command } from "commander";
import { FEED_FORMATS } from "../events/feed.js";
import { FEED_PRESETS, findPreset } from "../feeds/presets.js";
import { cidrSchema, isRemote, validateFeedSpec } from "../feeds/spec.js";
import type { FeedSpec } from "../events/feed.js";
import { durationMs } from "../events/duration.js";
import { InputError, MAX_DOCUMENT_BYTES, readTextCapped } from "../events/input.js";
import { syncFeed, type SyncResult } from "../feeds/sync.js";
import { addFeed, feedIndicators, feedSyncHistory, getFeed, listFeeds, removeFeed, updateFeedSpec, type StoredFeed } from "../store/feeds.js";
import { defaultStateDir, openStateStore } from "../store/open.js";
import { formatBytes, parseSize } from "../vm/size.js";
import { LineWriter } from "./output.js";
import { progress } from "./progress.js";
import { severityArg } from "../events/alert.js";
import { writeSafe } from "../events/terminal.js";

interface CommonOptions {
  stateDir: string;
  json?: boolean;
}

function store(opts: CommonOptions): ReturnType<typeof openStateStore> {
  return openStateStore(opts.stateDir);
}

function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").map((s) => s.trim()).filter((s) => s !== "")];
}

export function registerFeeds(program: Command): void {
  const feeds = program.command("feeds").description("threat feeds: add, list, show, sync and remove");
  feeds.addHelpText(
    "after",
    `
Examples:
  hv feeds add feodo https://feodotracker.abuse.ch/downloads/ipblocklist_recommended.txt --schedule 1h
  hv feeds add --preset spamhaus-drop --action block --mode monitor
  hv feeds add local-iocs /etc/hv/iocs.txt --format plain
  hv feeds sync                     sync every enabled feed (exit 1 if any failed or was rejected)
  hv feeds list --json
  hv feeds show feodo --entries 20
  hv feeds remove feodo

Formats: ${FEED_FORMATS.join(", ")} (or auto). Safety rules: docs/feeds.md.`,
  );

  feeds
    .command("add [name] [url]")
    .description("add a feed (an http(s) URL or a local file / MISP directory); it is synced by `hv feeds sync` and by the agent on its schedule")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--preset <preset>", `a built-in feed: ${FEED_PRESETS.map((p) => p.name).join(", ")} (see hv feeds presets)`)
    .option("--format <format>", `${FEED_FORMATS.join(", ")} or auto`)
    .option("--schedule <every>", "how often the agent syncs it: 30m, 6h, 1d (default 6h)")
    .option("--no-schedule", "only sync with hv feeds sync")
    .option("--action <action>", "alert (default) or block (its addresses also go into nft sets)")
    .option("--mode <mode>", "for block: monitor (count, default) or enforce (drop)")
    .option("--paths <paths>", "for block: comma list of input, forward, output, taps (default input,forward,taps)")
    .option("--severity <level>", "low, med|medium, high or crit|critical")
    .option("--max-size <size>", "refuse responses bigger than this (default 64M)")
    .option("--timeout <duration>", "per-attempt deadline, e.g. 60s (default 60s)")
    .option("--min-keep <ratio>", "refuse a new copy with fewer entries than RATIO × the last good one (default 0.5)")
    .option("--allow <cidrs>", "CIDRs never accepted from this feed (comma list, repeatable)", list)
    .option("--disabled", "add it disabled (not synced by the agent)")
    .option("--replace", "a feed of that name exists: replace its settings, keep its entries (NixOS activation uses this)")
    .option("--json", "print the stored feed as JSON")
    .addHelpText(
      "after",
      `
Examples:
  hv feeds add feodo https://feodotracker.abuse.ch/downloads/ipblocklist_recommended.txt --severity high
  hv feeds add drop https://www.spamhaus.org/drop/drop_v4.json --action block --mode enforce --paths input,forward,taps
  hv feeds add --preset tor-exits --severity low
  hv feeds add circl ./misp-feed/ --format misp --no-schedule
  hv feeds add drop https://www.spamhaus.org/drop/drop_v4.json --action block --mode enforce --replace`,
    )
    .action((name: string | undefined, url: string | undefined, opts: CommonOptions & Record<string, unknown>) => {
      const spec = buildSpec(name, url, opts);
      const db = store(opts);
      try {
        const replaced = opts.replace === true && updateFeedSpec(db, spec);
        if (!replaced) addFeed(db, spec);
        const stored = getFeed(db, spec.name)!;
        writeSafe(process.stdout, opts.json ? JSON.stringify(stored) + "\n" : `feed ${spec.name} ${replaced ? "replaced" : "added"} (${spec.format}, ${spec.action}${spec.block ? ` ${spec.block.mode} on ${spec.block.paths.join(",")}` : ""}, ${spec.schedule ? `every ${spec.schedule}` : "manual sync"}); run: hv feeds sync ${spec.name}\n`);
      } finally {
        db.close();
      }
    });

  feeds
    .command("presets")
    .description("the built-in catalogue of public feeds for add --preset")
    .option("--json", "as JSON")
    .addHelpText("after", "\nExample:\n  hv feeds presets\n  hv feeds add --preset feodo")
    .action((opts: { json?: boolean }) => {
      const out = new LineWriter();
      for (const p of FEED_PRESETS) out.line(opts.json ? JSON.stringify(p) : `${p.name.padEnd(16)} ${p.spec.format.padEnd(14)} ${p.about}\n${"".padEnd(16)} ${p.spec.url}`);
      return out.end();
    });

  feeds
    .command("list")
    .description("every feed with its state")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--json", "one JSON feed per line")
    .addHelpText("after", "\nExamples:\n  hv feeds list\n  hv feeds list --json | jq -r 'select(.lastError) | .name'")
    .action(async (opts: CommonOptions) => {
      const db = store(opts);
      const all = listFeeds(db);
      db.close();
      const out = new LineWriter();
      if (!opts.json) out.line(`${"NAME".padEnd(20)} ${"FORMAT".padEnd(13)} ${"ACTION".padEnd(14)} ${"EVERY".padEnd(6)} ${"ENTRIES".padStart(8)} ${"VER".padStart(4)} LAST SUCCESS          STATE`);
      for (const f of all) out.line(opts.json ? JSON.stringify(f) : formatFeedLine(f));
      if (!opts.json && all.length === 0) out.line("no feeds (add one: hv feeds add --help)");
      await out.end();
    });

  feeds
    .command("show <name>")
    .description("one feed: its spec, state, recent syncs and entries")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--entries <n>", "list the first N entries", "10")
    .option("--json", "as one JSON object (feed, syncs, entries)")
    .addHelpText("after", "\nExamples:\n  hv feeds show feodo\n  hv feeds show feodo --entries 1000 --json")
    .action((name: string, opts: CommonOptions & { entries: string }) => {
      const n = Number(opts.entries);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--entries must be a whole number, got ${JSON.stringify(opts.entries)}`);
      const db = store(opts);
      try {
        const feed = getFeed(db, name);
        if (!feed) throw new Error(`no feed named ${name} (hv feeds list shows them)`);
        const syncs = feedSyncHistory(db, name, 5);
        const entries = feedIndicators(db, name, n);
        if (opts.json) {
          writeSafe(process.stdout, JSON.stringify({ feed, syncs, entries }) + "\n");
          return;
        }
        writeSafe(process.stdout, formatFeedDetail(feed, syncs, entries));
      } finally {
        db.close();
      }
    });

  feeds
    .command("sync [names...]")
    .description("sync feeds now (all enabled ones when none is named); exit code 1 if any failed or was rejected")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--force", "ignore ETag/Last-Modified and the shrink check (never the other safety checks)")
    .option("--allow <cidrs>", "extra CIDRs never accepted from any feed (comma list, repeatable)", list)
    .option("--ca <file>", "extra CA certificate (PEM) to trust for feed servers")
    .option("--json", "one JSON result per feed")
    .addHelpText(
      "after",
      `
Examples:
  hv feeds sync
  hv feeds sync feodo spamhaus-drop --force
  hv feeds sync --json | jq 'select(.status != "updated")'

Statuses: updated, unchanged, not-modified (HTTP 304), rejected (the copy failed a safety check;
the last good set stays), failed (download or read error; the last good set stays).`,
    )
    .action(async (names: string[], opts: CommonOptions & { force?: boolean; allow?: string[]; ca?: string }) => {
      for (const a of opts.allow ?? []) if (!cidrSchema.safeParse(a).success) throw new InputError(`--allow: ${JSON.stringify(a)} is not an IP address or CIDR`);
      const ca = opts.ca ? readTextCapped(opts.ca, MAX_DOCUMENT_BYTES, opts.ca) : undefined;
      const db = store(opts);
      const out = new LineWriter();
      let bad = 0;
      const blocking: string[] = [];
      try {
        const targets = names.length > 0 ? names : listFeeds(db).filter((f) => f.enabled).map((f) => f.name);
        for (const name of names) if (!getFeed(db, name)) throw new Error(`no feed named ${name} (hv feeds list shows them)`);
        if (targets.length === 0 && !opts.json) out.line("no enabled feeds to sync");
        for (const name of targets) {
          const bar = progress({ label: name, format: formatBytes });
          const r = await syncFeed(db, name, {
            force: opts.force,
            allowlist: opts.allow,
            ca,
            onProgress: (done, total) => {
              bar.setTotal(total);
              bar.update(done);
            },
          });
          bar.done();
          if (r.status === "failed" || r.status === "rejected") bad++;
          if (r.status === "updated" && getFeed(db, name)?.action === "block") blocking.push(name);
          out.line(opts.json ? JSON.stringify(r) : formatSyncLine(r));
          out.flushSync();
        }
        if (blocking.length > 0 && !opts.json) {
          writeSafe(process.stderr, `${blocking.join(", ")} block addresses: a running hv monitor applies the new sets within a minute; \`hv firewall reconcile\` applies them now\n`);
        }
      } finally {
        db.close();
      }
      await out.end();
      if (bad > 0) process.exitCode = 1;
    });

  feeds
    .command("remove <name>")
    .description("remove a feed and its entries")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  hv feeds remove feodo")
    .action((name: string, opts: CommonOptions) => {
      const db = store(opts);
      const ok = removeFeed(db, name);
      db.close();
      if (!ok) throw new Error(`no feed named ${name}`);
      writeSafe(process.stdout, opts.json ? JSON.stringify({ name, removed: true }) + "\n" : `feed ${name} removed\n`);
    });
}

function buildSpec(name: string | undefined, url: string | undefined, opts: Record<string, unknown>): FeedSpec {
  const preset = typeof opts.preset === "string" ? findPreset(opts.preset) : undefined;
  if (opts.preset !== undefined && !preset) throw new Error(`no preset ${String(opts.preset)}; one of ${FEED_PRESETS.map((p) => p.name).join(", ")}`);
  const feedName = name ?? preset?.name;
  const where = url ?? preset?.spec.url;
  if (!feedName || !where) throw new Error("give a NAME and a URL or PATH (or --preset NAME); see hv feeds add --help");
  const action = (opts.action as string | undefined) ?? "alert";
  const input: Record<string, unknown> = {
    ...preset?.spec,
    name: feedName,
    // Anything with a scheme stays as given (so the spec check can refuse ftp:// and the like).
    url: isRemote(where) || /^[a-z][a-z0-9+.-]*:\/\//i.test(where) ? where : resolve(where),
    format: (opts.format as string | undefined) ?? preset?.spec.format ?? "auto",
    enabled: !opts.disabled,
    action,
  };
  if (opts.schedule === false) delete input.schedule;
  else input.schedule = typeof opts.schedule === "string" ? opts.schedule : preset?.spec.schedule ?? "6h";
  // Any name of a severity (med, crit, …); the feed spec refuses the ones a feed cannot have.
  if (opts.severity) input.severity = severityArg(String(opts.severity));
  if (opts.maxSize) input.maxBytes = parseSize(String(opts.maxSize));
  if (opts.timeout) input.timeoutMs = durationMs(String(opts.timeout).replace(/^(\d+)$/, "$1s"), "--timeout");
  if (opts.minKeep !== undefined) input.minKeepRatio = Number(opts.minKeep);
  if (opts.allow) input.allowlist = opts.allow;
  if (opts.mode !== undefined || opts.paths !== undefined) {
    if (action !== "block") throw new Error("--mode and --paths apply to --action block");
    input.block = { mode: opts.mode ?? "monitor", paths: opts.paths ? list(String(opts.paths)) : ["input", "forward", "taps"] };
  }
  return validateFeedSpec(input);
}

const shortTime = (iso?: string): string => (iso ? iso.slice(0, 19).replace("T", " ") : "-");

export function formatFeedLine(f: StoredFeed): string {
  const action = f.action === "block" ? `block/${f.block?.mode ?? "monitor"}` : "alert";
  const state = !f.enabled ? "disabled" : f.lastError ? `ERROR ${f.lastError}` : f.lastSuccess ? "ok" : "never synced";
  return `${f.name.padEnd(20)} ${f.format.padEnd(13)} ${action.padEnd(14)} ${(f.schedule ?? "-").padEnd(6)} ${String(f.entries).padStart(8)} ${String(f.version).padStart(4)} ${shortTime(f.lastSuccess).padEnd(21)} ${state}`;
}

export function formatSyncLine(r: SyncResult): string {
  const size = r.bytes !== undefined ? ` ${formatBytes(r.bytes)}` : "";
  const http = r.httpStatus !== undefined ? ` HTTP ${r.httpStatus}` : "";
  switch (r.status) {
    case "updated":
    case "unchanged":
      return `${r.feed}: ${r.status}, ${r.entries} entries (+${r.added} -${r.removed}), v${r.version ?? "?"}${http}${size} ${r.ms} ms${r.reason ? `; ${r.reason}` : ""}`;
    case "not-modified":
      return `${r.feed}: not modified (HTTP 304), ${r.entries} entries kept ${r.ms} ms`;
    default: {
      // Labelled, so that a size after a reason about the cap is not read as the cap.
      const about = [r.httpStatus !== undefined ? `HTTP ${r.httpStatus}` : "", r.bytes !== undefined ? `body ${formatBytes(r.bytes)}` : ""].filter(Boolean).join(", ");
      return `${r.feed}: ${r.status.toUpperCase()} — ${r.reason ?? "unknown"}${about ? ` [${about}]` : ""}; last good set kept (${r.entries} entries)`;
    }
  }
}

function formatFeedDetail(f: StoredFeed, syncs: ReturnType<typeof feedSyncHistory>, entries: ReturnType<typeof feedIndicators>): string {
  const lines = [
    `feed ${f.name}${f.enabled ? "" : " (disabled)"}`,
    `  source     ${f.url}`,
    `  format     ${f.format}   schedule ${f.schedule ?? "manual"}   severity ${f.severity ?? "-"}`,
    `  action     ${f.action}${f.block ? ` (${f.block.mode} on ${f.block.paths.join(", ")})` : ""}`,
    `  entries    ${f.entries} (version ${f.version}, ${f.rejected} rejected at the last applied sync)`,
    `  synced     last success ${shortTime(f.lastSuccess)}, last attempt ${shortTime(f.lastAttempt)}`,
  ];
  if (f.lastError) lines.push(`  error      ${f.lastError}`);
  if (f.etag || f.lastModified) lines.push(`  cache      ${f.etag ? `ETag ${f.etag}` : ""}${f.lastModified ? ` Last-Modified ${f.lastModified}` : ""}`);
  if (f.allowlist?.length) lines.push(`  allowlist  ${f.allowlist.join(", ")}`);
  if (syncs.length > 0) {
    lines.push("  recent syncs:");
    for (const s of syncs) lines.push(`    ${shortTime(s.startedIso)} ${s.status.padEnd(12)} ${String(s.entries).padStart(7)} +${s.added} -${s.removed} rejected ${s.rejected}${s.reason ? `  ${s.reason}` : ""}`);
  }
  if (entries.length > 0) {
    lines.push(`  entries (first ${entries.length}):`);
    for (const e of entries) lines.push(`    ${e.value.padEnd(40)} ${e.kind.padEnd(6)} first ${shortTime(e.first_seen)} last ${shortTime(e.last_seen)}${e.meta ? `  ${Object.entries(e.meta).map(([k, v]) => `${k}=${v}`).join(" ")}` : ""}`);
  }
  return lines.join("\n") + "\n";
}
