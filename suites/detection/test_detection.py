"""Detection (lecture notes on R-CNN, Fast/Faster R-CNN and YOLO): accuracy vs speed.

Smoke tier: YOLO v1 and a Faster R-CNN share one small backbone (MobileNetV3-small at stride 8)
and the same synthetic scenes at the same input size, 96 x 96 (4 shape classes, objects 18-60 % of
the side, clutter and occlusion), with YOLO's grid as its design needs it: S = 6, 16 px per cell,
so every object spans one to four cells as VOC objects span the paper's 7 x 7 cells. We time both
at that size on the same machine in one run, score both with the VOC and COCO protocols, and
ablate Faster R-CNN's box regression at test time (R-CNN's "BB").
Real images in the smoke tier: both detectors also train on the raccoon set's 160 training
photographs (its published split) at 64 px and are scored on its 40 test photographs with the
VOC 2007 protocol on their own XML, against the same controls.
Full tier: the papers' VOC 2007 and COCO numbers on the real datasets.
"""
from __future__ import annotations


import matplotlib
import numpy as np
import time

import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import datasets.detection_proxy as proxy_module
import reference_impls.detection as det
from datasets.synthetic import scenes as scenes_module
from reference_impls.common import count_params, full_steps, seed_everything, trained
from reference_impls.detection import faster_rcnn as frcnn_module
from reference_impls.detection import raccoon as raccoon_module
from reference_impls.detection import yolo as yolo_module

CFG = det.SMOKE
N_TRAIN, N_TEST = 480, 256
PROXY = det.replace(proxy_module.PROXY, size=CFG.size)     # the proxy's scenes rendered at the detectors' input size
CODE = [det, yolo_module, frcnn_module, proxy_module, scenes_module]


# ----------------------------------------------------------------------------- the experiment
@pytest.fixture(scope="module")
def proxy(seed):
    return det.load_data(seed, N_TRAIN, N_TEST, CFG.size)


def _trained(kind, data, seed, cache_dir, device, untrained=False, cfg=CFG, name="detection",
             fingerprint=f"proxy:{PROXY}", batches=det.batches):
    def build():
        seed_everything(seed)
        return det.build_model(kind, cfg)
    return trained(f"{name}-{kind}", build,
                   lambda m, resume: det.train(m, kind, data["train"], cfg, seed, resume, device=device,
                                               batches=batches),
                   config={"kind": kind, **det.asdict(cfg), "n_train": len(data["train"]["images"])}, seed=seed,
                   data_fingerprint=fingerprint, code=CODE + [raccoon_module], cache_dir=cache_dir,
                   untrained=untrained)


KINDS = ("yolo", "faster_rcnn")


@pytest.fixture(scope="module")
def detectors(proxy, seed, cache_dir, device):
    return {k: _trained(k, proxy, seed, cache_dir, device) for k in KINDS}


@pytest.fixture(scope="module")
def results(detectors, proxy, seed, cache_dir, device):
    """Every detector's scores on the proxy test split, and its controls' by the same code: each
    detector at its seeded initialisation (untrained) and two image-blind box priors fitted on
    the training split (the class's mean box at the centre; the best fixed boxes per class)."""
    out = {}
    for kind, model in detectors.items():
        scores, preds = det.evaluate(model, proxy["test"], device=device)
        out[kind] = {"scores": scores, "preds": preds}
        untrained = _trained(kind, proxy, seed, cache_dir, device, untrained=True)
        out[f"{kind}_untrained"] = {"scores": det.evaluate(untrained, proxy["test"], device=device)[0]}
    model = detectors["faster_rcnn"]
    det.set_box_regression(model, False)
    try:
        out["faster_rcnn_no_bb"] = {"scores": det.evaluate(model, proxy["test"], device=device)[0]}
    finally:
        det.set_box_regression(model, True)
    n = len(proxy["test"]["images"])
    out["centre_box"] = {"scores": det.score(det.centre_box_prior(proxy["train"], n), proxy["test"])}
    out["box_prior"] = {"scores": det.score(det.fixed_box_prior(proxy["train"], n), proxy["test"])}
    return out


def _controls(results, kind, metric):
    """The claim's controls, measured on the same test split by the same scoring code."""
    return {"untrained": results[f"{kind}_untrained"]["scores"][metric],
            "centre_box": results["centre_box"]["scores"][metric],
            "box_prior": results["box_prior"]["scores"][metric]}


