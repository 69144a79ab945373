"""Speed of the metrics against the official tools, as pytest-benchmark benchmarks (issue 16, items 5-7).

Each benchmark times our implementation with `benchmark.pedantic` (explicit rounds) and the official
tool in the same rounds, interleaved (pedantic's untimed `setup` runs the reference), so both see the
same machine load; the ratio goes to `benchmark.extra_info` (wall time, min over rounds; for captions
also CPU time including the JVM child process, which is less sensitive to other load). The tests assert that the numbers are
identical, never a timing (a loaded machine must not fail them). Run them alone for the figures:

    pytest tests/test_metric_speed.py -p no:xdist --benchmark-columns=min,mean,rounds --benchmark-json=bench.json

(under xdist pytest-benchmark times nothing, but the equality checks still run).
"""
import contextlib
import copy
import io
import os
import shutil
import time

import numpy as np
import pytest
import torch

from datasets import locate
from metrics import captioning as C
from metrics import segmentation as seg

CAPTIONS = "coco-caption/{annotations/captions_val2014_fakecap_subset.DERIVED.json, results/captions_val2014_fakecap_results.json}"


def _min_time(times: list) -> float:
    return min(times) if times else float("nan")


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (the JVM that the reference starts)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ----------------------------------------------------------------------------- captions
@pytest.fixture(scope="module")
def caption_set(pytestconfig):
    d = locate(pytestconfig.getoption("data_root", None), "coco-caption", CAPTIONS)
    refs = C.load_coco_refs(d / "annotations/captions_val2014_fakecap_subset.DERIVED.json")
    hyps = C.load_coco_results(d / "results/captions_val2014_fakecap_results.json", refs)
    return {k: refs[k] for k in hyps}, hyps


def test_caption_scoring_vs_pycocoevalcap(benchmark, caption_set):
    """Tokenize + BLEU-1..4 + ROUGE_L + CIDEr-D on the 1,000-image set: ours vs pycocoevalcap 1.2
    (its Java PTBTokenizer on references and results, as COCOEvalCap calls it, and its scorers)."""
    if shutil.which("java") is None:
        pytest.skip("needs Java: the reference pipeline runs coco-caption's PTBTokenizer jar")
    pytest.importorskip("pycocoevalcap", reason="needs pycocoevalcap (pip install 'paper-repro[test]')")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    refs, hyps = caption_set
    gts = {k: [{"caption": c} for c in v] for k, v in refs.items()}
    res = {k: [{"caption": v}] for k, v in hyps.items()}
    stages = ("tokenize", "bleu", "rouge", "cider")
    theirs_t = {k: [] for k in stages}
    theirs_cpu, ours_cpu = [], []
    theirs_out = {}

    def reference():
        c0 = _cpu_with_children()
        t0 = time.perf_counter()
        tg, tr = PTBTokenizer().tokenize(gts), PTBTokenizer().tokenize(res)
        t1 = time.perf_counter()
        b, _ = Bleu(4).compute_score(tg, tr, verbose=0)
        t2 = time.perf_counter()
        r, _ = Rouge().compute_score(tg, tr)
        t3 = time.perf_counter()
        c, _ = Cider().compute_score(tg, tr)
        t4 = time.perf_counter()
        theirs_cpu.append(_cpu_with_children() - c0)
        for k, a, z in zip(stages, (t0, t1, t2, t3), (t1, t2, t3, t4)):
            theirs_t[k].append(z - a)
        theirs_out.update({f"Bleu_{i + 1}": v for i, v in enumerate(b)}, ROUGE_L=r, CIDEr=c)

    ours_t = []

    def ours():
        c0 = _cpu_with_children()
        t0 = time.perf_counter()
        out = C.evaluate(refs, hyps)
        ours_t.append(time.perf_counter() - t0)
        ours_cpu.append(_cpu_with_children() - c0)
        return out

    with contextlib.redirect_stderr(io.StringIO()):            # the jar prints its token rate
        s = benchmark.pedantic(ours, setup=reference, rounds=3, iterations=1, warmup_rounds=0)
    for k, v in theirs_out.items():
        assert s[k] == v, k                                      # bit-identical
    theirs_total = sum(_min_time(theirs_t[k]) for k in stages)
    ours_total = _min_time(ours_t)
    # our stages, timed apart (min of 3; evaluate shares the n-gram index between BLEU and CIDEr-D, which
    # bleu() and cider_d() each build here)
    ours_stage = {k: [] for k in stages}
    for _ in range(3):
        t0 = time.perf_counter()
        tr, th = C.tokenize_all(refs), C._tokenize_hyps(hyps)
        ours_stage["tokenize"].append(time.perf_counter() - t0)
        for k, f in (("bleu", C.bleu), ("rouge", C.rouge_l), ("cider", C.cider_d)):
            t0 = time.perf_counter()
            f(tr, th)
            ours_stage[k].append(time.perf_counter() - t0)
    benchmark.extra_info.update({
        "pycocoevalcap_s": round(theirs_total, 4), "ours_s": round(ours_total, 4),
        "ratio": round(theirs_total / ours_total, 2),
        "ratio_cpu_time": round(_min_time(theirs_cpu) / _min_time(ours_cpu), 2),
        **{f"pycocoevalcap_{k}_s": round(_min_time(theirs_t[k]), 4) for k in stages},
        **{f"ours_{k}_s": round(_min_time(v), 4) for k, v in ours_stage.items()},
    })


