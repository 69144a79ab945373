"""Omniglot with the memory module: the official LeNet-style encoder, episode training (the
memory cleared before every batch of episodes, as the authors' train.py does, or never reset:
the life-long variant), and one-shot evaluation (episodes and Lake's 20 official runs).

    model = build_model(cfg)                                   # MemoryNet: encoder + Memory
    history = train(model, chars, cfg, seed=seed, device=dev, checkpoint=path)   # cfg["memory_reset"]
    accs = evaluate_episodes(model, chars, episodes)          # per-episode accuracies (0..1)
    errs = evaluate_runs(model, runs)                          # % error per official run

The baseline "same encoder without memory" (`SoftmaxNet`) trains the identical encoder with a
softmax classifier over the training classes and does one-shot by cosine nearest neighbour.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from datasets.omniglot import Characters, Episode, Run
from metrics.fewshot import run_error
from reference_impls.common import fit

from .memory import Memory

# the paper's / official code's settings (full tier); the smoke tier narrows the encoder.
# keep_prob is TensorFlow's: the official model.train applies tf.nn.dropout(embeddings, keep_prob=0.3),
# i.e. it drops 70 % of the embedding during training (dropout rate 0.7). memory_reset "episode":
# the official train.py calls episode_step(..., clear_memory=True) for every batch of episodes.
MEMORY_RESETS = ("episode", "never")
PAPER = dict(ch1=64, ch2=128, key_dim=128, memory_size=8192, choose_k=256, alpha=0.1, age_noise=8.0,
             keep_prob=0.3, lr=1e-4, adam_eps=1e-4, clip=5.0, batch=16, episode_width=5, episode_length=30,
             episodes_per_epoch=100, epochs=200, image_size=28, memory_reset="episode")


class Encoder(nn.Module):
    """The official LeNet: two blocks of (3x3 conv, ReLU) x2 + 2x2 max-pool, then a linear layer."""

    def __init__(self, ch1: int = 64, ch2: int = 128, out_dim: int = 128, image_size: int = 28, norm: bool = False):
        super().__init__()
        self.ch1, self.ch2, self.norm = ch1, ch2, norm
        bn = (lambda c: nn.BatchNorm2d(c)) if norm else (lambda c: nn.Identity())
        self.features = nn.Sequential(
            nn.Conv2d(1, ch1, 3, padding=1), bn(ch1), nn.ReLU(), nn.Conv2d(ch1, ch1, 3, padding=1), bn(ch1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(ch1, ch2, 3, padding=1), bn(ch2), nn.ReLU(), nn.Conv2d(ch2, ch2, 3, padding=1), bn(ch2), nn.ReLU(),
            nn.MaxPool2d(2))
        self.fc = nn.Linear(ch2 * (image_size // 4) ** 2, out_dim)
        for m in self.modules():  # official init: truncated normal(0.1) weights, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.1, a=-0.2, b=0.2)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        if x.dim() == 3:
            x = x[:, None]
        return self.fc(self.features(x).flatten(1))


class MemoryNet(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.encoder = Encoder(cfg["ch1"], cfg["ch2"], cfg["key_dim"], cfg["image_size"], cfg.get("norm", False))
        self.memory = Memory(cfg["key_dim"], cfg["memory_size"], choose_k=cfg["choose_k"],
                             alpha=cfg["alpha"], age_noise=cfg["age_noise"])
        self.keep_prob = cfg["keep_prob"]

    def forward(self, x, labels=None, **kw):
        h = self.encoder(x)
        if self.training and self.keep_prob < 1:
            h = F.dropout(h, 1 - self.keep_prob)          # keep_prob 0.3 -> dropout rate 0.7
        return self.memory.query(h, labels, **kw)


class SoftmaxNet(nn.Module):
    """The same encoder trained as a plain classifier (no memory)."""

    def __init__(self, cfg: dict, num_classes: int):
        super().__init__()
        self.encoder = Encoder(cfg["ch1"], cfg["ch2"], cfg["key_dim"], cfg["image_size"], cfg.get("norm", False))
        self.head = nn.Linear(cfg["key_dim"], num_classes)
        self.keep_prob = cfg["keep_prob"]

    def forward(self, x):
        h = self.encoder(x)
        if self.training and self.keep_prob < 1:
            h = F.dropout(h, 1 - self.keep_prob)
        return self.head(F.relu(h))


def build_model(cfg: dict) -> MemoryNet:
    return MemoryNet(cfg)


# ----------------------------------------------------------------------------- episode data
def episode_steps(chars: Characters, cfg: dict, generator: torch.Generator) -> list:
    """One batch of `batch` parallel episodes (official sample_episode_batch): each episode
    shows `episode_width` classes `episode_length / width` times, every class once before any
    class a second time; labels are class-in-episode + width * episode-in-batch. Returns
    `episode_length` steps of (images [batch, H, W], labels [batch])."""
    B, W, L = cfg["batch"], cfg["episode_width"], cfg["episode_length"]
    C, D = chars.images.shape[:2]
    xs = torch.empty(L, B, dtype=torch.long)
    cs = torch.empty(L, B, dtype=torch.long)
    ys = torch.empty(L, B, dtype=torch.long)
    for b in range(B):
        classes = torch.randperm(C, generator=generator)[:W]
        rem = L % W
        counts = [L // W + (1 if i >= W - rem else 0) for i in range(W)]
        items = []
        for i, (c, n) in enumerate(zip(classes.tolist(), counts)):
            drawers = torch.randperm(D, generator=generator)[:n].tolist()
            items += [(c, d, i, shown) for shown, d in enumerate(drawers)]
        perm = torch.randperm(len(items), generator=generator).tolist()
        items = sorted((items[p] for p in perm), key=lambda e: e[3])   # stable: shuffled within a showing
        for t, (c, d, i, _) in enumerate(items):
            cs[t, b], xs[t, b], ys[t, b] = c, d, i + b * W
    return [(chars.images[cs[t], xs[t]], ys[t]) for t in range(L)]


def train(model: MemoryNet, chars: Characters, cfg: dict, *, seed: int, device="cpu", checkpoint=None) -> list[float]:
    """Official training: one Adam step per episode step. cfg["memory_reset"] = "episode" (the
    authors' train.py: episode_step(..., clear_memory=True), so the memory is cleared before every
    batch of episodes, whose labels 0..batch*width-1 are local to it) or "never" (life-long: the
    memory is carried across steps and episode batches; the local labels then name different
    characters in different batches, and recent_idx[y] can force a stale slot in as the positive)."""
    reset = cfg.get("memory_reset", "episode")
    if reset not in MEMORY_RESETS:
        raise ValueError(f"memory_reset must be one of {MEMORY_RESETS}, got {reset!r}")
    opt = torch.optim.Adam([p for p in model.parameters()], lr=cfg["lr"], eps=cfg["adam_eps"])

    def data(epoch):
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        return [(x, y, t == 0) for _ in range(cfg["episodes_per_epoch"])
                for t, (x, y) in enumerate(episode_steps(chars, cfg, g))]

    def step(m, batch):
        x, y, first = batch
        if first and reset == "episode":
            m.memory.clear()
        _, loss = m(x, y)
        return loss

    return fit(model, step, data, epochs=cfg["epochs"], optimizer=opt, device=device, checkpoint=checkpoint,
               clip_grad=cfg["clip"], desc="rare-events memory")


def train_softmax(model: SoftmaxNet, chars: Characters, cfg: dict, *, seed: int, steps: int, device="cpu",
                  checkpoint=None) -> list[float]:
    """The no-memory baseline: the same number of Adam steps of `batch` images each."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], eps=cfg["adam_eps"])
    C, D = chars.images.shape[:2]
    per_epoch = cfg["episodes_per_epoch"] * cfg["episode_length"]
    epochs = max(1, steps // per_epoch)

    def data(epoch):
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        c = torch.randint(C, (per_epoch, cfg["batch"]), generator=g)
        d = torch.randint(D, (per_epoch, cfg["batch"]), generator=g)
        return [(chars.images[c[i], d[i]], c[i]) for i in range(per_epoch)]

    def step(m, batch):
        x, y = batch
        return F.cross_entropy(m(x), y)

    return fit(model, step, data, epochs=epochs, optimizer=opt, device=device, checkpoint=checkpoint,
               clip_grad=cfg["clip"], desc="softmax baseline")


# ----------------------------------------------------------------------------- evaluation
@torch.inference_mode()
def embed(encoder: nn.Module, images: torch.Tensor, device="cpu", batch: int = 128) -> torch.Tensor:
    """Encoder outputs for images [..., H, W] -> [..., key_dim] (eval mode). Batches of 128: on one
    CPU thread about twice as fast as 1,024 (the activations stay in cache), same numbers."""
    encoder.eval()
    flat = images.reshape(-1, *images.shape[-2:])
    out = torch.cat([encoder(flat[i:i + batch].to(device)).float().cpu() for i in range(0, len(flat), batch)])
    return out.reshape(*images.shape[:-2], -1)


def _episode_tensors(feats: torch.Tensor, ep: Episode):
    """(support [K, N, d] in presentation order, query [N*Q, d], query labels 0..N-1)."""
    c = ep.classes[:, None]
    support = feats[c, ep.support].transpose(0, 1)          # shot-major: every class once, then again
    query = feats[c, ep.query].reshape(-1, feats.shape[-1])
    qlab = torch.arange(len(ep.classes)).repeat_interleave(ep.query.shape[1])
    return support, query, qlab


@torch.inference_mode()
def memory_episode(memory: Memory, support, query, label_base: int = 1) -> torch.Tensor:
    """Write the support set through the update rule (one batch per shot), then read the
    queries without writing. Labels are label_base + class index (label_base >= 1 keeps
    never-written slots, value 0, from counting as an answer)."""
    n = support.shape[1]
    labels = torch.arange(n, device=support.device) + label_base
    for shot in support:
        memory.query(shot, labels, use_recent_idx=False, loss=False)
    pred, _ = memory.query(query)
    return pred - label_base


@torch.inference_mode()
def evaluate_episodes(model: MemoryNet, chars: Characters, episodes: list[Episode], *, reset: bool = True,
                      device="cpu", feats: torch.Tensor | None = None) -> list[float]:
    """Per-episode accuracy of the memory module. reset=True clears the memory before each
    episode (the paper's one-shot protocol); reset=False keeps the trained memory and lets
    every episode's writes stay (life-long), with fresh labels per episode so stale memories
    are never right by accident. The trained memory is restored afterwards."""
    model.eval()
    feats = embed(model.encoder, chars.images, device) if feats is None else feats
    mem = model.memory
    saved = mem.snapshot()
    accs = []
    try:
        base = 1 if reset else 1 + int(mem.vals.max())
        for i, ep in enumerate(episodes):
            if reset:
                mem.clear()
            support, query, qlab = _episode_tensors(feats.to(device), ep)
            offset = 1 if reset else base + i * len(ep.classes)
            pred = memory_episode(mem, support, query, label_base=offset).cpu()
            accs.append(float((pred == qlab).float().mean()))
    finally:
        mem.restore(saved)
    return accs


@torch.inference_mode()
def episode_shot_accuracy(model: MemoryNet, chars: Characters, cfg: dict, batches: int, seed: int,
                          device="cpu") -> dict[int, float]:
    """The authors' validation (train.py; the README sanity run): `batches` batches of `batch`
    episodes (`episode_width` classes, `episode_length` steps, as in training) from `chars`; the
    memory is cleared before every batch and updated as the episodes run (each step is queried with
    its labels, then written); a step's answer counts toward shot s when its class was shown s times
    before in its episode. Returns {s: accuracy as a fraction}; s = 1 is the README's "1-shot".
    Labels are shifted by one so that an empty slot (value 0) never answers right. The model's
    memory is restored afterwards."""
    model.eval()
    mem = model.memory
    saved = mem.snapshot()
    hits: dict[int, int] = {}
    counts: dict[int, int] = {}
    g = torch.Generator().manual_seed(seed)
    try:
        for _ in range(batches):
            mem.clear()
            seen: dict[int, int] = {}
            for x, y in episode_steps(chars, cfg, g):
                labels = (y + 1).to(device)
                pred, _ = model(x.to(device), labels)
                for lab, ok in zip(labels.tolist(), (pred == labels).tolist()):
                    s = seen.get(lab, 0)
                    seen[lab] = s + 1
                    hits[s] = hits.get(s, 0) + int(ok)
                    counts[s] = counts.get(s, 0) + 1
    finally:
        mem.restore(saved)
    return {s: hits[s] / counts[s] for s in sorted(counts)}


def nn_episodes(feats: torch.Tensor, episodes: list[Episode], metric: str = "cosine") -> list[float]:
    """1-nearest-neighbour over the support set (cosine on features, or L2 on pixels)."""
    accs = []
    for ep in episodes:
        support, query, qlab = _episode_tensors(feats, ep)
        s = support.reshape(-1, support.shape[-1])
        slab = torch.arange(support.shape[1]).repeat(support.shape[0])
        if metric == "cosine":
            score = F.normalize(query, dim=1) @ F.normalize(s, dim=1).T
        else:
            score = -torch.cdist(query, s)
        accs.append(float((slab[score.argmax(1)] == qlab).float().mean()))
    return accs


@torch.inference_mode()
def evaluate_runs(model: MemoryNet, runs: list[Run], device="cpu") -> list[float]:
    """% error on each official run: the 20 training images are written to a cleared memory,
    each test image reads it; a test item's score for a class is its best similarity to a
    slot holding that class (the memory's nearest-neighbour answer), scored by run_error."""
    model.eval()
    mem = model.memory
    saved = mem.snapshot()
    errors = []
    try:
        for run in runs:
            mem.clear()
            tr = embed(model.encoder, run.train_images, device).to(device)
            te = embed(model.encoder, run.test_images, device).to(device)
            memory_episode(mem, tr[None], te[:1])
            q = mem.normalize_query(te)
            sims = q @ mem.keys.T
            labels = torch.arange(len(run.train_files), device=device) + 1
            held = mem.vals[None, :] == labels[:, None]                     # [classes, slots]
            score = torch.where(held[None], sims[:, None, :], torch.tensor(-2.0, device=device)).amax(-1)
            errors.append(run_error(score.cpu().numpy(), run.test_files, run.train_files, run.answers, kind="score"))
    finally:
        mem.restore(saved)
    return errors


def pixel_runs(runs: list[Run]) -> list[float]:
    """Pixel nearest-neighbour baseline on the official runs (L2 on 28x28 ink images)."""
    return [run_error(torch.cdist(r.test_images.flatten(1), r.train_images.flatten(1)).numpy(),
                      r.test_files, r.train_files, r.answers, kind="cost") for r in runs]


# ----------------------------------------------------------------------------- life-long
@torch.no_grad()
def stream_into_memory(memory: Memory, stream_feats: torch.Tensor, steps: int, batch: int,
                       generator: torch.Generator, label_base: int = 1, device="cpu") -> list[float]:
    """Life-long use: `steps` batches of `batch` random drawings from `stream_feats` [C, D, d] are
    queried with their class label (label_base + character index) and written through the update
    rule, the memory never reset. Returns the per-step accuracy of the memory's answers."""
    C, D = stream_feats.shape[:2]
    accs = []
    for _ in range(steps):
        c = torch.randint(C, (batch,), generator=generator)
        d = torch.randint(D, (batch,), generator=generator)
        labels = (c + label_base).to(device)
        pred, _ = memory.query(stream_feats[c, d].to(device), labels, use_recent_idx=False, loss=False)
        accs.append(float((pred == labels).float().mean()))
    return accs


@torch.inference_mode()
def lived_memory(model: MemoryNet, stream_feats: torch.Tensor, steps: int, batch: int,
                 generator: torch.Generator, device="cpu") -> dict:
    """The state of a memory that has lived through `steps` x `batch` training drawings: cleared
    once, then written through the update rule (class labels 1..C), never reset. Returns it as a
    snapshot (for `lifelong_episodes` / `recall_after_stream`); the model's memory is restored."""
    mem = model.memory
    saved = mem.snapshot()
    try:
        mem.clear()
        stream_into_memory(mem, stream_feats, steps, batch, generator, device=device)
        return mem.snapshot()
    finally:
        mem.restore(saved)


@torch.inference_mode()
def lifelong_episodes(model: MemoryNet, chars: Characters, episodes: list[Episode], start: dict,
                      device="cpu", feats: torch.Tensor | None = None) -> list[float]:
    """One-shot episodes in a memory that is never reset: from the memory state `start` (see
    `lived_memory`), every episode's support set is written on top of what is there (fresh
    labels) and its queries read the whole memory, the episodes' writes staying. The model's
    memory is restored afterwards."""
    model.eval()
    mem = model.memory
    saved = mem.snapshot()
    try:
        mem.restore(start)
        return evaluate_episodes(model, chars, episodes, reset=False, device=device, feats=feats)
    finally:
        mem.restore(saved)


@torch.inference_mode()
def recall_after_stream(model: MemoryNet, rare_first: torch.Tensor, rare_later: torch.Tensor,
                        stream_feats: torch.Tensor, steps: int, batch: int, generator: torch.Generator,
                        start: dict | None = None, device="cpu") -> dict:
    """Life-long recall: from the memory state `start` (None: a cleared memory; see
    `lived_memory`), one drawing each of some rare (unseen) characters is written, `steps` steps
    of the training stream follow (class labels 1..C, update rule, never reset), then the rare
    characters are asked for with the same drawing and with *other* drawings.

    rare_first [R, d], rare_later [R, M, d]: encoder features; stream_feats [C, D, d].
    Returns recall_same (the stored drawing itself answered with its rare label),
    recall_other (the other drawings), the rare slots still held, and the stream's accuracy
    over its last quarter."""
    model.eval()
    mem = model.memory
    saved = mem.snapshot()
    try:
        R = len(rare_first)
        C = stream_feats.shape[0]
        mem.clear() if start is None else mem.restore(start)
        rare_labels = torch.arange(R, device=device) + 1 + C            # the stream uses 1..C
        mem.query(rare_first.to(device), rare_labels, use_recent_idx=False, loss=False)
        accs = stream_into_memory(mem, stream_feats, steps, batch, generator, device=device)
        last = accs[-max(1, steps // 4):]
        held = int(torch.isin(mem.vals, rare_labels).sum())
        same, _ = mem.query(rare_first.to(device))                      # the very example seen before
        q = rare_later.to(device)
        other, _ = mem.query(q.reshape(-1, q.shape[-1]))                # other drawings of it
        recall_same = float((same == rare_labels).float().mean())
        recall_other = float((other == rare_labels.repeat_interleave(q.shape[1])).float().mean())
    finally:
        mem.restore(saved)
    return {"recall_same": recall_same, "recall_other": recall_other, "rare_slots_held": held,
            "stream_acc": sum(last) / len(last)}


def mean_key_cosine(model: MemoryNet, feats: torch.Tensor) -> float:
    """Mean pairwise cosine similarity of the memory keys (normalized projected queries) of
    `feats` [..., d]: near 1 means the keys have collapsed onto one direction."""
    with torch.no_grad():
        q = model.memory.normalize_query(feats.reshape(-1, feats.shape[-1]).clone())
        return float((q @ q.T).mean())
