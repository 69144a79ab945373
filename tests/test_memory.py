"""The memory module's loss, temperature and update rules, and its nearest-neighbour backends."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from reference_impls.rare_events import ExactSearch, FaissIVF, Memory, recall_at_k, softmax_temperature


def _memory(keys, vals, age=None, **kw):
    m = Memory(key_dim=keys.shape[1], memory_size=len(keys), vocab_size=64, age_noise=0.0, **kw)
    with torch.no_grad():
        m.query_proj.copy_(torch.eye(keys.shape[1]))        # identity projection: q = normalize(x)
        m.keys.copy_(F.normalize(keys, dim=1))
        m.vals.copy_(vals)
        if age is not None:
            m.age.copy_(age)
    return m


def test_softmax_temperature_rule():
    assert softmax_temperature(256, 0.1) == pytest.approx(math.log(0.2 * 256) / 0.1)
    assert softmax_temperature(4, 0.1) == 1.0                 # log(0.8) < 0 -> the floor of 1


def test_loss_is_margin_triplet():
    keys = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])
    m = _memory(keys, torch.tensor([1, 2, 3, 2]), choose_k=4)
    x = torch.tensor([[1.0, 0.5, 0.0]])
    q = F.normalize(x, dim=1)[0]
    sims = F.normalize(keys, dim=1) @ q
    pred, loss = m.query(x, torch.tensor([2]), use_recent_idx=False, update=False)
    pos, neg = max(sims[1], sims[3]), max(sims[0], sims[2])
    assert float(loss.detach()) == pytest.approx(float(F.relu(neg - pos + 0.1) - 0.1), abs=1e-6)
    assert int(pred) == 2                                    # nearest is slot 3 (value 2)


def test_correct_answer_averages_key_and_resets_age():
    keys = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 0.0]])
    m = _memory(keys, torch.tensor([5, 6, 7]), age=torch.tensor([3.0, 4.0, 9.0]), choose_k=3)
    x = torch.tensor([[1.0, -0.2]])
    old = m.keys[0].clone()
    m.query(x, torch.tensor([5]), use_recent_idx=False)
    assert torch.allclose(m.keys[0], F.normalize(old + F.normalize(x, dim=1)[0], dim=0))
    assert m.age.tolist() == [0.0, 5.0, 10.0]
    assert m.vals.tolist() == [5, 6, 7]


def test_wrong_answer_writes_the_oldest_slot():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    m = _memory(keys, torch.tensor([5, 6, 7]), age=torch.tensor([3.0, 40.0, 9.0]), choose_k=3)
    x = torch.tensor([[1.0, 0.1]])                           # nearest is slot 0 (value 5): wrong for label 8
    m.query(x, torch.tensor([8]), use_recent_idx=False)
    assert m.vals.tolist() == [5, 8, 7]
    assert torch.allclose(m.keys[1], F.normalize(x, dim=1)[0])
    assert m.age.tolist() == [4.0, 0.0, 10.0]


def test_gradient_flows_to_query_not_memory():
    torch.manual_seed(0)
    m = Memory(key_dim=8, memory_size=32, vocab_size=16, choose_k=8)
    m.keys.copy_(F.normalize(torch.randn(32, 8), dim=1))
    m.vals.copy_(torch.arange(32) % 4)
    x = torch.randn(5, 8, requires_grad=True)
    _, loss = m.query(x, torch.tensor([0, 1, 2, 3, 0]))
    loss.backward()
    assert x.grad is not None and m.query_proj.grad is not None
    assert not m.keys.requires_grad


def _clustered(n, d=32, clusters=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = F.normalize(torch.randn(clusters, d, generator=g), dim=1)
    return F.normalize(centers[torch.randint(clusters, (n,), generator=g)] + 0.3 * torch.randn(n, d, generator=g) / d ** 0.5, dim=1)


def test_ivf_agrees_with_exact_and_follows_writes():
    keys = _clustered(20000)
    q = _clustered(64, seed=1)
    exact, ivf = ExactSearch(), FaissIVF(nlist=64, nprobe=16, threads=1)
    exact.build(keys), ivf.build(keys)
    assert recall_at_k(ivf.search(q, 16), exact.search(q, 16)) >= 0.95
    # a write moves slot 7 to exactly the query: both backends must return it first
    new = q[:1].clone()
    keys[7] = new[0]
    ivf.update(torch.tensor([7]), new)
    assert int(exact.search(new, 1)[0, 0]) == 7 and int(ivf.search(new, 1)[0, 0]) == 7


def test_memory_with_ivf_backend_answers_like_exact():
    torch.manual_seed(0)
    m = Memory(key_dim=32, memory_size=4096, vocab_size=64, choose_k=16)
    m.keys.copy_(_clustered(4096))
    m.vals.copy_(torch.arange(4096) % 50)
    x = torch.randn(32, 32)
    exact_pred, _ = m.query(x)
    m.use_backend("ivf", nlist=32, nprobe=32, threads=1)     # probing every list is exact
    ivf_pred, _ = m.query(x)
    assert torch.equal(exact_pred, ivf_pred)


def _half_full(seed, size=64, d=8, classes=6):
    """A memory with half its slots written (clustered keys, values 1..classes) and half empty."""
    g = torch.Generator().manual_seed(seed)
    m = Memory(key_dim=d, memory_size=size, vocab_size=16, choose_k=8, age_noise=8.0)
    with torch.no_grad():
        m.query_proj.copy_(torch.eye(d) + 0.1 * torch.randn(d, d, generator=g))
        m.keys[: size // 2] = _clustered(size // 2, d=d, clusters=classes, seed=seed)
        m.vals[: size // 2] = torch.randint(1, classes + 1, (size // 2,), generator=g)
        m.age.copy_(torch.randint(0, 20, (size,), generator=g).float())
    return m, g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inference_path_answers_and_writes_like_the_pool(seed):
    """loss=False searches one neighbour instead of the k-nearest pool: over a stream of writes
    (right and wrong answers, empty slots) its answers and the memory it leaves are the pool's."""
    pool, g = _half_full(seed)
    near = copy.deepcopy(pool)
    for step in range(40):
        x = torch.randn(5, 8, generator=g)
        labels = torch.randint(1, 7, (5,), generator=g)
        torch.manual_seed(step)                          # the age noise: the same draws on both paths
        p_pool, loss = pool.query(x, labels, use_recent_idx=False)
        torch.manual_seed(step)
        p_near, none = near.query(x, labels, use_recent_idx=False, loss=False)
        assert loss is not None and none is None
        assert torch.equal(p_pool, p_near)
        for k in ("keys", "vals", "age"):
            assert torch.allclose(getattr(pool, k), getattr(near, k), atol=1e-6), (step, k)
    assert bool((pool.vals > 0).all())                   # the stream filled every slot on the way
    assert torch.equal(pool.query(x)[0], near.query(x, loss=False)[0])


