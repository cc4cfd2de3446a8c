// SigmaHQ's Linux rules (../shared/data/sigma/rules/linux) plus hv's own rules over two real
// recorded sessions (scripts/record-hv-rule-fixtures.sh):
//   attack-session.log  attack steps, each preceded by a marker exec `/bin/true hv-step-N`; the
//                       SigmaHQ rule ids each step must raise are in attack-session.expected.json
//   benign-session.log  a long, ordinary admin session on a hypervisor host: the alert count must
//                       stay small, and every rule that fires is listed below with why.
// Skips loudly without ../shared (fails under CI=true, where shared/ is beside the clone).

import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Detection } from "../../src/events/alert.js";
import type { HvEvent } from "../../src/events/event.js";
import { loadRules } from "../../src/detectors/sigma/ruleset.js";
import { createSigmaDetector } from "../../src/detectors/sigma/detector.js";
import { decodeAuditLines } from "../../src/collectors/audit/decoder.js";

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures", "audit");
const SIGMAHQ = join(ROOT, "..", "shared", "data", "sigma", "rules", "linux");
const HAVE_SHARED = existsSync(SIGMAHQ);
if (!HAVE_SHARED) {
  const msg = `sigma-sessions: ${SIGMAHQ} is missing (the workspace's shared data): SigmaHQ session tests skipped`;
  if (process.env.CI === "true") throw new Error(`${msg} — under CI=true it must be there`);
  console.warn(`SKIPPED — ${msg}`);
}

interface Step {
  step: string;
  command: string;
  rules: string[];
}

function decodeFile(path: string): HvEvent[] {
  return decodeAuditLines(readFileSync(path, "utf8").split("\n"));
}

/** The step an event belongs to: the last marker `/bin/true hv-step-N` seen before it. */
function stepMarker(e: HvEvent): string | undefined {
  const args = e.process?.args;
  if (e.event.action === "execve" && args?.[0] === "/bin/true" && args[1]?.startsWith("hv-step-")) return args[1].slice("hv-step-".length);
  return undefined;
}

/**
 * SigmaHQ (and hv) rules that fire on the benign session, and why. Broad "discovery" rules fire on
 * any admin who looks at the system; they are informational/low in SigmaHQ and stay listed here.
 */
const BENIGN_ALLOWED: Record<string, string> = {
  "f34047d9-20d3-4e8b-8672-0a35cc50dc71": "System Information Discovery (auditd): uptime, hostname, env (service runs each init script through `env -i …`) - an admin looking at the host. True activity, informational.",
  "42df45e7-e6e9-43b5-8f26-bec5b39cc239": "System Information Discovery: uptime, lscpu, hostname - true discovery commands an admin runs daily.",
  "9a0d8ca0-2385-4020-b6c6-cb6153ca56f3": "System Owner or User Discovery: who, w, last, hostname, id, whoami - as above.",
  "4c519226-f0cd-4471-bd2f-6fbb2bb68a79": "System Network Connections Discovery: who, w, last - as above.",
  "e7bd1cfa-b446-4c88-8afb-403bcd79e3fa": "System Network Discovery: ip a/link/route/neigh, ss, cat /etc/resolv.conf - network checks of a hypervisor admin.",
  "30aed7b6-d2c1-4eaf-9382-b6bc43e50c57": "File Deletion: rm of the session's own scratch files - any rm matches this rule.",
  "7a14080d-a048-4de8-ae58-604ce58a795b": "Remote File Copy: keyword 'rsync ' + ':' - `service --status-all` runs /etc/init.d/rsync status (with PATH=…:… on the env command line). Keyword false positive.",
  "a3b5e3e9-1b49-4119-8b8e-0344a01f21ee": "Data Compressed: tar -czf of /etc/libvirt - a backup, indistinguishable from staging by command line.",
  "60895491-50a2-42cd-b317-f9692b2cc78b": "hv Libvirt Secret Store Accessed Outside Libvirt: the same tar reads /etc/libvirt/secrets/*.xml and *.base64 - a true read of the secrets by a backup (documented in the rule's falsepositives).",
  "d3feb4ee-ff1d-4d3d-bd10-5b28a238cc72": "File and Directory Discovery: find over /etc/libvirt and /var/lib/libvirt.",
  "b45e3d6f-42c6-47d8-a478-df6bd6cf534c": "Local System Accounts Discovery: `id` (the rule matches any /id).",
  "676381a6-15ca-4d73-a9c8-6a22e970b90d": "Local Groups Discovery: `groups`.",
  "ea34fb97-e2c4-4afb-810f-785e4459b194": "Curl Usage on Linux: curl to 127.0.0.1 - the rule matches every curl (informational).",
};

