import { LibvirtError } from "../events/libvirt-error.js";

// Names reach virsh as separate arguments (never through a shell), so metacharacters are harmless
// there; they are still refused because they end up in file names, logs and nftables comments.
// libvirt itself forbids `/` in names; a leading `-` would read as a virsh option.

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+:@-]*$/;
const MAX_NAME = 200;

/** Throws LibvirtError("invalid-argument") unless `name` is a safe libvirt object name. */
export function checkName(name: string, what = "name"): string {
  if (typeof name !== "string" || name.length === 0) throw invalid(`${what} must not be empty`);
  if (name.length > MAX_NAME) throw invalid(`${what} is longer than ${MAX_NAME} characters`);
  if (/[\x00-\x1f\x7f]/.test(name)) throw invalid(`${what} ${JSON.stringify(name)} contains control characters`);
  if (name.startsWith("-")) throw invalid(`${what} ${JSON.stringify(name)} must not start with '-'`);
  if (name.includes("/")) throw invalid(`${what} ${JSON.stringify(name)} must not contain '/'`);
  if (!NAME_RE.test(name)) throw invalid(`${what} ${JSON.stringify(name)} may only contain letters, digits and _ . + : @ - (and must start with a letter, digit or _)`);
  return name;
}

/** A file path or URI argument: any text, but no control characters and no leading `-`. */
export function checkArg(value: string, what: string): string {
  if (value.length === 0) throw invalid(`${what} must not be empty`);
  if (/[\x00-\x1f\x7f]/.test(value)) throw invalid(`${what} ${JSON.stringify(value)} contains control characters`);
  if (value.startsWith("-")) throw invalid(`${what} ${JSON.stringify(value)} must not start with '-'`);
  return value;
}

/** A MAC address as libvirt writes it (lower case, colon separated). */
export function checkMac(mac: string): string {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw invalid(`MAC address ${JSON.stringify(mac)} must look like 52:54:00:12:34:56`);
  return mac.toLowerCase();
}

/** A guest disk target like vda, sdb, hdc. */
export function checkTarget(dev: string): string {
  if (!/^[a-z]{2,3}[a-z]{1,3}[0-9]*$/.test(dev)) throw invalid(`disk target ${JSON.stringify(dev)} must look like vda, vdb, sda`);
  return dev;
}

function invalid(message: string): LibvirtError {
  return new LibvirtError("invalid-argument", message);
}
