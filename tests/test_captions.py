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
