"""The full tier under `torchrun --nproc_per_node=2 -m pytest` (gloo, CPU) on a small full-tier-style
suite: the device fixture joins the process group, `common.loader` shards the training set, fit()
wraps the model in DDP, evaluation is sharded and gathered, rank 0 alone records the claims, writes
the report and the cache (read by every rank on the second run), and the claim values equal those
of one process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PYTHONPATH = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))   # the project, then the caller's

CLAIMS = '''
[paper]
id = "toy"

[[claim]]
id = "toy_accuracy"
kind = "paper"
tier = "full"
metric = "accuracy"
value = 50.0
direction = "higher"
source = "test"

[[claim]]
id = "toy_weight_norm"
kind = "paper"
tier = "full"
metric = "norm"
value = 0.0
direction = "higher"
source = "test"

[[claim]]
id = "toy_eval_count"
kind = "exact"
tier = "full"
metric = "images"
value = 130
direction = "equal"
source = "test"
'''

SUITE = '''
import pytest
import torch
from torch import nn

from reference_impls.common import fit, gather, loader, shard, trained, world


@pytest.mark.full
def test_toy(claim, seed, device, cache_dir, artifacts):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(386, 10, generator=g)
    y = (x @ torch.randn(10, 3, generator=g)).argmax(1)
    train_set = torch.utils.data.TensorDataset(x[:256], y[:256])

    def build():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))

    def train(model, resume):
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        data = loader(train_set, 32, seed=seed, num_workers=0)
        fit(model, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), data, epochs=3, optimizer=opt,
            device=device, checkpoint=resume, progress=False)

    model = trained("toy", build, train, config={"epochs": 3}, seed=seed, cache_dir=cache_dir).to(device)
    test = list(range(256, 386))                      # 130 items: not divisible by 4, shards of unequal size
    mine = shard(test)
    with torch.inference_mode():
        pred = model(x[mine].to(device)).argmax(1).tolist() if mine else []
    preds = gather(pred)
    acc = 100.0 * sum(int(p == int(y[i])) for p, i in zip(preds, test)) / len(test)
    norm = float(sum(p.detach().double().norm() ** 2 for p in model.parameters()) ** 0.5)
    claim("toy_accuracy", acc, world_size=world()[1], device=str(device))
    claim("toy_weight_norm", norm)
    claim("toy_eval_count", len(preds))
    artifacts.save_curve("preds", preds)
'''


def _project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "suites" / "toy").mkdir(parents=True)
    (proj / "suites" / "toy" / "claims.toml").write_text(CLAIMS)
    (proj / "suites" / "toy" / "test_toy.py").write_text(SUITE)
    (proj / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    (proj / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:randomly\n")
    return proj


def _run(proj: Path, nproc: int, cache: Path, results: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRO_", "RANK", "WORLD_SIZE", "LOCAL_"))}
    env.update(PYTHONPATH=PYTHONPATH, OMP_NUM_THREADS="1", REPRO_PROGRESS="0", REPRO_BENCH="off",
               REPRO_CACHE_DIR=str(cache), REPRO_LOADER_WORKERS="0")
    args = ["-m", "pytest", "suites", "--tier", "full", "--device", "cpu", "--results-dir", str(results),
            "--history", "off", "-q"]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    else:
        cmd = [sys.executable, *args]
    out = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    rows = []
    files = sorted(results.glob("*/results-*.jsonl"))
    for f in files:
        rows += [json.loads(line) for line in f.read_text().splitlines()]
    return rows, files, out


def test_torchrun_two_gloo_ranks_match_one_process(tmp_path):
    proj = _project(tmp_path)
    one, _, _ = _run(proj, 1, tmp_path / "cache1", tmp_path / "runs1")
    two, files, out = _run(proj, 2, tmp_path / "cache2", tmp_path / "runs2")
    # rank 0 alone records: one results file, one row per claim, one run, a report
    assert len(files) == 1 and files[0].name == "results-main.jsonl", files
    assert sorted(r["claim_id"] for r in two) == ["toy_accuracy", "toy_eval_count", "toy_weight_norm"]
    run_dirs = list((tmp_path / "runs2").iterdir())
    assert len(run_dirs) == 1 and json.loads((run_dirs[0] / "run.json").read_text())["world_size"] == 2
    assert (run_dirs[0] / "figures" / "toy" / "preds.png").exists()
    v1 = {r["claim_id"]: r for r in one}
    v2 = {r["claim_id"]: r for r in two}
    assert v2["toy_accuracy"]["extra"]["world_size"] == 2 and v1["toy_accuracy"]["extra"]["world_size"] == 1
    assert v1["toy_eval_count"]["value"] == v2["toy_eval_count"]["value"] == 130    # gathered: the whole set
    assert v1["toy_accuracy"]["value"] == v2["toy_accuracy"]["value"]
    assert v1["toy_accuracy"]["value"] > 60                                        # it did train
    assert v2["toy_weight_norm"]["value"] == pytest.approx(v1["toy_weight_norm"]["value"], rel=1e-5)
    # the cache: written once (by rank 0), then read by both ranks, with the same values
    entries = list((tmp_path / "cache2" / "toy").glob("*/model.pt"))
    assert len(entries) == 1 and not list((tmp_path / "cache2" / "toy").glob("*/resume.pt"))
    again, _, _ = _run(proj, 2, tmp_path / "cache2", tmp_path / "runs3")
    assert {r["claim_id"]: r["value"] for r in again} == {r["claim_id"]: r["value"] for r in two}


# ----------------------------------------------------------------------------- the loop's own cost
def _mlp_and_batches():
    import torch
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(64, 256, generator=g), torch.randint(0, 10, (64,), generator=g)) for _ in range(16)]
    return model, batches


def test_fit_costs_within_5_percent_of_a_hand_written_loop():
    """Same model, same batches, one thread; CPU time of interleaved repeats (insensitive to other
    processes on the machine), median over repeats."""
    import statistics
    import time

    import torch
    from torch import nn

    from reference_impls.common import fit, num_threads
    model, batches = _mlp_and_batches()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    step = lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1])   # noqa: E731

    def hand():
        model.train()
        for x, y in batches:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def loop():
        fit(model, step, batches, epochs=1, optimizer=opt, progress=False)

    ratios = []
    with num_threads(1):
        hand(), loop()
        for i in range(15):
            t = {}
            for name, fn in ((("hand", hand), ("fit", loop)) if i % 2 else (("fit", loop), ("hand", hand))):
                t0 = time.process_time()
                fn()
                t[name] = time.process_time() - t0
            ratios.append(t["fit"] / t["hand"])
    assert statistics.median(ratios) <= 1.05, ratios


def test_fit_reads_the_loss_every_n_steps_with_the_same_history_and_nan_check():
    import torch
    from torch import nn

    from reference_impls.common import fit, num_threads
    hist = {}
    for every in (1, 5):
        model, batches = _mlp_and_batches()
        opt = torch.optim.SGD(model.parameters(), lr=1e-2)
        with num_threads(1):
            hist[every] = fit(model, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), batches, epochs=2,
                              optimizer=opt, progress=True, log_every=every)
    assert len(hist[5]) == 32 and hist[5] == hist[1]
    model, batches = _mlp_and_batches()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    calls = []

    def nan_at_7(m, b):
        calls.append(1)
        return nn.functional.cross_entropy(m(b[0]), b[1]) * (float("nan") if len(calls) == 7 else 1.0)
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1, iteration 7"):
        fit(model, nan_at_7, batches, epochs=1, optimizer=opt, progress=False, log_every=5)
    assert len(calls) == 10       # read back every 5 steps: found at the second read


def test_max_steps_caps_each_epoch(monkeypatch):
    import torch
    from torch import nn

    from reference_impls.common import fit
    model, batches = _mlp_and_batches()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    step = lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1])   # noqa: E731
    assert len(fit(model, step, batches, epochs=2, optimizer=opt, progress=False, max_steps=3)) == 6
    monkeypatch.setenv("REPRO_FULL_STEPS", "2")        # the rehearsal override (--full-steps)
    assert len(fit(model, step, batches, epochs=2, optimizer=opt, progress=False)) == 4
