import {
  CandlestickSeries,
  ColorType,
  createChart,
  LineSeries,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useRef } from "react";
import type { Schemas } from "../api/client";

export interface Overlay {
  name: string;
  values: (number | null)[];
  color: string;
}

/** Candles from the stored bars (TradingView's lightweight-charts, bundled) with indicator overlays; `last`
 * (a live mid price) moves the last candle while its interval is the current one. */
export function CandleChart(props: {
  bars: Schemas["Bars"];
  overlays: Overlay[];
  last?: number | null;
}) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const candles = useRef<ISeriesApi<"Candlestick"> | null>(null);
  const { bars, overlays, last } = props;

  useEffect(() => {
    if (!host.current) return;
    const c = createChart(host.current, {
      height: 380,
      layout: { background: { type: ColorType.Solid, color: "#0f1419" }, textColor: "#c7d0d9" },
      grid: { vertLines: { color: "#1c2530" }, horzLines: { color: "#1c2530" } },
      timeScale: { timeVisible: true },
    });
    chart.current = c;
    candles.current = c.addSeries(CandlestickSeries, {});
    const onResize = () => host.current && c.applyOptions({ width: host.current.clientWidth });
    window.addEventListener("resize", onResize);
    return () => {
      window.removeEventListener("resize", onResize);
      c.remove();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const c = chart.current;
    const s = candles.current;
    if (!c || !s) return;
    const times = bars.ts.map((t) => (Date.parse(t) / 1000) as UTCTimestamp);
    s.setData(times.map((time, i) => ({ time, open: bars.open[i]!, high: bars.high[i]!, low: bars.low[i]!, close: bars.close[i]! })));
    const lines = overlays.map((o) => {
      const line = c.addSeries(LineSeries, { color: o.color, lineWidth: 1, priceLineVisible: false, title: o.name });
      line.setData(times.flatMap((time, i) => (o.values[i] == null ? [] : [{ time, value: o.values[i]! }])));
      return line;
    });
    c.timeScale().fitContent();
    return () => {
      if (chart.current !== c) return; // the chart itself is gone (unmounted): its series went with it
      for (const l of lines) c.removeSeries(l);
    };
  }, [bars, overlays]);

  useEffect(() => {
    const s = candles.current;
    const n = bars.ts.length;
    if (!s || last == null || n === 0) return;
    const i = n - 1;
    // a tick belongs to the last candle only while that candle's interval is the current one
    const barMs = n > 1 ? Date.parse(bars.ts[i]!) - Date.parse(bars.ts[i - 1]!) : 0;
    if (!(barMs > 0) || Date.now() - Date.parse(bars.ts[i]!) > 2 * barMs) return;
    s.update({
      time: (Date.parse(bars.ts[i]!) / 1000) as UTCTimestamp,
      open: bars.open[i]!,
      high: Math.max(bars.high[i]!, last),
      low: Math.min(bars.low[i]!, last),
      close: last,
    });
  }, [last, bars]);

  return <div ref={host} className="chart" data-testid="chart" data-bars={bars.ts.length} />;
}
