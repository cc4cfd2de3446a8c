// pause_vm, resume_vm, snapshot_vm, capture_pcap, forensic_capture, shutdown_vm on one real TCG guest (real libvirtd,
// qemu:///system, an isolated network so the guest has a tap). Skipped loudly without libvirt or
// the test guest; a failure under CI.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { ActionError } from "../../src/events/errors.js";
import { capturePcapAction, forensicCapture } from "../../src/playbooks/actions/forensics.js";
import { snapshotVm } from "../../src/playbooks/actions/snapshot.js";
import { pauseVm, resumeVm, shutdownVm } from "../../src/playbooks/actions/vm-power.js";
import { VirshBackend } from "../../src/vm/virsh.js";
import {
  cleanupTestResources,
  createIsolatedNetwork,
  defineTestGuest,
  domIfList,
  domState,
  ensureLibvirtd,
  libvirtSkipReason,
  snapshotNames,
  virsh,
  waitForBoot,
  type RunningLibvirt,
} from "../helpers/libvirt.js";
import { makeAlert, makeTestEnv, runAction, type TestEnv } from "./actions-env.js";

const PREFIX = "hvtest-act-";
const VM = `${PREFIX}vm1`;
const NET = `${PREFIX}net1`;
const skip = libvirtSkipReason({ guest: true });

describe.skipIf(skip)("VM actions on a real guest", { timeout: 180_000 }, () => {
  let libvirt: RunningLibvirt;
  let t: TestEnv;
  const alert = makeAlert({ entity: { kind: "vm", id: VM }, vm: { name: VM } });

  beforeAll(async () => {
    libvirt = await ensureLibvirtd();
    await cleanupTestResources(PREFIX);
    await createIsolatedNetwork(NET);
    const guest = await defineTestGuest(VM, { network: NET, cmdlineExtra: "hv.ping" });
    await virsh("start", VM);
    await waitForBoot(guest.serialLog);
    t = await makeTestEnv({
      vm: new VirshBackend({ uri: "qemu:///system" }),
      vmTaps: async (name) => (await domIfList(name)).map((i) => i.iface),
    });
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    await cleanupTestResources(PREFIX);
    await libvirt?.stop();
  }, 60_000);

  function selfActions(): string[] {
    return (t.env.db.prepare(`SELECT action FROM self_actions WHERE vm_name = ? ORDER BY id`).all(VM) as Array<{ action: string }>).map((r) => r.action);
  }

  it("pause_vm pauses inside a self-action window; again is unchanged; undo resumes", async () => {
    const { outcome, run } = await runAction(t, pauseVm, { alert });
    expect(outcome.unchanged).toBeFalsy();
    expect(await domState(VM)).toBe("paused");
    expect(selfActions()).toContain("pause");
    const ended = t.env.db.prepare(`SELECT ended FROM self_actions WHERE vm_name = ? AND action = 'pause'`).get(VM) as { ended: number | null };
    expect(ended.ended).not.toBeNull();
    expect((await runAction(t, pauseVm, { alert })).outcome.unchanged).toBe(true);
    const undone = await pauseVm.reversible!.undo(run);
    expect(undone.unchanged).toBeFalsy();
    expect(await domState(VM)).toBe("running");
    expect(selfActions()).toContain("resume");
    expect((await runAction(t, resumeVm, { alert })).outcome.unchanged).toBe(true);
  });

  it("refuses to pause an allowlisted VM, but resumes one", async () => {
    const t2 = await makeTestEnv({ vm: t.env.vm, allowlist: { vms: [VM] } });
    try {
      const err = await runAction(t2, pauseVm, { alert }).catch((e: unknown) => e);
      expect((err as ActionError).refused).toBe(true);
      expect(await domState(VM)).toBe("running");
      // Paused before it was allowlisted: giving it back is always allowed.
      await runAction(t, pauseVm, { alert });
      expect((await runAction(t2, resumeVm, { alert })).outcome.unchanged).toBeFalsy();
      expect(await domState(VM)).toBe("running");
    } finally {
      await t2.close();
    }
  });

  it("snapshot_vm makes hv-<action id> once", async () => {
    const { outcome, run } = await runAction(t, snapshotVm, { alert });
    const name = `hv-${run.actionId}`;
    expect(outcome.detail).toMatchObject({ snapshot: name, diskOnly: false });
    expect(await snapshotNames(VM)).toContain(name);
    expect(selfActions()).toContain("snapshot");
    const again = await snapshotVm.run(run);
    expect(again.unchanged).toBe(true);
    expect((await snapshotNames(VM)).filter((n) => n === name)).toHaveLength(1);
    expect(await domState(VM)).toBe("running");
  });

  it("capture_pcap records the guest's pings on its tap", async () => {
    const { outcome } = await runAction(t, capturePcapAction, { alert, params: { seconds: 3 } });
    const file = outcome.detail!.file as string;
    expect(file.startsWith(`${t.dir}/pcap/`)).toBe(true);
    expect(outcome.detail!.devices).toEqual((await domIfList(VM)).map((i) => i.iface));
    // A pcap header is 24 bytes; three seconds of one ping a second is more.
    expect(statSync(file).size).toBeGreaterThan(24);
  });

  it("forensic_capture makes a bundle and reports where", async () => {
    // Memory and disk are the forensics tests' business; here the action's wiring: store, by, detail.
    const { outcome } = await runAction(t, forensicCapture, { alert, params: { memory: false, disk: false } });
    const d = outcome.detail!;
    expect(d.path).toBe(join(t.dir, "forensics", "bundles", d.bundle as string));
    expect(existsSync(join(d.path as string, "manifest.json"))).toBe(true);
    expect(d.bytes).toBeGreaterThan(0);
    expect(d.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await domState(VM)).toBe("running");
  });

  it("shutdown_vm powers it off (force after the timeout); again is unchanged", async () => {
    const { outcome } = await runAction(t, shutdownVm, { alert, params: { timeout_seconds: 5, force: true } });
    expect(["shutdown", "destroyed"]).toContain(outcome.detail!.how);
    expect(await domState(VM)).toBe("shut off");
    expect((await runAction(t, shutdownVm, { alert })).outcome.unchanged).toBe(true);
    const err = await runAction(t, pauseVm, { alert }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/shut off: only a running guest can be paused/);
  });
});
