"""The benchmarks cannot rot: the quick profile of benchmarks/run_all.py runs every benchmark (small sizes,
no assertion on any time), each writes its report section, every comparison's answers agree, and the
report (markdown, JSON, HTML with its plots) is written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import run_all
from tests.support.procs import REPO


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_run_all_when_quick_profile_then_every_benchmark_reports_and_every_answer_agrees(tmp_path):
    r = subprocess.run([sys.executable, "benchmarks/run_all.py", "--profile", "quick", "--out", str(tmp_path)],
                       cwd=REPO, capture_output=True, text=True, timeout=1150)
    assert r.returncode == 0, r.stderr[-6000:] + r.stdout[-2000:]
    rep = json.loads((tmp_path / "report.json").read_text())
    assert {b["name"] for b in rep["benchmarks"]} == {b.name for b in run_all.BENCHMARKS}
    assert all(b["ok"] for b in rep["benchmarks"]), rep["benchmarks"]
    assert rep["comparisons"] and all(c["agree"] for c in rep["comparisons"])
    assert {c["benchmark"] for c in rep["comparisons"]} >= {"features_api", "features", "risk", "portfolio", "gateway",
                                                            "analytics", "optimisation"}
    assert {s["benchmark"] for s in rep["scaling"]} >= {"scaling", "analytics"}
    assert any(f["benchmark"] == "backtest_peers" and f["unit"] == "bars/s" for f in rep["figures"])
    assert rep["machine"]["cpu"] and rep["machine"]["libraries"]["numpy"]
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3  # speed-up, latency, throughput at least



def test_readme_when_compared_with_the_committed_report_then_its_figures_are_the_reports():
    """The README's performance section is generated from benchmarks/results/report.json (run_all.py
    --update-readme); edited by hand, or left behind after a new report, it fails here."""
    rep = json.loads((REPO / "benchmarks" / "results" / "report.json").read_text())
    assert run_all.readme_section(rep) in (REPO / "README.md").read_text(), (
        "README's benchmark section differs from the committed report: "
        ".venv/bin/python benchmarks/run_all.py --update-readme")
    assert {b["name"] for b in rep["benchmarks"]} == {b.name for b in run_all.BENCHMARKS}, "report misses benchmarks"
    assert all(c["agree"] for c in rep["comparisons"])
