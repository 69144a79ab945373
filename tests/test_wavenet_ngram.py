"""The count-model controls of the WaveNet suite (reference_impls/wavenet/ngram.py) on hand-made sequences."""
import math

import numpy as np
import pytest
import torch

from reference_impls.wavenet.ngram import NGram, _count, _runs, fit_per_speaker, score_per_speaker

# training stream over 3 codes; its counts, worked out by hand:
#   bigrams 00:2 01:2 10:1 12:1 21:1  -> n1 = 3, n2 = 2, D2 = 3 / (3 + 2*2) = 3/7
#   continuation counts (distinct left neighbours) of 0: {0, 1} = 2, of 1: {0, 2} = 2, of 2: {1} = 1
#                                    -> n1 = 1, n2 = 2, D1 = 1/5, S = 5, U = 3
#   P1(0) = (2 - 1/5)/5 + (1/5)(3/5)(1/3) = 0.40, P1(1) = 0.40, P1(2) = (1 - 1/5)/5 + 0.04 = 0.20
#   P2(0 | 0) = (2 - 3/7)/4 + (3/7)(2/4) P1(0) = 11/28 + 3/35;  P2(2 | 0) = (3/7)(2/4) P1(2) = 3/70
SEQ = [0, 0, 1, 0, 0, 1, 2, 1]


def test_bigram_kneser_ney_by_hand():
    m = NGram(2, vocab=3).fit([torch.tensor(SEQ)])
    assert m.tables[0]["D"] == pytest.approx(1 / 5) and m.tables[1]["D"] == pytest.approx(3 / 7)
    assert m.distribution([0]) == pytest.approx([11 / 28 + 3 / 35, 1 - (11 / 28 + 3 / 35) - 3 / 70, 3 / 70])
    # the lowest order alone: a context never followed by anything in training backs off to P1
    m2 = NGram(2, vocab=4).fit([np.array(SEQ)])
    assert m2.distribution([3]).sum() == pytest.approx(1.0)
    # held-out [0, 0, 2]: samples 1 and 2 are predicted, each from the code before it
    bits = m.score([np.array([0, 0, 2])])
    assert bits == pytest.approx(-(math.log2(11 / 28 + 3 / 35) + math.log2(3 / 70)) / 2)


def test_unigram_is_the_discounted_histogram():
    # counts 0:4 1:3 2:1 over 8 codes; n1 = 1, n2 = 0 -> D = 1: P(w) = (c - 1)/8 + (1)(3/8)(1/3)
    m = NGram(1, vocab=3).fit([SEQ])
    assert m.distribution([2]) == pytest.approx([0.5, 0.375, 0.125])     # the context is ignored
    assert m.score([[1, 0, 2]]) == pytest.approx(-(math.log2(0.5) + math.log2(0.125)) / 2)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_distributions_sum_to_one_and_unseen_codes_stay_finite(order):
    rng = np.random.default_rng(order)
    m = NGram(order, vocab=6).fit([rng.integers(0, 5, 300), rng.integers(0, 5, 50)])   # code 5 never seen
    for ctx in ([1], [2, 3], [4, 4, 4], [0, 1, 2, 3], [5, 5, 5]):
        d = m.distribution(ctx)
        assert d.sum() == pytest.approx(1.0) and (d > 0).all()
    assert math.isfinite(m.score([np.array([5, 5, 5, 0, 5])]))


def test_longer_context_wins_on_a_period_three_sequence():
    # 0 1 2 0 1 2 ...: a bigram already knows the next code; a unigram only the histogram (log2 3 bits)
    train = np.tile([0, 1, 2], 200)
    test = [np.tile([0, 1, 2], 10)]
    uni, bi, tri = (NGram(n, vocab=3).fit([train]).score(test) for n in (1, 2, 3))
    assert uni == pytest.approx(math.log2(3), abs=0.01)
    assert bi < 0.1 and tri < 0.1 and uni > bi
    # 0 0 1 1 0 0 1 1 ...: after a 0 the next code is 0 or 1 (1 bit for a bigram); two codes decide it
    train = np.tile([0, 0, 1, 1], 200)
    test = [np.tile([0, 0, 1, 1], 10)]
    bi, tri = (NGram(n, vocab=2).fit([train]).score(test) for n in (2, 3))
    assert bi == pytest.approx(1.0, abs=0.05) and tri < 0.1


def test_per_speaker_models_and_wrong_speaker_map():
    a, b = np.tile([0, 1], 100), np.tile([2, 3], 100)
    models = fit_per_speaker(2, [a, b], vocab=4)
    test = [(np.array([0, 1, 0, 1]), 0), (np.array([2, 3, 2]), 1)]
    right = score_per_speaker(models, test)
    wrong = score_per_speaker(models, test, speaker_map=lambda i, s: 1 - s)
    assert right < 0.1 and wrong > 1.5          # codes the wrong speaker never produced: back-off mass only


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        NGram(0)
    with pytest.raises(ValueError):
        NGram(2, vocab=4).fit([[0, 1, 4]])
    with pytest.raises(RuntimeError):
        NGram(2).prob([0, 1])


def test_counting_helpers_match_np_unique():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 1000, 5000)
    for size in (1000, 1 << 26):                       # counted into a table / sorted
        u, c = _count(keys, size)
        ru, rc = np.unique(keys, return_counts=True)
        assert np.array_equal(u, ru) and np.array_equal(c, rc)
    s = np.sort(rng.integers(0, 50, 300))
    u, inv = _runs(s)
    ru, rinv = np.unique(s, return_inverse=True)
    assert np.array_equal(u, ru) and np.array_equal(inv, rinv)
    assert len(_runs(np.zeros(0, dtype=np.int64))[0]) == 0
