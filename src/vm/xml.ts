import { createRequire } from "node:module";
import type { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { LibvirtError } from "../events/libvirt-error.js";

// One small element tree for all libvirt XML (domain, network, pool, volume, snapshot). Parsing
// keeps element order, attributes, comments and unknown elements, so editing a definition and
// writing it back loses nothing the model does not know about.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | { text: string } | { comment: string };

/** Larger than any real definition (libvirt's biggest test domains are ~100 KB); stops a hostile file early. */
export const MAX_XML_BYTES = 4 * 1024 * 1024;
/** Domain XML is rarely deeper than 8; the cap also bounds the recursion below. */
export const MAX_XML_DEPTH = 64;

export class XmlError extends Error {
  override name = "XmlError";
}

/**
 * fast-xml-parser, loaded on first use from its one-file CommonJS build: its ESM build is ~25
 * modules (~45 ms at start), which `hv vm list` and every command that only imports this module
 * would pay without parsing any XML (bench/startup.ts).
 */
interface XmlLibrary {
  parser: XMLParser;
  builder: XMLBuilder;
  validator: typeof XMLValidator;
}
let library: XmlLibrary | undefined;

function xmlLibrary(): XmlLibrary {
  if (library) return library;
  const fxp = createRequire(import.meta.url)("fast-xml-parser") as typeof import("fast-xml-parser");
  library = { parser: new fxp.XMLParser(PARSER_OPTIONS), builder: new fxp.XMLBuilder(BUILDER_OPTIONS), validator: fxp.XMLValidator };
  return library;
}

const PARSER_OPTIONS: ConstructorParameters<typeof XMLParser>[0] = {
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  preserveOrder: true,
  // Entities stay as written (no DTD, no expansion bombs); the five predefined ones and numeric
  // references are decoded by hand below.
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  commentPropName: "#comment",
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_XML_DEPTH,
};

const BUILDER_OPTIONS: ConstructorParameters<typeof XMLBuilder>[0] = {
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  preserveOrder: true,
  format: true,
  indentBy: "  ",
  suppressEmptyNode: true,
  commentPropName: "#comment",
  processEntities: true,
};

/** Parses one XML document into its root element. Throws XmlError on anything malformed or hostile. */
export function parseXml(xml: string): XmlElement {
  const roots = parseXmlDocuments(xml);
  if (roots.length !== 1 || !roots[0]) throw new XmlError(`expected one root element, found ${roots.length}`);
  return roots[0];
}

/**
 * Like parseXml, but accepts several root elements one after another — what
 * `virt-install --print-xml` writes (install-time then boot-time domain), or two dumpxml outputs
 * appended to one file.
 */
export function parseXmlDocuments(xml: string): XmlElement[] {
  const bytes = Buffer.byteLength(xml);
  if (bytes > MAX_XML_BYTES) throw new XmlError(`XML document is too large: ${bytes} bytes, the limit is ${MAX_XML_BYTES}`);
  // libvirt never writes a DTD; refusing it outright removes entity expansion ("billion laughs")
  // and external entities (file:///etc/passwd) without trusting any parser setting.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new XmlError("XML with a DOCTYPE or ENTITY declaration is not accepted (it could expand without bound or read host files)");
  if (!/<[A-Za-z_]/.test(xml)) throw new XmlError("not an XML document: no element found");
  // The validator walks the text without recursion, so it is safe before the depth cap applies.
  let text = xml;
  let valid = xmlLibrary().validator.validate(text);
  if (valid !== true && /multiple possible root/i.test(valid.err.msg)) {
    // Wrap the roots in one element, on the same line, so positions in errors stay right.
    text = `<hv-roots>${xml.replace(/^\s*<\?xml[^>]*\?>/, "")}</hv-roots>`;
    valid = xmlLibrary().validator.validate(text);
  }
  if (valid !== true) throw new XmlError(`malformed XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`);
  let raw: RawNode[];
  try {
    raw = xmlLibrary().parser.parse(text) as RawNode[];
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new XmlError(/nested/i.test(msg) ? `XML nests deeper than ${MAX_XML_DEPTH} levels` : `cannot parse XML: ${msg}`);
  }
  let roots = raw.map(fromRaw).filter(isElement);
  if (text !== xml) {
    const wrapper = roots[0];
    if (wrapper?.children.some((c) => "text" in c && c.text.trim() !== "")) throw new XmlError("malformed XML: text outside the root element");
    roots = wrapper ? wrapper.children.filter(isElement) : [];
  }
  if (roots.length === 0) throw new XmlError("not an XML document: no element found");
  return roots;
}

/** parseXml for a libvirt definition whose root must be `<expected>`; errors are LibvirtError("invalid-xml"). */
export function parseLibvirtXml(xml: string, expected: string): XmlElement {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    if (err instanceof XmlError) throw new LibvirtError("invalid-xml", err.message);
    throw err;
  }
  if (root.name !== expected) throw new LibvirtError("invalid-xml", `expected a <${expected}> definition, found <${root.name}>`);
  return root;
}

