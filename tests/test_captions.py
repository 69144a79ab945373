"""Caption datasets (loaders, vocabulary, proxy) and Show and Tell's decoders."""
import json

import numpy as np
import pytest
import torch

from datasets import DataError, DataMissing
from datasets.caption_proxy import PROXY_SCENES, caption_proxy, scene_captions
from datasets.captions import ImageFiles, Vocab, caption_tokens, load_karpathy, load_pascal_sentences, load_sbu
from reference_impls.show_and_tell import Ensemble, ShowAndTell, beam_search, greedy, sequence_logprob

TINY = dict(encoder="resnet10t", encoder_kwargs=dict(channels=(8, 8, 16, 16), stem_width=8), embed=16, hidden=24, dropout=0.0)


# ----------------------------------------------------------------------------- vocabulary and preprocessing
def test_caption_tokens_match_evaluation():
    assert caption_tokens("A Dog's toy, on the GRASS.") == ["a", "dog", "'s", "toy", "on", "the", "grass"]


def test_vocab_min_count_unk_roundtrip():
    v = Vocab.build([["a", "dog"], ["a", "cat"], ["a", "dog"]], min_count=2)
    assert v.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"] and set(v.itos[4:]) == {"a", "dog"}
    ids = v.encode(["a", "cat", "dog"])
    assert ids[0] == v.start and ids[-1] == v.end and ids[2] == v.unk
    assert v.decode(ids) == "a <unk> dog"
    assert v.decode([v.stoi["a"], v.end, v.stoi["dog"]]) == "a"
    assert Vocab.from_state_dict(v.state_dict()).itos == v.itos


# ----------------------------------------------------------------------------- proxy
def test_proxy_deterministic_and_five_distinct_captions():
    a, b = caption_proxy(12, seed=3), caption_proxy(12, seed=3)
    assert torch.equal(a["images"], b["images"]) and a["captions"] == b["captions"]
    assert not torch.equal(a["images"], caption_proxy(12, seed=4)["images"])
    for caps in a["captions"]:
        assert len(caps) == 5 and len(set(caps)) >= 3
    assert a["images"].shape == (12, 3, PROXY_SCENES.size, PROXY_SCENES.size)


def test_proxy_captions_describe_the_scene():
    desc = {"objects": [{"name": "circle", "color": "red", "size": "large", "horizontal": "left", "vertical": "top"}],
            "relations": []}
    caps = scene_captions(desc, np.random.default_rng(0))
    assert all("red" in c for c in caps)
    assert all(any(w in c for w in ("circle", "disc")) for c in caps)


def test_compositional_split_holds_pairs_out_of_training():
    """Train scenes never show a held-out pair of objects; every test scene shows one; the objects of
    the held-out pairs all occur in training (with other partners)."""
    from itertools import combinations

    from datasets.caption_proxy import held_out_pair, is_held_out, object_id
    tr, te = caption_proxy(300, seed=5, combos="train"), caption_proxy(40, seed=6, combos="test")

    def ids(objs):
        return [object_id({"color": c, "name": n}) for c, n in objs]
    assert not any(held_out_pair(a, b) for objs in tr["objects"] for a, b in combinations(ids(objs), 2))
    assert all(any(held_out_pair(a, b) for a, b in combinations(ids(objs), 2)) for objs in te["objects"])
    seen = {i for objs in tr["objects"] for i in ids(objs)}
    assert {i for objs in te["objects"] for i in ids(objs)} <= seen
    assert is_held_out({"objects": [{"color": c, "name": n} for c, n in te["objects"][0]]})
    # deterministic, and the unfiltered stream is unchanged by the split
    assert caption_proxy(40, seed=6, combos="test")["captions"] == te["captions"]
    assert caption_proxy(5, seed=5)["captions"][0] == caption_proxy(5, seed=5, combos=None)["captions"][0]


def test_held_out_pairs_are_a_quarter_and_every_type_keeps_partners():
    from itertools import combinations

    from datasets.caption_proxy import held_out_pair
    from datasets.synthetic.scenes import COLOR_NAMES
    types = [c * 8 + s for c in range(len(COLOR_NAMES)) for s in range(PROXY_SCENES.n_classes)]
    held = [held_out_pair(a, b) for a, b in combinations(types, 2)]
    assert 0.2 < sum(held) / len(held) < 0.3
    for t in types:
        partners = [held_out_pair(t, u) for u in types if u != t]
        assert 0 < sum(partners) < len(partners) / 2
        assert not held_out_pair(t, t)


