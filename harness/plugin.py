"""pytest plugin: options, tiers, device, data root, claim recording and the end-of-run report.

Loaded by the root conftest.py. What a suite test sees:

    def test_vgg16_params(claim):
        claim("vgg16_params", count_params(vgg16()))

Fixtures: `claim` (record + assert a claim of this test's paper), `seed`, `device`, `tier`,
`data_root`, `cache_dir`, `artifacts` (figures and curves for the report).
Markers: `@pytest.mark.full` (full tier; unmarked tests are smoke), one marker per paper
(added automatically from the folder name: `pytest -m cam`).
Loaders raise `datasets.DataMissing` -> the test is skipped with the expected layout; an optional package
missing (`reference_impls.common.require` raises DependencyMissing) -> skipped saying what to install.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from datasets import DataMissing

from .calibration import load_calibration, status_of_unasserted
from .history import DEFAULT_PATH, History, HistoryError
from .speed import SpeedMeter, merge, write_worker_file
from .claims import ClaimsError, load_claims
from .results import (STATUS_FAIL, STATUS_KNOWN, STATUS_MIXED, STATUS_PASS, STATUS_RECORDED, STATUS_UNEXPECTED,
                      STATUS_UNTRAINED_FAILS, STATUS_UNTRAINED_PASSES, Recorder, git_sha, new_run_id)

SUITES = "suites"


def pytest_addoption(parser):
    g = parser.getgroup("repro", "paper reproduction")
    g.addoption("--tier", choices=("smoke", "full", "all"), default="smoke",
                help="which tier to run: smoke (CPU, minutes; default), full (the papers' protocols), all")
    g.addoption("--data-root", default=os.environ.get("REPRO_DATA_ROOT"),
                help="folder holding datasets in their published layouts (default: $REPRO_DATA_ROOT)")
    g.addoption("--device", choices=("auto", "cpu", "cuda"), default="auto", help="compute device (default auto)")
    g.addoption("--seed", type=int, default=0, help="random seed for data, init and training (default 0)")
    g.addoption("--results-dir", default=None,
                help="where runs are written (default <rootdir>/reports/out/runs)")
    g.addoption("--baseline", default=None,
                help="a previous run (run dir, run id, or results.csv) to flag regressions against")
    g.addoption("--cache-dir", default=os.environ.get("REPRO_CACHE_DIR"),
                help="checkpoint/feature cache (default $REPRO_CACHE_DIR or <rootdir>/.cache/repro)")
    g.addoption("--no-report", action="store_true", help="record results but build no report")
    g.addoption("--history", default=os.environ.get("REPRO_HISTORY"),
                help="history store every run is appended to: a SQLite path or any SQLAlchemy URL "
                     "(default $REPRO_HISTORY or <rootdir>/reports/out/history.sqlite); 'off' disables it")
    g.addoption("--untrained", action="store_true",
                help="negative control: every model keeps its seeded initialisation (nothing trained or cached); "
                     "the run passes when every learned claim fails and every other claim holds")
    g.addoption("--full-steps", type=int, default=int(os.environ.get("REPRO_FULL_STEPS") or 0) or None,
                help="rehearsal of the full tier: cut every full-tier training loop to N steps per epoch and "
                     "evaluation to a few items (env REPRO_FULL_STEPS); claims are recorded as a rehearsal "
                     "(status 'recorded', verdict meaningless) and never fail the run")
    g.addoption("--bench", choices=("on", "off"), default=os.environ.get("REPRO_BENCH", "off"),
                help="measure the reference CPU benchmark (timm resnet18, 64x64, batch 64, 2 threads) before the "
                     "run and print it beside the run's time (default $REPRO_BENCH or off; ./repro turns it on)")


# ----------------------------------------------------------------------------- configuration
class _State:
    """Per-process run state, kept on config."""

    def __init__(self, config):
        opt = config.option
        self.root = Path(config.rootpath)
        self.tier = opt.tier
        self.seed = opt.seed
        self.untrained = bool(opt.untrained)
        self.data_root = Path(opt.data_root).expanduser() if opt.data_root else None
        self.cache_dir = Path(opt.cache_dir or self.root / ".cache" / "repro").expanduser()
        self.device = _pick_device(opt.device)
        self.full_steps = opt.full_steps
        self.rehearsal = bool(opt.full_steps)
        worker = getattr(config, "workerinput", None)
        self.is_worker = worker is not None
        # under `torchrun --nproc_per_node=N -m pytest`: join the process group, one device per rank;
        # only rank 0 records claims, writes figures, the report and the history
        self.rank, self.world_size = 0, 1
        if worker is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from reference_impls.common import broadcast, init_distributed
            self.rank, self.world_size, self.device = init_distributed(self.device)
        self.run_id = worker["repro_run_id"] if worker else (
            os.environ.get("REPRO_RUN_ID") or new_run_id() + ("-untrained" if self.untrained else "")
            + ("-rehearsal" if self.rehearsal else ""))
        if self.world_size > 1:
            self.run_id = broadcast(self.run_id)
        results_dir = Path(opt.results_dir or self.root / "reports" / "out" / "runs")
        self.run_dir = results_dir / self.run_id
        self.recorder = None
        self.worker_name = worker["workerid"] if worker else "main"
        self.papers: set[str] = set()
        self.suite_seconds: dict[str, float] = {}   # paper -> setup + call + teardown seconds (its worker's)
        self.claims_cache: dict[Path, object] = {}
        self.calibration_cache: dict[Path, dict] = {}
        self.benchmark: dict | None = None
        self.speed_entries: list[dict] = []
        self.rows: list[dict] = []
        self.t0 = time.time()

    def open_recorder(self):
        if self.recorder is None:
            self.recorder = Recorder(self.run_dir, self.run_id, worker=self.worker_name, tier=self.tier,
                                     device=str(self.device), seed=self.seed, root=self.root,
                                     mode="untrained" if self.untrained else
                                     "rehearsal" if self.rehearsal else "trained")
        return self.recorder

    def claims_for(self, suite_dir: Path):
        suite_dir = Path(suite_dir)
        if suite_dir not in self.claims_cache:
            self.claims_cache[suite_dir] = load_claims(suite_dir / "claims.toml")
        return self.claims_cache[suite_dir]

    def calibration_for(self, suite_dir: Path) -> dict:
        suite_dir = Path(suite_dir)
        if suite_dir not in self.calibration_cache:
            self.calibration_cache[suite_dir] = load_calibration(suite_dir)
        return self.calibration_cache[suite_dir]


def _pick_device(name: str):
    import torch
    if name == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--device cuda: no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def pytest_configure(config):
    config.addinivalue_line("markers", "full: full-tier test (the paper's protocol on real data; usually GPU)")
    config.addinivalue_line("markers", "smoke: smoke-tier test (the default for unmarked tests)")
    suites = Path(config.rootpath) / SUITES
    if suites.is_dir():
        for d in sorted(suites.iterdir()):
            if (d / "claims.toml").exists():
                config.addinivalue_line("markers", f"{d.name}: tests of the {d.name} suite")
    state = _State(config)
    if not state.is_worker:
        config.pluginmanager.register(_SuiteTimer(state), "repro-suite-timer")
    from reference_impls.common import set_untrained_mode, untrained_mode
    state.untrained_before = untrained_mode()
    set_untrained_mode(state.untrained)   # the flag decides; inherited by xdist workers and subprocesses
    state.full_steps_before = os.environ.get("REPRO_FULL_STEPS")
    if state.full_steps:                  # read by common.fit / rehearsal_items (and inherited by workers)
        os.environ["REPRO_FULL_STEPS"] = str(state.full_steps)
    else:
        os.environ.pop("REPRO_FULL_STEPS", None)
    if state.data_root is not None and not state.data_root.is_dir():
        raise pytest.UsageError(f"--data-root {state.data_root}: no such directory")
    if state.is_worker:
        import torch
        # two xdist workers on a small CPU: one thread each, or both crawl
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // int(config.workerinput.get("workercount", 2))))
    elif state.rank == 0:      # under torchrun only rank 0 writes the run
        try:
            state.run_dir.mkdir(parents=True, exist_ok=True)
            probe = state.run_dir / ".write-probe"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise pytest.UsageError(f"--results-dir: cannot write to {state.run_dir} ({e.strerror})") from None
    config._repro = state


def pytest_unconfigure(config):
    state = getattr(config, "_repro", None)
    if state is not None:
        from reference_impls.common import set_untrained_mode
        set_untrained_mode(state.untrained_before)
        if state.full_steps_before is None:
            os.environ.pop("REPRO_FULL_STEPS", None)
        else:
            os.environ["REPRO_FULL_STEPS"] = state.full_steps_before
        if state.world_size > 1:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # xdist controller -> workers
    node.workerinput["repro_run_id"] = node.config._repro.run_id
    n = node.config.getoption("numprocesses")
    node.workerinput["workercount"] = n if isinstance(n, int) and n > 0 else (os.cpu_count() or 1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """Under xdist only workers collect; the controller learns which suites ran from the test ids."""
    state = node.config._repro
    for nodeid in ids:
        parts = nodeid.split("::")[0].split("/")
        if SUITES in parts:
            i = parts.index(SUITES)
            if i + 2 < len(parts) and (state.root / Path(*parts[: i + 2]) / "claims.toml").exists():
                state.papers.add(parts[i + 1])


def _paper_of(item) -> tuple[str, Path] | None:
    path = Path(str(item.path))
    parts = path.parts
    if SUITES in parts:
        i = len(parts) - 1 - parts[::-1].index(SUITES)
        if i + 1 < len(parts) - 1:
            suite_dir = Path(*parts[: i + 2])
            if (suite_dir / "claims.toml").exists():
                return parts[i + 1], suite_dir
    return None


def pytest_collection_modifyitems(session, config, items):
    state = config._repro
    # longest suites first ([paper] smoke_seconds): with `-n 2 --dist loadfile --no-loadscope-reorder`
    # the files are handed out in this order, which balances the two workers (longest-first scheduling)
    def cost(item):
        found = _paper_of(item)
        try:
            return -state.claims_for(found[1]).smoke_seconds if found else 0.0
        except ClaimsError:
            return 0.0
    items.sort(key=cost)
    for item in items:
        found = _paper_of(item)
        if found is None:
            continue
        paper, suite_dir = found
        try:
            state.claims_for(suite_dir)  # validate every collected suite's claims up front
        except ClaimsError as e:
            raise pytest.UsageError(str(e)) from None
        item.add_marker(getattr(pytest.mark, paper))
        state.papers.add(paper)
        item_tier = "full" if item.get_closest_marker("full") else "smoke"
        item._repro_tier = item_tier
        if state.tier != "all" and item_tier != state.tier:
            item.add_marker(pytest.mark.skip(
                reason=f"{item_tier}-tier test; this run is --tier {state.tier} (use --tier {item_tier})"))


# ----------------------------------------------------------------------------- data -> skip
def _data_missing_to_skip(outcome):
    from reference_impls.common import DependencyMissing
    exc = outcome.excinfo[1] if outcome.excinfo else None
    if isinstance(exc, DataMissing):
        outcome.force_exception(pytest.skip.Exception(f"data missing: {exc}", _use_item_location=True))
    elif isinstance(exc, DependencyMissing):
        outcome.force_exception(pytest.skip.Exception(f"optional dependency missing: {exc}", _use_item_location=True))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """--full-steps cuts full-tier training only: a smoke-tier test of a `--tier all` run sees none."""
    cut = os.environ.pop("REPRO_FULL_STEPS", None) if getattr(item, "_repro_tier", None) == "smoke" else None
    try:
        yield
    finally:
        if cut is not None:
            os.environ["REPRO_FULL_STEPS"] = cut


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    outcome = yield
    _data_missing_to_skip(outcome)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    _data_missing_to_skip(outcome)
    recorder = getattr(item, "_repro_claims", None)
    if recorder is None or outcome.excinfo is not None:
        return
    failures = [r for r in recorder.rows if r["status"] in (STATUS_FAIL, STATUS_UNEXPECTED, STATUS_UNTRAINED_PASSES)]
    known = [r for r in recorder.rows if r["status"] == STATUS_KNOWN]
    if failures:
        outcome.force_exception(ClaimFailure("\n".join(recorder.messages[r["claim_id"]] for r in failures)))
    elif known:
        outcome.force_exception(pytest.xfail.Exception(
            "\n".join(recorder.messages[r["claim_id"]] for r in known)))


class ClaimFailure(AssertionError):
    """A claim did not reproduce; reported as its message alone (no plugin traceback)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(ClaimFailure):
        outcome.get_result().longrepr = str(call.excinfo.value)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def repro_state(pytestconfig):
    return pytestconfig._repro