def test_yolo_faster_but_less_accurate(detectors, results, claim, speed, artifacts, device):
    """'YOLO is faster than Faster R-CNN but less accurate': both at 96 x 96, batch 1, same backbone,
    timed in interleaved rounds (speed fixture) so both see the same machine load."""
    n = 15
    timer = time.perf_counter if str(device).startswith("cuda") else time.process_time
    t = speed.compare({k: det.inference_fn(m, CFG.size, n, device) for k, m in detectors.items()}, rounds=3,
                      warmup=1, timer=timer, per_call=n)
    fps = {k: 1 / t.median(k) for k in detectors}
    yolo, frcnn = results["yolo"]["scores"], results["faster_rcnn"]["scores"]
    claim("yolo_faster_than_faster_rcnn", fps["yolo"], than=fps["faster_rcnn"], ratio=t.ratio("faster_rcnn", "yolo"),
          **t.extra())
    claim("faster_rcnn_more_accurate_than_yolo", frcnn["voc07_mAP"], than=yolo["voc07_mAP"],
          controls=_controls(results, "faster_rcnn", "voc07_mAP"))

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for kind, marker in (("yolo", "o"), ("faster_rcnn", "s")):
        ax.scatter(fps[kind], 100 * results[kind]["scores"]["voc07_mAP"], marker=marker, s=60, label=f"{kind} (proxy, CPU)")
    ax.scatter([45, 5], [63.4, 73.2], marker="x", c="k", label="paper (VOC07, Titan X)")
    ax.set_xscale("log"), ax.set_xlabel("images / s (batch 1)"), ax.set_ylabel("mAP (VOC07 11-pt, %)")
    ax.legend(fontsize=7), ax.set_title("accuracy vs speed")
    artifacts.save_figure(fig, "accuracy_vs_speed")


def test_box_regression_raises_map(results, claim):
    """R-CNN: bounding-box regression on the proposals adds 3-4 mAP. Same trained Faster R-CNN,
    its class-specific box deltas applied or not (detections = the classified RPN proposals)."""
    with_bb, without = results["faster_rcnn"]["scores"], results["faster_rcnn_no_bb"]["scores"]
    claim("box_regression_raises_map", with_bb["voc07_mAP"], than=without["voc07_mAP"],
          controls=_controls(results, "faster_rcnn", "voc07_mAP"),
          coco_AP_with=with_bb["coco_AP"], coco_AP_without=without["coco_AP"])


def test_proxy_map_floors(results, claim):
    """VOC (IoU 0.5, 11-point) and COCO AP50 on the proxy test split, above each detector at its
    initialisation and above the image-blind box priors."""
    for kind, voc_id, coco_id in [("faster_rcnn", "faster_rcnn_proxy_voc07_map", "faster_rcnn_proxy_coco_ap50"),
                                  ("yolo", "yolo_proxy_voc07_map", "yolo_proxy_coco_ap50")]:
        s = results[kind]["scores"]
        claim(voc_id, s["voc07_mAP"], controls=_controls(results, kind, "voc07_mAP"), voc_area_mAP=s["voc_area_mAP"])
        claim(coco_id, s["coco_AP50"], controls=_controls(results, kind, "coco_AP50"), coco_AP=s["coco_AP"])


# ----------------------------------------------------------------------------- real images: raccoon
@pytest.fixture(scope="module")
def raccoon(data_root):
    return {s: raccoon_module.load_split(data_root, s, det.RACCOON.size) for s in ("train", "test")}


@pytest.fixture(scope="module")
def raccoon_results(raccoon, data_root, seed, cache_dir, device):
    """Both detectors trained on the 160 raccoon training photographs (64 px, flips), scored on the
    40 test photographs with the VOC 07 protocol on their XML; controls by the same code: each
    detector at its seeded initialisation, the training set's mean box at the centre, and the best
    25 fixed boxes fitted on the training boxes."""
    train, test = raccoon["train"], raccoon["test"]
    kw = dict(cfg=det.RACCOON, name="detection-raccoon", fingerprint=raccoon_module.fingerprint(data_root),
              batches=raccoon_module.flipped_batches)
    out = {}
    for kind in KINDS:
        model = _trained(kind, raccoon, seed, cache_dir, device, **kw)
        preds = det.predict(model, test["images"], device=device)
        out[kind] = {"scores": raccoon_module.score(preds, test), "preds": preds}
        untrained = _trained(kind, raccoon, seed, cache_dir, device, untrained=True, **kw)
        out[f"{kind}_untrained"] = {"scores": raccoon_module.score(det.predict(untrained, test["images"], device=device),
                                                                   test)}
    n = len(test["images"])
    out["centre_box"] = {"scores": raccoon_module.score(det.centre_box_prior(train, n), test)}
    out["box_prior"] = {"scores": raccoon_module.score(det.fixed_box_prior(train, n), test)}
    return out


def test_raccoon_map(raccoon_results, claim):
    """Real photographs: VOC 07 mAP on the raccoon test split against each detector at its
    initialisation, the centred mean training box and the fixed-box prior."""
    r = raccoon_results
    for kind in KINDS:
        claim(f"{kind}_raccoon_voc07_map", r[kind]["scores"]["voc07_mAP"], controls=_controls(r, kind, "voc07_mAP"),
              voc_area_mAP=r[kind]["scores"]["voc_area_mAP"])


