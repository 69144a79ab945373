"""Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016.

Smoke tier: GAP and GMP nets trained with image labels only on cluttered one-object canvases
(datasets.wsol_proxy), evaluated on 1,000 test canvases with the paper's protocol (top-5 classes,
CAM per class, box around the largest component above 20% of the CAM's max, ILSVRC loc error)
and with the threshold-free MaxBoxAcc / MaxBoxAccV2 of Choe et al. (CVPR 2020), against Backprop
saliency. Every learned claim also beats its controls, measured in the same run by the same
code: the same nets untrained (their seeded initialisation), the best fixed box fitted to the
training boxes ("centre_box") and the majority class ("class_prior").
Grad-CAM (Selvaraju et al. 2017): equal to CAM up to 1/Z on the GAP net (exact), and better than
Backprop saliency on a net without GAP (FCNet), against its untrained Grad-CAM, the best fixed box
and a centred Gaussian map.
Full tier: Table 2 on ILSVRC val (ten-crop CAMs; checkpoints, or the paper's fine-tuning on ILSVRC
train), Table 3 on ILSVRC test (heuristic and plain boxes), Grad-CAM VGG-16 on ILSVRC val.
"""
import pytest
import torch

from datasets import DataMissing, ilsvrc, locate
from reference_impls.cam import build_model, cam_overhead
from reference_impls.cam.proxy import experiment


@pytest.fixture(scope="module")
def exp(seed, cache_dir, device):
    return experiment(seed, cache_dir=cache_dir, device=device)


def _log(r):
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items() if k != "examples"}


def _controls(exp, metric, *names):
    """The controls' values of `metric`: the untrained GAP net's CAM; the fixed box fitted to the
    training boxes for the metric's IoU criterion (0.5, or MaxBoxAccV2's 0.3/0.5/0.7)."""
    src = {"untrained": exp["untrained_gap_cam"],
           "centre_box": exp["centre_box_v2" if metric == "max_box_acc_v2" else "centre_box"]}
    return {n: src[n][metric] for n in names}


# ----------------------------------------------------------------------------- Table 1, Sec. 3.1, Table 2: GAP vs GMP
def test_gap_localizes_better_than_gmp(claim, exp):
    """The paper: GAP localizes the object's extent, GMP its most discriminative part. Threshold-free
    (each map's best CAM threshold) and at the paper's fixed 20% threshold."""
    gap, gmp = exp["gap_cam"], exp["gmp_cam"]
    for cid, metric in (("gap_beats_gmp_max_box_acc_v2", "max_box_acc_v2"), ("gap_beats_gmp_max_box_acc", "max_box_acc"),
                        ("gap_beats_gmp", "top1_loc_error")):
        claim(cid, gap[metric], than=gmp[metric], controls=_controls(exp, metric, "untrained", "centre_box"),
              gap=_log(gap), gmp=_log(gmp))


def test_gap_and_gmp_classify_alike(claim, exp):
    """Table 1: GAP and GMP nets classify alike. Controls: GAP's error against a GMP arm that learned
    nothing (the untrained GMP net, the majority class) -- the gap a non-learning arm would show."""
    gap, gmp = exp["gap_cam"]["top1_cls_error"], exp["gmp_cam"]["top1_cls_error"]
    claim("gap_gmp_comparable_classification", abs(gap - gmp),
          controls={"untrained": abs(gap - exp["untrained_gmp_cls_error"]),
                    "class_prior": abs(gap - exp["class_prior_cls_error"])},
          gap_cls=gap, gmp_cls=gmp, untrained_gmp_cls=exp["untrained_gmp_cls_error"],
          class_prior_cls=exp["class_prior_cls_error"])


# ----------------------------------------------------------------------------- Table 2: CAM vs Backprop, centre box
def test_cam_beats_backprop_saliency(claim, exp):
    cam, bp = exp["gap_cam"], exp["gap_backprop"]
    for cid, metric in (("cam_beats_backprop", "top1_loc_error"), ("cam_beats_backprop_max_box_acc", "max_box_acc")):
        claim(cid, cam[metric], than=bp[metric], controls=_controls(exp, metric, "untrained", "centre_box"),
              cam=_log(cam), backprop=_log(bp))