@pytest.fixture(scope="session")
def seed(repro_state) -> int:
    return repro_state.seed


@pytest.fixture(scope="session")
def device(repro_state):
    """The compute device; under torchrun this rank's own (cuda:LOCAL_RANK, or cpu with gloo)."""
    return repro_state.device


@pytest.fixture(scope="session")
def tier(repro_state) -> str:
    return repro_state.tier


@pytest.fixture(scope="session")
def data_root(repro_state):
    """The data root (a Path), or None; loaders raise DataMissing, which becomes a skip."""
    return repro_state.data_root


@pytest.fixture(scope="session")
def cache_dir(repro_state) -> Path:
    repro_state.cache_dir.mkdir(parents=True, exist_ok=True)
    return repro_state.cache_dir


class Artifacts:
    """Figures and curves a suite adds to the report (run_dir/figures/<paper>/)."""

    def __init__(self, run_dir: Path, paper: str, rank: int = 0):
        if rank != 0:   # under torchrun only rank 0 writes into the run; the others draw into a scratch folder
            import tempfile
            run_dir = Path(tempfile.mkdtemp(prefix=f"repro-rank{rank}-"))
        self.dir = run_dir / "figures" / paper
        self.dir.mkdir(parents=True, exist_ok=True)

    def save_figure(self, fig, name: str) -> Path:
        import matplotlib.pyplot as plt
        path = self.dir / f"{name}.png"
        tmp = path.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, path)
        return path

    def save_curve(self, name: str, values, xlabel: str = "step", ylabel: str = "loss") -> Path:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(list(values))
        ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(name)
        return self.save_figure(fig, name)


