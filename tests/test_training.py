"""Shared training machinery: cache keying, resume after interruption, corrupt checkpoints, DDP."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from reference_impls.common import CheckpointError, fit, seed_everything, trained
from reference_impls.common.cache import cache_key, load_weights

ROOT = Path(__file__).parents[1]
PYTHONPATH = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))   # the project, then the caller's


def _data(seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) > 0).long()
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, n, 16)]


def _step(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def _train(model, ckpt, epochs=4, crash_at=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    def boom(epoch, _):
        if epoch == crash_at:
            raise KeyboardInterrupt("simulated interruption")
    return fit(model, _step, _data(), epochs=epochs, optimizer=opt, checkpoint=ckpt, on_epoch_end=boom,
               progress=False)


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(4, 2)


def test_cache_key_changes_with_config_seed_data_and_code():
    base = cache_key("m", {"lr": 0.1}, seed=0, data_fingerprint="abc", code=["def f(): pass"])
    assert base == cache_key("m", {"lr": 0.1}, seed=0, data_fingerprint="abc", code=["def f(): pass"])
    assert base != cache_key("m", {"lr": 0.2}, seed=0, data_fingerprint="abc", code=["def f(): pass"])
    assert base != cache_key("m", {"lr": 0.1}, seed=1, data_fingerprint="abc", code=["def f(): pass"])
    assert base != cache_key("m", {"lr": 0.1}, seed=0, data_fingerprint="abd", code=["def f(): pass"])
    assert base != cache_key("m", {"lr": 0.1}, seed=0, data_fingerprint="abc", code=["def f(): return 1"])


def test_trained_caches_and_loads(tmp_path):
    calls = []
    def train(model, ckpt):
        calls.append(ckpt)
        _train(model, ckpt)
    a = trained("lin", _model, train, config={"e": 4}, seed=0, cache_dir=tmp_path)
    b = trained("lin", _model, train, config={"e": 4}, seed=0, cache_dir=tmp_path)
    assert len(calls) == 1
    assert torch.equal(a.weight, b.weight)
    trained("lin", _model, train, config={"e": 4}, seed=1, cache_dir=tmp_path)
    assert len(calls) == 2


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    seed_everything(0)
    ref = _model()
    ref_hist = _train(ref, tmp_path / "ref.pt")
    seed_everything(0)
    m = _model()
    with pytest.raises(KeyboardInterrupt):
        _train(m, tmp_path / "run.pt", crash_at=1)   # interrupted at the end of the 2nd epoch, before its save
    state = torch.load(tmp_path / "run.pt", weights_only=True)
    assert state["epoch"] == 1                        # the 1st epoch was saved; the 2nd is redone
    m2 = _model(seed=123)                             # a fresh process would rebuild the model
    hist = _train(m2, tmp_path / "run.pt")
    assert torch.allclose(m2.weight, ref.weight) and hist == ref_hist


def test_corrupt_cached_checkpoint_is_a_one_line_error(tmp_path):
    trained("lin", _model, lambda m, c: _train(m, c), config={}, seed=0, cache_dir=tmp_path)
    (final,) = tmp_path.rglob("model.pt")
    final.write_bytes(final.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=rf"corrupt or unreadable checkpoint {final}.*Delete it"):
        trained("lin", _model, lambda m, c: _train(m, c), config={}, seed=0, cache_dir=tmp_path)


def test_user_checkpoint_is_used_instead_of_training(tmp_path):
    src = _model(seed=5)
    torch.save({"model": src.state_dict()}, tmp_path / "mine.pt")
    m = trained("lin", _model, lambda *_: pytest.fail("should not train"), config={}, seed=0,
                cache_dir=tmp_path, checkpoint=tmp_path / "mine.pt")
    assert torch.equal(m.weight, src.weight)
    torch.save({"model": nn.Linear(3, 2).state_dict()}, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="does not fit Linear"):
        load_weights(_model(), tmp_path / "wrong.pt")


def test_nonfinite_loss_stops_training_with_a_clear_error():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1, iteration 1"):
        fit(model, lambda m, b: m(b[0]).sum() * float("nan"), _data(), epochs=1, optimizer=opt, progress=False)


def test_ddp_two_gloo_processes_match_single_process(tmp_path):
    """torchrun --nproc_per_node=2 (gloo, CPU) trains to the same weights as one process with the
    combined batch: DDP averages gradients over ranks."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "reference_impls.common.ddp_check", str(tmp_path / "single.pt")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    multi = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            "-m", "reference_impls.common.ddp_check", str(tmp_path / "ddp.pt")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert multi.returncode == 0, multi.stderr[-3000:]
    a = torch.load(tmp_path / "single.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp.pt", weights_only=True)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_timm_backbone_takes_pretrained_weights_only_from_a_named_file(tmp_path):
    from reference_impls.common.backbones import backbone
    src = backbone("resnet18")
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    loaded = backbone("resnet18", weights=tmp_path / "r18.pth", num_classes=3)
    # timm keeps the pretrained trunk and gives a new head when the class count changes
    trunk = {k: v for k, v in src.state_dict().items() if not k.startswith("fc.")}
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in trunk.items())
    assert loaded.fc.out_features == 3
    with pytest.raises(CheckpointError, match="no such file .*nothing is downloaded"):
        backbone("resnet18", weights=tmp_path / "missing.pth")


def test_loader_workers_env_overrides_a_recipe_and_names_a_bad_value(monkeypatch):
    from datasets.captions import caption_loader
    from reference_impls.common.distributed import default_workers, loader
    ds = torch.utils.data.TensorDataset(torch.arange(8.0))
    monkeypatch.delenv("REPRO_LOADER_WORKERS", raising=False)
    assert default_workers(3) == 3 and loader(ds, 4, seed=0, num_workers=3).num_workers == 3
    monkeypatch.setenv("REPRO_LOADER_WORKERS", "0")
    assert default_workers(3) == 0 and loader(ds, 4, seed=0, num_workers=3).num_workers == 0
    assert caption_loader(ds, 4, seed=0, workers=8).num_workers == 0
    monkeypatch.setenv("REPRO_LOADER_WORKERS", "many")
    with pytest.raises(ValueError, match="REPRO_LOADER_WORKERS"):
        default_workers()
