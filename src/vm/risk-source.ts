// Where `hv vm audit` gets domain XML: files, or libvirt through virsh (virsh through runVirsh,
// never a shell). Sizes are capped before anything is read into memory.
import { collectCapped, InputTooLargeError, readChunksCapped } from "../events/input.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { runVirsh, type VirshCall } from "../events/virsh.js";
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

/** runVirsh, its failure saying which virsh command failed: `hv vm audit` reads several domains in one run. */
async function virsh(args: string[], call: VirshCall): Promise<string> {
  try {
    return await runVirsh(args, call);
  } catch (err) {
    if (!(err instanceof LibvirtError) || err.message.startsWith(`virsh ${args[0]}`)) throw err;
    throw new LibvirtError(err.code, `virsh ${args[0]} failed: ${err.message}`, err.libvirtMessage, err.command);
  }
}

export async function listDomainNames(uri: string): Promise<string[]> {
  const out = await virsh(["list", "--all", "--name"], { uri });
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
    out.push({ source: `libvirt:${name}`, xml: await virsh(["dumpxml", "--security-info", "--domain", name], { uri, maxBytes: MAX_XML_BYTES }) });
  }
  return out;
}
