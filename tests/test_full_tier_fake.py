"""Full-tier tests run end to end on the miniature layouts (`datasets.fake`), on CPU, as a rehearsal:
`pytest suites/<paper> --tier full --full-steps 1` cuts every `fit` to two epochs of one step (so
loading, training, the epoch checkpoint, evaluation and the claims' recording all run), batches to
`rehearsal_batch` and evaluation sets to a few items (`rehearsal_items`), and records the claims with
status "recorded" and run_mode "rehearsal" (their verdicts mean nothing: random weights, a few
images). Weights a user would supply are written here at their seeded initialisation.

Suites covered: deeplab (VOC 2012 train_aug training, val with/without CRF, test server PNGs;
Cityscapes v3+ training, val, test labelId PNGs);
cam (Table 2 and Table 3 paths: fine-tuning of GoogLeNet-GAP/GMP from a "pretrained"
file, a supplied VGG16-GAP checkpoint, the off-the-shelf GoogLeNet Backprop row, ten-crop CAMs, both
box heuristics); detection (YOLO v1 ResNet-50 on VOC 07+12 -> VOC 2007 test, its fps; torchvision's
R50-FPN on COCO val2017 via `evaluate_coco`); wavenet (VCTK multi-speaker training, held-out NLL with
right/wrong speaker, listening-test samples); rare_events (Table 2 on the Vinyals split of a 1,623-character
fake Omniglot, and the README sanity run); show_and_tell (COCO paper split from Karpathy's file, both
training stages, beam 20, coco-caption; the Pascal row from the cached COCO model; the Flickr30k row
from Karpathy's dataset_flickr30k.json and the SBU row from the release's caption file);
influence (the d = 7,850 logistic regression, the 1-vs-7 SVM and the CNN on a fake MNIST: one Newton /
chord / retraining step, 4 removed points, no sha256 check). Opt-in (REPRO_FAKE_VGG16=1: a 528 MB
weights file, ~60 s of CPU): detection's VGG-16 Faster R-CNN on VOC 2007. Left (see the report of
issue 17): the 07+12 VGG-16 row and the speed-only YOLO vs Faster R-CNN test,
CAM's Grad-CAM row (needs a 528 MB VGG-16 file).
CPU seconds per test (one thread, the suite's subprocess included, measured under load 2026-11-26):
influence ~23, show_and_tell COCO + Pascal ~40, Flickr30k + SBU ~47.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from datasets import fake

ROOT = Path(__file__).parents[1]
PYTHONPATH = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))   # the project, then the caller's
DEVICE = os.environ.get("REPRO_TEST_DEVICE", "cpu")     # cuda on a GPU node (.ci/gpu-check)


def _run_suite(root: Path, tmp: Path, suite: str, select: str, **extra_env: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPRO_")}
    env.update(PYTHONPATH=PYTHONPATH, OMP_NUM_THREADS="1", REPRO_PROGRESS="0", REPRO_LOADER_WORKERS="0",
               REPRO_CACHE_DIR=str(tmp / "cache"), REPRO_REHEARSAL_LOG=str(tmp / "fits.jsonl"), **extra_env)
    cmd = [sys.executable, "-m", "pytest", f"suites/{suite}", "--tier", "full", "--full-steps", "1", "--device", DEVICE,
           "--data-root", str(root), "--results-dir", str(tmp / "runs"), "--history", "off", "--no-report",
           "-p", "no:randomly", "-p", "no:cacheprovider", "-q", "-rs", "-k", select]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    rows = [json.loads(line) for f in (tmp / "runs").glob("*/results-*.jsonl") for line in f.read_text().splitlines()]
    fits = [json.loads(line) for line in (tmp / "fits.jsonl").read_text().splitlines()] \
        if (tmp / "fits.jsonl").exists() else []
    return out, rows, fits


def _ok(out: subprocess.CompletedProcess) -> None:
    """The suite's run passed; else fail with its error lines first (the tail alone may miss them)."""
    if out.returncode != 0:
        errors = [line for line in out.stdout.splitlines() if line.startswith(("E ", "FAILED", "ERROR"))]
        raise AssertionError("\n".join(errors[-60:]) + "\n--- tail ---\n" + out.stdout[-3000:] + out.stderr[-2000:])


