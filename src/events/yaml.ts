// The one way hv reads YAML documents that people write (Sigma rules, playbooks, the config):
// which files to read, how to read them, and each document either as data with a way to find the
// line of any path in it, or as a problem with its line. A hostile or broken document (an alias
// bomb, a syntax error, a file that is not a file) is one problem; the documents and files
// around it are still read.

import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { isCollection, isPair, LineCounter, parseAllDocuments, visit, type Document, type Node } from "yaml";

/** Aliases one document may expand: real rules and playbooks use none; a billion-laughs file needs thousands. */
export const MAX_YAML_ALIASES = 100;
/** Larger than any rule or playbook file: a bigger one is a mistake (or /dev/zero), not a rule. */
export const MAX_YAML_FILE_BYTES = 16 * 1024 * 1024;
/** Nesting no rule, playbook or config needs (theirs is under 10). */
export const MAX_YAML_DEPTH = 64;

/**
 * Every *.yml / *.yaml under the paths, sorted, for rule and playbook directories (a file given
 * directly is read whatever its name). A path that does not exist throws, naming it. A directory
 * reached twice through symbolic links is walked once; an entry that cannot be listed or is not
 * a regular file is returned too, so that reading it reports why.
 */
export function yamlFiles(paths: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (p: string, top: boolean): void => {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      if (top) throw err;
      // A dangling link or a vanished entry: reading it says so.
      if (/\.ya?ml$/i.test(p)) out.push(p);
      return;
    }
    if (st.isDirectory()) {
      const real = realpathSync(p);
      if (seen.has(real)) return;
      seen.add(real);
      let names: string[];
      try {
        names = readdirSync(p).sort();
      } catch {
        out.push(p);
        return;
      }
      for (const name of names) walk(join(p, name), false);
    } else if (top || /\.ya?ml$/i.test(p)) out.push(p);
  };
  for (const p of paths) walk(p, true);
  return out;
}

/** A file's text, or why it cannot be read (not a regular file, too large, unreadable). */
export function readYamlFile(file: string): { text: string } | { problem: string } {
  let fd: number | undefined;
  try {
    // Non-blocking: opening a FIFO must not wait for a writer (it is then refused as not a file).
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) return { problem: `cannot read: not a regular file` };
    if (st.size > MAX_YAML_FILE_BYTES) return { problem: `cannot read: ${st.size} bytes is more than the ${MAX_YAML_FILE_BYTES} a YAML file may have` };
    return { text: readFileSync(fd, "utf8") };
  } catch (err) {
    return { problem: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** One document that parsed: its YAML tree (for lines and scalar sources) and its plain data. */
export interface YamlDocument {
  doc: Document;
  data: unknown;
  /** The line the document starts on. */
  line: number;
  /** A source offset → its line. */
  lineOf(offset: number | undefined): number;
  /** The line of a path into the document (see lineOfPath). */
  lineAt(path: readonly PropertyKey[]): number;
}

export interface YamlProblem {
  line: number;
  reason: string;
}

/** Every non-empty document of a YAML text, in order: read, or its problems (each with a line). */
export function readYamlDocuments(text: string): Array<YamlDocument | { problems: YamlProblem[] }> {
  const lc = new LineCounter();
  const lineOf = (offset: number | undefined): number => (offset === undefined ? 0 : lc.linePos(offset).line);
  let docs;
  try {
    docs = parseAllDocuments(text, { keepSourceTokens: true, lineCounter: lc, uniqueKeys: true });
  } catch (err) {
    return [{ problems: [{ line: 0, reason: `YAML: ${firstLine(err)}` }] }];
  }
  if (!Array.isArray(docs)) return [];
  const out: Array<YamlDocument | { problems: YamlProblem[] }> = [];
  for (const doc of docs) {
    const line = lineOf(doc.range?.[0]);
    if (doc.errors.length > 0) {
      out.push({ problems: doc.errors.map((e) => ({ line: e.linePos?.[0].line ?? line, reason: `YAML: ${firstLine(e)}` })) });
      continue;
    }
    if (doc.contents === null) continue;
    const shape = shapeProblem(doc, lineOf);
    if (shape) {
      out.push({ problems: [shape] });
      continue;
    }
    let data: unknown;
    try {
      // Aliases are expanded here; past the limit the yaml package refuses ("Excessive alias count").
      data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch (err) {
      out.push({ problems: [{ line, reason: `YAML: ${firstLine(err)} (at most ${MAX_YAML_ALIASES} aliases per document)` }] });
      continue;
    }
    out.push({ doc, data, line, lineOf, lineAt: (path) => lineOfPath(doc, path, lineOf, line) });
  }
  return out;
}

/**
 * A single-document YAML text (a config, a template) as data (undefined when empty), or its first
 * problem with the line.
 */
export function readYamlData(text: string): { data: unknown } | { problem: YamlProblem } {
  const docs = readYamlDocuments(text);
  const first = docs[0];
  if (first === undefined) return { data: undefined };
  if ("problems" in first) return { problem: first.problems[0]! };
  if (docs.length > 1) return { problem: { line: "line" in docs[1]! ? docs[1].line : 0, reason: "YAML: more than one document (one is expected here)" } };
  return { data: first.data };
}

/**
 * What the yaml package cannot turn into data cheaply: a map key that is itself a map or a list
 * (`{{{…}}}`: each level stringifies the levels below it, 400 levels took 47 s), or deeper nesting
 * than any hv document has. Found by one walk over the parsed tree, before toJS.
 */
function shapeProblem(doc: Document, lineOf: (offset: number | undefined) => number): YamlProblem | undefined {
  let problem: YamlProblem | undefined;
  visit(doc, (_key, node, path) => {
    // The path holds the document and pairs too; only collections are levels.
    if (path.length >= MAX_YAML_DEPTH && path.filter((n) => isCollection(n)).length + (isCollection(node) ? 1 : 0) > MAX_YAML_DEPTH) {
      problem = { line: lineOf((node as Node).range?.[0]), reason: `YAML: nested more than ${MAX_YAML_DEPTH} levels deep` };
      return visit.BREAK;
    }
    if (isPair(node) && isCollection(node.key)) {
      problem = { line: lineOf(node.key.range?.[0]), reason: "YAML: a map key that is itself a map or a list (hv's documents use plain keys)" };
      return visit.BREAK;
    }
    return undefined;
  });
  return problem;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
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
