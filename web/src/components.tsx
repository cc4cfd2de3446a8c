// Small pieces every page uses: loading data, errors, times, severities, buttons that ask first.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, post, roleAllows, type ActionRow, type Role } from "./api";
import { ago, exact } from "./format";
import { href } from "./router";

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload(): void;
  set(update: (old: T | undefined) => T | undefined): void;
}

/** Loads once, and again when deps change or reload() is called. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      },
      (e: unknown) => live && setError(message(e)),
    );
    return () => void (live = false);
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { data, error, reload, set: setData };
}

/** Calls fn every `ms` while the view is shown. */
export function useEvery(ms: number, fn: () => void): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.status} ${e.code})`;
  return e instanceof Error ? e.message : String(e);
}

export function ErrorBox({ error }: { error: string | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted">Loading {what}…</p>;
}

export function Time({ at }: { at: string | number | null | undefined }) {
  if (at === null || at === undefined) return <span class="muted">—</span>;
  const iso = new Date(at).toISOString();
  return (
    <time dateTime={iso} title={exact(at)}>
      {ago(at)}
    </time>
  );
}

export function SeverityBadge({ severity }: { severity: string }) {
  return <span class={`sev sev-${severity}`}>{severity === "informational" ? "info" : severity}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`status status-${status}`}>{status}</span>;
}

/** A table that scrolls sideways on a narrow screen, reachable by keyboard. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}

let announceEl: HTMLElement | null = null;
/** Says something to screen readers (the page's polite live region). */
export function announce(text: string): void {
  if (!announceEl) announceEl = document.getElementById("announcer");
  if (announceEl) announceEl.textContent = text;
}

export function Announcer() {
  return <div id="announcer" class="visually-hidden" aria-live="polite" role="status" />;
}

/**
 * A button that asks before it acts: the first press shows a confirmation (with an optional reason
 * field), the second does it. Its result or error is shown beside it.
 */
export function ConfirmButton(props: { label: string; confirm: string; reason?: boolean; danger?: boolean; run: (reason: string) => Promise<unknown>; done?: (result: unknown) => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const field = useRef<HTMLInputElement>(null);
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) (field.current ?? first.current)?.focus();
  }, [asking]);
  const go = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await props.run(reason.trim());
      setAsking(false);
      props.done?.(r);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  if (!asking) {
    return (
      <span class="confirm">
        <button type="button" class={props.danger ? "danger" : ""} onClick={() => setAsking(true)}>
          {props.label}
        </button>
        <ErrorBox error={error} />
      </span>
    );
  }
  return (
    <form
      class="confirm asking"
      onSubmit={(e) => {
        e.preventDefault();
        void go();
      }}
      onKeyDown={(e) => e.key === "Escape" && setAsking(false)}
    >
      {props.reason && (
        <label>
          Reason <input ref={field} value={reason} maxLength={500} onInput={(e) => setReason((e.target as HTMLInputElement).value)} placeholder="optional" />
        </label>
      )}
      <button ref={first} type="submit" class={props.danger ? "danger" : "primary"} disabled={busy}>
        {busy ? "Working…" : props.confirm}
      </button>
      <button type="button" onClick={() => setAsking(false)} disabled={busy}>
        Cancel
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

/** The playbook decisions (action rows), with approve/deny for the pending ones. */
export function ActionsTable({ actions, role, label, showAlert = true, changed }: { actions: ActionRow[]; role: Role; label: string; showAlert?: boolean; changed: (row: ActionRow) => void }) {
  const canDecide = roleAllows(role, "operator");
  if (actions.length === 0) return <p class="muted">None.</p>;
  return (
    <TableWrap label={label}>
      <table>
        <caption class="visually-hidden">{label}</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            {showAlert && <th scope="col">Alert</th>}
            <th scope="col">Playbook</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Mode</th>
            <th scope="col">Status</th>
            <th scope="col">Result</th>
            <th scope="col">When</th>
            {canDecide && <th scope="col">Decide</th>}
          </tr>
        </thead>
        <tbody>
          {actions.map((a) => (
            <tr key={a.id} data-action-id={a.id}>
              <td>{a.id}</td>
              {showAlert && <td>{a.alertId !== null ? <a href={href(`/alerts/${a.alertId}`)}>alert {a.alertId}</a> : <span class="muted">by hand</span>}</td>}
              <td>{a.playbook}</td>
              <td>
                <code>{a.action}</code>
              </td>
              <td>{a.target ?? "—"}</td>
              <td>{a.mode}</td>
              <td>
                <StatusBadge status={a.undone !== null ? "undone" : a.status} />
              </td>
              <td class="wrap">
                {a.result ?? ""}
                {a.approvedBy && <span class="muted"> (approved by {a.approvedBy})</span>}
              </td>
              <td>
                <Time at={a.finished ?? a.started ?? a.created} />
              </td>
              {canDecide && (
                <td>
                  {a.status === "pending" ? (
                    <span class="buttons">
                      <ConfirmButton label="Approve" confirm={`Run ${a.action} now`} run={() => post<ActionRow>(`/api/v1/actions/${a.id}/approve`)} done={(r) => changed(r as ActionRow)} />
                      <ConfirmButton label="Deny" confirm="Deny it" reason danger run={(reason) => post<ActionRow>(`/api/v1/actions/${a.id}/deny`, reason ? { reason } : {})} done={(r) => changed(r as ActionRow)} />
                    </span>
                  ) : null}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/** Replaces the row with the same id, or adds it. */
export function upsert<T extends { id: number }>(list: T[] | undefined, row: T): T[] {
  const rest = (list ?? []).filter((x) => x.id !== row.id);
  return [row, ...rest];
}

/** "Your role can look, not act" — said once per page where buttons are missing. */
export function RoleNote({ role, needs, what }: { role: Role; needs: Role; what: string }) {
  if (roleAllows(role, needs)) return null;
  return (
    <p class="note">
      Your token's role is <strong>{role}</strong>: {what} needs the {needs} role.
    </p>
  );
}
