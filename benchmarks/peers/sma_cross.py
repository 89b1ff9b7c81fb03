"""The SMA-crossover strategy every event-driven backtest peer runs, its bars, and a vectorised reference.

The strategy (issue 11's agreement case, with whole shares so that money stays in cents):
  bars      arch's S&P 500 daily bars 1999-2018 (5,031), every price rounded to the cent (NautilusTrader's
            equity instruments quote in cents; every peer gets the same rounded bars)
  signals   fast = SMA(close, 20), slow = SMA(close, 50); at bar t (t >= 50, both averages defined at t - 1):
            enter when flat and fast[t-1] <= slow[t-1] and fast[t] > slow[t] (and one share is affordable);
            exit when long and fast[t-1] >= slow[t-1] and fast[t] < slow[t]
  orders    market, filled at bar t's close; long only; all in: floor(cash / close) whole shares (computed in
            integer cents); exit sells the whole position; no fees, no slippage
  cash      100,000 USD
The result compared across peers: the fills (bar, side, quantity, price), the final equity from each peer's own
account (cash + shares at the last close) and the maximum drawdown of the equity marked at each close (one
function, from each peer's fills). ``reference`` computes all of it in numpy from the definition above:
averages over sliding windows, crossings as array comparisons, and a loop over the crossings only (the cash
carried from trade to trade is sequential).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAST, SLOW = 20, 50
CASH = 100_000.0


@dataclass(frozen=True)
class Bars:
    dates: np.ndarray  # datetime64[D]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    name: str

    @property
    def n(self) -> int:
        return int(self.close.size)


def sp500_bars() -> Bars:
    """arch's S&P 500 daily OHLCV (1999-2018), prices rounded to the cent."""
    import arch.data.sp500

    df = arch.data.sp500.load()
    px = {k: np.round(df[k].to_numpy(dtype=np.float64), 2) for k in ("Open", "High", "Low", "Close")}
    return Bars(df.index.to_numpy().astype("datetime64[D]"), px["Open"], px["High"], px["Low"], px["Close"],
                df["Volume"].to_numpy(dtype=np.float64), "S&P 500 daily 1999-2018 (arch)")


def long_bars(n: int) -> Bars:
    """A longer series for throughput: the real S&P 500 bars played forwards, then backwards, then forwards
    again ... to n bars (continuous, and the level stays within the index's own range at any length)."""
    real = sp500_bars()
    forth = np.arange(real.n)
    cycle = np.concatenate((forth, forth[-2:0:-1]))
    idx = np.tile(cycle, -(-n // cycle.size))[:n]
    dates = np.datetime64("1970-01-01") + np.arange(n).astype("timedelta64[D]")
    return Bars(dates, real.open[idx], real.high[idx], real.low[idx], real.close[idx], real.volume[idx],
                f"{n:,} daily bars (the S&P 500's, forwards and backwards)")


def all_in_shares(cash: float, price: float) -> int:
    """Whole shares that cash buys at price, in integer cents (no float floor at an exact multiple)."""
    return int(round(cash * 100)) // int(round(price * 100))


def sma(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(x.size, np.nan)
    out[k - 1:] = np.lib.stride_tricks.sliding_window_view(x, k).mean(axis=1)
    return out


def crossings(close: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Bars where fast crosses above / below slow (t >= SLOW), and the smallest |fast - slow| / close at any
    bar from SLOW - 1 on (a margin: averages computed another way differ by ~1e-13 of the price)."""
    f, s = sma(close, FAST), sma(close, SLOW)
    t = np.arange(SLOW, close.size)
    up = t[(f[t - 1] <= s[t - 1]) & (f[t] > s[t])]
    down = t[(f[t - 1] >= s[t - 1]) & (f[t] < s[t])]
    margin = float(np.min(np.abs(f[SLOW - 1:] - s[SLOW - 1:]) / close[SLOW - 1:]))
    return up, down, margin


def reference(close: np.ndarray) -> dict:
    """Fills, final equity and maximum drawdown of the strategy, from its definition (module docstring)."""
    up, down, margin = crossings(close)
    fills: list[tuple[int, str, int, float]] = []
    cash, shares, t = CASH, 0, -1
    while True:
        nxt = up[up > t]
        if not nxt.size:
            break
        t = int(nxt[0])
        shares = all_in_shares(cash, close[t])
        if shares == 0:  # not one share affordable: stay flat (never on these bars; every peer does the same)
            continue
        cash -= shares * close[t]
        fills.append((t, "buy", shares, float(close[t])))
        nxt = down[down > t]
        if not nxt.size:
            break
        t = int(nxt[0])
        cash += shares * close[t]
        fills.append((t, "sell", shares, float(close[t])))
        shares = 0
    final = cash + shares * close[-1]
    return {"fills": fills, "final_equity": float(final), "max_drawdown": max_drawdown(close, fills),
            "crossing_margin": margin}


def equity_curve(close: np.ndarray, fills: list) -> np.ndarray:
    """Cash + shares x close at every bar, from a list of (bar, side, quantity, price) fills."""
    held = np.zeros(close.size)
    cash = np.full(close.size, CASH)
    for t, side, qty, price in fills:
        sign = 1 if side == "buy" else -1
        held[int(t):] += sign * qty
        cash[int(t):] -= sign * qty * price
    return cash + held * close


def max_drawdown(close: np.ndarray, fills: list) -> float:
    eq = equity_curve(close, fills)
    return float(np.min(eq / np.maximum.accumulate(eq) - 1.0))


def same_fills(a: list, b: list) -> tuple[bool, str]:
    """Equal bars, sides and quantities, prices to the cent."""
    if len(a) != len(b):
        return False, f"{len(a)} fills against {len(b)}"
    for x, y in zip(a, b, strict=True):
        if (int(x[0]), x[1], int(x[2])) != (int(y[0]), y[1], int(y[2])) or abs(float(x[3]) - float(y[3])) > 5e-3:
            return False, f"fill {x} against {y}"
    return True, f"the same {len(a)} fills"
