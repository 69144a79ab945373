"""Caption metrics with the coco-caption protocol, in plain Python (no Java).

    refs = {img_id: ["a man riding a horse .", ...]}, hyps = {img_id: "a man on a horse"}
    scores = evaluate(refs, hyps)     # {"Bleu_1".."Bleu_4", "ROUGE_L", "CIDEr"} (+ "METEOR" with Java)

What coco-caption (tylin/coco-caption, pycocoevalcap 1.2) does, and what this file does the same way:
- tokenization: Stanford PTBTokenizer with -preserveLines -lowerCase, then the punctuation tokens
  in PUNCTUATIONS are dropped. `ptb_tokenize` is a Python re-implementation for the text captions
  contain (lower case, punctuation split off and removed, clitics 's n't 're ... split off);
  tests/test_captioning.py checks it against the Java tokenizer on all 6,000 coco-caption sentences.
- BLEU-1..4: corpus level; clipped n-gram counts summed over the corpus; brevity penalty from the
  reference length closest to each hypothesis (ties -> the shorter); the tiny/small epsilons of
  bleu_scorer.py so that zero-match orders give ~0, not an error.
- CIDEr-D: n = 1..4 tf-idf vectors, idf from the references of the evaluated set, clipped
  numerator min(hyp, ref) * ref, Gaussian length penalty sigma = 6 on the *bigram* counts (as in
  cider_scorer.py), averaged over n and references, x10.
- ROUGE-L: LCS-based F-measure with beta = 1.2, max precision and max recall over references.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from datasets import DataError

# (coco-caption lists "-LRB-" etc. in upper case, but -lowerCase has already made them "-lrb-", so
# brackets survive as "-lrb-" "-rrb-" "-lsb-" "-rsb-" "-lcb-" "-rcb-" tokens; we do the same)
PUNCTUATIONS = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                ".", "?", "!", ",", ":", "-", "--", "...", ";",
                '"'}   # PTB turns a double quote into `` or '' (both removed); we drop it directly
# Stanford's PTBLexer keeps the period of these abbreviations, even at the end of a sentence
ABBREVIATIONS = {"etc", "st", "rd", "dr", "mr", "mrs", "ms", "jr", "sr", "vs", "inc", "co", "corp", "ltd", "mt",
                 "ft", "ave", "blvd", "jan", "feb", "mar", "apr", "aug", "sep", "sept", "oct", "nov", "dec", "prof",
                 "gen", "gov", "sen", "rep", "sgt", "capt", "col", "lt", "bros", "messrs"}

# ----------------------------------------------------------------------------- tokenizer
_CLITICS = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")
_LEAD = "\"'`#$"
_TRAIL = "\"'`,;:!?.%$"
_SPLIT_INSIDE = re.compile(r"([\"()\[\]{};!?&+]|\.\.\.+|--+)")   # always their own tokens, even mid-word
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_COMMA = re.compile(r",(?!\d)|(?<!\d),")                        # 1,000 stays; "cat,dog" splits


def _split_word(w: str) -> list[str]:
    head, tail = [], []
    while w and w[0] in _LEAD:
        head.append(w[0])
        w = w[1:]
    while w and w[-1] in _TRAIL:
        # keep the period of an abbreviation like "u.s." or "st." only when letters and dots alternate
        if w[-1] == "." and (re.fullmatch(r"(?:[a-z]\.){2,}", w) or w[:-1] in ABBREVIATIONS
):
            break
        tail.append(w[-1])
        w = w[:-1]
    out = head
    if w:
        m = _CLITICS.match(w)
        if m and m.group(1) not in ("", "'"):
            out += [m.group(1), m.group(2)]
        else:
            out.append(w)
    return out + tail[::-1]


def ptb_tokenize(text: str) -> str:
    """coco-caption's tokenization: lower case, PTB tokens, punctuation tokens removed, space-joined."""
    s = text.replace("\n", " ").lower()
    s = _SPLIT_INSIDE.sub(r" \1 ", s)
    s = re.sub(r"(?<=\w)\.,", "\x00,", s)   # the lexer keeps a period followed by a comma: "bat.," -> "bat." ","
    s = _COMMA.sub(" , ", s)
    tokens = []
    for w in s.split():
        if w in _BRACKETS:
            tokens.append(_BRACKETS[w])
        else:
            tokens.extend(t.replace("\x00", ".") for t in _split_word(w))
    return " ".join(t for t in tokens if t not in PUNCTUATIONS)


def tokenize_all(captions: dict) -> dict:
    """{id: [str, ...]} -> {id: [tokenized str, ...]} (the shape PTBTokenizer.tokenize returns)."""
    return {k: [ptb_tokenize(c) for c in v] for k, v in captions.items()}


