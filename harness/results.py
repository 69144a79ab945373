"""The claim recorder: one JSON line per measurement, flushed as written.

A run lives in `<results-dir>/<run-id>/`; each process (xdist worker) appends to its own
`results-<worker>.jsonl`, so a crash loses nothing already measured and workers never
interleave writes.
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
import platform
import secrets
import subprocess
import time
from pathlib import Path

from .claims import Claim

STATUS_PASS = "reproduced"
STATUS_FAIL = "not reproduced"
STATUS_KNOWN = "not reproduced (known)"
STATUS_UNEXPECTED = "reproduced (unexpectedly)"
STATUS_RECORDED = "recorded"
STATUS_NOT_RUN = "not run"
STATUS_NOT_CHECKED = "not checked"   # a published number the suite lists but does not measure (reason in the note)
STATUS_MIXED = "mixed"               # a relative finding whose sign changes with the seed (calibration record)
# the negative-control run (--untrained): a learned claim must fail with untrained models
STATUS_UNTRAINED_FAILS = "fails untrained (expected)"
STATUS_UNTRAINED_PASSES = "passes untrained (defect)"


def new_run_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


@functools.lru_cache(maxsize=None)
def git_sha(root: str = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10)
        sha = out.stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=None)
def environment() -> dict:
    import torch
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(terse=True),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if env["cuda"]:
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _clean(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    if hasattr(v, "item"):  # numpy / torch scalars
        return _clean(v.item())
    return v


class Recorder:
    """Appends result rows for one run. Construction checks the directory is writable."""

    def __init__(self, run_dir: str | Path, run_id: str, *, worker: str = "main", tier: str = "smoke",
                 device: str = "cpu", seed: int = 0, root: str | Path = ".", mode: str = "trained"):
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.tier, self.device, self.seed, self.mode = tier, device, seed, mode
        self.root = str(root)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.path = self.run_dir / f"results-{worker}.jsonl"
            self._fh = open(self.path, "a", encoding="utf-8")
        except OSError as e:
            raise OSError(f"results dir {self.run_dir} is not writable ({e.strerror})") from None

    def record(self, claim: Claim, value, *, status: str, target=None, than=None, controls: dict | None = None,
               wall_s: float = 0.0, test: str = "", extra: dict | None = None, note: str | None = None) -> dict:
        row = {
            "run_id": self.run_id,
            "git_sha": git_sha(self.root),
            "time": _dt.datetime.now().isoformat(timespec="seconds"),
            "paper": claim.paper,
            "claim_id": claim.id,
            "kind": claim.kind,
            "tier": claim.tier,
            "run_tier": self.tier,
            "metric": claim.metric,
            "unit": claim.unit,
            "direction": claim.direction,
            "value": _clean(value),
            "target": _clean(target),
            "than": _clean(than),
            "controls": {k: _clean(v) for k, v in (controls or {}).items()},
            "margin": claim.margin,
            "learned": claim.is_learned,
            "run_mode": self.mode,
            "paper_value": _clean(claim.shown_paper_value),
            "tolerance": claim.tolerance,
            "status": status,
            "dataset": claim.dataset,
            "split": claim.split,
            "device": self.device,
            "seed": self.seed,
            "wall_s": round(float(wall_s), 3),
            "test": test,
            "note": note if note is not None else (claim.known_failure or claim.note),
            "finding": claim.finding,
            "environment": environment(),
        }
        if extra:
            row["extra"] = {k: _clean(v) for k, v in extra.items()}
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return row

    def close(self):
        self._fh.close()


def read_results(run_dir: str | Path) -> list[dict]:
    """All rows of a run. A truncated last line (a crash mid-write) is skipped, never fatal."""
    rows = []
    for p in sorted(Path(run_dir).glob("results-*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