def test_torchvision_resnet50_fpn_params(claim):
    model = det.build_faster_rcnn(91, "resnet50_fpn")
    claim("fasterrcnn_resnet50_fpn_params", count_params(model))


def test_coco_protocol_conformance(claim, data_root):
    """pycocotools on cocoapi's fake bbox results reproduces the official printed summary."""
    from datasets.coco_detection import load_conformance
    from metrics.detection import COCO_STAT_NAMES, coco_evaluate
    c = load_conformance(data_root)
    stats = coco_evaluate(c["annotations"], c["results"])
    got = [round(stats[k], 3) for k in COCO_STAT_NAMES]
    assert got == c["expected"], f"COCOeval {got} != official {c['expected']}"
    claim("coco_fake_results_bbox_ap", round(stats["AP"], 3), AP50=stats["AP50"], AP75=stats["AP75"])


# ----------------------------------------------------------------------------- figure
def _draw(ax, img, gt, pred=None, names=None, thresh=0.5):
    ax.imshow(img), ax.set_axis_off()
    for b in np.asarray(gt).reshape(-1, 4):
        ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="lime", lw=1.2))
    if pred is not None:
        for b, s, lab in zip(pred["boxes"], pred["scores"], pred["labels"]):
            if s < thresh:
                continue
            ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="red", lw=1, ls="--"))
            ax.text(b[0], b[1], f"{names[lab] if names else lab} {s:.2f}", color="red", fontsize=5)


def test_figure_predictions(results, proxy, raccoon, raccoon_results, artifacts):
    """Predicted (red, score >= 0.5 for Faster R-CNN, 0.2 for YOLO as in darknet's demo) vs ground
    truth (green) on proxy test scenes, and Faster R-CNN on raccoon test photographs (64 px)."""
    test = proxy["test"]
    names = test["class_names"]
    fig, axes = plt.subplots(3, 6, figsize=(12, 6.5))
    for j in range(6):
        img = test["images"][j].permute(1, 2, 0).numpy()
        gt = test["targets"][j]["boxes"].numpy()
        _draw(axes[0, j], img, gt, results["faster_rcnn"]["preds"][j], names, 0.5)
        _draw(axes[1, j], img, gt, results["yolo"]["preds"][j], names, 0.2)
        rt = raccoon["test"]
        _draw(axes[2, j], rt["images"][j].permute(1, 2, 0).numpy(), rt["targets"][j]["boxes"].numpy(),
              raccoon_results["faster_rcnn"]["preds"][j], rt["class_names"], 0.5)
    axes[0, 0].set_title("Faster R-CNN (proxy)", fontsize=8, loc="left")
    axes[1, 0].set_title("YOLO v1 (proxy)", fontsize=8, loc="left")
    axes[2, 0].set_title("Faster R-CNN (raccoon test, 64 px)", fontsize=8, loc="left")
    artifacts.save_figure(fig, "predictions_vs_ground_truth")
    assert all(len(p["boxes"]) == len(p["scores"]) for p in results["yolo"]["preds"])


# ----------------------------------------------------------------------------- full tier
def _checkpoint(name):
    from reference_impls.detection.full import env_path
    return env_path(f"REPRO_DETECTION_CHECKPOINT_{name.upper()}")


@pytest.mark.full
@pytest.mark.parametrize("which,claim_id", [("07", "faster_rcnn_vgg16_voc07"), ("07+12", "faster_rcnn_vgg16_voc07_12")])
def test_faster_rcnn_vgg16_voc07(which, claim_id, claim, data_root, seed, cache_dir, device):
    from reference_impls.detection import full
    full.load_voc(data_root, "2007", "test")  # DataMissing -> skipped with the layout
    vgg = full.env_path("REPRO_VGG16_IMAGENET_WEIGHTS")
    ckpt = _checkpoint(claim_id)
    if vgg is None and ckpt is None:
        pytest.skip("needs REPRO_VGG16_IMAGENET_WEIGHTS (torchvision vgg16 ImageNet state_dict) to train, "
                    f"or REPRO_DETECTION_CHECKPOINT_{claim_id.upper()} (a trained detector)")
    # the paper's recipe: conv layers and fc6/fc7 from ImageNet VGG-16, RoIPool 7x7, 128 RoIs per image
    build = lambda: det.build_faster_rcnn(21, "vgg16", min_size=600, max_size=1000, anchor_sizes=(128, 256, 512),
                                          box_batch_size_per_image=128, backbone_weights=vgg, roi_pool="pool")
    model = trained(f"detection-{claim_id}", build,
                    lambda m, resume: full.train_faster_rcnn_voc(m, data_root, which, device, seed, resume),
                    config={"which": which}, seed=seed, code=[full, frcnn_module], cache_dir=cache_dir, checkpoint=ckpt)
    res = full.evaluate_voc(model, data_root, device)
    claim(claim_id, 100 * res["mAP"])


