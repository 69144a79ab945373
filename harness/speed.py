"""Speed claims through pytest-benchmark's machinery, in a form that survives xdist.

pytest-benchmark switches its `benchmark` fixture off under xdist, which `./repro reproduce`
uses. The `speed` fixture keeps its machinery -- explicit rounds and warm-up rounds, a named
timer, `pytest_benchmark.stats.Stats` for min / median / IQR / outliers -- and measures the
functions a claim compares in *interleaved* rounds (a, b, a, b, ...), so a ratio sees the same
machine load on both sides:

    def test_fast_generation(claim, speed):
        t = speed.compare({"fast": lambda: gen_fast(m), "naive": lambda: gen_naive(m)}, rounds=5)
        claim("fast_speedup", t.ratio("naive", "fast"), **t.extra())

Every measurement lands in `<run dir>/benchmark.json` in pytest-benchmark's own format (one
entry per compared function, fullname `<test node id>::<name>`), so
`pytest-benchmark compare reports/out/runs/*/benchmark.json` works across nights. The default
timer is process CPU time (`time.process_time`), the compute cost, insensitive to other
processes on a shared CPU; pass `timer=time.perf_counter` for wall time (GPU work, I/O).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time
from pathlib import Path
from typing import Callable

from pytest_benchmark.stats import Stats


class Timings:
    """The result of one `compare`: per name, a pytest-benchmark `Stats`."""

    def __init__(self, stats: dict[str, Stats], timer: str, rounds: int, warmup: int):
        self.stats, self.timer, self.rounds, self.warmup = stats, timer, rounds, warmup

    def __getitem__(self, name: str) -> Stats:
        return self.stats[name]

    def median(self, name: str) -> float:
        return self.stats[name].median

    def ratio(self, slow: str, fast: str) -> float:
        """median(slow) / median(fast): how many times faster `fast` is."""
        return self.stats[slow].median / self.stats[fast].median

    def extra(self) -> dict:
        """Per name: min, median, IQR and rounds (seconds), for the claim's row."""
        out = {"timer": self.timer, "rounds": self.rounds, "warmup_rounds": self.warmup}
        for name, s in self.stats.items():
            out[f"{name}_min_s"] = s.min
            out[f"{name}_median_s"] = s.median
            out[f"{name}_iqr_s"] = s.iqr
        return out


class SpeedMeter:
    def __init__(self, nodeid: str, sink: list):
        self.nodeid, self.sink = nodeid, sink

    def compare(self, fns: dict[str, Callable[[], object]], *, rounds: int = 5, warmup: int = 1,
                timer: Callable[[], float] = time.process_time, per_call: int | dict = 1) -> Timings:
        """Time each function `rounds` times, interleaved, after `warmup` untimed rounds. `per_call`
        (one number, or one per name) divides each timing: a function that does `per_call` units of
        work is timed in seconds per unit."""
        units = per_call if isinstance(per_call, dict) else {name: per_call for name in fns}
        if rounds < 1:
            raise ValueError("rounds must be >= 1")
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        stats = {name: Stats() for name in fns}
        for _ in range(rounds):
            for name, fn in fns.items():
                t0 = timer()
                fn()
                stats[name].update((timer() - t0) / units[name])
        timer_name = getattr(timer, "__name__", str(timer))
        for name, s in stats.items():
            self.sink.append({
                "group": self.nodeid, "name": f"{self.nodeid.split('::')[-1]}[{name}]",
                "fullname": f"{self.nodeid}::{name}", "params": None, "param": None,
                "extra_info": {"per_call": units[name], "compared_with": sorted(set(fns) - {name})},
                "options": {"disable_gc": False, "timer": timer_name, "min_rounds": rounds, "max_time": 0,
                            "min_time": 0, "warmup": warmup},
                "stats": {**s.as_dict(), "data": list(s.data), "iterations": 1}})
        return Timings(stats, timer_name, rounds, warmup)


def write_worker_file(run_dir: Path, worker: str, entries: list):
    if not entries:
        return
    path = Path(run_dir) / f"benchmark-{worker}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entries))
    os.replace(tmp, path)


def merge(run_dir: Path, git: dict | None = None) -> Path | None:
    """The workers' entries -> `<run dir>/benchmark.json` in pytest-benchmark's JSON format."""
    from pytest_benchmark import __version__
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info
    run_dir = Path(run_dir)
    entries = []
    for p in sorted(run_dir.glob("benchmark-*.json")):
        entries += json.loads(p.read_text())
    if not entries:
        return None
    out = {"machine_info": pytest_benchmark_generate_machine_info(), "commit_info": git or {},
           "benchmarks": sorted(entries, key=lambda e: e["fullname"]),
           "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(), "version": __version__}
    path = run_dir / "benchmark.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, path)
    for p in run_dir.glob("benchmark-*.json"):
        p.unlink()
    return path
