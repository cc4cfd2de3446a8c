// Per-event evaluation state shared by every rule that looks at the event: field values are
// extracted once per event (not once per rule) and lower-cased only if a case-insensitive test
// reads them, and the values keyword searches look through are gathered at most once.

import type { HvEvent } from "../../events/event.js";

/** A field's values in one event: raw, and lower-cased for case-insensitive tests. */
export interface Values {
  raw: readonly string[];
  lower: readonly string[];
}

/** How a logsource reads one Sigma field from an event. */
export interface FieldAccessor {
  /** Cache key: the same key must always read the same values. */
  key: string;
  /** The field's values, or undefined when the event does not have the field. */
  read(event: HvEvent): string[] | undefined;
  /** Values are synthesized (not substrings of the event's text), so no literal prefilter may rely on them. */
  derived?: boolean;
}

/** Values whose lower-cased twins are computed on first use (most fields are only prefiltered). */
class LazyValues implements Values {
  private lowered: readonly string[] | undefined;

  constructor(readonly raw: readonly string[]) {}

  get lower(): readonly string[] {
    this.lowered ??= this.raw.map((v) => v.toLowerCase());
    return this.lowered;
  }
}

export function toValues(raw: readonly string[]): Values {
  return new LazyValues(raw);
}

/** Cached "this event has no such field". */
const ABSENT = new LazyValues([]);

/** What a detector's prefilter knows of the current event's literals (see prefilter.ts). */
export interface LiteralGate {
  /** The gate's number for a literal (modifiers.literalKey), or -1 when it does not track it. */
  idOf(key: string): number;
  /** False only when the literal is certainly absent from its field in the current event. */
  mayHave(id: number): boolean;
}

/**
 * A test's literals, one of which its field must contain for the test to pass, with their
 * numbers in the last gate seen (a process has one detector, so they are looked up once).
 */
export class GatedLiterals {
  private gate: LiteralGate | undefined;
  /** undefined: some literal is not tracked by the gate, which then cannot rule the test out. */
  private ids: Int32Array | undefined;

  constructor(private readonly keys: readonly string[]) {}

  mayMatch(ctx: EvalContext): boolean {
    const gate = ctx.gate;
    if (gate === undefined) return true;
    if (gate !== this.gate) {
      this.gate = gate;
      const ids = this.keys.map((k) => gate.idOf(k));
      this.ids = ids.includes(-1) ? undefined : Int32Array.from(ids);
    }
    const ids = this.ids;
    if (ids === undefined) return true;
    for (let i = 0; i < ids.length; i++) if (gate.mayHave(ids[i]!)) return true;
    return false;
  }
}

export class EvalContext {
  private fields: Map<string, Values> | undefined;
  private kw: Values | undefined;
  /** Set by the detector; tests compiled elsewhere (exceptions, a rule alone) run without one. */
  gate: LiteralGate | undefined;

  constructor(
    readonly event: HvEvent,
    private readonly keywordSource: (e: HvEvent) => string[],
  ) {}

  get(field: FieldAccessor): Values | undefined {
    const fields = (this.fields ??= new Map());
    let values = fields.get(field.key);
    if (values === undefined) {
      const raw = field.read(this.event);
      values = raw === undefined ? ABSENT : new LazyValues(raw);
      fields.set(field.key, values);
    }
    return values === ABSENT ? undefined : values;
  }

  /** What keyword searches (a selection that is a plain list of strings) look through. */
  keywords(): Values {
    this.kw ??= new LazyValues(this.keywordSource(this.event));
    return this.kw;
  }
}
