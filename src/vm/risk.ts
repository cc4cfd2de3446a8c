// Risk audit of libvirt domain XML: runs every check in risk-checks.ts over each domain of a
// document and returns findings. Pure: no libvirt, no files (risk-source.ts reads those).
import { CHECKS } from "./risk-checks.js";
import { child, children, parseXmlDocuments, type XmlElement } from "./risk-xml.js";

export { DomainXmlError } from "./risk-xml.js";

export const RISK_SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export type RiskSeverity = (typeof RISK_SEVERITIES)[number];

export interface Finding {
  check: string;
  severity: RiskSeverity;
  domain: string;
  message: string;
  /** xpath-ish location of the element the finding is about, e.g. /domain/devices/hostdev[2]. */
  location: string;
  fix: string;
}

/** What a check reports for one element; the runner adds check id, domain and defaults. */
export interface Hit {
  at: XmlElement;
  message: string;
  /** Overrides the check's severity when one check covers cases of different weight. */
  severity?: RiskSeverity;
  fix?: string;
}

export interface RiskCheck {
  id: string;
  /** The usual (or highest) severity; a hit may override it. */
  severity: RiskSeverity;
  title: string;
  fix: string;
  run(domain: XmlElement): Hit[];
}

export interface DomainReport {
  name: string;
  uuid?: string;
  /** Where the XML came from: a file path or libvirt:NAME. */
  source?: string;
  findings: Finding[];
  /** A check that threw (a bug, or XML it did not expect); the other checks still ran. */
  errors: string[];
}

export interface DocumentAudit {
  domains: DomainReport[];
  /** Set when the document holds no domain (a network, pool, snapshot…): why it was skipped. */
  skipped?: string;
}

export function severityRank(s: RiskSeverity): number {
  return RISK_SEVERITIES.indexOf(s);
}

export function isRiskSeverity(s: string): s is RiskSeverity {
  return (RISK_SEVERITIES as readonly string[]).includes(s);
}

/** Runs the checks over one parsed <domain> element. */
export function auditDomain(domain: XmlElement, source?: string, checks: readonly RiskCheck[] = CHECKS): DomainReport {
  const name = child(domain, "name")?.text || "(unnamed)";
  const uuid = child(domain, "uuid")?.text || undefined;
  const findings: Finding[] = [];
  const errors: string[] = [];
  for (const check of checks) {
    let hits: Hit[];
    try {
      hits = check.run(domain);
    } catch (err) {
      errors.push(`${check.id}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    for (const h of hits) {
      findings.push({ check: check.id, severity: h.severity ?? check.severity, domain: name, message: h.message, location: h.at.path, fix: h.fix ?? check.fix });
    }
  }
  findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.check.localeCompare(b.check) || a.location.localeCompare(b.location));
  return { name, ...(uuid ? { uuid } : {}), ...(source ? { source } : {}), findings, errors };
}

const NOT_DOMAIN: Record<string, string> = {
  network: "a libvirt network definition",
  pool: "a storage pool definition",
  volume: "a storage volume definition",
  domainsnapshot: "a domain snapshot (its embedded domain is a past configuration)",
  capabilities: "a host capabilities document",
  domainCapabilities: "a domain capabilities document",
  nodedev: "a node device definition",
  device: "a node device definition",
  secret: "a secret definition",
  filter: "an nwfilter definition",
  interface: "a host interface definition",
};

/**
 * Audits one XML document. `<domain>` is audited; a test-driver `<node>` document (what
 * `test:///path.xml` loads) has each of its `<domain>` children audited; several domains one
 * after another (virt-install --print-xml) are each audited; anything else is skipped with a
 * reason. Throws DomainXmlError on malformed or hostile XML.
 */
export function auditXml(xml: string, source?: string): DocumentAudit {
  const roots = parseXmlDocuments(xml);
  const domains: DomainReport[] = [];
  const skipped: string[] = [];
  roots.forEach((root, i) => {
    const src = roots.length > 1 && source ? `${source}#${i + 1}` : source;
    if (root.name === "domain") domains.push(auditDomain(root, src));
    else if (root.name === "node") {
      const doms = children(root, "domain");
      if (doms.length === 0) skipped.push("a libvirt test-driver document without domains");
      domains.push(...doms.map((d) => auditDomain(d, src)));
    } else skipped.push(`<${root.name}> is ${NOT_DOMAIN[root.name] ?? "not a domain definition"}, not a domain`);
  });
  return { domains, ...(skipped.length > 0 ? { skipped: skipped.join("; ") } : {}) };
}

export interface AuditSummary {
  domains: number;
  findings: number;
  bySeverity: Record<RiskSeverity, number>;
  byCheck: Record<string, number>;
}

export function summarize(domains: readonly DomainReport[]): AuditSummary {
  const bySeverity = Object.fromEntries(RISK_SEVERITIES.map((s) => [s, 0])) as Record<RiskSeverity, number>;
  const byCheck: Record<string, number> = {};
  let findings = 0;
  for (const d of domains) {
    for (const f of d.findings) {
      findings++;
      bySeverity[f.severity]++;
      byCheck[f.check] = (byCheck[f.check] ?? 0) + 1;
    }
  }
  return { domains: domains.length, findings, bySeverity, byCheck };
}
