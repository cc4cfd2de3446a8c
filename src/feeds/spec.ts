// What `hv feeds add` stores about a feed: where it comes from, its format, how often it is
// synced, and what a match does. Validated with zod so a bad spec fails with the field named.

import { z } from "zod";
import { InputError } from "../events/input.js";
import { parseNet } from "./canonical.js";
import { FEED_FORMATS, type FeedFormat } from "./formats/index.js";

export type BlockPath = "input" | "forward" | "output" | "taps";
export const BLOCK_PATHS: readonly BlockPath[] = ["input", "forward", "output", "taps"];
export const FEED_SEVERITIES = ["low", "medium", "high", "critical"] as const;

export interface FeedSpec {
  name: string;
  /** An http(s):// URL or a local path (a file, or a MISP feed directory). */
  url: string;
  format: FeedFormat | "auto";
  /** How often the agent syncs it ("30m", "6h", "1d"); none: only `hv feeds sync`. */
  schedule?: string;
  enabled: boolean;
  /** block: its addresses also go into nft sets. */
  action: "alert" | "block";
  block?: { mode: "monitor" | "enforce"; paths: BlockPath[] };
  severity?: "low" | "medium" | "high" | "critical";
  maxBytes?: number;
  timeoutMs?: number;
  /** Refuse a new set smaller than this fraction of the last good one (default 0.5). */
  minKeepRatio?: number;
  /** CIDRs never accepted from this feed, on top of the global ones. */
  allowlist?: string[];
}

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MIN_KEEP_RATIO = 0.5;

const DURATION = /^(\d+)\s*(s|m|h|d)$/;

/** "30m" → ms. */
export function parseSchedule(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`schedule must look like 30m, 6h or 1d, got ${JSON.stringify(text)}`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
}

/** An IP address or CIDR, as every allowlist of feeds takes them. */
export const cidrSchema = z.string().refine((s) => !("error" in parseNet(s)), { message: "not an IP address or CIDR" });

export const feedSpecSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/i, "a name of letters, digits, '.', '_' or '-' (at most 64)"),
    url: z.string().min(1).refine((u) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(u) || /^https?:\/\//i.test(u), { message: "only http:// and https:// URLs (or a local path)" }),
    format: z.enum(["auto", ...FEED_FORMATS] as unknown as ["auto", ...FeedFormat[]]).default("auto"),
    schedule: z
      .string()
      .regex(DURATION, "like 30m, 6h or 1d")
      .refine((s) => !DURATION.test(s) || parseSchedule(s) >= 60_000, { message: "at least 1m" })
      .optional(),
    enabled: z.boolean().default(true),
    action: z.enum(["alert", "block"]).default("alert"),
    block: z
      .object({
        mode: z.enum(["monitor", "enforce"]).default("monitor"),
        paths: z.array(z.enum(["input", "forward", "output", "taps"])).min(1).default(["input", "forward", "taps"]),
      })
      .optional(),
    severity: z.enum(FEED_SEVERITIES).optional(),
    maxBytes: z.number().int().positive().optional(),
    timeoutMs: z.number().int().positive().optional(),
    minKeepRatio: z.number().min(0).max(1).optional(),
    allowlist: z.array(cidrSchema).optional(),
  })
  .strict();

/** Validates a spec; the error names the field. */
export function validateFeedSpec(input: unknown): FeedSpec {
  const r = feedSpecSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InputError(`feed spec: ${issue.path.join(".") || "(spec)"}: ${issue.message}`);
  }
  const spec = r.data as FeedSpec;
  if (spec.action === "block" && !spec.block) spec.block = { mode: "monitor", paths: ["input", "forward", "taps"] };
  return spec;
}

export function isRemote(url: string): boolean {
  return /^https?:\/\//i.test(url);
}
