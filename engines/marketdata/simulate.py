"""A seeded stochastic market: GBM with Merton jumps and a U-shaped intraday volatility. Pure numpy.

Per symbol, the log mid-price moves each step of ``dt`` (years of session time,
one trading year = 252 sessions of 6.5 h) by

    dx = (mu - lambda * kappa - sigma_t^2 / 2) dt + sigma_t sqrt(dt) Z + sum_{k<=N} J_k
    sigma_t = sigma * (1 + a (2u - 1)^2) / (1 + a / 3),   u = time of day as a fraction of the session
    N ~ Poisson(lambda dt),  J_k ~ Normal(jump_mean, jump_std^2),  kappa = exp(jump_mean + jump_std^2/2) - 1

so E[S_t] = S_0 e^{mu t} and the session average of sigma_t^2 is not altered by the
U-shape's normalisation of sigma_t (its mean, not its square's, is 1 over a session).
Quotes straddle the mid on the tick grid (bid < ask always); a step trades with
probability ``trade_probability`` at the ask (buyer-initiated) or the bid. The
clock runs through 09:30-16:00 New York sessions on business days; nights and
weekends are skipped with no price move. Output depends only on the seed and the
number of steps taken, not on how the steps are batched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engines.marketdata.models import ModelParams

SESSION_S = 23_400  # 09:30-16:00
SESSION_OPEN_S = 9 * 3600 + 1800
SESSION_TZ = "America/New_York"
TRADING_DAYS_PER_YEAR = 252
BLOCK_STEPS = 256  # the generator draws in fixed blocks so batching never changes the path


@dataclass
class TickBatch:
    """Quotes (one per symbol per step) and trades of consecutive steps; symbol as an index."""

    q_ts: np.ndarray
    q_sym: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    t_ts: np.ndarray
    t_sym: np.ndarray
    price: np.ndarray
    size: np.ndarray
    aggressor: np.ndarray  # 1 buy, -1 sell


def u_shape_multiplier(u: np.ndarray, a: float) -> np.ndarray:
    """Volatility multiplier over the session, mean 1 over u in [0, 1]; (1 + a) times larger at the edges."""
    return (1.0 + a * (2.0 * u - 1.0) ** 2) / (1.0 + a / 3.0)


def log_increments(
    rng: np.random.Generator, shape: tuple[int, int], sigma_step: np.ndarray, dt_years: float, p: ModelParams
) -> tuple[np.ndarray, np.ndarray]:
    """(log-price increments, jump counts) for ``shape`` = (steps, symbols); ``sigma_step`` per step (annual)."""
    lam = p.jump_intensity * TRADING_DAYS_PER_YEAR
    kappa = np.expm1(p.jump_mean + 0.5 * p.jump_std**2)
    sig = sigma_step[:, None]
    z = rng.standard_normal(shape)
    n_jumps = rng.poisson(lam * dt_years, shape) if lam > 0 else np.zeros(shape, dtype=np.int64)
    jz = rng.standard_normal(shape)
    jumps = n_jumps * p.jump_mean + np.sqrt(n_jumps) * p.jump_std * jz
    drift = (p.mu - lam * kappa - 0.5 * sig**2) * dt_years
    return drift + sig * np.sqrt(dt_years) * z + jumps, n_jumps


class GbmJumpSimulator:
    """Stateful generator of quotes and trades for ``n_symbols`` symbols."""

    def __init__(self, params: ModelParams, n_symbols: int, seed: int, start: pd.Timestamp | None = None) -> None:
        self.p = params
        self.k = n_symbols
        self.rng = np.random.default_rng(seed)
        self.step_ns = int(round(params.step_ms * 1e6))
        self.steps_per_session = max(1, (SESSION_S * 1_000_000_000) // self.step_ns)
        self.dt_years = self.step_ns / 1e9 / (SESSION_S * TRADING_DAYS_PER_YEAR)
        start = pd.Timestamp.now(tz="UTC") if start is None else pd.Timestamp(start)
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        first = start.tz_convert(SESSION_TZ).normalize().tz_localize(None)
        self._days = pd.bdate_range(first, periods=1)
        self.x = np.full(n_symbols, np.log(params.s0))
        self.steps_taken = 0
        self._buffer: TickBatch | None = None
        self._buffer_pos = 0  # steps consumed from the buffer

    def _session_open_ns(self, day_index: np.ndarray) -> np.ndarray:
        need = int(day_index.max()) + 1
        if need > len(self._days):
            self._days = pd.bdate_range(self._days[0], periods=need + 64)
        opens = (self._days[day_index] + pd.Timedelta(seconds=SESSION_OPEN_S)).tz_localize(SESSION_TZ)
        return opens.tz_convert("UTC").as_unit("ns").asi8

    def _block(self) -> TickBatch:
        p, k, n = self.p, self.k, BLOCK_STEPS
        step = self.steps_taken + np.arange(n)
        day, j = np.divmod(step, self.steps_per_session)
        ts = self._session_open_ns(day) + j * self.step_ns
        u = (j + 0.5) * self.step_ns / (SESSION_S * 1e9)
        sigma_step = p.sigma * u_shape_multiplier(u, p.u_shape)
        dx, _ = log_increments(self.rng, (n, k), sigma_step, self.dt_years, p)
        x = self.x + np.cumsum(dx, axis=0)
        self.x = x[-1].copy()
        self.steps_taken += n
        mid = np.exp(x)
        tick = p.tick_size
        half = np.maximum(0.5 * tick, mid * p.spread_bps * 0.5e-4)
        bid = np.maximum(np.floor((mid - half) / tick), 1.0) * tick
        ask = np.maximum(np.ceil((mid + half) / tick) * tick, bid + tick)
        bid_size = (1 + self.rng.poisson(9.0, (n, k))).astype(np.float64)
        ask_size = (1 + self.rng.poisson(9.0, (n, k))).astype(np.float64)
        trades = self.rng.random((n, k)) < p.trade_probability
        buy = self.rng.random((n, k)) < 0.5
        size = self.rng.geometric(0.2, (n, k)).astype(np.float64)
        q_ts = np.repeat(ts, k)
        q_sym = np.tile(np.arange(k, dtype=np.int32), n)
        ti = np.nonzero(trades.ravel())[0]
        buy_f = buy.ravel()[ti]
        return TickBatch(
            q_ts=q_ts, q_sym=q_sym, bid=bid.ravel(), ask=ask.ravel(), bid_size=bid_size.ravel(),
            ask_size=ask_size.ravel(), t_ts=q_ts[ti], t_sym=q_sym[ti],
            price=np.where(buy_f, ask.ravel()[ti], bid.ravel()[ti]), size=size.ravel()[ti],
            aggressor=np.where(buy_f, 1, -1).astype(np.int8),
        )

    def steps(self, n: int) -> TickBatch:
        """The next ``n`` steps (any batching gives the same sequence for the same seed)."""
        parts: list[TickBatch] = []
        remaining = n
        while remaining > 0:
            if self._buffer is None or self._buffer_pos >= BLOCK_STEPS:
                self._buffer, self._buffer_pos = self._block(), 0
            take = min(remaining, BLOCK_STEPS - self._buffer_pos)
            parts.append(_slice_steps(self._buffer, self._buffer_pos, take, self.k))
            self._buffer_pos += take
            remaining -= take
        return _concat(parts)


def _slice_steps(b: TickBatch, start: int, count: int, k: int) -> TickBatch:
    lo, hi = start * k, (start + count) * k
    tlo, thi = np.searchsorted(b.t_ts, b.q_ts[lo], "left"), np.searchsorted(b.t_ts, b.q_ts[hi - 1], "right")
    return TickBatch(b.q_ts[lo:hi], b.q_sym[lo:hi], b.bid[lo:hi], b.ask[lo:hi], b.bid_size[lo:hi],
                     b.ask_size[lo:hi], b.t_ts[tlo:thi], b.t_sym[tlo:thi], b.price[tlo:thi], b.size[tlo:thi],
                     b.aggressor[tlo:thi])


def _concat(parts: list[TickBatch]) -> TickBatch:
    if len(parts) == 1:
        return parts[0]
    return TickBatch(*(np.concatenate([getattr(p, f) for p in parts]) for f in TickBatch.__dataclass_fields__))


class BarAggregator:
    """Trades -> OHLCV bars of ``timeframe_ns`` (UTC-aligned), emitting each bar once it is complete."""

    def __init__(self, n_symbols: int, timeframe_ns: int) -> None:
        self.tf = timeframe_ns
        self.bucket = np.full(n_symbols, -1, dtype=np.int64)
        self.ohlcv = np.zeros((n_symbols, 5))

    def update(self, ts: np.ndarray, sym: np.ndarray, price: np.ndarray, size: np.ndarray) -> pd.DataFrame:
        """Completed bars (columns sym, ts_ns, open, high, low, close, volume); trades must be time-ordered."""
        carried = np.nonzero(self.bucket >= 0)[0]
        o = self.ohlcv[carried]
        # carried partial bars first, so within a (symbol, bucket) group they precede the new trades
        s_all = np.concatenate((carried, sym.astype(np.int64)))
        b_all = np.concatenate((self.bucket[carried], ts // self.tf))
        op = np.concatenate((o[:, 0], price))
        hi = np.concatenate((o[:, 1], price))
        lo = np.concatenate((o[:, 2], price))
        cl = np.concatenate((o[:, 3], price))
        vol = np.concatenate((o[:, 4], size))
        if s_all.shape[0] == 0:
            return pd.DataFrame(columns=["sym", "ts_ns", "open", "high", "low", "close", "volume"])
        order = np.lexsort((b_all, s_all))  # stable: by symbol, then bucket, then arrival
        s_all, b_all = s_all[order], b_all[order]
        starts = np.nonzero(np.concatenate(([True], (s_all[1:] != s_all[:-1]) | (b_all[1:] != b_all[:-1]))))[0]
        ends = np.concatenate((starts[1:], [s_all.shape[0]])) - 1
        g_sym, g_bucket = s_all[starts], b_all[starts]
        g = np.column_stack((op[order][starts], np.maximum.reduceat(hi[order], starts),
                             np.minimum.reduceat(lo[order], starts), cl[order][ends],
                             np.add.reduceat(vol[order], starts)))
        last = np.concatenate((g_sym[1:] != g_sym[:-1], [True]))  # newest bucket per symbol stays open
        self.bucket[g_sym[last]] = g_bucket[last]
        self.ohlcv[g_sym[last]] = g[last]
        done = ~last
        out = pd.DataFrame({"sym": g_sym[done], "ts_ns": g_bucket[done] * self.tf, "open": g[done, 0],
                            "high": g[done, 1], "low": g[done, 2], "close": g[done, 3], "volume": g[done, 4]})
        return out.sort_values(["ts_ns", "sym"], kind="stable").reset_index(drop=True)
