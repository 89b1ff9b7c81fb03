"""Build the quality report of one load from the validator's per-row outcome. Pure."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from engines.marketdata.models import GapExample, QualityReport, RejectExample
from engines.marketdata.validation import NAT, REASONS, Checked

EXAMPLES_PER_REASON = 5
GAP_EXAMPLES = 10


def _iso(ns: int) -> str | None:
    return None if ns == NAT else pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def _value(v: object) -> float | str | None:
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, (int, np.integer)):
        return int(v)
    return None if v is None else str(v)


def _utc(ns: int) -> dt.datetime:
    return pd.Timestamp(ns, unit="ns", tz="UTC").to_pydatetime()


def build_report(
    checked: Checked, ts_ns: np.ndarray, values: dict[str, np.ndarray], symbols: np.ndarray | None,
    symbol: str | None, warnings: list[str] | None = None,
) -> QualityReport:
    """Counts per reason (summing to the rejected rows), first examples, gaps, per-symbol totals."""
    codes = checked.codes
    n = codes.shape[0]
    counts = np.bincount(codes, minlength=len(REASONS) + 1)
    by_reason = {REASONS[i - 1]: int(counts[i]) for i in range(1, len(REASONS) + 1) if counts[i]}
    examples: list[RejectExample] = []
    for i in range(1, len(REASONS) + 1):
        if not counts[i]:
            continue
        for row in np.nonzero(codes == i)[0][:EXAMPLES_PER_REASON]:
            examples.append(RejectExample(
                row=int(row), reason=REASONS[i - 1],
                symbol=str(symbols[row]) if symbols is not None else symbol,
                ts=_iso(int(ts_ns[row])),
                values={k: _value(v[row]) for k, v in values.items()},
            ))
    ok = codes == 0
    accepted = int(ok.sum())
    if symbols is not None:
        per = pd.Series(symbols[ok]).value_counts()
        rows_by_symbol = {str(k): int(v) for k, v in per.items()}
    else:
        rows_by_symbol = {symbol or "": accepted} if accepted else {}
    t_ok = ts_ns[ok]
    gaps = checked.gaps
    return QualityReport(
        rows_in=n, rows_accepted=accepted, rows_rejected=n - accepted, rejected_by_reason=by_reason,
        examples=examples, gaps=len(gaps), missing_bars=int(sum(g[3] for g in gaps)),
        gap_examples=[GapExample(symbol=g[0] or (symbol or ""), after=_utc(g[1]), before=_utc(g[2]), missing_bars=g[3])
                      for g in gaps[:GAP_EXAMPLES]],
        rows_by_symbol=rows_by_symbol,
        first_ts=_utc(int(t_ok.min())) if accepted else None,
        last_ts=_utc(int(t_ok.max())) if accepted else None,
        warnings=[*(warnings or []), *checked.warnings],
    )
