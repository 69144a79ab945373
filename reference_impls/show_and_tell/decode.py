"""Greedy decoding and batched beam search (all images and all beams in one LSTM call per step).

`model` is anything with `start(images=, feats=) -> state` and `step(words, state) -> (logp, state)`
(ShowAndTell or Ensemble). A state is a tensor, or a tuple/list of them, with the batch on dim 1
(the LSTM's (h, c)). Sequences are returned without <start>, cut after <end>.
"""
from __future__ import annotations

import torch


def _select(state, idx: torch.Tensor):
    """Reorder/expand the batch dimension (dim 1) of every tensor in a nested state."""
    if isinstance(state, torch.Tensor):
        return state.index_select(1, idx)
    return type(state)(_select(s, idx) for s in state)


@torch.inference_mode()
def greedy(model, images=None, feats=None, *, start: int = 1, end: int = 2, max_len: int = 20):
    """Arg-max word at every step. Returns (list of id lists, sequence log-likelihoods (B,))."""
    state = model.start(images=images, feats=feats)
    B = _batch(state)
    words = torch.full((B,), start, dtype=torch.long, device=_device(state))
    done = torch.zeros(B, dtype=torch.bool, device=words.device)
    score = torch.zeros(B, device=words.device)
    seqs = []
    for _ in range(max_len):
        logp, state = model.step(words, state)
        lp, words = logp.max(-1)
        score += torch.where(done, torch.zeros_like(lp), lp)
        seqs.append(torch.where(done, torch.full_like(words, end), words))
        done |= words == end
        if done.all():
            break
    return _cut(torch.stack(seqs, 1), end), score


@torch.inference_mode()
def beam_search(model, images=None, feats=None, *, beam: int = 3, start: int = 1, end: int = 2, max_len: int = 20):
    """Beam search of width `beam` (20 in the paper, 3 for the released model), batched over
    images x beams. It maximises the sequence log-likelihood, the sum of the emitted words'
    log-probabilities up to and including <end> (or the first `max_len` words when a sequence
    never ends: greedy decoding scores the same way), with no length normalisation.

    At every step the `beam` best candidates are taken from all extensions of the open hypotheses
    (as in im2txt and fairseq, so beam 1 is greedy decoding); those that emit <end> leave the beam
    for a per-image pool of finished hypotheses, which keeps the best, and the `beam` best
    candidates that do not end form the next open beam. A finished hypothesis is never pushed out
    by open ones, as it was when finished hypotheses held beam slots: open hypotheses that
    outscored it for a few steps and then fell below it won. Word
    log-probabilities are <= 0, so an open hypothesis only loses score: the search stops for an
    image once its best finished score is at least its best open score, which loses nothing.
    With `beam` >= the number of distinct prefixes this is exhaustive search
    (tests/test_captions.py checks it against brute force). Returns (best id lists, their
    log-likelihoods (B,))."""
    state = model.start(images=images, feats=feats)
    B = _batch(state)
    dev = _device(state)
    ar = torch.arange(B, device=dev)
    words = torch.full((B,), start, dtype=torch.long, device=dev)
    scores = torch.zeros(B, 1, device=dev)                               # open hypotheses (B, k)
    seqs = torch.zeros(B, 1, 0, dtype=torch.long, device=dev)           # their words (B, k, t)
    best = torch.full((B,), float("-inf"), device=dev)                   # the finished pool: best score
    best_seq: list[list[int]] = [[] for _ in range(B)]                  # ... and its words

    def pool(score, parent, word):
        """Offer each image one finished candidate (score (B,), parent (B,), last word (B,))."""
        for i in (score > best).nonzero()[:, 0].tolist():
            best_seq[i] = seqs[i, parent[i]].tolist() + [int(word[i])]
        best.copy_(torch.maximum(best, score))

    for t in range(max_len):
        logp, state = model.step(words, state)
        k_cur, V = scores.shape[1], logp.shape[-1]
        cand = scores[:, :, None] + logp.view(B, k_cur, V)               # (B, k_cur, V)
        flat_cand = cand.view(B, -1)
        # hypotheses that end here and rank among the `beam` best candidates are finished: the best enters the pool
        top, top_flat = flat_cand.topk(min(beam, k_cur * V), -1)
        s_end, j = torch.where(top_flat % V == end, top, torch.full_like(top, float("-inf"))).max(1)
        pool(s_end, top_flat[ar, j] // V, torch.full_like(j, end))
        cand[:, :, end] = float("-inf")
        if t == max_len - 1:   # sequences that never ended compete at max_len words, scored without <end>
            s_open, flat = flat_cand.max(1)
            pool(s_open, flat // V, flat % V)
            break
        scores, flat = flat_cand.topk(min(beam, k_cur * (V - 1)), -1)
        parent, words = flat // V, flat % V
        seqs = torch.cat([seqs.gather(1, parent[:, :, None].expand(-1, -1, seqs.shape[2])), words[:, :, None]], 2)
        state = _select(state, (parent + ar[:, None] * k_cur).reshape(-1))
        words = words.reshape(-1)
        if bool((best >= scores[:, 0]).all()):                          # nothing open can still win
            break
    return _cut_rows(best_seq, end), best


@torch.inference_mode()
def sequence_logprob(model, seqs: list[list[int]], images=None, feats=None, *, start: int = 1, end: int = 2):
    """log p(S | I) of given word id sequences (<end> appended), teacher-forced: the score a decoder maximizes."""
    state = model.start(images=images, feats=feats)
    B = len(seqs)
    T = max(len(s) for s in seqs) + 1
    dev = _device(state)
    tgt = torch.full((B, T), -1, dtype=torch.long, device=dev)
    for i, s in enumerate(seqs):
        tgt[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        tgt[i, len(s)] = end
    words = torch.full((B,), start, dtype=torch.long, device=dev)
    total = torch.zeros(B, device=dev)
    for t in range(T):
        logp, state = model.step(words, state)
        valid = tgt[:, t] >= 0
        total += torch.where(valid, logp.gather(1, tgt[:, t].clamp(min=0)[:, None])[:, 0], torch.zeros(B, device=dev))
        words = tgt[:, t].clamp(min=0)
    return total


def _cut(seqs: torch.Tensor, end: int) -> list[list[int]]:
    return _cut_rows(seqs.tolist(), end)


def _cut_rows(rows: list[list[int]], end: int) -> list[list[int]]:
    return [row[:row.index(end)] if end in row else row for row in rows]


def _batch(state) -> int:
    return state.shape[1] if isinstance(state, torch.Tensor) else _batch(state[0])


def _device(state):
    return state.device if isinstance(state, torch.Tensor) else _device(state[0])
