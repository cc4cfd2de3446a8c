// STUB (replaced by the forensics work): the signature the capture_pcap action and forensic
// bundles call.

export interface PcapOptions {
  /** Tap devices to capture on (one tcpdump each, or one on "any" filtered by them). */
  devices: string[];
  seconds: number;
  /** Stop at this many bytes of capture file. */
  maxBytes: number;
  /** Output pcap file. */
  file: string;
  signal?: AbortSignal;
}

export interface PcapResult {
  file: string;
  bytes: number;
  packets?: number;
  /** Stopped early because maxBytes was reached. */
  truncated: boolean;
}

export function capturePcap(opts: PcapOptions): Promise<PcapResult> {
  return Promise.reject(new Error(`pcap capture on ${opts.devices.join(", ")} is not implemented yet`));
}
