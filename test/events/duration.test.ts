// hv's one duration grammar (src/events/duration.ts), and the callers that add their own bounds.
import { describe, expect, it } from "vitest";
import { durationMs, formatDuration, parseDuration } from "../../src/events/duration.js";
import { parsePlaybookDuration, parseRate } from "../../src/playbooks/duration.js";

describe("durations", () => {
  it("reads every unit, decimals and a space before the unit", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("2 h")).toBe(7_200_000);
    expect(parseDuration(" 7d ")).toBe(604_800_000);
    expect(parseDuration("1w")).toBe(604_800_000);
  });

  it("refuses what is not one, and what is too large to be exact", () => {
    for (const bad of ["", "10", "m", "10 minutes", "-5m", "1e3s", "5M", "1y", "1.s", "99999999999999999999d"]) expect(parseDuration(bad), bad).toBeUndefined();
    expect(() => durationMs("10 minutes", "dedupWindow")).toThrow(/^dedupWindow must look like 30s, 10m, 2h or 7d .*got "10 minutes"/);
  });

  it("formats with the largest unit that divides", () => {
    expect(formatDuration(3_600_000)).toBe("1h");
    expect(formatDuration(90_000)).toBe("90s");
    expect(formatDuration(1500)).toBe("1500ms");
  });

  it("playbooks keep their bound of 366 days, and rates use the same grammar", () => {
    expect(parsePlaybookDuration("366d")).toBe(366 * 86_400_000);
    expect(parsePlaybookDuration("367d")).toBeUndefined();
    expect(parsePlaybookDuration("1w")).toBe(604_800_000);
    expect(parseRate("5/1h")).toEqual({ count: 5, windowMs: 3_600_000 });
    expect(parseRate("0/1h")).toBeUndefined();
    expect(parseRate("5/400d")).toBeUndefined();
  });
});
