"""The history of every run: one row per claim measurement, in an embedded SQLite file by default.

Every `pytest suites/` run appends its rows at the end of the session (`--history`, env
`REPRO_HISTORY`; default `reports/out/history.sqlite`). Any SQLAlchemy URL works through the same
code, so a team can point its nightly runners at a shared PostgreSQL
(`--history postgresql+psycopg://user@host/repro`). A run is written in one transaction, so
concurrent runs never interleave half a run, and a run id is written once (re-appending is a no-op).

    python -m harness.history import reports/out/runs      # existing runs into the history
    python -m harness.history show [--paper P] [--claim C]  # the last nights of each claim
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from sqlalchemy import (JSON, Column, Float, Integer, MetaData, String, Table, create_engine, insert, select,
                        text)
from sqlalchemy.exc import SQLAlchemyError

from .results import read_results

DEFAULT_PATH = Path("reports") / "out" / "history.sqlite"

_meta = MetaData()
RUNS = Table(
    "runs", _meta,
    Column("run_id", String(80), primary_key=True),
    Column("git_sha", String(40)), Column("started", String(32)), Column("tier", String(8)),
    Column("seed", Integer), Column("device", String(32)), Column("device_class", String(200)),
    Column("mode", String(16)), Column("wall_s", Float), Column("exitstatus", Integer),
    Column("environment", JSON), Column("benchmark", JSON),
)
RESULTS = Table(
    "results", _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(80), index=True), Column("time", String(32)),
    Column("paper", String(64), index=True), Column("claim_id", String(128), index=True),
    Column("kind", String(16)), Column("tier", String(8)), Column("direction", String(8)),
    Column("value", Float), Column("target", Float), Column("than", Float), Column("tolerance", Float),
    Column("controls", JSON), Column("status", String(40)), Column("seed", Integer),
    Column("device", String(32)), Column("device_class", String(200)), Column("mode", String(16)),
    Column("wall_s", Float), Column("extra", JSON),
)


class HistoryError(RuntimeError):
    """The history store cannot be opened or written; the message names it."""


def url_for(where: str | Path | None) -> str:
    """A SQLAlchemy URL from a URL or a file path (default: reports/out/history.sqlite)."""
    where = str(where or os.environ.get("REPRO_HISTORY") or DEFAULT_PATH)
    if "://" in where:
        return where
    Path(where).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(where).expanduser().resolve()}"


def device_class(device: str, env: dict | None) -> str:
    """Runs are compared only within a class of machine: the GPU's name, or the CPU and its core count."""
    env = env or {}
    if str(device).startswith("cuda") and env.get("gpu"):
        return f"cuda:{env['gpu']}"
    return f"cpu:{env.get('cpu', '?')}:{env.get('cpu_count', '?')}cores:{env.get('torch_threads', '?')}threads"


def _num(v):
    try:
        f = float(v)
        return None if math.isnan(f) else f
    except (TypeError, ValueError):
        return None


