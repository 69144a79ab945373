"""The pytest plugin, exercised through pytester on a throw-away project."""
import json
from pathlib import Path

import pytest

CLAIMS = '''
[paper]
id = "demo"

[[claim]]
id = "params"
kind = "exact"
tier = "smoke"
metric = "parameters"
value = 760
direction = "equal"
source = "notes"

[[claim]]
id = "floor"
kind = "proxy"
tier = "smoke"
metric = "accuracy"
value = 0.9
direction = "higher"
source = "Table 1"
note = "calibrated on seeds 0,1,2"

[[claim]]
id = "ordering"
kind = "relative"
tier = "smoke"
metric = "error"
direction = "lower"
source = "Table 2"

[[claim]]
id = "hard"
kind = "relative"
tier = "smoke"
metric = "error"
direction = "lower"
source = "Table 3"
known_failure = "does not reproduce at 64x64"

[[claim]]
id = "big"
kind = "paper"
tier = "full"
metric = "accuracy"
value = 76.1
direction = "higher"
source = "abstract"
'''


@pytest.fixture
def project(pytester, monkeypatch):
    for var in ("REPRO_DATA_ROOT", "REPRO_CACHE_DIR"):   # CI exports these; the demo project must not see them
        monkeypatch.delenv(var, raising=False)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]')
    (pytester.path / "suites" / "demo").mkdir(parents=True)
    (pytester.path / "suites" / "demo" / "claims.toml").write_text(CLAIMS)
    return pytester


def write_tests(project, body):
    (project.path / "suites" / "demo" / "test_demo.py").write_text(body)


def rows(project):
    out = []
    for p in (project.path / "reports" / "out" / "runs").glob("*/results-*.jsonl"):
        out += [json.loads(line) for line in p.read_text().splitlines()]
    return out


def test_records_passes_and_writes_report(project):
    write_tests(project, '''
def test_params(claim):
    claim("params", 760)
''')
    res = project.runpytest("suites")
    res.assert_outcomes(passed=1)
    (row,) = rows(project)
    assert row["claim_id"] == "params" and row["status"] == "reproduced" and row["value"] == 760
    for key in ("run_id", "git_sha", "time", "paper", "kind", "tier", "metric", "target", "tolerance",
                "dataset", "split", "device", "seed", "wall_s", "environment"):
        assert key in row
    assert "torch" in row["environment"]
    latest = project.path / "reports" / "out" / "latest"
    for name in ("report.md", "report.html", "results.csv", "status_overview.png"):
        assert (latest / name).exists(), name
    md = (latest / "report.md").read_text()
    assert "| params |" in md and "not run" in md  # unmeasured claims are listed, not dropped
    res.stdout.fnmatch_lines(["*reproduction summary*", "*demo*params*760*760*reproduced*", "report: *report.md*"])


def test_failure_message_and_all_claims_recorded(project):
    write_tests(project, '''
def test_two(claim):
    claim("floor", 0.5)           # fails
    claim("params", 760)          # still recorded
''')
    res = project.runpytest("suites")
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*claim 'floor' not reproduced: accuracy = 0.5, wanted >= 0.9*"])
    assert {r["claim_id"]: r["status"] for r in rows(project)} == {"floor": "not reproduced", "params": "reproduced"}


def test_relative_claims_and_known_failures_are_strict(project):
    write_tests(project, '''
def test_ordering(claim):
    claim("ordering", 0.2, than=0.3)

def test_known_still_fails(claim):
    claim("hard", 0.4, than=0.3)

def test_known_now_passes(claim):
    claim("hard", 0.2, than=0.3)
''')
    res = project.runpytest("suites", "-rxX")
    res.assert_outcomes(passed=1, xfailed=1, failed=1)
    res.stdout.fnmatch_lines(["*marked known_failure*", "*known: does not reproduce at 64x64*"])


