import { useState, type FormEvent } from "react";
import { makeApi, unwrap } from "./api/client";
import type { GatewayConfig } from "./api/config";
import { errorText } from "./components/async";
import type { Identity } from "./session";

/** Sign-in with an API key: checked against /api/v1/auth/whoami before it is kept. */
export function SignIn(props: {
  config: GatewayConfig;
  reason: string | null;
  onSignedIn: (key: string, identity: Identity) => void;
}) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError("Enter an API key (the start script prints the admin key once).");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const api = makeApi(props.config.apiUrl, trimmed, () => undefined);
      const identity = unwrap(await api.GET("/api/v1/auth/whoami"));
      props.onSignedIn(trimmed, identity);
    } catch (err) {
      setError(
        err instanceof TypeError
          ? `The gateway at ${props.config.apiUrl} did not answer: is the platform running, and does it allow ` +
              `this page's origin (${window.location.origin}, NAUTILUS_ALLOWED_ORIGINS)?`
          : errorText(err as Error),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <h1>Nautilus</h1>
      <form onSubmit={submit} aria-label="sign in">
        <label>
          API key
          <input
            name="apiKey"
            type="password"
            autoComplete="off"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            placeholder="ntk_…"
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {(error ?? props.reason) && (
          <p className="error" role="alert">
            {error ?? `Signed out: ${props.reason}`}
          </p>
        )}
      </form>
      <p className="muted">The key stays in this tab's session storage and is sent only to {props.config.apiUrl}.</p>
    </main>
  );
}
