"""Weak supervision: ACoL (Zhang et al., "Adversarial Complementary Learning for Weakly Supervised
Object Localization", CVPR 2018), the NIN-style class-map head (Lin et al., "Network in Network",
ICLR 2014, as used by CAM and ACoL), and segmentation seeded by class activation maps.

Smoke tier: one proxy of two-part objects (a small, perfectly class-coded head; a body three times
larger whose texture tells the class on 70% of the canvases; reference_impls.weak_supervision.
part_objects), four tiny 64-px networks trained once each -- NIN head (its class channels are the
CAMs), ACoL, an FC-head classifier, and the fully supervised segmenter of the same size -- and every
evaluation on 400 held-out canvases. This file: ACoL and the NIN head; test_segmentation.py: the
CAM-seeded segmentation (the two run on separate xdist workers and share the cached nets). Each learned claim beats its controls, measured in the same run
by the same code: the same network untrained (its seeded initialisation), a centre-Gaussian map, a
map spread evenly over the object, the majority class, and the fixed box fitted to the training boxes.
Full tier: the paper's ACoL-VGGNet localization errors on ILSVRC val and CUB-200-2011 test, from
user-supplied checkpoints.
"""
import pytest

from datasets import cub, ilsvrc, locate
from reference_impls.weak_supervision import acol_vgg16
from reference_impls.weak_supervision.smoke import localization


@pytest.fixture(scope="module")
def exp(seed, cache_dir, device):
    return localization(seed, cache_dir=cache_dir, device=device)


def _r(d):
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


# ----------------------------------------------------------------------------- ACoL Sec. 1, 3: CAM finds one part
def test_cam_locks_onto_one_part(claim, exp):
    """The paper's premise: a classifier's CAM highlights only the most discriminative part. Measured:
    the share of the CAM's in-object mass that falls on the head (the easy part, a quarter of the
    object), against a map spread evenly over the object, the untrained net's CAM and a centre prior."""
    loc = exp["localization"]
    claim("cam_locks_onto_head", loc["cam"]["head_share"],
          controls={"untrained": loc["untrained_cam"]["head_share"],
                    "uniform_object": loc["uniform_object"]["head_share"],
                    "centre_gaussian": loc["centre_gaussian"]["head_share"]},
          cam_max_box_acc=loc["cam"]["max_box_acc"], cam_body_coverage=loc["cam"]["body_coverage"],
          acol_a_head_share=loc["acol_a"]["head_share"])


# ----------------------------------------------------------------------------- ACoL Tables 1-3: ACoL covers more than CAM
def test_acol_covers_more_of_the_object_than_cam(claim, exp, artifacts):
    """ACoL's fused map max(A, B) against the CAM of the same backbone and classifier A alone
    (NINNet), on the ground-truth class: MaxBoxAccV2, MaxBoxAcc (IoU 0.5), its IoU-0.7 part, and the
    best-threshold IoU with the object's mask."""
    loc = exp["localization"]
    acol, cam = loc["acol"], loc["cam"]
    for cid, metric in (("acol_beats_cam_max_box_acc_v2", "max_box_acc_v2"),
                        ("acol_beats_cam_max_box_acc", "max_box_acc"),
                        ("acol_beats_cam_max_box_acc_iou70", "max_box_acc_v2_iou70"),
                        ("acol_beats_cam_mask_iou", "max_mask_iou")):
        claim(cid, acol[metric], than=cam[metric],
              controls={"untrained": loc["untrained_acol"][metric], "centre_gaussian": loc["centre_gaussian"][metric]},
              acol=_r(acol), cam=_r(cam), acol_b_head_share=loc["acol_b"]["head_share"])
    _figure(exp, artifacts)


# ----------------------------------------------------------------------------- NIN head (Lin et al. Sec. 3.2; Zhou et al. Sec. 2)
def test_nin_head_matches_fc_head(claim, exp):
    """A conv layer with one channel per class + GAP classifies as well as fully connected layers on the
    same backbone. Measured: accuracy(NIN) - accuracy(FC) in points, which must not fall below a
    calibrated band (one-sided: a NIN head far *better* than a poorly trained FC head does not refute
    the claim); controls: the same difference with the NIN arm replaced by one that learned nothing
    (the untrained NIN net, the majority class)."""
    c = exp["classification"]
    claim("nin_head_matches_fc_accuracy", c["nin_acc"] - c["fc_acc"],
          controls={"untrained": c["untrained_nin_acc"] - c["fc_acc"],
                    "class_prior": c["class_prior_acc"] - c["fc_acc"]}, **_r(c))