def test_cam_full_tier_on_fake_ilsvrc(tmp_path):
    from reference_impls.cam import build_model
    root = tmp_path / "data"
    fake.ilsvrc_val(root, n=2)
    fake.ilsvrc_test(root, n=2)
    fake.ilsvrc_train(root, n=4)
    torch.manual_seed(0)
    (root / "cam-checkpoints").mkdir()
    torch.save(build_model("vgg16", 1000, pool="gap").state_dict(), root / "cam-checkpoints" / "vgg16_gap.pt")
    import torchvision
    (root / "pretrained").mkdir()
    torch.save(torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True).state_dict(),
               root / "pretrained" / "googlenet.pth")
    out, rows, fits = _run_suite(root, tmp_path, "cam", "table2 or ilsvrc_test")
    _ok(out)
    assert "2 passed" in out.stdout, out.stdout[-2000:]
    ids = {r["claim_id"] for r in rows}
    assert {"googlenet_gap_top5_loc_error_val", "vgg_gap_top5_loc_error_val", "backprop_top5_loc_error_val",
            "gap_beats_gmp_ilsvrc", "googlenet_gap_top5_loc_error_test"} <= ids
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert all("verdict meaningless" in (r.get("note") or "") for r in rows)
    # the fine-tuning path ran (two one-step epochs, finite loss) for GAP and GMP, and was cached
    assert sorted(f["desc"] for f in fits) == ["cam googlenet-gap ILSVRC", "cam googlenet-gmp ILSVRC"], fits
    assert all(f["steps"] == 2 and f["epochs"] == 2 and f["finite"] for f in fits), fits
    assert len(list((tmp_path / "cache").rglob("model.pt"))) == 2


@pytest.mark.parametrize("flag", ["--full-steps"])
def test_full_steps_is_a_documented_option(flag):
    out = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": PYTHONPATH})
    assert flag in out.stdout and "REPRO_FULL_STEPS" in out.stdout


def test_deeplab_voc2012_full_tier_on_fake_voc(tmp_path):
    """DeepLab-ResNet-101 ASPP-L MSC: train_aug training from a "pretrained" ResNet-101 file (two one-step
    epochs of 2 crops), val scoring at 513 padding without and with the CRF, and the test predictions
    written in the evaluation server's format (palette PNGs under results/VOC2012/Segmentation/comp6_test_cls).
    train_aug comes from the SBD release itself (benchmark_RELEASE/dataset/cls/*.mat; no SegmentationClassAug
    PNGs here): the reader of the converted PNGs is covered by tests/test_fake_layouts.py and test_voc_sbd.py."""
    pytest.importorskip("pydensecrf", reason="the val path runs the CRF: pip install -e '.[crf]' (pydensecrf2)")
    root = tmp_path / "data"
    fake.voc2012(root, n=4, n_aug=2, aug=("SBD",))
    _resnet101_weights(root)
    out, rows, fits = _run_suite(root, tmp_path, "deeplab", "voc2012_val_and_test")
    _ok(out)
    assert "1 passed" in out.stdout, out.stdout[-2000:]
    assert {"voc_val_miou_imagenet_init", "voc_test_miou"} <= {r["claim_id"] for r in rows}   # ImageNet start
    assert [r["extra"]["train_aug"] for r in rows if r["claim_id"] == "voc_val_miou_imagenet_init"] == ["SBD"], rows
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert len(fits) == 1 and fits[0]["steps"] == 2 and fits[0]["finite"], fits
    pngs = list((tmp_path / "runs").rglob("comp6_test_cls/*.png"))
    assert sorted(p.stem for p in pngs) == ["2008_000100", "2008_000101"]


