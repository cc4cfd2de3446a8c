// A threat-intelligence entry as it crosses stages: feeds parse and store it, the intel detector
// matches events against it, the firewall turns the address kinds into nft set elements.

export type IndicatorKind = "ip" | "cidr" | "domain" | "url" | "hash";

export interface Indicator {
  /** Canonical form: an address ("192.0.2.1", "2001:db8::1"), a CIDR with host bits cleared
   *  ("198.51.100.0/24"), a lower-case domain without trailing dot, a URL, a lower-case hex hash. */
  value: string;
  kind: IndicatorKind;
  /** What the feed says of it: malware family, threat type, confidence, port, reference, … */
  meta?: Record<string, string>;
}

/** An indicator as stored: where it came from and when the feed listed it. */
export interface StoredIndicator extends Indicator {
  feed: string;
  /** ISO times of the first and the latest sync that listed it. */
  first_seen: string;
  last_seen: string;
}
