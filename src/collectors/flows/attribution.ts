// Flow events → the VM they belong to: the tap device the packets crossed, else the MAC, else the
// IP — source first, then destination. Fields read (ECS): observer.ingress.interface.name,
// observer.egress.interface.name, source.mac/destination.mac, source.ip/destination.ip, and last
// flow.reply.* (the VM behind a port forward). A flow from one VM to another also names the
// destination's VM (vm.peer). The agent's VM attribution (src/agent/attribution.ts) uses this for
// flows; training on a recorded log uses it alone.

import type { HvEvent } from "../../events/event.js";
import type { Inventory, VmRecord } from "../../events/inventory.js";

type Found = { rec: VmRecord; side: "source" | "destination" };

/** Sets vm.* on a flow event whose tap, MAC or address belongs to a VM of the inventory. */
export function flowAttribution(inventory: Inventory): (event: HvEvent) => void {
  const tapEnd = (tap: string | undefined, side: Found["side"]): Found | undefined => {
    const rec = tap ? inventory.byTap(tap) : undefined;
    return rec && { rec, side };
  };
  return (event) => {
    // Packets that entered the host from a tap were sent by its VM; packets leaving by a tap go to it.
    const found =
      tapEnd(event.observer?.ingress?.interface?.name, "source") ??
      tapEnd(event.observer?.egress?.interface?.name, "destination") ??
      endpointVm(event.source?.mac, event.destination?.mac, (m) => inventory.byMac(m)) ??
      endpointVm(event.source?.ip, event.destination?.ip, (ip) => inventory.byIp(ip)) ??
      // A connection port-forwarded (DNAT) to a VM names the VM's address only in the reply tuple,
      // whose source is the original destination.
      endpointVm(event.flow?.reply?.destination?.ip, event.flow?.reply?.source?.ip, (ip) => inventory.byIp(ip));
    if (!found) return;
    event.vm = { name: found.rec.name, uuid: found.rec.uuid, side: found.side };
    // VM to VM (lateral movement is about both ends): the destination's VM too.
    if (found.side !== "source") return;
    const egress = event.observer?.egress?.interface?.name;
    const dmac = event.destination?.mac;
    const dip = event.destination?.ip;
    const peer = (egress ? inventory.byTap(egress) : undefined) ?? (dmac ? inventory.byMac(dmac) : undefined) ?? (dip ? inventory.byIp(dip) : undefined);
    if (peer && peer.name !== found.rec.name) event.vm.peer = { name: peer.name, uuid: peer.uuid };
  };
}

/** The VM at the source end, else at the destination end, with the end it was found at. */
function endpointVm(source: string | undefined, destination: string | undefined, lookup: (key: string) => VmRecord | undefined): Found | undefined {
  const atSource = source ? lookup(source) : undefined;
  if (atSource) return { rec: atSource, side: "source" };
  const atDestination = destination ? lookup(destination) : undefined;
  return atDestination && { rec: atDestination, side: "destination" };
}
