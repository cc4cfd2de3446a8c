import { useState } from "preact/hooks";
import { get, post, roleAllows, type ActionRow, type Alert, type Enforcement, type Role, type Vm } from "../api";
import { ConfirmButton, ErrorBox, Loading, RoleNote, SeverityBadge, TableWrap, Time, useLoad } from "../components";
import { useLive } from "../live";
import { href } from "../router";

const RUNNING = new Set(["running", "idle", "blocked"]);

export function VmsPage({ role }: { role: Role }) {
  const vms = useLoad(() => get<{ libvirt: boolean; vms: Vm[] }>("/api/v1/vms"));
  const alerts = useLoad(() => get<{ alerts: Alert[] }>("/api/v1/alerts?limit=500").then((r) => r.alerts));
  // What the last action here did (one line above the table: a released VM may leave the list).
  const [said, say] = useState<string | undefined>(undefined);
  useLive("action", (a: ActionRow) => {
    if (a.target?.startsWith("vm:")) {
      vms.reload();
      if (a.action === "forensic_capture" && a.status !== "running") say(`Forensic capture of ${a.target.slice(3)} ${a.status}: ${a.result ?? ""}`);
    }
  });
  useLive("alert", () => alerts.reload());

  const operator = roleAllows(role, "operator");
  const recent = (vm: string): Alert[] => (alerts.data ?? []).filter((a) => a.vm?.name === vm).slice(0, 3);
  const actionDone = (r: unknown): void => {
    const row = r as ActionRow;
    say(`${row.action} ${row.status}${row.result ? `: ${row.result}` : ""}`);
    vms.reload();
  };
  return (
    <>
      <h1 tabIndex={-1}>VMs</h1>
      <RoleNote role={role} needs="operator" what="releasing a quarantine, pausing, resuming and capturing forensics" />
      <ErrorBox error={vms.error ?? alerts.error} />
      <p class="result" role="status">
        {said}
      </p>
      {vms.data && !vms.data.libvirt && <p class="note">This hv process has no libvirt connection: only quarantined VMs are listed.</p>}
      {!vms.data ? (
        <Loading what="VMs" />
      ) : vms.data.vms.length === 0 ? (
        <p class="muted">No VMs.</p>
      ) : (
        <TableWrap label="VMs">
          <table>
            <thead>
              <tr>
                <th scope="col">VM</th>
                <th scope="col">State</th>
                <th scope="col">Quarantine</th>
                <th scope="col">Recent alerts</th>
                {operator && <th scope="col">Act</th>}
              </tr>
            </thead>
            <tbody>
              {vms.data.vms.map((vm) => (
                <tr key={vm.name} data-vm={vm.name}>
                  <th scope="row">{vm.name}</th>
                  <td>{vm.state}</td>
                  <td class="wrap">
                    {vm.quarantine ? (
                      <>
                        <span class="status status-quarantined">quarantined</span> since <Time at={vm.quarantine.created} /> by {vm.quarantine.createdBy ?? "?"}
                        {vm.quarantine.expires !== null && (
                          <>
                            , ends <Time at={vm.quarantine.expires} />
                          </>
                        )}
                      </>
                    ) : (
                      <span class="muted">none</span>
                    )}
                  </td>
                  <td class="wrap">
                    {recent(vm.name).length === 0 ? (
                      <span class="muted">none</span>
                    ) : (
                      <ul class="plain">
                        {recent(vm.name).map((a) => (
                          <li key={a.id}>
                            <SeverityBadge severity={a.severity} /> <a href={href(`/alerts/${a.id}`)}>{a.rule.title}</a> <Time at={a.last_seen} />
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  {operator && (
                    <td>
                      <span class="buttons">
                        {vm.quarantined && (
                          <ConfirmButton
                            label="Release"
                            confirm={`Release ${vm.name}`}
                            reason
                            run={(reason) => post<Enforcement>(`/api/v1/quarantines/${encodeURIComponent(vm.name)}/release`, reason ? { reason } : {})}
                            done={() => (say(`Released ${vm.name} from quarantine.`), vms.reload())}
                          />
                        )}
                        {vms.data!.libvirt && RUNNING.has(vm.state) && <ConfirmButton label="Pause" confirm={`Pause ${vm.name}`} run={() => post<ActionRow>(`/api/v1/vms/${encodeURIComponent(vm.name)}/pause`)} done={actionDone} />}
                        {vms.data!.libvirt && vm.state === "paused" && <ConfirmButton label="Resume" confirm={`Resume ${vm.name}`} run={() => post<ActionRow>(`/api/v1/vms/${encodeURIComponent(vm.name)}/resume`)} done={actionDone} />}
                        {vms.data!.libvirt && (
                          <ConfirmButton
                            label="Capture forensics"
                            confirm={`Capture memory and disk of ${vm.name}`}
                            run={() => post<ActionRow>(`/api/v1/vms/${encodeURIComponent(vm.name)}/forensics`, {})}
                            done={(r) => say(`Forensic capture of ${vm.name} started (action ${(r as ActionRow).id}); the bundle appears under Forensics.`)}
                          />
                        )}
                      </span>
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
