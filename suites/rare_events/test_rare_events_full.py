"""Full tier: Table 2's protocol as the paper states it (the split of Vinyals et al.: 1,200 training
characters plus rotations, the other 423 plus rotations for testing), the official model and
settings (LeNet 64/128, key 128, k=256, alpha 0.1, memory 8192, batch 16, 5-wide 30-long
episodes, Adam 1e-4, keep_prob 0.3 = dropout rate 0.7, memory cleared before every batch of
episodes), evaluated on N-way K-shot episodes with a cleared memory.

Not the authors' released data_utils.py, which trains on images_background (964 characters plus
rotations) and validates on images_evaluation (659 characters, no rotations); that is the
protocol of the README sanity run (official_readme_sanity_run_1shot, not checked)."""
import pytest

from datasets import fingerprint, locate
from datasets.omniglot import LAYOUT, EpisodeSampler, vinyals_split
from metrics.fewshot import accuracy_ci95
from reference_impls import rare_events as rare
from reference_impls.common import seed_everything, trained
from reference_impls.rare_events import backends, memory, model

FULL = dict(rare.PAPER)          # 200 epochs x 100 batches of 16 episodes x 30 steps = 600k Adam steps
EPISODES = 1000


@pytest.fixture(scope="module")
def vinyals(data_root):
    train, test = vinyals_split(data_root)
    fp = fingerprint(locate(data_root, "omniglot/python/images_background", LAYOUT),
                     locate(data_root, "omniglot/python/images_evaluation", LAYOUT))
    return train, test, fp


@pytest.fixture(scope="module")
def full_model(vinyals, seed, cache_dir, device):
    train, _, fp = vinyals

    def run(m, resume):
        seed_everything(seed)
        rare.train(m, train, FULL, seed=seed, device=device, checkpoint=resume)

    seed_everything(seed)
    return trained("rare_events_full", build=lambda: rare.build_model(FULL), train=run, config=FULL, seed=seed,
                   data_fingerprint=fp, code=[memory, model, backends], cache_dir=cache_dir).to(device)


@pytest.mark.full
@pytest.mark.parametrize("n_way,k_shot,claim_id,pixel_id", [
    (5, 1, "omniglot_1shot_5way", "pixel_nn_1shot_5way"), (5, 5, "omniglot_5shot_5way", None),
    (20, 1, "omniglot_1shot_20way", "pixel_nn_1shot_20way"), (20, 5, "omniglot_5shot_20way", None)])
def test_omniglot_table2(claim, vinyals, full_model, seed, device, n_way, k_shot, claim_id, pixel_id):
    _, test, _ = vinyals
    eps = EpisodeSampler(n_way, k_shot, n_query=1).episodes(len(test), test.images.shape[1], EPISODES, seed=seed)
    feats = rare.embed(full_model.encoder, test.images, device)
    acc, ci = accuracy_ci95(rare.evaluate_episodes(full_model, test, eps, feats=feats, device=device))
    claim(claim_id, acc, ci95=ci, episodes=EPISODES)
    if pixel_id:
        pix, _ = accuracy_ci95(rare.nn_episodes(test.images.flatten(2), eps, "l2"))
        claim(pixel_id, pix)
