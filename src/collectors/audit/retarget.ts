// Moves a real audit recording to now and onto processes that exist now: the records
// stay the kernel's (types, fields, order, ENRICHED parts), only their times, serials and pids are
// moved. The end-to-end response test and the response latency benchmark use it to make a recorded
// "qemu runs a shell" happen under a live qemu, which nobody can make qemu do for real.

export interface RetargetOptions {
  /** Recorded pid → pid now (the recorded qemu → the guest's qemu). */
  pids: ReadonlyMap<number, number>;
  /** Pids not in `pids` are moved by this much, so they never name a live process of this host. */
  otherPidOffset?: number;
  /** Epoch seconds of the first record now (default: now). */
  startSeconds?: number;
  /** Serial of the first record (default: a number no real auditd here is near). */
  startSerial?: number;
}

const STAMP = /msg=audit\((\d+)\.(\d+):(\d+)\)/;

export function retargetAuditRecording(text: string, opts: RetargetOptions): string {
  const lines = text.split("\n").filter((l) => l.length > 0);
  const first = lines.map((l) => STAMP.exec(l)).find((m) => m !== null);
  if (!first) throw new Error("no audit records in the recording");
  const t0 = Number(first[1]) * 1000 + Number(first[2]);
  const s0 = Number(first[3]);
  const startMs = (opts.startSeconds ?? Date.now() / 1000) * 1000;
  const startSerial = opts.startSerial ?? 900_000_000;
  const offset = opts.otherPidOffset ?? 3_000_000;
  const movePid = (pid: number): number => opts.pids.get(pid) ?? (pid > 1 ? pid + offset : pid);
  return (
    lines
      .map((line) =>
        line
          .replace(STAMP, (_m, sec: string, ms: string, serial: string) => {
            const at = Math.round(startMs + (Number(sec) * 1000 + Number(ms) - t0));
            return `msg=audit(${Math.floor(at / 1000)}.${String(at % 1000).padStart(3, "0")}:${startSerial + (Number(serial) - s0)})`;
          })
          // pid=, ppid=, opid= (and not the uid/auid/ses fields, which end in "id" but are not pids)
          .replace(/\b(ppid|pid|opid)=(\d+)/g, (_m, key: string, pid: string) => `${key}=${movePid(Number(pid))}`),
      )
      .join("\n") + "\n"
  );
}