# ----------------------------------------------------------------------------- mIoU confusion matrix
def _labels(n_img=8, h=512, w=512, num_classes=21, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, num_classes, (n_img, h, w)).astype(np.uint8)
    gt[rng.random(gt.shape) < 0.05] = 255
    pred = np.where(rng.random(gt.shape) < 0.7, np.where(gt == 255, 0, gt),
                    rng.integers(0, num_classes, gt.shape)).astype(np.uint8)
    return pred, gt


@pytest.mark.parametrize("dtype", ["uint8", "int64"])
def test_miou_confusion_throughput(benchmark, dtype):
    """Mpx/s of `confusion_matrix` on one core (uint8 label PNGs; int64 tensors as from argmax), equal
    to the devkit/FCN formula np.bincount(n * gt + pred) over the kept pixels."""
    n = 21
    pred, gt = _labels(num_classes=n)
    keep = gt != 255
    ref = np.bincount(n * gt[keep].astype(np.int64) + pred[keep], minlength=n * n).reshape(n, n)
    if dtype == "int64":
        pred, gt = torch.from_numpy(pred).long(), torch.from_numpy(gt).long()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hist = benchmark.pedantic(seg.confusion_matrix, args=(pred, gt, n, 255), rounds=10, iterations=1,
                                  warmup_rounds=1)
        cpu = []
        for _ in range(5):                                      # CPU time: insensitive to other processes
            t0 = time.process_time()
            seg.confusion_matrix(pred, gt, n, 255)
            cpu.append(time.process_time() - t0)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(hist.numpy(), ref)
    px = gt.numel() if dtype == "int64" else gt.size
    benchmark.extra_info.update({"pixels": int(px), "mpx_per_s_cpu_time": round(px / max(min(cpu), 1e-9) / 1e6, 1)})
    if benchmark.stats is not None:
        benchmark.extra_info["mpx_per_s_wall"] = round(px / benchmark.stats.stats.min / 1e6, 1)


