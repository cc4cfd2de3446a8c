// Template sets and options template sets of NetFlow v9 (RFC 3954 §5.2, §6.1) and IPFIX
// (RFC 7011 §3.4): each record defines a template that later data sets refer to by id.

import { ELEMENTS, lengthFits, REVERSE_KEY, REVERSE_PEN, REVERSED } from "./elements.js";
import { VARLEN, type ScopeKey, type Template, type TemplateCache, type TemplateField } from "./templates.js";

export interface TemplateSetContext {
  version: 9 | 10;
  scope: ScopeKey;
  now: number;
  cache: TemplateCache;
  /** A structural error: the packet is counted malformed and the reason kept. */
  malformed(reason: string): void;
  learned(options: boolean): void;
  withdrew(): void;
}

/** Largest record a template may describe: a set is at most 65535 bytes with a 4-byte header. */
const MAX_RECORD = 0xffff - 4;

/** Reads every template (or options template) record in the set body [start, end). */
export function readTemplateSet(buf: Buffer, start: number, end: number, options: boolean, ctx: TemplateSetContext): void {
  let off = start;
  const where = (): string => `v${ctx.version === 10 ? "10 (IPFIX)" : "9"} ${options ? "options template" : "template"} set, offset ${off}`;
  while (end - off >= 4) {
    // Sets are padded to a 4-byte boundary with zeros; nothing after zeros is a template.
    if (allZero(buf, off, end)) return;
    const id = buf.readUInt16BE(off);
    const parsed = options ? readOptionsHeader(buf, off, end, ctx) : readTemplateHeader(buf, off, ctx);
    if (typeof parsed === "string") return ctx.malformed(`${where()}: ${parsed}`);
    if (parsed.withdraw) {
      if (id === (options ? 3 : 2)) ctx.cache.withdrawAll(ctx.scope, options);
      else ctx.cache.withdraw(ctx.scope, id);
      ctx.withdrew();
      off += 4;
      continue;
    }
    off += parsed.headerLength;
    const fields: TemplateField[] = [];
    for (let i = 0; i < parsed.fieldCount; i++) {
      if (end - off < 4) return ctx.malformed(`${where()}: template ${id} declares ${parsed.fieldCount} fields, the set ends after ${i}`);
      const raw = buf.readUInt16BE(off);
      const length = buf.readUInt16BE(off + 2);
      off += 4;
      let pen = 0;
      // The enterprise bit exists only in IPFIX; in v9 a type above 32767 is just a vendor type.
      if (ctx.version === 10 && raw & 0x8000) {
        if (end - off < 4) return ctx.malformed(`${where()}: template ${id} field ${i} has its enterprise number cut off by the set end`);
        pen = buf.readUInt32BE(off);
        off += 4;
      }
      // v9 scope field types (1 system, 2 interface, …) are their own namespace, not elements.
      const v9Scope = ctx.version === 9 && options && i < parsed.scopeCount;
      fields.push(v9Scope ? { id: raw, pen: 0, length } : fieldOf(ctx.version === 10 ? raw & 0x7fff : raw, pen, length));
    }
    const problem = templateProblem(id, fields, parsed.scopeCount);
    if (problem) {
      ctx.malformed(`${where()}: ${problem}`);
      continue;
    }
    ctx.cache.set(ctx.scope, buildTemplate(id, options, parsed.scopeCount, fields), ctx.now);
    ctx.learned(options);
  }
}

interface Header {
  withdraw: boolean;
  fieldCount: number;
  scopeCount: number;
  headerLength: number;
}

function readTemplateHeader(buf: Buffer, off: number, ctx: TemplateSetContext): Header | string {
  const id = buf.readUInt16BE(off);
  const fieldCount = buf.readUInt16BE(off + 2);
  if (fieldCount === 0) {
    // IPFIX: a template record with no fields withdraws that template (RFC 7011 §8.1); v9 has no withdrawal.
    if (ctx.version === 10) return { withdraw: true, fieldCount: 0, scopeCount: 0, headerLength: 4 };
    return `template ${id} has 0 fields`;
  }
  return { withdraw: false, fieldCount, scopeCount: 0, headerLength: 4 };
}

function readOptionsHeader(buf: Buffer, off: number, end: number, ctx: TemplateSetContext): Header | string {
  const id = buf.readUInt16BE(off);
  if (ctx.version === 10) {
    const fieldCount = buf.readUInt16BE(off + 2);
    if (fieldCount === 0) return { withdraw: true, fieldCount: 0, scopeCount: 0, headerLength: 4 };
    if (end - off < 6) return `options template ${id} header is cut off by the set end`;
    const scopeCount = buf.readUInt16BE(off + 4);
    if (scopeCount > fieldCount) return `options template ${id} has ${scopeCount} scope fields but only ${fieldCount} fields`;
    return { withdraw: false, fieldCount, scopeCount, headerLength: 6 };
  }
  // v9 gives the scope and option parts as byte lengths of their (type, length) pairs.
  if (end - off < 6) return `options template ${id} header is cut off by the set end`;
  const scopeBytes = buf.readUInt16BE(off + 2);
  const optionBytes = buf.readUInt16BE(off + 4);
  if (scopeBytes % 4 !== 0 || optionBytes % 4 !== 0) return `options template ${id} has scope length ${scopeBytes} / option length ${optionBytes}, not multiples of 4`;
  if (scopeBytes + optionBytes === 0) return `options template ${id} has 0 fields`;
  return { withdraw: false, fieldCount: (scopeBytes + optionBytes) / 4, scopeCount: scopeBytes / 4, headerLength: 6 };
}

function fieldOf(id: number, pen: number, length: number): TemplateField {
  const field: TemplateField = { id, pen, length };
  if (length === VARLEN) return field;
  if (pen === 0) {
    const info = ELEMENTS.get(id);
    if (info && lengthFits(info.kind, length)) {
      field.key = id;
      field.kind = info.kind;
    }
  } else if (pen === REVERSE_PEN && REVERSED.has(id) && length >= 1 && length <= 8) {
    field.key = REVERSE_KEY + id;
    field.kind = "unsigned";
  }
  return field;
}

function templateProblem(id: number, fields: TemplateField[], scopeCount: number): string | undefined {
  if (id < 256) return `template id ${id} is reserved (data templates are 256 and above)`;
  let fixed = 0;
  let varlen = false;
  for (const f of fields) {
    if (f.length === VARLEN) varlen = true;
    else fixed += f.length;
  }
  if (fixed === 0 && !varlen) return `template ${id}: every field has length 0, so its records would have length 0`;
  if (fixed > MAX_RECORD) return `template ${id}: field lengths add up to ${fixed} bytes, more than a set can hold (${MAX_RECORD})`;
  if (scopeCount > fields.length) return `template ${id}: ${scopeCount} scope fields of ${fields.length}`;
  return undefined;
}

function buildTemplate(id: number, options: boolean, scopeCount: number, fields: TemplateField[]): Template {
  let minLength = 0;
  let varlen = false;
  for (const f of fields) {
    if (f.length === VARLEN) {
      varlen = true;
      minLength += 1;
    } else minLength += f.length;
  }
  return { id, options, scopeCount, fields, minLength, varlen };
}

export function allZero(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}