def test_tier_skip_names_the_option(project):
    write_tests(project, '''
import pytest

@pytest.mark.full
def test_big(claim):
    claim("big", 76.2)
''')
    res = project.runpytest("suites", "-rs")
    res.assert_outcomes(skipped=1)
    res.stdout.fnmatch_lines(["*full-tier test; this run is --tier smoke (use --tier full)*"])
    res = project.runpytest("suites", "--tier", "full")
    res.assert_outcomes(passed=1)



def test_full_steps_cut_full_tier_tests_only_and_key_the_cache(project):
    """`--tier all --full-steps 1`: the smoke test trains at its own size (no cut, the paper run's cache
    key), the full-tier test is cut and its cache key differs from the paper run's."""
    write_tests(project, '''
import pytest
from reference_impls.common import full_steps
from reference_impls.common.cache import cache_key

PAPER_KEY = "%s"

def test_small(claim):
    assert full_steps() is None and cache_key("m", {}, 0) == PAPER_KEY

@pytest.mark.full
def test_big(claim):
    assert full_steps() == 1 and cache_key("m", {}, 0) != PAPER_KEY
''' % __import__("reference_impls.common.cache", fromlist=["cache_key"]).cache_key("m", {}, 0))
    res = project.runpytest("suites", "--tier", "all", "--full-steps", "1")
    res.assert_outcomes(passed=2)

def test_missing_data_skips_with_expected_layout(project):
    write_tests(project, '''
from datasets import locate

def test_needs_data(claim, data_root):
    locate(data_root, "omniglot/python/images_background", "omniglot/python/images_background/<alphabet>/<character>/*.png")
''')
    res = project.runpytest("suites", "-rs")
    res.assert_outcomes(skipped=1)
    res.stdout.fnmatch_lines(["*data missing: no data root given*images_background/<alphabet>/<character>/*.png*"])
    (project.path / "data").mkdir()
    res = project.runpytest("suites", "-rs", "--data-root", str(project.path / "data"))
    res.stdout.fnmatch_lines(["*data missing: missing */data/omniglot/python/images_background*"])



def test_missing_optional_dependency_skips_saying_what_to_install(project):
    write_tests(project, '''
from reference_impls.common import require

def test_needs_crf(claim):
    require("surely_not_installed_pkg.densecrf", "pip install -e '.[crf]' (pydensecrf2)")

def test_raw_import_error_still_fails(claim):
    import surely_not_installed_pkg  # noqa: F401
''')
    res = project.runpytest("suites", "-rs")
    res.assert_outcomes(skipped=1, failed=1)
    assert res.ret != 0                       # the raw ImportError still fails the run
    res.stdout.fnmatch_lines(["*optional dependency missing: surely_not_installed_pkg.densecrf is not installed*"
                              "pip install -e '.?crf?' (pydensecrf2)"])

def test_malformed_claims_is_a_one_line_usage_error(project):
    (project.path / "suites" / "demo" / "claims.toml").write_text(CLAIMS.replace('value = 760', 'value = "x"'))
    write_tests(project, "def test_a(claim):\n    claim('params', 760)\n")
    res = project.runpytest("suites")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*claims.toml: claim 'params': field 'value' must be int or float, got str*"])


def test_unknown_claim_id_fails_with_known_ids(project):
    write_tests(project, "def test_a(claim):\n    claim('nope', 1)\n")
    res = project.runpytest("suites")
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*no claim 'nope' (known: big, floor, hard, ordering, params)*"])


