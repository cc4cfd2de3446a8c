// Hostile input, fuzzed, through every reader hv has except Sigma rules (test/detectors/sigma has
// those): audit lines, playbooks, the config (sinks included), feeds, alert JSON for `playbooks
// test`, API requests to a real fastify instance, forensic manifests. For every input:
//  - no hang: each input is handled within a generous bound (a hang detector, not a speed check);
//  - no crash: the code returns, or throws the error it documents with a message that says what
//    is wrong — never a TypeError or the like;
//  - no write outside the state directory: the inputs aim at a canary directory next to it
//    (ids and paths with ../, symlinks); its content and the inputs' own directory are compared
//    before and after.
// A few of the generated inputs then go through the real CLI: exit 0, 1 or 2, never a stack trace.
// Total runtime is kept to a few tens of seconds on a busy 2-core machine (HV_FUZZ_RUNS scales it).

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import fc from "fast-check";
import { stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../src/agent/config.js";
import { createApiServer } from "../../src/api/server.js";
import { createToken } from "../../src/api/tokens.js";
import { readAlerts } from "../../src/cli/playbooks.js";
import { formatEventLine } from "../../src/cli/events.js";
import { AuditDecoder } from "../../src/collectors/audit/decoder.js";
import { InputError } from "../../src/events/input.js";
import { terminalSafeLines } from "../../src/events/terminal.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { syncFeed } from "../../src/feeds/sync.js";
import { verifyAndRecord } from "../../src/forensics/bundle-ops.js";
import { appendCustody } from "../../src/forensics/custody.js";
import { MANIFEST_FORMAT, describeArtifacts, writeSignedManifest, type Manifest } from "../../src/forensics/manifest.js";
import { loadOrCreateSigningKey } from "../../src/forensics/signing.js";
import { createSinks, SinkConfigError } from "../../src/outputs/config.js";
import { parsePlaybooks } from "../../src/playbooks/load.js";
import { matchAlert } from "../../src/playbooks/match.js";
import { createRegistry } from "../../src/playbooks/registry.js";
import { addFeed, feedIndicators } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { runHv } from "../helpers/hv-cli.js";

const RUNS = Number(process.env.HV_FUZZ_RUNS ?? 60);
/** Per input. Anything near it is a hang, whatever the machine's load. */
const BOUND_MS = 5000;

let root = "";
let stateDir = "";
let inputs = "";
let canary = "";

/** Every file under dir with its size and content hash-ish (first bytes), for before/after comparison. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isSymbolicLink()) out[rel] = "link";
      else if (e.isDirectory()) {
        out[`${rel}/`] = "dir";
        walk(p);
      } else out[rel] = `${statSync(p).size}:${readFileSync(p).subarray(0, 64).toString("hex")}`;
    }
  };
  walk(dir);
  return out;
}

/** Runs one input through `fn` within the bound; an error must be one of `allowed` with a message, never a programming error. */
async function handled<T>(what: string, fn: () => T | Promise<T>, allowed: Array<new (...args: never[]) => Error> = []): Promise<T | Error> {
  const t0 = performance.now();
  let result: T | Error;
  try {
    result = await fn();
  } catch (err) {
    const ok = allowed.some((c) => err instanceof c);
    expect(ok, `${what}: unexpected ${(err as Error)?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack ?? ""}`).toBe(true);
    expect((err as Error).message.length, `${what}: an error without a message`).toBeGreaterThan(0);
    expect((err as Error).message, what).not.toMatch(/Cannot read propert|is not a function|is not iterable|undefined \(reading/);
    result = err as Error;
  }
  expect(performance.now() - t0, `${what}: took too long (a hang?)`).toBeLessThan(BOUND_MS);
  return result;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "hv-fuzz-"));
  stateDir = join(root, "state");
  inputs = join(root, "inputs");
  canary = join(root, "canary");
  for (const d of [stateDir, inputs, canary]) mkdirSync(d, { recursive: true });
  writeFileSync(join(canary, "passwd"), "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(join(canary, "hostname"), "canary\n");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Strings an attacker picks: traversal toward the canary, control characters, huge, odd unicode.
const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.constantFrom("../../canary/pwned", "../../../canary/passwd", "/etc/passwd", "\u001b[2J\u001b]0;x\u0007", "\u0000", "%00", "a".repeat(70_000), "99999999999999999999d", "-1", "1e309", "NaN", "<script>", "${HOME}", "*a*a*a*a*c", "__proto__", "constructor"),
);
const value: fc.Arbitrary<unknown> = fc.oneof(hostile, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(hostile, { maxLength: 3 }), fc.dictionary(hostile, hostile, { maxKeys: 3 }));

describe("audit lines", () => {
  const field = fc.tuple(fc.constantFrom("pid", "exe", "comm", "key", "a0", "a1", "name", "saddr", "proctitle", "msg", "syscall", "arch", "uid"), fc.oneof(hostile, fc.string({ unit: fc.constantFrom(..."0123456789ABCDEF") }), fc.constantFrom("(null)", "?", '"quoted"', "'inner=1 x=2'")));
  const line = fc.oneof(
    fc.tuple(fc.constantFrom("SYSCALL", "EXECVE", "PATH", "PROCTITLE", "SOCKADDR", "USER_CMD", "EOE", "UNKNOWN[1334]", "<script>", "", "VIRT_CONTROL"), fc.nat(4_000_000_000), fc.nat(999), fc.array(field, { maxLength: 8 })).map(
      ([type, sec, serial, fields]) => `type=${type} msg=audit(${sec}.${String(serial).padStart(3, "0")}:${serial}): ${fields.map(([k, v]) => `${k}=${v}`).join(" ")}`,
    ),
    hostile,
  );

  it("every line is an event, a counted malformed line or a field warning; printing stays terminal-safe", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 20 }), async (lines) => {
        const decoder = new AuditDecoder();
        const events = await handled("audit lines", () => [...lines.flatMap((l, i) => decoder.pushLine(l, i + 1).events), ...decoder.flush()]);
        const stats = decoder.stats;
        expect(stats.lines).toBe(lines.length);
        for (const p of stats.problems) expect(p.reason.length).toBeGreaterThan(0);
        for (const e of events as ReturnType<AuditDecoder["flush"]>) {
          // A record type never becomes an action unless it is a type name.
          expect(e.event.action).toMatch(/^[a-z0-9_[\]]+$/);
          expect(terminalSafeLines(formatEventLine(e))).toBe(formatEventLine(e));
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });
});