def test_nin_head_parameters(claim, exp):
    """Exact counts of the two heads on the same 15,368-parameter backbone: NIN's conv3x3 (32 -> 32) +
    conv1x1 (32 -> 4) against flatten (32 x 16 x 16) -> FC 64 -> FC 4."""
    p = exp["params"]
    claim("nin_head_params", p["nin_head"], **p)
    claim("fc_head_params", p["fc_head"])
    claim("nin_head_param_ratio", p["fc_head"] / p["nin_head"])


def test_class_channels_are_cams(claim, exp):
    """With a NIN head the class channels are the CAMs, no weighting needed: the logits are the
    channels' spatial means, and each channel equals Zhou et al.'s sum_k w_k^c f_k (+ bias) computed
    from the maps before the 1x1 conv (max abs difference relative to the largest channel value)."""
    c = exp["cam_identity"]
    claim("nin_logits_are_gap_of_class_channels", c["logit_vs_gap"])
    claim("nin_class_channels_equal_cams", c["channel_vs_cam"])


def _figure(exp, artifacts):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    test, ex = exp["data"]["test"], exp["examples"]
    rows = (("image", None), ("CAM (NIN head)", "cam"), ("ACoL A", "acol_a"), ("ACoL B (A's peak erased)", "acol_b"),
            ("ACoL max(A, B)", "acol"))
    n = ex["cam"].shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.7 * n, 1.8 * len(rows)))
    for i in range(n):
        for r, (title, key) in enumerate(rows):
            ax = axes[r, i]
            ax.imshow(test["raw"][i].numpy())
            if key is not None:
                ax.imshow(ex[key][i].numpy(), cmap="jet", alpha=0.55)
                ax.contour((test["masks"][i] > 0).numpy(), levels=[0.5], colors="white", linewidths=0.7)
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title, fontsize=7, loc="left")
    fig.suptitle("Two-part objects: CAM locks onto the head; ACoL's second classifier finds the body", fontsize=9)
    artifacts.save_figure(fig, "acol_vs_cam_maps")


# ----------------------------------------------------------------------------- full tier: ACoL-VGGNet
CKPT = "acol-checkpoints"
CKPT_LAYOUT = (f"<data-root>/{CKPT}/vgg16_acol_{{ilsvrc,cub}}.pt: state_dicts of "
               "reference_impls.weak_supervision.acol_vgg16(n_classes) (1000 / 200 classes) trained on "
               "ILSVRC train / CUB-200-2011 train (see suites/weak_supervision/README.md)")


def _acol(data_root, name, n_classes, device):
    from reference_impls.common import load_weights
    path = locate(data_root, f"{CKPT}/{name}.pt", CKPT_LAYOUT)
    return load_weights(acol_vgg16(n_classes), path).to(device).eval()


@pytest.mark.full
def test_acol_ilsvrc_val(claim, data_root, device):
    from reference_impls.weak_supervision.imagenet import evaluate_acol
    samples = ilsvrc.load_val(data_root)
    r = evaluate_acol(_acol(data_root, "vgg16_acol_ilsvrc", 1000, device), samples, device=device)
    claim("acol_vgg_top1_loc_error_ilsvrc_val", r["top1_loc_error"], **r)
    claim("acol_vgg_top5_loc_error_ilsvrc_val", r["top5_loc_error"])


@pytest.mark.full
def test_acol_cub_test(claim, data_root, device):
    from reference_impls.weak_supervision.imagenet import evaluate_acol
    samples = cub.load_cub(data_root, "test")
    r = evaluate_acol(_acol(data_root, "vgg16_acol_cub", 200, device), samples, device=device)
    claim("acol_vgg_top1_loc_error_cub", r["top1_loc_error"], **r)
    claim("acol_vgg_top5_loc_error_cub", r["top5_loc_error"])
