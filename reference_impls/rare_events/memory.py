"""The life-long memory module of Kaiser et al., "Learning to Remember Rare Events" (ICLR 2017),
following the paper and its official code (tensorflow/models research/learning_to_remember_rare_events).

A memory is M slots of (key K[i], value V[i], age A[i]); keys are unit vectors. For a batch
of activations x with intended labels y:

    q  = normalize(x @ W)                       # W: the learned query projection
    NN = k nearest slots of q by cosine similarity (a pluggable backend: exact or faiss IVF)
    prediction = V[nearest]
    loss = relu(s_neg - s_pos + alpha) - alpha  # s_pos: best similarity among NN with V == y
                                                 # s_neg: best similarity among NN with V != y
    correct answer  -> K[n'] = normalize(q + K[n']), A[n'] = 0
    wrong answer    -> write (q, y) to the oldest slot (ages + uniform noise), A = 0
    all other ages  += 1

The memory is a buffer of the module, saved with the model. Whether it is reset is the training
loop's choice (model.train: cleared before every batch of episodes, as the authors' train.py does,
or never: life-long).

Reading (no labels) and inference writes (`loss=False`, no recent_idx) need only the nearest
slot, not the k-nearest pool that the loss is computed over: the answer is the nearest slot's
value, a right answer averages into the pool's best positive, which is the nearest slot itself
whenever its similarity is positive, and a wrong answer goes to the oldest slot. That path searches
for one neighbour (a max instead of a top-256 over the memory) and falls back to the pool in the
one case where the two could differ (right answer at similarity <= 0); the answers and writes are
the pool's (tests/test_memory.py checks them against it).

`softmax_temperature` is the official rule for the temperature of a softmax over the top-k
similarities; the official Memory.query returns that softmax as a `mask` that neither the loss nor
the prediction uses, so it is kept here for reference only and plays no part in `query`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .backends import ExactSearch, make_backend


def softmax_temperature(choose_k: int, alpha: float) -> float:
    """max(1, log(0.2 k) / alpha): the official rule, so one neighbour alpha closer than k others
    gets ~20% of the softmax mass. Unused by the memory (the official code computes the softmax
    mask but neither its loss nor its prediction reads it)."""
    return max(1.0, math.log(0.2 * choose_k) / alpha)


class Memory(nn.Module):
    def __init__(self, key_dim: int = 128, memory_size: int = 8192, vocab_size: int = 1 << 16,
                 choose_k: int = 256, alpha: float = 0.1, correct_in_top: int = 1, age_noise: float = 8.0):
        super().__init__()
        self.key_dim, self.memory_size, self.vocab_size = key_dim, memory_size, vocab_size
        self.choose_k = min(choose_k, memory_size)
        self.alpha, self.correct_in_top, self.age_noise = alpha, correct_in_top, age_noise
        self.query_proj = nn.Parameter(nn.init.trunc_normal_(torch.empty(key_dim, key_dim), std=0.01, a=-0.02, b=0.02))
        self.register_buffer("keys", torch.zeros(memory_size, key_dim))
        self.register_buffer("vals", torch.zeros(memory_size, dtype=torch.long))
        self.register_buffer("age", torch.zeros(memory_size))
        self.register_buffer("recent_idx", torch.zeros(vocab_size, dtype=torch.long))
        self.backend = ExactSearch()
        self.backend.build(self.keys)

    # ------------------------------------------------------------------ state
    def clear(self):
        self.keys.zero_(), self.vals.zero_(), self.age.zero_(), self.recent_idx.zero_()
        self.backend.build(self.keys)

    def snapshot(self) -> dict:
        return {k: getattr(self, k).clone() for k in ("keys", "vals", "age", "recent_idx")}

    def restore(self, state: dict):
        """Back to a `snapshot`. An approximate index (faiss IVF) keeps its trained lists and
        re-files only the slots whose keys changed since (no re-training: the same contents a
        rebuild from these keys would hold, in lists trained once)."""
        exact = isinstance(self.backend, ExactSearch)
        changed = None if exact else (self.keys != state["keys"].to(self.keys.device)).any(1).nonzero()[:, 0]
        for k, v in state.items():
            getattr(self, k).copy_(v)
        if exact:
            self.backend.build(self.keys)
        elif len(changed):
            self.backend.update(changed, self.keys[changed])

    def use_backend(self, name: str = "exact", **kw):
        """Swap the nearest-neighbour search (and build it over the current keys)."""
        self.backend = make_backend(name, **kw)
        self.backend.build(self.keys)
        return self

    def _apply(self, fn, *args, **kwargs):  # .to(device) replaces buffers: rebind the exact backend
        out = super()._apply(fn, *args, **kwargs)
        if isinstance(self.backend, ExactSearch):
            self.backend.build(self.keys)
        return out

    def load_state_dict(self, *args, **kwargs):
        out = super().load_state_dict(*args, **kwargs)
        self.backend.build(self.keys)
        return out

    # ------------------------------------------------------------------ query / update
    def normalize_query(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x @ self.query_proj, dim=1)

    def query(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, use_recent_idx: bool = True,
              update: bool = True, loss: bool = True):
        """Returns (prediction [B], loss scalar or None). With labels and update=True the memory is
        written as the paper prescribes. loss=False (inference) returns no loss and, without
        recent_idx, answers and writes from the nearest slot instead of the k-nearest pool (the same
        answers and writes; see the module docstring). Runs in fp32 even under AMP (the keys are fp32)."""
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            if labels is None or (not loss and not use_recent_idx):
                return self._nearest(x, labels, update)
            return self._query(x, labels, use_recent_idx, update)

    def _check_labels(self, labels):
        if int(labels.max()) >= self.vocab_size or int(labels.min()) < 0:
            raise ValueError(f"labels must lie in [0, {self.vocab_size}) (vocab_size)")

    def _nearest(self, x, labels, update):
        """Inference without the pool: the nearest slot answers; a right answer updates that slot,
        a wrong one the oldest (as `_query`); no loss."""
        if labels is not None:
            self._check_labels(labels)
        q = self.normalize_query(x).detach()
        with torch.no_grad():
            top = self.backend.search(q, 1)[:, 0]
            pred = self.vals[top]
            if labels is None or not update:
                return pred, None
            right = pred == labels
            if bool((right & ((q * self.keys[top]).sum(1) <= 0)).any()):
                # the pool's best positive (max of sims * hints) may then be another slot: use the pool
                return self._query(x, labels, False, update)[0], None
            self._write(q, labels, ~right, top, False)
        return pred, None

    def _query(self, x, labels, use_recent_idx, update):
        q = self.normalize_query(x)
        with torch.no_grad():
            idx = self.backend.search(q.detach(), self.choose_k)           # [B, k]
        k = idx.shape[1]
        if labels is not None:
            self._check_labels(labels)
            if use_recent_idx:  # make sure one memory with the right label is in the pool
                idx = torch.cat([idx, self.recent_idx[labels][:, None]], dim=1)
        pool_keys = self.keys[idx]                                          # no gradient into memory
        sims = torch.einsum("bd,bkd->bk", q, pool_keys)
        nearest = sims[:, :k].argmax(1)
        rows = torch.arange(len(q), device=q.device)
        pred = self.vals[idx[rows, nearest]]
        if labels is None:
            return pred, None

        hints = (self.vals[idx] == labels[:, None]).float()
        pos, pos_at = (sims * hints).max(1)
        neg = (sims * (1 - hints)).max(1).values
        pos = pos * (hints.sum(1) > 0).float()                             # no positive in the pool: 0
        loss = (F.relu(neg - pos + self.alpha) - self.alpha).mean()
        if update:
            incorrect = hints[:, : self.correct_in_top].sum(1) == 0
            self._write(q.detach(), labels, incorrect, idx[rows, pos_at], use_recent_idx)
        return pred, loss

    @torch.no_grad()
    def _write(self, q, labels, incorrect, fetched, use_recent_idx):
        merged = F.normalize(q + self.keys[fetched], dim=1)                 # average with the query
        noisy_age = self.age + (torch.rand(self.memory_size, device=q.device) * 2 - 1) * self.age_noise
        oldest = noisy_age.topk(len(q)).indices
        slots = torch.where(incorrect, oldest, fetched)
        new_keys = torch.where(incorrect[:, None], q, merged)
        new_vals = torch.where(incorrect, labels, self.vals[fetched])
        self.age += 1
        self.age[slots] = 0
        self.keys[slots] = new_keys
        self.vals[slots] = new_vals
        if use_recent_idx:
            self.recent_idx[labels] = slots
        self.backend.update(slots, new_keys)

    def write(self, x: torch.Tensor, labels: torch.Tensor):
        """Store labelled examples through the update rule (what an episode's support set does)."""
        with torch.no_grad():
            self.query(x, labels, use_recent_idx=False, loss=False)

    def forward(self, x, labels=None, **kw):
        return self.query(x, labels, **kw)
