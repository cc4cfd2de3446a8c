// The web console in a real browser: Debian's headless Chromium, driven by playwright-core (never a
// downloaded browser), against a real hv — `hv monitor` in its own process, following an audit log,
// with its API and console on loopback, its playbooks and a real SQLite store. A recorded attack
// (real auditd records) is appended to the log while the page is open:
//   - an operator logs in with a token, sees the alert arrive live, opens it (events, MITRE tags,
//     the playbook's pending action), approves the action (the agent runs it), releases a quarantine;
//   - a viewer sees no release button, and the API refuses the release the page's own session makes;
//   - the page works with the keyboard alone, at 1280×800 and at a phone's width;
//   - the browser logs no error, every answer carries the CSP, and an injected inline script does not run.
// Screenshots go to dist/test-artifacts/console/ (docs/console.png is overview-after.png).
// Needs the lock: flock /tmp/hv-system.lock npx vitest run test/web

import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createToken } from "../../src/api/tokens.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { syncFeed } from "../../src/feeds/sync.js";
import { addFeed } from "../../src/store/feeds.js";
import type { Alert } from "../../src/events/alert.js";
import { getAction, listActions } from "../../src/store/actions.js";
import { saveAlert } from "../../src/store/alerts.js";
import { activeEnforcement, enforce } from "../../src/store/enforcements.js";
import { openStore } from "../../src/store/open.js";
import { startHvAgent, type HvAgent } from "../helpers/hv-agent.js";
import { HV_BUILT } from "../helpers/hv-cli.js";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = new URL("../../", import.meta.url).pathname;
const ARTIFACTS = join(ROOT, "dist", "test-artifacts", "console");
/** Ptrace Attach To A QEMU Process (high; MITRE T1055.008), recorded with real auditd. */
const RECORDING = readFileSync(new URL("../fixtures/audit/hv/ptrace_qemu.log", import.meta.url), "utf8");
const RULE = "314cd616-17b8-486c-af38-2360820c1329";
/**
 * Flags for a closed network: otherwise Chromium keeps trying (and logging) connections it cannot
 * make. Each launch gets a fresh profile: Playwright makes a new --user-data-dir itself (and refuses
 * one passed here).
 */
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"];

function whyNot(): string | undefined {
  const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install chromium)` : !existsSync(HV_BUILT) || !existsSync(join(ROOT, "dist/web/index.html")) ? "hv is not built (npm run build)" : undefined;
  if (missing && process.env.CI === "true") throw new Error(`browser tests cannot run under CI: ${missing}`);
  if (missing) process.stderr.write(`\n*** SKIPPING the console's browser tests: ${missing} ***\n\n`);
  return missing;
}
const skip = whyNot();

let dir = "";
let agent: HvAgent;
let browser: Browser;
const tokens: Record<"viewer" | "operator", string> = { viewer: "", operator: "" };
const stateDir = (): string => agent.stateDir;
/** Browser console errors and page exceptions, per test context. */
const problems: string[] = [];

const PLAYBOOK = `id: ptrace-ask
title: Ptrace on QEMU — ask a person
enabled: true
mode: interactive
match:
  rules: [${RULE}]
actions:
  - action: notify
    with: { note: someone attached to a QEMU process }
`;

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "hv-web-"));
  mkdirSync(join(dir, "playbooks"));
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(dir, "playbooks", "ptrace.yml"), PLAYBOOK);
  agent = await startHvAgent({
    dir,
    config: [`sinks: [ { type: jsonl, path: ${join(dir, "notified.jsonl")} } ]`, "feeds: { schedule: false }"],
    args: ["--playbooks", join(dir, "playbooks")],
    // The store as a running host has it: tokens, two quarantined VMs, a day of earlier alerts, a synced feed.
    prepare: async (state) => {
      const db = openStore(join(state, "hv.db"));
      try {
        tokens.viewer = createToken(db, "vera", "viewer").token;
        tokens.operator = createToken(db, "otto", "operator").token;
        enforce(db, { kind: "quarantine", target: "web1", detail: { taps: [] }, createdBy: "playbook:vm-escape" });
        enforce(db, { kind: "quarantine", target: "web2", detail: { taps: [] }, createdBy: "user:root" });
        seedHistory(db);
        const feedFile = join(dir, "iocs.txt");
        writeFileSync(feedFile, "# a local feed\n192.0.2.10\n198.51.100.0/24\n203.0.113.7\n");
        addFeed(db, validateFeedSpec({ name: "local-iocs", url: feedFile, format: "plain", enabled: true, action: "alert" }));
        await syncFeed(db, "local-iocs", { interfaces: false });
      } finally {
        db.close();
      }
    },
  });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await agent?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Alerts of the last day, so the overview's chart has something to show. */