@pytest.fixture
def artifacts(request, repro_state):
    found = _paper_of(request.node)
    return Artifacts(repro_state.run_dir, found[0] if found else "misc", repro_state.rank)


class ClaimRecorder:
    """`claim(id, value, than=None, controls=None, **extra)`: records a measurement against a claim
    of this test's paper and returns the row. `controls` maps each control the claim declares in
    claims.toml to its value measured in this run; the verdict needs the value to meet its target
    (or beat `than`) and to beat every control by the claim's margin. Failures are collected and
    raised when the test body returns, so every claim a test measures is recorded."""

    def __init__(self, item, state: _State):
        found = _paper_of(item)
        if found is None:
            raise ClaimsError(f"{item.nodeid}: the claim fixture is only for tests under suites/<paper>/")
        self.item, self.state = item, state
        self.claims = state.claims_for(found[1])
        self.calibration = state.calibration_for(found[1])
        self.rows: list[dict] = []
        self.messages: dict[str, str] = {}
        self.t0 = time.perf_counter()

    def __call__(self, claim_id: str, value, than=None, controls: dict | None = None, **extra) -> dict:
        c = self.claims[claim_id]
        test_tier = getattr(self.item, "_repro_tier", "smoke")
        if c.tier != test_tier:
            raise ClaimsError(f"{self.claims.path}: claim '{claim_id}' is {c.tier}-tier but "
                              f"{self.item.nodeid} is a {test_tier}-tier test")
        if c.not_checked:
            raise ClaimsError(f"{self.claims.path}: claim '{claim_id}' says not_checked; remove that field "
                              "now that a test measures it")
        controls = dict(controls or {})
        missing, unknown = set(c.controls) - set(controls), set(controls) - set(c.controls)
        if missing or unknown:
            raise ClaimsError(f"{self.claims.path}: claim '{claim_id}' declares controls {list(c.controls)}; "
                              f"{self.item.nodeid} " + (f"did not measure {sorted(missing)}" if missing else
                                                        f"passed undeclared {sorted(unknown)}"))
        controls = {k: float("nan") if v is None else float(v) for k, v in controls.items()}
        value = float(value) if value is not None else float("nan")
        ok, target = c.check(value, than)
        unbeaten = c.controls_not_beaten(value, controls)
        ok = ok and not unbeaten
        note = None
        if self.state.rehearsal and c.tier == "full":
            status = STATUS_RECORDED   # a rehearsal (--full-steps): the path ran; the verdict means nothing
            note = f"rehearsal (--full-steps {self.state.full_steps}): verdict meaningless"
        elif self.state.untrained and c.is_learned:
            status = STATUS_UNTRAINED_PASSES if ok else STATUS_UNTRAINED_FAILS
        elif not c.asserted:
            mixed, per_seed = status_of_unasserted(c, self.calibration.get(claim_id))
            status = STATUS_MIXED if mixed else STATUS_RECORDED
            note = f"{c.note} Calibration: {per_seed}".strip() if per_seed else None
        elif c.known_failure:
            status = STATUS_UNEXPECTED if ok else STATUS_KNOWN
        else:
            status = STATUS_PASS if ok else STATUS_FAIL
        if self.state.rank == 0:
            row = self.state.open_recorder().record(
                c, value, status=status, target=target, than=than, controls=controls, test=self.item.nodeid,
                wall_s=time.perf_counter() - self.t0, extra=extra or None, note=note)
        else:   # the same verdict on every rank (so every rank's test passes or fails alike); rank 0 records
            row = {"claim_id": claim_id, "value": value, "status": status, "controls": controls}
        self.state.rows.append(row)
        self.rows.append(row)
        self.messages[claim_id] = _message(c, value, target, status, controls, unbeaten)
        return row


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _message(c, value, target, status, controls=None, unbeaten=()) -> str:
    op = {"higher": ">", "lower": "<", "equal": "=="}[c.direction]
    if c.kind == "relative":
        want = f"{op} {_fmt(target)}" + (f" by more than {_fmt(c.tolerance)}" if c.tolerance else "")
    else:
        op = {"higher": ">=", "lower": "<=", "equal": "=="}[c.direction]
        want = f"{op} {_fmt(target)}" + (f" ± {_fmt(c.tolerance)}" if c.tolerance else "")
    msg = f"[{c.paper}] claim '{c.id}' {status}: {c.metric} = {_fmt(value)}{c.unit and ' ' + c.unit}, wanted {want}"
    if controls:
        beat = "beat" + (f" by more than {_fmt(c.margin)}" if c.margin else "")
        msg += f" and {beat} its controls (" + ", ".join(
            f"{k} {_fmt(v)}{' NOT BEATEN' if k in unbeaten else ''}" for k, v in controls.items()) + ")"
    if status == STATUS_KNOWN:
        msg += f" — known: {c.known_failure}"
    if status == STATUS_UNEXPECTED:
        msg += " — it is marked known_failure in claims.toml; remove known_failure if this holds"
    if status == STATUS_UNTRAINED_PASSES:
        msg += (" — this learned claim passes with untrained models (--untrained): its target or controls "
                "cannot tell a trained model from an untrained one")
    return msg


