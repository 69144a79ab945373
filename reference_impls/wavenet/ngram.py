"""Count models over mu-law codes: the trivial baselines of the speech claims.

An order-n model predicts x[t] from the n - 1 codes before it, with interpolated Kneser-Ney
smoothing (absolute discounting; the lower orders count continuations, not occurrences):

    P_k(w | h) = max(T_k(h, w) - D_k, 0) / S_k(h) + D_k U_k(h) / S_k(h) * P_{k-1}(w | h[1:])
    P_k(w | h) = P_{k-1}(w | h[1:])                 when the context h was never seen (S_k(h) = 0)
    P_0(w)     = 1 / V

T_n are the n-gram counts; T_k (k < n) the number of distinct codes seen before the k-gram
(N1+(. h w)); S_k(h) = sum_w T_k(h, w); U_k(h) = #{w : T_k(h, w) > 0}; D_k = n1 / (n1 + 2 n2)
from the count-of-counts of T_k. Every code keeps a probability > 0, so the held-out NLL is
finite. Order 1 is the training histogram, discounted towards uniform.

    m = NGram(3).fit([codes_a, codes_b])           # 1-D integer tensors / arrays (streams)
    bits = m.score([recording, ...])               # bits per sample over x[1:] of every recording

Scoring follows `experiment.evaluate`: every recording's samples 1..T-1 are predicted, each
from the codes of that recording before it (near the start, from as many as there are).
"""
from __future__ import annotations

import numpy as np


def _as_array(x) -> np.ndarray:
    a = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
    return a.astype(np.int64).reshape(-1)


def _count(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, their counts) of non-negative integer keys below `size`: what
    np.unique(keys, return_counts=True) returns, by counting into a table when it is small
    enough (up to 2^25 entries: every order up to 3 over 256 codes) instead of sorting."""
    if size <= 1 << 25:
        c = np.bincount(keys, minlength=size)
        u = np.flatnonzero(c)
        return u, c[u]
    return np.unique(keys, return_counts=True)


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(sorted_keys, return_inverse=True) for keys already in ascending order."""
    if not len(sorted_keys):
        return sorted_keys, np.zeros(0, dtype=np.int64)
    new = np.empty(len(sorted_keys), dtype=bool)
    new[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    return sorted_keys[new], np.cumsum(new) - 1


class NGram:
    def __init__(self, order: int, vocab: int = 256):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.n, self.V = order, vocab
        self.tables: list[dict] = []

    # keys: the k-gram (h, w) as one integer sum_i x_i V^(k-1-i); contexts: key // V
    def _keys(self, seq: np.ndarray, k: int) -> np.ndarray:
        key = np.zeros(len(seq) - k + 1, dtype=np.int64)
        for i in range(k):
            key = key * self.V + seq[i:len(seq) - k + 1 + i]
        return key

    def fit(self, streams) -> "NGram":
        streams = [_as_array(s) for s in streams]
        for s in streams:
            if s.size and (s.min() < 0 or s.max() >= self.V):
                raise ValueError(f"codes must lie in [0, {self.V - 1}]")
        # the highest order: occurrence counts
        keys = np.concatenate([self._keys(s, self.n) for s in streams if len(s) >= self.n])
        uniq, counts = _count(keys, self.V ** self.n)
        tables = {self.n: (uniq, counts)}
        # lower orders: continuation counts = distinct left extensions of each k-gram
        for k in range(self.n - 1, 0, -1):
            suffix = uniq % (self.V ** k)                      # (k+1)-gram types -> their k-gram suffix
            uniq, counts = _count(suffix, self.V ** k)
            tables[k] = (uniq, counts)
        self.tables = []
        for k in range(1, self.n + 1):
            uniq, counts = tables[k]
            ctx, ctx_idx = _runs(uniq // self.V)
            S = np.bincount(ctx_idx, weights=counts).astype(np.float64)
            U = np.bincount(ctx_idx).astype(np.float64)
            n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
            D = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
            self.tables.append({"keys": uniq, "counts": counts.astype(np.float64), "ctx": ctx, "S": S, "U": U, "D": D})
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, values: np.ndarray, q: np.ndarray) -> np.ndarray:
        i = np.searchsorted(keys, q).clip(max=len(keys) - 1)
        return np.where(keys[i] == q, values[i], 0.0)

    def prob(self, seq) -> np.ndarray:
        """P(x[t] | x[max(0, t-n+1):t]) for t = 1 .. len(seq) - 1 (within this sequence)."""
        if not self.tables:
            raise RuntimeError("NGram.prob before fit")
        seq = _as_array(seq)
        T = len(seq)
        t = np.arange(1, T)
        p = np.full(T - 1, 1.0 / self.V)
        for k in range(1, self.n + 1):
            tab = self.tables[k - 1]
            ok = t >= k - 1                                    # enough history for a (k-1)-code context
            tt = t[ok]
            key = np.zeros(len(tt), dtype=np.int64)
            for i in range(k):
                key = key * self.V + seq[tt - (k - 1) + i]
            ctx = key // self.V
            c = self._lookup(tab["keys"], tab["counts"], key)
            S = self._lookup(tab["ctx"], tab["S"], ctx)
            U = self._lookup(tab["ctx"], tab["U"], ctx)
            lower = p[ok]
            seen = S > 0
            Ss = np.where(seen, S, 1.0)
            pk = np.maximum(c - tab["D"], 0.0) / Ss + tab["D"] * U / Ss * lower
            p[ok] = np.where(seen, pk, lower)
        return p

    def score(self, recordings) -> float:
        """Bits per sample over samples 1..T-1 of every recording (the same samples as evaluate)."""
        bits, n = 0.0, 0
        for r in recordings:
            p = self.prob(r)
            bits += float(-np.log2(p).sum())
            n += len(p)
        return bits / n

    def distribution(self, context) -> np.ndarray:
        """P(. | context) over all V codes, for a context of at least one code (tests: sums to 1)."""
        ctx = list(_as_array(context))
        if not ctx:
            raise ValueError("distribution needs a context of at least one code")
        return np.array([self.prob(np.array(ctx + [w]))[-1] for w in range(self.V)])


def fit_per_speaker(order: int, streams, vocab: int = 256) -> list[NGram]:
    """One count model per speaker, each fitted on that speaker's training stream only."""
    return [NGram(order, vocab).fit([s]) for s in streams]


def score_per_speaker(models: list[NGram], test, *, speaker_map=None) -> float:
    """Bits per sample of held-out (codes, speaker) pairs, each under its speaker's model, or
    under `speaker_map(i, true_speaker)`'s model (the same interface as experiment.evaluate)."""
    bits, n = 0.0, 0
    for i, (codes, spk) in enumerate(test):
        p = models[spk if speaker_map is None else speaker_map(i, spk)].prob(codes)
        bits += float(-np.log2(p).sum())
        n += len(p)
    return bits / n
