// YAML helpers shared by the rule and playbook loaders: which files to read, and which line of a
// document a path into it starts on (so every problem can name file and line).

import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Document, Node } from "yaml";

/**
 * Every *.yml / *.yaml under the paths, sorted, for rule and playbook directories (a file given
 * directly is read whatever its name). A path that does not exist throws, naming it.
 */
export function yamlFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, top: boolean): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) walk(join(p, name), false);
    } else if (top || /\.ya?ml$/i.test(p)) out.push(p);
  };
  for (const p of paths) walk(p, true);
  return out;
}

/**
 * The line of the deepest node that exists on `path` in `doc` (a missing key reports its parent),
 * else `fallback`. `lineOf` turns a source offset into a line (yaml's LineCounter).
 */
export function lineOfPath(doc: Document, path: readonly PropertyKey[], lineOf: (offset: number | undefined) => number, fallback: number): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as Array<string | number>, true) as Node | undefined;
    if (node && typeof node === "object" && "range" in node && node.range) return lineOf(node.range[0]);
  }
  return fallback;
}