@pytest.mark.full
def test_yolo_voc07(claim, speed, data_root, seed, cache_dir, device):
    from reference_impls.detection import full
    full.load_voc(data_root, "2007", "test")
    weights = full.env_path("REPRO_YOLO_BACKBONE_WEIGHTS")
    ckpt = _checkpoint("yolo_voc07")
    if weights is None and ckpt is None:
        pytest.skip("needs REPRO_YOLO_BACKBONE_WEIGHTS (timm resnet50 ImageNet weights file) to train, "
                    "or REPRO_DETECTION_CHECKPOINT_YOLO_VOC07 (a trained YOLO)")

    def build():
        return det.build_yolo("resnet50", 4, 20, input_size=448, S=7, B=2, hidden=4096, dropout=0.5,
                              head_channels=1024, weights=weights, imagenet_norm=True)
    model = trained("detection-yolo_voc07", build, lambda m, resume: full.train_yolo_voc(m, data_root, device, seed, resume),
                    config={"backbone": "resnet50"}, seed=seed, code=[full, yolo_module], cache_dir=cache_dir,
                    checkpoint=ckpt)
    res = full.evaluate_voc(model, data_root, device, kind="yolo", square=448)
    claim("yolo_voc07", 100 * res["mAP"])
    n = 100 if full_steps() is None else 2       # a rehearsal (--full-steps) times 2 images: the path, not the number
    t = speed.compare({"yolo": det.inference_fn(model, 448, n, device)}, rounds=3, warmup=1, timer=time.perf_counter,
                      per_call=n)
    claim("yolo_fps", 1 / t.median("yolo"), **t.extra())


@pytest.mark.full
def test_yolo_vs_faster_rcnn_vgg16_speed(claim, speed, device):
    """The papers' speed comparison at their sizes, in one run on one device: Faster R-CNN VGG-16
    (600 x 1000 input, 300 proposals; Ren et al.: 198 ms/image on a K40) and YOLO v1 (448 x 448, ResNet-50
    backbone here; Redmon et al.: 45 vs 7 fps on a Titan X), batch 1, detection post-processing
    included. Speed does not depend on the weights, so both run at their seeded initialisation."""
    seed_everything(0)
    frcnn = det.build_faster_rcnn(21, "vgg16", min_size=600, max_size=1000, anchor_sizes=(128, 256, 512), roi_pool="pool")
    yolo = det.build_yolo("resnet50", 4, 20, input_size=448, S=7, B=2, hidden=4096, dropout=0.5, head_channels=1024,
                          imagenet_norm=True)
    n = 20
    fns = {"faster_rcnn_vgg16": det.inference_fn(frcnn, (600, 1000), n, device),
           "yolo": det.inference_fn(yolo, 448, n, device)}
    t = speed.compare(fns, rounds=3, warmup=1, timer=time.perf_counter, per_call=n)
    ms = {k: 1000 * t.median(k) / n for k in fns}
    claim("faster_rcnn_vgg16_ms_per_image", ms["faster_rcnn_vgg16"], device=str(device), **t.extra())
    claim("yolo_faster_than_faster_rcnn_vgg16", 1000 / ms["yolo"], than=1000 / ms["faster_rcnn_vgg16"],
          ratio=ms["faster_rcnn_vgg16"] / ms["yolo"], paper_ratio=45 / 7, device=str(device))


@pytest.mark.full
def test_torchvision_faster_rcnn_coco(claim, data_root, device):
    from datasets.coco_detection import load_coco
    from reference_impls.detection import full
    coco = load_coco(data_root, "2017", "val")
    weights = full.env_path("REPRO_FASTERRCNN_R50_FPN_WEIGHTS")
    if weights is None:
        pytest.skip("needs REPRO_FASTERRCNN_R50_FPN_WEIGHTS=<fasterrcnn_resnet50_fpn_coco-258fb6c6.pth> "
                    "(torchvision's published weights; nothing is downloaded)")
    model = frcnn_module.load_torchvision_state(det.build_faster_rcnn(91, "resnet50_fpn"), weights)
    # torchvision's reference evaluation keeps its own test settings (score 0.05, NMS 0.5)
    model.roi_heads.nms_thresh, model.rpn._post_nms_top_n["testing"] = 0.5, 1000
    model.rpn._pre_nms_top_n["testing"] = 1000
    stats = full.evaluate_coco(model, coco, device)
    claim("torchvision_fasterrcnn_r50_fpn_coco_ap", 100 * stats["AP"], AP50=stats["AP50"], AP75=stats["AP75"])
