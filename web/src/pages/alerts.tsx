import { useState } from "preact/hooks";
import { get, post, query, roleAllows, SEVERITIES, type Alert, type Role } from "../api";
import { announce, ConfirmButton, ErrorBox, Loading, RoleNote, SeverityBadge, StatusBadge, TableWrap, Time, upsert, useLoad } from "../components";
import { useLive } from "../live";
import { href, type Route } from "../router";

interface Filters {
  severity: string;
  rule: string;
  vm: string;
  status: string;
}

function matches(a: Alert, f: Filters): boolean {
  return (!f.severity || a.severity === f.severity) && (!f.rule || a.rule.id === f.rule) && (!f.vm || a.vm?.name === f.vm) && (!f.status || a.status === f.status);
}

const byLastSeen = (a: Alert, b: Alert): number => Date.parse(b.last_seen) - Date.parse(a.last_seen) || b.id - a.id;

export function AlertsPage({ role, route }: { role: Role; route: Route }) {
  const [filters, setFilters] = useState<Filters>({
    severity: route.query.get("severity") ?? "",
    rule: route.query.get("rule") ?? "",
    vm: route.query.get("vm") ?? "",
    status: route.query.get("status") ?? "open",
  });
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const list = useLoad(() => get<{ alerts: Alert[] }>(`/api/v1/alerts${query({ ...filters, limit: 200 })}`).then((r) => r.alerts), [filters.severity, filters.rule, filters.vm, filters.status]);

  useLive(
    "alert",
    (a: Alert) => {
      const known = list.data?.some((x) => x.id === a.id);
      if (!matches(a, filters)) {
        // No longer shown here (acknowledged while the filter says open, …).
        if (known) list.set((old) => old?.filter((x) => x.id !== a.id));
        return;
      }
      list.set((old) => upsert(old, a).sort(byLastSeen).slice(0, 200));
      if (!known) {
        setFresh((s) => new Set(s).add(a.id));
        announce(`New ${a.severity} alert: ${a.rule.title}${a.vm?.name ? ` on ${a.vm.name}` : ""}`);
      }
    },
    [filters, list.data],
  );

  const set = (key: keyof Filters) => (e: Event) => setFilters({ ...filters, [key]: (e.target as HTMLInputElement | HTMLSelectElement).value.trim() });
  const canAck = roleAllows(role, "operator");
  return (
    <>
      <h1 tabIndex={-1}>Alerts</h1>
      <form class="filters" role="search" aria-label="Filter alerts" onSubmit={(e) => e.preventDefault()}>
        <label>
          Severity
          <select value={filters.severity} onChange={set("severity")}>
            <option value="">any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={filters.status} onChange={set("status")}>
            <option value="">any</option>
            <option value="open">open</option>
            <option value="acked">acknowledged</option>
          </select>
        </label>
        <label>
          Rule id
          <input value={filters.rule} onChange={set("rule")} placeholder="any" />
        </label>
        <label>
          VM
          <input value={filters.vm} onChange={set("vm")} placeholder="any" />
        </label>
      </form>
      <RoleNote role={role} needs="operator" what="acknowledging alerts" />
      <ErrorBox error={list.error} />
      {!list.data ? (
        <Loading what="alerts" />
      ) : list.data.length === 0 ? (
        <p class="muted">No alerts match. New ones appear here as they are raised.</p>
      ) : (
        <TableWrap label="Alerts">
          <table class="alerts">
            <thead>
              <tr>
                <th scope="col">Severity</th>
                <th scope="col">Rule</th>
                <th scope="col">VM / entity</th>
                <th scope="col">Count</th>
                <th scope="col">Last seen</th>
                <th scope="col">Status</th>
                {canAck && <th scope="col">Acknowledge</th>}
              </tr>
            </thead>
            <tbody>
              {list.data.map((a) => (
                <tr key={a.id} data-alert-id={a.id} class={fresh.has(a.id) ? "fresh" : ""}>
                  <td>
                    <SeverityBadge severity={a.severity} />
                  </td>
                  <td class="wrap">
                    <a href={href(`/alerts/${a.id}`)}>{a.rule.title}</a>
                  </td>
                  <td>{a.vm?.name ?? `${a.entity.kind} ${a.entity.id}`}</td>
                  <td>{a.count}</td>
                  <td>
                    <Time at={a.last_seen} />
                  </td>
                  <td>
                    <StatusBadge status={a.status} />
                  </td>
                  {canAck && <td>{a.status === "open" && <ConfirmButton label="Ack" confirm="Acknowledge" run={() => post<Alert>(`/api/v1/alerts/${a.id}/ack`)} done={(r) => list.set((old) => (matches(r as Alert, filters) ? upsert(old, r as Alert).sort(byLastSeen) : old?.filter((x) => x.id !== a.id)))} />}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}