export function buildXml(root: XmlElement): string {
  return (xmlLibrary().builder.build([toRaw(root)]) as string).trim() + "\n";
}

// ---- tree helpers ---------------------------------------------------------------------------

export function isElement(n: XmlNode): n is XmlElement {
  return (n as XmlElement).name !== undefined;
}

export function el(name: string, attrs: Record<string, string | number | undefined> = {}, children: (XmlNode | undefined)[] = []): XmlElement {
  const a: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) a[k] = String(v);
  return { name, attrs: a, children: children.filter((c): c is XmlNode => c !== undefined) };
}

/** An element holding only text, e.g. <name>vm1</name>. */
export function textEl(name: string, text: string | number, attrs: Record<string, string | number | undefined> = {}): XmlElement {
  return el(name, attrs, [{ text: String(text) }]);
}

export function elements(parent: XmlElement, name?: string): XmlElement[] {
  return parent.children.filter((c): c is XmlElement => isElement(c) && (name === undefined || c.name === name));
}

export function child(parent: XmlElement | undefined, name: string): XmlElement | undefined {
  return parent ? elements(parent, name)[0] : undefined;
}

/** Follows a path of element names, e.g. path(domain, "os", "kernel"). */
export function path(parent: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let cur = parent;
  for (const n of names) cur = child(cur, n);
  return cur;
}

export function text(e: XmlElement | undefined): string | undefined {
  if (!e) return undefined;
  const parts = e.children.filter((c): c is { text: string } => "text" in c).map((c) => c.text);
  return parts.length ? parts.join("") : undefined;
}

/** The child element `name`, created (appended) if missing. */
export function ensureChild(parent: XmlElement, name: string): XmlElement {
  const found = child(parent, name);
  if (found) return found;
  const made = el(name);
  parent.children.push(made);
  return made;
}

export function setText(e: XmlElement, value: string | number): void {
  e.children = [...e.children.filter((c) => !("text" in c)), { text: String(value) }];
}

export function removeChildren(parent: XmlElement, predicate: (e: XmlElement) => boolean): number {
  const before = parent.children.length;
  parent.children = parent.children.filter((c) => !(isElement(c) && predicate(c)));
  return before - parent.children.length;
}

// ---- fast-xml-parser's ordered form ---------------------------------------------------------

type RawNode = Record<string, unknown>;

function fromRaw(raw: RawNode): XmlNode {
  if ("#text" in raw) return { text: decodeEntities(String(raw["#text"])) };
  if ("#comment" in raw) {
    const inner = raw["#comment"] as RawNode[];
    return { comment: inner.map((c) => String(c["#text"] ?? "")).join("") };
  }
  const name = Object.keys(raw).find((k) => k !== ":@");
  if (name === undefined) throw new XmlError("empty node in parsed XML");
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries((raw[":@"] as Record<string, unknown> | undefined) ?? {})) attrs[k.slice(2)] = decodeEntities(String(v));
  return { name, attrs, children: (raw[name] as RawNode[]).map(fromRaw) };
}

function toRaw(n: XmlNode): RawNode {
  if ("text" in n) return { "#text": n.text };
  if ("comment" in n) return { "#comment": [{ "#text": n.comment }] };
  const out: RawNode = { [n.name]: n.children.map(toRaw) };
  if (Object.keys(n.attrs).length) out[":@"] = Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [`@_${k}`, v]));
  return out;
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ent: string) => {
    if (ent.startsWith("#x")) return safeCodePoint(parseInt(ent.slice(2), 16), whole);
    if (ent.startsWith("#")) return safeCodePoint(parseInt(ent.slice(1), 10), whole);
    return NAMED[ent] ?? whole;
  });
}

function safeCodePoint(cp: number, fallback: string): string {
  return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : fallback;
}
