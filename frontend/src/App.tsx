import { useEffect, useMemo, useState } from "react";
import { makeApi, unwrap } from "./api/client";
import { loadConfig } from "./api/config";
import { useAsync, Loaded } from "./components/async";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { LiveContext, useLiveState } from "./live/context";
import { LiveSocket } from "./live/socket";
import { Analytics } from "./pages/Analytics";
import { Market } from "./pages/Market";
import { Overview } from "./pages/Overview";
import { Portfolio } from "./pages/Portfolio";
import { Risk } from "./pages/Risk";
import { Trading } from "./pages/Trading";
import { KEY_STORAGE, SessionContext, useSession, type Identity, type Session } from "./session";
import { SignIn } from "./SignIn";

/** Pages and the engine each needs: a page shows only when its engine declares operations. */
const PAGES = [
  { id: "overview", title: "Overview", engine: null, Page: Overview },
  { id: "market", title: "Market", engine: "marketdata", Page: Market },
  { id: "trading", title: "Trading", engine: "trading", Page: Trading },
  { id: "risk", title: "Risk", engine: "risk", Page: Risk },
  { id: "portfolio", title: "Portfolio", engine: "portfolio", Page: Portfolio },
  { id: "analytics", title: "Analytics", engine: "analytics", Page: Analytics },
] as const;

const ENGINES_REFRESH_MS = 5000;

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash.slice(2) || "overview");
  useEffect(() => {
    const on = () => setHash(window.location.hash.slice(2) || "overview");
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function LiveIndicator() {
  const state = useLiveState();
  return (
    <span className={`live live-${state}`} data-testid="live-state" title="live updates through the websocket">
      ● {state === "live" ? "live" : state === "connecting" ? "connecting…" : "disconnected (retrying)"}
    </span>
  );
}

function Shell() {
  const session = useSession();
  const hash = useHash();
  const engines = useAsync(async () => unwrap(await session.api.GET("/api/v1/engines")), [session.api]);
  // breaker states move: re-read them, so a page whose engine is down says so instead of spinning
  const reloadEngines = engines.reload;
  useEffect(() => {
    const t = setInterval(reloadEngines, ENGINES_REFRESH_MS);
    return () => clearInterval(t);
  }, [reloadEngines]);
  return (
    <Loaded state={engines}>
      {(data) => {
        const withOps = new Set(data.engines.filter((e) => e.operations.length > 0).map((e) => e.name));
        withOps.add("trading"); // the trading core lives in the gateway itself: its routes are always there
        const pages = PAGES.filter((p) => p.engine === null || withOps.has(p.engine));
        const current = pages.find((p) => p.id === hash) ?? pages[0]!;
        const down = new Set(
          data.engines.filter((e) => e.backends.length > 0 && e.backends.every((b) => b.circuit.state === "open")).map((e) => e.name),
        );
        return (
          <>
            <header>
              <strong>Nautilus</strong>
              <nav>
                {pages.map((p) => (
                  <a key={p.id} href={`#/${p.id}`} className={p.id === current.id ? "active" : ""}>
                    {p.title}
                  </a>
                ))}
              </nav>
              <LiveIndicator />
              <span className="who" title={`scopes: ${session.identity.scopes.join(", ")}`}>
                {session.identity.name} · {session.identity.scopes.join(", ")}
              </span>
              <button onClick={() => session.signOut()}>Sign out</button>
            </header>
            <main data-page={current.id}>
              {current.engine && down.has(current.engine) && (
                <p className="error banner" role="alert" data-testid="engine-down">
                  The {current.engine} engine is down (every backend's circuit is open): what this page asks of
                  it fails until a health probe sees it back.
                </p>
              )}
              <ErrorBoundary resetKey={current.id}>
                <current.Page />
              </ErrorBoundary>
            </main>
          </>
        );
      }}
    </Loaded>
  );
}

export function App() {
  const config = useAsync(loadConfig, []);
  const [signedIn, setSignedIn] = useState<{ key: string; identity: Identity } | null>(null);
  const [reason, setReason] = useState<string | null>(null);
  const [restoring, setRestoring] = useState(() => sessionStorage.getItem(KEY_STORAGE) !== null);

  const session = useMemo<Session | null>(() => {
    if (!config.data || !signedIn) return null;
    const signOut = (why?: string) => {
      sessionStorage.removeItem(KEY_STORAGE);
      setReason(why ?? null);
      setSignedIn(null);
    };
    return {
      api: makeApi(config.data.apiUrl, signedIn.key, signOut),
      config: config.data,
      apiKey: signedIn.key,
      identity: signedIn.identity,
      signOut,
    };
  }, [config.data, signedIn]);

  const live = useMemo(
    () => (session ? new LiveSocket(session.config.wsUrl, session.apiKey, undefined, session.signOut) : null),
    [session],
  );
  useEffect(() => {
    live?.start();
    return () => live?.stop();
  }, [live]);

  // a reload of the tab keeps the session: check the stored key again
  useEffect(() => {
    const stored = sessionStorage.getItem(KEY_STORAGE);
    if (!config.data || !stored || signedIn) return;
    const api = makeApi(config.data.apiUrl, stored, () => undefined);
    api
      .GET("/api/v1/auth/whoami")
      .then((r) => {
        if (r.data) setSignedIn({ key: stored, identity: r.data });
        else sessionStorage.removeItem(KEY_STORAGE);
      })
      .catch(() => undefined)
      .finally(() => setRestoring(false));
  }, [config.data, signedIn]);

  if (config.error) return <p className="error">{config.error.message}</p>;
  if (!config.data || restoring) return <p className="muted">Loading…</p>;
  if (!session)
    return (
      <SignIn
        config={config.data}
        reason={reason}
        onSignedIn={(key, identity) => {
          sessionStorage.setItem(KEY_STORAGE, key);
          setReason(null);
          setSignedIn({ key, identity });
        }}
      />
    );
  return (
    <SessionContext.Provider value={session}>
      <LiveContext.Provider value={live}>
        <Shell />
      </LiveContext.Provider>
    </SessionContext.Provider>
  );
}
