import { useEffect, useRef, useState } from "preact/hooks";
import { get, type ActionRow, type Enforcement, type Feed } from "../api";
import { SeverityChart, type Bucket } from "../chart";
import { ErrorBox, Loading, TableWrap, Time, useEvery, useLoad } from "../components";
import { durationMs, num, rate } from "../format";
import { useLive } from "../live";
import { href } from "../router";

interface Health {
  store: { alertsOpen: number; actionsPending: number; quarantines: number; events: number };
  version: string;
}
interface Total {
  source: string;
  total: number;
}
interface Sources {
  at: string;
  /** By event module. */
  events: Total[];
  /** By collector. */
  dropped: Total[];
}
type Rates = Record<"events" | "dropped", Record<string, number>>;

/** Per-second rates between two reads of the counters. */
function ratesBetween(before: Sources, now: Sources): Rates {
  const secs = (Date.parse(now.at) - Date.parse(before.at)) / 1000;
  const per = (a: Total[], b: Total[]): Record<string, number> => {
    const out: Record<string, number> = {};
    if (secs <= 0) return out;
    for (const t of b) {
      const was = a.find((x) => x.source === t.source)?.total ?? 0;
      out[t.source] = (t.total - was) / secs;
    }
    return out;
  };
  return { events: per(before.events, now.events), dropped: per(before.dropped, now.dropped) };
}

