"""Calibration records and the one rule that derives floors and margins from them
(harness/calibration.py), then that rule applied to every suite of the project."""
import json
from pathlib import Path

import pytest

from harness.calibrate import parse_seeds
from harness.calibration import (CalibrationError, ClaimCalibration, load_calibration, needs_calibration,
                                 record_from_rows, rule_problems)
from harness.claims import Claim, load_all

ROOT = Path(__file__).resolve().parent.parent


def proxy(value=0.6, **kw):
    return Claim(paper="demo", id="floor", kind="proxy", tier="smoke", metric="acc", direction="higher",
                 source="t", value=value, controls=("untrained", "prior"), **kw)


def relative(tolerance=0.0, **kw):
    return Claim(paper="demo", id="order", kind="relative", tier="smoke", metric="err", direction="lower",
                 source="t", tolerance=tolerance, controls=("untrained",), **kw)


CAL = ClaimCalibration("floor", [0, 1, 2], [0.80, 0.78, 0.82], None,
                       {"untrained": [0.10, 0.12, 0.11], "prior": [0.40, 0.42, 0.41]})


def test_proxy_floor_must_sit_inside_the_control_gap():
    # worst method 0.78, best control 0.42: gap 0.36, a quarter is 0.09 -> floor in [0.51, 0.69]
    assert rule_problems(proxy(0.60), CAL) == []
    assert "not inside the control gap" in rule_problems(proxy(0.45), CAL)[0]     # too close to the prior
    assert "not inside the control gap" in rule_problems(proxy(0.75), CAL)[0]     # too close to the method
    beaten = ClaimCalibration("floor", [0, 1, 2], [0.80, 0.40, 0.82], None, CAL.controls)
    assert any("a control (0.42) reaches the worst calibrated value (0.4)" in p
               for p in rule_problems(proxy(0.3), beaten))


def test_asserted_claims_need_controls_a_record_and_three_seeds():
    bare = Claim(paper="demo", id="floor", kind="proxy", tier="smoke", metric="acc", direction="higher",
                 source="t", value=0.6)
    assert any("declares no controls" in p for p in rule_problems(bare, CAL))
    assert any("no calibration record" in p for p in rule_problems(proxy(), None))
    two = ClaimCalibration("floor", [0, 1], CAL.value[:2], None, {k: v[:2] for k, v in CAL.controls.items()})
    assert any("at least 3 are needed" in p for p in rule_problems(proxy(), two))
    assert any("lacks control(s) ['prior']" in p for p in
               rule_problems(proxy(), ClaimCalibration("floor", [0, 1, 2], CAL.value, None,
                                                       {"untrained": CAL.controls["untrained"]})))


def test_relative_margin_follows_the_seed_spread():
    cal = ClaimCalibration("order", [0, 1, 2], [0.20, 0.22, 0.18], [0.30, 0.31, 0.29],
                           {"untrained": [0.9, 0.9, 0.9]})
    # advantages (lower is better) 0.10, 0.09, 0.11: min/2 = 0.045, mean - sd = 0.09
    assert rule_problems(relative(0.04), cal) == []
    assert "exceeds what the seed spread allows" in rule_problems(relative(0.05), cal)[0]
    noisy = ClaimCalibration("order", [0, 1, 2], [0.29, 0.10, 0.29], [0.30, 0.30, 0.30], cal.controls)
    assert "exceeds what the seed spread allows" in rule_problems(relative(0.0), noisy)[0]   # mean - sd < 0


def test_status_must_match_the_calibration():
    mixed = ClaimCalibration("order", [0, 1, 2], [0.2, 0.4, 0.2], [0.3, 0.3, 0.3], {"untrained": [0.9] * 3})
    assert "calibration seeds fail" in rule_problems(relative(), mixed)[0]
    assert rule_problems(relative(asserted=False), mixed) == []
    assert "mixed findings take asserted = false" in rule_problems(relative(known_failure="x"), mixed)[0]
    never = ClaimCalibration("order", [0, 1, 2], [0.4, 0.4, 0.4], [0.3, 0.3, 0.3], {"untrained": [0.9] * 3})
    assert rule_problems(relative(known_failure="x"), never) == []
    assert "not mixed" in rule_problems(relative(asserted=False), never)[0]
    # beating the comparison arm is not enough: the untrained control must lose too
    control_wins = ClaimCalibration("order", [0, 1, 2], [0.2] * 3, [0.3] * 3, {"untrained": [0.1] * 3})
    assert "calibration seeds fail" in rule_problems(relative(), control_wins)[0]


