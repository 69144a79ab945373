"""`./repro calibrate -m <paper> [--seeds 0-4]`: regenerate a suite's calibration record.

Runs the paper's smoke tests once per seed, exactly as `./repro reproduce` runs them (two xdist
workers with one thread each on a 2-core machine, the same cache), collects every claim's
value, comparison arm and control values per seed, and writes `suites/<paper>/calibration.json`
(see harness/calibration.py for the format and the rule that derives floors and margins from
it). Then prints, per claim, the per-seed verdicts, the floor or margin the rule suggests, and
what in claims.toml disagrees with the record. Seed 7 is held out and refused.

    ./repro calibrate -m deeplab --seeds 0-4
    ./repro calibrate -m cam --seeds 0,1,2 -- -k gap     # extra pytest arguments after --
    ./repro calibrate -m cam --keep /tmp/cal-cam          # keep per-seed runs; a rerun resumes

With `--keep DIR` the per-seed runs stay in DIR, and seeds already finished there are not run
again: on a loaded machine an interrupted calibration resumes where it stopped. Empty DIR after
changing the suite, or the old runs are reused.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .calibration import HELD_OUT_SEED, load_calibration, record_from_rows, rule_problems, save_calibration, suggestion
from .claims import load_claims
from .results import environment, git_sha, read_results

ROOT = Path(__file__).resolve().parent.parent


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            seeds += list(range(int(a), int(b) + 1))
        elif part:
            seeds.append(int(part))
    return sorted(set(seeds))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="repro calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--paper", required=True, help="the suite to calibrate (folder name under suites/)")
    ap.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,1,2 (default 0-4; 7 is held out)")
    ap.add_argument("--workers", default=os.environ.get("REPRO_WORKERS", "2"),
                    help="xdist workers, as ./repro reproduce uses (default $REPRO_WORKERS or 2)")
    ap.add_argument("--keep", metavar="DIR", help="keep the per-seed runs in DIR and skip seeds already finished there")
    ap.add_argument("--check", action="store_true", help="only check claims.toml against the existing record")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args(argv)

    suite = ROOT / "suites" / args.paper
    if not (suite / "claims.toml").exists():
        print(f"error: no suite '{args.paper}' (expected {suite / 'claims.toml'})", file=sys.stderr)
        return 2
    claims = load_claims(suite / "claims.toml")
    if not args.check:
        seeds = parse_seeds(args.seeds)
        if HELD_OUT_SEED in seeds:
            print(f"error: seed {HELD_OUT_SEED} is the held-out seed; calibrate on others", file=sys.stderr)
            return 2
        rows, threads = [], None
        keep = Path(args.keep).resolve() if args.keep else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
        with (contextlib.nullcontext(str(keep)) if keep else tempfile.TemporaryDirectory(prefix="repro-calibrate-")) as tmp:
            done = finished_seeds(Path(tmp), args.paper)
            for seed in seeds:
                if seed in done:
                    print(f"calibrate {args.paper}: seed {seed} already finished in {tmp}, kept", flush=True)
                    continue
                print(f"calibrate {args.paper}: seed {seed} ({seeds.index(seed) + 1}/{len(seeds)})", flush=True)
                cmd = [sys.executable, "-m", "pytest", str(suite.relative_to(ROOT)), "--seed", str(seed),
                       "--results-dir", tmp, "--no-report", "-q", "-p", "no:cacheprovider", *args.pytest_args]
                if args.workers != "0":
                    cmd += ["-n", str(args.workers), "--dist", "loadfile", "--no-loadscope-reorder"]
                rc = subprocess.run(cmd, cwd=ROOT).returncode
                if rc not in (0, 1):   # 1: some claim failed -- that is data here, not an error
                    print(f"error: pytest exited {rc} at seed {seed}", file=sys.stderr)
                    return rc
            runs = finished_seeds(Path(tmp), args.paper)   # the latest finished run of each seed
            for run in (runs[s] for s in seeds):
                got = read_results(run)
                rows += got
                for r in got:
                    threads = threads or r.get("environment", {}).get("torch_threads")
        from .bench import reference_benchmark
        meta = {"date": _dt.date.today().isoformat(), "git_sha": git_sha(str(ROOT)), "seeds": seeds,
                "command": f"./repro calibrate -m {args.paper} --seeds {args.seeds}",
                "threads": {"xdist_workers": int(args.workers), "torch_threads_per_worker": threads,
                            "cpu_count": environment()["cpu_count"]},
                "benchmark": reference_benchmark()}
        kept = {c.id for c in claims if c.kind in ("proxy", "relative")}   # what floors and margins are for
        rows = [r for r in rows if r["claim_id"] in kept]
        path = save_calibration(suite, record_from_rows(claims.paper, rows, meta))
        print(f"wrote {path.relative_to(ROOT)}")
    return report(claims, load_calibration(suite))


def finished_run(run: Path, paper: str):
    """The seed of a finished calibration run of `paper` in `run`, else None."""
    try:
        meta = json.loads((run / "run.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("exitstatus") not in (0, 1) or meta.get("papers") != [paper]:
        return None
    return meta.get("seed")


def finished_seeds(results_dir: Path, paper: str) -> dict[int, Path]:
    """seed -> the latest finished run of `paper` in `results_dir` (run ids sort by time)."""
    runs = {}
    for run in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if (s := finished_run(run, paper)) is not None:
            runs[s] = run
    return runs


def report(claims, cal) -> int:
    problems = []
    print(f"\n{'claim':<44} {'seeds passing':>13}  rule")
    for c in claims:
        rec = cal.get(c.id)
        if rec is not None:
            v = rec.verdicts(c)
            print(f"{c.id:<44} {sum(v):>6}/{len(v):<6}  {suggestion(c, rec)}")
        problems += rule_problems(c, rec)
    if problems:
        print("\nclaims.toml disagrees with the calibration record:")
        for p in problems:
            print("  - " + p)
        return 1
    print("\nclaims.toml agrees with the calibration record.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
