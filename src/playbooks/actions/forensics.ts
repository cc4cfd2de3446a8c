// forensic_capture and capture_pcap: evidence, through src/forensics. Neither is reversible:
// evidence is kept until a person decides otherwise.

import { statSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { captureBundle } from "../../forensics/capture.js";
import { capturePcap } from "../../forensics/pcap.js";
import type { ActionDefinition } from "../action.js";
import { ActionError } from "../../events/errors.js";
import { checkedVm, vmTargetOf } from "./common.js";

const captureParams = z.strictObject({
  /** Guest memory (virsh dump --memory-only). */
  memory: z.boolean().default(true),
  /** A consistent disk image. */
  disk: z.boolean().default(true),
  /** Also capture the VM's tap traffic for this long. */
  pcap_seconds: z.int().min(0).max(3600).optional(),
  /** Pause the guest while capturing (default: it keeps running). */
  pause: z.boolean().default(false),
});

export type ForensicCaptureParams = z.infer<typeof captureParams>;

export const forensicCapture: ActionDefinition<ForensicCaptureParams> = {
  name: "forensic_capture",
  risk: "copies the VM's memory and disks: disk space and I/O, and the guest may pause briefly",
  summary: "capture a signed evidence bundle of the VM (memory, disk, XML, logs, alerts, host context)",
  params: captureParams,
  targetOf: (alert) => vmTargetOf(alert),
  async run({ env, params: p, target, by, alert, signal }) {
    const vm = await checkedVm(env, target);
    const bundle = await captureBundle({
      vm: vm.name,
      backend: env.vm,
      db: env.db,
      stateDir: env.stateDir,
      memory: p.memory,
      disk: p.disk,
      pause: p.pause,
      by,
      signal,
      ...(p.pcap_seconds ? { pcapSeconds: p.pcap_seconds } : {}),
      ...(alert?.id !== undefined ? { alertId: alert.id } : {}),
    });
    const detail = {
      bundle: bundle.id,
      path: bundle.path,
      bytes: bundle.bytes,
      artifacts: bundle.artifacts,
      ms: bundle.ms,
      manifestSha256: bundle.manifestSha256,
      ...(bundle.failures.length ? { failures: bundle.failures } : {}),
      ...(bundle.notes.length ? { notes: bundle.notes } : {}),
    };
    // A bundle missing a part the playbook asked for is a failed action (a person must look), but
    // the signed bundle with what was captured stays, and the row points at it.
    if (bundle.failures.length) throw new ActionError(`bundle ${bundle.id} of ${vm.name} is incomplete: ${bundle.failures.join("; ")}`, { detail });
    return { result: `captured bundle ${bundle.id} of ${vm.name}: ${bundle.artifacts} artifacts, ${bundle.bytes} bytes in ${(bundle.ms / 1000).toFixed(1)} s`, detail };
  },
};

const pcapParams = z.strictObject({
  seconds: z.int().min(1).max(3600).default(60),
  /** The capture stops at this size. */
  max_bytes: z
    .int()
    .min(64 * 1024)
    .max(10 * 1024 ** 3)
    .default(100 * 1024 ** 2),
});

export type CapturePcapParams = z.infer<typeof pcapParams>;

export const capturePcapAction: ActionDefinition<CapturePcapParams> = {
  name: "capture_pcap",
  risk: "records the VM's traffic: disk space, and the traffic's content is kept",
  summary: "record the VM's tap traffic for N seconds into STATE/pcap/<action id>.pcap (size-capped)",
  params: pcapParams,
  targetOf: (alert) => vmTargetOf(alert),
  async run({ env, params: p, target, actionId, signal }) {
    const vm = await checkedVm(env, target, { requireLibvirt: false });
    const dir = join(env.stateDir, "pcap");
    const file = join(dir, `${actionId}.pcap`);
    // The same action run again (a retry after a crash) finds its capture rather than making another.
    const earlier = await filesOf(dir, actionId);
    if (earlier.length) {
      const bytes = earlier.reduce((n, f) => n + statSync(f).size, 0);
      return { result: `the capture of action ${actionId} already exists (${earlier.join(", ")}, ${bytes} bytes)`, unchanged: true, detail: { file: earlier[0], files: earlier, bytes } };
    }
    const devices = await env.vmTaps(vm.name);
    if (devices.length === 0) throw new ActionError(`${vm.name} has no tap devices (is it running?)`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let r;
    try {
      r = await capturePcap({ devices, seconds: p.seconds, maxBytes: p.max_bytes, file, signal });
    } catch (err) {
      // A partial file would make a retry of this action report "already captured".
      for (const f of await filesOf(dir, actionId)) await rm(f, { force: true });
      throw err;
    }
    const files = r.files.map((f) => ({ device: f.device, file: f.file, bytes: f.bytes, packets: f.packets }));
    return {
      result: `captured ${r.bytes} bytes${r.packets !== undefined ? ` (${r.packets} packets)` : ""} on ${devices.join(", ")} into ${files.map((f) => f.file).join(", ")}${r.truncated ? " (stopped at max_bytes)" : ""}`,
      detail: { file: r.file, files, bytes: r.bytes, devices, truncated: r.truncated, ...(r.packets !== undefined ? { packets: r.packets } : {}) },
    };
  },
};

async function filesOf(dir: string, actionId: number): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  // ID.pcap, or ID.DEV.pcap per tap when there are several (src/forensics/pcap.ts).
  return names.filter((n) => n === `${actionId}.pcap` || (n.startsWith(`${actionId}.`) && n.endsWith(".pcap"))).map((n) => join(dir, n));
}
