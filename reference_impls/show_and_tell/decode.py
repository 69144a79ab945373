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
    images x beams. A hypothesis that emitted <end> stays in the beam with its final score and
    one child (<end> again, log-prob 0), so finished and open hypotheses compete on total
    log-likelihood, as in im2txt. Returns (best id lists, their log-likelihoods (B,))."""
    state = model.start(images=images, feats=feats)
    B = _batch(state)
    dev = _device(state)
    words = torch.full((B,), start, dtype=torch.long, device=dev)
    logp, state = model.step(words, state)                               # (B, V)
    V = logp.shape[-1]
    k = min(beam, V)
    scores, words = logp.topk(k, -1)                                     # (B, k)
    seqs = words[:, :, None]                                             # (B, k, t)
    done = words == end
    state = _select(state, torch.arange(B, device=dev).repeat_interleave(k))   # (., B*k, .)
    finished_row = torch.full((V,), float("-inf"), device=dev)
    finished_row[end] = 0.0
    for _ in range(max_len - 1):
        if done.all():
            break
        logp, state = model.step(words.reshape(-1), state)
        logp = logp.view(B, k, V)
        logp = torch.where(done[:, :, None], finished_row, logp)
        cand = (scores[:, :, None] + logp).view(B, k * V)
        scores, flat = cand.topk(k, -1)
        parent, words = flat // V, flat % V
        seqs = torch.cat([seqs.gather(1, parent[:, :, None].expand(-1, -1, seqs.shape[2])), words[:, :, None]], 2)
        done = done.gather(1, parent) | (words == end)
        state = _select(state, (parent + torch.arange(B, device=dev)[:, None] * k).reshape(-1))
    best = scores.argmax(1)
    top = seqs[torch.arange(B, device=dev), best]
    return _cut(top, end), scores[torch.arange(B, device=dev), best]


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
    out = []
    for row in seqs.tolist():
        out.append(row[:row.index(end)] if end in row else row)
    return out


def _batch(state) -> int:
    return state.shape[1] if isinstance(state, torch.Tensor) else _batch(state[0])


def _device(state):
    return state.device if isinstance(state, torch.Tensor) else _device(state[0])
