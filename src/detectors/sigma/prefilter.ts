// Which rules an event can possibly match, decided without evaluating them. A compiled rule
// carries clauses of literals (compile.ts, modifiers.ts): for each clause, one of its literals must
// occur in the field it names (a site; the keyword search's values are one more site), or the
// rule cannot match. Per event, a site's values are scanned once, by one automaton that finds all
// the literals any rule needs there (literals.ts). Rules are then found from the literals present,
// not the other way round: each rule is listed under the literals of its first (strongest) clause,
// so an event costs the literals it has, not the number of rules; the other clauses are checked
// for the few rules found.

import type { EvalContext, FieldAccessor, LiteralGate } from "./context.js";
import { LiteralIndex, type FoundSink } from "./literals.js";
import { eachKeywordValue } from "./mapping.js";
import { literalKey, type Literal } from "./modifiers.js";

/** A rule's clauses as (site, literal id) pairs; the event must have one pair of each clause. */
export type Clauses = Int32Array[];

export class Prefilter implements LiteralGate, FoundSink {
  private readonly sites: Array<{ field?: FieldAccessor; index: LiteralIndex }> = [];
  private readonly siteOf = new Map<string, number>();
  /** literalKey → id, and each id's site. */
  private readonly idByKey = new Map<string, number>();
  private readonly siteOfId: number[] = [];
  /** found[id] === epoch: the literal is in the current event; scanned[site] === epoch: its site was read. */
  found = new Int32Array(0);
  private scanned = new Int32Array(0);
  /** Literal ids found in the current event, in the order found: ids[0 … count]. */
  ids = new Int32Array(0);
  count = 0;
  epoch = 0;
  private ctx: EvalContext | undefined;

  /** Registers one clause's literals; returns them as (site, literal id) pairs. */
  add(clause: Literal[]): Int32Array {
    const pairs = new Int32Array(clause.length * 2);
    clause.forEach((l, i) => {
      const key = l.field?.key ?? "";
      let site = this.siteOf.get(key);
      if (site === undefined) {
        site = this.sites.length;
        this.sites.push(l.field ? { field: l.field, index: new LiteralIndex() } : { index: new LiteralIndex() });
        this.siteOf.set(key, site);
      }
      const idKey = literalKey(l);
      let id = this.idByKey.get(idKey);
      if (id === undefined) {
        id = this.idByKey.size;
        this.idByKey.set(idKey, id);
        this.siteOfId.push(site);
        this.sites[site]!.index.add(l.text, id);
      }
      pairs[i * 2] = site;
      pairs[i * 2 + 1] = id;
    });
    return pairs;
  }

  get literalCount(): number {
    return this.idByKey.size;
  }

  build(): void {
    for (const s of this.sites) s.index.build();
    this.found = new Int32Array(this.idByKey.size);
    this.ids = new Int32Array(this.idByKey.size);
    this.scanned = new Int32Array(this.sites.length);
  }

  /** Starts a new event: nothing is cleared, the marks of the last one simply stop counting. */
  next(ctx: EvalContext): void {
    this.ctx = ctx;
    ctx.gate = this;
    this.count = 0;
    if (++this.epoch === 0x7fffffff) {
      this.epoch = 1;
      this.found.fill(0);
      this.scanned.fill(0);
    }
  }

  /** Reads these sites of the current event, if not read yet. */
  scanSites(sites: Int32Array): void {
    for (let i = 0; i < sites.length; i++) if (this.scanned[sites[i]!] !== this.epoch) this.scan(sites[i]!);
  }

  idOf(key: string): number {
    return this.idByKey.get(key) ?? -1;
  }

  mayHave(id: number): boolean {
    const site = this.siteOfId[id]!;
    if (this.scanned[site] !== this.epoch) this.scan(site);
    return this.found[id] === this.epoch;
  }

  /** Does the current event satisfy the clauses from `from` on? */
  passes(clauses: Clauses, from = 0): boolean {
    for (let i = from; i < clauses.length; i++) if (!this.hasAny(clauses[i]!)) return false;
    return true;
  }

  private hasAny(pairs: Int32Array): boolean {
    const epoch = this.epoch;
    for (let i = 0; i < pairs.length; i += 2) {
      const site = pairs[i]!;
      if (this.scanned[site] !== epoch) this.scan(site);
      if (this.found[pairs[i + 1]!] === epoch) return true;
    }
    return false;
  }

  private scan(site: number): void {
    this.scanned[site] = this.epoch;
    const { field, index } = this.sites[site]!;
    const ctx = this.ctx!;
    if (field) {
      const values = ctx.get(field);
      if (values) for (const v of values.raw) index.scan(v, this);
    } else eachKeywordValue(ctx.event, (v) => index.scan(v, this));
  }
}

/**
 * The rules of one logsource, indexed by the literals of their first clause. `candidates` gives
 * the positions of the rules worth evaluating for the current event, in rule order.
 */
export class RuleIndex {
  /** Positions of rules without clauses: always evaluated. */
  private readonly always: number[] = [];
  /** Positions listed under literal id: byLiteral[start[id] … start[id + 1]]. */
  private readonly start: Int32Array;
  private readonly byLiteral: Int32Array;
  /** The sites of all first clauses: read for every event this logsource selects. */
  private readonly sites: Int32Array;
  private readonly picked: Int32Array;
  private pickEpoch = 0;

  constructor(
    private readonly prefilter: Prefilter,
    private readonly needs: Array<Clauses | undefined>,
  ) {
    const lists: number[][] = Array.from({ length: prefilter.literalCount }, () => []);
    const sites = new Set<number>();
    needs.forEach((need, pos) => {
      if (need === undefined || need.length === 0) {
        this.always.push(pos);
        return;
      }
      const first = need[0]!;
      for (let i = 0; i < first.length; i += 2) {
        sites.add(first[i]!);
        const list = lists[first[i + 1]!]!;
        if (list[list.length - 1] !== pos) list.push(pos);
      }
    });
    this.start = new Int32Array(lists.length + 1);
    const flat: number[] = [];
    lists.forEach((list, id) => {
      this.start[id] = flat.length;
      flat.push(...list);
    });
    this.start[lists.length] = flat.length;
    this.byLiteral = Int32Array.from(flat);
    this.sites = Int32Array.from(sites);
    this.picked = new Int32Array(needs.length);
  }

  /** Fills `out` with the positions of the rules the current event may match, ascending; returns how many. */
  candidates(out: number[]): number {
    const p = this.prefilter;
    p.scanSites(this.sites);
    const epoch = ++this.pickEpoch;
    let n = 0;
    for (const pos of this.always) {
      this.picked[pos] = epoch;
      out[n++] = pos;
    }
    const ids = p.ids;
    for (let k = 0; k < p.count; k++) {
      const id = ids[k]!;
      for (let j = this.start[id]!, end = this.start[id + 1]!; j < end; j++) {
        const pos = this.byLiteral[j]!;
        if (this.picked[pos] === epoch) continue;
        this.picked[pos] = epoch;
        // The first clause holds; the rest are checked here, where they are few.
        if (!p.passes(this.needs[pos]!, 1)) continue;
        out[n++] = pos;
      }
    }
    // Rule order, as without the index (detections come out in the order of the rule files).
    for (let i = 1; i < n; i++) {
      const v = out[i]!;
      let j = i - 1;
      while (j >= 0 && out[j]! > v) {
        out[j + 1] = out[j]!;
        j--;
      }
      out[j + 1] = v;
    }
    return n;
  }
}