# ----------------------------------------------------------------------------- n-grams
def _ngrams(words: list[str], n: int = 4) -> dict:
    counts: dict = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def _check(refs: dict, hyps: dict):
    if set(refs) != set(hyps):
        raise ValueError(f"references and hypotheses cover different images "
                         f"({len(set(refs) - set(hyps))} without a hypothesis, {len(set(hyps) - set(refs))} without references)")
    for k, r in refs.items():
        if not r:
            raise ValueError(f"image {k}: no reference captions")


# ----------------------------------------------------------------------------- BLEU
def bleu(refs: dict, hyps: dict, n: int = 4) -> tuple[list[float], dict]:
    """Corpus BLEU-1..n on tokenized text; returns (scores, totals) with totals like coco-caption's
    verbose print: reflen, testlen, guess[k], correct[k]."""
    _check(refs, hyps)
    small, tiny = 1e-9, 1e-15
    guess, correct = [0] * n, [0] * n
    testlen = reflen = 0
    for k in refs:
        words = hyps[k].split()
        tl = len(words)
        maxcounts: dict = {}
        lens = []
        for r in refs[k]:
            rw = r.split()
            lens.append(len(rw))
            for g, c in _ngrams(rw, n).items():
                if c > maxcounts.get(g, 0):
                    maxcounts[g] = c
        testlen += tl
        reflen += min((abs(l - tl), l) for l in lens)[1]      # closest; ties -> shorter
        for j in range(n):
            guess[j] += max(0, tl - j)
        for g, c in _ngrams(words, n).items():
            correct[len(g) - 1] += min(maxcounts.get(g, 0), c)
    scores, b = [], 1.0
    for j in range(n):
        b *= float(correct[j] + tiny) / (guess[j] + small)
        scores.append(b ** (1.0 / (j + 1)))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores, {"reflen": reflen, "testlen": testlen, "guess": guess, "correct": correct}


# ----------------------------------------------------------------------------- CIDEr-D
def _ngrams_by_order(words: list[str], n: int = 4) -> list[dict]:
    out = [defaultdict(int) for _ in range(n)]
    for k in range(1, n + 1):
        d = out[k - 1]
        for i in range(len(words) - k + 1):
            d[tuple(words[i:i + k])] += 1
    return out


def cider_d(refs: dict, hyps: dict, n: int = 4, sigma: float = 6.0) -> tuple[float, list[float]]:
    """CIDEr-D as coco-caption computes it (its `Cider` class); returns (mean, per-image scores)."""
    _check(refs, hyps)
    keys = list(refs)
    crefs = [[_ngrams_by_order(r.split(), n) for r in refs[k]] for k in keys]
    ctest = [_ngrams_by_order(hyps[k].split(), n) for k in keys]
    df: dict = defaultdict(float)
    for rs in crefs:
        for g in {g for r in rs for order in r for g in order}:
            df[g] += 1
    log_n = math.log(float(len(crefs)))
    idf = {g: log_n - math.log(max(1.0, c)) for g, c in df.items()}   # an unseen n-gram: df 0 -> log_n

    def vec(orders):
        v = [{g: float(tf) * idf.get(g, log_n) for g, tf in d.items()} for d in orders]
        norm = [math.sqrt(sum(w * w for w in d.values())) for d in v]
        return v, norm, sum(orders[1].values()) if n > 1 else 0   # coco-caption's "length" counts bigrams

    scores = []
    for test, rs in zip(ctest, crefs):
        vh, nh, lh = vec(test)
        total = [0.0] * n
        for r in rs:
            vr, nr, lr = vec(r)
            pen = math.exp(-(float(lh - lr) ** 2) / (2 * sigma ** 2))
            for j in range(n):
                rj = vr[j]
                val = 0.0
                for g, w in vh[j].items():
                    wr = rj.get(g, 0.0)
                    if wr:
                        val += min(w, wr) * wr
                if nh[j] != 0 and nr[j] != 0:
                    val /= nh[j] * nr[j]
                total[j] += val * pen
        scores.append(sum(total) / n / len(rs) * 10.0)
    return sum(scores) / len(scores), scores


