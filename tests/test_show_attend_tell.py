"""Show, Attend and Tell: the soft-attention decoder, the doubly stochastic penalty, the attention
measure against object masks (hand-made cases), and the shared decoders on the attention model."""
import itertools

import pytest
import torch

from reference_impls.show_and_tell import beam_search, greedy, sequence_logprob
from reference_impls.show_attend_tell import (ShowAttendTell, attention_in_masks, centre_prior,
                                              doubly_stochastic_penalty, object_word_steps, sat_loss)

TINY = dict(encoder="resnet10t", encoder_kwargs=dict(channels=(8, 8, 16, 16), stem_width=8, output_stride=8),
            embed=16, hidden=24, att=12, dropout=0.0)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return ShowAttendTell(vocab_size=7, **TINY).eval()


def test_attention_is_a_distribution_over_the_grid(tiny):
    x = torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)
    caps = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0], [1, 2, 0, 0]])
    logits, alpha = tiny(caps, images=x, return_alpha=True)
    assert logits.shape == (3, 3, 7) and alpha.shape == (3, 3, 16)       # 32x32 at output stride 8: 4x4
    real = caps[:, 1:] != 0                                               # steps before a caption's end
    assert torch.allclose(alpha.sum(-1)[real], torch.ones(int(real.sum()))) and (alpha >= 0).all()
    assert (alpha[~real] == 0).all()                                     # padding steps are not computed


def test_teacher_forcing_skips_the_padding(tiny):
    """A batch of captions of different lengths (padded with 0, in no particular order) gives each
    caption's logits and maps as it alone, unpadded, does; past a caption's end both are 0."""
    feats = torch.randn(3, 16, tiny.encoder.num_features, generator=torch.Generator().manual_seed(2))
    rows = [[1, 6, 2], [1, 4, 5, 3, 2], [1, 3, 2]]
    caps = torch.zeros(3, 5, dtype=torch.long)
    for i, r in enumerate(rows):
        caps[i, :len(r)] = torch.tensor(r)
    logits, alpha = tiny(caps, feats=feats, return_alpha=True)
    for i, r in enumerate(rows):
        one, one_alpha = tiny(torch.tensor([r]), feats=feats[i:i + 1], return_alpha=True)
        n = len(r) - 1
        assert torch.allclose(logits[i, :n], one[0], atol=1e-6) and torch.allclose(alpha[i, :n], one_alpha[0], atol=1e-7)
        assert (logits[i, n:] == 0).all() and (alpha[i, n:] == 0).all()


@pytest.mark.parametrize("cls", ["ShowAndTell", "ShowAttendTell"])
def test_frozen_cnn_stays_in_eval_mode(cls):
    import reference_impls.show_and_tell as st
    model = (st.ShowAndTell if cls == "ShowAndTell" else ShowAttendTell)(vocab_size=7, **{
        k: v for k, v in TINY.items() if cls == "ShowAttendTell" or k != "att"})
    model.set_encoder_trainable(False)
    model.train()
    assert model.training and not model.encoder.training and model.word_embed.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    model.set_encoder_trainable(True)
    model.train()
    assert model.encoder.training and all(p.requires_grad for p in model.encoder.parameters())


def test_doubly_stochastic_penalty_hand_made():
    # two locations, three steps of which the last is padding: sums over real steps (1.5, 0.5) -> 0.25 + 0.25
    alpha = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert doubly_stochastic_penalty(alpha, mask).item() == pytest.approx(0.5)
    # attention that visits every location exactly once over the caption costs nothing
    assert doubly_stochastic_penalty(torch.eye(3)[None], torch.ones(1, 3)).item() == 0


def test_sat_loss_adds_the_penalty_per_word(tiny):
    feats = torch.randn(2, 16, tiny.encoder.num_features)
    caps = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    plain, reg = sat_loss(tiny, caps, feats=feats, alpha_c=0.0), sat_loss(tiny, caps, feats=feats, alpha_c=1.0)
    _, alpha = tiny(caps, feats=feats, return_alpha=True)
    want = doubly_stochastic_penalty(alpha, (caps[:, 1:] != 0).float()) / 5      # 5 words incl. <end>
    assert (reg - plain).item() == pytest.approx(want.item(), rel=1e-5)


def test_decoders_work_on_the_attention_state(tiny):
    """The batch-on-dim-1 state lets the shared beam search reorder annotations with (h, c): beam 1 is
    greedy, batched equals one by one, scores are the teacher-forced log-likelihoods."""
    x = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    g, gs = greedy(tiny, x, max_len=6)
    b1, b1s = beam_search(tiny, x, beam=1, max_len=6)
    assert g == b1 and torch.allclose(gs, b1s, atol=1e-5)
    b, bs = beam_search(tiny, x, beam=3, max_len=6)
    for i in range(4):
        bi, si = beam_search(tiny, x[i:i + 1], beam=3, max_len=6)
        assert bi[0] == b[i] and torch.allclose(si, bs[i:i + 1], atol=1e-5)
    done = [i for i, s in enumerate(b) if len(s) < 6]
    if done:
        assert torch.allclose(bs[done], sequence_logprob(tiny, [b[i] for i in done], x[done]), atol=1e-4)


