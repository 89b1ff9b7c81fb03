import { useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText } from "../components/async";
import { num, pct } from "../components/format";
import { allows, useSession } from "../session";

const OBJECTIVES = ["min_risk", "max_sharpe", "max_return", "max_utility"] as const;
const METHODS = ["mean_risk", "hrp", "risk_budgeting", "inverse_volatility", "equal_weight"] as const;

/** Optimise weights over stored daily closes. */
export function Portfolio() {
  const { api, identity } = useSession();
  const [symbols, setSymbols] = useState("AAPL, MSFT, JPM, XOM, JNJ, KO, WMT, PG");
  const [objective, setObjective] = useState<(typeof OBJECTIVES)[number]>("max_sharpe");
  const [method, setMethod] = useState<(typeof METHODS)[number]>("mean_risk");
  const [maxWeight, setMaxWeight] = useState("0.3");
  const [result, setResult] = useState<Schemas["OptimizeResponse"] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div className="grid">
      <section className="wide">
        <h2>Optimise</h2>
        <form className="inline" aria-label="optimise" onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const list = symbols.split(/[\s,]+/).filter(Boolean).map((s) => s.toUpperCase());
            setResult(unwrap(await api.POST("/api/v1/portfolio/optimize_portfolio", {
              body: { market: { symbols: list, lookback_days: 750 }, method, objective, constraints: { max_weight: Number(maxWeight) } } as Schemas["OptimizeRequest"],
            })));
          } catch (err) {
            setError(errorText(err as Error));
          } finally {
            setBusy(false);
          }
        }}>
          <label>symbols <input aria-label="symbols" value={symbols} onChange={(e) => setSymbols(e.target.value)} size={40} /></label>
          <select aria-label="method" value={method} onChange={(e) => setMethod(e.target.value as (typeof METHODS)[number])}>
            {METHODS.map((m) => <option key={m}>{m}</option>)}
          </select>
          <select aria-label="objective" value={objective} disabled={method !== "mean_risk"} onChange={(e) => setObjective(e.target.value as (typeof OBJECTIVES)[number])}>
            {OBJECTIVES.map((m) => <option key={m}>{m}</option>)}
          </select>
          <label>max weight <input aria-label="max weight" value={maxWeight} onChange={(e) => setMaxWeight(e.target.value)} size={4} /></label>
          <button type="submit" disabled={busy || !allows(identity, "compute")}>{busy ? "Optimising…" : "Optimise"}</button>
        </form>
        {error && <p className="error" role="alert">{error}</p>}
        {result && (
          <>
            <p>
              expected return {pct(result.expected_return_annual)} · volatility {pct(result.volatility_annual)} · Sharpe {num(result.sharpe)} ·{" "}
              <span className="muted">{result.solver.engine}/{result.solver.solver} {result.solver.status}, {result.n_observations} days</span>
            </p>
            <table data-testid="weights">
              <thead><tr><th>symbol</th><th>weight</th><th /><th>risk contribution</th></tr></thead>
              <tbody>
                {result.symbols.map((s, i) => (
                  <tr key={s}>
                    <td>{s}</td><td>{pct(result.weights[i])}</td>
                    <td><div className="bar" style={{ width: `${Math.max(0, (result.weights[i] ?? 0) * 300)}px` }} /></td>
                    <td>{pct(result.risk_contributions[i])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </div>
  );
}
