"""The claims schema: what loads, what is rejected (with file, claim id and field), how claims judge values."""
import math

import pytest

from harness.claims import ClaimsError, load_all, load_claims

GOOD = '''
[paper]
id = "demo"
title = "Demo"

[[claim]]
id = "acc"
kind = "proxy"
tier = "smoke"
metric = "accuracy"
value = 0.8
tolerance = 0.05
direction = "higher"
source = "Table 1"
note = "floor from seeds 0,1,2: 0.91/0.93/0.92"

[[claim]]
id = "gap_beats_gmp"
kind = "relative"
tier = "smoke"
metric = "error"
direction = "lower"
source = "Table 2"
'''


def write(tmp_path, text):
    p = tmp_path / "claims.toml"
    p.write_text(text)
    return p


def test_loads_valid_file(tmp_path):
    pc = load_claims(write(tmp_path, GOOD))
    assert pc.paper == "demo" and len(pc) == 2
    assert pc["acc"].value == 0.8 and pc["acc"].tolerance == 0.05


@pytest.mark.parametrize("edit, expect", [
    (('kind = "proxy"', 'kind = "guess"'), "claim 'acc': field 'kind' is 'guess'"),
    (('tier = "smoke"\nmetric = "accuracy"', 'metric = "accuracy"'), "claim 'acc': missing required field 'tier'"),
    (('value = 0.8', 'value = "high"'), "claim 'acc': field 'value' must be int or float, got str"),
    (('value = 0.8\n', ''), "claim 'acc': field 'value' is required for kind 'proxy'"),
    (('tolerance = 0.05', 'tolerance = -1'), "claim 'acc': field 'tolerance' must be >= 0"),
    (('note = "floor from seeds 0,1,2: 0.91/0.93/0.92"', ''), "claim 'acc': field 'note' is required for proxy"),
    (('source = "Table 1"', 'source = "Table 1"\ncolour = "red"'), "claim 'acc': unknown field 'colour'"),
    (('id = "gap_beats_gmp"', 'id = "acc"'), "claim 'acc': duplicate claim id"),
    (('direction = "lower"', 'direction = "equal"'), "claim 'gap_beats_gmp': field 'direction' must be higher or lower"),
    (('[paper]\nid = "demo"', '[paper]\nname = "demo"'), "missing [paper] table"),
    (('kind = "proxy"\ntier = "smoke"', 'kind = "paper"\ntier = "smoke"'), "field 'tier' must be 'full' for paper claims"),
    (('value = 0.8', 'value = nan'), "claim 'acc': field 'value' must be a finite number, got nan"),
    (('tolerance = 0.05', 'tolerance = inf'), "claim 'acc': field 'tolerance' must be a finite number"),
    (('tolerance = 0.05', 'tolerance = 0.05\nmargin = -1'), "claim 'acc': field 'margin' must be >= 0"),
    (('tolerance = 0.05', 'tolerance = 0.05\ncontrols = "untrained"'), "claim 'acc': field 'controls' must be list"),
    (('tolerance = 0.05', 'tolerance = 0.05\ncontrols = ["a", "a"]'), "claim 'acc': field 'controls' must be a list of distinct"),
    (('tolerance = 0.05', 'tolerance = 0.05\ncontrols = [1]'), "claim 'acc': field 'controls' must be a list of distinct"),
    (('direction = "higher"', 'direction = "equal"\ncontrols = ["chance"]'), "claim 'acc': field 'controls' needs direction"),
    (('tolerance = 0.05', 'tolerance = 0.05\nlearned = "yes"'), "claim 'acc': field 'learned' must be bool"),
    (('title = "Demo"', 'title = "Demo"\nyear = 2016'), "unknown key(s) ['year'] in [paper]"),
    (('title = "Demo"', 'title = "Demo"\nsmoke_seconds = -3'), "[paper] smoke_seconds must be a number >= 0"),
])
def test_rejects_malformed_claims_naming_file_claim_and_field(tmp_path, edit, expect):
    p = write(tmp_path, GOOD.replace(*edit, 1))
    with pytest.raises(ClaimsError) as e:
        load_claims(p)
    assert str(p) in str(e.value) and expect in str(e.value)


def test_rejects_invalid_toml_with_the_file_name(tmp_path):
    p = write(tmp_path, GOOD + "\n[[claim]\n")
    with pytest.raises(ClaimsError, match="not valid TOML"):
        load_claims(p)


def test_unknown_claim_id_lists_known_ids(tmp_path):
    pc = load_claims(write(tmp_path, GOOD))
    with pytest.raises(ClaimsError, match=r"no claim 'nope' \(known: acc, gap_beats_gmp\)"):
        pc["nope"]


def test_check_directions_tolerance_and_relative(tmp_path):
    pc = load_claims(write(tmp_path, GOOD))
    acc, rel = pc["acc"], pc["gap_beats_gmp"]
    assert acc.check(0.76) == (True, 0.8)       # within tolerance below the floor
    assert acc.check(0.74)[0] is False
    assert acc.check(math.nan)[0] is False       # NaN never passes
    assert rel.check(0.30, than=0.35) == (True, 0.35)
    assert rel.check(0.35, than=0.35)[0] is False  # a tie does not reproduce "lower"
    with pytest.raises(ClaimsError, match="relative"):
        rel.check(0.3)
    with pytest.raises(ClaimsError, match="takes no than"):
        acc.check(0.9, than=0.1)


def test_every_suite_claims_file_is_valid():
    from pathlib import Path
    papers = load_all(Path(__file__).parents[1] / "suites")
    assert "architectures" in papers
    for pc in papers.values():
        assert pc.path.parent.name == pc.paper, f"{pc.path}: [paper] id must equal the folder name"


def test_claim_array_of_non_tables_is_rejected(tmp_path):
    with pytest.raises(ClaimsError, match="claim #1 is a int, expected a table"):
        load_claims(write(tmp_path, 'claim = [1, 2]\n[paper]\nid = "demo"\n'))


def test_controls_must_all_be_beaten_by_the_margin(tmp_path):
    text = GOOD.replace('tolerance = 0.05', 'tolerance = 0.05\ncontrols = ["untrained", "prior"]\nmargin = 0.1')
    c = load_claims(write(tmp_path, text))["acc"]
    assert c.controls == ("untrained", "prior") and c.margin == 0.1 and c.is_learned
    assert c.controls_not_beaten(0.9, {"untrained": 0.1, "prior": 0.75}) == []
    assert c.controls_not_beaten(0.9, {"untrained": 0.1, "prior": 0.85}) == ["prior"]     # within the margin
    assert c.controls_not_beaten(float("nan"), {"untrained": 0.1, "prior": 0.0}) == ["untrained", "prior"]
    low = load_claims(write(tmp_path, GOOD))["gap_beats_gmp"]
    assert low.beats(0.2, 0.3, 0.0) and not low.beats(0.3, 0.3, 0.0)    # lower is better; ties lose


def test_learned_defaults_by_kind(tmp_path):
    pc = load_claims(write(tmp_path, GOOD + '''
[[claim]]
id = "params"
kind = "exact"
tier = "smoke"
metric = "parameters"
value = 1
direction = "equal"
source = "notes"

[[claim]]
id = "sanity"
kind = "relative"
tier = "smoke"
metric = "loglik"
direction = "higher"
source = "decoder"
learned = false
'''))
    assert pc["acc"].is_learned and pc["gap_beats_gmp"].is_learned
    assert not pc["params"].is_learned and not pc["sanity"].is_learned