class History:
    def __init__(self, where: str | Path | None = None):
        self.url = url_for(where)
        try:
            kw = {"connect_args": {"timeout": 60}} if self.url.startswith("sqlite") else {}
            self.engine = create_engine(self.url, **kw)
            _meta.create_all(self.engine)
        except SQLAlchemyError as e:
            raise HistoryError(f"history {self.url}: cannot open ({type(e).__name__}: {str(e).splitlines()[0]})") \
                from None

    def has_run(self, run_id: str) -> bool:
        with self.engine.connect() as c:
            return c.execute(select(RUNS.c.run_id).where(RUNS.c.run_id == run_id)).first() is not None

    def append_run(self, meta: dict, rows: list[dict]) -> int:
        """Write one run (its meta and rows) in one transaction; returns the rows written (0 if the
        run id is already there)."""
        run_id = meta.get("run_id") or (rows[0]["run_id"] if rows else None)
        if not run_id or self.has_run(run_id):
            return 0
        env = next((r.get("environment") for r in rows if r.get("environment")), {})
        dclass = device_class(meta.get("device", "cpu"), env)
        mode = meta.get("mode") or next((r.get("run_mode") for r in rows if r.get("run_mode")), "trained")
        run = {"run_id": run_id, "git_sha": meta.get("git_sha"), "started": meta.get("started"),
               "tier": meta.get("tier"), "seed": meta.get("seed"), "device": meta.get("device"),
               "device_class": dclass, "mode": mode, "wall_s": _num(meta.get("wall_s")),
               "exitstatus": meta.get("exitstatus"), "environment": env, "benchmark": meta.get("benchmark")}
        res = [{"run_id": run_id, "time": r.get("time"), "paper": r["paper"], "claim_id": r["claim_id"],
                "kind": r.get("kind"), "tier": r.get("tier"), "direction": r.get("direction"),
                "value": _num(r.get("value")), "target": _num(r.get("target")), "than": _num(r.get("than")),
                "tolerance": _num(r.get("tolerance")), "controls": r.get("controls") or {},
                "status": r.get("status"), "seed": r.get("seed"), "device": r.get("device"),
                "device_class": dclass, "mode": mode, "wall_s": _num(r.get("wall_s")),
                "extra": r.get("extra") or {}} for r in rows]
        try:
            with self.engine.begin() as c:
                c.execute(insert(RUNS), [run])
                if res:
                    c.execute(insert(RESULTS), res)
        except SQLAlchemyError as e:
            if self.has_run(run_id):   # a concurrent writer of the same run won
                return 0
            raise HistoryError(f"history {self.url}: cannot write run {run_id} "
                               f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
        return len(res)

    def append_run_dir(self, run_dir: str | Path) -> int:
        run_dir = Path(run_dir)
        meta_path = run_dir / "run.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return self.append_run(meta, read_results(run_dir))

    def previous(self, *, device_class: str, tier: str, mode: str = "trained", seed: int | None = None,
                 before: str | None = None, nights: int = 7) -> dict:
        """(paper, claim_id) -> [row dicts of the last `nights` runs, oldest first] on the same
        device class, tier, mode (and seed when given), excluding run `before` and later runs."""
        q = select(RUNS.c.run_id, RUNS.c.started).where(RUNS.c.device_class == device_class, RUNS.c.tier == tier,
                                                        RUNS.c.mode == mode)
        if seed is not None:
            q = q.where(RUNS.c.seed == seed)
        with self.engine.connect() as c:
            runs = [r for r in c.execute(q.order_by(RUNS.c.started, RUNS.c.run_id)).all() if r.run_id != before]
            if before is not None:
                cut = c.execute(select(RUNS.c.started).where(RUNS.c.run_id == before)).scalar()
                if cut is not None:
                    runs = [r for r in runs if (r.started or "") <= cut]
            ids = [r.run_id for r in runs[-nights:]]
            if not ids:
                return {}
            rows = c.execute(select(RESULTS).where(RESULTS.c.run_id.in_(ids))).mappings().all()
        order = {rid: i for i, rid in enumerate(ids)}
        out: dict = {}
        for r in sorted(rows, key=lambda r: (order[r["run_id"]], r["id"])):
            out.setdefault((r["paper"], r["claim_id"]), []).append(dict(r))
        out["_runs"] = ids
        return out

    def count(self) -> tuple[int, int]:
        with self.engine.connect() as c:
            return (c.execute(text("select count(*) from runs")).scalar(),
                    c.execute(text("select count(*) from results")).scalar())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.history", description=__doc__.split("\n\n")[0])
    ap.add_argument("--history", default=None, help="SQLite path or SQLAlchemy URL (default $REPRO_HISTORY or "
                                                    f"{DEFAULT_PATH})")
    sub = ap.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="append existing run directories (reports/out/runs/*) to the history")
    imp.add_argument("runs", nargs="+", help="run directories, or folders of run directories")
    show = sub.add_parser("show", help="the last nights of each claim")
    show.add_argument("--paper"), show.add_argument("--claim"), show.add_argument("--nights", type=int, default=7)
    args = ap.parse_args(argv)
    try:
        h = History(args.history)
        if args.cmd == "import":
            n_runs = n_rows = 0
            for p in map(Path, args.runs):
                dirs = [p] if list(p.glob("results-*.jsonl")) else sorted(d for d in p.iterdir() if d.is_dir()) \
                    if p.is_dir() else []
                if not p.exists():
                    print(f"error: {p}: no such run directory", file=sys.stderr)
                    return 2
                for d in dirs:
                    if list(d.glob("results-*.jsonl")):
                        n = h.append_run_dir(d)
                        n_runs, n_rows = n_runs + (n > 0), n_rows + n
            runs, rows = h.count()
            print(f"imported {n_runs} run(s), {n_rows} row(s); {h.url} holds {runs} runs, {rows} rows")
            return 0
        with h.engine.connect() as c:
            q = select(RESULTS.c.run_id, RESULTS.c.paper, RESULTS.c.claim_id, RESULTS.c.value, RESULTS.c.status,
                       RESULTS.c.device_class)
            if args.paper:
                q = q.where(RESULTS.c.paper == args.paper)
            if args.claim:
                q = q.where(RESULTS.c.claim_id == args.claim)
            for r in c.execute(q.order_by(RESULTS.c.paper, RESULTS.c.claim_id, RESULTS.c.id)).all():
                print(f"{r.paper:<14} {r.claim_id:<44} {r.run_id:<32} {r.value!s:>12}  {r.status}")
        return 0
    except HistoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
