/** Load harness for the blotter (not part of the app's bundle; built by vite.perf.config.ts for the
 * end-to-end run): the real <Blotter> and its real state updates, fed 10,000 orders, then 100 order
 * updates a second for 10 s. Frame gaps are read with requestAnimationFrame, long frames with the
 * browser's Long Animation Frames API where it has it. The result lands in `window.blotterPerf`. */
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { Blotter } from "../src/components/Blotter";
import { applyOrders, emptyRows, type Order } from "../src/components/blotterState";
import "../src/styles.css";

const N_ORDERS = 10_000;
const RATE_PER_S = 100;
const DURATION_S = 10;

interface Perf {
  done: boolean;
  orders: number;
  firstRenderMs: number;
  sent: number;
  sentPerS: number;
  applied: number;
  shownFinal: boolean;
  frames: number;
  maxFrameMs: number;
  framesOver100Ms: number;
  longAnimationFrames: number[];
}
declare global {
  interface Window {
    blotterPerf: Perf;
  }
}

const order = (i: number, version = 1, filled = 0): Order =>
  ({
    id: `o${String(i).padStart(6, "0")}`, account_id: "perf", strategy: "default", client_order_id: `c${i}`, symbol: i % 2 ? "AAPL" : "MSFT",
    side: i % 3 ? "buy" : "sell", type: "limit", tif: "gtc", qty: 100, limit_price: 100 + (i % 50) / 10, stop_price: null, venue: "SMART",
    status: filled >= 100 ? "filled" : filled > 0 ? "partially_filled" : "accepted", filled_qty: filled, leaves_qty: 100 - filled,
    avg_fill_price: filled ? 100 : null, fees: 0, resting_venue: "SIM", expire_ns: null, algo_id: null, denial: null, reason: null,
    version, created_ns: 1_700_000_000_000_000_000 + i * 1_000_000, updated_ns: 0,
  }) as Order;

const perf: Perf = {
  done: false, orders: N_ORDERS, firstRenderMs: 0, sent: 0, sentPerS: 0, applied: 0, shownFinal: false, frames: 0, maxFrameMs: 0,
  framesOver100Ms: 0, longAnimationFrames: [],
};
window.blotterPerf = perf;

function Harness() {
  const [rows, setRows] = useState(emptyRows);
  useEffect(() => {
    // the 10,000 orders arrive at once, as the first page of GET /orders would
    setTimeout(() => {
      const t0 = performance.now();
      setRows(applyOrders(emptyRows(), Array.from({ length: N_ORDERS }, (_, i) => order(i))));
      const painted = () => {
        if (!document.querySelector("[data-order]")) return requestAnimationFrame(painted);
        perf.firstRenderMs = performance.now() - t0; // the frame after the rows are in the DOM
        start();
      };
      requestAnimationFrame(painted);
    }, 0);
    function start() {
      try {
        const from = performance.now(); // frames of the update phase only, not the first render's
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) if (e.startTime >= from) perf.longAnimationFrames.push(Math.round(e.duration));
        }).observe({ type: "long-animation-frame", buffered: false });
      } catch {
        /* not every browser has the Long Animation Frames API: the rAF gaps below still measure */
      }
      let last = performance.now();
      let measuring = true;
      const frame = (now: number) => {
        const gap = now - last;
        last = now;
        perf.frames++;
        perf.maxFrameMs = Math.max(perf.maxFrameMs, gap);
        if (gap > 100) perf.framesOver100Ms++;
        if (measuring) requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      // updates go to the newest orders (the visible rows), each one version further: fills 10 at a time
      const versions = new Map<number, number>();
      // timers are clamped, so each tick sends what the rate owes by now: 100/s on average, one event each
      const began = performance.now();
      const timer = setInterval(() => {
        const owed = Math.min(RATE_PER_S * DURATION_S, Math.floor(((performance.now() - began) / 1000) * RATE_PER_S));
        while (perf.sent < owed) {
          const k = perf.sent % 20;
          const version = (versions.get(k) ?? 1) + 1;
          versions.set(k, version);
          perf.sent++;
          setRows((s) => {
            const next = applyOrders(s, [order(N_ORDERS - 1 - k, version, Math.min(100, (version - 1) * 10))]);
            if (next !== s) perf.applied++;
            return next;
          });
        }
      }, 1000 / RATE_PER_S);
      setTimeout(() => {
        clearInterval(timer);
        perf.sentPerS = perf.sent / ((performance.now() - began) / 1000);
        setTimeout(() => {
          measuring = false;
          // every update reached the screen: each updated row shows its last version's fill
          perf.shownFinal = [...versions].every(([k, v]) => {
            const el = document.querySelector(`[data-order="o${String(N_ORDERS - 1 - k).padStart(6, "0")}"]`);
            const filled = Math.min(100, (v - 1) * 10);
            return el?.getAttribute("data-status") === (filled >= 100 ? "filled" : "partially_filled");
          });
          perf.done = true;
        }, 200);
      }, DURATION_S * 1000);
    }
  }, []);
  return <Blotter rows={rows.rows} heightPx={600} />;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Harness />
  </StrictMode>,
);
