// Text hv prints comes from whoever named a binary, a file, a VM or a feed entry: an attacker can
// put ESC sequences in it that clear the operator's screen, retitle the window or fake lines. Every
// byte hv writes to stdout or stderr goes through writeSafe (the CLI's LineWriter, progress bars and
// the live view included), which shows control characters as \uXXXX instead of letting the terminal
// act on them. The same \uXXXX escape is valid inside a JSON string and means the same character,
// so JSON lines stay valid JSON with the same values.

// C0 controls except newline, DEL, C1 controls (0x9b is a one-byte CSI on some terminals), and the
// Unicode controls that reorder or break lines on screen (bidi overrides and isolates, LRM/RLM,
// the Arabic letter mark, the line and paragraph separators, the BOM).
const UNSAFE_KEEPING_NEWLINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** One value on one line (a table cell, a field of a one-line record): every control character escaped, newlines too. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** Text of several lines hv composed: every control character escaped except the newlines between its lines. */
export function terminalSafeLines(text: string): string {
  return text.replace(UNSAFE_KEEPING_NEWLINES, escapeChar);
}

/** A copy of `value` with every string in it made terminalSafe (for views that render whole records). */
export function terminalSafeDeep<T>(value: T): T {
  if (typeof value === "string") return terminalSafe(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => terminalSafeDeep(v)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = terminalSafeDeep(v);
    return out as T;
  }
  return value;
}

/** The one way hv writes text to stdout or stderr. */
export function writeSafe(stream: NodeJS.WritableStream, text: string, done?: (err?: Error | null) => void): boolean {
  return stream.write(terminalSafeLines(text), done);
}

/** A line (or lines) on stderr, made safe. */
export function printErr(text: string): void {
  writeSafe(process.stderr, text.endsWith("\n") ? text : `${text}\n`);
}