def test_unwritable_results_dir_is_a_usage_error(project, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    write_tests(project, "def test_a(claim):\n    claim('params', 760)\n")
    res = project.runpytest("suites", "--results-dir", str(blocker / "sub"))
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--results-dir: cannot write to*"])


def test_crash_keeps_recorded_results_and_report_is_partial(project):
    write_tests(project, '''
def test_first(claim):
    claim("params", 760)

def test_crashes(claim):
    claim("floor", 0.95)
    raise RuntimeError("boom")
''')
    res = project.runpytest("suites")
    res.assert_outcomes(passed=1, failed=1)
    assert {r["claim_id"] for r in rows(project)} == {"params", "floor"}
    md = (project.path / "reports/out/latest/report.md").read_text()
    assert "pytest exit status 1" in md and "| floor |" in md


def test_baseline_flags_regressions(project):
    write_tests(project, "def test_a(claim):\n    claim('floor', 0.99)\n")
    project.runpytest("suites").assert_outcomes(passed=1)
    (base,) = list((project.path / "reports/out/runs").iterdir())
    write_tests(project, "def test_a(claim):\n    claim('floor', 0.93)\n")
    res = project.runpytest("suites", "--baseline", base.name)
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*floor*reproduced  REGRESSION*"])
    assert "REGRESSION" in (project.path / "reports/out/latest/report.md").read_text()


def test_paper_markers_select_suites(project):
    write_tests(project, "def test_a(claim):\n    claim('params', 760)\n")
    res = project.runpytest("suites", "-m", "demo")
    res.assert_outcomes(passed=1)
    res = project.runpytest("suites", "-m", "not demo")
    res.assert_outcomes(deselected=1)


def test_xdist_workers_share_one_run_and_report(project, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))
    write_tests(project, '''
def test_a(claim):
    claim("params", 760)

def test_b(claim):
    claim("ordering", 0.1, than=0.2)
''')
    res = project.runpytest_subprocess("suites", "-n", "2", "-p", "xdist")
    res.assert_outcomes(passed=2)
    runs = list((project.path / "reports/out/runs").iterdir())
    assert len(runs) == 1 and {r["claim_id"] for r in rows(project)} == {"params", "ordering"}
    res.stdout.fnmatch_lines(["*reproduction summary*", "report: *report.md*"])


CONTROLLED = '''
[[claim]]
id = "learned_floor"
kind = "proxy"
tier = "smoke"
metric = "accuracy"
value = 0.6
direction = "higher"
source = "Table 1"
note = "floor from calibration.json"
controls = ["untrained", "prior"]
margin = 0.05

[[claim]]
id = "seedy"
kind = "relative"
tier = "smoke"
metric = "error"
direction = "lower"
source = "Table 4"
asserted = false
controls = ["untrained"]
'''


@pytest.fixture
def controlled(project):
    path = project.path / "suites" / "demo" / "claims.toml"
    path.write_text(path.read_text() + CONTROLLED)
    return project


def test_controls_are_required_measured_and_beaten(controlled):
    write_tests(controlled, '''
def test_beats(claim):
    claim("learned_floor", 0.9, controls={"untrained": 0.1, "prior": 0.5})

def test_prior_within_margin(claim):
    claim("learned_floor", 0.9, controls={"untrained": 0.1, "prior": 0.88})

def test_missing_control(claim):
    claim("learned_floor", 0.9, controls={"untrained": 0.1})

def test_undeclared_control(claim):
    claim("params", 760, controls={"chance": 1})
''')
    res = controlled.runpytest("suites")
    res.assert_outcomes(passed=1, failed=3)
    res.stdout.fnmatch_lines(["*claim 'learned_floor' not reproduced*prior 0.88 NOT BEATEN*"])
    assert "did not measure ['prior']" in res.stdout.str()
    assert "passed undeclared ['chance']" in res.stdout.str()
    row = [r for r in rows(controlled) if r["status"] == "reproduced"][0]
    assert row["controls"] == {"untrained": 0.1, "prior": 0.5} and row["learned"] is True
    csv = (controlled.path / "reports" / "out" / "latest" / "results.csv").read_text()
    assert '""prior"": 0.5' in csv and "best_control" in csv


