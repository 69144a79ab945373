"""python -m reports build <run dir> [--baseline RUN] [--out DIR]   |   python -m reports latest"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import build_report, summary_table, load_frame

RUNS = Path("reports/out/runs")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build report.md/html, results.csv and plots from a run's results")
    b.add_argument("run", help="run directory (or a run id under reports/out/runs)")
    b.add_argument("--baseline", help="previous run (dir, id or results.csv) to flag regressions against")
    b.add_argument("--out", help="output directory (default <run>/report)")
    s = sub.add_parser("show", help="print the summary table of a run")
    s.add_argument("run")
    args = ap.parse_args(argv)
    run = Path(args.run)
    if not run.exists() and (RUNS / args.run).exists():
        run = RUNS / args.run
    if not run.is_dir():
        print(f"error: {args.run}: no such run directory", file=sys.stderr)
        return 2
    if args.cmd == "show":
        print(summary_table(load_frame(run)[0]), end="")
        return 0
    try:
        out = build_report(run, args.out, baseline=args.baseline, results_root=RUNS)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((out / "summary.txt").read_text(), end="")
    print(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
