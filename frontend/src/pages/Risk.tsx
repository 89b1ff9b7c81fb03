import { useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText, Loaded, useAsync } from "../components/async";
import { num, pct, timeNs } from "../components/format";
import { useTopic } from "../live/context";
import { allows, useSession } from "../session";

type Method = "historical" | "parametric";
type Breach = { ts_ns: number; topic: string; payload: Record<string, unknown> };
/** What both VaR methods answer, as shown. */
type VarView = { method: string; levels: { confidence: number; var: number; cvar: number }[]; portfolio_value: number; n_observations?: number };

/** VaR/CVaR of an account by method, limit sets with utilisation, breaches as they happen, stress windows. */
export function Risk() {
  const { api, identity } = useSession();
  const accounts = useAsync(async () => unwrap(await api.GET("/api/v1/trading/accounts")).items.map((a) => a.id), [api]);
  const sets = useAsync(async () => unwrap(await api.POST("/api/v1/risk/list_limit_sets", { body: { limit: 100 } })).sets, [api]);
  const [account, setAccount] = useState("");
  const [method, setMethod] = useState<Method>("historical");
  const [lookback, setLookback] = useState("250");
  const [varResult, setVar] = useState<VarView | null>(null);
  const [checks, setChecks] = useState<Schemas["CheckLimitsResponse"] | null>(null);
  const [stress, setStress] = useState<Schemas["HistoricalStressResponse"] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [breaches, setBreaches] = useState<Breach[]>([]);
  useTopic("events.risk.limits.*", (e) => setBreaches((b) => [{ ts_ns: e.ts_ns, topic: e.topic, payload: e.payload }, ...b].slice(0, 50)));
  const acct = account || accounts.data?.[0] || "";

  async function run(what: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(errorText(e as Error));
    } finally {
      setBusy(false);
    }
  }
  const market = { lookback_days: Number(lookback) };
  const ref = { account_id: acct };

  async function snapshot(): Promise<Schemas["PortfolioSnapshot"]> {
    const pos = unwrap(await api.GET("/api/v1/trading/positions", { params: { query: { account_id: acct } } })).items;
    return {
      name: acct,
      positions: pos.filter((p) => p.qty !== 0).map((p) => ({ symbol: p.symbol, quantity: p.qty, value: p.market_value ?? p.qty * p.avg_cost })),
    } as Schemas["PortfolioSnapshot"];
  }

  return (
    <div className="grid">
      <section>
        <h2>Value at risk</h2>
        <Loaded state={accounts} empty={(a) => a.length === 0} emptyText="No trading accounts: VaR here is of an account's positions.">
          {(ids) => (
            <form className="inline" aria-label="var" onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                const body = { account: ref, market, confidence_levels: [0.95, 0.99] };
                if (method === "historical") setVar(unwrap(await api.POST("/api/v1/risk/compute_historical_var", { body })));
                else {
                  const r = unwrap(await api.POST("/api/v1/risk/compute_parametric_var", { body }));
                  setVar({ ...r, method: `parametric ${r.method}` });
                }
              });
            }}>
              <select aria-label="account" value={acct} onChange={(e) => setAccount(e.target.value)}>
                {ids.map((a) => <option key={a}>{a}</option>)}
              </select>
              <select aria-label="method" value={method} onChange={(e) => setMethod(e.target.value as Method)}>
                <option value="historical">historical</option>
                <option value="parametric">parametric (gaussian)</option>
              </select>
              <label>lookback days <input value={lookback} onChange={(e) => setLookback(e.target.value)} size={5} /></label>
              <button type="submit" disabled={busy || !allows(identity, "compute")}>Compute</button>
            </form>
          )}
        </Loaded>
        {error && <p className="error" role="alert">{error}</p>}
        {varResult && (
          <table data-testid="var">
            <thead><tr><th>confidence</th><th>VaR</th><th>CVaR</th></tr></thead>
            <tbody>
              {varResult.levels.map((l) => (
                <tr key={l.confidence}><td>{pct(l.confidence, 1)}</td><td>{num(l.var)}</td><td>{num(l.cvar)}</td></tr>
              ))}
            </tbody>
            <tfoot><tr><td colSpan={3} className="muted">{varResult.method}, portfolio {num(varResult.portfolio_value)}, {varResult.n_observations ?? "–"} observations</td></tr></tfoot>
          </table>
        )}
      </section>
      <section>
        <h2>Limit sets</h2>
        <Loaded state={sets} empty={(s) => s.length === 0} emptyText="No limit sets yet.">
          {(s) => (
            <table data-testid="limit-sets">
              <thead><tr><th>id</th><th>name</th><th>limits</th><th /></tr></thead>
              <tbody>
                {s.map((x) => (
                  <tr key={x.id}>
                    <td>{x.id}</td><td>{x.name}</td><td>{x.n_limits}</td>
                    <td>
                      <button disabled={busy || !acct} onClick={() => void run(async () => {
                        setChecks(unwrap(await api.POST("/api/v1/risk/check_limits", { body: { set_id: x.id, portfolio: await snapshot(), publish: true } })));
                      })}>Check {acct}</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
        {allows(identity, "risk-admin") && <NewLimitSet onCreated={sets.reload} />}
        {checks && (
          <div data-testid="utilisation">
            <h3>{checks.set_name}: {checks.n_breaches} breaches, {checks.n_warnings} warnings</h3>
            {checks.results.map((r) => (
              <div key={r.limit_id} className={`util util-${r.status}`}>
                <span>{r.limit_type}{r.scope ? ` (${r.scope})` : ""}</span>
                <meter min={0} max={1} low={0.8} high={0.99} value={Math.min(r.utilisation, 1)} />
                <span>{pct(r.utilisation, 0)} · {num(r.value)} / {num(r.threshold)} · {r.status}</span>
              </div>
            ))}
          </div>
        )}
      </section>
      <section>
        <h2>Breaches (live)</h2>
        {breaches.length === 0 ? (
          <p className="muted empty">No breach since this page opened.</p>
        ) : (
          <ul className="events" data-testid="breaches">
            {breaches.map((b, i) => (
              <li key={`${b.ts_ns}-${i}`}>
                <span className="mono">{timeNs(b.ts_ns)}</span> <b>{String(b.payload.limit_type ?? "breach")}</b>{" "}
                {String(b.payload.detail ?? "")} <span className="muted">{b.topic}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h2>Stress: worst historical windows</h2>
        <button disabled={busy || !acct || !allows(identity, "compute")} onClick={() => void run(async () => {
          setStress(unwrap(await api.POST("/api/v1/risk/run_historical_stress", { body: { account: ref, market: { lookback_days: 2500 }, window_days: 10, worst_count: 5 } })));
        })}>Run for {acct || "an account"}</button>
        {stress && (
          <table data-testid="stress">
            <thead><tr><th>window</th><th>P&amp;L</th><th>% of gross</th></tr></thead>
            <tbody>
              {stress.worst_windows.map((w, i) => (
                <tr key={i}><td>{w.start_date} – {w.end_date}</td><td>{num(w.pnl_total)}</td><td>{pct(w.pnl_pct)}</td></tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function NewLimitSet(props: { onCreated: () => void }) {
  const { api } = useSession();
  const [name, setName] = useState("gross-cap");
  const [threshold, setThreshold] = useState("1000000");
  const [error, setError] = useState<string | null>(null);
  return (
    <form className="inline" aria-label="new limit set" onSubmit={async (e) => {
      e.preventDefault();
      setError(null);
      try {
        unwrap(await api.POST("/api/v1/risk/create_limit_set", {
          body: { name, description: "made in the dashboard", limits: [{ limit_type: "gross_exposure", threshold: Number(threshold) }] },
        }));
        props.onCreated();
      } catch (err) {
        setError(errorText(err as Error));
      }
    }}>
      <input aria-label="limit set name" value={name} onChange={(e) => setName(e.target.value)} />
      <label>gross exposure ≤ <input aria-label="gross exposure threshold" value={threshold} onChange={(e) => setThreshold(e.target.value)} size={10} /></label>
      <button type="submit">Create limit set</button>
      {error && <span className="error" role="alert">{error}</span>}
    </form>
  );
}
