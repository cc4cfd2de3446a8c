// Every failure of a virsh call (src/events/virsh.ts: the VM backend, the libvirt collector's
// inventory, `hv vm audit`, `hv doctor`) is a LibvirtError with a code a caller can branch on (the
// CLI prints the message, a playbook decides whether to retry) and libvirt's own words when there
// are any.

export type LibvirtErrorCode =
  | "not-found"
  | "already-exists"
  | "invalid-xml"
  | "connection-failed"
  | "operation-invalid"
  | "timeout"
  /** hv refused the input before calling libvirt (a bad name, size or path). */
  | "invalid-argument"
  | "other";

export class LibvirtError extends Error {
  override name = "LibvirtError";
  constructor(
    readonly code: LibvirtErrorCode,
    message: string,
    /** libvirt's own message (the `error: …` lines of virsh), when it gave one. */
    readonly libvirtMessage?: string,
    /** The virsh arguments, for logs. */
    readonly command?: readonly string[],
  ) {
    super(message);
  }
}

/**
 * Pulls libvirt's message out of virsh's stderr: the text after `error: ` on each such line, plus
 * continuation lines (schema validation puts its reason there), joined with ": ".
 */
export function libvirtMessageOf(stderr: string): string | undefined {
  const parts: string[] = [];
  let inError = false;
  for (const raw of stderr.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("error:")) {
      inError = true;
      const rest = line.slice("error:".length).trim();
      if (rest) parts.push(rest);
    } else if (inError && line && line !== "^" && line !== "(null)") {
      parts.push(line);
    }
  }
  return parts.length ? parts.join(": ") : undefined;
}

// libvirt's messages are stable English text (virerror.c); these patterns map its error numbers'
// wording onto our codes. Order matters: the first match wins.
const PATTERNS: [RegExp, LibvirtErrorCode][] = [
  [/failed to connect to the hypervisor|Failed to connect socket|no connection driver available|Cannot recv data|End of file while reading data|unable to connect to server|authentication (failed|unavailable)|Connection refused/i, "connection-failed"],
  [/Domain not found|Network not found|Storage pool not found|Storage volume not found|Domain snapshot not found|no domain with matching|no network with matching|no storage pool with matching|no storage vol with matching|failed to get (domain|network|pool|vol|snapshot)|could not find|not found: no (device|interface)|No such file or directory|matching (mac|target) not found|no disk found whose source|no target device|No \w+ (with|found whose) .*found|No \w+ found whose/i, "not-found"],
  [/is already active|already running|not paused/i, "operation-invalid"],
  [/already exists|is already defined|already in use|exists with uuid/i, "already-exists"],
  [/XML error|XML document failed to validate|failed to parse xml|Opening and ending tag mismatch|Extra content at the end of the document|Start tag expected|unsupported configuration|expected root element|invalid (argument|value)|missing .*source|Expected single|Couldn't find .* element|Invalid (value|attribute)|malformed/i, "invalid-xml"],
  [/Requested operation is not valid|domain is not running|is not running|not active|domain is not paused|operation failed|Operation not supported|cannot (be|delete|undefine|start)|is active|Timed out during operation|unable to execute QEMU command|internal error/i, "operation-invalid"],
];

export function codeForMessage(message: string): LibvirtErrorCode {
  for (const [re, code] of PATTERNS) if (re.test(message)) return code;
  return "other";
}
