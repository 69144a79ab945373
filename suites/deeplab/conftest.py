"""CamVid fixtures shared by the DeepLab suite's test files (test_deeplab.py, test_multiscale.py): the
data, the DeepLab-ASPP model and the controls every learned CamVid claim is measured against.

Session-scoped: when both files run in one process (one worker, as in the full `./repro reproduce`,
where xdist hands a worker the suite's files one after the other) the data, the model and its test
predictions are made once. When they run on two workers (`-m deeplab`), trained models come through
the cache: test_multiscale.py asks for the MSC network first, so the single-scale one is trained by
the other worker meanwhile and loaded, not trained twice or waited for."""
import pytest

from datasets import camvid
from reference_impls.common import memo
from reference_impls.deeplab import CAMVID_SMOKE, load_data, position_prior, predict_labels, predict_prior, trained_model

CFG = CAMVID_SMOKE
N = CFG["num_classes"]


@pytest.fixture(scope="session")
def data(data_root, cache_dir):
    fp = camvid.data_fingerprint(data_root)  # DataMissing -> skip, naming the CamVid layout
    return memo("deeplab_camvid_tensors", {"fp": fp, "size": CFG["size"], "eval_size": CFG["eval_size"]},
                lambda: load_data(data_root, CFG), cache_dir=cache_dir)


@pytest.fixture(scope="session")
def aspp(data, seed, cache_dir):
    return trained_model(CFG, data, seed, cache_dir)


@pytest.fixture(scope="session")
def untrained(data, seed):
    """Control: the same DeepLab-ASPP at its seeded initialisation, through the same evaluation."""
    return trained_model(CFG, data, seed, untrained=True)


@pytest.fixture(scope="session")
def aspp_pred(aspp, data):
    return predict_labels(aspp, data["test"]["x"], CFG["eval_size"])


@pytest.fixture(scope="session")
def prior_pred(data):
    """Control: every test image predicted as the per-position class prior of the training labels
    (the image is never looked at), nearest-upsampled to the scoring size."""
    return predict_prior(position_prior(data["train"]["y"], N), len(data["test"]["y_eval"]), CFG["eval_size"])
