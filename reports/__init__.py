"""Reproduction reports: `python -m reports build <run dir>` (see reports/build.py)."""
