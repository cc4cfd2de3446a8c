import { LibvirtError } from "../events/libvirt-error.js";
import { buildXml, child, el, elements, parseLibvirtXml, text, textEl, type XmlElement } from "./xml.js";

// A libvirt virtual network: isolated (no <forward>) or NAT/routed, one bridge, IPv4/IPv6
// addresses with optional DHCP ranges and static hosts.

export interface NetworkModel {
  name: string;
  uuid?: string;
  /** Absent: isolated. nat, route, open, bridge, … */
  forwardMode?: string;
  bridge?: { name?: string; stp?: boolean; delay?: number };
  mac?: string;
  domain?: string;
  ips: NetworkIp[];
}

export interface NetworkIp {
  family?: "ipv4" | "ipv6";
  address: string;
  prefix?: number;
  netmask?: string;
  dhcpRanges: { start: string; end: string }[];
  dhcpHosts: { mac?: string; name?: string; ip: string }[];
}

export function parseNetworkXml(xml: string): NetworkModel {
  const root = parseLibvirtXml(xml, "network");
  const bridge = child(root, "bridge");
  const m: NetworkModel = { name: text(child(root, "name")) ?? "", ips: elements(root, "ip").map(ipFromTree) };
  const uuid = text(child(root, "uuid"));
  if (uuid) m.uuid = uuid;
  const forward = child(root, "forward");
  if (forward) m.forwardMode = forward.attrs.mode ?? "nat";
  if (bridge) {
    m.bridge = {};
    if (bridge.attrs.name) m.bridge.name = bridge.attrs.name;
    if (bridge.attrs.stp) m.bridge.stp = bridge.attrs.stp === "on";
    if (bridge.attrs.delay) m.bridge.delay = Number(bridge.attrs.delay);
  }
  const mac = child(root, "mac")?.attrs.address;
  if (mac) m.mac = mac;
  const domain = child(root, "domain")?.attrs.name;
  if (domain) m.domain = domain;
  return m;
}

function ipFromTree(ip: XmlElement): NetworkIp {
  const dhcp = child(ip, "dhcp");
  const out: NetworkIp = {
    address: ip.attrs.address ?? "",
    dhcpRanges: dhcp ? elements(dhcp, "range").map((r) => ({ start: r.attrs.start ?? "", end: r.attrs.end ?? "" })) : [],
    dhcpHosts: dhcp ? elements(dhcp, "host").map((h) => ({ ip: h.attrs.ip ?? "", ...(h.attrs.mac ? { mac: h.attrs.mac } : {}), ...(h.attrs.name ? { name: h.attrs.name } : {}) })) : [],
  };
  if (ip.attrs.family === "ipv4" || ip.attrs.family === "ipv6") out.family = ip.attrs.family;
  if (ip.attrs.prefix) out.prefix = Number(ip.attrs.prefix);
  if (ip.attrs.netmask) out.netmask = ip.attrs.netmask;
  return out;
}

export function buildNetworkXml(m: NetworkModel): string {
  return buildXml(
    el("network", {}, [
      textEl("name", m.name),
      m.uuid ? textEl("uuid", m.uuid) : undefined,
      m.forwardMode ? el("forward", { mode: m.forwardMode }) : undefined,
      m.bridge ? el("bridge", { name: m.bridge.name, stp: m.bridge.stp === undefined ? undefined : m.bridge.stp ? "on" : "off", delay: m.bridge.delay }) : undefined,
      m.mac ? el("mac", { address: m.mac }) : undefined,
      m.domain ? el("domain", { name: m.domain }) : undefined,
      ...m.ips.map((ip) =>
        el("ip", { family: ip.family, address: ip.address, prefix: ip.prefix, netmask: ip.netmask }, [
          ip.dhcpRanges.length || ip.dhcpHosts.length
            ? el("dhcp", {}, [...ip.dhcpRanges.map((r) => el("range", { start: r.start, end: r.end })), ...ip.dhcpHosts.map((h) => el("host", { mac: h.mac, name: h.name, ip: h.ip }))])
            : undefined,
        ]),
      ),
    ]),
  );
}

/**
 * An IPv4 network from a CIDR like 10.77.0.0/24: the host side takes .1, DHCP hands out the rest
 * of the range (from .2 or `dhcpStart`) unless `dhcp` is false.
 */
export function networkFromCidr(name: string, cidr: string, opts: { forwardMode?: string; bridge?: string; dhcp?: boolean } = {}): NetworkModel {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 30) throw new LibvirtError("invalid-argument", `--cidr ${JSON.stringify(cidr)} must be an IPv4 network like 10.77.0.0/24 (prefix 8–30)`);
  const base = (((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0) & (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
  const size = 2 ** (32 - prefix);
  const ip: NetworkIp = { family: "ipv4", address: toIp(base + 1), prefix, dhcpRanges: [], dhcpHosts: [] };
  if (opts.dhcp !== false) ip.dhcpRanges.push({ start: toIp(base + 2), end: toIp(base + size - 2) });
  const net: NetworkModel = { name, ips: [ip] };
  if (opts.forwardMode) net.forwardMode = opts.forwardMode;
  if (opts.bridge) net.bridge = { name: opts.bridge, stp: true, delay: 0 };
  return net;
}

function toIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}
