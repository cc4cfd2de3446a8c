// The collector's process handling without a libvirtd: a stand-in `virsh` script replays the
// recorded event stream and exits the way virsh does when libvirtd goes away, twice. The
// collector must deliver every event in order, reconnect, and report each gap.

import { describe, it, expect } from "vitest";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LibvirtCollector } from "../../src/collectors/libvirt/collector.js";
import type { LibvirtEvent } from "../../src/collectors/libvirt/events.js";

const fixture = fileURLToPath(new URL("../fixtures/libvirt/virsh-events.txt", import.meta.url));
const UUID = "6c1b8a36-2f0e-4d7a-9b7e-2b6f1f0c9a11";

function fakeVirsh(dir: string, runs: number): string {
  const path = join(dir, "virsh");
  writeFileSync(
    path,
    `#!/bin/sh
# Arguments: [-q] -c URI COMMAND ...
while [ "$1" = "-q" ] || [ "$1" = "-c" ]; do [ "$1" = "-c" ] && shift; shift; done
case "$1" in
  event)
    n=$(cat ${dir}/runs 2>/dev/null || echo 0); echo $((n + 1)) > ${dir}/runs
    if [ "$n" -ge ${runs} ]; then exec sleep 30; fi
    grep -v '^events received' ${fixture}
    echo "error: Disconnected from qemu:///system due to end of file" >&2
    exit 1 ;;
  list) echo "${UUID} hvfix1" ;;
  dominfo) printf 'Id:             -\\nName:           hvfix1\\nUUID:           ${UUID}\\nState:          shut off\\n' ;;
  *) echo "error: unexpected $1" >&2; exit 1 ;;
esac
`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe("LibvirtCollector with a stand-in virsh", () => {
  it("reconnects after virsh exits, reports each gap, and keeps every event in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hv-fake-virsh-"));
    const reports: string[] = [];
    const collector = new LibvirtCollector({ virsh: fakeVirsh(dir, 2), backoffMs: 20, hostName: "h1", onReport: (t) => reports.push(t) });
    const events: LibvirtEvent[] = [];
    const abort = new AbortController();
    const running = collector.run((item) => void events.push(item.event as LibvirtEvent), abort.signal);
    const deadline = Date.now() + 10_000;
    while (events.filter((e) => e.event.action === "reconnected").length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    await running;

    const actions = events.map((e) => e.event.action);
    expect(actions.filter((a) => a === "disconnected")).toHaveLength(2);
    expect(actions.filter((a) => a === "reconnected")).toHaveLength(2);
    // Each run: the 24 recorded events, then the disconnect; the reconnect comes before the next run's events.
    const firstRun = actions.slice(0, 25);
    expect(firstRun[0]).toBe("defined");
    expect(firstRun[24]).toBe("disconnected");
    expect(actions[25]).toBe("reconnected");
    expect(events.filter((e) => e.event.action === "job-completed").every((e) => Object.keys(e.libvirt.params ?? {}).length === 18)).toBe(true);
    // The same recording twice gives the same ids: the store would keep one copy.
    const ids = events.filter((e) => e.libvirt.event !== "connection").map((e) => e.event.id);
    expect(new Set(ids).size).toBe(24);
    for (const e of events.filter((e) => e.vm)) expect(e.vm).toEqual({ name: "hvfix1", uuid: UUID });
    const gap = events.find((e) => e.event.action === "reconnected")!.libvirt.gap!;
    expect(gap.reason).toBe("Disconnected from qemu:///system due to end of file");
    expect(gap.ms).toBeGreaterThanOrEqual(0);
    expect(collector.stats).toMatchObject({ unknown: 0, disconnects: 2, connects: 3, connected: true });
    expect(reports.filter((r) => r.startsWith("lost the event stream"))).toHaveLength(2);
  });

  it("keeps retrying, and says why, when virsh cannot run at all", async () => {
    const reports: string[] = [];
    const collector = new LibvirtCollector({ virsh: "/nonexistent/virsh", backoffMs: 20, maxBackoffMs: 50, onReport: (t) => reports.push(t) });
    const events: LibvirtEvent[] = [];
    const abort = new AbortController();
    const running = collector.run((item) => void events.push(item.event as LibvirtEvent), abort.signal);
    await new Promise((r) => setTimeout(r, 400));
    abort.abort();
    await running;
    expect(collector.stats.connects).toBe(0);
    expect(events.map((e) => e.event.action)).toEqual(["disconnected"]); // reported once, not per retry
    expect(reports[0]).toMatch(/lost the event stream.*virsh \(\/nonexistent\/virsh\) is not installed.*apt-get install libvirt-clients/);
  });
});