def _resnet101_weights(root: Path) -> None:
    """The "ImageNet" ResNet-101 a DeepLab user supplies, here at its seeded initialisation."""
    import timm
    (root / "pretrained").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet101", pretrained=False).state_dict(), root / "pretrained" / "resnet101.pth")


def test_deeplab_cityscapes_v3plus_full_tier_on_fake_cityscapes(tmp_path):
    """DeepLabv3+ (ResNet-101, OS16, decoder) on Cityscapes: train_fine training from a "pretrained"
    ResNet-101 file (two one-step epochs of 2 crops), val scored at the frames' full size, and the test
    frames' predictions written as the server's labelId PNGs (<city>/<name>_pred_labelIds.png)."""
    root = tmp_path / "data"
    fake.cityscapes(root)
    _resnet101_weights(root)
    out, rows, fits = _run_suite(root, tmp_path, "deeplab", "deeplabv3plus_cityscapes")
    _ok(out)
    assert "1 passed" in out.stdout, out.stdout[-2000:]
    assert [r["claim_id"] for r in rows] == ["deeplabv3plus_cityscapes_test_miou"], rows
    assert rows[0]["run_mode"] == "rehearsal" and 0 <= rows[0]["extra"]["val_miou"] <= 100, rows[0]
    assert len(fits) == 1 and fits[0]["steps"] == 2 and fits[0]["finite"], fits
    pngs = sorted(p.name for p in (tmp_path / "runs").rglob("cityscapes_test_server/*/*.png"))
    assert pngs and all(n.endswith("_pred_labelIds.png") for n in pngs), pngs

def test_detection_voc07_yolo_and_coco_full_tier_on_fake_layouts(tmp_path):
    """YOLO v1 (ResNet-50 from a "pretrained" timm file, 448 x 448) trained on VOC 07+12 trainval (two
    one-step epochs of 2 images), scored on VOC 2007 test with the 11-point AP and timed; torchvision's
    Faster R-CNN R50-FPN from a weights file scored on COCO val2017 with pycocotools (`evaluate_coco`)."""
    import timm
    from reference_impls.detection import build_faster_rcnn
    root = tmp_path / "data"
    fake.voc2007(root, n=8)
    fake.voc2012(root, n=4, n_aug=0)
    fake.coco(root, n=2)
    w = tmp_path / "weights"
    w.mkdir()
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet50", pretrained=False).state_dict(), w / "resnet50.pth")
    torch.save(build_faster_rcnn(91, "resnet50_fpn").state_dict(), w / "frcnn_r50_fpn.pth")
    out, rows, fits = _run_suite(root, tmp_path, "detection", "test_yolo_voc07 or test_torchvision_faster_rcnn_coco",
                                 REPRO_YOLO_BACKBONE_WEIGHTS=str(w / "resnet50.pth"),
                                 REPRO_FASTERRCNN_R50_FPN_WEIGHTS=str(w / "frcnn_r50_fpn.pth"))
    _ok(out)
    assert "2 passed" in out.stdout, out.stdout[-2000:]
    assert {"yolo_voc07", "yolo_fps", "torchvision_fasterrcnn_r50_fpn_coco_ap"} <= {r["claim_id"] for r in rows}
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert [f["desc"] for f in fits] == ["yolo voc"] and fits[0]["steps"] == 2 and fits[0]["finite"], fits


