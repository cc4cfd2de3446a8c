// Drives hostile-worker.mjs: the built Sigma engine in a worker thread under a watchdog, so that
// a rule that hangs fails the test (naming the rule) instead of hanging the test run.

import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { RuleReport, ReportSummary } from "../../../src/detectors/sigma/ruleset.js";
import type { HvEvent } from "../../../src/events/event.js";

const BUILT = new URL("../../../dist/src/detectors/sigma/ruleset.js", import.meta.url).pathname;

export interface Loaded {
  report: RuleReport[];
  summary: ReportSummary;
  /** Ids of the compiled rules (loaded, then dormant): index = rule number in `run`. */
  ids: string[];
}

export interface Ran {
  /** The slowest single evaluation: one rule on one event (or the whole detector on one event). */
  worst: { ms: number; rule: string; event: number };
  matches: number;
  evaluations: number;
  /** adversarial: hostile values tried (each on every template). */
  values?: number;
}

type Request =
  | { load: { paths: string[] } | { text: string; file?: string } }
  | { run: { events: HvEvent[]; detector?: { prefilter: boolean } } }
  | { adversarial: { templates: HvEvent[]; sizes: number[]; maxUnits: number; together: number } };

/** The built engine in a worker thread; a request that makes no progress for `idleMs` ends the worker and fails. */
export class HostileSigma {
  private worker: Worker | undefined;
  private next = 0;
  /** The last request that loaded rules: a worker started after a hang loads them again. */
  private lastLoad: Request | undefined;

  constructor(private readonly idleMs: number) {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build (npm test does it first)`);
  }

  load(what: { paths: string[] } | { text: string; file?: string }): Promise<Loaded> {
    const req: Request = { load: what };
    this.lastLoad = req;
    return this.request(req) as Promise<Loaded>;
  }

  /** Every compiled rule on each event (or, with `detector`, the whole detector on each event). */
  run(events: HvEvent[], opts: { detector?: { prefilter: boolean } } = {}): Promise<Ran> {
    return this.request({ run: { events, ...opts } }) as Promise<Ran>;
  }

  /**
   * Every compiled rule on the templates poisoned with values built from the rule's own
   * patterns (up to `maxUnits` repeated units, each at every size); with `together` > 0 the
   * whole detector also meets each rule's first `together` values: see hostile-worker.mjs.
   */
  adversarial(templates: HvEvent[], sizes: number[], opts: { maxUnits?: number; together?: number } = {}): Promise<Ran> {
    return this.request({ adversarial: { templates, sizes, maxUnits: opts.maxUnits ?? 24, together: opts.together ?? 0 } }) as Promise<Ran>;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }

  private async request(req: Request): Promise<unknown> {
    if (!this.worker) {
      this.worker = new Worker(new URL("./hostile-worker.mjs", import.meta.url));
      this.worker.unref();
      if (!("load" in req) && this.lastLoad) await this.send(this.worker, this.lastLoad);
    }
    return this.send(this.worker, req);
  }

  private send(worker: Worker, req: Request): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      let last = "(no progress reported)";
      let timer: NodeJS.Timeout;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          done();
          void worker.terminate();
          if (this.worker === worker) this.worker = undefined;
          reject(new Error(`the Sigma engine made no progress for ${this.idleMs} ms; last: ${last}`));
        }, this.idleMs);
      };
      const done = (): void => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
      };
      const onMessage = (m: { id: number; progress?: string; result?: unknown; error?: string }): void => {
        if (m.id !== id) return;
        if (m.progress !== undefined) {
          last = m.progress;
          arm();
          return;
        }
        done();
        if (m.error !== undefined) reject(new Error(`the Sigma engine threw: ${m.error}`));
        else resolve(m.result);
      };
      const onError = (err: Error): void => {
        done();
        reject(err);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      arm();
      worker.postMessage({ id, ...req });
    });
  }
}
