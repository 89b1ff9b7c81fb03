import { AreaSeries, ColorType, createChart, LineSeries, type UTCTimestamp } from "lightweight-charts";
import { useEffect, useRef, useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText, Loaded, useAsync } from "../components/async";
import { num, pct } from "../components/format";
import { useTopic } from "../live/context";
import { allows, useSession } from "../session";

type Job = Schemas["JobView"];
type Backtest = Schemas["BacktestResponse"];
const POLL_MS = 1000;
const day = (ns: unknown): string => (typeof ns === "number" ? new Date(ns / 1e6).toISOString().slice(0, 10) : "–");

/** Strategies of the strategy engine, a backtest run as a job with its progress, and its result: equity
 * curve, drawdown, metrics and trades; earlier backtests can be opened again. */
export function Strategies() {
  const { api, identity } = useSession();
  const strategies = useAsync(async () => unwrap(await api.POST("/api/v1/strategy/list_strategies", { body: {} })).items, [api]);
  const history = useAsync(async () => unwrap(await api.POST("/api/v1/strategy/list_backtests", { body: { limit: 20 } })).items, [api]);
  const [name, setName] = useState("");
  const [params, setParams] = useState<Record<string, string>>({});
  const [symbols, setSymbols] = useState("AAPL");
  const [start, setStart] = useState("2015-01-01");
  const [job, setJob] = useState<Job | null>(null);
  const [result, setResult] = useState<Backtest | null>(null);
  const [error, setError] = useState<string | null>(null);
  const chosen = strategies.data?.find((s) => s.name === (name || strategies.data?.[0]?.name));

  useTopic("events.job.strategy.backtest", (e) => {
    const p = e.payload as unknown as Job;
    if (job && p.id === job.id) setJob((j) => (j ? { ...j, ...p } : j));
  });
  // the bus is for speed; polling is what guarantees the end is seen
  useEffect(() => {
    if (!job || job.status === "failed" || job.status === "cancelled") return;
    if (job.status === "succeeded" && job.result) return; // events carry no result: get_job has it
    const t = setTimeout(async () => {
      const r = await api.POST("/api/v1/strategy/get_job", { body: { job_id: job.id } });
      if (r.data) setJob(r.data);
    }, job.status === "succeeded" ? 0 : POLL_MS);
    return () => clearTimeout(t);
  }, [api, job]);
  const backtestId = job?.status === "succeeded" ? (job.result as { backtest_id?: number } | null)?.backtest_id : undefined;
  useEffect(() => {
    if (!backtestId) return;
    void open(backtestId);
    history.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [backtestId]);

  async function open(id: number) {
    setError(null);
    try {
      setResult(unwrap(await api.POST("/api/v1/strategy/get_backtest", { body: { backtest_id: id } })));
    } catch (e) {
      setError(errorText(e as Error));
    }
  }

  async function run() {
    if (!chosen) return;
    setError(null);
    setResult(null);
    try {
      const values = Object.fromEntries(Object.entries(params).filter(([k]) => chosen.params && k in chosen.params).map(([k, v]) => [k, Number.isNaN(Number(v)) ? v : Number(v)]));
      const body = {
        strategy: chosen.name,
        params: values,
        symbols: symbols.split(/[\s,]+/).filter(Boolean).map((s) => s.toUpperCase()),
        timeframe: "1d",
        ...(start ? { start: `${start}T00:00:00Z` } : {}),
      } as Schemas["BacktestRequest"];
      setJob(unwrap(await api.POST("/api/v1/strategy/submit_backtest", { body })));
    } catch (e) {
      setError(errorText(e as Error));
    }
  }

  return (
    <div className="grid">
      <section>
        <h2>Strategy</h2>
        <Loaded state={strategies} empty={(s) => s.length === 0} emptyText="No strategies in the strategies directory.">
          {(items) => (
            <form className="ticket" aria-label="backtest" onSubmit={(e) => { e.preventDefault(); void run(); }}>
              <label>
                strategy
                <select aria-label="strategy" value={chosen?.name ?? ""} onChange={(e) => { setName(e.target.value); setParams({}); }}>
                  {items.filter((s) => !s.error).map((s) => <option key={s.name}>{s.name}</option>)}
                </select>
              </label>
              <label>symbols<input aria-label="backtest symbols" value={symbols} onChange={(e) => setSymbols(e.target.value)} /></label>
              <label>from<input aria-label="backtest start" type="date" value={start} onChange={(e) => setStart(e.target.value)} /></label>
              {Object.entries(chosen?.params ?? {}).map(([k, p]) => (
                <label key={k} title={p.doc}>
                  {k}
                  <input aria-label={`param ${k}`} value={params[k] ?? String(p.default ?? "")} onChange={(e) => setParams((x) => ({ ...x, [k]: e.target.value }))} />
                </label>
              ))}
              <button type="submit" disabled={!allows(identity, "compute") || (job !== null && (job.status === "queued" || job.status === "running"))}>
                Run backtest
              </button>
              {chosen?.description && <p className="muted">{chosen.description}</p>}
            </form>
          )}
        </Loaded>
        {job && (
          <div data-testid="backtest-job" data-status={job.status}>
            <progress max={1} value={job.progress} /> {Math.round(job.progress * 100)}% · {job.status}
            {job.message ? ` · ${job.message}` : ""}
            {job.error && <p className="error">{job.error}</p>}
          </div>
        )}
        {error && <p className="error" role="alert">{error}</p>}
      </section>
      <section>
        <h2>Earlier backtests</h2>
        <Loaded state={history} empty={(h) => h.length === 0} emptyText="No backtests stored yet.">
          {(h) => (
            <table>
              <thead><tr><th>id</th><th>strategy</th><th>engine</th><th>return</th><th>Sharpe</th><th /></tr></thead>
              <tbody>
                {h.map((b) => (
                  <tr key={b.backtest_id}>
                    <td>{b.backtest_id}</td><td>{b.strategy}</td><td>{b.engine}</td>
                    <td>{pct(b.metrics.total_return as number | undefined)}</td><td>{num(b.metrics.sharpe as number | undefined)}</td>
                    <td><button className="small" onClick={() => void open(b.backtest_id)}>open</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Loaded>
      </section>
      {result && <BacktestResult r={result} />}
    </div>
  );
}

function BacktestResult({ r }: { r: Backtest }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!host.current) return;
    const c = createChart(host.current, {
      height: 300,
      layout: { background: { type: ColorType.Solid, color: "#0f1419" }, textColor: "#c7d0d9" },
      grid: { vertLines: { color: "#1c2530" }, horzLines: { color: "#1c2530" } },
    });
    const times = r.equity.ts_ns.map((t) => Math.floor(t / 1e9) as UTCTimestamp);
    c.addSeries(LineSeries, { color: "#4aa3ff", title: "equity" }).setData(times.map((time, i) => ({ time, value: r.equity.equity[i]! })));
    let peak = -Infinity;
    const dd = r.equity.equity.map((v) => ((peak = Math.max(peak, v)), v / peak - 1));
    c.addSeries(AreaSeries, { priceScaleId: "dd", lineColor: "#f85149", topColor: "rgba(248,81,73,0.05)", bottomColor: "rgba(248,81,73,0.4)", title: "drawdown" })
      .setData(times.map((time, i) => ({ time, value: dd[i]! })));
    c.priceScale("dd").applyOptions({ scaleMargins: { top: 0.75, bottom: 0 } });
    c.timeScale().fitContent();
    return () => c.remove();
  }, [r]);
  const m = r.metrics as Record<string, number | null>;
  return (
    <section className="wide" data-testid="backtest-result">
      <h2>Backtest {r.backtest_id}: {r.strategy} <span className="muted">{r.version.slice(0, 12)} · {r.engine}</span></h2>
      <p>
        return {pct(m.total_return)} · CAGR {pct(m.cagr)} · Sharpe {num(m.sharpe)} · Sortino {num(m.sortino)} · max drawdown {pct(m.max_drawdown)} ·
        win rate {pct(m.win_rate)} · profit factor {num(m.profit_factor)} · {r.trades.length} trades{r.truncated ? " (first shown; all stored)" : ""}
      </p>
      <div ref={host} className="chart" />
      <table data-testid="trades">
        <thead>
          <tr><th>symbol</th><th>direction</th><th>entry</th><th>entry price</th><th>exit</th><th>exit price</th><th>qty</th><th>P&amp;L</th><th>return</th></tr>
        </thead>
        <tbody>
          {r.trades.slice(0, 200).map((t, i) => (
            <tr key={i}>
              <td>{String(t.symbol)}</td><td>{String(t.direction)}</td><td>{day(t.entry_ts_ns)}</td><td>{num(t.entry_price as number)}</td>
              <td>{t.open ? "open" : day(t.exit_ts_ns)}</td><td>{num(t.exit_price as number | null)}</td><td>{num(t.qty as number, 0)}</td>
              <td>{num(t.pnl as number | null)}</td><td>{pct(t.return as number | null)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