describe("playbooks", () => {
  const registry = createRegistry();
  const playbook = fc.record(
    {
      id: fc.oneof(hostile, fc.constant("pb-1")),
      title: value,
      mode: fc.oneof(fc.constantFrom("monitor", "interactive", "automatic"), hostile),
      match: fc.oneof(value, fc.record({ rules: fc.array(hostile, { maxLength: 2 }), min_severity: fc.oneof(hostile, fc.constantFrom("high", "low")) }, { requiredKeys: [] })),
      actions: fc.oneof(value, fc.array(fc.record({ action: fc.oneof(fc.constantFrom("notify", "quarantine_vm", "block_ip", "snapshot_vm", "run_command"), hostile), with: value, ttl: fc.oneof(hostile, fc.constantFrom("2h", "366d", "367d")) }, { requiredKeys: ["action"] }), { maxLength: 3 })),
      cooldown: fc.oneof(hostile, fc.constantFrom("5m", "99999999999999999999d")),
      rate_limit: hostile,
      ttl: fc.oneof(hostile, fc.constantFrom("1h", "99999999999999999999d")),
      delay: hostile,
    },
    { requiredKeys: [] },
  );

  it("a playbook file of any shape gives playbooks or problems naming file, line and field", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(playbook.map((p) => toYaml(p)), hostile, fc.array(playbook, { maxLength: 3 }).map((ps) => ps.map((p) => toYaml(p)).join("---\n"))), async (text) => {
        const out = await handled("playbook", () => parsePlaybooks(text, "fuzz.yml", registry));
        for (const r of out as ReturnType<typeof parsePlaybooks>) {
          if ("problems" in r) for (const p of r.problems) expect(p.file === "fuzz.yml" && p.message.length > 0 && Number.isInteger(p.line)).toBe(true);
          else for (const s of r.steps) if (s.ttlMs !== undefined) expect(s.ttlMs).toBeLessThanOrEqual(366 * 86_400_000);
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

describe("the config", () => {
  const sink = fc.record(
    { type: fc.oneof(fc.constantFrom("jsonl", "syslog", "webhook", "alertmanager", "nats"), hostile), path: fc.oneof(hostile, fc.constant("../../canary/alerts.jsonl")), url: fc.oneof(hostile, fc.constantFrom("http://127.0.0.1:9/x", "ftp://x", "http://[::1")), port: value, transport: value, bufferSize: value, spoolItems: value, bearerTokenFile: fc.constantFrom("../../canary/passwd", "/dev/zero") },
    { requiredKeys: ["type"] },
  );
  const config = fc.record(
    { rules: value, dedupWindow: value, sinks: fc.oneof(value, fc.array(sink, { maxLength: 3 })), feeds: fc.oneof(value, fc.record({ allowlist: fc.array(hostile, { maxLength: 2 }) })), api: value, metrics: value, response: value, flows: value, stateDir: value },
    { requiredKeys: [] },
  );

  it("any YAML is a config or an InputError naming the file; its sinks are built or refused by field", async () => {
    const before = tree(canary);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(config.map((c) => toYaml(c)), hostile), async (text) => {
        const file = join(inputs, `config-${n++}.yaml`);
        writeFileSync(file, text);
        const cfg = await handled("config", () => loadAgentConfig(file), [InputError]);
        if (cfg instanceof Error) {
          expect(cfg.message.startsWith(`${file}:`) || cfg.message.includes(file)).toBe(true);
          return;
        }
        const sinks = await handled("sinks", () => createSinks(cfg.sinks ?? [], { spoolDir: join(stateDir, "outbox") }), [SinkConfigError]);
        if (!(sinks instanceof Error)) await Promise.all(sinks.map((s) => s.close()));
      }),
      { numRuns: RUNS * 2 },
    );
    expect(tree(canary)).toEqual(before);
  });
});

describe("feeds", () => {
  const line = fc.oneof(hostile, fc.constantFrom("192.0.2.1", "0.0.0.0/0", "127.0.0.1", "198.51.100.0/24 ; SBL1", ",", '{"cidr":"203.0.113.0/24"}', "example.com", "# END 9 entries", '{"type":"bundle","objects":[null]}', '{"Event":{"Attribute":[{"type":"ip-dst","value":"192.0.2.9","to_ids":true}]}}'));

  it("any feed file syncs, or is rejected or failed with a reason, and the last good set is kept", async () => {
    const db = openStore(join(stateDir, "hv.db"));
    const good = join(inputs, "good.txt");
    writeFileSync(good, "203.0.113.1\n203.0.113.2\n203.0.113.3\n");
    const before = tree(canary);
    try {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(line, { maxLength: 20 }), fc.constantFrom("auto", "plain", "spamhaus-json", "feodo-csv", "domains", "stix", "misp"), async (lines, format) => {
          const name = `f${n++}`;
          addFeed(db, validateFeedSpec({ name, url: good, format: "plain", enabled: true, action: "block", maxBytes: 100_000 }));
          await syncFeed(db, name, { interfaces: false });
          const file = join(inputs, `${name}.feed`);
          writeFileSync(file, lines.join("\n"));
          db.prepare("UPDATE feeds SET spec = json_set(spec, '$.url', ?, '$.format', ?) WHERE name = ?").run(file, format, name);
          const r = await handled("feed", () => syncFeed(db, name, { interfaces: false }));
          if (r instanceof Error) return;
          expect(["updated", "unchanged", "rejected", "failed"]).toContain(r.status);
          if (r.status === "rejected" || r.status === "failed") {
            expect(r.reason?.length).toBeGreaterThan(0);
            expect(feedIndicators(db, name).map((e) => e.value).sort()).toEqual(["203.0.113.1", "203.0.113.2", "203.0.113.3"]);
          }
          // Nothing unsafe ever gets in.
          for (const e of feedIndicators(db, name)) expect(["0.0.0.0/0", "127.0.0.1"]).not.toContain(e.value);
        }),
        { numRuns: RUNS },
      );
    } finally {
      db.close();
    }
    expect(tree(canary)).toEqual(before);
  });
});

describe("alert JSON (hv playbooks test --alert)", () => {
  const alert = fc.record(
    { rule: fc.oneof(value, fc.record({ id: value, title: value, tags: value }, { requiredKeys: [] })), entity: fc.oneof(value, fc.record({ kind: fc.oneof(hostile, fc.constantFrom("vm", "ip")), id: value }, { requiredKeys: [] })), severity: fc.oneof(value, fc.constantFrom("high", "critical")), count: value, mitre: value, vm: value, process: value, threat: value },
    { requiredKeys: [] },
  );

  it("any file is alerts the matcher can take, or an InputError naming the file", async () => {
    const registry = createRegistry();
    const pb = parsePlaybooks("id: all\ntitle: t\nmode: monitor\nmatch: {min_severity: informational}\nactions: [{action: notify}]\n", "x.yml", registry)[0]!;
    if ("problems" in pb) throw new Error(JSON.stringify(pb.problems));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(alert.map((a) => JSON.stringify(a)), fc.array(alert, { maxLength: 3 }).map((a) => JSON.stringify(a)), hostile, fc.array(alert, { maxLength: 3 }).map((as) => as.map((a) => JSON.stringify(a)).join("\n"))), async (text) => {
        const file = join(inputs, `alert-${n++}.json`);
        writeFileSync(file, text);
        const got = await handled("alert file", () => readAlerts(file), [InputError]);
        if (got instanceof Error) {
          expect(got.message).toContain(file);
          return;
        }
        for (const a of got) await handled("match", () => matchAlert(pb.match, a));
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

describe("forensic manifests", () => {
  it("any manifest and custody log verify to problems, never a crash; nothing is written outside the bundle and STATE/forensics", async () => {
    const key = loadOrCreateSigningKey(stateDir);
    const shape = fc.record(
      { format: fc.oneof(fc.constant(MANIFEST_FORMAT), hostile), id: fc.oneof(fc.constant("20240501T101500Z-web1-abcdef"), hostile), vm: value, artifacts: fc.oneof(value, fc.array(fc.oneof(value, fc.record({ path: fc.oneof(hostile, fc.constantFrom("d/passwd", "memory.elf", "../canary/passwd")), size: value, sha256: value, kind: value }, { requiredKeys: [] })), { maxLength: 3 })), key: value, notes: value },
      { requiredKeys: [] },
    );
    let n = 0;
    const before = tree(canary);
    await fc.assert(
      fc.asyncProperty(fc.oneof(shape.map((m) => JSON.stringify(m)), hostile), fc.array(hostile, { maxLength: 3 }), fc.boolean(), async (manifest, custodyLines, link) => {
        const dir = join(root, "bundles", `20240501T101500Z-web1-${(n++).toString(16).padStart(6, "0")}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "memory.elf"), "core");
        const real: Manifest = {
          format: MANIFEST_FORMAT, id: "20240501T101500Z-web1-abcdef", vm: { name: "web1", uuid: "u" }, by: "t", host: "h", created: "c", completed: "c",
          hv: { version: "0", node: "20" }, tools: {}, notes: [], options: { memory: true, disk: false, pcapSeconds: 0, pause: false }, key: { fingerprint: key.fingerprint },
          artifacts: await describeArtifacts(dir, [{ path: "memory.elf", kind: "memory" }]),
        };
        await writeSignedManifest(dir, real, key);
        appendCustody(dir, { who: "t", what: "captured", host: "h" }, key);
        writeFileSync(join(dir, "manifest.json"), manifest);
        if (custodyLines.length > 0) writeFileSync(join(dir, "custody.log"), custodyLines.join("\n"));
        if (link) symlinkSync(canary, join(dir, "d"));
        const r = await handled("manifest", () => verifyAndRecord(stateDir, dir, { who: "fuzz" }));
        if (r instanceof Error) return;
        for (const p of r.problems) expect(p.message.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
    expect(tree(canary)).toEqual(before);
    // Under STATE only the forensics directory and what the other sections made.
    expect(readdirSync(join(stateDir, "forensics")).sort()).toEqual(["signing.key", "signing.pub"]);
  });
});

describe("API requests to a real fastify instance", () => {
  it("any method, path, header and body: a JSON answer below 500, no stack trace, nothing written outside the state directory", async () => {
    const db = openStore(join(stateDir, "api.db"));
    const token = createToken(db, "fuzz", "admin").token;
    const app = await createApiServer({ db, stateDir, rateLimit: { max: 100_000, windowMs: 60_000 } });
    const before = tree(canary);
    const inputsBefore = tree(inputs);
    try {
      const path = fc.oneof(
        fc.constantFrom("/healthz", "/metrics", "/api/v1/alerts", "/api/v1/events", "/api/v1/feeds", "/api/v1/forensics/bundles", "/api/v1/vms", "/api/v1/actions", "/api/v1/tokens"),
        fc.array(fc.oneof(hostile.map(encodeURIComponent), fc.constantFrom("..", "%2e%2e", "api", "v1", "forensics", "bundles", "..%2f..%2fcanary", "verify")), { minLength: 1, maxLength: 5 }).map((p) => `/${p.join("/")}`),
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"), path, fc.oneof(fc.constant(undefined), hostile.map(encodeURIComponent)), fc.oneof(fc.constant(`Bearer ${token}`), hostile.filter((h) => /^[\x20-\x7e]*$/.test(h))), fc.oneof(fc.constant(undefined), hostile, value.map((v) => JSON.stringify(v) ?? "null")), async (method, url, query, auth, body) => {
          const res = await handled("request", () =>
            app.inject({ method: method as "GET", url: `${url}${query ? `?q=${query}` : ""}`, headers: { authorization: auth, ...(body !== undefined ? { "content-type": "application/json" } : {}) }, ...(body !== undefined ? { payload: body } : {}) }),
          );
          if (res instanceof Error) return;
          expect(res.statusCode, `${method} ${url} → ${res.body.slice(0, 200)}`).toBeLessThan(500);
          expect(res.body).not.toMatch(/\n\s+at /);
          if (res.statusCode >= 400) expect(() => JSON.parse(res.body) as unknown).not.toThrow();
        }),
        { numRuns: RUNS * 3 },
      );
    } finally {
      await app.close();
      db.close();
    }
    expect(tree(canary)).toEqual(before);
    expect(tree(inputs)).toEqual(inputsBefore);
  });
});

describe("the real CLI on a sample of the same inputs", () => {
  it("exits 0, 1 or 2 with a one-line error, never a stack trace", async () => {
    const sample = (a: fc.Arbitrary<string>, n: number): string[] => fc.sample(a, { numRuns: n, seed: 14 });
    const cases: Array<{ args: string[] }> = [];
    for (const [i, text] of sample(fc.oneof(hostile, fc.dictionary(hostile, value).map((d) => toYaml(d))), 2).entries()) {
      const cfg = join(inputs, `cli-config-${i}.yaml`);
      writeFileSync(cfg, text);
      cases.push({ args: ["monitor", "--replay", "/dev/null", "--no-libvirt", "--config", cfg] });
    }
    for (const [i, text] of sample(fc.oneof(hostile, value.map((v) => JSON.stringify(v) ?? "")), 2).entries()) {
      const file = join(inputs, `cli-alert-${i}.json`);
      writeFileSync(file, text);
      cases.push({ args: ["playbooks", "test", "--alert", file] });
    }
    cases.push({ args: ["forensics", "verify", canary] }, { args: ["events", "--replay", "/dev/zero"] });
    const before = tree(canary);
    for (const c of cases) {
      const r = await runHv([...c.args, ...(c.args[0] === "forensics" ? ["--state-dir", stateDir] : [])], { stateDir, timeoutMs: 60_000 });
      expect([0, 1, 2], `hv ${c.args.join(" ")}: exit ${r.code}\n${r.stderr}`).toContain(r.code);
      expect(r.stderr, `hv ${c.args.join(" ")}`).not.toMatch(/\n\s+at |TypeError|RangeError/);
    }
    expect(tree(canary)).toEqual(before);
  }, 180_000);
});
