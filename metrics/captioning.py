"""Caption metrics with the coco-caption protocol, in plain Python (no Java).

    refs = {img_id: ["a man riding a horse .", ...]}, hyps = {img_id: "a man on a horse"}
    scores = evaluate(refs, hyps)     # {"Bleu_1".."Bleu_4", "ROUGE_L", "CIDEr"} (+ "METEOR" with Java)

What coco-caption (tylin/coco-caption, pycocoevalcap 1.2) does, and what this file does the same way:
- tokenization: Stanford PTBTokenizer 3.4.1 with -preserveLines -lowerCase on all captions of a call as
  one stream, then the punctuation tokens in PUNCTUATIONS dropped. metrics/ptb_tokenizer.py re-implements
  that lexer in Python (same tokens as the jar; tests/test_ptb_tokenizer.py checks it against the jar on
  the coco-caption sentences and on a seeded adversarial generator, tests/caption_adversarial.py).
- BLEU-1..4 (bleu_scorer.py): corpus level; clipped n-gram counts summed over the corpus; brevity
  penalty from the reference length closest to each hypothesis (ties -> the shorter: bleu.py's
  option='closest'); the tiny/small epsilons so that zero-match orders give ~0, not an error.
- CIDEr-D (cider_scorer.py, pycocoevalcap's `Cider`): n = 1..4 tf-idf vectors, idf from the references
  of the evaluated set, clipped numerator min(hyp, ref) * ref, Gaussian length penalty sigma = 6 on the
  *bigram* counts, averaged over n and references, x10.
- ROUGE-L (rouge.py): LCS-based F-measure with beta = 1.2, max precision and max recall over references.
BLEU, ROUGE-L and CIDEr-D are bit-identical to pycocoevalcap 1.2 (same float operations in the same
order; n-gram counting vectorized with integer n-gram ids and numpy, LCS bit-parallel).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from datasets import DataError
from metrics import ptb_tokenizer as _ptb

PUNCTUATIONS = _ptb.PUNCTUATIONS     # the tokens coco-caption removes after PTB tokenization


# ----------------------------------------------------------------------------- tokenizer
def ptb_tokenize(text: str) -> str:
    """coco-caption's tokenization of one caption: Stanford PTBTokenizer 3.4.1 (-preserveLines -lowerCase)
    re-implemented without Java (metrics/ptb_tokenizer.py), then coco-caption's punctuation tokens
    removed; tokens joined by single spaces."""
    return _ptb.ptb_tokenize(text)


def tokenize_all(captions: dict) -> dict:
    """{id: [str, ...]} -> {id: [tokenized str, ...]}, exactly what pycocoevalcap's PTBTokenizer.tokenize
    returns: all captions go through the tokenizer as one stream, in dict order (as its single JVM call)."""
    flat = [c for v in captions.values() for c in v]
    toks = iter(_ptb.tokenize_lines(flat))
    return {k: [next(toks) for _ in v] for k, v in captions.items()}


def _tokenize_hyps(hyps: dict) -> dict:
    """{id: str} -> {id: tokenized str}: one stream in dict order (COCOEvalCap's call on the results)."""
    return dict(zip(hyps, _ptb.tokenize_lines(list(hyps.values()))))


def _check(refs: dict, hyps: dict):
    if set(refs) != set(hyps):
        raise ValueError(f"references and hypotheses cover different images "
                         f"({len(set(refs) - set(hyps))} without a hypothesis, {len(set(hyps) - set(refs))} without references)")
    for k, r in refs.items():
        if not r:
            raise ValueError(f"image {k}: no reference captions")


# ----------------------------------------------------------------------------- n-grams as integers
def _dense_ids(code: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of distinct values, each value's rank among them), as np.unique(return_inverse=True)."""
    o = np.argsort(code)
    cs = code[o]
    new = np.ones(len(cs), dtype=bool)
    new[1:] = cs[1:] != cs[:-1]
    dense = np.empty(len(cs), dtype=np.int64)
    dense[o] = np.cumsum(new) - 1
    return int(new.sum()), dense


class _Corpus:
    """The 1..n-grams of every sentence (hypotheses first, then references), as integer ids.

    Each sentence's distinct n-grams are kept in the order coco-caption's `precook` first meets them
    (order 1 first, then by position), so that sums over them can be taken in the same order as the
    reference scorers (bit-identical floating point). Words are `str.split()` tokens, as in
    bleu_scorer.py / cider_scorer.py. The reference side is also kept sorted by (image, n-gram)."""

    def __init__(self, refs: dict, hyps: dict, n: int):
        keys = list(refs)
        self.n = n
        sents = [hyps[k] for k in keys] + [r for k in keys for r in refs[k]]
        self.n_img = n_img = len(keys)
        self.n_refs = np.array([len(refs[k]) for k in keys], dtype=np.int64)
        self.ref_img = np.repeat(np.arange(n_img), self.n_refs)      # reference sentence -> image
        words = [s.split() for s in sents]
        lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.lens = lens
        flat_w = itertools.chain.from_iterable(words)
        n_words = int(lens.sum())
        # a word's id: the position of its first occurrence (unique per word, < n_words; one C-level pass)
        vocab: dict = {}
        flat = np.fromiter(map(vocab.setdefault, flat_w, itertools.count()), dtype=np.int64, count=n_words)
        n_sent = len(sents)
        sent_of = np.repeat(np.arange(n_sent), lens)
        starts = np.cumsum(lens) - lens
        pos = np.arange(len(flat)) - starts[sent_of]
        left = lens[sent_of] - pos                             # words from here to the end of the sentence
        # entries in precook's order (sentence, order, position), placed by arithmetic instead of sorting
        per_order = np.maximum(lens[None, :] - np.arange(n)[:, None], 0)          # [k-1, sentence]
        ent_count = per_order.sum(axis=0)
        ent_start = np.cumsum(ent_count) - ent_count
        before = np.cumsum(per_order, axis=0) - per_order
        total = int(ent_count.sum())
        gram = np.empty(total, dtype=np.int64)
        order = np.empty(total, dtype=np.int64)
        sent = np.empty(total, dtype=np.int64)
        V = max(n_words, 1)
        prev = flat
        offset = 0
        for k in range(1, n + 1):                              # k-gram id from the (k-1)-gram id and the last word
            idx = np.nonzero(left >= k)[0]
            if k == 1:                                         # word ids as they are
                n_uniq, dense = V, flat
            else:
                n_uniq, dense = _dense_ids(prev[idx] * V + flat[idx + k - 1])
            s_k = sent_of[idx]
            dest = ent_start[s_k] + before[k - 1, s_k] + pos[idx]
            gram[dest] = dense + offset
            order[dest] = k - 1
            sent[dest] = s_k
            prev = np.full(len(flat), -1, dtype=np.int64)
            prev[idx] = dense
            offset += n_uniq
        self.n_grams = G = max(offset, 1)
        # one stable sort by (image, side, n-gram): equal n-grams of a sentence are then adjacent (the sort is
        # stable and entries are in sentence order), which gives the counts, and the references' entries come
        # out grouped by (image, n-gram) for the matching below
        img_of_sent = np.concatenate([np.arange(n_img), self.ref_img])
        img = img_of_sent[sent]
        side = (sent < n_img).astype(np.int64)                  # 1: hypothesis, 0: reference
        key = (img * 2 + side) * G + gram
        o = np.argsort(key, kind="stable")
        ks, ss = key[o], sent[o]
        new = np.ones(len(ks), dtype=bool)
        new[1:] = (ks[1:] != ks[:-1]) | (ss[1:] != ss[:-1])
        starts_ = np.nonzero(new)[0]
        counts = np.diff(np.append(starts_, len(ks)))
        firsts = o[starts_]
        tf = np.zeros(total, dtype=np.int64)
        tf[firsts] = counts
        keep = np.zeros(total, dtype=bool)
        keep[firsts] = True
        # entries: each sentence's distinct n-grams with counts, in first-occurrence order
        where = np.cumsum(keep) - 1                              # entry index of each kept position
        self.sent, self.gram, self.order, self.tf = sent[keep], gram[keep], order[keep], tf[keep]
        self.img = img[keep]
        self.is_hyp = self.sent < n_img
        # reference entries sorted by (image, n-gram), from the same sort
        sorted_first = firsts[side[firsts] == 0]
        self.r_idx = where[sorted_first]
        self.r_key = self.img[self.r_idx] * G + self.gram[self.r_idx]
        self.h_idx = np.nonzero(self.is_hyp)[0]
        h_key = self.img[self.h_idx] * G + self.gram[self.h_idx]
        grp = np.ones(len(self.r_key), dtype=bool)
        grp[1:] = self.r_key[1:] != self.r_key[:-1]
        self.r_grp_start = np.nonzero(grp)[0]                    # one group per (image, n-gram)
        # each hypothesis entry's group of reference entries [h_lo, h_hi) (empty when no reference has it)
        lo = np.searchsorted(self.r_key, h_key, side="left")
        if len(self.r_key):
            at = np.minimum(lo, len(self.r_key) - 1)
            found = self.r_key[at] == h_key
            grp_end = np.append(self.r_grp_start[1:], len(self.r_key))[np.cumsum(grp)[at] - 1]
            self.h_hi = np.where(found, grp_end, lo)
        else:
            self.h_hi = lo
        self.h_lo = lo


# ----------------------------------------------------------------------------- BLEU
def _bleu_totals(c: _Corpus):
    n = c.n
    # max count of each n-gram over the references of an image; clip the hypothesis counts with it
    if len(c.r_key):
        maxcount = np.maximum.reduceat(c.tf[c.r_idx], c.r_grp_start)
        grp_of = np.cumsum(np.r_[False, c.r_key[1:] != c.r_key[:-1]])     # group index of each sorted ref entry
        found = c.h_hi > c.h_lo
        mc = np.where(found, maxcount[grp_of[np.minimum(c.h_lo, len(grp_of) - 1)]], 0)
        clipped = np.minimum(c.tf[c.h_idx], mc)
    else:
        clipped = np.zeros(len(c.h_idx), dtype=np.int64)
    correct = np.bincount(c.order[c.h_idx], weights=clipped, minlength=n)
    correct = [int(x) for x in correct[:n]]
    tl = c.lens[:c.n_img]
    guess = [int(np.maximum(0, tl - j).sum()) for j in range(n)]
    testlen = int(tl.sum())
    # "closest" (bleu.py passes option='closest'): the reference length nearest the hypothesis', ties -> shorter
    rl = c.lens[c.n_img:]
    dist = np.abs(rl - tl[c.ref_img])
    o = np.lexsort((rl, dist, c.ref_img))
    firsts = o[np.r_[True, c.ref_img[o][1:] != c.ref_img[o][:-1]]]
    reflen = int(rl[firsts].sum())
    return testlen, reflen, guess, correct


def _bleu_scores(testlen, reflen, guess, correct, n):
    small, tiny = 1e-9, 1e-15
    scores, b = [], 1.0
    for j in range(n):
        b *= float(correct[j] + tiny) / (guess[j] + small)
        scores.append(b ** (1.0 / (j + 1)))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def bleu(refs: dict, hyps: dict, n: int = 4) -> tuple[list[float], dict]:
    """Corpus BLEU-1..n on tokenized text, as coco-caption's Bleu (bleu_scorer.py): clipped n-gram counts
    summed over the corpus, brevity penalty from the reference length closest to each hypothesis (ties ->
    the shorter), the tiny/small epsilons
    so that zero-match orders give ~0. Bit-identical to pycocoevalcap 1.2. Returns (scores, totals) with
    totals like coco-caption's verbose print: reflen, testlen, guess[k], correct[k]."""
    _check(refs, hyps)
    return _bleu(_Corpus(refs, hyps, n), n)


def _bleu(c: _Corpus, n: int):
    testlen, reflen, guess, correct = _bleu_totals(c)
    return (_bleu_scores(testlen, reflen, guess, correct, n),
            {"reflen": reflen, "testlen": testlen, "guess": guess, "correct": correct})


# ----------------------------------------------------------------------------- CIDEr-D
def cider_d(refs: dict, hyps: dict, n: int = 4, sigma: float = 6.0) -> tuple[float, list[float]]:
    """CIDEr-D as coco-caption computes it (pycocoevalcap 1.2's `Cider`, cider_scorer.py), bit-identical:
    n = 1..4 tf-idf vectors, idf = log(#images) - log(max(1, df)) with df counted over the references of
    the evaluated images, clipped numerator min(hyp, ref) * ref, cosine per order, Gaussian length penalty
    sigma = 6 on the *bigram* counts, mean over orders, mean over references, x10. Returns (mean, per-image)."""
    _check(refs, hyps)
    return _cider(_Corpus(refs, hyps, n), n, sigma)


def _cider(c: _Corpus, n: int, sigma: float):
    G = c.n_grams
    n_img, n_sent = c.n_img, len(c.lens)
    # document frequency: the images whose references contain the n-gram (one (image, n-gram) group each)
    df = np.bincount(c.gram[c.r_idx[c.r_grp_start]], minlength=G)
    ref_len = np.log(float(n_img))
    # tf * idf with the same scalar numpy calls as cider_scorer.py, once per (df, tf) pair present
    dfe = df[c.gram]
    tf = c.tf
    base = int(tf.max(initial=0)) + 1
    pair = dfe * base + tf
    size = (int(dfe.max(initial=0)) + 1) * base
    if size <= 1 << 22:                                     # a lookup table over (df, tf), no sort
        pairs = np.nonzero(np.bincount(pair, minlength=size))[0]
    else:
        pairs = np.unique(pair)
    logs: dict = {}
    vt, sqt = [], []
    for code in pairs.tolist():
        d, t = divmod(code, base)
        if d not in logs:
            logs[d] = np.log(max(1.0, float(d)))
        x = float(t) * (ref_len - logs[d])
        vt.append(x)
        sqt.append(pow(x, 2))                               # pow(np.float64, 2): not always x * x
    if size <= 1 << 22:
        vtab, sqtab = np.zeros(size), np.zeros(size)
        vtab[pairs], sqtab[pairs] = vt, sqt
        v, sq = vtab[pair], sqtab[pair]
    else:
        at = np.searchsorted(pairs, pair)
        v = np.array(vt, dtype=np.float64)[at]
        sq = np.array(sqt, dtype=np.float64)[at]
    # norms: sequential sums in first-occurrence order (np.bincount adds in array order, like the loop)
    norm = np.sqrt(np.bincount(c.sent * n + c.order, weights=sq, minlength=n_sent * n)).reshape(n_sent, n)
    bi = c.order == 1
    length = np.bincount(c.sent[bi], weights=c.tf[bi], minlength=n_sent).astype(np.int64)
    # numerators: each hypothesis n-gram against each reference of its image holding it, in the
    # hypothesis' first-occurrence order
    cnt = c.h_hi - c.h_lo
    rep = np.repeat(np.arange(len(cnt)), cnt)
    within = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    rj = c.r_idx[c.h_lo[rep] + within]
    hj = c.h_idx[rep]
    vr = v[rj]
    contrib = np.minimum(v[hj], vr) * vr
    n_ref = n_sent - n_img
    val = np.bincount((c.sent[rj] - n_img) * n + c.order[hj], weights=contrib, minlength=n_ref * n).reshape(n_ref, n)
    nh = norm[:n_img][c.ref_img]
    nr = norm[n_img:]
    nz = (nh != 0) & (nr != 0)
    val = np.where(nz, val / np.where(nz, nh * nr, 1.0), val)
    delta = (length[:n_img][c.ref_img] - length[n_img:]).tolist()
    pen_of = {d: np.e ** (-(float(d) ** 2) / (2 * sigma ** 2)) for d in set(delta)}
    val = val * np.array([pen_of[d] for d in delta], dtype=np.float64)[:, None]
    # sum over references in their order, mean over orders as np.mean does, / #references, x10
    score = np.empty((n_img, n))
    for j in range(n):
        score[:, j] = np.bincount(c.ref_img, weights=val[:, j], minlength=n_img)
    avg = score[:, 0].copy()
    for j in range(1, n):
        avg += score[:, j]
    avg = avg / n / c.n_refs * 10.0
    return float(np.mean(avg)), avg.tolist()


# ----------------------------------------------------------------------------- ROUGE-L
def rouge_l(refs: dict, hyps: dict, beta: float = 1.2) -> tuple[float, list[float]]:
    """ROUGE-L as coco-caption's Rouge (rouge.py), bit-identical: tokens by split(" "), LCS-based
    precision and recall against each reference, the maximum of each over references, F-measure with
    beta = 1.2; mean over images (np.mean). Returns (mean, per-image)."""
    _check(refs, hyps)
    scores = []
    b2 = beta ** 2
    for k in refs:
        c = hyps[k].split(" ")     # coco-caption splits on single spaces: "" is one empty token
        masks: dict = {}
        for i, x in enumerate(c):
            masks[x] = masks.get(x, 0) | (1 << i)
        full = (1 << len(c)) - 1
        lc = float(len(c))
        prec, rec = [], []
        get = masks.get
        for r in refs[k]:
            rt = r.split(" ")
            # bit-parallel LCS (Allison & Dix 1986): bit i of v is cleared when c[i] extends the LCS;
            # the same length as rouge.py's my_lcs dynamic programme (bits above len(c) are carries:
            # they never reach the low bits, so they are masked off once at the end)
            v = full
            for m in [m for m in map(get, rt) if m is not None]:
                u = v & m
                v = (v + u) | (v - u)
            lcs = len(c) - (v & full).bit_count()
            prec.append(lcs / lc)
            rec.append(lcs / float(len(rt)))
        p, r_ = max(prec), max(rec)
        scores.append(((1 + b2) * p * r_) / float(r_ + b2 * p) if p != 0 and r_ != 0 else 0.0)
    return float(np.mean(np.array(scores))), scores


# ----------------------------------------------------------------------------- all together
def java_available() -> bool:
    return shutil.which("java") is not None


def evaluate(refs: dict, hyps: dict, *, tokenize: bool = True, meteor: bool = False) -> dict:
    """coco-caption's table (COCOEvalCap): PTB tokenization, BLEU-1..4, ROUGE_L, CIDEr(-D), each equal to
    pycocoevalcap 1.2's number. refs {id: [str]}, hyps {id: str}. The tokenizer reads each dict as one
    stream in its order, as COCOEvalCap's two PTBTokenizer calls do (in rare cases a caption's last token
    depends on how the next one starts: "Plan B." before "A man ..." loses its period), so pass the images
    in COCOEvalCap's order for the exact tokens. METEOR only on request and with Java and pycocoevalcap
    installed (it runs the official jar)."""
    if tokenize:
        refs = tokenize_all(refs)
        hyps = _tokenize_hyps(hyps)
    _check(refs, hyps)
    corpus = _Corpus(refs, hyps, 4)
    b, totals = _bleu(corpus, 4)
    out = {f"Bleu_{i + 1}": s for i, s in enumerate(b)}
    out["ROUGE_L"] = rouge_l(refs, hyps)[0]
    out["CIDEr"] = _cider(corpus, 4, 6.0)[0]
    if meteor:
        if not java_available():
            raise RuntimeError("METEOR needs Java (the official meteor-1.5.jar via pycocoevalcap); none on PATH")
        from pycocoevalcap.meteor.meteor import Meteor
        out["METEOR"] = Meteor().compute_score(refs, {k: [v] for k, v in hyps.items()})[0]
    out["_totals"] = totals
    return out


# ----------------------------------------------------------------------------- COCO-format files
def _read_json(path: Path):
    """The parsed file; unreadable, non-UTF-8 or invalid JSON (NaN/Infinity literals included)
    raises DataError naming the file, with line and column."""
    from datasets import read_json
    return read_json(path)


def _image_id(v, where: str):
    """A COCO image id: an int (or a string id, as some caption sets use), never bool/float/list."""
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise DataError(f"{where}: image_id must be an integer (or string) id, got {type(v).__name__} {v!r}")
    return v


def load_coco_refs(path: str | Path) -> dict:
    """COCO captions annotations JSON -> {image_id: [caption, ...]}. The file must be an object with
    an 'annotations' list of {image_id, caption} objects (and, if present, an 'images' list of
    {id} objects, each with at least one caption); anything else raises DataError naming the file."""
    data = _read_json(path)
    if not isinstance(data, dict) or "annotations" not in data:
        raise DataError(f"{path}: not a COCO captions file (no 'annotations' list)")
    if not isinstance(data["annotations"], list):
        raise DataError(f"{path}: 'annotations' must be a list of {{image_id, caption}} objects, "
                        f"got {type(data['annotations']).__name__}")
    images = data.get("images", [])
    if not isinstance(images, list):
        raise DataError(f"{path}: 'images' must be a list of {{id, ...}} objects, got {type(images).__name__}")
    refs: dict = defaultdict(list)
    for i, a in enumerate(data["annotations"]):
        if not isinstance(a, dict) or "image_id" not in a or not isinstance(a.get("caption"), str):
            raise DataError(f"{path}: annotation #{i} lacks an image_id or a caption string")
        refs[_image_id(a["image_id"], f"{path}: annotation #{i}")].append(a["caption"])
    for i, img in enumerate(images):
        if not isinstance(img, dict) or "id" not in img:
            raise DataError(f"{path}: images entry #{i} is not an object with an 'id'")
        if _image_id(img["id"], f"{path}: images entry #{i}") not in refs:
            raise DataError(f"{path}: image {img.get('id')} has no caption annotations")
    if not refs:
        raise DataError(f"{path}: no caption annotations")
    return dict(refs)


def load_coco_results(path: str | Path, refs: dict) -> dict:
    """COCO results JSON [{"image_id", "caption"}] -> {image_id: caption}, checked against refs:
    every image_id must be in the annotations, once, with a non-empty caption string."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: a results file is a JSON list of {{'image_id', 'caption'}} objects")
    hyps = {}
    for i, r in enumerate(data):
        if not isinstance(r, dict) or "image_id" not in r or "caption" not in r:
            raise DataError(f"{path}: entry #{i} lacks image_id or caption")
        k, c = _image_id(r["image_id"], f"{path}: entry #{i}"), r["caption"]
        if k not in refs:
            raise DataError(f"{path}: entry #{i} has image_id {k!r}, which is not in the annotations")
        if k in hyps:
            raise DataError(f"{path}: image_id {k!r} appears more than once (entry #{i}); one caption per image")
        if not isinstance(c, str):
            raise DataError(f"{path}: entry #{i} (image_id {k!r}): caption must be a string, got {type(c).__name__}")
        if not ptb_tokenize(c):
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
    except (DataError, RuntimeError) as e:      # RuntimeError: --meteor without Java
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
