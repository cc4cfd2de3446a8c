// Reading playbooks: files and directories (recursively, *.yml / *.yaml), one playbook per YAML
// document. Every problem names the file, the line and the field; a bad playbook is skipped and
// counted, the others load.

import type { ActionRegistry } from "./action.js";
import { parsePlaybookDuration, parseRate } from "./duration.js";
import { DEFAULT_COOLDOWN_MS, playbookSchema, stepSchema, toMatch, type Playbook, type PlaybookStep, type RawPlaybook } from "./schema.js";
import { readYamlDocuments, readYamlFile, yamlFiles, type YamlDocument } from "../events/yaml.js";

export interface PlaybookProblem {
  file: string;
  line: number;
  /** The field's path (`actions.1.with.seconds`); absent for a whole-document problem. */
  field?: string;
  message: string;
  /** The playbook's id when it got that far. */
  playbook?: string;
}

export interface LoadedPlaybooks {
  playbooks: Playbook[];
  problems: PlaybookProblem[];
  /** Playbooks (documents) skipped because of problems. */
  skipped: number;
  files: string[];
}

/** `file:line: field: message`, the form every command prints. */
export function formatProblem(p: PlaybookProblem): string {
  return `${p.file}:${p.line}: ${p.field ? `${p.field}: ` : ""}${p.message}`;
}


export function loadPlaybooks(paths: string[], registry: ActionRegistry): LoadedPlaybooks {
  const result: LoadedPlaybooks = { playbooks: [], problems: [], skipped: 0, files: [] };
  let files: string[];
  try {
    files = yamlFiles(paths);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    result.problems.push({ file: e.path ?? paths.join(","), line: 0, message: `cannot read: ${e.code ?? e.message}` });
    return result;
  }
  const seen = new Map<string, Playbook>();
  for (const file of files) {
    result.files.push(file);
    const read = readYamlFile(file);
    if ("problem" in read) {
      result.problems.push({ file, line: 0, message: read.problem });
      result.skipped++;
      continue;
    }
    for (const r of parsePlaybooks(read.text, file, registry)) {
      if ("problems" in r) {
        result.problems.push(...r.problems);
        result.skipped++;
        continue;
      }
      const earlier = seen.get(r.id);
      if (earlier) {
        result.problems.push({ file, line: r.line, field: "id", message: `${r.id} is already defined at ${earlier.file}:${earlier.line}`, playbook: r.id });
        result.skipped++;
        continue;
      }
      seen.set(r.id, r);
      result.playbooks.push(r);
    }
  }
  return result;
}

/** Every playbook of one YAML text, or the problems of the ones that are bad. */
export function parsePlaybooks(text: string, file: string, registry: ActionRegistry): Array<Playbook | { problems: PlaybookProblem[] }> {
  return readYamlDocuments(text).map((y) => ("problems" in y ? { problems: y.problems.map((p) => ({ file, line: p.line, message: p.reason })) } : toPlaybook(y, file, registry)));
}

function toPlaybook(y: YamlDocument, file: string, registry: ActionRegistry): Playbook | { problems: PlaybookProblem[] } {
  const { data, lineAt, line: start } = y;
  const id = data && typeof data === "object" && typeof (data as { id?: unknown }).id === "string" ? (data as { id: string }).id : undefined;
  const problem = (path: PropertyKey[], message: string): PlaybookProblem => ({
    file,
    line: lineAt(path),
    ...(path.length > 0 ? { field: path.map(String).join(".") } : {}),
    message,
    ...(id ? { playbook: id } : {}),
  });
  if (!data || typeof data !== "object" || Array.isArray(data)) return { problems: [problem([], "a playbook must be a YAML map")] };
  const parsed = playbookSchema.safeParse(data);
  if (!parsed.success) {
    // Every error at once: the actions' own checks too, for the steps whose shape is right.
    const problems = parsed.error.issues.map((i) => problem(i.path, i.message));
    const rawActions = (data as { actions?: unknown }).actions;
    const top = data as RawPlaybook;
    if (Array.isArray(rawActions)) {
      rawActions.forEach((item, i) => {
        const s = stepSchema.safeParse(item);
        if (s.success) toStep(top, s.data, registry, 0, (path, message) => problems.push(problem(["actions", i, ...path], message)));
      });
    }
    return { problems: problems.sort((a, b) => a.line - b.line) };
  }
  const raw = parsed.data;
  const problems: PlaybookProblem[] = [];
  const steps: PlaybookStep[] = [];
  raw.actions.forEach((s, i) => {
    const step = toStep(raw, s, registry, lineAt(["actions", i]), (path, message) => problems.push(problem(["actions", i, ...path], message)));
    if (step) steps.push(step);
  });
  (raw.always_confirm ?? []).forEach((name, i) => {
    if (!registry.has(name)) problems.push(problem(["always_confirm", i], `unknown action ${name}`));
  });
  if (problems.length > 0) return { problems };
  const pb: Playbook = {
    id: raw.id,
    title: raw.title,
    enabled: raw.enabled ?? true,
    mode: raw.mode,
    match: toMatch(raw.match),
    steps,
    cooldownMs: raw.cooldown === undefined ? DEFAULT_COOLDOWN_MS : parsePlaybookDuration(raw.cooldown)!,
    delayMs: raw.delay === undefined ? 0 : parsePlaybookDuration(raw.delay)!,
    file,
    line: start,
  };
  if (raw.description) pb.description = raw.description;
  if (raw.rate_limit) pb.rateLimit = parseRate(raw.rate_limit)!;
  return pb;
}

function toStep(raw: RawPlaybook, s: RawPlaybook["actions"][number], registry: ActionRegistry, line: number, report: (path: PropertyKey[], message: string) => void): PlaybookStep | undefined {
  const def = registry.get(s.action);
  if (!def) {
    report(["action"], `unknown action ${s.action} (known: ${[...registry.keys()].sort().join(", ")})`);
    return undefined;
  }
  const params = (def.params as { safeParse(v: unknown): { success: true; data: unknown } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }).safeParse(s.with ?? {});
  if (!params.success) {
    for (const i of params.error.issues) report(["with", ...i.path], i.message);
    return undefined;
  }
  if (s.ttl !== undefined && !def.reversible) {
    report(["ttl"], `${s.action} cannot be undone, so it has no ttl`);
    return undefined;
  }
  const step: PlaybookStep = {
    action: s.action,
    params: (params.data ?? {}) as Record<string, unknown>,
    alwaysConfirm: s.always_confirm === true || (Array.isArray(raw.always_confirm) && raw.always_confirm.includes(s.action)),
    line,
  };
  const ttl = s.ttl ?? (def.reversible ? raw.ttl : undefined);
  const ttlMs = typeof ttl === "string" ? parsePlaybookDuration(ttl) : undefined;
  if (ttlMs !== undefined) step.ttlMs = ttlMs;
  return step;
}
