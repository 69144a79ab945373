"""DeepLab v2 / v3+ reference implementation: data, model, training (poly policy), evaluation, CRF.

    data = load_data(root, cfg)                       # CamVid tensors at cfg["size"]
    net = trained_model(cfg, data, seed, cache_dir)   # build_model + train, cached by common.trained
    s = evaluate(net, data["test"], cfg)              # confusion-matrix scores (metrics.segmentation)
    prior = position_prior(data["train"]["y"], 11)    # the per-position class prior (a control)
"""
from .controls import majority_class, position_prior, predict_prior
from .crf import PUBLISHED, CRFParams, crf_labels, dense_crf, grid_search, search_grid
from .model import (ASPP, ASPP_L, ASPP_S, MSC_SCALES, DeepLab, LargeFOV, field_of_view, flops, impulse_extent,
                    msc_loss, taps_inside)
from .train import (CAMVID_SMOKE, build_model, evaluate, load_data, predict_labels, predict_probs, predict_scores,
                    prep, train, trained_model)

__all__ = ["DeepLab", "ASPP", "LargeFOV", "ASPP_L", "ASPP_S", "MSC_SCALES", "msc_loss", "field_of_view", "flops",
           "taps_inside", "impulse_extent", "CRFParams", "PUBLISHED", "dense_crf", "crf_labels", "grid_search",
           "search_grid", "CAMVID_SMOKE", "load_data", "build_model", "train", "trained_model", "evaluate",
           "predict_probs", "predict_labels", "predict_scores", "prep", "position_prior", "predict_prior", "majority_class"]
