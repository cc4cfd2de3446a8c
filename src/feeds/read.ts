// Reading a feed from the local filesystem: one file in any format, or a MISP feed directory
// (manifest.json naming <uuid>.json event files).

import { readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseFeed, type FeedFormat, type ParsedFeed } from "./formats/index.js";
import { addMispEvent, isManifest, manifestEvents } from "./formats/misp.js";
import { FeedBuilder } from "./formats/result.js";

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

function readMispDirectory(dir: string): ParsedFeed {
  let manifest: unknown;
  const manifestPath = join(dir, "manifest.json");
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch (err) {
    throw new Error(`${manifestPath}: ${(err as Error).message}`);
  }
  return parseMispFeed(manifest, (uuid) => readFileSync(join(dir, `${uuid}.json`), "utf8"), dir);
}

/** A local feed file, a MISP feed directory, or a MISP manifest.json (its directory is read). */
export function readFeedFile(path: string, opts: { format?: FeedFormat | "auto"; now?: number } = {}): ParsedFeed {
  if (statSync(path).isDirectory()) return readMispDirectory(path);
  const text = readFileSync(path, "utf8");
  if (basename(path) === "manifest.json" && (opts.format ?? "auto") !== "stix") {
    try {
      if (isManifest(JSON.parse(text))) return readMispDirectory(dirname(path));
    } catch {
      // not JSON: parsed below as whatever it is
    }
  }
  return parseFeed(text, { format: opts.format, source: path, now: opts.now });
}