def test_cam_beats_center_box(claim, exp):
    cam, centre = exp["gap_cam"], exp["centre_box"]
    claim("cam_beats_center_box", cam["top1_loc_error"], than=centre["top1_loc_error"],
          controls=_controls(exp, "top1_loc_error", "untrained"),
          centre_box=_log(centre))


def test_gap_cam_proxy_floors(claim, exp, artifacts):
    r = exp["gap_cam"]
    claim("gap_cam_top1_loc_error_proxy", r["top1_loc_error"],
          controls=_controls(exp, "top1_loc_error", "untrained", "centre_box"), **_log(r))
    claim("gap_cam_max_box_acc_v2_proxy", r["max_box_acc_v2"],
          controls=_controls(exp, "max_box_acc_v2", "untrained", "centre_box"),
          untrained=_log(exp["untrained_gap_cam"]), centre_box=_log(exp["centre_box_v2"]))
    _figure(exp, artifacts)


# ----------------------------------------------------------------------------- Grad-CAM (Selvaraju et al. 2017)
def test_gradcam_is_cam_on_a_gap_net(claim, exp):
    """Selvaraju et al. Sec. 3.1: on a GAP net Grad-CAM's weights are the fc weights / Z, so before
    the ReLU Grad-CAM = CAM / Z (Z = the map's h * w). Checked on the GAP net's GT-class maps."""
    r = exp["gradcam_vs_cam"]
    claim("gradcam_equals_cam_on_gap", r["max_rel_deviation"], **r)
    claim("gradcam_cam_scale_on_gap", r["scale_times_z"], **r)


def test_gradcam_beats_backprop_without_gap(claim, exp, artifacts):
    """Grad-CAM needs no GAP: on a classifier with FC layers (`FCNet`) its maps localize better than
    that net's Backprop saliency (GT class, MaxBoxAccV2). Controls: the same net untrained (its
    Grad-CAM), the best fixed box (as a map) and a centred Gaussian map."""
    g, b = exp["fc_gradcam"], exp["fc_backprop"]
    metric = "max_box_acc_v2"
    claim("gradcam_beats_backprop_no_gap", g[metric], than=b[metric],
          controls={"untrained": exp["untrained_fc_gradcam"][metric], "centre_box": exp["centre_box_v2"][metric],
                    "centre_gaussian": exp["centre_gaussian"][metric]},
          gradcam=_log(g), backprop=_log(b), untrained=_log(exp["untrained_fc_gradcam"]),
          centre_gaussian=_log(exp["centre_gaussian"]))
    _gradcam_figure(exp, artifacts)


def test_cam_adds_little_to_forward(claim, speed, exp):
    """Timed on the paper's GoogLeNet-GAP at 224x224 (timing does not depend on the weights); the
    proxy net's ratio is recorded alongside (on a 64x64 toy net the fixed cost of the CAM is a
    larger share of a much cheaper forward pass)."""
    torch.manual_seed(0)
    googlenet = build_model("googlenet", 1000, pool="gap").eval()
    r = cam_overhead(googlenet, torch.randn(4, 3, 224, 224), speed.compare, k=5, repeats=5)
    toy = cam_overhead(exp["gap"].cpu(), exp["data"]["test"]["images"][:64], speed.compare, k=5, repeats=5)
    claim("cam_overhead", r["ratio"], **r, proxy_net_ratio=toy["ratio"])


def _figure(exp, artifacts):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt
    test, ex = exp["data"]["test"], exp["gap_cam"]["examples"]
    fig, axes = plt.subplots(2, len(ex), figsize=(2 * len(ex), 4.2))
    for i, e in enumerate(ex):
        for row, ax in enumerate(axes[:, i]):
            ax.imshow(test["raw"][i].numpy())
            if row == 1:
                ax.imshow(e["map"], cmap="jet", alpha=0.5)
            for (x0, y0, x1, y1), col in ((test["boxes"][i].tolist(), "lime"), (e["box"], "red")):
                ax.add_patch(patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, ec=col, lw=1.5))
            ax.set_axis_off()
        axes[0, i].set_title(f"gt {int(test['labels'][i])} / pred {e['top1']}", fontsize=8)
    fig.suptitle("GAP-CAM on the WSOL proxy: ground truth (green) vs CAM box (red)", fontsize=9)
    artifacts.save_figure(fig, "cam_proxy_examples")


