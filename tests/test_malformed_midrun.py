"""Nothing lost: a malformed input found in the middle of a run fails the test that read it (it is
not skipped like missing data), and every result recorded before and after it, and the report,
stay intact. Exercised through pytester on a throw-away project, as in tests/test_plugin.py."""
import json

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
id = "after"
kind = "exact"
tier = "smoke"
metric = "count"
value = 3
direction = "equal"
source = "notes"
'''

TESTS = '''
import pytest
from pathlib import Path

from datasets import DataError
from datasets.voc_detection import parse_voc_xml

BAD = Path(__file__).with_name("broken.xml")


def test_before(claim):
    claim("params", 760)


def test_reads_malformed(claim):
    claim("floor", 0.95)                          # measured before the bad file turns up
    parse_voc_xml(BAD)                            # <ymax>nan</ymax>: DataError naming the file


@pytest.fixture(scope="module")
def bad_data():
    return parse_voc_xml(BAD)


def test_fixture_reads_malformed(claim, bad_data):
    claim("after", 0)                             # never reached: the fixture fails first


def test_after(claim):
    claim("after", 3)
'''

BROKEN_XML = ("<annotation><size><width>100</width><height>100</height></size><object><name>dog</name>"
              "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>nan</ymax></bndbox></object></annotation>\n")


@pytest.fixture
def project(pytester, monkeypatch):
    for var in ("REPRO_DATA_ROOT", "REPRO_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]')
    suite = pytester.path / "suites" / "demo"
    suite.mkdir(parents=True)
    (suite / "claims.toml").write_text(CLAIMS)
    (suite / "broken.xml").write_text(BROKEN_XML)
    (suite / "test_demo.py").write_text(TESTS)
    return pytester


def rows(project):
    out = []
    for p in (project.path / "reports" / "out" / "runs").glob("*/results-*.jsonl"):
        out += [json.loads(line) for line in p.read_text().splitlines()]
    return out


def test_malformed_input_mid_run_fails_its_test_and_keeps_everything_else(project):
    res = project.runpytest("suites")
    # the two readers of the bad file fail (an error, not a skip); the others pass
    res.assert_outcomes(passed=2, failed=1, errors=1)
    bad = project.path / "suites" / "demo" / "broken.xml"
    res.stdout.fnmatch_lines([f"*DataError: {bad}: <ymax>: not a finite number*"])
    assert "skipped" not in res.stdout.str().split("short test summary")[-1]

    by_claim = {}
    for r in rows(project):
        by_claim.setdefault(r["claim_id"], []).append(r)
    # recorded before the failure (including the claim measured inside the failing test), and after it
    assert [r["status"] for r in by_claim["params"]] == ["reproduced"]
    assert [r["value"] for r in by_claim["floor"]] == [0.95]
    assert [(r["value"], r["status"]) for r in by_claim["after"]] == [(3, "reproduced")]
    assert len(rows(project)) == 3

    latest = project.path / "reports" / "out" / "latest"
    for name in ("report.md", "report.html", "results.csv"):
        assert (latest / name).exists(), name
    md = (latest / "report.md").read_text()
    assert "pytest exit status 1" in md
    for cid in ("params", "floor", "after"):
        assert f"| {cid} |" in md, cid
    csv = (latest / "results.csv").read_text()
    assert "params" in csv and "floor" in csv and "after" in csv
