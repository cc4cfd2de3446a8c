// Per-event evaluation state shared by every rule that looks at the event: field values are
// extracted and lower-cased once per event (not once per rule), and the text used by keyword
// searches and literal prefilters is built at most once.

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

export function toValues(raw: readonly string[]): Values {
  return { raw, lower: raw.map((v) => v.toLowerCase()) };
}

export class EvalContext {
  private readonly fields = new Map<string, Values | undefined>();
  private text: string | undefined;
  private kw: Values | undefined;
  private present: Uint8Array | undefined;

  constructor(
    readonly event: HvEvent,
    private readonly keywordSource: (e: HvEvent) => string[],
  ) {}

  get(field: FieldAccessor): Values | undefined {
    if (this.fields.has(field.key)) return this.fields.get(field.key);
    const raw = field.read(this.event);
    const values = raw === undefined ? undefined : toValues(raw);
    this.fields.set(field.key, values);
    return values;
  }

  /** What keyword searches (a selection that is a plain list of strings) look through. */
  keywords(): Values {
    this.kw ??= toValues(this.keywordSource(this.event));
    return this.kw;
  }

  /**
   * Which of the index's literals the event's text contains. The text is the event serialized
   * as JSON and lower-cased: every value any accessor returns (except derived ones) is a
   * substring of it, so a literal absent from it cannot match any field.
   */
  literals(index: { scan(text: string): Uint8Array }): Uint8Array {
    this.present ??= index.scan(JSON.stringify(this.event).toLowerCase());
    return this.present;
  }
}