function TotalsTable({ label, rows, rates, unit }: { label: string; rows: Total[]; rates: Record<string, number>; unit: string }) {
  if (rows.length === 0) return <p class="muted">{unit === "Events" ? "No events stored yet." : "Nothing dropped."}</p>;
  return (
    <TableWrap label={label}>
      <table>
        <thead>
          <tr>
            <th scope="col">Source</th>
            <th scope="col">{unit}/s</th>
            <th scope="col">{unit} since start</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.source} class={unit === "Dropped" && r.total > 0 ? "attention" : ""}>
              <th scope="row" class="wrap">
                {r.source}
              </th>
              <td>{rate(rates[r.source])}</td>
              <td>{num(r.total)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/** A feed is stale when its last success is older than twice its schedule (a day without one). */
export function feedStale(f: Feed, now = Date.now()): boolean {
  if (!f.enabled) return false;
  if (!f.lastSuccess) return true;
  const every = durationMs(f.schedule) ?? 86_400_000;
  return now - Date.parse(f.lastSuccess) > 2 * every;
}

export function OverviewPage() {
  const health = useLoad(() => get<Health>("/api/v1/health"));
  const timeline = useLoad(() => get<{ buckets: Bucket[]; stepSeconds: number }>("/api/v1/alerts/timeline?since=24h&step=1h"));
  const quarantines = useLoad(() => get<{ quarantines: Enforcement[] }>("/api/v1/quarantines"));
  const pending = useLoad(() => get<{ actions: ActionRow[] }>("/api/v1/actions?status=pending&limit=1000"));
  const feeds = useLoad(() => get<{ feeds: Feed[] }>("/api/v1/feeds"));
  const sources = useLoad(() => get<Sources>("/api/v1/sources"));
  const previous = useRef<Sources | undefined>(undefined);
  const [rates, setRates] = useState<Rates>({ events: {}, dropped: {} });

  // A burst of alerts reloads once, two seconds after the first of them.
  const pendingReload = useRef<number | undefined>(undefined);
  const reloadAll = (): void => {
    if (pendingReload.current !== undefined) return;
    pendingReload.current = window.setTimeout(() => {
      pendingReload.current = undefined;
      health.reload();
      timeline.reload();
      quarantines.reload();
      pending.reload();
    }, 2000);
  };
  useEffect(() => () => window.clearTimeout(pendingReload.current), []);
  useLive("alert", reloadAll);
  useLive("action", reloadAll);
  useEvery(5000, () => {
    get<Sources>("/api/v1/sources").then((now) => {
      const before = previous.current ?? sources.data;
      if (before) setRates(ratesBetween(before, now));
      previous.current = now;
      sources.set(() => now);
    }, () => undefined);
  });
  useEvery(60_000, () => (feeds.reload(), timeline.reload()));

  const h = health.data?.store;
  const stale = feeds.data?.feeds.filter((f) => feedStale(f)) ?? [];
  return (
    <>
      <h1 tabIndex={-1}>Overview</h1>
      <ErrorBox error={health.error ?? timeline.error ?? quarantines.error ?? pending.error ?? feeds.error ?? sources.error} />
      <ul class="cards">
        <li>
          <a href={href("/alerts", { status: "open" })}>
            <span class="big">{h ? num(h.alertsOpen) : "…"}</span> open alerts
          </a>
        </li>
        <li class={h && h.actionsPending > 0 ? "attention" : ""}>
          <a href={href("/actions")}>
            <span class="big">{h ? num(h.actionsPending) : "…"}</span> waiting for approval
          </a>
        </li>
        <li class={h && h.quarantines > 0 ? "attention" : ""}>
          <a href={href("/vms")}>
            <span class="big">{h ? num(h.quarantines) : "…"}</span> VMs in quarantine
          </a>
        </li>
        <li class={stale.length > 0 ? "attention" : ""}>
          <a href={href("/feeds")}>
            <span class="big">{feeds.data ? `${stale.length}/${feeds.data.feeds.length}` : "…"}</span> feeds stale
          </a>
        </li>
      </ul>

      <section aria-labelledby="chart-h">
        <h2 id="chart-h">New alerts, last 24 hours</h2>
        {timeline.data ? <SeverityChart buckets={timeline.data.buckets} stepSeconds={timeline.data.stepSeconds} /> : <Loading what="the timeline" />}
      </section>

      <section aria-labelledby="sources-h">
        <h2 id="sources-h">Event sources</h2>
        {!sources.data ? (
          <Loading what="sources" />
        ) : sources.data.events.length + sources.data.dropped.length === 0 ? (
          <p class="muted">This hv process runs no pipeline (hv api serve beside the agent): the agent's own /metrics has its sources.</p>
        ) : (
          <div class="columns">
            <TotalsTable label="Events stored, by event source" rows={sources.data.events} rates={rates.events} unit="Events" />
            <TotalsTable label="Events dropped, by collector" rows={sources.data.dropped} rates={rates.dropped} unit="Dropped" />
          </div>
        )}
      </section>

      <div class="columns">
        <section aria-labelledby="quarantine-h">
          <h2 id="quarantine-h">Quarantined VMs</h2>
          {!quarantines.data ? (
            <Loading what="quarantines" />
          ) : quarantines.data.quarantines.length === 0 ? (
            <p class="muted">None.</p>
          ) : (
            <ul class="plain">
              {quarantines.data.quarantines.map((q) => (
                <li key={q.id}>
                  <a href={href("/vms")}>{q.target}</a> since <Time at={q.created} /> by {q.createdBy ?? "?"}
                  {q.expires !== null && (
                    <>
                      , ends <Time at={q.expires} />
                    </>
                  )}
                </li>
              ))}
            </ul>
          )}
        </section>

        <section aria-labelledby="pending-h">
          <h2 id="pending-h">Pending approvals</h2>
          {!pending.data ? (
            <Loading what="pending actions" />
          ) : pending.data.actions.length === 0 ? (
            <p class="muted">None.</p>
          ) : (
            <ul class="plain">
              {pending.data.actions.slice(0, 10).map((a) => (
                <li key={a.id}>
                  <a href={href("/actions")}>
                    {a.action} {a.target ?? ""}
                  </a>{" "}
                  ({a.playbook}, <Time at={a.created} />)
                </li>
              ))}
            </ul>
          )}
        </section>

        <section aria-labelledby="feeds-h">
          <h2 id="feeds-h">Feed freshness</h2>
          {!feeds.data ? (
            <Loading what="feeds" />
          ) : feeds.data.feeds.length === 0 ? (
            <p class="muted">No feeds (hv feeds add).</p>
          ) : (
            <ul class="plain">
              {feeds.data.feeds.map((f) => (
                <li key={f.name} class={feedStale(f) || f.lastError ? "attention" : ""}>
                  <a href={href("/feeds")}>{f.name}</a>: {f.lastSuccess ? <>synced <Time at={f.lastSuccess} /></> : "never synced"}
                  {f.lastError ? <span class="error-text"> — {f.lastError}</span> : null}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </>
  );
}
