import { useState } from "preact/hooks";
import { get, post, roleAllows, type Feed, type Role } from "../api";
import { ConfirmButton, ErrorBox, Loading, RoleNote, TableWrap, Time, useLoad } from "../components";
import { num } from "../format";
import { feedStale } from "./overview";

interface SyncResult {
  feed: string;
  status: string;
  reason?: string;
  entries: number;
  added?: number;
  removed?: number;
  rejected?: number;
}

export function FeedsPage({ role }: { role: Role }) {
  const feeds = useLoad(() => get<{ feeds: Feed[] }>("/api/v1/feeds").then((r) => r.feeds));
  const [results, setResults] = useState<Record<string, string>>({});
  const admin = roleAllows(role, "admin");
  return (
    <>
      <h1 tabIndex={-1}>Feeds</h1>
      <RoleNote role={role} needs="admin" what="syncing a feed now" />
      <ErrorBox error={feeds.error} />
      {!feeds.data ? (
        <Loading what="feeds" />
      ) : feeds.data.length === 0 ? (
        <p class="muted">
          No threat feeds yet: <code>hv feeds add --preset feodo</code> (docs/feeds.md).
        </p>
      ) : (
        <TableWrap label="Threat feeds">
          <table>
            <thead>
              <tr>
                <th scope="col">Feed</th>
                <th scope="col">Format</th>
                <th scope="col">Does</th>
                <th scope="col">Entries</th>
                <th scope="col">Version</th>
                <th scope="col">Last sync</th>
                <th scope="col">Last attempt</th>
                <th scope="col">Error</th>
                {admin && <th scope="col">Sync</th>}
              </tr>
            </thead>
            <tbody>
              {feeds.data.map((f) => (
                <tr key={f.name} data-feed={f.name} class={feedStale(f) || f.lastError ? "attention" : ""}>
                  <th scope="row" class="wrap">
                    {f.name}
                    {!f.enabled && <span class="muted"> (disabled)</span>}
                    <div class="muted small">{f.url}</div>
                  </th>
                  <td>{f.format}</td>
                  <td>{f.action}</td>
                  <td>
                    {num(f.entries)}
                    {f.rejected ? <span class="muted"> ({num(f.rejected)} rejected)</span> : null}
                  </td>
                  <td>{f.version}</td>
                  <td>
                    <Time at={f.lastSuccess} />
                    {feedStale(f) && <span class="status status-stale">stale</span>}
                  </td>
                  <td>
                    <Time at={f.lastAttempt} />
                  </td>
                  <td class="wrap error-text">{f.lastError ?? ""}</td>
                  {admin && (
                    <td>
                      <ConfirmButton
                        label="Sync now"
                        confirm={`Sync ${f.name}`}
                        run={() => post<SyncResult>(`/api/v1/feeds/${encodeURIComponent(f.name)}/sync`)}
                        done={(r) => {
                          const s = r as SyncResult;
                          setResults((x) => ({ ...x, [f.name]: `${s.status}${s.reason ? `: ${s.reason}` : ""} — ${s.entries} entries${s.added !== undefined ? `, +${s.added} −${s.removed ?? 0}` : ""}` }));
                          feeds.reload();
                        }}
                      />
                      {results[f.name] && (
                        <p class="result" role="status">
                          {results[f.name]}
                        </p>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}