def test_wide_beam_is_exhaustive_search_with_attention():
    torch.manual_seed(3)
    V, L = 5, 3
    m = ShowAttendTell(vocab_size=V, **TINY).eval()
    with torch.no_grad():
        m.out.weight.mul_(8)
    f = torch.randn(3, 16, m.encoder.num_features)
    seqs = torch.tensor(list(itertools.product(range(V), repeat=L)))
    with torch.inference_mode():
        got, scores = beam_search(m, feats=f, beam=V ** (L - 1), max_len=L)
        for i in range(3):
            state = m.start(feats=f[i:i + 1].expand(len(seqs), -1, -1))
            words = torch.full((len(seqs),), 1, dtype=torch.long)
            total, alive = torch.zeros(len(seqs)), torch.ones(len(seqs), dtype=torch.bool)
            for t in range(L):
                logp, state = m.step(words, state)
                words = seqs[:, t]
                total += torch.where(alive, logp.gather(1, words[:, None])[:, 0], torch.zeros(()))
                alive &= words != 2
            j = int(total.argmax())
            row = seqs[j].tolist()
            assert got[i] == (row[:row.index(2)] if 2 in row else row)
            assert scores[i].item() == pytest.approx(float(total[j]), abs=1e-4)


def test_object_word_steps():
    objs = [["red", "circle"], ["blue", "square"]]
    # "a big red disc left of a blue box": disc (synonym of circle) is word 3, box word 8
    assert object_word_steps("a big red disc left of a blue box", objs, max_len=16) == [(3, 0), (8, 1)]
    assert object_word_steps("a green circle", objs, 16) == []                       # names no object of the scene
    assert object_word_steps("a red circle and a red circle", [["red", "circle"]] * 2, 16) == []   # ambiguous
    assert object_word_steps("a big red circle", objs, max_len=3) == []              # cut at max_len words


class _FixedAttention(torch.nn.Module):
    """A stand-in model whose attention at every step is a given 4x4 map."""

    def __init__(self, grid):
        super().__init__()
        self.grid = grid.flatten()

    def features(self, images):
        return torch.zeros(len(images), len(self.grid), 1)

    def forward(self, captions, feats=None, return_alpha=True):
        n, T = captions.shape
        assert feats is not None and len(feats) == n
        return None, self.grid.expand(n, T - 1, -1)


def test_attention_in_masks_hand_made():
    """A 32x32 scene with object 1 filling the top-left 8x8 cell and object 2 the bottom-right cell;
    attention all on the top-left cell puts 100 % inside 'red circle' and 0 % on the other object."""
    from datasets.captions import Vocab
    masks = torch.zeros(1, 32, 32, dtype=torch.uint8)
    masks[0, :8, :8] = 1
    masks[0, 24:, 24:] = 2
    objects = [[["red", "circle"], ["blue", "square"]]]
    vocab = Vocab(["a", "red", "circle", "blue", "square", "and"])
    grid = torch.zeros(4, 4)
    grid[0, 0] = 1.0
    out = attention_in_masks(_FixedAttention(grid), torch.zeros(1, 3, 32, 32), [["a red circle and a blue square"]],
                             objects, masks, vocab)
    assert out["steps"] == 2
    assert out["attention"] == pytest.approx(50.0)          # 100 % at the circle's step, 0 % at the square's
    assert out["other_object"] == pytest.approx(50.0)       # ... where it sits on the other object
    assert out["uniform"] == pytest.approx(100 * 64 / 1024)
    one = attention_in_masks(_FixedAttention(grid), torch.zeros(1, 3, 32, 32), [["a red circle"]], objects, masks, vocab)
    assert (one["steps"], one["attention"], one["other_object"]) == (1, pytest.approx(100.0), pytest.approx(0.0))
    out = attention_in_masks(_FixedAttention(torch.full((4, 4), 1 / 16)), torch.zeros(1, 3, 32, 32),
                             [["a red circle"]], objects, masks, vocab)
    assert out["attention"] == pytest.approx(out["uniform"])   # a uniform map scores the area fraction


def test_centre_prior():
    g = centre_prior(32)
    assert g.sum().item() == pytest.approx(1.0) and g.shape == (32, 32)
    assert g[15:17, 15:17].min() == g.max() and torch.allclose(g, g.T) and torch.allclose(g, g.flip(0))