def test_named_objects_and_both_named():
    from datasets.caption_proxy import named_objects
    from reference_impls.show_and_tell import both_objects_named
    assert named_objects("a big red disc left of a blue plus") == {("red", "circle"), ("blue", "cross")}
    assert named_objects("a red and a blue square") == {("blue", "square")}
    objs = [[["red", "circle"], ["blue", "cross"]], [["green", "square"], ["red", "triangle"]]]
    assert both_objects_named(["a red circle and a blue cross", "a green box"], objs) == 50.0
    assert both_objects_named(["a blue cross", "a red triangle over a big green box"], objs) == 50.0


def test_nearest_neighbour_caption_copies_the_consensus_caption_of_the_nearest_image():
    from reference_impls.show_and_tell import nearest_neighbour_captions

    class Flat(torch.nn.Module):
        def features(self, x):
            return x.float().flatten(1)
    train = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    caps = [["a red circle"], ["a blue box", "a big blue box", "one blue box on the left", "a green cross"],
            ["a plus"]]
    test = torch.tensor([[0.1, 0.9, 0.2], [0.0, 0.2, 3.0]])   # cosine: nearest are train 1 and train 2
    assert nearest_neighbour_captions(Flat(), train, caps, test) == ["a big blue box", "a plus"]


def test_most_frequent_caption():
    from reference_impls.show_and_tell import most_frequent_caption
    caps = [["A red circle.", "a blue box"], ["a red circle", "a green cross"], ["a blue box", "a red  circle"]]
    assert most_frequent_caption(caps) == "a red circle"          # tokenized before counting: 3 vs 2
    assert most_frequent_caption([["b c", "a b"]]) == "a b"         # ties: alphabetically first


# ----------------------------------------------------------------------------- loaders on tiny fake layouts
def _karpathy_root(tmp_path, entry):
    (tmp_path / "flickr8k/images").mkdir(parents=True)
    (tmp_path / "flickr8k/dataset_flickr8k.json").write_text(json.dumps({"images": [entry]}))
    return tmp_path


def test_karpathy_loader(tmp_path):
    root = _karpathy_root(tmp_path, {"filename": "1.jpg", "split": "test", "imgid": 0,
                                     "sentences": [{"raw": "A dog."}, {"raw": "A brown dog"}]})
    (root / "flickr8k/images/1.jpg").write_bytes(b"")
    items = load_karpathy(root, "flickr8k", "test")
    assert items[0].captions == ["A dog.", "A brown dog"] and items[0].image.name == "1.jpg"
    with pytest.raises(DataError, match="no images in split 'val'"):
        load_karpathy(root, "flickr8k", "val")



def test_karpathy_reads_the_released_image_folders(tmp_path):
    """Flickr30k untars to flickr30k-images/, Flickr8k unzips to Flicker8k_Dataset/: both are read as is."""
    for name, folder in (("flickr30k", "flickr30k-images"), ("flickr8k", "Flicker8k_Dataset")):
        (tmp_path / name / folder).mkdir(parents=True)
        (tmp_path / name / folder / "1.jpg").write_bytes(b"")
        (tmp_path / name / f"dataset_{name}.json").write_text(json.dumps(
            {"images": [{"filename": "1.jpg", "split": "test", "sentences": [{"raw": "a dog"}]}]}))
        assert load_karpathy(tmp_path, name, "test")[0].image == tmp_path / name / folder / "1.jpg"

def test_karpathy_missing_and_malformed(tmp_path):
    with pytest.raises(DataMissing, match="dataset_coco.json"):
        load_karpathy(tmp_path, "coco")
    with pytest.raises(DataMissing, match="no data root"):
        load_karpathy(None, "coco")
    root = _karpathy_root(tmp_path, {"filename": "1.jpg", "split": "test", "sentences": [{"raw": " . "}]})
    with pytest.raises(DataError, match="empty caption"):
        load_karpathy(root, "flickr8k", "test")
    (root / "flickr8k/dataset_flickr8k.json").write_bytes(b'{"images": [\xff]}')
    with pytest.raises(DataError, match="not UTF-8"):
        load_karpathy(root, "flickr8k", "test")


