// The risk checks' view of domain XML: the same safe parser as the rest of hv (src/vm/xml.ts:
// no DOCTYPE, size and depth caps, positions in errors), plus what a finding needs — an
// xpath-ish location for every element and its own text.
import { isElement, parseXmlDocuments as parseTrees, text as ownText, XmlError, type XmlElement as TreeElement } from "./xml.js";

export class DomainXmlError extends Error {
  override name = "DomainXmlError";
}

/** One element, with the children in document order and an xpath-ish location. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated, trimmed text content of this element only (not of its children). */
  text: string;
  /** e.g. /domain/devices/hostdev[2] — the index appears when a name repeats among siblings. */
  path: string;
}

/** Parses a document and returns its root element, or throws DomainXmlError. */
export function parseXml(xml: string): XmlElement {
  const roots = parseXmlDocuments(xml);
  if (roots.length !== 1) throw new DomainXmlError(`expected one root element, found ${roots.length}`);
  return roots[0]!;
}

/** Several root elements one after another are accepted; each root's paths start at /. */
export function parseXmlDocuments(xml: string): XmlElement[] {
  try {
    return parseTrees(xml).map((root) => toView(root, ""));
  } catch (err) {
    if (err instanceof XmlError) throw new DomainXmlError(err.message);
    throw err;
  }
}

// Depth is bounded by the parser's cap, so this recursion is too.
function toView(e: TreeElement, parentPath: string, index?: number): XmlElement {
  const path = `${parentPath}/${e.name}${index !== undefined ? `[${index}]` : ""}`;
  const kids = e.children.filter(isElement);
  const counts = new Map<string, number>();
  for (const k of kids) counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
  const seen = new Map<string, number>();
  const children = kids.map((k) => {
    const i = (seen.get(k.name) ?? 0) + 1;
    seen.set(k.name, i);
    return toView(k, path, (counts.get(k.name) ?? 0) > 1 ? i : undefined);
  });
  return { name: e.name, attrs: e.attrs, children, text: (ownText(e) ?? "").trim(), path };
}

// Small helpers the checks use instead of an XPath engine.

export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

export function children(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** All elements named `name` below `el`, in document order. */
export function descendants(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const stack = [...el.children].reverse();
  while (stack.length > 0) {
    const e = stack.pop()!;
    if (e.name === name) out.push(e);
    for (let i = e.children.length - 1; i >= 0; i--) stack.push(e.children[i]!);
  }
  return out;
}