function seedHistory(db: ReturnType<typeof openStore>): void {
  const now = Date.now();
  const kinds: Array<[Alert["severity"], string, string]> = [
    ["critical", "hv:vm-escape", "QEMU Process Spawns A Shell Or Interpreter"],
    ["high", "flow:port-scan", "Port scan from a VM"],
    ["medium", "a60a14f5-f120-4ff6-b9fc-38106afccc35", "Kernel Module Loaded Or Unloaded"],
    ["low", "flow:beacon", "Periodic connections (beacon)"],
  ];
  for (let i = 0; i < 30; i++) {
    const [severity, rule, title] = kinds[(i * 7) % kinds.length]!;
    const at = new Date(now - ((i * 53) % 23) * 3_600_000 - (i % 5) * 600_000).toISOString();
    saveAlert(db, {
      "@timestamp": at, first_seen: at, last_seen: at, count: 1 + (i % 3), rule: { id: rule, title, source: rule.startsWith("flow:") ? "flow" : "sigma" }, severity,
      mitre: { tactics: [], techniques: [] }, entity: { kind: "vm", id: i % 2 ? "web1" : "web2" }, vm: { name: i % 2 ? "web1" : "web2" }, event_ids: [], status: i % 4 === 0 ? "acked" : "open",
    });
  }
}

async function newContext(viewport: { width: number; height: number }, watch = true): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, baseURL: agent.url });
  const page = await context.newPage();
  if (watch) {
    page.on("console", (m: ConsoleMessage) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  }
  return { context, page };
}