def test_karpathy_images_absent_is_missing(tmp_path):
    root = _karpathy_root(tmp_path, {"filename": "1.jpg", "split": "test", "sentences": [{"raw": "a dog"}]})
    with pytest.raises(DataMissing, match="1.jpg"):
        load_karpathy(root, "flickr8k", "test")


def test_pascal_and_sbu_loaders(tmp_path):
    (tmp_path / "pascal-sentences/sentence/cat").mkdir(parents=True)
    (tmp_path / "pascal-sentences/sentence/cat/2008_1.txt").write_text("A cat.\nA black cat sits.\n")
    items = load_pascal_sentences(tmp_path)
    assert items[0].captions == ["A cat.", "A black cat sits."] and items[0].image.parts[-3:] == ("dataset", "cat", "2008_1.jpg")
    (tmp_path / "sbu/images").mkdir(parents=True)
    (tmp_path / "sbu/SBU_captioned_photo_dataset_captions.txt").write_text("\n".join(f"photo {i}" for i in range(5)))
    for i in (0, 1, 3, 4):
        (tmp_path / f"sbu/images/{i}.jpg").write_bytes(b"")
    train, test = load_sbu(tmp_path, n_test=1)
    assert [t.image_id for t in train] == [0, 1, 3] and test[0].captions == ["photo 4"]


def test_image_files_bad_image(tmp_path):
    from PIL import Image
    Image.new("RGB", (10, 6), (255, 0, 0)).save(tmp_path / "ok.png")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    f = ImageFiles([tmp_path / "ok.png", tmp_path / "bad.jpg"], size=8)
    assert f[0].shape == (3, 8, 8) and f[0][0].min() == 255
    with pytest.raises(DataError, match="bad.jpg"):
        f[torch.tensor([0, 1])]


# ----------------------------------------------------------------------------- decoders
@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    m = ShowAndTell(vocab_size=12, **TINY).eval()
    with torch.no_grad():   # a peaked output layer so that greedy and beam search can disagree
        m.out.weight.mul_(20)
    return m


