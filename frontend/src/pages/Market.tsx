import { useMemo, useState } from "react";
import { unwrap, type Schemas } from "../api/client";
import { errorText, Loaded, useAsync } from "../components/async";
import { CandleChart, type Overlay } from "../components/CandleChart";
import { num, timeNs } from "../components/format";
import { useTopic } from "../live/context";
import { allows, useSession } from "../session";

const TIMEFRAMES = ["1m", "5m", "15m", "1h", "1d"] as const;
const OVERLAYS = [
  { name: "sma", period: 20, color: "#f5a623" },
  { name: "ema", period: 50, color: "#4aa3ff" },
] as const;
const FEED_ID = "dashboard";

/** Symbol search over stored instruments, candles at any stored timeframe with indicator overlays from
 * the features engine, live quotes from the feed, and the simulated feed's start/stop. */
export function Market() {
  const { api, identity } = useSession();
  const canLoad = allows(identity, "data-admin");
  const [search, setSearch] = useState("");
  const [symbol, setSymbol] = useState<string | null>(null);
  const [timeframe, setTimeframe] = useState<(typeof TIMEFRAMES)[number]>("1d");
  const [overlayOn, setOverlayOn] = useState(true);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const instruments = useAsync(
    async () => unwrap(await api.POST("/api/v1/marketdata/list_instruments", { body: { limit: 1000 } })),
    [api],
  );
  const feed = useAsync(async () => unwrap(await api.POST("/api/v1/marketdata/list_feeds", { body: {} })), [api]);

  const bars = useAsync(async () => {
    if (!symbol) return null;
    return unwrap(await api.POST("/api/v1/marketdata/query_bars", { body: { symbol, timeframe, limit: 100_000 } }));
  }, [api, symbol, timeframe]);
  const barCount = bars.data?.ts.length ?? 0;
  const indicators = useAsync(async () => {
    if (!symbol || !overlayOn || barCount === 0) return [] as Overlay[]; // no bars: nothing to overlay
    const r = unwrap(
      await api.POST("/api/v1/features/compute_stored_indicators", {
        body: { symbols: [symbol], timeframe, indicators: OVERLAYS.map((o) => ({ name: o.name, params: { timeperiod: o.period } })) },
      }),
    );
    const values = r.results[0]?.values ?? {};
    return r.columns.map((c, i) => ({ name: c.name, values: (values[c.name] ?? []) as (number | null)[], color: OVERLAYS[i]?.color ?? "#ccc" }));
  }, [api, symbol, timeframe, overlayOn, barCount]);

  const [quote, setQuote] = useState<{ bid: number; ask: number; ts_ns: number } | null>(null);
  useTopic(symbol ? `data.quotes.*.${symbol}` : null, (e) => {
    const p = e.payload as { bid: number; ask: number; ts_ns: number };
    setQuote({ bid: p.bid, ask: p.ask, ts_ns: p.ts_ns });
  });

  const matches = useMemo(() => {
    const q = search.trim().toUpperCase();
    return (instruments.data?.instruments ?? []).filter((i) => !q || i.symbol.includes(q) || (i.sector ?? "").toUpperCase().includes(q));
  }, [instruments.data, search]);
  const feedRunning = (feed.data?.feeds ?? []).find((f: Schemas["FeedStatus"]) => f.feed_id === FEED_ID && f.state === "running");

  async function act(what: () => Promise<string>) {
    setBusy(true);
    setMessage(null);
    try {
      setMessage(await what());
    } catch (e) {
      setMessage(errorText(e as Error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="grid">
      <section>
        <h2>Instruments</h2>
        <div className="row">
          <input aria-label="search symbols" placeholder="search symbol or sector" value={search} onChange={(e) => setSearch(e.target.value)} />
          <button disabled={!canLoad || busy} title={canLoad ? "" : "needs the data-admin scope"}
            onClick={() => act(async () => {
              const r = unwrap(await api.POST("/api/v1/marketdata/load_samples", { body: {} }));
              instruments.reload();
              return `loaded ${r.loads.reduce((n, l) => n + (l.rows_inserted ?? 0), 0)} new bars from ${r.loads.length} sample sets`;
            })}>
            Load samples
          </button>
        </div>
        {message && <p className="note" data-testid="market-message">{message}</p>}
        <Loaded state={instruments} empty={(d) => d.instruments.length === 0} emptyText="No instruments stored yet: load the samples.">
          {() => (
            <ul className="symbols" data-testid="instruments">
              {matches.slice(0, 200).map((i) => (
                <li key={i.symbol}>
                  <button className={i.symbol === symbol ? "active" : ""} onClick={() => setSymbol(i.symbol)}>
                    {i.symbol}
                  </button>{" "}
                  <span className="muted">{i.sector ?? i.asset_class}</span>
                </li>
              ))}
            </ul>
          )}
        </Loaded>
      </section>
      <section className="wide2">
        <h2>
          {symbol ?? "Chart"}{" "}
          {quote && (
            <span className="quote" data-testid="quote">
              bid {num(quote.bid)} · ask {num(quote.ask)} <span className="muted">{timeNs(quote.ts_ns)}</span>
            </span>
          )}
        </h2>
        <div className="row">
          <select aria-label="timeframe" value={timeframe} onChange={(e) => setTimeframe(e.target.value as (typeof TIMEFRAMES)[number])}>
            {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
          </select>
          <label className="check">
            <input type="checkbox" checked={overlayOn} onChange={(e) => setOverlayOn(e.target.checked)} /> SMA 20 / EMA 50 (features engine)
          </label>
          {symbol && (
            <button disabled={!canLoad || busy} onClick={() => act(async () => {
              if (feedRunning) {
                unwrap(await api.POST("/api/v1/marketdata/stop_feed", { body: { feed_id: FEED_ID } }));
                feed.reload();
                return "simulated feed stopped";
              }
              unwrap(await api.POST("/api/v1/marketdata/start_feed", { body: { feed_id: FEED_ID, symbols: [symbol], mode: "model", seed: 1 } }));
              feed.reload();
              return `simulated feed started for ${symbol}`;
            })}>
              {feedRunning ? "Stop simulated feed" : "Start simulated feed"}
            </button>
          )}
        </div>
        {!symbol ? (
          <p className="muted empty">Pick an instrument.</p>
        ) : (
          <Loaded state={bars} empty={(b) => !b || b.ts.length === 0} emptyText={`No ${timeframe} bars stored for ${symbol}.`}>
            {(b) => <CandleChart bars={b!} overlays={indicators.data ?? []} last={quote ? (quote.bid + quote.ask) / 2 : null} />}
          </Loaded>
        )}
        {indicators.error && <p className="error">indicators: {errorText(indicators.error)}</p>}
      </section>
    </div>
  );
}
