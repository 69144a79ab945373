"""Full tier: Table 2's protocol as the paper states it (the split of Vinyals et al.: 1,200 training
characters plus rotations, the other 423 plus rotations for testing), the official model and
settings (LeNet 64/128, key 128, k=256, alpha 0.1, memory 8192, batch 16, 5-wide 30-long
episodes, Adam 1e-4, keep_prob 0.3 = dropout rate 0.7, memory cleared before every batch of
episodes), evaluated on N-way K-shot episodes with a cleared memory.

Not the authors' released data_utils.py, which trains on images_background (964 characters plus
rotations) and validates on images_evaluation (659 characters, no rotations); that is the
protocol of the README sanity run, checked here too (test_readme_sanity_run: 4,000 episode batches
on images_background + rotations, validated on images_evaluation without rotations)."""
import pytest

from datasets import fingerprint, locate
from datasets.omniglot import LAYOUT, EpisodeSampler, authors_split, vinyals_split
from metrics.fewshot import accuracy_ci95
from reference_impls import rare_events as rare
from reference_impls.common import rehearsal_items, seed_everything, trained
from reference_impls.rare_events import backends, memory
from reference_impls.rare_events import model as model_module

FULL = dict(rare.PAPER)          # 200 epochs x 100 batches of 16 episodes x 30 steps = 600k Adam steps
EPISODES = 1000
README_RUN = dict(rare.PAPER, epochs=40)   # 40 x 100 = 4,000 batches of 16 episodes (the README's sanity run)
README_VALID_BATCHES = 50                  # 50 x 16 validation episodes


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
                   data_fingerprint=fp, code=[memory, model_module, backends], cache_dir=cache_dir).to(device)


@pytest.fixture(scope="module")
def table2_feats(vinyals, full_model, device):
    """The test characters' embeddings, computed once for the four Table 2 settings."""
    return rare.embed(full_model.encoder, vinyals[1].images, device)


@pytest.mark.full
@pytest.mark.parametrize("n_way,k_shot,claim_id,pixel_id", [
    (5, 1, "omniglot_1shot_5way", "pixel_nn_1shot_5way"), (5, 5, "omniglot_5shot_5way", None),
    (20, 1, "omniglot_1shot_20way", "pixel_nn_1shot_20way"), (20, 5, "omniglot_5shot_20way", None)])
def test_omniglot_table2(claim, vinyals, full_model, table2_feats, seed, device, n_way, k_shot, claim_id, pixel_id):
    _, test, _ = vinyals
    n_eps = len(rehearsal_items(range(EPISODES), 20))     # a rehearsal (--full-steps): 20 episodes
    eps = EpisodeSampler(n_way, k_shot, n_query=1).episodes(len(test), test.images.shape[1], n_eps, seed=seed)
    acc, ci = accuracy_ci95(rare.evaluate_episodes(full_model, test, eps, feats=table2_feats, device=device))
    claim(claim_id, acc, ci95=ci, episodes=n_eps)
    if pixel_id:
        pix, _ = accuracy_ci95(rare.nn_episodes(test.images.flatten(2), eps, "l2"))
        claim(pixel_id, pix)


@pytest.fixture(scope="module")
def authors_sets(data_root):
    train, valid = authors_split(data_root)
    fp = fingerprint(locate(data_root, "omniglot/python/images_background", LAYOUT),
                     locate(data_root, "omniglot/python/images_evaluation", LAYOUT))
    return train, valid, fp


def readme_sanity_run(sets, cfg: dict, *, seed: int, cache_dir, device, valid_batches: int) -> dict:
    """The authors' README sanity run: train.py's procedure with `cfg` on the training set, then the
    per-shot accuracy of validation episodes (episode_shot_accuracy)."""
    train, valid, fp = sets

    def build():
        seed_everything(seed)
        return rare.build_model(cfg)

    def run(m, resume):
        seed_everything(seed)
        rare.train(m, train, cfg, seed=seed, device=device, checkpoint=resume)

    model = trained("rare_events_readme", build=build, train=run, config=cfg, seed=seed, data_fingerprint=fp,
                    code=[memory, model_module, backends], cache_dir=cache_dir).to(device)
    seed_everything(seed)
    return rare.episode_shot_accuracy(model, valid, cfg, batches=valid_batches, seed=seed, device=device)


@pytest.mark.full
def test_readme_sanity_run(claim, authors_sets, seed, cache_dir, device):
    """Official README: "validation 1-shot accuracy ... 0.96 after 4,000 episode batches"."""
    acc = readme_sanity_run(authors_sets, README_RUN, seed=seed, cache_dir=cache_dir, device=device,
                            valid_batches=len(rehearsal_items(range(README_VALID_BATCHES), 2)))
    claim("official_readme_sanity_run_1shot", acc[1], **{f"shot{s}": a for s, a in acc.items()})