def _images(n=6, seed=0):
    return torch.randint(0, 255, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_beam_of_one_is_greedy(tiny_model):
    x = _images()
    g, gs = greedy(tiny_model, x, max_len=8)
    b, bs = beam_search(tiny_model, x, beam=1, max_len=8)
    assert g == b and torch.allclose(gs, bs, atol=1e-5)


def test_scores_are_sequence_logprobs_and_beam_not_worse(tiny_model):
    x = _images()
    g, gs = greedy(tiny_model, x, max_len=8)
    b, bs = beam_search(tiny_model, x, beam=4, max_len=8)
    # finished sequences: the returned score is log p(S|I) including <end>
    done_g = [i for i, s in enumerate(g) if len(s) < 8]
    done_b = [i for i, s in enumerate(b) if len(s) < 8]
    if done_g:
        assert torch.allclose(gs[done_g], sequence_logprob(tiny_model, [g[i] for i in done_g], x[done_g]), atol=1e-4)
    if done_b:
        assert torch.allclose(bs[done_b], sequence_logprob(tiny_model, [b[i] for i in done_b], x[done_b]), atol=1e-4)
    assert (bs >= gs - 1e-5).all()


def _brute_force(model, feats, V: int, max_len: int, end: int = 2, start: int = 1):
    """The best sequence per image by exhaustive search: every word sequence of max_len words,
    scored up to and including its first <end> (or all max_len words when it has none)."""
    import itertools
    seqs = torch.tensor(list(itertools.product(range(V), repeat=max_len)))          # (V^L, L)
    best = []
    for i in range(len(feats)):
        state = model.start(feats=feats[i:i + 1].expand(len(seqs), -1))
        words = torch.full((len(seqs),), start, dtype=torch.long)
        total, alive = torch.zeros(len(seqs)), torch.ones(len(seqs), dtype=torch.bool)
        for t in range(max_len):
            logp, state = model.step(words, state)
            words = seqs[:, t]
            total += torch.where(alive, logp.gather(1, words[:, None])[:, 0], torch.zeros(()))
            alive &= words != end
        j = int(total.argmax())
        row = seqs[j].tolist()
        best.append((row[:row.index(end)] if end in row else row, float(total[j])))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_is_exhaustive_search(seed):
    """A beam at least as wide as the number of prefixes returns the brute-force best sequence and
    its log-likelihood; the finished pool keeps an early <end> that open hypotheses outscore for a while."""
    torch.manual_seed(seed)
    V, L = 5, 4
    m = ShowAndTell(vocab_size=V, **TINY).eval()
    with torch.no_grad():   # peaked distributions: short and long sequences, greedy often not optimal
        m.out.weight.mul_(8)
    f = torch.randn(8, m.encoder.num_features, generator=torch.Generator().manual_seed(seed))   # CNN features
    with torch.inference_mode():
        want = _brute_force(m, f, V, L)
        got, scores = beam_search(m, feats=f, beam=V ** (L - 1), max_len=L)
        g, gs = greedy(m, feats=f, max_len=L)
    assert got == [w[0] for w in want]
    assert torch.allclose(scores, torch.tensor([w[1] for w in want]), atol=1e-4)
    assert (scores >= gs - 1e-5).all()


def test_beam_keeps_a_finished_hypothesis_that_open_ones_outscore_for_a_while():
    """Hand-made Markov chain, beam 3. 'c <end>' (p = 0.2) is the most likely sentence. It is
    finished at step two, third of the beam behind 'a a2' (0.45) and 'b b2' (0.35); at step three
    'b b2 z' (0.35), 'a a2 x' (0.23) and 'a a2 y' (0.22) all outscore it, and later every one of
    them falls below it. The pool of finished hypotheses keeps it; a beam whose finished
    hypotheses hold beam slots drops it at step three and returns 'b b2 z <end>' (0.175).
    Greedy decoding returns 'a a2 x <end>' (0.115)."""
    import math
    start, end, a, b, c, a2, b2, x, y, z = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    V = 11
    p = torch.full((V, V), 1e-9)               # p(next word | previous word)
    p[start, a], p[start, b], p[start, c] = 0.45, 0.35, 0.2
    p[a, a2], p[b, b2], p[c, end] = 1.0, 1.0, 1.0
    p[a2, x], p[a2, y], p[b2, z] = 0.51, 0.49, 1.0
    for w in (x, y, z):
        p[w, end], p[w, w] = 0.5, 0.5
    p[0, :] = p[end, :] = p[end, end] = 1.0
    logp_table = torch.log(p / p.sum(-1, keepdim=True))

    class Chain:
        def start(self, images=None, feats=None):
            return torch.zeros(1, len(images), 1)

        def step(self, words, state):
            return logp_table[words], state

    img = torch.zeros(1, 3, 4, 4)
    seqs, scores = beam_search(Chain(), img, beam=3, start=start, end=end, max_len=8)
    assert seqs == [[c]] and abs(scores.item() - math.log(0.2)) < 1e-4
    g, gs = greedy(Chain(), img, start=start, end=end, max_len=8)
    assert g == [[a, a2, x]] and abs(gs.item() - math.log(0.45 * 0.51 * 0.5)) < 1e-4


def test_beam_batched_equals_one_by_one(tiny_model):
    x = _images(5, seed=1)
    b, bs = beam_search(tiny_model, x, beam=3, max_len=8)
    for i in range(5):
        bi, si = beam_search(tiny_model, x[i:i + 1], beam=3, max_len=8)
        assert bi[0] == b[i] and torch.allclose(si, bs[i:i + 1], atol=1e-5)


def test_ensemble_of_one_is_the_model(tiny_model):
    x = _images(3)
    assert beam_search(Ensemble([tiny_model]), x, beam=3, max_len=8)[0] == beam_search(tiny_model, x, beam=3, max_len=8)[0]
    torch.manual_seed(1)
    other = ShowAndTell(vocab_size=12, **TINY).eval()
    caps, _ = beam_search(Ensemble([tiny_model, other]), x, beam=3, max_len=8)
    assert len(caps) == 3


def test_teacher_forcing_shapes_and_loss_ignores_padding(tiny_model):
    from reference_impls.show_and_tell import caption_loss
    caps = torch.tensor([[1, 5, 6, 2, 0, 0], [1, 7, 2, 0, 0, 0]])
    logits = tiny_model(caps, images=_images(2))
    assert logits.shape == (2, 5, 12)
    loss = caption_loss(tiny_model, caps, images=_images(2))
    longer = torch.cat([caps, torch.zeros(2, 3, dtype=torch.long)], 1)
    assert torch.allclose(loss, caption_loss(tiny_model, longer, images=_images(2)), atol=1e-6)