async function login(page: Page, token: string): Promise<void> {
  const res = await page.goto("/");
  expect(res?.status()).toBe(200);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
}

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/** Presses Tab until `reached` (at most 30 times). */
async function tabUntil(page: Page, reached: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 30; i++) {
    if (await reached()) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached the element; the focus is on ${String(await page.evaluate("document.activeElement.outerHTML.slice(0, 200)"))}`);
}

/** The document is no wider than the window (nothing needs sideways scrolling but tables, which scroll in their own box). */
async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1") as Promise<boolean>;
}

describe.skipIf(skip !== undefined)("the web console in Chromium", () => {
  test("an operator logs in, sees a live alert arrive, approves its action and releases a quarantine", async () => {
    const { context, page } = await newContext({ width: 1280, height: 800 });
    await login(page, tokens.operator);
    // The token is in no cookie the page can read, and in no storage.
    expect(await page.evaluate("document.cookie")).toBe("");
    const cookies = await context.cookies();
    expect(cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite }))).toEqual([{ name: "hv_session", httpOnly: true, sameSite: "Strict" }]);
    await page.getByText("● live").waitFor();
    await expect.poll(() => fitsWidth(page)).toBe(true);
    await page.getByRole("heading", { name: "New alerts, last 24 hours" }).waitFor();
    await page.locator("svg rect.bar-critical").first().waitFor();
    await shot(page, "overview");

    await page.getByRole("navigation").getByRole("link", { name: "Alerts" }).click();
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    const before = await page.locator("tr[data-alert-id]").count();
    // The attack happens now: the agent reads it from the audit log, the page is told by the stream.
    appendFileSync(agent.auditLog, RECORDING);
    const row = page.locator("tr.fresh", { hasText: "Ptrace Attach To A QEMU Process" });
    await row.waitFor({ timeout: 45_000 });
    expect(await page.locator("tr[data-alert-id]").count()).toBeGreaterThan(before);
    // Screen readers are told (the recording raises more than one alert; the last one is said).
    expect(await page.locator("#announcer").textContent()).toMatch(/^New (critical|high|medium|low|informational) alert: /);
    await shot(page, "alerts-live");

    await row.getByRole("link", { name: "Ptrace Attach To A QEMU Process" }).click();
    await page.getByRole("heading", { level: 1, name: "Ptrace Attach To A QEMU Process" }).waitFor();
    await page.locator(".tags .technique", { hasText: "T1055.008" }).waitFor();
    await page.getByRole("heading", { name: /^Events \(\d+\)$/ }).waitFor();
    await page.getByRole("region", { name: "Events behind the alert" }).getByText("audit").first().waitFor();
    const decisions = page.getByRole("region", { name: "Playbook decisions for this alert" });
    await decisions.getByText("ptrace-ask").waitFor({ timeout: 30_000 });
    await expect.poll(() => decisions.locator(".status-pending").count()).toBe(1);
    await shot(page, "alert-detail");
    await decisions.getByRole("button", { name: "Approve" }).click();
    await decisions.getByRole("button", { name: "Run notify now" }).click();
    // Approved here, run by the agent's engine at its next tick, and the page is told.
    await decisions.locator(".status-done").waitFor({ timeout: 30_000 });
    const db = openStore(join(stateDir(), "hv.db"));
    try {
      const row = listActions(db, { statuses: ["done"] }).find((a) => a.playbook === "ptrace-ask")!;
      expect(getAction(db, row.id)).toMatchObject({ action: "notify", status: "done", approvedBy: "api:otto" });
    } finally {
      db.close();
    }
    expect(readFileSync(join(dir, "notified.jsonl"), "utf8")).toContain("someone attached to a QEMU process");

    await page.getByRole("navigation").getByRole("link", { name: "VMs" }).click();
    const web1 = page.locator("tr[data-vm=web1]");
    await web1.getByText("quarantined").waitFor();
    await web1.getByRole("button", { name: "Release" }).click();
    await web1.getByLabel("Reason").fill("checked: false positive");
    await web1.getByRole("button", { name: "Release web1" }).click();
    await page.getByRole("status").getByText("Released web1 from quarantine.").waitFor();
    // Without libvirt only quarantined VMs are listed: web1 leaves the list, web2 stays.
    await expect.poll(() => web1.getByText("quarantined").count()).toBe(0);
    await page.locator("tr[data-vm=web2]").getByText("quarantined").waitFor();
    await shot(page, "vms-released");
    await page.getByRole("navigation").getByRole("link", { name: "Feeds" }).click();
    const feed = page.locator("tr[data-feed=local-iocs]");
    await feed.getByText("3", { exact: true }).waitFor();
    await page.getByText("syncing a feed now needs the admin role").waitFor();
    expect(await page.getByRole("button", { name: "Sync now" }).count()).toBe(0);
    await shot(page, "feeds");
    // The overview after all this: events per source, the approval gone, one quarantine left.
    await page.getByRole("navigation").getByRole("link", { name: "Overview" }).click();
    await page.getByRole("region", { name: "Events stored, by event source" }).getByText("audit").waitFor();
    await page.getByRole("region", { name: "Events dropped, by collector" }).waitFor();
    await expect.poll(() => page.locator(".cards .big").first().textContent()).not.toBe("…");
    await shot(page, "overview-after");
    const check = openStore(join(stateDir(), "hv.db"));
    try {
      expect(activeEnforcement(check, "quarantine", "web1")).toBeUndefined();
      expect(activeEnforcement(check, "quarantine", "web2")).toBeDefined();
    } finally {
      check.close();
    }
    await context.close();
    expect(problems).toEqual([]);
  }, 120_000);

  test("a viewer sees no release button, and the API refuses the release the viewer's own session sends", async () => {
    const { context, page } = await newContext({ width: 1280, height: 800 });
    await login(page, tokens.viewer);
    await page.getByRole("navigation").getByRole("link", { name: "VMs" }).click();
    const web2 = page.locator("tr[data-vm=web2]");
    await web2.getByText("quarantined").waitFor();
    expect(await page.getByRole("button", { name: "Release" }).count()).toBe(0);
    await page.getByText("releasing a quarantine, pausing, resuming and capturing forensics needs the operator role").waitFor();
    // The page would never send it; the browser can. Same session cookie, the right CSRF secret.
    const answer = (await page.evaluate(`(async () => {
      const me = await (await fetch("/api/v1/session")).json();
      const res = await fetch("/api/v1/quarantines/web2/release", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": me.csrf }, body: "{}" });
      return { status: res.status, body: await res.json() };
    })()`)) as { status: number; body: { error: string } };
    expect(answer).toMatchObject({ status: 403, body: { error: "forbidden" } });
    const db = openStore(join(stateDir(), "hv.db"));
    try {
      expect(activeEnforcement(db, "quarantine", "web2")).toBeDefined();
    } finally {
      db.close();
    }
    // Chromium itself logs the refused request ("… status of 403"): that one was asked for.
    const asked = problems.filter((p) => /status of 403/.test(p));
    expect(asked.length).toBeLessThanOrEqual(1);
    problems.splice(0, problems.length, ...problems.filter((p) => !asked.includes(p)));
    await shot(page, "vms-viewer");
    await context.close();
    expect(problems).toEqual([]);
  }, 60_000);

  test("with the keyboard alone, at a phone's width: log in, move between pages, read the alerts", async () => {
    const { context, page } = await newContext({ width: 390, height: 844 });
    await page.goto("/");
    await page.getByLabel("API token").waitFor();
    // The token field has the focus; type and press Enter.
    expect(await page.evaluate("document.activeElement && document.activeElement.id")).toBe("token");
    await page.keyboard.type(tokens.operator);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await expect.poll(() => fitsWidth(page)).toBe(true);
    await shot(page, "phone-overview");
    // A fresh load: Tab starts at the top, with the skip link, then the navigation.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement.textContent")).toBe("Skip to content");
    const focused = (): Promise<unknown> => page.evaluate("document.activeElement.textContent");
    await tabUntil(page, async () => (await focused()) === "Alerts");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    // The new page's heading has the focus, as after a page load.
    await expect.poll(() => page.evaluate("document.activeElement.tagName + ':' + document.activeElement.textContent")).toBe("H1:Alerts");
    await page.locator("tr[data-alert-id]").first().waitFor();
    await expect.poll(() => fitsWidth(page)).toBe(true);
    // Filter by keyboard: Tab to the severity list, type the first letter of "high".
    const fieldName = "document.activeElement.tagName === 'SELECT' ? document.activeElement.closest('label').firstChild.textContent.trim() : ''";
    await tabUntil(page, async () => (await page.evaluate(fieldName)) === "Severity");
    await page.keyboard.type("h");
    await expect.poll(async () => (await page.locator("tr[data-alert-id] .sev").allTextContents()).every((t) => t === "high")).toBe(true);
    expect(await page.locator("tr[data-alert-id]").count()).toBeGreaterThan(0);
    await shot(page, "phone-alerts");
    await context.close();
    expect(problems).toEqual([]);
  }, 60_000);

  test("every answer carries the CSP; an inline script injected into the page does not run", async () => {
    const { context, page } = await newContext({ width: 1280, height: 800 }, false);
    const res = await page.goto("/");
    const csp = res?.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    await page.getByLabel("API token").waitFor();
    const violations = (await page.evaluate(`new Promise((resolve) => {
      const seen = [];
      document.addEventListener("securitypolicyviolation", (e) => seen.push(e.violatedDirective));
      const s = document.createElement("script");
      s.textContent = "window.__hvInline = true";
      document.body.appendChild(s);
      const st = document.createElement("style");
      st.textContent = "body { display: none }";
      document.head.appendChild(st);
      setTimeout(() => resolve({ seen, ran: window.__hvInline === true, hidden: getComputedStyle(document.body).display === "none" }), 500);
    })`)) as { seen: string[]; ran: boolean; hidden: boolean };
    expect(violations.ran).toBe(false);
    expect(violations.hidden).toBe(false);
    expect(violations.seen).toEqual(expect.arrayContaining(["script-src-elem", "style-src-elem"]));
    await context.close();
  }, 60_000);
});
