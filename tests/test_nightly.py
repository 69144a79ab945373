"""The history store and `./repro nightly`: two identical nights report nothing; a planted change
(a model trained less, a metric off by one point, a 2x slower kernel) is flagged the next night."""
import json
import os
import shutil

import pytest

from harness.history import History, device_class
from harness.nightly import band, compare
from harness.nightly import main as nightly

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
id = "acc"
kind = "proxy"
tier = "smoke"
metric = "accuracy"
value = 0.8
direction = "higher"
source = "Table 1"
note = "floor from calibration.json"
controls = ["chance"]

[[claim]]
id = "ms_per_image"
kind = "speed"
tier = "smoke"
metric = "latency"
value = 1000
direction = "lower"
source = "Table 2"
'''

TESTS = '''
import os

def test_demo(claim):
    claim("acc", float(os.environ.get("DEMO_ACC", "0.95")), controls={"chance": 0.1})   # epochs -> accuracy
    claim("params", float(os.environ.get("DEMO_PARAMS", "760")))                      # a metric's value
    claim("ms_per_image", float(os.environ.get("DEMO_MS", "100")))                    # a kernel's time
'''


ENV = ("REPRO_DATA_ROOT", "REPRO_CACHE_DIR", "REPRO_HISTORY", "REPRO_BENCH", "DEMO_ACC", "DEMO_PARAMS", "DEMO_MS")


def night(project, **env):
    saved = {k: os.environ.pop(k, None) for k in ENV}
    os.environ.update(env)
    try:
        import contextlib
        import io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = nightly(["--root", str(project), "--workers", "0", "--nights", "5", "-q"])
    finally:
        for k in ENV:
            os.environ.pop(k, None)
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    runs = sorted((project / "reports" / "out" / "runs").glob("*/nightly.json"), key=lambda p: p.stat().st_mtime)
    return rc, buf.getvalue(), json.loads(runs[-1].read_text())


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory):
    """A demo project after two identical nights (shared by the planted-change tests)."""
    root = tmp_path_factory.mktemp("nightly") / "project"
    (root / "suites" / "demo").mkdir(parents=True)
    (root / "suites" / "demo" / "claims.toml").write_text(CLAIMS)
    (root / "suites" / "demo" / "test_demo.py").write_text(TESTS)
    (root / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    first, second = night(root), night(root)
    return root, first, second


@pytest.fixture
def project(two_nights, tmp_path):
    dst = tmp_path / "project"
    shutil.copytree(two_nights[0], dst)
    return dst


def test_two_identical_nights_report_no_regression(two_nights):
    _, (rc1, _, first), (rc2, _, second) = two_nights
    assert rc1 == 0 and {c["verdict"] for c in first["claims"]} == {"new"}
    assert rc2 == 0 and second["regressions"] == 0 and {c["verdict"] for c in second["claims"]} == {"ok"}


@pytest.mark.parametrize("planted, claim_id", [({"DEMO_ACC": "0.91"}, "acc"),          # trained one epoch less
                                               ({"DEMO_PARAMS": "761"}, "params"),     # a metric off by one
                                               ({"DEMO_MS": "200"}, "ms_per_image")])  # a 2x slower kernel
def test_a_planted_change_is_flagged_the_next_night(project, planted, claim_id):
    rc, out, third = night(project, **planted)
    assert rc == 1 and third["regressions"] == 1
    (flag,) = [c for c in third["claims"] if c["verdict"] == "regression"]
    assert flag["claim_id"] == claim_id and flag["previous"] == [flag["previous"][0]] * 2
    assert f"REGRESSION   demo/{claim_id}" in out and "outside the band" in flag["why"]
    report = (project / "reports" / "out" / "latest" / "report.md").read_text()
    assert "## Regressions" in report and f"| regression | demo | {claim_id} |" in report
    assert "trend_demo.png" in report and (project / "reports" / "out" / "latest" / "trend_demo.png").exists()
    html = (project / "reports" / "out" / "latest" / "report.html").read_text()
    assert "data:image/png;base64," in html and "<img src='" not in html   # one self-contained file
    assert html.index("Findings") < html.index("Regressions") < html.index("All claims")
    # the history holds every night
    runs, rows = History(project / "reports" / "out" / "history.sqlite").count()
    assert (runs, rows) == (3, 9)


def test_improvement_is_flagged_but_does_not_fail(project):
    rc, out, res = night(project, DEMO_ACC="0.99")
    assert rc == 0 and res["improvements"] == 1 and "IMPROVEMENT  demo/acc" in out


def test_band_uses_calibration_spread_and_speed_noise():
    lo, hi, w = band("proxy", [0.9, 0.92], [0.88, 0.9, 0.92])
    assert w == pytest.approx(0.02) and (lo, hi) == pytest.approx((0.88, 0.94))
    lo, hi, w = band("speed", [100.0, 104.0], None)
    assert w == pytest.approx(10.2) and hi == pytest.approx(114.2)


def test_status_worse_and_missing_claims_are_regressions():
    prev = {("p", "a"): [{"run_id": "r1", "value": 1.0, "status": "reproduced", "kind": "proxy", "direction": "higher",
                          "target": 0.5}],
            ("p", "b"): [{"run_id": "r1", "value": 1.0, "status": "reproduced", "kind": "exact", "direction": "equal",
                          "target": 1.0}], "_runs": ["r1"]}
    rows = [{"paper": "p", "claim_id": "a", "value": 1.0, "status": "not reproduced", "kind": "proxy",
             "direction": "higher", "target": 0.5}]
    got = {c["claim_id"]: c for c in compare(rows, prev, {})}
    assert got["a"]["verdict"] == "regression" and "reproduced -> not reproduced" in got["a"]["why"]
    assert got["b"]["verdict"] == "regression" and "missing tonight" in got["b"]["why"]


def test_history_import_and_device_classes(tmp_path):
    h = History(tmp_path / "h.sqlite")
    rows = [{"run_id": "r1", "paper": "p", "claim_id": "a", "value": 1.0, "status": "reproduced",
             "environment": {"cpu": "x86_64", "cpu_count": 2, "torch_threads": 1}}]
    assert h.append_run({"run_id": "r1", "tier": "smoke", "device": "cpu", "seed": 0, "started": "t"}, rows) == 1
    assert h.append_run({"run_id": "r1"}, rows) == 0          # a run is written once
    assert device_class("cpu", rows[0]["environment"]) == "cpu:x86_64:2cores:1threads"
    assert device_class("cuda", {"gpu": "NVIDIA H100"}) == "cuda:NVIDIA H100"
    assert History(f"sqlite:///{tmp_path / 'h.sqlite'}").count() == (1, 1)   # any SQLAlchemy URL
