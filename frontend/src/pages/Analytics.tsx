import { useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText } from "../components/async";
import { num, pct } from "../components/format";
import { allows, useSession } from "../session";

/** A tear sheet of a stored symbol's daily returns against a benchmark, rendered by the analytics engine. */
export function Analytics() {
  const { api, identity } = useSession();
  const [symbol, setSymbol] = useState("AAPL");
  const [benchmark, setBenchmark] = useState("SPY");
  const [sheet, setSheet] = useState<Schemas["TearSheetResponse"] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function returnsOf(s: string) {
    const b = unwrap(await api.POST("/api/v1/marketdata/query_bars", { body: { symbol: s, timeframe: "1d", limit: 100_000 } }));
    const map = new Map<string, number>();
    for (let i = 1; i < b.close.length; i++) map.set(b.ts[i]!.slice(0, 10), b.close[i]! / b.close[i - 1]! - 1);
    return map;
  }

  return (
    <div className="grid">
      <section className="wide">
        <h2>Tear sheet</h2>
        <form className="inline" aria-label="tear sheet" onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const [r, bench] = await Promise.all([returnsOf(symbol), benchmark ? returnsOf(benchmark) : Promise.resolve(null)]);
            const dates = [...r.keys()].filter((d) => !bench || bench.has(d));
            if (dates.length < 30) throw new Error(`only ${dates.length} common daily returns: load the samples first`);
            setSheet(unwrap(await api.POST("/api/v1/analytics/render_tear_sheet", {
              body: {
                returns: dates.map((d) => r.get(d)!), dates,
                ...(bench ? { benchmark_returns: dates.map((d) => bench.get(d)!), benchmark_name: benchmark } : {}),
                title: `${symbol} daily returns`, format: "svg",
              } as Schemas["TearSheetRequest"],
            })));
          } catch (err) {
            setError(errorText(err as Error));
          } finally {
            setBusy(false);
          }
        }}>
          <label>symbol <input aria-label="symbol" value={symbol} onChange={(e) => setSymbol(e.target.value.toUpperCase())} /></label>
          <label>benchmark <input aria-label="benchmark" value={benchmark} onChange={(e) => setBenchmark(e.target.value.toUpperCase())} /></label>
          <button type="submit" disabled={busy || !allows(identity, "compute")}>{busy ? "Rendering…" : "Render"}</button>
        </form>
        {error && <p className="error" role="alert">{error}</p>}
        {sheet && (
          <>
            <p data-testid="metrics">
              {sheet.n_periods} days · total {pct(sheet.metrics.total_return)} · CAGR {pct(sheet.metrics.cagr)} · Sharpe {num(sheet.metrics.sharpe)} ·
              Sortino {num(sheet.metrics.sortino)} · volatility {pct(sheet.metrics.annualized_volatility)}
            </p>
            <iframe title="tear sheet" className="sheet" sandbox="" srcDoc={sheet.html} />
          </>
        )}
      </section>
    </div>
  );
}