# ----------------------------------------------------------------------------- ROUGE-L
def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(refs: dict, hyps: dict, beta: float = 1.2) -> tuple[float, list[float]]:
    _check(refs, hyps)
    scores = []
    for k in refs:
        c = hyps[k].split(" ")     # coco-caption splits on single spaces: "" is one empty token
        prec, rec = [], []
        for r in refs[k]:
            rt = r.split(" ")
            l = _lcs(rt, c)
            prec.append(l / float(len(c)))
            rec.append(l / float(len(rt)))
        p, r = max(prec), max(rec)
        scores.append(((1 + beta ** 2) * p * r) / float(r + beta ** 2 * p) if p != 0 and r != 0 else 0.0)
    return sum(scores) / len(scores), scores


# ----------------------------------------------------------------------------- all together
def java_available() -> bool:
    return shutil.which("java") is not None


def evaluate(refs: dict, hyps: dict, *, tokenize: bool = True, meteor: bool = False) -> dict:
    """coco-caption's table. refs {id: [str]}, hyps {id: str}. METEOR only on request and with
    Java and pycocoevalcap installed (it runs the official jar)."""
    if tokenize:
        refs = tokenize_all(refs)
        hyps = {k: ptb_tokenize(v) for k, v in hyps.items()}
    b, totals = bleu(refs, hyps)
    out = {f"Bleu_{i + 1}": s for i, s in enumerate(b)}
    out["ROUGE_L"] = rouge_l(refs, hyps)[0]
    out["CIDEr"] = cider_d(refs, hyps)[0]
    if meteor:
        if not java_available():
            raise RuntimeError("METEOR needs Java (the official meteor-1.5.jar via pycocoevalcap); none on PATH")
        from pycocoevalcap.meteor.meteor import Meteor
        out["METEOR"] = Meteor().compute_score(refs, {k: [v] for k, v in hyps.items()})[0]
    out["_totals"] = totals
    return out


# ----------------------------------------------------------------------------- COCO-format files
def _read_json(path: Path):
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def load_coco_refs(path: str | Path) -> dict:
    """COCO captions annotations JSON -> {image_id: [caption, ...]}."""
    data = _read_json(path)
    if not isinstance(data, dict) or "annotations" not in data:
        raise DataError(f"{path}: not a COCO captions file (no 'annotations' list)")
    refs: dict = defaultdict(list)
    for i, a in enumerate(data["annotations"]):
        if not isinstance(a, dict) or "image_id" not in a or not isinstance(a.get("caption"), str):
            raise DataError(f"{path}: annotation #{i} lacks an image_id or a caption string")
        refs[a["image_id"]].append(a["caption"])
    for img in data.get("images", []):
        if img.get("id") not in refs:
            raise DataError(f"{path}: image {img.get('id')} has no caption annotations")
    return dict(refs)


def load_coco_results(path: str | Path, refs: dict) -> dict:
    """COCO results JSON [{"image_id", "caption"}] -> {image_id: caption}, checked against refs."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: a results file is a JSON list of {{'image_id', 'caption'}} objects")
    hyps = {}
    for i, r in enumerate(data):
        if not isinstance(r, dict) or "image_id" not in r or "caption" not in r:
            raise DataError(f"{path}: entry #{i} lacks image_id or caption")
        k, c = r["image_id"], r["caption"]
        if k not in refs:
            raise DataError(f"{path}: entry #{i} has image_id {k!r}, which is not in the annotations")
        if k in hyps:
            raise DataError(f"{path}: image_id {k!r} appears more than once (entry #{i}); one caption per image")
        if not isinstance(c, str) or not ptb_tokenize(c):
            raise DataError(f"{path}: entry #{i} (image_id {k!r}) has an empty caption")
        hyps[k] = c
    if not hyps:
        raise DataError(f"{path}: no results")
    return hyps


def score_files(results: str | Path, annotations: str | Path, meteor: bool = False) -> dict:
    """coco-caption's COCOEvalCap: only the images present in the results are evaluated."""
    refs = load_coco_refs(annotations)
    hyps = load_coco_results(results, refs)
    return evaluate({k: refs[k] for k in hyps}, hyps, meteor=meteor)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m metrics.captioning",
                                 description="Score a COCO-format caption results JSON (coco-caption protocol, no Java).")
    ap.add_argument("results"), ap.add_argument("annotations")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON")
    ap.add_argument("--meteor", action="store_true", help="also METEOR (needs Java and pycocoevalcap)")
    a = ap.parse_args(argv)
    try:
        s = score_files(a.results, a.annotations, meteor=a.meteor)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    totals = s.pop("_totals")
    if a.json:
        print(json.dumps({**s, **totals}, indent=1))
    else:
        print(f"{'metric':<8} score")
        for k, v in s.items():
            print(f"{k:<8} {v:.3f}")
        print(f"reflen {totals['reflen']}  testlen {totals['testlen']}  correct {totals['correct']}  guess {totals['guess']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
