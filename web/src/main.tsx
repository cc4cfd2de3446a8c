// The hv web console: a login with an API token, then one page per part of hv. Everything is read
// from and done through hv's REST API, with the role of the token that logged in (the API decides;
// the page only leaves out the buttons a role may not use).
import "./style.css";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { del, get, post, setSession, whenUnauthorized, type Me } from "./api";
import { Announcer, ErrorBox, message } from "./components";
import { startLive, stopLive, useLiveState } from "./live";
import { href, useRoute, type Route } from "./router";
import { ActionsPage } from "./pages/actions";
import { AlertPage } from "./pages/alert";
import { AlertsPage } from "./pages/alerts";
import { FeedsPage } from "./pages/feeds";
import { ForensicsPage } from "./pages/forensics";
import { OverviewPage } from "./pages/overview";
import { VmsPage } from "./pages/vms";

const NAV: Array<{ path: string; label: string }> = [
  { path: "/", label: "Overview" },
  { path: "/alerts", label: "Alerts" },
  { path: "/vms", label: "VMs" },
  { path: "/actions", label: "Actions" },
  { path: "/feeds", label: "Feeds" },
  { path: "/forensics", label: "Forensics" },
];

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [ended, setEnded] = useState<string | undefined>(undefined);

  const check = (): void => {
    // Answers 200 with token null when nobody is logged in (no error in the browser's console).
    get<Me | { token: null }>("/api/v1/session").then(
      (m) => {
        const who = m.token ? (m as Me) : null;
        setSession(who);
        setMe(who);
      },
      () => {
        setSession(null);
        setMe(null);
      },
    );
  };
  useEffect(() => {
    whenUnauthorized(() => {
      stopLive();
      setSession(null);
      setMe(null);
      setEnded("Your session has ended. Log in again.");
    });
    check();
  }, []);
  useEffect(() => {
    if (!me) return;
    startLive(check);
    return stopLive;
  }, [me?.token.name, me?.csrf]);

  if (me === undefined) return <p class="loading">Loading the hv console…</p>;
  if (me === null) return <Login notice={ended} done={(m) => (setEnded(undefined), setSession(m), setMe(m))} />;
  return (
    <Shell
      me={me}
      logout={async () => {
        stopLive();
        await del("/api/v1/session").catch(() => undefined);
        setSession(null);
        setMe(null);
      }}
    />
  );
}

function Login({ notice, done }: { notice: string | undefined; done: (m: Me) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => field.current?.focus(), []);
  return (
    <main id="main" class="login">
      <h1>hv console</h1>
      {notice && <p class="note">{notice}</p>}
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            done(await post<Me>("/api/v1/session", { token: token.trim() }));
          } catch (err) {
            setError(message(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">API token</label>
        <input id="token" ref={field} type="password" autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} required aria-describedby="token-help" />
        <p id="token-help" class="muted">
          A token from <code>hv api token create NAME --role viewer|operator|admin</code>. It stays on the server: the browser keeps only a session cookie.
        </p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
        <ErrorBox error={error} />
      </form>
    </main>
  );
}

function Shell({ me, logout }: { me: Me; logout: () => Promise<void> }) {
  const route = useRoute();
  const live = useLiveState();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // Another page: move focus to its heading, so the keyboard and screen readers start there. The
  // first page is left alone, as a browser leaves a freshly loaded one (Tab starts at the top).
  useEffect(() => {
    if (first.current) first.current = false;
    else main.current?.querySelector("h1")?.focus();
  }, [route.path]);
  const section = `/${route.parts[0] ?? ""}`;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.querySelector("h1")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href("/")}>
          hv
        </a>
        <nav aria-label="Sections">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}>
                <a href={href(n.path)} aria-current={section === n.path ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span class={`live live-${live}`} title="Live updates from /api/v1/stream">
            {live === "live" ? "● live" : live === "reconnecting" || live === "connecting" ? "○ connecting" : "○ offline"}
          </span>
          <span>
            {me.token.name} <span class="role">({me.token.role})</span>
          </span>
          <button type="button" onClick={() => void logout()}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" ref={main}>
        <Page route={route} me={me} />
      </main>
      <Announcer />
    </>
  );
}

function Page({ route, me }: { route: Route; me: Me }) {
  const role = me.token.role;
  const [first, second] = route.parts;
  switch (first) {
    case undefined:
      return <OverviewPage />;
    case "alerts":
      return second ? <AlertPage id={Number(second)} role={role} /> : <AlertsPage role={role} route={route} />;
    case "vms":
      return <VmsPage role={role} />;
    case "actions":
      return <ActionsPage role={role} />;
    case "feeds":
      return <FeedsPage role={role} />;
    case "forensics":
      return <ForensicsPage role={role} />;
    default:
      return (
        <>
          <h1 tabIndex={-1}>Not found</h1>
          <p>
            No page {route.path}. <a href={href("/")}>Go to the overview</a>.
          </p>
        </>
      );
  }
}

render(<App />, document.getElementById("app")!);
