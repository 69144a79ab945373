"""`./repro nightly [--nights N] [pytest args]`: run the suites, then compare every claim with its history.

The run is an ordinary `pytest suites/` run (appended to the history like any other); then each
claim's value is set against the last N runs on the same device class, tier, mode and seed:

* band       [min - w, max + w] of the previous nights' values, where the half-width w is the
             largest of: the calibration record's seed standard deviation of the method's value,
             10 % of the median for speed claims (timings wander), and 1e-9 x the median (float
             noise). With no previous night there is no band and the claim is "new".
* regression a value outside the band in the claim's bad direction (either side for `equal`
             claims), a status that got worse (reproduced -> not reproduced, a known failure that
             now errors), or a claim measured last night and missing tonight.
* improvement a value outside the band in the good direction: flagged, to look at.

Writes `nightly.json` into the run directory, rebuilds the report with a regressions section and
trend figures, and exits non-zero only on a regression or a new failure (or when pytest itself
could not run). `REPRO_HISTORY` / `--history` choose the store (default reports/out/history.sqlite).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

from .calibration import load_calibration
from .history import DEFAULT_PATH, History, HistoryError, device_class
from .results import (STATUS_FAIL, STATUS_KNOWN, STATUS_MIXED, STATUS_PASS, STATUS_RECORDED, STATUS_UNEXPECTED,
                      STATUS_UNTRAINED_FAILS, STATUS_UNTRAINED_PASSES, new_run_id, read_results)

ROOT = Path(__file__).resolve().parent.parent
SPEED_NOISE = 0.10
# how good a status is: a move to a larger number is a regression
STATUS_RANK = {STATUS_PASS: 0, STATUS_UNTRAINED_FAILS: 0, STATUS_MIXED: 1, STATUS_RECORDED: 1, STATUS_KNOWN: 1,
               STATUS_UNEXPECTED: 2, STATUS_FAIL: 2, STATUS_UNTRAINED_PASSES: 2}
FAILING = {STATUS_FAIL, STATUS_UNEXPECTED, STATUS_UNTRAINED_PASSES}


def _f(v):
    try:
        x = float(v)
        return None if math.isnan(x) else x
    except (TypeError, ValueError):
        return None


def band(kind: str, previous: list[float], cal_values: list[float] | None) -> tuple[float, float, float]:
    """(lo, hi, w) from the previous nights' values and the calibration's seed spread."""
    med = statistics.median(previous)
    w = max(statistics.stdev(cal_values) if cal_values and len(cal_values) > 1 else 0.0,
            SPEED_NOISE * abs(med) if kind == "speed" else 0.0, 1e-9 * max(1.0, abs(med)))
    return min(previous) - w, max(previous) + w, w


def compare(rows: list[dict], previous: dict, calibrations: dict, papers=None) -> list[dict]:
    """One verdict per claim measured tonight or on the previous night (of tonight's papers)."""
    out = []
    tonight = {(r["paper"], r["claim_id"]): r for r in rows}
    papers = set(papers) if papers is not None else {p for p, _ in tonight}
    last_run = previous.get("_runs", [None])[-1]
    for key in sorted(set(tonight) | {k for k, v in previous.items() if k != "_runs" and k[0] in papers
                                      and any(p["run_id"] == last_run for p in v)}):
        paper, cid = key
        r, prev = tonight.get(key), [p for p in previous.get(key, [])]
        prev_vals = [v for v in (_f(p["value"]) for p in prev) if v is not None]
        item = {"paper": paper, "claim_id": cid, "value": _f(r["value"]) if r else None,
                "status": r["status"] if r else None, "previous": prev_vals,
                "previous_runs": [p["run_id"] for p in prev], "previous_status": prev[-1]["status"] if prev else None,
                "kind": (r or prev[-1])["kind"], "direction": (r or prev[-1])["direction"],
                "target": _f((r or prev[-1]).get("target")), "paper_value": _f(r.get("paper_value")) if r else None,
                "lo": None, "hi": None, "verdict": "ok", "why": ""}
        if r is None:
            item.update(verdict="regression", why="measured on the previous night, missing tonight")
            out.append(item)
            continue
        if STATUS_RANK.get(r["status"], 1) > STATUS_RANK.get(item["previous_status"], 1) and prev:
            item.update(verdict="regression", why=f"status {item['previous_status']} -> {r['status']}")
        elif r["status"] in FAILING and not prev:
            item.update(verdict="regression", why=f"new claim fails: {r['status']}")
        if prev_vals and item["value"] is not None:
            cal = calibrations.get(paper, {}).get(cid)
            lo, hi, w = band(item["kind"], prev_vals, cal.value if cal else None)
            item.update(lo=lo, hi=hi)
            v, d = item["value"], item["direction"]
            worse = v < lo if d == "higher" else v > hi if d == "lower" else not lo <= v <= hi
            better = v > hi if d == "higher" else v < lo if d == "lower" else False
            if worse:
                why = f"{v:.6g} outside the band [{lo:.6g}, {hi:.6g}] of the last {len(prev_vals)} night(s)"
                item.update(verdict="regression", why="; ".join(filter(None, [item["why"], why])))
            elif better and item["verdict"] == "ok":
                item.update(verdict="improvement", why=f"{v:.6g} beyond the band [{lo:.6g}, {hi:.6g}]")
        elif not prev and item["verdict"] == "ok":
            item.update(verdict="new", why="no previous night on this device class")
        out.append(item)
    order = {"regression": 0, "improvement": 1, "new": 2, "ok": 3}
    return sorted(out, key=lambda i: (order[i["verdict"]], i["paper"], i["claim_id"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="repro nightly", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nights", type=int, default=7, help="how many previous runs make the band (default 7)")
    ap.add_argument("--history", default=os.environ.get("REPRO_HISTORY"),
                    help=f"SQLite path or SQLAlchemy URL (default $REPRO_HISTORY or {DEFAULT_PATH})")
    ap.add_argument("--workers", default=os.environ.get("REPRO_WORKERS", "2"))
    ap.add_argument("--root", default=str(ROOT), help="the project whose suites/ to run (default this one)")
    ap.add_argument("--results-dir", default=None, help="where runs are written (default <root>/reports/out/runs)")
    args, pytest_args = ap.parse_known_args(argv)   # everything else goes to pytest (e.g. --tier full -m cam)
    root = Path(args.root).resolve()
    results_dir = Path(args.results_dir or root / "reports" / "out" / "runs")
    history = args.history or str(root / DEFAULT_PATH)
    extra = [a for a in pytest_args if a != "--"]
    untrained = "--untrained" in extra
    run_id = new_run_id() + ("-untrained" if untrained else "")
    cmd = [sys.executable, "-m", "pytest", "suites/", "--results-dir", str(results_dir), "--history", history,
           *extra]
    if args.workers != "0":
        cmd += ["-n", str(args.workers), "--dist", "loadfile", "--no-loadscope-reorder"]
    env = {**os.environ, "REPRO_RUN_ID": run_id,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    rc = subprocess.run(cmd, cwd=root, env=env).returncode
    run_dir = results_dir / run_id
    if rc not in (0, 1) or not run_dir.is_dir():
        print(f"nightly: pytest could not run (exit {rc})", file=sys.stderr)
        return rc or 2
    meta = json.loads((run_dir / "run.json").read_text())
    rows = read_results(run_dir)
    env = next((r.get("environment") for r in rows if r.get("environment")), {})
    try:
        prev = History(history).previous(device_class=device_class(meta.get("device", "cpu"), env),
                                         tier=meta.get("tier"), mode=meta.get("mode", "trained"),
                                         seed=meta.get("seed"), before=run_id, nights=args.nights)
    except HistoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cals = {p: load_calibration(root / "suites" / p) for p in meta.get("papers", [])}
    verdicts = compare(rows, prev, cals, meta.get("papers"))
    summary = {"run_id": run_id, "nights": len(prev.get("_runs", [])), "history": history,
               "regressions": sum(v["verdict"] == "regression" for v in verdicts),
               "improvements": sum(v["verdict"] == "improvement" for v in verdicts), "claims": verdicts}
    (run_dir / "nightly.json").write_text(json.dumps(summary, indent=1))
    from reports.build import build_report, publish
    out = build_report(run_dir, results_root=run_dir.parent, history=history)
    latest = root / "reports" / "out" / ("latest-untrained" if untrained else "latest")
    publish(out, latest)
    print(f"nightly: {summary['regressions']} regression(s), {summary['improvements']} improvement(s) against "
          f"the last {summary['nights']} run(s) on this device class")
    for v in verdicts:
        if v["verdict"] in ("regression", "improvement"):
            print(f"  {v['verdict'].upper():<12} {v['paper']}/{v['claim_id']}: {v['why']}; previous "
                  f"{', '.join(f'{x:.6g}' for x in v['previous'][-5:]) or '-'}")
    print(f"report: {latest / 'report.md'}")
    return 1 if summary["regressions"] else 0


if __name__ == "__main__":
    sys.exit(main())
