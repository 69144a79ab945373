"""Show and Tell / Show, Attend and Tell: a captioner's training does not depend on what the process
computed or cached before it. Both captioners train on the shared feature grid
(show_and_tell.proxy_features); computing the grid builds the CNN, which seeds the global generator.
Each training therefore fetches the grid first and seeds after it, so its initialisation, batch
order and dropout masks are the same whether the grid was computed in this process, read from the
cache, or the caller's generator was left anywhere. Checked on a tiny proxy: the same trained weights
with the grid computed inside the training and with the grid computed beforehand."""
import pytest
import torch

import reference_impls.show_and_tell as st
import reference_impls.show_attend_tell as sat

TINY = dict(st.PROXY, n_train=40, n_test=8, embed=16, hidden=24, dropout=0.3, batch=32, pretrain_epochs=1,
            stage1_epochs=1, stage2_epochs=0,
            encoder_kwargs=dict(channels=(8, 8, 16, 16), stem_width=8, output_stride=8))
TINY_SAT = dict(TINY, att=12, alpha_c=1.0)
SEED = 3


def _train(kind, cache_dir, grid_first: bool):
    data = st.load_data(TINY, SEED, cache_dir)
    if grid_first:                               # the grid computed (and cached) before the training asks for it
        st.proxy_features(TINY, data, SEED, cache_dir)
    torch.manual_seed(12345)                     # wherever the caller left the generator
    torch.rand(7)
    if kind == "show_and_tell":
        return st.trained_proxy_model(TINY, data, SEED, cache_dir, stage=1)
    return sat.trained_proxy_model(TINY_SAT, data, SEED, cache_dir)


@pytest.mark.parametrize("kind", ["show_and_tell", "show_attend_tell"])
def test_training_does_not_depend_on_the_grid_being_computed_first(kind, tmp_path):
    with torch.random.fork_rng():
        inside = _train(kind, tmp_path / "inside", grid_first=False).state_dict()
        before = _train(kind, tmp_path / "before", grid_first=True).state_dict()
    assert inside.keys() == before.keys()
    trained = [k for k in inside if not k.startswith("encoder.")]
    assert trained and all(torch.equal(inside[k], before[k]) for k in inside), \
        [k for k in inside if not torch.equal(inside[k], before[k])]


def test_the_check_can_fail(tmp_path):
    """The comparison above sees a dropout mask's difference: a generator reseeded differently before
    the same training gives other weights."""
    data = st.load_data(TINY, SEED, tmp_path)
    V = len(data["vocab"])
    feats = st.proxy_features(TINY, data, SEED, tmp_path)["train"].mean((2, 3))
    out = []
    for s in (0, 1):
        torch.manual_seed(SEED + 1)
        m = st.build_model(TINY, V)
        torch.manual_seed(s)
        st.frozen_stage(m, feats, data, TINY, SEED, tmp_path / f"r{s}.pt", lambda m_, c, f: st.caption_loss(m_, c, feats=f))
        out.append(m.state_dict())
    assert not all(torch.equal(out[0][k], out[1][k]) for k in out[0])