@pytest.fixture
def speed(request, repro_state) -> SpeedMeter:
    """Speed claims: `speed.compare({"a": fa, "b": fb}, rounds=5)` times the functions in interleaved
    rounds with pytest-benchmark's Stats; every timing goes to <run dir>/benchmark.json."""
    return SpeedMeter(request.node.nodeid, repro_state.speed_entries)


@pytest.fixture
def claim(request, repro_state) -> ClaimRecorder:
    rec = ClaimRecorder(request.node, repro_state)
    request.node._repro_claims = rec
    return rec


# ----------------------------------------------------------------------------- end of run
class _SuiteTimer:
    """Each suite's cost (setup, call and teardown of its tests, on the worker that ran them): the
    one-thread cold seconds that `[paper] smoke_seconds` records, printed at the end of the run."""

    def __init__(self, state):
        self.state = state

    def pytest_runtest_logreport(self, report):
        parts = Path(report.nodeid.split("::")[0]).parts
        if SUITES in parts[:-1]:
            paper = parts[parts.index(SUITES) + 1]
            self.state.suite_seconds[paper] = self.state.suite_seconds.get(paper, 0.0) + report.duration


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """The reference benchmark, before xdist starts its workers (so nothing else is running)."""
    state = getattr(session.config, "_repro", None)
    if state is None or state.is_worker or state.rank != 0 or session.config.option.bench != "on":
        return
    from .bench import describe, reference_benchmark
    state.benchmark = reference_benchmark()
    session.config.get_terminal_writer().line(describe(state.benchmark))
    state.t0 = time.time()