def test_inference_path_falls_back_when_the_right_answer_is_dissimilar():
    """A right answer at similarity <= 0: the pool's best positive (max of sims * hints) is then a
    slot of another value at similarity 0 or a negative one, not the nearest slot; the inference
    path must write what the pool writes."""
    keys = torch.tensor([[-1.0, 0.2], [-1.0, -0.5], [-0.2, -1.0]])
    vals, age = torch.tensor([5, 6, 7]), torch.tensor([3.0, 4.0, 9.0])
    x = torch.tensor([[1.0, 0.0]])                           # every key points away from the query
    pool, near = _memory(keys, vals, age, choose_k=3), _memory(keys, vals, age, choose_k=3)
    nearest = int((F.normalize(keys, dim=1) @ F.normalize(x, dim=1)[0]).argmax())
    label = torch.tensor([int(vals[nearest])])               # the nearest slot's value: a right answer
    pool.query(x, label, use_recent_idx=False)
    near.query(x, label, use_recent_idx=False, loss=False)
    assert not torch.allclose(pool.keys, _memory(keys, vals, age).keys)   # something was written
    for k in ("keys", "vals", "age"):
        assert torch.allclose(getattr(pool, k), getattr(near, k)), k


def test_restore_refiles_changed_slots_without_retraining_the_index(monkeypatch):
    """Memory.restore with a faiss IVF backend: the slots written since the snapshot go back into
    the index (searches equal those before the writes), and the index is not trained again."""
    torch.manual_seed(0)
    m = Memory(key_dim=32, memory_size=4096, vocab_size=64, choose_k=16)
    m.keys.copy_(_clustered(4096))
    m.vals.copy_(torch.arange(4096) % 50 + 1)
    m.use_backend("ivf", nlist=32, nprobe=4, threads=1)
    x = torch.randn(32, 32)
    q = m.normalize_query(x).detach()
    before = m.backend.search(q, 16)
    state = m.snapshot()
    builds = []
    monkeypatch.setattr(FaissIVF, "build", lambda self, keys: builds.append(1))
    m.write(x, torch.arange(32) % 50 + 1)                    # right or wrong: 32 slots change
    assert not torch.equal(m.backend.search(q, 16), before)
    m.restore(state)
    assert builds == []
    assert torch.equal(m.keys, state["keys"]) and torch.equal(m.backend.search(q, 16), before)


def test_labels_outside_vocab_are_rejected():
    m = Memory(key_dim=4, memory_size=8, vocab_size=10)
    with pytest.raises(ValueError, match="vocab_size"):
        m.query(torch.randn(2, 4), torch.tensor([1, 10]))


