// What `hv feeds add` stores about a feed: where it comes from, its format, how often it is
// synced, and what a match does. Validated with zod so a bad spec fails with the field named.

import { z } from "zod";
import { parseDuration } from "../events/duration.js";
import { InputError } from "../events/input.js";
import { parseNet } from "./canonical.js";
import { FEED_FORMATS, FEED_SEVERITIES, type FeedFormat, type FeedSpec } from "../events/feed.js";

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MIN_KEEP_RATIO = 0.5;

/** The shortest schedule: a feed synced more often than this is a mistake, and a load on its publisher. */
const MIN_SCHEDULE_MS = 60_000;

/** An IP address or CIDR, as every allowlist of feeds takes them. */
export const cidrSchema = z.string().refine((s) => !("error" in parseNet(s)), { message: "not an IP address or CIDR" });

export const feedSpecSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/i, "a name of letters, digits, '.', '_' or '-' (at most 64)"),
    url: z.string().min(1).refine((u) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(u) || /^https?:\/\//i.test(u), { message: "only http:// and https:// URLs (or a local path)" }),
    format: z.enum(["auto", ...FEED_FORMATS] as unknown as ["auto", ...FeedFormat[]]).default("auto"),
    schedule: z
      .string()
      .refine((s) => parseDuration(s) !== undefined, "like 30m, 6h or 1d")
      .refine((s) => (parseDuration(s) ?? MIN_SCHEDULE_MS) >= MIN_SCHEDULE_MS, { message: "at least 1m" })
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
