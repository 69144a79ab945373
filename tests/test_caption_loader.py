"""The full tier's streaming caption loader (datasets.captions.CaptionPairs / caption_loader):
images are decoded by the workers as batches are consumed, shuffled per epoch, distorted per worker."""
import multiprocessing as mp

import numpy as np
import pytest
import torch
from PIL import Image

from datasets.captions import CaptionItem, CaptionPairs, ImageFiles, Vocab, caption_loader

N = 40


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    d = tmp_path_factory.mktemp("caption_images")
    rng = np.random.default_rng(0)
    out = []
    for i in range(N):
        p = d / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(p)
        out.append(CaptionItem(p, [f"a picture number {i % 7}", "another caption"], i))
    return out


@pytest.fixture(scope="module")
def vocab(items):
    return Vocab.build([c.split() for it in items for c in it.captions])


class CountingPairs(CaptionPairs):
    """Counts image decodes across worker processes."""

    def __init__(self, *a, counter=None, **k):
        super().__init__(*a, **k)
        self.counter = counter

    def read(self, i):
        with self.counter.get_lock():
            self.counter.value += 1
        return super().read(i)


@pytest.mark.parametrize("workers", [0, 2])
def test_first_batch_arrives_without_decoding_the_epoch(items, vocab, workers):
    counter = mp.Value("i", 0)
    ds = CountingPairs(items, vocab, size=24, resize=28, counter=counter)
    assert len(ds) == 2 * N and counter.value == 0          # building the data set decodes nothing
    loader = caption_loader(ds, 4, seed=0, workers=workers)
    images, caps = next(iter(loader))
    assert images.shape == (4, 3, 24, 24) and images.dtype == torch.uint8
    assert caps[:, 0].eq(vocab.start).all() and caps.shape[0] == 4
    # at most the batches the workers prefetch (2 per worker) and the one sent to refill the queue
    # when the first arrived were decoded, not the epoch's 80 images
    assert 4 <= counter.value <= (max(1, workers) * 2 + 1) * 4 < len(ds)


def test_two_workers_distort_differently(items, vocab):
    """Every item is the same image: with one seed per worker the first item of worker 0 (batch 0)
    and of worker 1 (batch 1) would be identical; they differ. A seeded loader repeats itself."""
    same = [CaptionItem(items[0].image, ["a picture"], k) for k in range(8)]
    ds = CaptionPairs(same, vocab, size=24, resize=32, every_caption=False)

    def first_two(seed):
        it = iter(caption_loader(ds, 1, seed=seed, workers=2, shuffle=False))
        return next(it)[0], next(it)[0]

    a0, a1 = first_two(0)
    assert not torch.equal(a0, a1)
    b0, b1 = first_two(0)
    assert torch.equal(a0, b0) and torch.equal(a1, b1)


def test_shuffled_per_epoch_and_central_crop_at_test(items, vocab):
    ds = CaptionPairs(items, vocab, size=24, resize=28, every_caption=False, train=False)
    loader = caption_loader(ds, N, seed=0, workers=0)
    loader.sampler.set_epoch(0)
    e0 = list(loader.sampler)
    loader.sampler.set_epoch(1)
    assert sorted(e0) == sorted(loader.sampler) == list(range(N)) and e0 != list(loader.sampler)
    # train=False: the central crop of the resized image, as ImageFiles(resize=) reads test images
    assert torch.equal(ds[3][0], ImageFiles([items[3].image], 24, resize=28)[0])
