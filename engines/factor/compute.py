"""Factor computation, cross-sectional processing and evaluation on in-memory panels. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from backend.contract.operation import OpContext
from backend.contract.params import parameter_errors
from backend.core.errors import InvalidInput, PayloadTooLarge
from engines.factor import cross_section, evaluation, expression, library
from engines.factor.models import (
    MAX_PANEL_VALUES,
    EvaluateFactorsRequest,
    EvaluationOptions,
    EvaluationResponse,
    FactorEvaluation,
    FactorSpec,
    HorizonIC,
    MatrixResponse,
    ProcessCrossSectionRequest,
    Processing,
    Stats,
    ValidateExpressionRequest,
    ValidateExpressionResponse,
)


def to_array(rows: Sequence[Sequence[float | None]], field: str, width: int | None = None) -> np.ndarray:
    w = width if width is not None else len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != w:
            raise InvalidInput(f"row {i} has {len(r)} values, expected {w}", field=f"{field}.{i}")
    if len(rows) * w > MAX_PANEL_VALUES:
        raise PayloadTooLarge(f"more than {MAX_PANEL_VALUES} values", field=field)
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float64)


def to_rows(x: np.ndarray) -> list[list[float | None]]:
    return [[None if v != v else v for v in row] for row in x.tolist()]


def stats(s: evaluation.Summary) -> Stats:
    return Stats(mean=s.mean, std=s.std, t_stat=s.t_stat, ir=s.ir, positive_share=s.positive_share, n_dates=s.n)


def validate_processing(
    p: Processing, symbols: Sequence[str], sectors: Mapping[str, str] | None, field: str = "sectors"
) -> list[str] | None:
    if "neutralize" not in p.steps:
        return None
    if not sectors:
        raise InvalidInput("'neutralize' needs a sector for every symbol", field=field)
    missing = [s for s in symbols if s not in sectors]
    if missing:
        raise InvalidInput(
            f"no sector for {missing[0]!r} ({len(missing)} symbols lack one)", field=f"{field}.{missing[0]}"
        )
    return [sectors[s] for s in symbols]


def process(x: np.ndarray, p: Processing, sectors: Sequence[str] | None) -> np.ndarray:
    return cross_section.apply_steps(x, p.steps, sectors, p.winsor_lower, p.winsor_upper)


def process_cross_section(req: ProcessCrossSectionRequest, ctx: OpContext | None = None) -> MatrixResponse:
    x = to_array(req.values, "values", len(req.symbols))
    sectors = validate_processing(req.processing, req.symbols, req.sectors)
    return MatrixResponse(values=to_rows(process(x, req.processing, sectors)))


def validate_factor_expression(
    req: ValidateExpressionRequest, ctx: OpContext | None = None
) -> ValidateExpressionResponse:
    tree = expression.parse(req.expression, frozenset(library.LIBRARY))
    return ValidateExpressionResponse(valid=True, history_bars=expression.max_window(tree))


def factor_values(
    spec: FactorSpec, field: str, panel: Mapping[str, np.ndarray], benchmark: np.ndarray | None, user: Mapping[str, str]
) -> np.ndarray:
    """One factor over a panel: library (validated params), stored user expression, or inline expression."""
    lib_cache: dict[str, np.ndarray] = {}

    def lib(name: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            if name not in lib_cache:
                d = library.LIBRARY[name]
                lib_cache[name] = d.fn(panel, library.resolve_params(d, {}), benchmark)
            return lib_cache[name]

        return run

    if spec.name is not None and spec.name in library.LIBRARY:
        d = library.LIBRARY[spec.name]
        with parameter_errors(d.name, d.params, field):
            params = library.resolve_params(d, spec.params)
        for k in d.needs:
            if k not in panel or not np.isfinite(panel[k]).any():
                raise InvalidInput(f"{d.name} needs {k!r} bars", field=f"{field}.name")
        hist = d.history(params)
        if hist >= panel["close"].shape[0]:
            raise InvalidInput(
                f"{d.name} needs more than {hist} bars, the panel has {panel['close'].shape[0]}",
                field=f"{field}.params.{max(params, key=params.get)}",
            )
        return d.fn(panel, params, benchmark)
    if spec.name is not None:
        if spec.name not in user:
            raise InvalidInput(
                f"unknown factor {spec.name!r}: neither in the library nor stored", field=f"{field}.name"
            )
        if spec.params:
            raise InvalidInput("a stored expression factor takes no params", field=f"{field}.params")
        text, efield = user[spec.name], f"{field}.name"
    else:
        text, efield = spec.expression or "", f"{field}.expression"
    tree = expression.parse(text, frozenset(library.LIBRARY), field=efield)
    hist = expression.max_window(tree)
    if hist >= panel["close"].shape[0]:
        raise InvalidInput(f"needs more than {hist} bars, the panel has {panel['close'].shape[0]}", field=efield)
    return expression.evaluate(tree, panel, {n: lib(n) for n in library.LIBRARY})


def evaluate_panels(factors: Mapping[str, np.ndarray], close: np.ndarray, opt: EvaluationOptions) -> EvaluationResponse:
    names = list(factors)
    h0 = opt.horizons[0]
    fwd = {h: evaluation.forward_returns(close, h) for h in opt.horizons}
    out = []
    for name, f in factors.items():
        decay = [
            HorizonIC(
                horizon=h,
                ic=stats(evaluation.summarize(evaluation.row_pearson(f, fwd[h], opt.min_names))),
                rank_ic=stats(evaluation.summarize(evaluation.row_spearman(f, fwd[h], opt.min_names))),
            )
            for h in opt.horizons
        ]
        q, spread = evaluation.quantile_returns(f, fwd[h0], opt.quantiles)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                qmean = np.nanmean(q, axis=0)
        slopes = evaluation.cross_sectional_regression([f], fwd[h0], opt.min_names)[:, 0]
        out.append(
            FactorEvaluation(
                factor=name,
                decay=decay,
                quantile_mean_returns=[None if v != v else float(v) for v in qmean],
                spread=stats(evaluation.summarize(spread)),
                factor_return=stats(evaluation.summarize(slopes)),
            )
        )
    corr_fn = evaluation.row_spearman if opt.correlation == "spearman" else evaluation.row_pearson
    k = len(names)
    corr = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            s = evaluation.summarize(corr_fn(factors[names[i]], factors[names[j]], opt.min_names)).mean
            corr[i, j] = corr[j, i] = np.nan if s is None else s
    joint = evaluation.cross_sectional_regression([factors[n] for n in names], fwd[h0], opt.min_names)
    return EvaluationResponse(
        factors=out,
        names=names,
        correlation=to_rows(corr),
        joint_factor_returns=[stats(evaluation.summarize(joint[:, i])) for i in range(k)],
    )


def evaluate_factors(req: EvaluateFactorsRequest, ctx: OpContext | None = None) -> EvaluationResponse:
    close = to_array(req.close, "close")
    if (close[np.isfinite(close)] <= 0).any():
        raise InvalidInput("prices must be > 0", field="close")
    factors = {}
    for name, rows in req.factors.items():
        f = to_array(rows, f"factors.{name}", close.shape[1])
        if f.shape != close.shape:
            raise InvalidInput(f"shape {f.shape} differs from close {close.shape}", field=f"factors.{name}")
        factors[name] = f
    if max(req.options.horizons) >= close.shape[0]:
        raise InvalidInput(f"horizon must be shorter than the {close.shape[0]} dates", field="options.horizons")
    return evaluate_panels(factors, close, req.options)
