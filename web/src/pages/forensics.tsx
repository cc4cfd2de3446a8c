import { useState } from "preact/hooks";
import { get, post, roleAllows, type Bundle, type Role, type Verification } from "../api";
import { ConfirmButton, ErrorBox, Loading, RoleNote, TableWrap, Time, useLoad } from "../components";
import { bytes } from "../format";
import { useLive } from "../live";

export function ForensicsPage({ role }: { role: Role }) {
  const bundles = useLoad(() => get<{ bundles: Bundle[] }>("/api/v1/forensics/bundles").then((r) => r.bundles));
  const [checks, setChecks] = useState<Record<string, Verification>>({});
  useLive("action", (a) => a.action === "forensic_capture" && a.status !== "running" && bundles.reload());
  const operator = roleAllows(role, "operator");
  return (
    <>
      <h1 tabIndex={-1}>Forensic bundles</h1>
      <RoleNote role={role} needs="operator" what="verifying and downloading a bundle" />
      <ErrorBox error={bundles.error} />
      {!bundles.data ? (
        <Loading what="bundles" />
      ) : bundles.data.length === 0 ? (
        <p class="muted">No bundles. Capture one from the VMs page, or with hv forensics capture VM.</p>
      ) : (
        <TableWrap label="Forensic bundles">
          <table>
            <thead>
              <tr>
                <th scope="col">Bundle</th>
                <th scope="col">VM</th>
                <th scope="col">Captured</th>
                <th scope="col">By</th>
                <th scope="col">Files</th>
                <th scope="col">Size</th>
                {operator && <th scope="col">Check and take</th>}
              </tr>
            </thead>
            <tbody>
              {[...bundles.data].reverse().map((b) => {
                const check = checks[b.id];
                return (
                  <tr key={b.id} data-bundle={b.id}>
                    <th scope="row" class="wrap">
                      <code>{b.id}</code>
                      {!b.exists && <span class="status status-failed">missing</span>}
                    </th>
                    <td>{b.vm ?? "—"}</td>
                    <td>
                      <Time at={b.created} />
                    </td>
                    <td>{b.by ?? "—"}</td>
                    <td>{b.artifacts ?? "—"}</td>
                    <td>{bytes(b.bytes)}</td>
                    {operator && (
                      <td>
                        {b.exists && (
                          <span class="buttons">
                            <ConfirmButton label="Verify" confirm="Check every file and the signature" run={() => post<Verification>(`/api/v1/forensics/bundles/${encodeURIComponent(b.id)}/verify`)} done={(r) => setChecks((c) => ({ ...c, [b.id]: r as Verification }))} />
                            <a class="button" href={`/api/v1/forensics/bundles/${encodeURIComponent(b.id)}/download`} download={`${b.id}.tar.gz`}>
                              Download .tar.gz
                            </a>
                          </span>
                        )}
                        {check && (
                          <div class="result" role="status">
                            {check.ok ? (
                              <span class="status status-done">verified</span>
                            ) : (
                              <>
                                <span class="status status-failed">problems</span>
                                <ul>
                                  {check.problems.map((p, i) => (
                                    <li key={i}>
                                      {p.kind} <code>{p.file}</code>: {p.message}
                                    </li>
                                  ))}
                                </ul>
                              </>
                            )}
                            {check.warnings.map((w, i) => (
                              <p key={i} class="muted">
                                {w}
                              </p>
                            ))}
                          </div>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}