describe.skipIf(!HAVE_SHARED)("SigmaHQ linux rules + rules/hv on recorded sessions", () => {
  const rules = HAVE_SHARED ? loadRules([SIGMAHQ, join(ROOT, "rules", "hv")]) : undefined;

  it("attack-session: every expected rule fires in its step", () => {
    const expected = JSON.parse(readFileSync(join(FIXTURES, "attack-session.expected.json"), "utf8")) as Step[];
    const detector = createSigmaDetector({ rules: rules! });
    const byStep = new Map<string, Detection[]>();
    let step: string | undefined;
    for (const e of decodeFile(join(FIXTURES, "attack-session.log"))) {
      step = stepMarker(e) ?? step;
      const ds = detector.onEvent(e);
      if (step !== undefined && ds.length > 0) byStep.set(step, [...(byStep.get(step) ?? []), ...ds]);
    }
    const lines: string[] = [];
    const missing: string[] = [];
    expected.forEach((s, i) => {
      const fired = new Map((byStep.get(String(i + 1)) ?? []).map((d) => [d.rule.id, d.rule.title]));
      lines.push(`step ${i + 1} ${s.step}: ${[...fired].map(([id, t]) => `${t} (${id})`).join("; ") || "-"}`);
      for (const id of s.rules) if (!fired.has(id)) missing.push(`step ${i + 1} (${s.step}): ${id}`);
    });
    console.log(`attack-session detections per step:\n  ${lines.join("\n  ")}`);
    expect(missing).toEqual([]);
    const distinct = new Set(expected.flatMap((s) => s.rules));
    expect(distinct.size).toBeGreaterThanOrEqual(15);
  });

  it("benign-session: few alerts, each one explained", () => {
    const events = decodeFile(join(FIXTURES, "benign-session.log"));
    const commands = events.filter((e) => e.event.action === "execve").length;
    const detector = createSigmaDetector({ rules: rules! });
    const fired = events.flatMap((e) => detector.onEvent(e));
    const byRule = new Map<string, Detection[]>();
    for (const d of fired) byRule.set(d.rule.id, [...(byRule.get(d.rule.id) ?? []), d]);
    const report = [...byRule].map(([id, ds]) => `${ds[0]!.rule.title} (${id}, ${basename(ds[0]!.rule.file ?? "")}): ${ds.length} — ${ds.map((d) => d.events[0]?.process?.command_line ?? d.events[0]?.process?.executable).join(" | ")}`);
    console.log(`benign-session: ${events.length} events, ${commands} execs, ${fired.length} detections from ${byRule.size} rules\n  ${report.join("\n  ")}`);
    for (const id of byRule.keys()) expect(BENIGN_ALLOWED[id], `unexplained benign detection: ${report.find((r) => r.includes(id))}`).toBeDefined();
    // 275 programs run; ~51 detections. System Shutdown/Reboot's keywords ('init' with '0'/'6')
    // once met `git init` and every init script through the numbers and paths of the exec's other
    // records (~85 detections); keywords of an exec now meet its arguments only
    // (docs/sigma-mapping.md), so it must stay silent. Only hv_libvirt_secret_access among hv's
    // rules, and nothing above 'medium' from SigmaHQ.
    expect(byRule.has("4cb57c2f-1f29-41f8-893d-8bed8e1c1d2f")).toBe(false);
    expect(fired.length).toBeLessThanOrEqual(60);
    expect(byRule.size).toBeLessThanOrEqual(16);
    const severe = fired.filter((d) => (d.severity === "high" || d.severity === "critical") && d.rule.id !== "60895491-50a2-42cd-b317-f9692b2cc78b");
    expect(severe.map((d) => d.rule.title)).toEqual([]);
  });
});
