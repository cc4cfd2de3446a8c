// Export loss from the exporters' sequence numbers: UDP drops (in the network or in hv's socket
// buffer) are otherwise silent. What the number counts differs by version: v5 flows, v9 export
// packets (RFC 3954 §5.1), IPFIX data records (RFC 7011 §3.1), all modulo 2^32.

/** Gaps larger than this are a restart or reordering, not loss. */
const MAX_GAP = 0x8000_0000;

export interface SequenceStats {
  /** Units lost in gaps: flows (v5), packets (v9) or data records (IPFIX). */
  lost: number;
  /** Times the sequence went backwards or jumped implausibly (exporter restart, reordering). */
  resets: number;
}

export class SequenceTracker {
  private readonly next = new Map<string, number>();
  readonly stats: SequenceStats = { lost: 0, resets: 0 };

  constructor(private readonly max: number) {}

  /**
   * `seq` is this packet's number, `advance` how many units it carries (undefined when unknown,
   * e.g. IPFIX data sets without template: tracking restarts at the next packet).
   */
  see(scope: string, seq: number, advance: number | undefined): void {
    const expected = this.next.get(scope);
    if (expected !== undefined && seq !== expected) {
      const gap = (seq - expected) >>> 0;
      if (gap < MAX_GAP) this.stats.lost += gap;
      else this.stats.resets++;
    }
    this.next.delete(scope);
    if (advance === undefined) return;
    this.next.set(scope, (seq + advance) >>> 0);
    // Bounded: spoofed exporters cannot grow it.
    if (this.next.size > this.max) this.next.delete(this.next.keys().next().value as string);
  }
}
