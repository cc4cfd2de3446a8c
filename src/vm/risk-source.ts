// Where `hv vm audit` gets domain XML: files, or libvirt through virsh (DESIGN.md: virsh through
// execa, never a shell). Sizes are capped before anything is read into memory.
import { collectCapped, InputTooLargeError, readChunksCapped } from "../events/input.js";
import { runProgram } from "../events/programs.js";
import { MAX_XML_BYTES } from "./xml.js";
import { DomainXmlError } from "./risk-xml.js";

export interface XmlInput {
  /** A file path or libvirt:NAME, shown in reports. */
  source: string;
  xml: string;
}

export async function readXmlFile(path: string, maxBytes = MAX_XML_BYTES): Promise<XmlInput> {
  try {
    return { source: path, xml: (await collectCapped(readChunksCapped(path, { cap: maxBytes }), maxBytes, path)).toString("utf8") };
  } catch (err) {
    throw err instanceof InputTooLargeError ? new DomainXmlError(`XML document is too large: ${err.message}`) : (err as Error);
  }
}

export class VirshError extends Error {
  override name = "VirshError";
}

async function virsh(uri: string, args: string[], maxBytes: number): Promise<string> {
  let r;
  try {
    r = await runProgram("virsh", ["-q", "-c", uri, ...args], { maxBuffer: maxBytes, timeout: 30_000, stripFinalNewline: false });
  } catch (err) {
    throw new VirshError((err as Error).message);
  }
  if (r.isMaxBuffer) throw new VirshError(`virsh ${args[0]}: output is larger than ${maxBytes} bytes`);
  if (r.exitCode === 0) return r.stdout;
  const msg = r.stderr.replace(/^error:\s*/gm, "").trim().split("\n").join("; ");
  throw new VirshError(`virsh ${args[0]} failed: ${msg || r.shortMessage || `exit code ${r.exitCode}`}`);
}

export async function listDomainNames(uri: string): Promise<string[]> {
  const out = await virsh(uri, ["list", "--all", "--name"], MAX_XML_BYTES);
  return out.split("\n").map((s) => s.trim()).filter(Boolean);
}

/**
 * The live XML of each domain (the running configuration, with the security labels libvirt
 * really applied). --security-info is needed to see whether graphics have a password; the
 * password itself never leaves this function's caller's findings.
 */
export async function readDomainXml(uri: string, names?: readonly string[]): Promise<XmlInput[]> {
  const list = names && names.length > 0 ? names : await listDomainNames(uri);
  const out: XmlInput[] = [];
  for (const name of list) {
    // --domain keeps a name such as "--help" or "-x" from being read as an option.
    out.push({ source: `libvirt:${name}`, xml: await virsh(uri, ["dumpxml", "--security-info", "--domain", name], MAX_XML_BYTES) });
  }
  return out;
}
