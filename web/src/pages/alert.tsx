import { get, post, roleAllows, type ActionRow, type Alert, type HvEvent, type Role } from "../api";
import { ActionsTable, ConfirmButton, ErrorBox, Loading, SeverityBadge, StatusBadge, TableWrap, Time, upsert, useLoad } from "../components";
import { exact } from "../format";
import { useLive } from "../live";
import { href } from "../router";

function eventWhat(e: HvEvent): string {
  if (e.process?.command_line) return e.process.command_line;
  if (e.file?.path) return e.file.path;
  if (e.destination?.ip) return `${e.source?.ip ?? "?"}:${e.source?.port ?? ""} → ${e.destination.ip}:${e.destination.port ?? ""}`;
  return e.process?.executable ?? "";
}

export function AlertPage({ id, role }: { id: number; role: Role }) {
  const alert = useLoad(() => get<Alert>(`/api/v1/alerts/${id}`), [id]);
  const events = useLoad(() => get<{ events: HvEvent[] }>(`/api/v1/alerts/${id}/events?limit=200`).then((r) => r.events), [id]);
  const actions = useLoad(() => get<{ actions: ActionRow[] }>(`/api/v1/actions?alert=${id}&limit=1000`).then((r) => r.actions), [id]);
  useLive("alert", (a: Alert) => a.id === id && alert.set(() => a), [id]);
  useLive("action", (a: ActionRow) => a.alertId === id && actions.set((old) => upsert(old, a).sort((x, y) => x.id - y.id)), [id]);

  if (!Number.isInteger(id) || id < 1) return <h1 tabIndex={-1}>No such alert</h1>;
  const a = alert.data;
  return (
    <>
      <p class="crumbs">
        <a href={href("/alerts")}>Alerts</a> / {id}
      </p>
      <h1 tabIndex={-1}>{a ? a.rule.title : `Alert ${id}`}</h1>
      <ErrorBox error={alert.error} />
      {!a ? (
        !alert.error && <Loading what="the alert" />
      ) : (
        <>
          <dl class="facts">
            <dt>Severity</dt>
            <dd>
              <SeverityBadge severity={a.severity} />
            </dd>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={a.status} />{" "}
              {a.status === "open" && roleAllows(role, "operator") && <ConfirmButton label="Acknowledge" confirm="Acknowledge this alert" run={() => post<Alert>(`/api/v1/alerts/${a.id}/ack`)} done={(r) => alert.set(() => r as Alert)} />}
            </dd>
            {a.summary && (
              <>
                <dt>Summary</dt>
                <dd>{a.summary}</dd>
              </>
            )}
            <dt>Entity</dt>
            <dd>
              {a.entity.kind} <strong>{a.entity.id}</strong>
              {a.vm?.name && (
                <>
                  {" "}
                  on VM <a href={href("/vms")}>{a.vm.name}</a>
                </>
              )}
            </dd>
            <dt>Seen</dt>
            <dd>
              {a.count} time{a.count === 1 ? "" : "s"}, first <Time at={a.first_seen} />, last <Time at={a.last_seen} />
            </dd>
            {a.process?.command_line && (
              <>
                <dt>Process</dt>
                <dd>
                  <code>{a.process.command_line}</code> {a.process.pid !== undefined && <span class="muted">pid {a.process.pid}</span>}
                </dd>
              </>
            )}
            {a.user?.name && (
              <>
                <dt>User</dt>
                <dd>{a.user.name}</dd>
              </>
            )}
          </dl>

          <section aria-labelledby="rule-h">
            <h2 id="rule-h">Rule</h2>
            <dl class="facts">
              <dt>Title</dt>
              <dd>{a.rule.title}</dd>
              <dt>Id</dt>
              <dd>
                <code>{a.rule.id}</code> <a href={href("/alerts", { rule: a.rule.id, status: "" })}>all alerts of this rule</a>
              </dd>
              {a.rule.source && (
                <>
                  <dt>Detector</dt>
                  <dd>{a.rule.source}</dd>
                </>
              )}
              {a.rule.level && (
                <>
                  <dt>Level</dt>
                  <dd>{a.rule.level}</dd>
                </>
              )}
              {a.rule.description && (
                <>
                  <dt>Description</dt>
                  <dd>{a.rule.description}</dd>
                </>
              )}
              <dt>MITRE ATT&amp;CK</dt>
              <dd>
                {(a.mitre?.tactics.length ?? 0) + (a.mitre?.techniques.length ?? 0) === 0 ? (
                  <span class="muted">no tags</span>
                ) : (
                  <ul class="tags">
                    {a.mitre!.tactics.map((t) => (
                      <li key={t} class="tag">
                        {t}
                      </li>
                    ))}
                    {a.mitre!.techniques.map((t) => (
                      <li key={t} class="tag technique">
                        {t}
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
              {a.rule.tags && a.rule.tags.length > 0 && (
                <>
                  <dt>Tags</dt>
                  <dd>{a.rule.tags.join(", ")}</dd>
                </>
              )}
            </dl>
          </section>

          <section aria-labelledby="decided-h">
            <h2 id="decided-h">What the playbooks decided</h2>
            <ErrorBox error={actions.error} />
            {actions.data ? <ActionsTable actions={actions.data} role={role} label="Playbook decisions for this alert" showAlert={false} changed={(r) => actions.set((old) => upsert(old, r).sort((x, y) => x.id - y.id))} /> : <Loading what="decisions" />}
          </section>

          <section aria-labelledby="events-h">
            <h2 id="events-h">Events ({a.event_ids.length})</h2>
            <ErrorBox error={events.error} />
            {!events.data ? (
              <Loading what="events" />
            ) : events.data.length === 0 ? (
              <p class="muted">The events behind this alert are no longer stored (past retention).</p>
            ) : (
              <TableWrap label="Events behind the alert">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Time</th>
                      <th scope="col">Source</th>
                      <th scope="col">Action</th>
                      <th scope="col">What</th>
                      <th scope="col">User</th>
                      <th scope="col">Record</th>
                    </tr>
                  </thead>
                  <tbody>
                    {events.data.map((e) => (
                      <tr key={e.event.id}>
                        <td title={exact(e["@timestamp"])}>{e["@timestamp"].replace("T", " ").replace("Z", "")}</td>
                        <td>{e.event.module}</td>
                        <td>{e.event.action ?? ""}</td>
                        <td class="wrap">
                          <code>{eventWhat(e)}</code>
                        </td>
                        <td>{e.user?.name ?? e.user?.id ?? ""}</td>
                        <td>
                          <details>
                            <summary>JSON</summary>
                            <pre>{JSON.stringify(e, null, 2)}</pre>
                          </details>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableWrap>
            )}
          </section>
        </>
      )}
    </>
  );
}