def test_wavenet_vctk_full_tier_on_fake_vctk(tmp_path):
    """The multi-speaker WaveNet (five 1..512 blocks, speaker embedding): trained on 8,000-sample crops
    of the speakers' training streams (two one-step epochs of batch 2), held-out NLL with the right and a
    wrong speaker (two recordings), and the listening-test samples written (64 samples per speaker)."""
    root = tmp_path / "data"
    fake.vctk(root)
    out, rows, fits = _run_suite(root, tmp_path, "wavenet", "test_vctk_speaker_conditioning or test_listening_test_samples")
    _ok(out)
    assert "2 passed" in out.stdout, out.stdout[-2000:]
    assert {r["claim_id"] for r in rows} == {"vctk_right_speaker_lower_nll"}
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert [f["desc"] for f in fits] == ["wavenet"] and fits[0]["steps"] == 2 and fits[0]["finite"], fits
    assert sorted(p.name for p in tmp_path.rglob("vctk_p22*.wav")) == ["vctk_p225.wav", "vctk_p226.wav", "vctk_p227.wav"]


def test_rare_events_omniglot_full_tier_on_fake_omniglot(tmp_path):
    """Table 2 (Vinyals split of the 1,623 characters + rotations; the paper's memory model trained for
    two one-step epochs; 5/20-way 1/5-shot episodes, 20 each, and the pixel nearest-neighbour rows) and the
    authors' README sanity run (images_background + rotations, validated on images_evaluation)."""
    root = tmp_path / "data"
    fake.omniglot(root, total=(964, 659), drawers=6, zips=False)   # the release's character counts, 6 drawers
    out, rows, fits = _run_suite(root, tmp_path, "rare_events", "test_omniglot_table2 or test_readme_sanity_run")
    _ok(out)
    assert "5 passed" in out.stdout, out.stdout[-2000:]
    assert {"omniglot_1shot_5way", "omniglot_5shot_5way", "omniglot_1shot_20way", "omniglot_5shot_20way",
            "pixel_nn_1shot_5way", "pixel_nn_1shot_20way", "official_readme_sanity_run_1shot"} <= {r["claim_id"] for r in rows}
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert [f["desc"] for f in fits] == ["rare-events memory"] * 2 and all(f["steps"] == 2 and f["finite"] for f in fits), fits


def _inception_weights(root: Path) -> None:
    import timm
    (root / "pretrained").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(timm.create_model("inception_v3", pretrained=False).state_dict(),      # with its fc, as released
               root / "pretrained" / "inception_v3.tv_in1k.bin")


def test_show_and_tell_coco_and_pascal_full_tier_on_fake_layouts(tmp_path):
    """Table 1 on COCO (the paper's split from Karpathy's dataset_coco.json, 2 held-out val2014 images):
    Inception-v3 from a "pretrained" timm file, stage 1 (CNN frozen) and stage 2 (fine-tuned) each two
    one-step epochs of batch 2 streamed from the JPEGs, beam-20 decoding, coco-caption scoring; then
    Table 2's Pascal row: the same COCO model (from the cache: no second training) captions 2 of the
    fake Pascal sentences images."""
    root = tmp_path / "data"
    fake.coco(root, n=8)
    fake.pascal_sentences(root)
    _inception_weights(root)
    out, rows, fits = _run_suite(root, tmp_path, "show_and_tell", "test_coco_bleu4_meteor_cider or test_pascal_bleu1")
    _ok(out)
    assert "2 passed" in out.stdout, out.stdout[-2000:]
    assert {"bleu4_coco", "cider_coco", "meteor_coco", "bleu1_pascal"} <= {r["claim_id"] for r in rows}
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert [f["desc"] for f in fits] == ["stage 1 (CNN frozen)", "stage 2 (fine-tune)"], fits
    assert all(f["steps"] == 2 and f["finite"] for f in fits), fits


