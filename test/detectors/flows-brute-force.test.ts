import { describe, expect, it } from "vitest";
import { createBruteForceDetector } from "../../src/detectors/flows/brute-force.js";
import { parseFlowDetectorsConfig } from "../../src/detectors/flows/config.js";
import { rng, run, T0, timeline, type Conn } from "./flows-sim.js";

const cfg = parseFlowDetectorsConfig({});
const detector = () => createBruteForceDetector(cfg.bruteForce, 1000);

function sshGuesses(n: number, everyMs: number, extra: Partial<Conn> = {}): Conn[] {
  const r = rng(3);
  return Array.from({ length: n }, (_, i) => ({ t: T0 + i * everyMs, src: "10.0.0.5", dst: "10.0.0.9", dport: 22, durationMs: 1500 + r() * 3000, sent: 2600, recv: 3400, vm: "attacker", ...extra }));
}

describe("flow:brute-force", () => {
  it("fires on ssh password guessing: many answered, short connections", () => {
    const ds = run([detector()], timeline(sshGuesses(60, 2000)));
    expect(ds.length).toBe(1);
    expect(ds[0]!.rule.id).toBe("flow:brute-force");
    expect(ds[0]!.entity).toEqual({ kind: "vm", id: "attacker" });
    expect(ds[0]!.summary).toMatch(/^10\.0\.0\.5 opened \d+ connections to 10\.0\.0\.9:22\/tcp/);
    expect(ds[0]!.rule.tags).toContain("attack.t1110");
  });

  it("fires on any port, at the higher threshold (a web login form hammered on 8443)", () => {
    const quiet = run([detector()], timeline(sshGuesses(60, 1000, { dport: 8443 })));
    expect(quiet).toEqual([]);
    const loud = run([detector()], timeline(sshGuesses(200, 1000, { dport: 8443 })));
    expect(loud.map((d) => d.rule.id)).toEqual(["flow:brute-force"]);
  });

  it("still fires when only NEW and DESTROY are reported (closing seen after TIME_WAIT)", () => {
    const ds = run([detector()], timeline(sshGuesses(40, 3000, { noUpdates: true })));
    expect(ds.length).toBe(1);
  });

  it("stays quiet on an app server's periodic database queries, loud on 240 failed ssh logins", () => {
    // A new short connection to :5432 every 3-6 s, each carrying a query (the held-back false positive: 20 in 1.6 min).
    const r = rng(21);
    let t = T0;
    const queries: Conn[] = Array.from({ length: 120 }, () => ({ t: (t += 3000 + Math.floor(r() * 3000)), src: "10.0.0.20", dst: "10.0.0.21", dport: 5432, durationMs: 40 + r() * 60, sent: 700, recv: 1300, vm: "app01" }));
    expect(run([detector()], timeline(queries))).toEqual([]);
    // A health check every 2 s on :80 (150 in 5 minutes, over otherAttempts) is a timer too.
    const checks: Conn[] = Array.from({ length: 300 }, (_, i) => ({ t: T0 + i * 2000 + Math.floor(r() * 200), src: "10.0.0.1", dst: "10.0.0.20", dport: 80, durationMs: 20, sent: 150, recv: 400 }));
    expect(run([detector()], timeline(checks))).toEqual([]);
    // 240 ssh logins that fail, four at a time as fast as the server answers.
    const guesses: Conn[] = Array.from({ length: 240 }, (_, i) => ({ t: T0 + Math.floor(i / 4) * 700 + (i % 4) * 15, src: "10.0.0.23", dst: "203.0.113.65", dport: 22, durationMs: 300 + r() * 200, sent: 2400, recv: 2900, vm: "ops01" }));
    const ds = run([detector()], timeline(guesses));
    expect(ds.length).toBe(1);
    expect(ds[0]!.summary).toMatch(/^10\.0\.0\.23 opened \d+ connections to 203\.0\.113\.65:22\/tcp/);
    expect(ds[0]!.target).toBe("203.0.113.65:22/tcp");
  });

  it("the same guessing on a database port is still loud: not a timer", () => {
    const r = rng(4);
    const guesses: Conn[] = Array.from({ length: 200 }, (_, i) => ({ t: T0 + Math.floor(i / 4) * 400 + Math.floor(r() * 100), src: "10.0.0.23", dst: "10.0.0.21", dport: 5432, durationMs: 30, sent: 250, recv: 180, vm: "ops01" }));
    expect(run([detector()], timeline(guesses)).map((d) => d.rule.id)).toEqual(["flow:brute-force"]);
  });

  it("stays quiet on a browser opening many connections to one CDN host on 443", () => {
    const r = rng(11);
    const conns: Conn[] = Array.from({ length: 60 }, () => ({ t: T0 + Math.floor(r() * 240_000), src: "10.0.0.7", dst: "203.0.113.80", dport: 443, durationMs: 500 + r() * 20_000, sent: 1500, recv: 200_000 }));
    expect(run([detector()], timeline(conns))).toEqual([]);
  });

  it("stays quiet on a few long ssh sessions and on a client retrying a closed port", () => {
    const sessions: Conn[] = Array.from({ length: 6 }, (_, i) => ({ t: T0 + i * 30_000, src: "10.0.0.7", dst: "10.0.0.9", dport: 22, durationMs: 600_000 }));
    expect(run([detector()], timeline(sessions))).toEqual([]);
    const refused: Conn[] = Array.from({ length: 100 }, (_, i) => ({ t: T0 + i * 1000, src: "10.0.0.7", dst: "10.0.0.9", dport: 5432, outcome: "refused" }));
    expect(run([detector()], timeline(refused))).toEqual([]);
  });

  it("does not count attempts outside the window (slow guessing below the rate)", () => {
    const d = detector();
    // One attempt every 20 s: 15 per 5-minute window, under 20.
    expect(run([d], timeline(sshGuesses(60, 20_000)))).toEqual([]);
    expect(d.tracked()).toBe(1);
    d.tick!(T0 + 60 * 20_000 + 3600_000);
    expect(d.tracked()).toBe(0);
  });

  it("keeps one entry per service, bounded", () => {
    const d = createBruteForceDetector(cfg.bruteForce, 200);
    const conns: Conn[] = Array.from({ length: 3000 }, (_, i) => ({ t: T0 + i, src: `10.1.${i >> 8}.${i & 255}`, dst: "10.0.0.9", dport: 22, noEnd: true }));
    run([d], timeline(conns));
    expect(d.tracked()).toBeLessThanOrEqual(200);
  });
});
