// Runs Sigma rules (the built engine in dist/) on hostile events inside a worker thread, so that
// the test driving it (hostile.ts) can stop it if a rule ever hangs again: a hang on the test's
// own thread would also stop the timers meant to catch it. Plain JavaScript because a worker runs
// compiled code. Hostile values are built here, from each rule's own pattern pieces: long repeats
// of its literal characters, what makes a backtracking matcher take exponential time.

import { parentPort } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { loadRules, loadRulesFromText, summarize } from "../../../dist/src/detectors/sigma/ruleset.js";
import { createSigmaDetector } from "../../../dist/src/detectors/sigma/detector.js";
import { EvalContext } from "../../../dist/src/detectors/sigma/context.js";
import { keywordText } from "../../../dist/src/detectors/sigma/mapping.js";
import { parseWildcards } from "../../../dist/src/detectors/sigma/patterns.js";

let set;
let compiled = [];

/** `unit` repeated to exactly `n` characters. */
function repeatTo(unit, n) {
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

/** Every string a rule's detection names (wildcards and all, |re sources too), and its fields. */
function ruleParts(rule) {
  const values = [];
  const fields = new Set();
  for (const s of rule.doc.searches) {
    for (const items of s.alternatives) {
      for (const item of items) {
        if (item.field) fields.add(item.field);
        for (const v of item.values) if (typeof v === "string") values.push(v);
      }
    }
  }
  return { values, fields: [...fields] };
}

/**
 * Units to repeat for one rule: each value's literal chunks together, all chunks but the last
 * (the near miss that makes a backtracking matcher try every split), each chunk, and each of
 * its characters alone; at most `max`.
 */
function adversarialUnits(values, max) {
  const units = new Set();
  const add = (u) => {
    if (u !== "" && units.size < max) units.add(u);
  };
  const chunksOf = values.map((v) => parseWildcards(v).filter((x) => typeof x === "string"));
  for (const chunks of chunksOf) add(chunks.join(""));
  for (const chunks of chunksOf) add(chunks.slice(0, -1).join(""));
  for (const chunks of chunksOf) for (const c of chunks.slice(0, 3)) add(c);
  for (const v of values) for (const ch of new Set(v.replace(/[*?\\]/g, ""))) add(ch);
  return [...units];
}

/**
 * `template` with every string in it (except event.* and the timestamp) replaced by `value`, the
 * usual ECS fields added when missing, and one more audit record holding each of `fields` (the
 * rule's own field names): whatever field a rule reads carries the value.
 */
function poison(template, value, fields) {
  const swap = (x) => {
    if (typeof x === "string") return value;
    if (Array.isArray(x)) return x.map(swap);
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, swap(v)]));
    return x;
  };
  const out = Object.fromEntries(Object.entries(template).map(([k, v]) => [k, k === "event" || k === "@timestamp" ? v : swap(v)]));
  const proc = { executable: value, name: value, command_line: value, args: [value, value] };
  out.process = { ...proc, working_directory: value, title: value, parent: { ...proc }, ...out.process };
  out.user = { name: value, id: value, effective: { name: value }, audit: { name: value }, group: { name: value }, ...out.user };
  out.file = { path: value, name: value, directory: value, ...out.file };
  out.destination = { ip: value, domain: value, ...out.destination };
  out.source = { ip: value, ...out.source };
  const audit = out.audit ?? { serial: 1, time: 0, records: [] };
  out.audit = { ...audit, records: [...audit.records, { type: "EXECVE", fields: Object.fromEntries(fields.map((f) => [f, value])) }] };
  return out;
}

function timed(worst, where, i, fn) {
  const t0 = performance.now();
  const hit = fn();
  const ms = performance.now() - t0;
  if (ms > worst.ms) Object.assign(worst, { ms, rule: where, event: i });
  return hit;
}

const where = (rule) => `${rule.doc.file}:${rule.doc.line} (${rule.ref.id})`;

function handle(m, progress) {
  if (m.load) {
    set = m.load.text !== undefined ? loadRulesFromText(m.load.text, m.load.file ?? "fuzz.yml") : loadRules(m.load.paths);
    compiled = [...set.rules, ...set.dormant];
    return { report: set.report, summary: summarize(set.report), ids: compiled.map((r) => r.ref.id) };
  }
  const worst = { ms: 0, rule: "", event: -1 };
  let matches = 0;
  let evaluations = 0;
  if (m.run) {
    // Given events: every compiled rule on each, or the whole detector on each.
    const { events, detector } = m.run;
    if (detector) {
      const d = createSigmaDetector({ rules: set, prefilter: detector.prefilter });
      events.forEach((e, i) => {
        progress(`detector, event ${i}`);
        matches += timed(worst, "(all rules)", i, () => d.onEvent(e).length);
        evaluations++;
      });
    } else {
      for (const rule of compiled) {
        progress(where(rule));
        events.forEach((e, i) => {
          matches += timed(worst, where(rule), i, () => rule.match(new EvalContext(e, keywordText))) ? 1 : 0;
          evaluations++;
        });
      }
    }
    return { worst, matches, evaluations };
  }
  if (m.adversarial) {
    // Each rule on events poisoned with values built from its own patterns.
    // With `together`, the whole detector (every rule, prefilter off: each one evaluated) also
    // meets the first `together` values of each rule at the largest size, on the first template.
    const { templates, sizes, maxUnits, together } = m.adversarial;
    const detector = together ? createSigmaDetector({ rules: set, prefilter: false }) : undefined;
    let values = 0;
    for (const rule of compiled) {
      progress(where(rule));
      const { values: strings, fields } = ruleParts(rule);
      adversarialUnits(strings, maxUnits).forEach((unit, k) => {
        for (const n of sizes) {
          values++;
          for (const t of templates) {
            const e = poison(t, repeatTo(unit, n), fields);
            matches += timed(worst, where(rule), values, () => rule.match(new EvalContext(e, keywordText))) ? 1 : 0;
            evaluations++;
            if (detector && k < together && n === Math.max(...sizes) && t === templates[0]) {
              timed(worst, `all rules, on a value of ${where(rule)}`, values, () => detector.onEvent(e));
              evaluations++;
            }
          }
        }
      });
    }
    return { worst, matches, evaluations, values };
  }
  throw new Error(`unknown request ${JSON.stringify(Object.keys(m))}`);
}

parentPort.on("message", (m) => {
  const t0 = performance.now();
  try {
    const result = handle(m, (text) => parentPort.postMessage({ id: m.id, progress: text }));
    parentPort.postMessage({ id: m.id, result, ms: performance.now() - t0 });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