def test_untrained_run_inverts_learned_verdicts_only(controlled):
    write_tests(controlled, '''
from reference_impls.common import untrained_mode

def test_learned_fails_untrained(claim):
    assert untrained_mode()
    claim("learned_floor", 0.1, controls={"untrained": 0.1, "prior": 0.5})   # an untrained model: fails

def test_fact_still_holds(claim):
    claim("params", 760)

def test_learned_still_passes(claim):
    claim("learned_floor", 0.9, controls={"untrained": 0.1, "prior": 0.5})   # a defect
''')
    res = controlled.runpytest("suites", "--untrained")
    res.assert_outcomes(passed=2, failed=1)
    res.stdout.fnmatch_lines(["*passes untrained (defect)*cannot tell a trained model from an untrained one*"])
    assert {r["run_mode"] for r in rows(controlled)} == {"untrained"}
    md = (controlled.path / "reports" / "out" / "latest-untrained" / "report.md").read_text()
    assert "## Negative control" in md and "**1** learned claims still pass" in md
    assert not (controlled.path / "reports" / "out" / "latest").exists()   # the trained run's report is untouched
    import os
    assert os.environ.get("REPRO_UNTRAINED") in (None, "", "0")   # the flag does not leak out of the run


def test_unasserted_claim_with_mixed_calibration_is_reported_as_mixed(controlled):
    record = {"paper": "demo", "claims": {"seedy": {"seeds": [0, 1, 2], "value": [0.2, 0.4, 0.25],
                                                    "than": [0.3, 0.3, 0.3], "controls": {"untrained": [0.9] * 3}}}}
    (controlled.path / "suites" / "demo" / "calibration.json").write_text(json.dumps(record))
    write_tests(controlled, '''
def test_seedy(claim):
    claim("seedy", 0.35, than=0.3, controls={"untrained": 0.9})
''')
    res = controlled.runpytest("suites")
    res.assert_outcomes(passed=1)
    (row,) = rows(controlled)
    assert row["status"] == "mixed" and "2/3 calibration seeds favour the paper" in row["note"]
    assert "seed 1: 0.4 vs 0.3" in row["note"]


def test_speed_fixture_writes_pytest_benchmark_json_under_xdist(project):
    write_tests(project, '''
import time

def test_fast(claim, speed):
    t = speed.compare({"slow": lambda: sum(range(20000)), "fast": lambda: sum(range(200))}, rounds=4, warmup=1)
    assert t["slow"].rounds == 4 and t.ratio("slow", "fast") > 1
    claim("params", 760, **t.extra())

def test_other(claim):
    claim("floor", 0.95)
''')
    res = project.runpytest("suites", "-n", "2", "-p", "xdist")
    res.assert_outcomes(passed=2)
    (bench,) = (project.path / "reports" / "out" / "runs").glob("*/benchmark.json")
    data = json.loads(bench.read_text())
    assert {b["fullname"].split("::")[-1] for b in data["benchmarks"]} == {"slow", "fast"}
    for b in data["benchmarks"]:
        assert b["stats"]["rounds"] == 4 and len(b["stats"]["data"]) == 4 and b["options"]["timer"] == "process_time"
        assert {"min", "median", "iqr", "ops"} <= set(b["stats"])
    assert "machine_info" in data and not list(bench.parent.glob("benchmark-*.json"))
    row = [r for r in rows(project) if r["claim_id"] == "params"][0]
    assert row["extra"]["rounds"] == 4 and row["extra"]["slow_median_s"] > 0
    # pytest-benchmark's own reader accepts the file
    from pytest_benchmark.storage.file import FileStorage
    from pytest_benchmark.logger import Logger
    store = FileStorage(str(bench.parent), default_machine_id=None, logger=Logger(level=0))
    assert len(list(store.load_benchmarks(str(bench)))) == 2


def test_run_records_each_suites_cost(project):
    write_tests(project, '''
import time, pytest

@pytest.fixture(scope="module")
def model():
    time.sleep(0.3)       # a "training" in a fixture counts toward the suite
    return 1

def test_params(claim, model):
    claim("params", 760)
''')
    res = project.runpytest("suites")
    res.assert_outcomes(passed=1)
    (run,) = (project.path / "reports" / "out" / "runs").iterdir()
    seconds = json.loads((run / "run.json").read_text())["suite_seconds"]
    assert set(seconds) == {"demo"} and 0.3 <= seconds["demo"] < 30