def test_record_from_rows_and_load_round_trip(tmp_path):
    rows = [{"paper": "demo", "tier": "smoke", "claim_id": "order", "seed": s, "value": v, "than": 0.3,
             "controls": {"untrained": 0.9}} for s, v in [(1, 0.2), (0, 0.25), (2, 0.21)]]
    rows.append({"paper": "other", "tier": "smoke", "claim_id": "x", "seed": 0, "value": 1})
    rec = record_from_rows("demo", rows, {"date": "d"})
    assert rec["claims"]["order"]["seeds"] == [0, 1, 2] and rec["claims"]["order"]["value"] == [0.25, 0.2, 0.21]
    (tmp_path / "calibration.json").write_text(json.dumps(rec))
    cal = load_calibration(tmp_path)["order"]
    assert cal.than == [0.3] * 3 and cal.controls == {"untrained": [0.9] * 3}


@pytest.mark.parametrize("bad, expect", [
    ("{", "malformed calibration record"),
    ('{"claims": {"a": {"seeds": [0, 1], "value": [1]}}}', "one entry per seed"),
    ('{"claims": {"a": {"seeds": [0, 7], "value": [1, 2]}}}', "seed 7 is held out"),
    ('{"claims": {"a": {"seeds": [0], "value": ["x"]}}}', "malformed calibration record"),
    ('{"claims": []}', "malformed calibration record"),
])
def test_malformed_record_names_the_file(tmp_path, bad, expect):
    (tmp_path / "calibration.json").write_text(bad)
    with pytest.raises(CalibrationError, match=expect) as e:
        load_calibration(tmp_path)
    assert "calibration.json" in str(e.value)


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("3,1,1") == [1, 3] and parse_seeds("0-1,5") == [0, 1, 5]


# ----------------------------------------------------------------------------- every suite of the project
SUITES = {paper: pc for paper, pc in load_all(ROOT / "suites").items()}


@pytest.mark.parametrize("paper", sorted(SUITES))
def test_every_learned_smoke_claim_agrees_with_its_calibration(paper):
    """Asserted learned smoke claims name controls, have a calibration record over >= 3 seeds
    (never seed 7), and their floors and margins follow the rule; mixed and known-failure
    statuses agree with the record."""
    cal = load_calibration(ROOT / "suites" / paper)
    problems = [p for c in SUITES[paper] for p in rule_problems(c, cal.get(c.id))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("paper", sorted(SUITES))
def test_every_calibrated_claim_still_exists(paper):
    cal = load_calibration(ROOT / "suites" / paper)
    stale = sorted(set(cal) - {c.id for c in SUITES[paper] if needs_calibration(c) or c.id in cal})
    assert not stale, f"calibration.json of {paper} holds claims claims.toml no longer has: {stale}"


def test_keep_dir_resumes_only_finished_runs_of_the_paper(tmp_path):
    import json

    from harness.calibrate import finished_seeds

    def run(name, **meta):
        d = tmp_path / name
        d.mkdir()
        if meta:
            (d / "run.json").write_text(json.dumps(meta))
        return d

    run("20261126-000001-a", seed=0, papers=["cam"], exitstatus=0)
    latest = run("20261126-000002-b", seed=0, papers=["cam"], exitstatus=1)   # claims failing is data
    run("20261126-000003-c", seed=1, papers=["cam"], exitstatus=2)            # crashed: run it again
    run("20261126-000004-d")                                                  # killed: no run.json
    run("20261126-000005-e", seed=2, papers=["deeplab"], exitstatus=0)        # another paper's
    (tmp_path / "20261126-000006-f").mkdir()
    (tmp_path / "20261126-000006-f" / "run.json").write_text("{truncated")
    assert finished_seeds(tmp_path, "cam") == {0: latest}