def _gradcam_figure(exp, artifacts):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt
    test = exp["data"]["test"]
    rows = (("Grad-CAM", exp["fc_gradcam"]["examples"]), ("Backprop", exp["fc_backprop"]["examples"]))
    n = len(rows[0][1])
    fig, axes = plt.subplots(2, n, figsize=(2 * n, 4.2))
    for r, (name, ex) in enumerate(rows):
        for i, e in enumerate(ex):
            ax = axes[r, i]
            ax.imshow(test["raw"][i].numpy())
            ax.imshow(e["map"], cmap="jet", alpha=0.5)
            for (x0, y0, x1, y1), col in ((test["boxes"][i].tolist(), "lime"), (e["box"], "red")):
                ax.add_patch(patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, ec=col, lw=1.5))
            ax.set_axis_off()
        axes[r, 0].set_title(name, fontsize=8, loc="left")
    fig.suptitle("Net without GAP (FC layers): Grad-CAM (top) vs Backprop saliency (bottom), GT class; "
                 "green ground truth, red 20% box", fontsize=8)
    artifacts.save_figure(fig, "gradcam_vs_backprop_no_gap")


# ----------------------------------------------------------------------------- full tier: ILSVRC
CKPT = "cam-checkpoints"
PRETRAINED = "pretrained"
CKPT_LAYOUT = (f"<data-root>/{CKPT}/{{googlenet_gap,vgg16_gap,googlenet_gmp}}.pt: state_dicts of "
               "reference_impls.cam.build_model(arch, 1000, pool) fine-tuned on ILSVRC train (see suites/cam/README.md); "
               f"or, to fine-tune them here: <data-root>/{PRETRAINED}/{{googlenet,vgg16}}.pth (torchvision ImageNet "
               f"weights) and {ilsvrc.TRAIN_LAYOUT}")


def _model(data_root, name, device, cache_dir):
    """The named checkpoint if present; else the paper's fine-tuning on ILSVRC train (cached)."""
    arch, pool = name.split("_")
    path = data_root / CKPT / f"{name}.pt" if data_root is not None else None
    if path is not None and path.exists():
        from reference_impls.common import load_weights
        return load_weights(build_model(arch, 1000, pool=pool), path).to(device).eval()
    weights = locate(data_root, f"{PRETRAINED}/{arch}.pth", CKPT_LAYOUT)
    from reference_impls.cam.finetune import finetune
    return finetune(arch, pool, ilsvrc.train_samples(data_root), weights, device=device, cache_dir=cache_dir).to(device).eval()


def _off_the_shelf(data_root, arch, device):
    from reference_impls.cam.models import off_the_shelf
    layout = f"<data-root>/{PRETRAINED}/{arch}.pth: torchvision's ImageNet {arch} weights (the published classifier)"
    return off_the_shelf(arch, locate(data_root, f"{PRETRAINED}/{arch}.pth", layout)).to(device)


@pytest.fixture(scope="module")
def ilsvrc_val(data_root):
    return ilsvrc.load_val(data_root)