# ----------------------------------------------------------------------------- training: memory resets
def _tiny_training(reset: str, monkeypatch):
    """Train a tiny MemoryNet for 3 batches of 2 episodes x 4 steps on random 'characters' and
    record, for every memory query made by the training loop, whether the memory was empty then."""
    from datasets.omniglot import Characters
    from reference_impls.rare_events import build_model, train
    cfg = dict(ch1=2, ch2=2, key_dim=8, memory_size=64, choose_k=8, alpha=0.1, age_noise=8.0, keep_prob=1.0,
               lr=1e-3, adam_eps=1e-4, clip=5.0, batch=2, episode_width=2, episode_length=4,
               episodes_per_epoch=3, epochs=1, image_size=8, memory_reset=reset)
    torch.manual_seed(0)
    chars = Characters(torch.rand(6, 4, 8, 8), [f"c{i}" for i in range(6)])
    model = build_model(cfg)
    seen = []
    query = model.memory.query

    def spy(x, labels=None, **kw):
        seen.append((bool((model.memory.keys == 0).all()), bool((model.memory.recent_idx == 0).all())))
        return query(x, labels, **kw)

    monkeypatch.setattr(model.memory, "query", spy)
    history = train(model, chars, cfg, seed=0)
    return seen, history


def test_training_clears_memory_per_episode_batch(monkeypatch):
    """The authors' train.py: episode_step(..., clear_memory=True) for every batch of episodes."""
    seen, history = _tiny_training("episode", monkeypatch)
    assert len(seen) == len(history) == 3 * 4
    empty = [keys_empty and recent_empty for keys_empty, recent_empty in seen]
    assert empty == [t % 4 == 0 for t in range(12)]      # empty exactly at the first step of each batch


def test_lifelong_training_never_clears_memory(monkeypatch):
    """memory_reset = "never": the memory (and recent_idx, whose local labels 0..3 then name
    other characters) is carried from one batch of episodes into the next."""
    seen, _ = _tiny_training("never", monkeypatch)
    assert [keys_empty for keys_empty, _ in seen] == [True] + [False] * 11
    assert not seen[4][1]                                # batch 2 starts with batch 1's recent_idx


def test_unknown_memory_reset_is_rejected(monkeypatch):
    with pytest.raises(ValueError, match="memory_reset"):
        _tiny_training("sometimes", monkeypatch)


# ----------------------------------------------------------------------------- life-long helpers
def _two_class_net():
    from reference_impls.rare_events import MemoryNet
    cfg = dict(ch1=2, ch2=2, key_dim=4, memory_size=16, choose_k=4, alpha=0.1, age_noise=0.0, keep_prob=1.0,
               image_size=8)
    net = MemoryNet(cfg).eval()
    with torch.no_grad():
        net.memory.query_proj.copy_(torch.eye(4))
    return net


def test_stream_into_memory_learns_the_stream_labels():
    from reference_impls.rare_events import stream_into_memory
    net = _two_class_net()
    stream = torch.zeros(2, 3, 4)                        # class 0 near e0, class 1 near e1
    stream[0, :, 0], stream[1, :, 1] = 1.0, 1.0
    stream[:, :, 2] = torch.tensor([0.0, 0.1, -0.1])
    accs = stream_into_memory(net.memory, stream, steps=20, batch=4, generator=torch.Generator().manual_seed(0))
    assert accs[0] == 0.0 and accs[-1] == 1.0           # empty memory first, then every answer right
    pred, _ = net.memory.query(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    assert pred.tolist() == [1, 2]                       # labels are 1 + class index


def test_lifelong_helpers_leave_the_model_memory_untouched():
    from datasets.omniglot import Characters, EpisodeSampler
    from reference_impls.rare_events import lifelong_episodes, lived_memory, recall_after_stream
    net = _two_class_net()
    before = net.memory.snapshot()
    stream = F.normalize(torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(1)), dim=-1)
    g = torch.Generator().manual_seed(0)
    lived = lived_memory(net, stream, steps=5, batch=2, generator=g)
    assert int((lived["vals"] > 0).sum()) > 0           # the stream was written...
    assert all(torch.equal(before[k], v) for k, v in net.memory.snapshot().items())   # ...into a copy
    chars = Characters(torch.rand(4, 3, 8, 8), [f"c{i}" for i in range(4)])
    eps = EpisodeSampler(2, 1, 1).episodes(4, 3, 3, seed=0)
    feats = torch.randn(4, 3, 4, generator=g)
    accs = lifelong_episodes(net, chars, eps, lived, feats=feats)
    out = recall_after_stream(net, feats[:2, 0], feats[:2, 1:], stream, steps=3, batch=2, generator=g, start=lived)
    assert len(accs) == 3 and 0 <= out["recall_same"] <= 1 and out["rare_slots_held"] <= 2
    assert all(torch.equal(before[k], v) for k, v in net.memory.snapshot().items())
