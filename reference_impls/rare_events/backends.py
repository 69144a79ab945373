"""Nearest-neighbour backends for the memory: which slots are a query's k most similar keys.

    exact = ExactSearch()                       # matrix product + top-k, any device
    ivf = FaissIVF(nlist=1024, nprobe=16)       # approximate: faiss inverted file, inner product
    backend.build(keys)                         # after the memory is filled (or replaced)
    idx = backend.search(queries, k)            # [B, k] slot indices, most similar first
    backend.update(slots, new_keys)             # keep the index in step with memory writes

Keys and queries are L2-normalized, so inner product = cosine similarity.
"""
from __future__ import annotations

import numpy as np
import torch


class ExactSearch:
    name = "exact"

    def __init__(self):
        self.keys = None

    def build(self, keys: torch.Tensor):
        self.keys = keys            # a view of the memory's key buffer: writes are seen at once

    def update(self, slots: torch.Tensor, keys: torch.Tensor):
        pass

    def search(self, q: torch.Tensor, k: int) -> torch.Tensor:
        sims = q @ self.keys.T
        if k == 1:                  # the nearest slot only (inference): a max, not a sort
            return sims.argmax(1, keepdim=True)
        return sims.topk(min(k, self.keys.shape[0]), dim=1).indices


class FaissIVF:
    """faiss IndexIVFFlat with inner-product metric; slots are the faiss ids, so a memory write
    is remove_ids + add_with_ids (a hash-table direct map makes removal cheap)."""
    name = "ivf"

    def __init__(self, nlist: int = 1024, nprobe: int = 16, train_size: int = 65536, seed: int = 0,
                 threads: int | None = None):
        import faiss
        self.faiss = faiss
        self.nlist, self.nprobe, self.train_size, self.seed = nlist, nprobe, train_size, seed
        if threads is not None:
            faiss.omp_set_num_threads(threads)
        self.index = None

    def build(self, keys: torch.Tensor):
        faiss = self.faiss
        x = np.ascontiguousarray(keys.detach().float().cpu().numpy())
        n, d = x.shape
        nlist = max(1, min(self.nlist, n // 39))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(self.seed)
        sample = x[rng.choice(n, size=min(n, self.train_size), replace=False)] if n > self.train_size else x
        index.cp.seed = self.seed
        index.train(sample)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        index.add_with_ids(x, np.arange(n, dtype=np.int64))
        index.nprobe = min(self.nprobe, nlist)
        self.index, self._quantizer = index, quantizer
        self.size = n

    def update(self, slots: torch.Tensor, keys: torch.Tensor):
        slots = slots.detach().cpu().numpy().astype(np.int64)
        keys = keys.detach().float().cpu().numpy()
        # a slot written twice in one batch keeps its last key (as the memory's own scatter does)
        last = {int(s): i for i, s in enumerate(slots)}
        ids = np.fromiter(last.keys(), dtype=np.int64)
        rows = np.ascontiguousarray(keys[list(last.values())])
        self.index.remove_ids(self.faiss.IDSelectorArray(len(ids), self.faiss.swig_ptr(ids)))
        self.index.add_with_ids(rows, ids)

    def search(self, q: torch.Tensor, k: int) -> torch.Tensor:
        qq = np.ascontiguousarray(q.detach().float().cpu().numpy())
        _, ids = self.index.search(qq, min(k, self.size))
        ids = torch.from_numpy(ids).to(q.device)
        # fewer than k found (tiny probed lists): pad with the best hit, which is harmless downstream
        missing = ids < 0
        if missing.any():
            ids = torch.where(missing, ids[:, :1].clamp_min(0).expand_as(ids), ids)
        return ids


def make_backend(name: str, **kw):
    if name == "exact":
        return ExactSearch()
    if name == "ivf":
        return FaissIVF(**kw)
    raise ValueError(f"unknown nearest-neighbour backend {name!r} (exact | ivf)")


def recall_at_k(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """Mean over queries of |approx top-k ∩ exact top-k| / k."""
    hits = [len(set(a.tolist()) & set(e.tolist())) / e.numel() for a, e in zip(approx, exact)]
    return float(np.mean(hits))
