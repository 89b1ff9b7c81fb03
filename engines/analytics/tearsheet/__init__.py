"""Tear sheets: matplotlib charts (charts.py) assembled into an HTML report (report.py)."""