@pytest.mark.full
def test_table2_ilsvrc_val(claim, ilsvrc_val, data_root, device, cache_dir):
    """Table 2 with the paper's protocol (crops="ten": the ten-crop CAM merge of the released code,
    resized to the original image, 20% box); Backprop on the off-the-shelf GoogLeNet as the paper."""
    from reference_impls.cam.imagenet import evaluate_ilsvrc
    rows = {}
    for name in ("googlenet_gap", "vgg16_gap", "googlenet_gmp"):
        rows[name] = evaluate_ilsvrc(_model(data_root, name, device, cache_dir), ilsvrc_val, "cam", device=device)
    g = _model(data_root, "googlenet_gap", device, cache_dir)
    rows["backprop"] = evaluate_ilsvrc(_off_the_shelf(data_root, "googlenet", device), ilsvrc_val, "backprop",
                                       device=device)
    rows["center"] = evaluate_ilsvrc(g, ilsvrc_val, "cam", box="center", device=device)
    ids = {"googlenet_gap": ("googlenet_gap_top1_loc_error_val", "googlenet_gap_top5_loc_error_val"),
           "vgg16_gap": ("vgg_gap_top1_loc_error_val", "vgg_gap_top5_loc_error_val"),
           "googlenet_gmp": ("googlenet_gmp_top1_loc_error_val", "googlenet_gmp_top5_loc_error_val"),
           "backprop": ("backprop_top1_loc_error_val", "backprop_top5_loc_error_val")}
    for name, (top1_id, top5_id) in ids.items():
        claim(top1_id, rows[name]["top1_loc_error"], **rows[name])
        claim(top5_id, rows[name]["top5_loc_error"])
    gap = rows["googlenet_gap"]["top5_loc_error"]
    claim("gap_beats_gmp_ilsvrc", gap, than=rows["googlenet_gmp"]["top5_loc_error"],
          gap_images_per_s=rows["googlenet_gap"]["images_per_s"])
    claim("cam_beats_backprop_ilsvrc", gap, than=rows["backprop"]["top5_loc_error"])
    claim("cam_beats_center_box_ilsvrc", gap, than=rows["center"]["top5_loc_error"])


@pytest.mark.full
def test_gradcam_vgg16_ilsvrc_val(claim, ilsvrc_val, data_root, device):
    """Selvaraju et al. Table 1: Grad-CAM on the off-the-shelf VGG-16 (conv5_3), a box around the
    largest segment above 15% of the map's max, ILSVRC val top-1/top-5 localization error."""
    from reference_impls.cam.imagenet import evaluate_ilsvrc
    r = evaluate_ilsvrc(_off_the_shelf(data_root, "vgg16", device), ilsvrc_val, "gradcam", crops="single",
                        threshold=0.15, device=device)
    claim("gradcam_vgg16_top1_loc_error_val", r["top1_loc_error"], **r)
    claim("gradcam_vgg16_top5_loc_error_val", r["top5_loc_error"])


TEST_LAYOUT = ("<data-root>/ILSVRC2014_clsloc_test_gt/*.xml (per-image test boxes, ILSVRC XML; not public) "
               "and <data-root>/ILSVRC2012_img_test/*.JPEG")


@pytest.fixture(scope="module")
def ilsvrc_test(data_root):
    """37.1 / 42.9 (Table 3) are on the ILSVRC test set, whose ground truth only the evaluation server holds."""
    gt_dir = locate(data_root, "ILSVRC2014_clsloc_test_gt", TEST_LAYOUT)
    images = locate(data_root, "ILSVRC2012_img_test", TEST_LAYOUT)
    synsets = data_root / "LOC_synset_mapping.txt"
    gt = ilsvrc.ground_truth_from_xml(gt_dir, synsets if synsets.exists() else None)
    samples = [{"id": f.stem, "path": f, **gt[f.stem]} for f in sorted(images.glob("*.JPEG")) if f.stem in gt]
    if not samples:
        raise DataMissing(f"no test JPEG in {images} has ground truth in {gt_dir}; expected {TEST_LAYOUT}")
    return samples


@pytest.mark.full
def test_top5_loc_error_ilsvrc_test(claim, ilsvrc_test, data_root, device, cache_dir):
    """Table 3: GoogLeNet-GAP with the authors' box heuristics (dt_box + bboxCombine, 37.1) and with
    plain top-5 boxes at 20% (42.9), both on the ten-crop merged CAMs."""
    from reference_impls.cam.imagenet import evaluate_ilsvrc
    g = _model(data_root, "googlenet_gap", device, cache_dir)
    heur = evaluate_ilsvrc(g, ilsvrc_test, "cam", box="heuristic", device=device)
    plain = evaluate_ilsvrc(g, ilsvrc_test, "cam", box="plain", device=device)
    claim("googlenet_gap_top5_loc_error_test", heur["top5_loc_error"], **heur)
    claim("googlenet_gap_top5_loc_error_test_plain", plain["top5_loc_error"], **plain)
