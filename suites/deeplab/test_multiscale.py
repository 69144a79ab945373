"""DeepLab v2 section 3.3: multi-scale inputs (MSC), trained and tested as the paper does, on CamVid.

Its own file so that the MSC training (about 2.3x a single-scale one) runs on the other xdist worker
while test_deeplab.py trains the single-scale models; the single-scale DeepLab-ASPP comes from the
shared cache (conftest.py)."""
import pytest

from reference_impls.deeplab import CAMVID_SMOKE, MSC_SCALES, trained_model
from reference_impls.deeplab.train import evaluate, score

CFG = CAMVID_SMOKE
N = CFG["num_classes"]


def miou(pred, y) -> float:
    return 100 * score(pred, y, N)["miou"]


@pytest.fixture(scope="module")
def aspp_msc(data, seed, cache_dir):
    """DeepLab-ASPP trained with multi-scale inputs (the paper's MSC: scales 1, 0.75, 0.5, shared
    weights, max fusion, cross-entropy on every scale's map and on the fused one)."""
    return trained_model(dict(CFG, msc=True), data, seed, cache_dir)


def test_multiscale_inputs_help(claim, data, aspp_msc, aspp, untrained, aspp_pred, prior_pred):
    """Paper section 3.3 / Table 4: training and testing with multi-scale inputs (MSC: scales 1, 0.75,
    0.5, max fusion) adds ~1-2 points over the single-scale model (ResNet-101: 68.72 -> 71.27). Here:
    the MSC-trained network with MSC inference against the single-scale network; the MSC-trained
    network at one scale, and MSC at test time only, are recorded beside it."""
    y = data["test"]["y_eval"]
    test = data["test"]
    claim("msc_improves_miou", 100 * evaluate(aspp_msc, test, CFG, scales=MSC_SCALES)["miou"], than=miou(aspp_pred, y),
          controls={"untrained": 100 * evaluate(untrained, test, CFG, scales=MSC_SCALES)["miou"],
                    "position_prior": miou(prior_pred, y)},
          msc_trained_single_scale=100 * evaluate(aspp_msc, test, CFG, scales=(1.0,))["miou"],
          msc_at_test_time_only=100 * evaluate(aspp, test, CFG, scales=MSC_SCALES)["miou"])