def test_show_and_tell_flickr30k_and_sbu_full_tier_on_fake_layouts(tmp_path):
    """Table 2's Flickr30k row (Karpathy's dataset_flickr30k.json: train on its train split, 2 test
    images) and SBU row (the release's caption file, the fetched photos with one dead URL skipped, the
    last 2 for test): each model trained in both stages (two one-step epochs of batch 2), beam 20, BLEU-1."""
    root = tmp_path / "data"
    fake.flickr30k(root)
    fake.sbu(root)
    _inception_weights(root)
    out, rows, fits = _run_suite(root, tmp_path, "show_and_tell", "test_flickr30k_bleu1 or test_sbu_bleu1")
    _ok(out)
    assert "2 passed" in out.stdout, out.stdout[-2000:]
    assert {r["claim_id"] for r in rows} == {"bleu1_flickr30k", "bleu1_sbu"}
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert [f["desc"] for f in fits] == ["stage 1 (CNN frozen)", "stage 2 (fine-tune)"] * 2, fits
    assert all(f["steps"] == 2 and f["finite"] for f in fits), fits
    assert len(list((tmp_path / "cache").rglob("model.pt"))) == 2


def test_influence_full_tier_on_fake_mnist(tmp_path):
    """The three full-tier experiments on `./repro data fake --layout mnist` (64 training images, raw
    784 pixels): the 10-class logistic regression at d = 7,850 (one Newton step: the Hessian of 7,850²
    built and factored, the factor shared with the leave-one-out chord steps), the 1-vs-7 smooth-hinge
    SVM (continuation path, hinge and t = 0.001 predictors on a shared leave-one-out cache) and the
    width-8 CNN (Adam and SGD one step each, damped CG, the retraining per removed point), each on
    4 removed points. The fake files are not MNIST's bytes: the rehearsal skips the sha256 check."""
    root = tmp_path / "data"
    fake.write("mnist", root)
    out, rows, fits = _run_suite(root, tmp_path, "influence", "logreg_55k or svm_1v7 or cnn_small_mnist")
    _ok(out)
    assert "3 passed" in out.stdout, out.stdout[-2000:]
    assert {r["claim_id"] for r in rows} == {"logreg_loo_pearson_full", "svm_hinge_R_full", "svm_smooth_hinge_R_full",
                                             "cnn_loo_pearson_full"}
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    by_id = {r["claim_id"]: r for r in rows}
    assert by_id["logreg_loo_pearson_full"]["extra"]["n_points"] == 4       # 4 removed points, not 500
    assert by_id["cnn_loo_pearson_full"]["extra"]["n_points"] == 4           # 4, not 50
    assert [f["desc"] for f in fits] == ["cnn adam", "cnn sgd"] and all(f["steps"] == 1 and f["finite"] for f in fits), fits
    assert len(list((tmp_path / "cache").rglob("model.pt"))) == 1


@pytest.mark.skipif(os.environ.get("REPRO_FAKE_VGG16", "0") in ("", "0"),
                    reason="writes a 528 MB VGG-16 file and runs 600 px VGG-16 steps (minutes on CPU): "
                           "set REPRO_FAKE_VGG16=1 to run it")
def test_detection_faster_rcnn_vgg16_full_tier_on_fake_voc(tmp_path):
    """The paper's Faster R-CNN (VGG-16 conv5_3 + fc6/fc7 from an ImageNet VGG-16 file, RoIPool, 600 px):
    trained on VOC 2007 trainval (two one-step epochs of one image), scored on VOC 2007 test."""
    import torchvision
    root = tmp_path / "data"
    fake.voc2007(root, n=8)
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), tmp_path / "vgg16.pth")
    out, rows, fits = _run_suite(root, tmp_path, "detection", "test_faster_rcnn_vgg16_voc07 and not 12",
                                 REPRO_VGG16_IMAGENET_WEIGHTS=str(tmp_path / "vgg16.pth"))
    _ok(out)
    assert "1 passed" in out.stdout, out.stdout[-2000:]
    assert {r["claim_id"] for r in rows} == {"faster_rcnn_vgg16_voc07"}
    assert all(r["run_mode"] == "rehearsal" and r["status"] == "recorded" for r in rows)
    assert [f["desc"] for f in fits] == ["faster-rcnn voc"] and fits[0]["steps"] == 2 and fits[0]["finite"], fits