def pytest_sessionfinish(session, exitstatus):
    state = getattr(session.config, "_repro", None)
    if state is None:
        return
    if state.recorder is not None:
        state.recorder.close()
    if state.rank != 0:
        return
    if state.speed_entries:
        write_worker_file(state.run_dir, state.worker_name, state.speed_entries)
    if state.is_worker or not state.papers:
        return
    merge(state.run_dir, {"id": git_sha(str(state.root))})
    meta = {
        "run_id": state.run_id, "git_sha": git_sha(str(state.root)), "tier": state.tier,
        "seed": state.seed, "device": str(state.device),
        "data_root": str(state.data_root) if state.data_root else None,
        "papers": sorted(state.papers), "suites_dir": str(state.root / SUITES),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(state.t0)),
        "wall_s": round(time.time() - state.t0, 1), "exitstatus": int(exitstatus),
        "args": sys.argv[1:], "mode": "untrained" if state.untrained else "rehearsal" if state.rehearsal else "trained",
        "world_size": state.world_size,
        "benchmark": state.benchmark,
        "suite_seconds": {p: round(t, 1) for p, t in sorted(state.suite_seconds.items())},
    }
    tmp = state.run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, state.run_dir / "run.json")
    where = session.config.option.history
    if where != "off" and not state.rehearsal:   # a rehearsal's numbers mean nothing: kept out of the history
        from .results import read_results
        try:
            History(where or state.root / DEFAULT_PATH).append_run(meta, read_results(state.run_dir))
        except HistoryError as e:   # the run's results are on disk; say why the history missed them
            state.history_error = str(e)
    state.report_dir = None
    if session.config.option.no_report:
        return
    from reports.build import build_report, publish
    try:
        out = build_report(state.run_dir, baseline=session.config.option.baseline,
                           results_root=state.run_dir.parent)
    except Exception as e:  # the run's results are on disk already; say why the report failed
        state.report_error = f"{type(e).__name__}: {e}"
        return
    # the negative-control run keeps its own report, so `latest` stays the trained run's
    latest = state.root / "reports" / "out" / ("latest-untrained" if state.untrained else
                                               "latest-rehearsal" if state.rehearsal else "latest")
    publish(out, latest)
    state.report_dir = latest
    state.report_table = out / "summary.txt"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = getattr(config, "_repro", None)
    if state is None or state.is_worker or not state.papers or state.rank != 0:
        return
    tr = terminalreporter
    err = getattr(state, "report_error", None)
    table = getattr(state, "report_table", None)
    if table is None and not err and not state.benchmark:
        return
    tr.section("reproduction summary")
    if table is not None and table.exists():
        tr.write(table.read_text())
    if err:
        tr.write_line(f"report could not be built: {err}  (results are in {state.run_dir})", red=True)
    if getattr(state, "history_error", None):
        tr.write_line(f"history not written: {state.history_error}", red=True)
    elif getattr(state, "report_dir", None):
        tr.write_line(f"report: {state.report_dir / 'report.md'}  (also report.html, results.csv)")
    if state.benchmark:
        from .bench import describe
        tr.write_line(f"wall time {time.time() - state.t0:.0f} s; {describe(state.benchmark)}")
        if state.suite_seconds:
            tr.write_line("suite seconds (one worker, one thread each): " + ", ".join(
                f"{p} {t:.0f}" for p, t in sorted(state.suite_seconds.items(), key=lambda kv: -kv[1])))
        tr.write_line(f"run:    {state.run_dir}")
