import type { Command } from "commander";
import { LibvirtError } from "../events/libvirt-error.js";
import { checkName } from "../vm/names.js";
import { buildNetworkXml, networkFromCidr, parseNetworkXml } from "../vm/network-xml.js";
import { backendFor, emit, sub, table, type VirtOptions as O } from "./vm.js";

// `hv net`: libvirt virtual networks, created from flags through the network XML model.

export function registerNet(program: Command): Command {
  const net = program.command("net").description("manage libvirt virtual networks");
  net.addHelpText(
    "after",
    `
Examples:
  hv net list
  hv net create lab0 --cidr 10.77.0.0/24                 isolated: guests talk to each other and the host
  hv net create nat0 --cidr 10.78.0.0/24 --nat           NAT to the outside (turns on ip_forward)
  hv net leases lab0 --json
  hv net stop lab0 && hv net delete lab0`,
  );

  sub(net, "list", "networks and their state", "hv net list --json").action(async (opts: O) => {
    const rows = await backendFor(opts).listNetworks();
    emit(opts, rows, rows.length ? table(["NAME", "STATE", "AUTOSTART", "PERSISTENT"], rows.map((r) => [r.name, r.active ? "active" : "inactive", r.autostart ? "yes" : "no", r.persistent ? "yes" : "no"])) : "no networks");
  });

  sub(net, "create <name>", "define (and start) an isolated or NAT network", "hv net create lab0 --cidr 10.77.0.0/24\n  hv net create nat0 --cidr 10.78.0.0/24 --nat --bridge virbr78 --autostart")
    .requiredOption("--cidr <net>", "IPv4 network, e.g. 10.77.0.0/24; the host takes .1")
    .option("--nat", "forward to the outside with NAT (default: isolated)")
    .option("--bridge <name>", "bridge device name (default: libvirt picks virbrN)")
    .option("--no-dhcp", "no DHCP server")
    .option("--no-start", "only define it")
    .option("--autostart", "start it when libvirtd starts")
    .action(async (name: string, opts: O & { cidr: string; nat?: boolean; bridge?: string; dhcp: boolean; start: boolean; autostart?: boolean }) => {
      const model = networkFromCidr(checkName(name, "network name"), opts.cidr, { ...(opts.nat ? { forwardMode: "nat" } : {}), ...(opts.bridge ? { bridge: checkName(opts.bridge, "bridge") } : {}), dhcp: opts.dhcp });
      const b = backendFor(opts);
      await b.defineNetwork(buildNetworkXml(model));
      try {
        if (opts.start) await b.startNetwork(name);
        if (opts.autostart) await b.setNetworkAutostart(name, true);
      } catch (err) {
        // Nothing half-done: a network that cannot start is not left defined.
        await b.undefineNetwork(name).catch(() => undefined);
        throw err;
      }
      emit(opts, { ...model, started: opts.start }, `network ${name} ${opts.nat ? "(NAT)" : "(isolated)"} ${opts.cidr} ${opts.start ? "created and started" : "defined"}`);
    });

  sub(net, "start <name>", "start a defined network", "hv net start lab0").action(async (name: string, opts: O) => {
    await backendFor(opts).startNetwork(name);
    emit(opts, { name, active: true }, `network ${name} started`);
  });
  sub(net, "stop <name>", "stop a network (guests on it lose connectivity)", "hv net stop lab0").action(async (name: string, opts: O) => {
    await backendFor(opts).stopNetwork(name);
    emit(opts, { name, active: false }, `network ${name} stopped`);
  });
  sub(net, "delete <name>", "stop (if active) and undefine a network", "hv net delete lab0").action(async (name: string, opts: O) => {
    const b = backendFor(opts);
    const found = (await b.listNetworks()).find((n) => n.name === checkName(name, "network name"));
    if (!found) throw new LibvirtError("not-found", `no network ${name}`);
    if (found.active) await b.stopNetwork(name);
    if (found.persistent) await b.undefineNetwork(name);
    emit(opts, { name, deleted: true }, `network ${name} deleted`);
  });
  sub(net, "leases <name>", "DHCP leases handed out on a network", "hv net leases lab0 --json").action(async (name: string, opts: O) => {
    const leases = await backendFor(opts).networkLeases(name);
    emit(opts, leases, leases.length ? table(["EXPIRY", "MAC", "ADDRESS", "HOSTNAME"], leases.map((l) => [l.expiry, l.mac, l.address, l.hostname ?? "-"])) : `no leases on ${name}`);
  });
  sub(net, "info <name>", "a network's definition as the model hv reads", "hv net info lab0 --json").action(async (name: string, opts: O) => {
    const model = parseNetworkXml(await backendFor(opts).networkXml(name));
    emit(opts, model, [
      `${model.name}  ${model.forwardMode ?? "isolated"}${model.bridge?.name ? `  bridge ${model.bridge.name}` : ""}`,
      ...model.ips.map((ip) => `  ip ${ip.address}/${ip.prefix ?? ip.netmask ?? "?"}${ip.dhcpRanges.map((r) => `  dhcp ${r.start}-${r.end}`).join("")}`),
    ]);
  });
  return net;
}