# ----------------------------------------------------------------------------- COCO bbox backends
def synthetic_coco(n_img: int = 5000, n_cat: int = 10, jitter: float = 0.15, seed: int = 0):
    """A seeded COCO ground truth (boxes of all sizes, 3% crowd) and detections: jittered copies of
    80% of the boxes (10% with a wrong class) plus false positives, scores rounded to 0.01 (ties)."""
    rng = np.random.default_rng(seed)
    images, anns, res = [], [], []
    for i in range(1, n_img + 1):
        W, H = int(rng.integers(200, 800)), int(rng.integers(200, 800))
        images.append({"id": i, "width": W, "height": H})
        for _ in range(int(rng.integers(0, 8))):
            s = float(np.exp(rng.uniform(np.log(8), np.log(min(W, H) * 0.9))))
            w, h = s * rng.uniform(0.5, 1.5), s * rng.uniform(0.5, 1.5)
            x, y = rng.uniform(0, max(1, W - w)), rng.uniform(0, max(1, H - h))
            c = int(rng.integers(1, n_cat + 1))
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c, "bbox": [x, y, w, h], "area": w * h,
                         "iscrowd": int(rng.random() < 0.03)})
            if rng.random() < 0.8:
                j = rng.normal(0, jitter, 4) * [w, h, w, h]
                res.append({"image_id": i, "category_id": c if rng.random() < 0.9 else int(rng.integers(1, n_cat + 1)),
                            "bbox": [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])],
                            "score": float(np.round(rng.random(), 2))})
        for _ in range(int(rng.integers(0, 4))):
            w, h = rng.uniform(5, W / 2), rng.uniform(5, H / 2)
            res.append({"image_id": i, "category_id": int(rng.integers(1, n_cat + 1)),
                        "bbox": [rng.uniform(0, W - w), rng.uniform(0, H - h), w, h],
                        "score": float(np.round(rng.random(), 2))})
    gt = {"images": images, "annotations": anns, "categories": [{"id": c, "name": str(c)} for c in range(1, n_cat + 1)]}
    return gt, res


def test_coco_bbox_faster_coco_eval_vs_pycocotools(benchmark):
    """The opt-in backend (faster-coco-eval) against pycocotools on 5,000 synthetic images: all 12
    numbers identical, and the speed ratio."""
    pytest.importorskip("faster_coco_eval", reason="the opt-in backend: pip install 'paper-repro[fastcoco]'")
    from metrics.detection import coco_evaluate
    gt, res = synthetic_coco(5000)
    ref_t, ref_out = [], {}

    def reference():
        t0 = time.perf_counter()
        ref_out.update(coco_evaluate(gt, res))
        ref_t.append(time.perf_counter() - t0)

    fast_t = []

    def fast():
        t0 = time.perf_counter()
        out = coco_evaluate(gt, res, backend="faster-coco-eval")
        fast_t.append(time.perf_counter() - t0)
        return out

    out = benchmark.pedantic(fast, setup=reference, rounds=1, iterations=1, warmup_rounds=0)
    assert out == ref_out                                         # all 12, to the last bit
    benchmark.extra_info.update({"images": 5000, "pycocotools_s": round(_min_time(ref_t), 3),
                                 "faster_coco_eval_s": round(_min_time(fast_t), 3),
                                 "ratio": round(_min_time(ref_t) / _min_time(fast_t), 2)})


def test_coco_backend_on_official_fake_results(pytestconfig):
    """On cocoapi's fake bbox results the backends agree to ~1e-16 but not to the last bit (AP50),
    which is why pycocotools stays the default."""
    pytest.importorskip("faster_coco_eval", reason="the opt-in backend: pip install 'paper-repro[fastcoco]'")
    from metrics.detection import coco_evaluate
    d = locate(pytestconfig.getoption("data_root", None), "coco-detection",
               "coco-detection/{annotations/instances_val2014_100.json, results/instances_val2014_fakebbox100_results.json}")
    args = (d / "annotations/instances_val2014_100.json", d / "results/instances_val2014_fakebbox100_results.json")
    a, b = coco_evaluate(*args), coco_evaluate(*args, backend="faster-coco-eval")
    assert round(a["AP"], 3) == 0.505 and a.keys() == b.keys()
    assert max(abs(a[k] - b[k]) for k in a) < 1e-12


def test_coco_backend_choice_is_checked():
    from metrics.detection import coco_evaluate
    gt, res = synthetic_coco(3)
    with pytest.raises(ValueError, match="unknown COCO backend"):
        coco_evaluate(gt, res, backend="nope")
    with pytest.raises(ValueError, match="bbox only"):
        coco_evaluate(gt, res, iou_type="segm", backend="faster-coco-eval")
    assert coco_evaluate(copy.deepcopy(gt), res) == coco_evaluate(gt, res, backend="pycocotools")
