"""The torch batch path agrees with TA-Lib / ours within the stated tolerances, many symbols at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.features.compute import compute_indicators, compute_indicators_gpu
from engines.features.gpu import GPU_INDICATORS, compute_core, linear_scan
from engines.features.indicators import CATALOG, resolve_params
from engines.features.models import BarSeries, ComputeIndicatorsRequest, GpuIndicatorsRequest, IndicatorSpec
from tests.unit.features.data import sp500_ohlcv

pytestmark = pytest.mark.timeout(60)

#: Stated agreement: float64 |diff| <= 1e-9 * |ref| + 1e-9 * mean|ref|; float32 |diff| <= 1e-3 * mean|ref|.
TOL = {torch.float64: (1e-9, 1e-9), torch.float32: (0.0, 1e-3)}


def panel(symbols: int = 6, bars: int = 1200) -> dict[str, np.ndarray]:
    d = sp500_ohlcv()
    return {k: np.stack([v[i * 500 : i * 500 + bars] for i in range(symbols)]) for k, v in d.items()}


def test_linear_scan_when_compared_with_sequential_recursion_then_equal():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 300))
    y0 = rng.normal(size=3)
    got = linear_scan(torch.tensor(x), 0.9, 0.1, torch.tensor(y0)).numpy()
    want, prev = np.empty_like(x), y0.copy()
    for t in range(300):
        prev = 0.9 * prev + 0.1 * x[:, t]
        want[:, t] = prev
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(GPU_INDICATORS))
def test_torch_path_when_many_symbols_then_matches_cpu_batch_within_tolerance(name, dtype):
    a = panel()
    d = CATALOG[name]
    p = resolve_params(d, {})
    ref = d.fn(a, p)
    got = compute_core({k: torch.tensor(v, dtype=dtype) for k, v in a.items()}, name, p)
    rtol, atol = TOL[dtype]
    for k in d.outputs:
        want, x = ref[k], got[k].to(torch.float64).numpy()
        np.testing.assert_array_equal(np.isnan(x), np.isnan(want))
        np.testing.assert_allclose(x, want, rtol=rtol, atol=atol * np.nanmean(np.abs(want)), err_msg=k)


def test_gpu_operation_when_called_then_equals_cpu_operation_and_names_device():
    a = panel(symbols=3, bars=400)
    series = [
        BarSeries(symbol=f"S{i}", **{k: a[k][i].tolist() for k in ("open", "high", "low", "close", "volume")})
        for i in range(3)
    ]
    specs = [IndicatorSpec(name=n) for n in ("sma", "ema", "rsi", "macd", "bbands", "atr", "zscore")]
    gpu = compute_indicators_gpu(GpuIndicatorsRequest(series=series, indicators=specs), OpContext(engine="features"))
    cpu = compute_indicators(ComputeIndicatorsRequest(series=series, indicators=specs))
    assert gpu.backend == "torch:cpu"
    for g, c in zip(gpu.results, cpu.results, strict=False):
        for k, vals in c.values.items():
            want = np.array([np.nan if v is None else v for v in vals])
            got = np.array([np.nan if v is None else v for v in g.values[k]])
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.nanmean(np.abs(want)))


def test_gpu_operation_when_indicator_has_no_torch_path_then_invalid_input():
    s = BarSeries(symbol="X", close=[float(i + 1) for i in range(50)])
    with pytest.raises(InvalidInput) as e:
        compute_indicators_gpu(
            GpuIndicatorsRequest(series=[s], indicators=[IndicatorSpec(name="kama")]), OpContext(engine="features")
        )
    assert e.value.field == "indicators.0.name"


def test_gpu_operation_when_lengths_differ_then_invalid_input():
    s1 = BarSeries(symbol="X", close=[float(i + 1) for i in range(50)])
    s2 = BarSeries(symbol="Y", close=[float(i + 1) for i in range(60)])
    with pytest.raises(InvalidInput) as e:
        compute_indicators_gpu(
            GpuIndicatorsRequest(series=[s1, s2], indicators=[IndicatorSpec(name="sma")]), OpContext(engine="features")
        )
    assert e.value.field == "series.1.close"
