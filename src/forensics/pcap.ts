import { spawn } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { isNotFound, MissingProgramError } from "../events/programs.js";

// tcpdump on each device for N seconds, size-capped. tcpdump writes the pcap to its stdout and hv
// copies whole packets to the file until the cap: the file never exceeds maxBytes, always ends
// on a packet boundary (readable), and the packet count is exact. One tcpdump per device (a tap
// is one interface; the "any" device would lose the Ethernet headers).

export const MAX_PCAP_SECONDS = 3600;

export interface PcapOptions {
  /** Tap devices to capture on (one tcpdump each). */
  devices: string[];
  seconds: number;
  /** Stop at this many bytes of capture file (shared evenly between devices). */
  maxBytes: number;
  /** Output pcap file; with several devices FILE.DEV.pcap each (see PcapResult.files). */
  file: string;
  signal?: AbortSignal;
  /** Called once every tcpdump is listening (traffic from then on is captured). */
  onListening?: () => void;
  /** The tcpdump binary (tests point it elsewhere). */
  tcpdump?: string;
}

export interface PcapDeviceResult {
  device: string;
  file: string;
  bytes: number;
  packets: number;
  truncated: boolean;
}

export interface PcapResult {
  /** The first (usually only) file. */
  file: string;
  /** Total over all files. */
  bytes: number;
  packets?: number;
  /** Stopped early because maxBytes was reached. */
  truncated: boolean;
  files: PcapDeviceResult[];
  /** What ended the capture: the time ran out, the size cap, the abort signal. */
  stoppedBy: "time" | "size" | "signal";
}

export async function capturePcap(opts: PcapOptions): Promise<PcapResult> {
  if (!(opts.seconds > 0) || opts.seconds > MAX_PCAP_SECONDS) throw new Error(`pcap seconds must be more than 0 and at most ${MAX_PCAP_SECONDS}, got ${opts.seconds}`);
  if (opts.devices.length === 0) throw new Error("pcap: no devices to capture on");
  for (const d of opts.devices) checkDevice(d);
  const per = Math.floor(opts.maxBytes / opts.devices.length);
  if (!(per >= 24 + 16)) throw new Error(`pcap maxBytes ${opts.maxBytes} is too small for ${opts.devices.length} device(s)`);
  const files = opts.devices.length === 1 ? [opts.file] : opts.devices.map((d) => fileFor(opts.file, d));
  let listening = 0;
  const onOneListening = (): void => {
    if (++listening === opts.devices.length) opts.onListening?.();
  };
  const results = await Promise.all(opts.devices.map((d, i) => captureOne(d, files[i]!, per, opts, onOneListening)));
  const stoppedBy = opts.signal?.aborted ? "signal" : results.some((r) => r.truncated) ? "size" : "time";
  return {
    file: files[0]!,
    bytes: results.reduce((s, r) => s + r.bytes, 0),
    packets: results.reduce((s, r) => s + r.packets, 0),
    truncated: results.some((r) => r.truncated),
    files: results,
    stoppedBy,
  };
}

function fileFor(file: string, device: string): string {
  return /\.pcap$/.test(file) ? file.replace(/\.pcap$/, `.${device}.pcap`) : `${file}.${device}.pcap`;
}

function checkDevice(d: string): void {
  // Linux interface names: at most 15 bytes, no '/', no whitespace; never an option.
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/.test(d)) throw new Error(`pcap: ${JSON.stringify(d)} is not a network device name`);
}

function captureOne(device: string, file: string, maxBytes: number, opts: PcapOptions, onListening: () => void): Promise<PcapDeviceResult> {
  return new Promise((resolve, reject) => {
    const fd = openSync(file, "w", 0o600);
    const result: PcapDeviceResult = { device, file, bytes: 0, packets: 0, truncated: false };
    const child = spawn(opts.tcpdump ?? "tcpdump", ["-i", device, "-w", "-", "-U", "--immediate-mode", "-n", "-s", "262144", "--", "ip or ip6 or arp or not ip"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
    });
    let stderr = "";
    let pending: Buffer = Buffer.alloc(0);
    let little: boolean | undefined;
    let stopped = false;
    let sawListening = false;

    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      child.kill("SIGTERM");
    };
    const timer = setTimeout(stop, opts.seconds * 1000);
    const onAbort = (): void => stop();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) stop();

    const write = (buf: Buffer): void => {
      writeSync(fd, buf);
      result.bytes += buf.length;
    };
    // Copies whole records from `pending` while they fit under the cap.
    const drain = (): void => {
      if (little === undefined) {
        if (pending.length < 24) return;
        const magic = pending.readUInt32LE(0);
        little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
        write(pending.subarray(0, 24));
        pending = pending.subarray(24);
      }
      while (!result.truncated && pending.length >= 16) {
        const caplen = little ? pending.readUInt32LE(8) : pending.readUInt32BE(8);
        if (pending.length < 16 + caplen) return;
        if (result.bytes + 16 + caplen > maxBytes) {
          result.truncated = true;
          stop();
          return;
        }
        write(pending.subarray(0, 16 + caplen));
        result.packets++;
        pending = pending.subarray(16 + caplen);
      }
    };

    child.stdout.on("data", (chunk: Buffer) => {
      if (result.truncated) return;
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      drain();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sawListening && /listening on/.test(stderr)) {
        sawListening = true;
        onListening();
      }
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      closeSync(fd);
      reject(isNotFound(err) ? new MissingProgramError("tcpdump", opts.tcpdump) : new Error(`could not run tcpdump: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      closeSync(fd);
      if (!stopped && little === undefined) {
        reject(new Error(`tcpdump on ${device} failed (${code ?? signal}): ${stderr.trim().split("\n").pop() ?? ""}`));
        return;
      }
      resolve(result);
    });
  });
}
