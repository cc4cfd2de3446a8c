// Reading a feed from the local filesystem: one file in any format, or a MISP feed directory
// (manifest.json naming <uuid>.json event files).

import { statSync } from "node:fs";
import { readFileCapped, readTextCapped } from "../events/input.js";
import { basename, dirname, join } from "node:path";
import { parseFeed, type ParsedFeed } from "./formats/index.js";
import type { FeedFormat } from "../events/feed.js";
import { addMispEvent, isManifest, manifestEvents } from "./formats/misp.js";
import { FeedBuilder } from "./formats/result.js";
import { DEFAULT_MAX_BYTES } from "./spec.js";

/** Parses the events a MISP manifest names; `load` returns an event file's text or throws. */
export function parseMispFeed(manifest: unknown, load: (uuid: string) => string, source: string): ParsedFeed {
  const b = new FeedBuilder("misp", source);
  if (!isManifest(manifest)) {
    b.truncated("manifest.json is not a MISP manifest (an object keyed by event uuid)");
    return b.done();
  }
  for (const uuid of manifestEvents(manifest)) {
    let doc: unknown;
    try {
      doc = JSON.parse(load(uuid));
    } catch (err) {
      b.truncated(`event ${uuid}: ${(err as Error).message}`);
      continue;
    }
    addMispEvent(b, doc, `${source}/${uuid}.json`);
  }
  return b.done();
}

/** A MISP feed directory: manifest.json and the event files it names, `cap` bytes in all. */
export function readMispDirectory(dir: string, cap = DEFAULT_MAX_BYTES): ParsedFeed {
  let left = cap;
  const read = (path: string): string => {
    const buf = readFileCapped(path, left, path);
    left -= buf.length;
    return buf.toString("utf8");
  };
  let manifest: unknown;
  const manifestPath = join(dir, "manifest.json");
  try {
    manifest = JSON.parse(read(manifestPath));
  } catch (err) {
    throw new Error(`${manifestPath}: ${(err as Error).message}`);
  }
  return parseMispFeed(manifest, (uuid) => read(join(dir, `${uuid}.json`)), dir);
}

/** A local feed file, a MISP feed directory, or a MISP manifest.json (its directory is read); at most `cap` bytes. */
export function readFeedFile(path: string, opts: { format?: FeedFormat | "auto"; now?: number; cap?: number } = {}): ParsedFeed {
  const cap = opts.cap ?? DEFAULT_MAX_BYTES;
  if (statSync(path).isDirectory()) return readMispDirectory(path, cap);
  const text = readTextCapped(path, cap, path);
  if (basename(path) === "manifest.json" && (opts.format ?? "auto") !== "stix") {
    try {
      if (isManifest(JSON.parse(text))) return readMispDirectory(dirname(path), cap);
    } catch {
      // not JSON: parsed below as whatever it is
    }
  }
  return parseFeed(text, { format: opts.format, source: path, now: opts.now });
}
