import { get, type ActionRow, type Role } from "../api";
import { ActionsTable, ErrorBox, Loading, RoleNote, upsert, useLoad } from "../components";
import { useLive } from "../live";

export function ActionsPage({ role }: { role: Role }) {
  const pending = useLoad(() => get<{ actions: ActionRow[] }>("/api/v1/actions?status=pending&limit=1000").then((r) => r.actions));
  const recent = useLoad(() => get<{ actions: ActionRow[] }>("/api/v1/actions?order=newest&limit=100").then((r) => r.actions));
  const changed = (a: ActionRow): void => {
    pending.set((old) => (a.status === "pending" ? upsert(old, a).sort((x, y) => x.id - y.id) : old?.filter((x) => x.id !== a.id)));
    recent.set((old) => upsert(old, a).sort((x, y) => y.id - x.id).slice(0, 100));
  };
  useLive("action", changed);
  return (
    <>
      <h1 tabIndex={-1}>Actions</h1>
      <RoleNote role={role} needs="operator" what="approving and denying" />
      <section aria-labelledby="pending-h">
        <h2 id="pending-h">Waiting for approval</h2>
        <ErrorBox error={pending.error} />
        {pending.data ? <ActionsTable actions={pending.data} role={role} label="Actions waiting for approval" changed={changed} /> : <Loading what="pending actions" />}
      </section>
      <section aria-labelledby="recent-h">
        <h2 id="recent-h">Recent</h2>
        <ErrorBox error={recent.error} />
        {recent.data ? <ActionsTable actions={recent.data} role={role} label="Recent actions" changed={changed} /> : <Loading what="recent actions" />}
      </section>
    </>
  );
}
